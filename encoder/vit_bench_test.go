package encoder

import (
	"testing"

	"github.com/govlm/vlm"
	"github.com/stretchr/testify/require"
)

// vitFLOPs counts the multiply-adds ×2 of a ViT forward pass for a batch
// of b images: patch embedding, the four attention projections, q·kᵀ and
// p·v, the MLP, and the projection.
func vitFLOPs(c ViTConfig, b int) float64 {
	n, t, d := c.Patches(), c.Patches()+1, c.Dim
	perLayer := 4*t*d*d + 2*t*t*d + 2*t*d*c.Hidden
	return 2 * float64(b) * float64(n*d*c.Channels*c.PatchSize*c.PatchSize+c.Layers*perLayer+d*c.ProjectionDim)
}

// BenchmarkViTB16 measures CLIP ViT-B/16 inference at 224 px for one
// image (35.1 GFLOP), the forward pass PERFORMANCE.md times for PyTorch.
func BenchmarkViTB16(b *testing.B) {
	cfg := ViTB16Config()
	m, err := NewViT(vlm.NewRand(1), cfg)
	require.NoError(b, err)
	pixels := vlm.RandN(vlm.NewRand(2), 1, 1, 3, 224, 224)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Forward(nil, pixels, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(vitFLOPs(cfg, 1)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
