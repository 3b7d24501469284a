package kernels

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestMath32Accuracy(t *testing.T) {
	cases := []struct {
		name   string
		f      func(float32) float32
		ref    func(float64) float64
		lo, hi float64
		rel    float64 // bound on |f-ref| / max(|ref|, floor)
		floor  float64
	}{
		{"Exp32", Exp32, math.Exp, -87, 88, 2.5e-7, 0},
		{"Tanh32", Tanh32, math.Tanh, -12, 12, 3e-7, 1e-30},
		{"Sigmoid32", Sigmoid32, func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }, -80, 80, 3e-7, 0},
		{"Erfc32", Erfc32, math.Erfc, -6, 2, 6e-7, 0},
		// Further out the rounding of -x² in float32 dominates; erfc(2) < 0.005.
		{"Erfc32Tail", Erfc32, math.Erfc, 2, 4, 2e-6, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			worst, at := 0.0, 0.0
			for i := 0; i <= 200000; i++ {
				x := float32(c.lo + (c.hi-c.lo)*float64(i)/200000)
				want := c.ref(float64(x))
				got := float64(c.f(x))
				e := math.Abs(got-want) / math.Max(math.Abs(want), math.Max(c.floor, 1e-38))
				if e > worst {
					worst, at = e, float64(x)
				}
			}
			assert.LessOrEqual(t, worst, c.rel, "worst relative error at x = %g", at)
		})
	}
	assert.Equal(t, float32(0), Exp32(-100))
	assert.True(t, math.IsInf(float64(Exp32(100)), 1))
	assert.True(t, math.IsNaN(float64(Exp32(float32(math.NaN())))))
	assert.Equal(t, float32(1), Tanh32(20))
	assert.Equal(t, float32(-1), Tanh32(-20))
}
