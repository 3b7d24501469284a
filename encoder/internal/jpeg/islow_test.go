package jpeg

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRangeLimit(t *testing.T) {
	// libjpeg's post-IDCT table, indexed by x & 1023.
	for _, c := range []struct {
		x    int64
		want uint8
	}{
		{-128, 0}, {-1, 127}, {0, 128}, {127, 255}, {128, 255}, {511, 255},
		{-129, 0}, {-512, 0}, {512, 0}, {895, 0}, {896, 0}, {1023, 127}, {1024, 128},
	} {
		assert.Equal(t, c.want, rangeLimit(c.x), "x = %d", c.x)
	}
}

// The integer IDCT stays within one level of the exact one, and a block
// with only a DC coefficient is flat.
func TestIDCTISLOW(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		var b block
		for i := range b {
			if rng.IntN(3) == 0 {
				b[i] = int32(rng.IntN(201) - 100)
			}
		}
		b[0] = int32(rng.IntN(1001) - 500)
		orig := b
		out := make([]byte, 64)
		idctISLOW(&b, out, 8)
		for y := range 8 {
			for x := range 8 {
				s := 0.0
				for v := range 8 {
					for u := range 8 {
						cu, cv := 1.0, 1.0
						if u == 0 {
							cu = 1 / math.Sqrt2
						}
						if v == 0 {
							cv = 1 / math.Sqrt2
						}
						s += cu * cv * float64(orig[8*v+u]) *
							math.Cos(float64(2*x+1)*float64(u)*math.Pi/16) * math.Cos(float64(2*y+1)*float64(v)*math.Pi/16)
					}
				}
				want := min(max(math.Round(s/4)+128, 0), 255)
				assert.InDelta(t, want, float64(out[8*y+x]), 1)
			}
		}
	}
	var dc block
	dc[0] = 80 // 80/8 = +10
	out := make([]byte, 64)
	idctISLOW(&dc, out, 8)
	for _, v := range out {
		assert.Equal(t, uint8(138), v)
	}
}
