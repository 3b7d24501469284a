package encoder

import (
	"fmt"
	"math"
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// loadParams sets every parameter of m from the golden tensor
// prefix+name, so a renamed parameter fails the test.
func loadParams(t *testing.T, g *testutil.Golden, prefix string, m vlm.Module) {
	t.Helper()
	for _, p := range vlm.Params(m) {
		v := g.T(prefix + p.Name)
		require.Equal(t, p.Value.Shape, v.Shape, "shape of %s", p.Name)
		p.Value = v
	}
}

func TestGoldenCNN(t *testing.T) {
	g := testutil.LoadGolden(t, "encoder/testdata/cnn.safetensors")
	cnn, err := NewCNN(vlm.NewRand(1), CNNConfig{InChannels: 3, Channels: []int{4, 6}, Grid: 3, Eps: 1e-5})
	require.NoError(t, err)
	loadParams(t, g, "param.", cnn)
	pixels := g.T("pixels")
	tp := vlm.NewTape()
	tp.Watch(pixels)
	grid, err := cnn.Forward(tp, pixels)
	require.NoError(t, err)
	require.NoError(t, tp.Backward(vlm.Sum(tp, vlm.Mul(tp, grid, g.T("r")))))
	testutil.Close(t, "grid", grid, g.T("grid"))
	testutil.Close(t, "dpixels", tp.Grad(pixels), g.T("dpixels"))
	for _, p := range vlm.Params(cnn) {
		testutil.Close(t, "grad."+p.Name, p.Grad, g.T("grad."+p.Name))
	}
}

func TestCNNGradients(t *testing.T) {
	rng := vlm.NewRand(3)
	cnn, err := NewCNN(rng, CNNConfig{InChannels: 2, Channels: []int{3, 4}, Grid: 3, Eps: 1e-5})
	require.NoError(t, err)
	pixels := vlm.RandN(rng, 1, 2, 2, 8, 7)
	err = vlm.CheckGrad(cnn, func(tp *vlm.Tape) *vlm.Tensor {
		grid, err := cnn.Forward(tp, pixels)
		require.NoError(t, err)
		return projected(tp, grid)
	}, &vlm.GradCheckOptions{Inputs: []*vlm.Tensor{pixels}, Step: 1e-3})
	assert.NoError(t, err)
}

func TestCNNShapes(t *testing.T) {
	for _, c := range []struct {
		cfg         CNNConfig
		h, w        int
		gh, gw, dim int
	}{
		{DefaultCNNConfig(), 64, 64, 8, 8, 64},
		{DefaultCNNConfig(), 40, 72, 5, 9, 64},
		{CNNConfig{InChannels: 1, Channels: []int{8}, Grid: 14, Eps: 1e-5}, 16, 16, 14, 14, 8},
	} {
		t.Run(fmt.Sprintf("%dx%d", c.h, c.w), func(t *testing.T) {
			cnn, err := NewCNN(vlm.NewRand(1), c.cfg)
			require.NoError(t, err)
			grid, err := cnn.Forward(nil, vlm.RandN(vlm.NewRand(2), 1, 2, c.cfg.InChannels, c.h, c.w))
			require.NoError(t, err)
			assert.Equal(t, []int{2, c.gh, c.gw, c.dim}, grid.Shape)
			gh, gw := cnn.GridSize(c.h, c.w)
			assert.Equal(t, []int{c.gh, c.gw, c.dim}, []int{gh, gw, cnn.Dim()})
		})
	}
}

func TestCNNErrors(t *testing.T) {
	cnn, err := NewCNN(vlm.NewRand(1), DefaultCNNConfig())
	require.NoError(t, err)
	nan := vlm.Zeros(1, 3, 16, 16)
	nan.Data[7] = float32(math.NaN())
	for _, c := range []struct {
		name   string
		pixels *vlm.Tensor
		kind   error
	}{
		{"Channels", vlm.Zeros(1, 1, 16, 16), vlm.ErrShape},
		{"Rank", vlm.Zeros(3, 16, 16), vlm.ErrShape},
		{"TooSmall", vlm.Zeros(1, 3, 4, 16), vlm.ErrShape},
		{"NaN", nan, vlm.ErrInput},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := cnn.Forward(nil, c.pixels)
			assert.ErrorIs(t, err, c.kind)
		})
	}
	for _, cfg := range []CNNConfig{
		{InChannels: 0, Channels: []int{4}, Eps: 1e-5},
		{InChannels: 3, Eps: 1e-5},
		{InChannels: 3, Channels: []int{4, 0}, Eps: 1e-5},
		{InChannels: 3, Channels: []int{4}, Grid: -1, Eps: 1e-5},
		{InChannels: 3, Channels: []int{4}},
	} {
		_, err := NewCNN(vlm.NewRand(1), cfg)
		assert.ErrorIs(t, err, vlm.ErrConfig, "%+v", cfg)
	}
}
