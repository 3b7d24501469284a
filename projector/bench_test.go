package projector_test

import (
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/projector"
)

// BenchmarkProjector runs LLaVA-1.5's mlp2x_gelu projector on one image:
// 576 CLIP ViT-L/14-336 patch tokens, 1024 → 4096 → 4096.
// testdata/gen/projector.py bench times PyTorch on the same sizes.
func BenchmarkProjector(b *testing.B) {
	const n, in, out = 576, 1024, 4096
	for _, typ := range []string{projector.MLPGELU, projector.Linear} {
		b.Run(typ, func(b *testing.B) {
			p, err := projector.New(vlm.NewRand(1), projector.Config{Type: typ, In: in, Out: out})
			if err != nil {
				b.Fatal(err)
			}
			x := vlm.RandN(vlm.NewRand(2), 1, 1, n, in)
			flops := 2.0 * n * in * out
			if typ == projector.MLPGELU {
				flops += 2.0 * n * out * out
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Forward(nil, x); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
