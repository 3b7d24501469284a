package attention_test

import (
	"fmt"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/attention"
)

func ExampleCausal() {
	fmt.Print(attention.Causal(3, 3))
	// One new token after 3 cached positions sees all 4.
	fmt.Print(attention.Causal(1, 4))
	// Output:
	// 100
	// 110
	// 111
	// 1111
}

func ExamplePrefixCausal() {
	// BLIP-2's ITG mask: 2 query tokens see each other, 3 text tokens see
	// every query and the text before them; the last text token is padding.
	m := attention.PrefixCausal(2, 5, 5).And(attention.Lengths([]int{4}, 5, attention.Right))
	fmt.Print(m)
	// Output:
	// 11000
	// 11000
	// 11100
	// 11110
	// 11110
}

func ExampleLengths() {
	fmt.Print(attention.Lengths([]int{3, 1}, 3, attention.Left))
	// Output:
	// [0 0]
	// 111
	// [1 0]
	// 001
}

func ExampleFill() {
	// One query whose only key is masked, under each policy: the default
	// gives zeros, PyTorch's −inf gives NaN, finfo.min and Flamingo's
	// replace give the uniform mean of the values.
	q := vlm.FromData([]float32{1, 0}, 1, 1, 1, 2)
	k := vlm.FromData([]float32{1, 0, 0, 1}, 1, 1, 2, 2)
	v := vlm.FromData([]float32{2, 4}, 1, 1, 2, 1)
	none := attention.NewMask(1, 1, 1, 2, func(_, _, _, _ int) bool { return false })
	for _, f := range []attention.Fill{attention.FillExclude, attention.FillNegInf, attention.FillMin, attention.FillReplaceMax} {
		y := attention.ScaledDotProduct(nil, q, k, v, &attention.Options{Mask: none, Fill: f})
		fmt.Printf("%-15v %v\n", f, y.Data[0])
	}
	// Output:
	// FillExclude     0
	// FillNegInf      NaN
	// FillMin         3
	// FillReplaceMax  3
}

func ExampleMultiHead_Self() {
	// Incremental decoding with a cache gives the full causal pass.
	m, _ := attention.NewMultiHead(vlm.NewRand(1), attention.Config{Dim: 8, Heads: 2})
	x := vlm.RandN(vlm.NewRand(2), 1, 1, 5, 8)
	full, _ := m.Self(nil, x, nil, &attention.Options{Causal: true})

	var cache attention.Cache
	var steps []*vlm.Tensor
	for i := range 5 {
		y, _ := m.Self(nil, vlm.Slice(nil, x, 1, i, i+1), &cache, &attention.Options{Causal: true})
		steps = append(steps, y)
	}
	inc := vlm.Concat(nil, 1, steps...)
	fmt.Println("cached positions:", cache.Len())
	fmt.Println("same as the full pass:", vlm.MaxAbsDiff(full, inc) < 1e-6)
	// Output:
	// cached positions: 5
	// same as the full pass: true
}

func ExampleMultiHead_Memory() {
	// Q-Former-style cross-attention: 768-wide queries into 1408-wide image
	// features, whose keys and values are projected once and reused.
	m, _ := attention.NewMultiHead(vlm.NewRand(1), attention.Config{Dim: 768, Heads: 12, KVDim: 1408, Names: attention.BLIP2Names})
	image := vlm.RandN(vlm.NewRand(2), 1, 1, 257, 1408)
	mem, _ := m.Memory(nil, image)
	queries := vlm.RandN(vlm.NewRand(3), 1, 1, 32, 768)
	var probs attention.Probs
	y, _ := m.Cross(nil, queries, mem, &attention.Options{Probs: &probs})
	fmt.Println(y.Shape, probs[0].Shape)
	fmt.Println(vlm.ParamNames(m)[:2])
	// Output:
	// [1 32 768] [1 12 32 257]
	// [attention.key.bias attention.key.weight]
}

func ExampleMultiHead_WithNames() {
	// Weights stored as PyTorch's fused in_proj_weight (open_clip) load into
	// a fused module, which converts to HF CLIP's separate projections.
	fused, _ := attention.NewMultiHead(nil, attention.Config{Dim: 4, Heads: 2, Names: attention.TorchNames})
	fmt.Println(vlm.ParamNames(fused))
	split, _ := fused.WithNames(attention.CLIPNames)
	fmt.Println(vlm.ParamNames(split))
	// Output:
	// [in_proj_bias in_proj_weight out_proj.bias out_proj.weight]
	// [k_proj.bias k_proj.weight out_proj.bias out_proj.weight q_proj.bias q_proj.weight v_proj.bias v_proj.weight]
}

func ExampleNewCLIPLayer() {
	// A CLIP ViT layer with its attention maps captured.
	l, _ := attention.NewCLIPLayer(vlm.NewRand(1), attention.Config{Dim: 64, Heads: 4})
	x := vlm.RandN(vlm.NewRand(2), 1, 2, 50, 64)
	var maps attention.Probs
	y, err := l.Forward(nil, x, &attention.Options{Probs: &maps})
	fmt.Println(y.Shape, maps[0].Shape, err)
	// Output:
	// [2 50 64] [2 4 50 50] <nil>
}

func ExampleNewDecoderLayer() {
	// A decoder layer generating for a left-padded batch: the pad keys are
	// masked at every step, the image memory is projected once.
	l, _ := attention.NewDecoderLayer(vlm.NewRand(1), attention.Config{Dim: 32, Heads: 4, KVDim: 48}, true)
	mem, _ := l.Memory(nil, vlm.RandN(vlm.NewRand(2), 1, 2, 10, 48))
	prompt := vlm.RandN(vlm.NewRand(3), 1, 2, 4, 32)
	keep := attention.Lengths([]int{4, 2}, 6, attention.Left).Tensor().Reshape(2, 6) // 4 prompt + 2 new tokens
	var cache attention.Cache
	pad := func(n int) *attention.Options {
		return &attention.Options{Mask: attention.Padding(vlm.Slice(nil, keep, 1, 0, n))}
	}
	h, _ := l.Forward(nil, prompt, &cache, pad(4), mem, nil)
	for n := 5; n <= 6; n++ {
		next := vlm.Slice(nil, h, 1, h.Shape[1]-1, h.Shape[1]) // stand-in for the next token's embedding
		h, _ = l.Forward(nil, next, &cache, pad(n), mem, nil)
	}
	fmt.Println(h.Shape, cache.Len())
	// Output:
	// [2 1 32] 6
}

func ExampleAdditive() {
	// Show, Attend and Tell: 196 pixels of 2048 channels, decoder state 512.
	a, _ := attention.NewAdditive(vlm.NewRand(1), 2048, 512, 512, vlm.ActReLU)
	enc := vlm.RandN(vlm.NewRand(2), 1, 1, 196, 2048)
	keys, _ := a.Keys(nil, enc) // once per image
	h := vlm.RandN(vlm.NewRand(3), 1, 1, 512)
	ctx, alpha, _ := a.Forward(nil, enc, keys, h)
	fmt.Println(ctx.Shape, alpha.Shape)
	fmt.Printf("weights sum to %.3f\n", vlm.Sum(nil, alpha).Data[0])
	fmt.Println(vlm.ParamNames(a))
	// Output:
	// [1 2048] [1 196]
	// weights sum to 1.000
	// [decoder_att.bias decoder_att.weight encoder_att.bias encoder_att.weight full_att.bias full_att.weight]
}
