package attention_test

import (
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/attention"
	"github.com/stretchr/testify/require"
)

// Finite-difference gradient checks (vlm.CheckGrad) of every module and
// function of the package, for parameters and inputs.

func projected(tp *vlm.Tape, y *vlm.Tensor, seed uint64) *vlm.Tensor {
	return vlm.Sum(tp, vlm.Mul(tp, y, vlm.RandN(vlm.NewRand(seed), 1, y.Shape...)))
}

func TestGradients(t *testing.T) {
	c := attention.Config{Dim: 8, Heads: 2, Hidden: 12, KVDim: 6}
	self := c
	self.KVDim = 0
	x := vlm.RandN(vlm.NewRand(100), 1, 2, 4, 8)
	ctx := vlm.RandN(vlm.NewRand(101), 1, 2, 3, 6)
	pad := attention.Lengths([]int{4, 3}, 4, attention.Left)
	ctxPad := attention.Lengths([]int{3, 2}, 3, attention.Right)
	bias := vlm.RandN(vlm.NewRand(102), 1, 2, 1, 4, 4)

	selfAttn := func(names attention.Names) *attention.MultiHead {
		cc := self
		cc.Names = names
		return must(attention.NewMultiHead(vlm.NewRand(1), cc))
	}
	crossAttn := func(names attention.Names) *attention.MultiHead {
		cc := c
		cc.Names = names
		return must(attention.NewMultiHead(vlm.NewRand(1), cc))
	}
	bertSelf := must(attention.NewBERTAttention(vlm.NewRand(2), self, "attention"))
	bertCross := must(attention.NewBERTAttention(vlm.NewRand(3), c, "crossattention"))
	ffn := must(attention.NewBERTFeedForward(vlm.NewRand(4), self, "_query"))
	bert := must(attention.NewBERTLayer(vlm.NewRand(5), self))
	clip := must(attention.NewCLIPLayer(vlm.NewRand(6), self))
	dec := must(attention.NewDecoderLayer(vlm.NewRand(7), c, true))
	add := must(attention.NewAdditive(vlm.NewRand(8), 6, 8, 5, vlm.ActTanh))
	torchSelf, sepSelf, flSelf := selfAttn(attention.TorchNames), selfAttn(attention.CLIPNames), selfAttn(attention.FlamingoNames)
	torchCross, flCross := selfAttn(attention.TorchNames), crossAttn(attention.FlamingoNames)
	sepCross := crossAttn(attention.BERTNames)

	// A stand-in module for the inputs of the SDPA functions.
	q4, k4, v4 := vlm.NewParam(vlm.RandN(vlm.NewRand(9), 1, 2, 2, 4, 3)), vlm.NewParam(vlm.RandN(vlm.NewRand(10), 1, 2, 2, 5, 3)), vlm.NewParam(vlm.RandN(vlm.NewRand(11), 1, 2, 2, 5, 3))
	qkv := vlm.Modules{{Name: "q", Module: param{q4}}, {Name: "k", Module: param{k4}}, {Name: "v", Module: param{v4}}}
	full := attention.NewMask(2, 1, 4, 5, func(b, _, i, j int) bool { return !(b == 1 && i == 2) && (i+j)%3 != 0 })
	// Additive fills pass the softmax gradient of a fully masked row to q
	// and k although in float32 its forward value no longer depends on
	// them (PyTorch does the same; the decoder golden test checks it), and
	// −10000-shifted scores are quantised to ~1e-3: finite differences can
	// only check them on rows that keep a key.
	partial := attention.NewMask(2, 1, 4, 5, func(b, _, i, j int) bool { return (i+j+b)%3 != 0 })
	rows := attention.NewMask(2, 1, 4, 1, func(b, _, i, _ int) bool { return b == 0 || i != 0 })
	sdpa := func(o *attention.Options) func(tp *vlm.Tape) *vlm.Tensor {
		return func(tp *vlm.Tape) *vlm.Tensor {
			return attention.ScaledDotProduct(tp, tp.Param(q4), tp.Param(k4), tp.Param(v4), o)
		}
	}

	cases := []struct {
		name   string
		m      vlm.Module
		inputs []*vlm.Tensor
		f      func(tp *vlm.Tape) *vlm.Tensor
	}{
		{"ScaledDotProduct exclude", qkv, nil, sdpa(&attention.Options{Mask: full})},
		{"ScaledDotProduct −10000", qkv, nil, sdpa(&attention.Options{Mask: partial, Fill: attention.FillMinus10000})},
		{"ScaledDotProduct finfo.min", qkv, nil, sdpa(&attention.Options{Mask: partial, Fill: attention.FillMin})},
		{"ScaledDotProduct replace + rows", qkv, nil, sdpa(&attention.Options{Mask: full, Fill: attention.FillReplaceMax, KeepRows: rows})},
		{"ScaledDotProduct causal + bias + scale", qkv, nil, sdpa(&attention.Options{Causal: true, Bias: vlm.RandN(vlm.NewRand(3), 1, 4, 5), Scale: 0.3})},
		{"Attend", qkv, nil, func(tp *vlm.Tape) *vlm.Tensor {
			q := vlm.Reshape(tp, vlm.Transpose(tp, tp.Param(q4), 1, 2), 2, 4, 6)
			k := vlm.Reshape(tp, vlm.Transpose(tp, tp.Param(k4), 1, 2), 2, 5, 6)
			v := vlm.Reshape(tp, vlm.Transpose(tp, tp.Param(v4), 1, 2), 2, 5, 6)
			return attention.Attend(tp, q, k, v, 2, &attention.Options{Mask: full, Causal: true})
		}},
		{"MultiHead self, fused QKV", torchSelf, []*vlm.Tensor{x}, func(tp *vlm.Tape) *vlm.Tensor {
			return must(torchSelf.Self(tp, x, nil, &attention.Options{Mask: pad, Causal: true, Bias: bias}))
		}},
		{"MultiHead self, separate", sepSelf, []*vlm.Tensor{x}, func(tp *vlm.Tape) *vlm.Tensor {
			return must(sepSelf.Self(tp, x, nil, &attention.Options{Mask: pad, Fill: attention.FillMin}))
		}},
		{"MultiHead self, fused KV", flSelf, []*vlm.Tensor{x}, func(tp *vlm.Tape) *vlm.Tensor {
			return must(flSelf.Self(tp, x, nil, &attention.Options{Causal: true}))
		}},
		{"MultiHead self with cache", sepSelf, []*vlm.Tensor{x}, func(tp *vlm.Tape) *vlm.Tensor {
			var cache attention.Cache
			a := must(sepSelf.Self(tp, vlm.Slice(tp, x, 1, 0, 3), &cache, &attention.Options{Causal: true}))
			b := must(sepSelf.Self(tp, vlm.Slice(tp, x, 1, 3, 4), &cache, &attention.Options{Causal: true, Mask: pad}))
			return vlm.Concat(tp, 1, a, b)
		}},
		{"MultiHead cross, fused QKV", torchCross, []*vlm.Tensor{x}, func(tp *vlm.Tape) *vlm.Tensor {
			mem := must(torchCross.Memory(tp, vlm.Slice(tp, x, 1, 1, 4)))
			return must(torchCross.Cross(tp, x, mem, nil))
		}},
		{"MultiHead cross, separate", sepCross, []*vlm.Tensor{x, ctx}, func(tp *vlm.Tape) *vlm.Tensor {
			return must(sepCross.Cross(tp, x, must(sepCross.Memory(tp, ctx)), &attention.Options{Mask: ctxPad}))
		}},
		{"MultiHead cross, fused KV, reused memory", flCross, []*vlm.Tensor{x, ctx}, func(tp *vlm.Tape) *vlm.Tensor {
			mem := must(flCross.Memory(tp, ctx))
			a := must(flCross.Cross(tp, vlm.Slice(tp, x, 1, 0, 2), mem, &attention.Options{Fill: attention.FillReplaceMax, Mask: ctxPad}))
			b := must(flCross.Cross(tp, vlm.Slice(tp, x, 1, 2, 4), mem, nil))
			return vlm.Concat(tp, 1, a, b)
		}},
		{"BERT self-attention sub-layer", bertSelf, []*vlm.Tensor{x}, func(tp *vlm.Tape) *vlm.Tensor {
			return must(bertSelf.Self(tp, x, nil, &attention.Options{Mask: attention.PrefixCausal(1, 4, 4), Fill: attention.FillMinus10000}))
		}},
		{"BERT cross-attention sub-layer", bertCross, []*vlm.Tensor{x, ctx}, func(tp *vlm.Tape) *vlm.Tensor {
			return must(bertCross.Cross(tp, x, must(bertCross.Memory(tp, ctx)), &attention.Options{Mask: ctxPad, Fill: attention.FillMin}))
		}},
		{"BERT feed-forward", ffn, []*vlm.Tensor{x}, func(tp *vlm.Tape) *vlm.Tensor { return must(ffn.Forward(tp, x)) }},
		{"BERT layer", bert, []*vlm.Tensor{x}, func(tp *vlm.Tape) *vlm.Tensor {
			return must(bert.Forward(tp, x, &attention.Options{Mask: pad, Fill: attention.FillMinus10000}))
		}},
		{"CLIP layer", clip, []*vlm.Tensor{x}, func(tp *vlm.Tape) *vlm.Tensor { return must(clip.Forward(tp, x, nil)) }},
		{"decoder layer with cache and cross-attention", dec, []*vlm.Tensor{x, ctx}, func(tp *vlm.Tape) *vlm.Tensor {
			mem := must(dec.Memory(tp, ctx))
			var cache attention.Cache
			a := must(dec.Forward(tp, vlm.Slice(tp, x, 1, 0, 2), &cache, nil, mem, &attention.Options{Mask: ctxPad}))
			b := must(dec.Forward(tp, vlm.Slice(tp, x, 1, 2, 4), &cache, &attention.Options{Mask: pad}, mem, nil))
			return vlm.Concat(tp, 1, a, b)
		}},
		{"additive", add, []*vlm.Tensor{ctx, x}, func(tp *vlm.Tape) *vlm.Tensor {
			h := vlm.Reshape(tp, vlm.Slice(tp, x, 1, 0, 1), 2, 8)
			awe, alpha, err := add.Forward(tp, ctx, must(add.Keys(tp, ctx)), h)
			require.NoError(t, err)
			return vlm.Concat(tp, 1, awe, alpha)
		}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, isInputs := c.m.(vlm.Modules); !isInputs {
				randomize(c.m, uint64(50+i))
			}
			loss := func(tp *vlm.Tape) *vlm.Tensor { return projected(tp, c.f(tp), uint64(i)) }
			require.NoError(t, vlm.CheckGrad(c.m, loss, &vlm.GradCheckOptions{Inputs: c.inputs, MaxPerTensor: 16}))
		})
	}
}

// param is a Module of one parameter.
type param struct{ *vlm.Param }

func (p param) VisitParams(prefix string, visit func(string, *vlm.Param)) {
	visit(prefix+"value", p.Param)
}
