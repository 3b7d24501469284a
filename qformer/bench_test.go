package qformer_test

import (
	"sync"
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/qformer"
)

// Benchmarks at the BLIP-2 preset: 12 layers of width 768, 32 queries,
// cross-attention every 2nd layer into 257×1408 EVA ViT-g features.
// testdata/gen/qformer.py bench times the same passes in PyTorch:
//
//	go test -run X -bench . -benchtime 3x -cpu 1 ./qformer/ ; python3 testdata/gen/qformer.py bench

const imageTokens = 257

var blip2 = sync.OnceValue(func() *qformer.Model { return qformer.MustNew(vlm.NewRand(1), qformer.BLIP2()) })

// model returns the shared BLIP-2 model (built once; it takes seconds)
// after checking its real parameter count.
func model(b *testing.B) *qformer.Model {
	m := blip2()
	if total, _ := vlm.CountParams(m); total != m.Config.ParamCount() || total != 186_702_654 {
		b.Fatalf("BLIP-2 preset has %d parameters, want 186,702,654", total)
	}
	return m
}

// passFLOPs counts the multiply-adds ×2 of a pass of rows rows per
// sequence (q of them queries) over keys keys, for b sequences, without
// the image projections: Q, K, V, O and the FFN for every row, q·kᵀ and
// p·v, and the query rows' cross-attention into n image tokens.
func passFLOPs(c qformer.Config, b, rows, q, keys, n int) float64 {
	d, h := float64(c.Dim), float64(c.Hidden)
	r, rq := float64(b*rows), float64(b*q)
	f := 0.0
	for i := range c.Layers {
		f += 8*r*d*d + 4*r*float64(keys)*d + 4*r*d*h
		if c.HasCross(i) {
			f += 4*rq*d*d + 4*rq*float64(n)*d
		}
	}
	return f
}

// memoryFLOPs counts the key and value projections of b images.
func memoryFLOPs(c qformer.Config, b, n int) float64 {
	cross := (c.Layers + c.CrossEvery - 1) / c.CrossEvery
	return float64(cross) * 4 * float64(b*n*c.VisionDim*c.Dim)
}

func reportGFLOPs(b *testing.B, flops float64) {
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkForward is BLIP-2's query pass for B images (inference, the
// visual tokens a language model receives), image projections included:
// 12.75 GFLOP per image.
func BenchmarkForward(b *testing.B) {
	m := model(b)
	c := m.Config
	for _, bs := range []struct {
		name string
		b    int
	}{{"B=1", 1}, {"B=8", 8}} {
		b.Run(bs.name, func(b *testing.B) {
			image := vlm.RandN(vlm.NewRand(2), 1, bs.b, imageTokens, c.VisionDim)
			flops := memoryFLOPs(c, bs.b, imageTokens) + passFLOPs(c, bs.b, c.Queries, c.Queries, c.Queries, imageTokens)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Forward(nil, qformer.Input{Queries: true, Image: image}); err != nil {
					b.Fatal(err)
				}
			}
			reportGFLOPs(b, flops)
		})
	}
}

// BenchmarkTrainStep measures training steps (forward and backward, no
// optimizer update): the query pass of one image (the "training step,
// B=1" of PERFORMANCE.md), and a whole stage-1 step of ITC + ITM + ITG on
// 2 pairs with 32 text tokens (LAVIS max_txt_len). Backward counts as
// twice the forward FLOPs.
func BenchmarkTrainStep(b *testing.B) {
	m := model(b)
	c := m.Config
	b.Run("query/B=1", func(b *testing.B) {
		image := vlm.RandN(vlm.NewRand(2), 1, 1, imageTokens, c.VisionDim)
		flops := 3 * (memoryFLOPs(c, 1, imageTokens) + passFLOPs(c, 1, c.Queries, c.Queries, c.Queries, imageTokens))
		b.ReportAllocs()
		for b.Loop() {
			tp := vlm.NewTape()
			out, err := m.Forward(tp, qformer.Input{Queries: true, Image: image})
			if err != nil {
				b.Fatal(err)
			}
			if err := tp.Backward(vlm.Sum(tp, out.Query)); err != nil {
				b.Fatal(err)
			}
			vlm.ZeroGrad(m)
		}
		reportGFLOPs(b, flops)
	})
	b.Run("stage1/B=2", func(b *testing.B) {
		const bs, t = 2, 32
		image := vlm.RandN(vlm.NewRand(2), 1, bs, imageTokens, c.VisionDim)
		rng := vlm.NewRand(3)
		ids := make([][]int, bs)
		for i := range ids {
			ids[i] = make([]int, t)
			for j := range ids[i] {
				ids[i][j] = 1000 + rng.IntN(29000)
			}
			ids[i][0] = qformer.CLSID
		}
		q := c.Queries
		f := memoryFLOPs(c, bs, imageTokens) +
			passFLOPs(c, bs, q, q, q, imageTokens) + // ITC query pass (cached for ITG)
			passFLOPs(c, bs, t, 0, t, 0) + // ITC text pass
			passFLOPs(c, 3*bs, q+t, q, q+t, imageTokens) + // ITM pass
			passFLOPs(c, bs, t, 0, q+t, 0) + // ITG pass over the cached queries
			2*float64(bs*(t-1))*float64(c.Dim)*float64(c.Dim+c.Vocab) // LM head
		b.ReportAllocs()
		for b.Loop() {
			tp := vlm.NewTape()
			l, err := m.Loss(tp, qformer.Batch{Image: image, IDs: ids}, &qformer.LossOptions{Rand: rng})
			if err != nil {
				b.Fatal(err)
			}
			if err := tp.Backward(l.Total); err != nil {
				b.Fatal(err)
			}
			vlm.ZeroGrad(m)
		}
		reportGFLOPs(b, 3*f)
	})
}
