package lm_test

import (
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/lm"
)

// Benchmarks at a small OPT-like configuration (about 30M parameters):
// width 512, 8 layers of 8 heads, FFN 2048, vocabulary 8192. A prompt of
// 128 tokens; generation reports the cost of one token with the KV cache.
// testdata/gen/lm.py bench times the same forward pass in PyTorch.

var benchCfg = lm.Config{Vocab: 8192, Dim: 512, Heads: 8, Layers: 8, MaxPositions: 512}

const benchPrompt = 128

// tokenFLOPs counts the multiply-adds ×2 of one token at context length
// ctx: projections, FFN, head, and q·kᵀ and p·v over ctx keys.
func tokenFLOPs(c lm.Config, ctx int) float64 {
	d, f := float64(c.Dim), float64(4*c.Dim)
	perLayer := 2*(4*d*d+2*d*f) + 4*float64(ctx)*d
	return float64(c.Layers)*perLayer + 2*d*float64(c.Vocab)
}

func benchModel(b *testing.B) (*lm.Model, *lm.Input) {
	m, err := lm.New(vlm.NewRand(1), benchCfg)
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]int, benchPrompt)
	rng := vlm.NewRand(2)
	for i := range ids {
		ids[i] = rng.IntN(benchCfg.Vocab)
	}
	return m, &lm.Input{IDs: [][]int{ids}}
}

func BenchmarkForward(b *testing.B) {
	m, in := benchModel(b)
	var flops float64
	for t := range benchPrompt {
		flops += tokenFLOPs(benchCfg, t+1)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Forward(nil, in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkGenerateToken measures one decoding step with the KV cache
// (what Generate does per token) at contexts of 128 to 192 positions.
func BenchmarkGenerateToken(b *testing.B) {
	m, in := benchModel(b)
	const extra = 64
	var c *lm.Cache
	prefill := func() {
		c = m.NewCache()
		if _, err := m.Forward(nil, &lm.Input{IDs: in.IDs, Cache: c}); err != nil {
			b.Fatal(err)
		}
	}
	prefill()
	var flops float64
	for t := range extra {
		flops += tokenFLOPs(benchCfg, benchPrompt+t+1) / extra
	}
	b.ReportAllocs()
	for b.Loop() {
		if c.Len() == benchPrompt+extra {
			b.StopTimer()
			prefill()
			b.StartTimer()
		}
		if _, err := m.Forward(nil, &lm.Input{IDs: [][]int{{7}}, Positions: [][]int{{c.Len()}}, Cache: c}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/token")
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
