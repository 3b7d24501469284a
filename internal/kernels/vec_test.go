package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
)

// The kernels with vectorised paths are checked, through every
// implementation (forEachGEMM), against float64 references: on dense
// ranges, on lengths that leave every tail size, and on the special values
// whose results the Go code defines (±Inf, NaN, overflow, underflow).

var vecLengths = []int{0, 1, 7, 15, 16, 17, 31, 32, 33, 47, 64, 77, 768, 1000}

// inputs returns n values spread over [lo, hi] in a random order.
func inputs(rng *rand.Rand, n int, lo, hi float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(lo + (hi-lo)*float64(i)/float64(max(n-1, 1)))
	}
	rng.Shuffle(n, func(i, j int) { x[i], x[j] = x[j], x[i] })
	return x
}

// specials are the inputs whose outputs are compared exactly with the
// reference's (after float32 rounding), NaN matching NaN.
var specials = []float32{
	0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
	100, -100, 1e30, -1e30, 88.6, 88.8, -87.2, -87.4,
}

func sameFloat(a, b float32) bool {
	if math.IsNaN(float64(a)) || math.IsNaN(float64(b)) {
		return math.IsNaN(float64(a)) && math.IsNaN(float64(b))
	}
	return a == b
}

func gelu64(x float64) float64      { return 0.5 * x * math.Erfc(-x/math.Sqrt2) }
func sigmoid64(x float64) float64   { return 1 / (1 + math.Exp(-x)) }
func quickGELU64(x float64) float64 { return x * sigmoid64(quickAlpha*x) }
func geluTanh64(x float64) float64 {
	return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+geluCoeff*x*x*x)))
}

// derivative returns the central difference of f at x in float64.
func derivative(f func(float64) float64, x float64) float64 {
	h := 1e-6 * math.Max(1, math.Abs(x))
	return (f(x+h) - f(x-h)) / (2 * h)
}

func TestVecActivations(t *testing.T) {
	cases := []struct {
		name   string
		f      func(y, x []float32)
		ref    func(float64) float64
		scalar func(float32) float32 // the Go code's value for one input
		lo, hi float64
		// |f-ref| <= rel·|ref| + abs: the float32 rounding of the
		// argument of e^x grows with it (QuickGELU), and 1+erf, 1+tanh
		// cancel for negative x (GELU, GELUTanh), in the Go code and
		// PyTorch's alike.
		rel, abs float64
	}{
		{"Exp", vecExpKernel, math.Exp, Exp32, -87, 88, 3e-7, 0},
		{"Sigmoid", Sigmoid, sigmoid64, Sigmoid32, -80, 80, 4e-7, 0},
		{"Tanh", Tanh, math.Tanh, Tanh32, -12, 12, 4e-7, 1e-30},
		{"QuickGELU", QuickGELU, quickGELU64, func(v float32) float32 { return v * Sigmoid32(quickAlpha*v) }, -40, 40, 6e-6, 1e-30},
		{"GELU", GELU, gelu64, func(v float32) float32 { return 0.5 * v * Erfc32(-v*invSqrt2) }, -6, 8, 6e-7, 3e-8},
		{"GELUTanh", GELUTanh, geluTanh64, func(v float32) float32 {
			return 0.5 * v * (1 + Tanh32(sqrt2OverPi*(v+geluCoeff*v*v*v)))
		}, -8, 8, 6e-7, 1.5e-7},
	}
	forEachGEMM(t, func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				rng := rand.New(rand.NewPCG(1, 2))
				x := inputs(rng, 100003, c.lo, c.hi)
				y := make([]float32, len(x))
				c.f(y, x)
				worst, at := 0.0, 0.0
				for i, v := range x {
					want := c.ref(float64(v))
					e := math.Abs(float64(y[i])-want) / (c.rel*math.Abs(want) + c.abs)
					if e > worst {
						worst, at = e, float64(v)
					}
				}
				assert.LessOrEqual(t, worst, 1.0, "worst error (in units of the bound) at x = %g", at)
				// Every special value at every position of a block and
				// of the tail gives the Go code's result.
				for _, n := range []int{16, 37} {
					for _, s := range specials {
						for pos := range n {
							x := make([]float32, n)
							x[pos] = s
							y := make([]float32, n)
							c.f(y, x)
							if !sameFloat(y[pos], c.scalar(s)) {
								t.Fatalf("%s(%g) at %d of %d = %g, want %g", c.name, s, pos, n, y[pos], c.scalar(s))
							}
						}
					}
				}
			})
		}
	})
}

// vecExpKernel sets y = e^x through the vector kernels, for the test: the
// package uses exp only inside other kernels.
func vecExpKernel(y, x []float32) {
	y = y[:len(x)]
	if v := simd(); v != nil && len(x) > 0 {
		v.exp(&y[0], &x[0], len(x))
		return
	}
	for i, v := range x {
		y[i] = Exp32(v)
	}
}

func TestVecActivationGradients(t *testing.T) {
	cases := []struct {
		name   string
		f      func(dx, dy, x []float32)
		ref    func(float64) float64
		lo, hi float64
	}{
		{"GELU", GELUBackward, gelu64, -6, 8},
		{"GELUTanh", GELUTanhBackward, geluTanh64, -8, 8},
		{"QuickGELU", QuickGELUBackward, quickGELU64, -20, 20},
	}
	forEachGEMM(t, func(t *testing.T) {
		for _, c := range cases {
			for _, n := range vecLengths {
				t.Run(fmt.Sprintf("%s/%d", c.name, n), func(t *testing.T) {
					rng := rand.New(rand.NewPCG(3, uint64(n)))
					x := inputs(rng, n, c.lo, c.hi)
					dy, dx := make([]float32, n), make([]float32, n)
					for i := range dy {
						dy[i], dx[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
					}
					dx0 := append([]float32(nil), dx...)
					c.f(dx, dy, x)
					for i, v := range x {
						want := float64(dx0[i]) + float64(dy[i])*derivative(c.ref, float64(v))
						assert.InDelta(t, want, dx[i], 2e-5*(1+math.Abs(want)), "x = %g", v)
					}
				})
			}
		}
	})
}

func TestVecElementwise(t *testing.T) {
	forEachGEMM(t, func(t *testing.T) {
		for _, n := range vecLengths {
			t.Run(fmt.Sprint(n), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(5, uint64(n)))
				a, b, y := inputs(rng, n, -3, 3), inputs(rng, n, 0.5, 4), inputs(rng, n, -1, 1)
				exact := []struct {
					name string
					f    func(y []float32)
					ref  func(i int) float32
				}{
					{"Add", func(y []float32) { Add(y, a, b) }, func(i int) float32 { return a[i] + b[i] }},
					{"Sub", func(y []float32) { Sub(y, a, b) }, func(i int) float32 { return a[i] - b[i] }},
					{"Mul", func(y []float32) { Mul(y, a, b) }, func(i int) float32 { return a[i] * b[i] }},
					{"Scale", func(y []float32) { Scale(y, -1.5, a) }, func(i int) float32 { return -1.5 * a[i] }},
					{"AddTo", func(y []float32) { AddTo(y, a) }, func(i int) float32 { return y[i] + a[i] }},
				}
				for _, c := range exact {
					got := append([]float32(nil), y...)
					c.f(got)
					for i := range got {
						if got[i] != c.ref(i) {
							t.Fatalf("%s: element %d = %g, want %g", c.name, i, got[i], c.ref(i))
						}
					}
				}
				// Fused multiply-adds round once where the Go code rounds twice.
				fused := []struct {
					name string
					f    func(y []float32)
					ref  func(i int) float64
				}{
					{"Axpy", func(y []float32) { Axpy(0.75, a, y) }, func(i int) float64 { return float64(y[i]) + 0.75*float64(a[i]) }},
					{"MulAddTo", func(y []float32) { MulAddTo(y, a, b) }, func(i int) float64 { return float64(y[i]) + float64(a[i])*float64(b[i]) }},
				}
				for _, c := range fused {
					got := append([]float32(nil), y...)
					c.f(got)
					for i := range got {
						assert.InDelta(t, c.ref(i), got[i], 1e-6*(1+math.Abs(c.ref(i))), "%s: element %d", c.name, i)
					}
				}
			})
		}
	})
}

func TestVecSoftmax(t *testing.T) {
	forEachGEMM(t, func(t *testing.T) {
		for _, n := range append(vecLengths[1:], 197, 257) {
			t.Run(fmt.Sprint(n), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(7, uint64(n)))
				const rows = 3
				x := inputs(rng, rows*n, -20, 20)
				mask := make([]float32, n)
				for i := range mask {
					if i%5 == 3 {
						mask[i] = float32(math.Inf(-1))
					}
				}
				y := make([]float32, rows*n)
				Softmax(y, x, rows, n, func(r int) []float32 {
					if r == 1 {
						return mask
					}
					return nil
				})
				for r := range rows {
					xr, yr := x[r*n:(r+1)*n], y[r*n:(r+1)*n]
					mx := math.Inf(-1)
					for i, v := range xr {
						if r != 1 || mask[i] == 0 {
							mx = math.Max(mx, float64(v))
						}
					}
					var s float64
					for i, v := range xr {
						if r != 1 || mask[i] == 0 {
							s += math.Exp(float64(v) - mx)
						}
					}
					for i, v := range xr {
						want := 0.0
						if r != 1 || mask[i] == 0 {
							want = math.Exp(float64(v)-mx) / s
						}
						assert.InDelta(t, want, yr[i], 1e-6*want+1e-12, "row %d element %d", r, i)
					}
				}
			})
		}
	})
}

func TestVecLayerNorm(t *testing.T) {
	forEachGEMM(t, func(t *testing.T) {
		for _, d := range append(vecLengths[1:], 1408) {
			for _, affine := range []string{"wb", "w", "b", "none"} {
				t.Run(fmt.Sprintf("%d/%s", d, affine), func(t *testing.T) {
					rng := rand.New(rand.NewPCG(9, uint64(d)))
					const rows = 4
					x := inputs(rng, rows*d, -3, 5)
					var w, b []float32
					if affine == "wb" || affine == "w" {
						w = inputs(rng, d, -2, 2)
					}
					if affine == "wb" || affine == "b" {
						b = inputs(rng, d, -1, 1)
					}
					y, mean, rstd := make([]float32, rows*d), make([]float32, rows), make([]float32, rows)
					LayerNorm(y, mean, rstd, x, w, b, rows, d, 1e-5)
					for r := range rows {
						xr := x[r*d : (r+1)*d]
						var mu, ss float64
						for _, v := range xr {
							mu += float64(v)
						}
						mu /= float64(d)
						for _, v := range xr {
							ss += (float64(v) - mu) * (float64(v) - mu)
						}
						rs := 1 / math.Sqrt(ss/float64(d)+1e-5)
						assert.InDelta(t, mu, mean[r], 1e-6*(1+math.Abs(mu)))
						assert.InDelta(t, rs, rstd[r], 1e-6*rs)
						for i, v := range xr {
							want := (float64(v) - mu) * rs
							if w != nil {
								want *= float64(w[i])
							}
							if b != nil {
								want += float64(b[i])
							}
							assert.InDelta(t, want, y[r*d+i], 2e-6*(1+math.Abs(want)), "row %d element %d", r, i)
						}
					}
				})
			}
		}
	})
}

func TestVecAdamW(t *testing.T) {
	p := AdamWParams{Decay: 0.999, Beta1: 0.9, Beta2: 0.999, BC2Sqrt: 0.0447, Eps: 1e-8, StepSize: 0.01}
	forEachGEMM(t, func(t *testing.T) {
		for _, n := range vecLengths {
			t.Run(fmt.Sprint(n), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(11, uint64(n)))
				w, g, m := inputs(rng, n, -1, 1), inputs(rng, n, -0.1, 0.1), inputs(rng, n, -0.05, 0.05)
				v := inputs(rng, n, 0, 1e-3)
				w0, m0, v0 := append([]float32(nil), w...), append([]float32(nil), m...), append([]float32(nil), v...)
				AdamW(w, g, m, v, p)
				for i := range w {
					gi := float64(g[i])
					mi := 0.9*float64(m0[i]) + 0.1*gi
					vi := 0.999*float64(v0[i]) + 0.001*gi*gi
					wi := float64(w0[i])*0.999 - 0.01*mi/(math.Sqrt(vi)/float64(p.BC2Sqrt)+1e-8)
					assert.InDelta(t, mi, m[i], 1e-7, "m[%d]", i)
					assert.InDelta(t, vi, v[i], 1e-9, "v[%d]", i)
					assert.InDelta(t, wi, w[i], 1e-6, "w[%d]", i)
				}
			})
		}
	})
}
