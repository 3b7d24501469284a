package attention_test

import (
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/attention"
)

// Benchmarks at the published sizes: a ViT-B/16 self-attention layer
// (197 tokens, 768 wide, 12 heads) and the BLIP-2 Q-Former's
// cross-attention (32 queries into 257 EVA ViT-g tokens of width 1408).

func reportGFLOPs(b *testing.B, flops float64) {
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// attnFLOPs counts the multiply-adds ×2 of q·kᵀ and p·v.
func attnFLOPs(tq, tk, inner int) float64 { return 4 * float64(tq*tk*inner) }

func linearFLOPs(rows, in, out int) float64 { return 2 * float64(rows*in*out) }

func BenchmarkSelfAttention(b *testing.B) {
	const t, d, h = 197, 768, 12
	m := must(attention.NewMultiHead(vlm.NewRand(1), attention.Config{Dim: d, Heads: h}))
	x := vlm.RandN(vlm.NewRand(2), 1, 1, t, d)
	flops := 4*linearFLOPs(t, d, d) + attnFLOPs(t, t, d)
	b.ReportAllocs()
	for b.Loop() {
		must(m.Self(nil, x, nil, nil))
	}
	reportGFLOPs(b, flops)
}

func BenchmarkSelfAttentionTrain(b *testing.B) {
	const t, d, h = 197, 768, 12
	m := must(attention.NewMultiHead(vlm.NewRand(1), attention.Config{Dim: d, Heads: h}))
	x := vlm.RandN(vlm.NewRand(2), 1, 1, t, d)
	r := vlm.RandN(vlm.NewRand(3), 1, 1, t, d)
	flops := 3 * (4*linearFLOPs(t, d, d) + attnFLOPs(t, t, d)) // forward + backward ≈ 3× forward
	b.ReportAllocs()
	for b.Loop() {
		tp := vlm.NewTape()
		tp.Watch(x)
		y := must(m.Self(tp, x, nil, nil))
		if err := tp.Backward(vlm.Sum(tp, vlm.Mul(tp, y, r))); err != nil {
			b.Fatal(err)
		}
	}
	reportGFLOPs(b, flops)
}

func BenchmarkCLIPLayer(b *testing.B) {
	const t, d, h = 197, 768, 12
	l := must(attention.NewCLIPLayer(vlm.NewRand(1), attention.Config{Dim: d, Heads: h}))
	x := vlm.RandN(vlm.NewRand(2), 1, 1, t, d)
	flops := 4*linearFLOPs(t, d, d) + attnFLOPs(t, t, d) + 2*linearFLOPs(t, d, 4*d)
	b.ReportAllocs()
	for b.Loop() {
		must(l.Forward(nil, x, nil))
	}
	reportGFLOPs(b, flops)
}

func BenchmarkCrossAttention(b *testing.B) {
	const q, n, d, w, h = 32, 257, 768, 1408, 12
	m := must(attention.NewMultiHead(vlm.NewRand(1), attention.Config{Dim: d, Heads: h, KVDim: w, Names: attention.BERTNames}))
	x := vlm.RandN(vlm.NewRand(2), 1, 1, q, d)
	img := vlm.RandN(vlm.NewRand(3), 1, 1, n, w)
	b.Run("project", func(b *testing.B) {
		flops := 2*linearFLOPs(q, d, d) + 2*linearFLOPs(n, w, d) + attnFLOPs(q, n, d)
		b.ReportAllocs()
		for b.Loop() {
			must(m.Cross(nil, x, must(m.Memory(nil, img)), nil))
		}
		reportGFLOPs(b, flops)
	})
	b.Run("reuse", func(b *testing.B) {
		mem := must(m.Memory(nil, img))
		flops := 2*linearFLOPs(q, d, d) + attnFLOPs(q, n, d)
		b.ReportAllocs()
		for b.Loop() {
			must(m.Cross(nil, x, mem, nil))
		}
		reportGFLOPs(b, flops)
	})
}

// BenchmarkAttend compares the fused kernel on heads laid side by side
// with the same attention composed from vlm primitives (transposes to
// [B, H, T, Dh], MatMul, Softmax, MatMul, transpose back), at ViT-B/16
// size, without and with the backward pass.
func BenchmarkAttend(b *testing.B) {
	const t, d, h = 197, 768, 12
	rng := vlm.NewRand(1)
	q, k, v, r := vlm.RandN(rng, 1, 1, t, d), vlm.RandN(rng, 1, 1, t, d), vlm.RandN(rng, 1, 1, t, d), vlm.RandN(rng, 1, 1, t, d)
	composed := func(tp *vlm.Tape) *vlm.Tensor {
		split := func(x *vlm.Tensor) *vlm.Tensor { return vlm.Transpose(tp, vlm.Reshape(tp, x, 1, t, h, d/h), 1, 2) }
		s := vlm.Scale(tp, vlm.MatMul(tp, split(q), split(k), false, true), 0.125)
		o := vlm.MatMul(tp, vlm.Softmax(tp, s, nil), split(v), false, false)
		return vlm.Reshape(tp, vlm.Transpose(tp, o, 1, 2), 1, t, d)
	}
	fused := func(tp *vlm.Tape) *vlm.Tensor { return attention.Attend(tp, q, k, v, h, nil) }
	for _, c := range []struct {
		name string
		f    func(*vlm.Tape) *vlm.Tensor
	}{{"fused", fused}, {"composed", composed}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.f(nil)
			}
			reportGFLOPs(b, attnFLOPs(t, t, d))
		})
		b.Run(c.name+"/train", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tp := vlm.NewTape()
				tp.Watch(q)
				tp.Watch(k)
				tp.Watch(v)
				if err := tp.Backward(vlm.Sum(tp, vlm.Mul(tp, c.f(tp), r))); err != nil {
					b.Fatal(err)
				}
			}
			reportGFLOPs(b, 3*attnFLOPs(t, t, d))
		})
	}
}
