package resampler_test

import (
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/resampler"
)

// Benchmarks at OpenFlamingo's configuration: dim 1024 (ViT-L/14), depth
// 6, 64 latents, 8 heads of 64, one image of 257 tokens, B = 1.
// PyTorch 1.13 on one thread: testdata/gen/flamingo.py bench.

const (
	benchDim, benchDepth, benchLatents, benchTokens = 1024, 6, 64, 257
	benchInner, benchFF                             = 512, 4096
)

// forwardFLOPs counts 2 × multiply-adds of the GEMMs and of q·kᵀ, p·v.
func forwardFLOPs() float64 {
	const q, d, kv = benchLatents, benchDim, benchTokens + benchLatents
	perLayer := 2*q*d*benchInner + // to_q
		2*kv*d*2*benchInner + // to_kv of [media; latents]
		4*q*kv*benchInner + // q·kᵀ and p·v
		2*q*benchInner*d + // to_out
		2*2*q*d*benchFF // feed-forward
	return float64(benchDepth * perLayer)
}

func benchModel(b *testing.B) (*resampler.Model, *vlm.Tensor) {
	m, err := resampler.New(vlm.NewRand(1), resampler.Config{Dim: benchDim, Depth: benchDepth, Latents: benchLatents})
	if err != nil {
		b.Fatal(err)
	}
	return m, vlm.RandN(vlm.NewRand(2), 1, 1, 1, 1, benchTokens, benchDim)
}

func report(b *testing.B, flops float64) {
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkForward(b *testing.B) {
	m, x := benchModel(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Forward(nil, x); err != nil {
			b.Fatal(err)
		}
	}
	report(b, forwardFLOPs())
}

func BenchmarkTrainingStep(b *testing.B) {
	// Forward and backward to every parameter (not to the frozen vision
	// features), backward ≈ 2 × forward FLOPs; then the same with an
	// AdamW update of the 20M parameters.
	m, x := benchModel(b)
	r := vlm.RandN(vlm.NewRand(3), 1, 1, 1, benchLatents, benchDim)
	opt := vlm.NewAdamW(1e-4)
	for _, c := range []struct {
		name string
		step bool
	}{{"backward", false}, {"adamw", true}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tp := vlm.NewTape()
				y, err := m.Forward(tp, x)
				if err != nil {
					b.Fatal(err)
				}
				if err := tp.Backward(vlm.Sum(tp, vlm.Mul(tp, y, r))); err != nil {
					b.Fatal(err)
				}
				if c.step {
					opt.Step(m)
				}
				vlm.ZeroGrad(m)
			}
			report(b, 3*forwardFLOPs())
		})
	}
}
