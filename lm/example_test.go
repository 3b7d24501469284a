package lm_test

import (
	"context"
	"fmt"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/lm"
)

// A tiny model learns to count modulo 10 and continues a prompt.
func Example() {
	m, err := lm.New(vlm.NewRand(1), lm.Config{Vocab: 10, Dim: 16, Heads: 2, Layers: 1, MaxPositions: 8})
	if err != nil {
		panic(err)
	}
	in := &lm.Input{}
	for s := range 10 {
		in.IDs = append(in.IDs, []int{s, (s + 1) % 10, (s + 2) % 10, (s + 3) % 10, (s + 4) % 10, (s + 5) % 10})
	}
	opt := vlm.NewAdamW(3e-2)
	for range 60 {
		tp := vlm.NewTape()
		loss, _, err := m.Loss(tp, in, in.IDs) // labels = ids: learn every next token
		if err != nil {
			panic(err)
		}
		if err := tp.Backward(loss); err != nil {
			panic(err)
		}
		opt.Step(m)
		vlm.ZeroGrad(m)
	}
	out, err := m.Generate(context.Background(), lm.LeftPad([][]int{{3, 4}, {8}}, 0), &lm.GenerateOptions{MaxNewTokens: 4})
	if err != nil {
		panic(err)
	}
	fmt.Println(out)
	// Output:
	// [[5 6 7 8] [9 0 1 2]]
}

func ExampleLeftPad() {
	in := lm.LeftPad([][]int{{5, 6, 7}, {9}}, 0)
	fmt.Println(in.IDs)
	fmt.Println(in.Mask)
	// Output:
	// [[5 6 7] [0 0 9]]
	// [[true true true] [false false true]]
}

// Running the layers one by one, as a wrapper that inserts its own blocks
// between them would, gives Forward's logits.
func ExampleModel_Layer() {
	m, err := lm.New(vlm.NewRand(1), lm.Config{Vocab: 20, Dim: 16, Heads: 2, Layers: 3, MaxPositions: 8})
	if err != nil {
		panic(err)
	}
	in := lm.LeftPad([][]int{{1, 4, 9}, {1, 7}}, 0)
	h, err := m.Embed(nil, in)
	if err != nil {
		panic(err)
	}
	for i := range m.Layers {
		if h, err = m.Layer(nil, i, h, in); err != nil {
			panic(err)
		}
	}
	logits, err := m.Logits(nil, h)
	if err != nil {
		panic(err)
	}
	want, err := m.Forward(nil, in)
	if err != nil {
		panic(err)
	}
	fmt.Println(logits.Shape, vlm.MaxAbsDiff(logits, want))
	// Output:
	// [2 3 20] 0
}

// Sampling with a temperature and a nucleus, from a seeded generator.
func ExampleModel_Generate() {
	m, err := lm.New(vlm.NewRand(1), lm.Config{Vocab: 20, Dim: 16, Heads: 2, Layers: 1, MaxPositions: 16})
	if err != nil {
		panic(err)
	}
	o := &lm.GenerateOptions{MaxNewTokens: 5, Temperature: 0.9, TopP: 0.95, Seed: 42, Stop: []int{2}}
	a, err := m.Generate(context.Background(), &lm.Input{IDs: [][]int{{1, 5}}}, o)
	if err != nil {
		panic(err)
	}
	b, err := m.Generate(context.Background(), &lm.Input{IDs: [][]int{{1, 5}}}, o)
	if err != nil {
		panic(err)
	}
	fmt.Println("same seed, same tokens:", fmt.Sprint(a) == fmt.Sprint(b), len(a[0]) <= 5)
	// Output:
	// same seed, same tokens: true true
}
