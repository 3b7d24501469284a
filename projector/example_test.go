package projector_test

import (
	"fmt"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/attention"
	"github.com/govlm/vlm/projector"
)

// Two samples of different lengths, the first with two images of two
// feature rows each, the second with one: each placeholder becomes its
// image's rows, labels ignore the images and the prompt.
func ExampleSplice() {
	table := vlm.NewEmbedding(vlm.NewRand(1), 10, 4, 1) // the language model's token table
	embed := func(tp *vlm.Tape, ids []int) (*vlm.Tensor, error) { return table.Forward(tp, ids), nil }
	p, err := projector.New(vlm.NewRand(2), projector.Config{Type: projector.MLPGELU, In: 6, Out: 4})
	if err != nil {
		panic(err)
	}
	feats, err := p.Forward(nil, vlm.RandN(vlm.NewRand(3), 1, 3, 2, 6)) // 3 images of 2 tokens
	if err != nil {
		panic(err)
	}
	images, err := projector.Unbind(nil, feats)
	if err != nil {
		panic(err)
	}
	const img = projector.ImageToken
	a := []int{1, img, img, 5, 6}
	b := []int{1, img, 7}
	samples := []projector.Sample{
		{IDs: a, Images: images[:2], Labels: projector.PromptLabels(a, 3)},
		{IDs: b, Images: images[2:], Labels: projector.PromptLabels(b, 2)},
	}
	for _, side := range []attention.Side{attention.Right, attention.Left} {
		batch, err := projector.Splice(nil, embed, samples, &projector.SpliceOptions{Side: side})
		if err != nil {
			panic(err)
		}
		fmt.Println(batch.Embeds.Shape)
		fmt.Println(batch.Mask)
		fmt.Println(batch.Positions)
		fmt.Println(batch.Labels)
	}
	// Output:
	// [2 7 4]
	// [[true true true true true true true] [true true true true false false false]]
	// [[0 1 2 3 4 5 6] [0 1 2 3 0 0 0]]
	// [[-100 -100 -100 -100 -100 5 6] [-100 -100 -100 7 -100 -100 -100]]
	// [2 7 4]
	// [[true true true true true true true] [false false false true true true true]]
	// [[0 1 2 3 4 5 6] [0 0 0 0 1 2 3]]
	// [[-100 -100 -100 -100 -100 5 6] [-100 -100 -100 -100 -100 -100 7]]
}

// Placeholders that do not match the images are an error naming the
// sample.
func ExampleSplice_mismatch() {
	table := vlm.NewEmbedding(vlm.NewRand(1), 10, 4, 1)
	embed := func(tp *vlm.Tape, ids []int) (*vlm.Tensor, error) { return table.Forward(tp, ids), nil }
	_, err := projector.Splice(nil, embed, []projector.Sample{
		{IDs: []int{1, projector.ImageToken, 2}, Images: []*vlm.Tensor{vlm.Zeros(3, 4)}},
		{IDs: []int{1, projector.ImageToken, 3, projector.ImageToken}, Images: []*vlm.Tensor{vlm.Zeros(3, 4)}},
	}, nil)
	fmt.Println(err)
	// Output:
	// projector.Splice: sample 1 has 2 image placeholders but 1 images: invalid input
}

func ExampleRename() {
	for _, key := range []string{
		"model.mm_projector.0.weight",
		"model.mm_projector.2.bias",
		"multi_modal_projector.linear_2.weight",
		"model.layers.0.self_attn.q_proj.weight",
	} {
		fmt.Printf("%-40s → %q\n", key, projector.Rename(key))
	}
	// Output:
	// model.mm_projector.0.weight              → "linear_1.weight"
	// model.mm_projector.2.bias                → "linear_2.bias"
	// multi_modal_projector.linear_2.weight    → "linear_2.weight"
	// model.layers.0.self_attn.q_proj.weight   → ""
}

// LLaVA-1.5's features: the penultimate hidden state of a 24-layer
// encoder (25 hidden states), CLS dropped.
func ExampleSelectFeatures() {
	hidden := make([]*vlm.Tensor, 25)
	for i := range hidden {
		hidden[i] = vlm.Full(float32(i), 1, 577, 8) // [B, 1+576, D]
	}
	f, err := projector.SelectFeatures(nil, hidden, -2, projector.Patch)
	if err != nil {
		panic(err)
	}
	fmt.Println(f.Shape, "from hidden state", f.Data[0])
	// Output:
	// [1 576 8] from hidden state 23
}

// LLaVA's two stages as freezing presets.
func ExampleStage_Apply() {
	vision := vlm.NewLinear(vlm.NewRand(1), 8, 8, true)   // stands for the vision encoder
	language := vlm.NewLinear(vlm.NewRand(2), 4, 4, true) // stands for the language model
	p, err := projector.New(vlm.NewRand(3), projector.Config{Type: projector.MLPGELU, In: 8, Out: 4})
	if err != nil {
		panic(err)
	}
	for _, s := range []projector.Stage{projector.Pretrain, projector.Finetune} {
		if err := s.Apply(vision, p, language); err != nil {
			panic(err)
		}
		_, v := vlm.CountParams(vision)
		_, pr := vlm.CountParams(p)
		_, l := vlm.CountParams(language)
		fmt.Printf("%s: trainable vision %d, projector %d, language model %d\n", s, v, pr, l)
	}
	// Output:
	// pretrain: trainable vision 0, projector 56, language model 0
	// finetune: trainable vision 0, projector 56, language model 20
}
