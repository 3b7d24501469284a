package gating_test

import (
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/gating"
)

// Benchmarks of one gated cross-attention block at dim 1024 (8 heads of
// 64, feed-forward ×4): 128 text tokens after one <image>, 64 visual
// tokens (one resampled image). PyTorch 1.13 on one thread:
// testdata/gen/flamingo.py bench.

const (
	benchDim, benchText, benchVisual = 1024, 128, 64
	benchInner, benchFF              = 512, 4096
)

// blockFLOPs counts 2 × multiply-adds of the GEMMs and of q·kᵀ, p·v;
// withKV adds the key/value projection of the media.
func blockFLOPs(withKV bool) float64 {
	const t, d, n = benchText, benchDim, benchVisual
	f := 2*t*d*benchInner + 4*t*n*benchInner + 2*t*benchInner*d + 2*2*t*d*benchFF
	if withKV {
		f += 2 * n * d * 2 * benchInner
	}
	return float64(f)
}

func benchBlock(b *testing.B) (*gating.Block, *vlm.Tensor, *vlm.Tensor, *gating.TextTime) {
	blk, err := gating.NewBlock(vlm.NewRand(1), gating.Config{Dim: benchDim})
	if err != nil {
		b.Fatal(err)
	}
	blk.AttnGate.Value.Data[0], blk.FFGate.Value.Data[0] = 0.5, 0.5
	at := make([]bool, benchText)
	at[0] = true
	loc, err := gating.NewLocations(1, benchText, at)
	if err != nil {
		b.Fatal(err)
	}
	x := vlm.RandN(vlm.NewRand(2), 1, 1, benchText, benchDim)
	media := vlm.RandN(vlm.NewRand(3), 1, 1, 1, benchVisual, benchDim)
	return blk, x, media, loc.TextTime()
}

func report(b *testing.B, flops float64) {
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkBlock(b *testing.B) {
	blk, x, media, tt := benchBlock(b)
	b.Run("forward", func(b *testing.B) {
		// As the references: the media's keys and values every call.
		b.ReportAllocs()
		for b.Loop() {
			mem, err := blk.Memory(nil, media, nil)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := blk.Forward(nil, x, mem, tt); err != nil {
				b.Fatal(err)
			}
		}
		report(b, blockFLOPs(true))
	})
	b.Run("cached", func(b *testing.B) {
		// Media conditioned once (generation, several passes per image).
		mem, err := blk.Memory(nil, media, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := blk.Forward(nil, x, mem, tt); err != nil {
				b.Fatal(err)
			}
		}
		report(b, blockFLOPs(false))
	})
}

func BenchmarkBlockTrainingStep(b *testing.B) {
	// Forward and backward to every block parameter and to the text (the
	// frozen LM below needs it), backward ≈ 2 × forward FLOPs; then the
	// same with an AdamW update.
	blk, x, media, tt := benchBlock(b)
	r := vlm.RandN(vlm.NewRand(4), 1, 1, benchText, benchDim)
	opt := vlm.NewAdamW(1e-4)
	for _, c := range []struct {
		name string
		step bool
	}{{"backward", false}, {"adamw", true}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tp := vlm.NewTape()
				tp.Watch(x)
				mem, err := blk.Memory(tp, media, nil)
				if err != nil {
					b.Fatal(err)
				}
				y, err := blk.Forward(tp, x, mem, tt)
				if err != nil {
					b.Fatal(err)
				}
				if err := tp.Backward(vlm.Sum(tp, vlm.Mul(tp, y, r))); err != nil {
					b.Fatal(err)
				}
				if c.step {
					opt.Step(blk)
				}
				vlm.ZeroGrad(blk)
			}
			report(b, 3*blockFLOPs(true))
		})
	}
}
