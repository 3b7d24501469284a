package dense_test

import (
	"fmt"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/dense"
	"gorgonia.org/tensor"
)

func ExampleFromDense() {
	d := tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float32{1, 2, 3, 4, 5, 6}))
	t, err := dense.FromDense(d) // shares d's memory
	if err != nil {
		panic(err)
	}
	t.Set(-1, 0, 0)
	fmt.Println(t, d.Float32s())

	_ = d.T() // a transposed view is copied
	u, err := dense.FromDense(d)
	if err != nil {
		panic(err)
	}
	fmt.Println(u)
	// Output:
	// Tensor[2 3][-1 2 3 4 5 6] [-1 2 3 4 5 6]
	// Tensor[3 2][-1 4 2 5 3 6]
}

func ExampleToDense() {
	t := vlm.FromData([]float32{1, 2, 3, 4}, 2, 2)
	d := dense.ToDense(t) // shares t's memory
	_ = d.SetAt(float32(10), 1, 1)
	fmt.Println(d.Shape(), t)
	// Output:
	// (2, 2) Tensor[2 2][1 2 3 10]
}
