package vlm_test

import (
	"fmt"
	"testing"

	"github.com/govlm/vlm"
)

// BenchmarkLinear measures Linear forward (and forward+backward) at the
// shapes of VLM blocks: Q-Former queries through a 768-wide projection and
// 257 EVA image tokens through a 1408→768 cross-attention key projection.
func BenchmarkLinear(b *testing.B) {
	for _, s := range []struct{ m, in, out int }{{32, 768, 768}, {257, 1408, 768}, {32, 768, 3072}} {
		rng := vlm.NewRand(1)
		l := vlm.NewLinear(rng, s.in, s.out, true)
		x := vlm.RandN(rng, 1, s.m, s.in)
		flops := 2 * float64(s.m*s.in*s.out)
		b.Run(fmt.Sprintf("forward/%dx%dx%d", s.m, s.in, s.out), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				l.Forward(nil, x)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run(fmt.Sprintf("train/%dx%dx%d", s.m, s.in, s.out), func(b *testing.B) {
			b.ReportAllocs()
			dy := vlm.RandN(rng, 1, s.m, s.out)
			for b.Loop() {
				tp := vlm.NewTape()
				tp.Watch(x)
				y := l.Forward(tp, x)
				if err := tp.BackwardFrom(y, dy); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(3*flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
