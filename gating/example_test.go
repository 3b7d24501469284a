package gating_test

import (
	"fmt"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/gating"
)

func ExampleTextTime_Mask() {
	// The text `t <img> t t <img> t` (id 9 is <image>) over two images of
	// two visual tokens each.
	loc, err := gating.Locate([]int{5, 9, 6, 7, 9, 8}, 1, 6, 9)
	if err != nil {
		panic(err)
	}
	tt := loc.TextTime()
	fmt.Println("text_time", tt.Time)
	keep, rows := tt.Mask(gating.Immediate, 2, 2, nil)
	fmt.Print("immediate\n", keep, "rows kept\n", rows)
	keep, _ = tt.Mask(gating.AllPrevious, 2, 2, nil)
	fmt.Print("all previous\n", keep)
	// Output:
	// text_time [0 1 1 1 2 2]
	// immediate
	// 0000
	// 1100
	// 1100
	// 1100
	// 0011
	// 0011
	// rows kept
	// 0
	// 1
	// 1
	// 1
	// 1
	// 1
	// all previous
	// 0000
	// 1100
	// 1100
	// 1100
	// 1111
	// 1111
}

func ExampleBlock() {
	// A new block is the identity: its gates are tanh(0) = 0.
	b, err := gating.NewBlock(vlm.NewRand(1), gating.Config{Dim: 32, MediaDim: 24, Heads: 4, HeadDim: 8})
	if err != nil {
		panic(err)
	}
	media := vlm.RandN(vlm.NewRand(2), 1, 1, 2, 5, 24) // [B, M, N, Dv]: two images of 5 tokens
	mem, err := b.Memory(nil, media, nil)
	if err != nil {
		panic(err)
	}
	loc, err := gating.NewLocations(1, 4, []bool{true, false, true, false})
	if err != nil {
		panic(err)
	}
	x := vlm.RandN(vlm.NewRand(3), 1, 1, 4, 32)
	y, err := b.Forward(nil, x, mem, loc.TextTime())
	fmt.Println(y.Shape, err, vlm.MaxAbsDiff(x, y))

	// Opened gates let the media in.
	b.AttnGate.Value.Data[0], b.FFGate.Value.Data[0] = 0.5, 0.5
	y, _ = b.Forward(nil, x, mem, loc.TextTime())
	attn, ff := b.Gates()
	fmt.Printf("gates %.3f %.3f, changed %v\n", attn, ff, vlm.MaxAbsDiff(x, y) > 0)
	// Output:
	// [1 4 32] <nil> 0
	// gates 0.462 0.462, changed true
}

func ExampleStack_Forward() {
	// A frozen "language model" of four layers (here each adds 1) with
	// open_flamingo's placement: a gated block before layers 1 and 3.
	s, err := gating.NewStack(vlm.NewRand(1), gating.Config{Dim: 16, Heads: 2, HeadDim: 8}, 4, 2, gating.Before)
	if err != nil {
		panic(err)
	}
	layers := make([]gating.Layer, 4)
	for i := range layers {
		layers[i] = gating.LayerFunc(func(tp *vlm.Tape, x *vlm.Tensor) (*vlm.Tensor, error) {
			return vlm.Add(tp, x, vlm.Scalar(1)), nil
		})
	}
	// Condition the media once (the resampler's [B, M, Q, D] output) ...
	media, err := s.Condition(nil, vlm.RandN(vlm.NewRand(2), 1, 1, 1, 4, 16), nil)
	if err != nil {
		panic(err)
	}
	// ... then run the prompt `<image> a b`, and a generation step that
	// attends to the cached last image.
	loc, err := gating.Locate([]int{9, 4, 5}, 1, 3, 9)
	if err != nil {
		panic(err)
	}
	y, err := s.Forward(nil, vlm.Zeros(1, 3, 16), layers, media, loc.TextTime())
	fmt.Println(s.Layers(), y.Shape, y.Data[0], err)
	y, err = s.Forward(nil, vlm.Zeros(1, 1, 16), layers, media, loc.Cached(1))
	fmt.Println(y.Shape, err)
	// Output:
	// [1 3] [1 3 16] 4 <nil>
	// [1 1 16] <nil>
}

func ExampleParts_Freeze() {
	// Flamingo's recipe: the language model and the vision encoder frozen,
	// the resampler and the gated blocks trained.
	lm := vlm.Modules{
		{Name: "embed_tokens", Module: vlm.NewEmbedding(vlm.NewRand(1), 100, 16, 1)},
		{Name: "layer", Module: vlm.NewLinear(vlm.NewRand(2), 16, 16, true)},
	}
	gated, err := gating.NewStack(vlm.NewRand(3), gating.Config{Dim: 16, Heads: 2, HeadDim: 8}, 2, 1, gating.Before)
	if err != nil {
		panic(err)
	}
	parts := gating.Parts{LM: lm, Embeddings: lm[0].Module, Gated: gated}
	for _, r := range []gating.Recipe{gating.OpenFlamingo, gating.FrozenLM} {
		if err := parts.Freeze(r); err != nil {
			panic(err)
		}
		for _, c := range parts.Count() {
			fmt.Printf("%-10s %5d %5d\n", c.Name, c.Total, c.Trainable)
		}
	}
	// Output:
	// lm          1872  1600
	// embeddings  1600  1600
	// gated       6276  6276
	// total       8148  7876
	// lm          1872     0
	// embeddings  1600     0
	// gated       6276  6276
	// total       8148  6276
}

func ExampleLucidrainsRename() {
	// A FlamingoPaLM checkpoint's gated blocks load into a Stack with
	//
	//	vlm.LoadWeights(stack, path, &vlm.LoadOptions{
	//		Rename: gating.LucidrainsRename,
	//		Ignore: []string{"layers.*", "token_emb.*", "perceiver_resampler.*", "to_logits.*"},
	//	})
	for _, key := range []string{"layers.0.1.attn.to_kv.weight", "layers.3.1.ff_gate", "layers.3.0.fn.attn_out.weight"} {
		fmt.Printf("%-30s -> %s\n", key, gating.LucidrainsRename(key))
	}
	// Output:
	// layers.0.1.attn.to_kv.weight   -> 0.gated_cross_attn_layer.attn.to_kv.weight
	// layers.3.1.ff_gate             -> 3.gated_cross_attn_layer.ff_gate
	// layers.3.0.fn.attn_out.weight  -> layers.3.0.fn.attn_out.weight
}
