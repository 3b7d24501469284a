package vlm_test

import (
	"fmt"

	"github.com/govlm/vlm"
)

// Build a layer, train it one step with AdamW, and read the parameter
// count and the loss.
func Example() {
	rng := vlm.NewRand(1)
	layer := vlm.NewLinear(rng, 4, 2, true) // weight [2, 4], bias [2]
	x := vlm.RandN(rng, 1, 8, 4)            // x [B=8, 4]
	target := vlm.Zeros(8, 2)

	opt := vlm.NewAdamW(1e-2)
	var first, last float32
	for step := range 50 {
		vlm.ZeroGrad(layer)
		tp := vlm.NewTape()
		loss := vlm.MSE(tp, layer.Forward(tp, x), target)
		if err := tp.Backward(loss); err != nil {
			panic(err)
		}
		opt.Step(layer)
		if step == 0 {
			first = loss.Data[0]
		}
		last = loss.Data[0]
	}
	total, trainable := vlm.CountParams(layer)
	fmt.Println("params:", total, "trainable:", trainable)
	fmt.Println("loss fell:", last < first/2)
	// Output:
	// params: 10 trainable: 10
	// loss fell: true
}

// Freeze part of a model by name pattern; the count shows a typo at once.
func ExampleFreeze() {
	rng := vlm.NewRand(1)
	mlp := vlm.NewMLP(rng, 8, 32, vlm.ActGELU)
	fmt.Println(vlm.Freeze(mlp, "fc1.*"))
	fmt.Println(vlm.Freeze(mlp, "fc3.*"))
	_, trainable := vlm.CountParams(mlp)
	fmt.Println(trainable)
	// Output:
	// 2
	// 0
	// 264
}

// Check a layer's hand-written gradients against finite differences.
func ExampleCheckGrad() {
	rng := vlm.NewRand(2)
	ln := vlm.NewLayerNorm(6, 1e-5)
	x := vlm.RandN(rng, 1, 3, 6)
	r := vlm.RandN(rng, 1, 3, 6)
	err := vlm.CheckGrad(ln, func(tp *vlm.Tape) *vlm.Tensor {
		return vlm.Sum(tp, vlm.Mul(tp, ln.Forward(tp, x), r))
	}, &vlm.GradCheckOptions{Inputs: []*vlm.Tensor{x}})
	fmt.Println(err)
	// Output:
	// <nil>
}
