package vlm

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBinaryBroadcasts checks the binary operations and their gradients
// against an element-by-element float64 reference over the broadcasts of
// the fast paths (whole, repeating with short and long periods, on either
// side) and of the general one.
func TestBinaryBroadcasts(t *testing.T) {
	shapes := [][2][]int{
		{{2, 3, 40}, {2, 3, 40}},
		{{2, 3, 40}, {40}},
		{{2, 3, 40}, {1}},
		{{1}, {2, 3, 40}},
		{{7}, {3, 5, 7}},
		{{2, 1100}, {1100}},
		{{3, 2, 1300}, {2, 1300}},
		{{4, 1}, {1, 3}},
		{{2, 3, 4}, {2, 3, 1}},
	}
	ops := []struct {
		op  binOp
		f   func(tp *Tape, a, b *Tensor) *Tensor
		ref func(a, b float64) (y, da, db float64) // y and ∂y/∂a, ∂y/∂b
	}{
		{opAdd, Add, func(a, b float64) (float64, float64, float64) { return a + b, 1, 1 }},
		{opSub, Sub, func(a, b float64) (float64, float64, float64) { return a - b, 1, -1 }},
		{opMul, Mul, func(a, b float64) (float64, float64, float64) { return a * b, b, a }},
		{opDiv, Div, func(a, b float64) (float64, float64, float64) { return a / b, 1 / b, -a / (b * b) }},
	}
	for _, s := range shapes {
		for _, o := range ops {
			t.Run(fmt.Sprintf("%s/%v/%v", binOpNames[o.op], s[0], s[1]), func(t *testing.T) {
				rng := NewRand(1)
				a, b := Uniform(rng, 0.5, 2, s[0]...), Uniform(rng, 0.5, 2, s[1]...)
				tp := NewTape()
				tp.Watch(a)
				tp.Watch(b)
				y := o.f(tp, a, b)
				dy := RandN(rng, 1, y.Shape...)
				require.NoError(t, tp.BackwardFrom(y, dy))
				ma, mb := newBcast(y.Shape, a.Shape), newBcast(y.Shape, b.Shape)
				da, db := make([]float64, a.Size()), make([]float64, b.Size())
				for i := range y.Data {
					ia, ib := ma.at(i), mb.at(i)
					want, ga, gb := o.ref(float64(a.Data[ia]), float64(b.Data[ib]))
					require.InDelta(t, want, y.Data[i], 1e-6*(1+abs(want)), "y[%d]", i)
					da[ia] += ga * float64(dy.Data[i])
					db[ib] += gb * float64(dy.Data[i])
				}
				for i, want := range da {
					assert.InDelta(t, want, tp.Grad(a).Data[i], 1e-5*(1+abs(want)), "da[%d]", i)
				}
				for i, want := range db {
					assert.InDelta(t, want, tp.Grad(b).Data[i], 1e-5*(1+abs(want)), "db[%d]", i)
				}
			})
		}
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
