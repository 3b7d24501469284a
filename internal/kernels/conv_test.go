package kernels

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestIm2ColByHand(t *testing.T) {
	// One 3x3 image with 1 channel holding 1..9, 2x2 windows, stride 1,
	// padding 1: a 4x4 output; the first window sees only pixel 1 in its
	// bottom-right corner.
	x := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}
	g := NewWindow(1, 3, 3, 1, 2, 2, 1, 1, 1, 1)
	assert.Equal(t, 4, g.OH)
	assert.Equal(t, 4, g.OW)
	cols := make([]float32, g.Pixels()*g.PatchLen())
	Im2Col(cols, x, g)
	assert.Equal(t, []float32{0, 0, 0, 1}, cols[0:4])
	assert.Equal(t, []float32{1, 2, 4, 5}, cols[5*4:6*4])
	assert.Equal(t, []float32{9, 0, 0, 0}, cols[15*4:16*4])
}

func TestPatchifyByHand(t *testing.T) {
	// One 2-channel 2x4 image, 2x2 patches: two patches, each (c, i, j).
	x := []float32{
		0, 1, 2, 3,
		4, 5, 6, 7,
		10, 11, 12, 13,
		14, 15, 16, 17,
	}
	cols := make([]float32, 2*8)
	Patchify(cols, x, 1, 2, 2, 4, 2)
	assert.Equal(t, []float32{0, 1, 4, 5, 10, 11, 14, 15, 2, 3, 6, 7, 12, 13, 16, 17}, cols)
}

// The backward rearrangements are the adjoints of the forward ones:
// <F(x), c> = <x, Fᵀ(c)> for random x and c.
func TestRearrangementsAreAdjoint(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	randv := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	for _, g := range []Window{
		NewWindow(2, 5, 6, 3, 3, 3, 1, 1, 1, 1),
		NewWindow(1, 7, 5, 2, 3, 2, 2, 3, 1, 0),
		NewWindow(1, 4, 4, 2, 5, 5, 1, 1, 2, 2),
	} {
		x, c := randv(g.B*g.H*g.W*g.C), randv(g.Pixels()*g.PatchLen())
		fx, dx := make([]float32, len(c)), make([]float32, len(x))
		Im2Col(fx, x, g)
		Col2ImAdd(dx, c, g)
		assert.InDelta(t, Dot(fx, c), Dot(x, dx), 1e-3, "window %+v", g)
	}
	x, c := randv(2*3*9*7), randv(2*3*2*3*9)
	fx, dx := make([]float32, len(c)), make([]float32, len(x))
	Patchify(fx, x, 2, 3, 9, 7, 3)
	UnpatchifyAdd(dx, c, 2, 3, 9, 7, 3)
	assert.InDelta(t, Dot(fx, c), Dot(x, dx), 1e-3)
	w, dw := randv(4*3*2*5), make([]float32, 4*3*2*5)
	hwc := make([]float32, len(w))
	ConvWeightToHWC(hwc, w, 4, 3, 2, 5)
	ConvWeightFromHWCAdd(dw, hwc, 4, 3, 2, 5)
	assert.Equal(t, w, dw)
}
