package kernels

const (
	invSqrt2    = 0.70710678118654752440
	invSqrt2Pi  = 0.39894228040143267794
	sqrt2OverPi = 0.79788456080286535588
	geluCoeff   = 0.044715
	quickAlpha  = 1.702
)

// GELU sets y = 0.5·x·(1+erf(x/√2)), the exact GELU of nn.GELU(),
// computed as 0.5·x·erfc(-x/√2).
func GELU(y, x []float32) {
	y = y[:len(x)]
	if v := simd(); v != nil && len(x) > 0 {
		v.gelu(&y[0], &x[0], len(x))
		return
	}
	for i, v := range x {
		y[i] = 0.5 * v * Erfc32(-v*invSqrt2)
	}
}

// GELUBackward adds dy·GELU'(x) to dx.
func GELUBackward(dx, dy, x []float32) {
	dx, dy = dx[:len(x)], dy[:len(x)]
	if v := simd(); v != nil && len(x) > 0 {
		v.geluBackward(&dx[0], &dy[0], &x[0], len(x))
		return
	}
	for i, v := range x {
		cdf := 0.5 * Erfc32(-v*invSqrt2)
		pdf := invSqrt2Pi * Exp32(-0.5*v*v)
		dx[i] += dy[i] * (cdf + v*pdf)
	}
}

// GELUTanh sets y = 0.5·x·(1+tanh(√(2/π)(x+0.044715x³))), the tanh
// approximation (nn.GELU(approximate='tanh'), HF "gelu_new").
func GELUTanh(y, x []float32) {
	y = y[:len(x)]
	if v := simd(); v != nil && len(x) > 0 {
		v.geluTanh(&y[0], &x[0], len(x))
		return
	}
	for i, v := range x {
		y[i] = 0.5 * v * (1 + Tanh32(sqrt2OverPi*(v+geluCoeff*v*v*v)))
	}
}

// GELUTanhBackward adds dy·d/dx GELUTanh(x) to dx.
func GELUTanhBackward(dx, dy, x []float32) {
	dx, dy = dx[:len(x)], dy[:len(x)]
	if v := simd(); v != nil && len(x) > 0 {
		v.geluTanhBackward(&dx[0], &dy[0], &x[0], len(x))
		return
	}
	for i, v := range x {
		t := Tanh32(sqrt2OverPi * (v + geluCoeff*v*v*v))
		du := sqrt2OverPi * (1 + 3*geluCoeff*v*v)
		dx[i] += dy[i] * (0.5*(1+t) + 0.5*v*(1-t*t)*du)
	}
}

// QuickGELU sets y = x·σ(1.702x), OpenAI CLIP's activation.
func QuickGELU(y, x []float32) {
	y = y[:len(x)]
	if v := simd(); v != nil && len(x) > 0 {
		v.quickGELU(&y[0], &x[0], len(x))
		return
	}
	for i, v := range x {
		y[i] = v * Sigmoid32(quickAlpha*v)
	}
}

// QuickGELUBackward adds dy·d/dx QuickGELU(x) to dx.
func QuickGELUBackward(dx, dy, x []float32) {
	dx, dy = dx[:len(x)], dy[:len(x)]
	if v := simd(); v != nil && len(x) > 0 {
		v.quickGELUBackward(&dx[0], &dy[0], &x[0], len(x))
		return
	}
	for i, v := range x {
		s := Sigmoid32(quickAlpha * v)
		dx[i] += dy[i] * (s + quickAlpha*v*s*(1-s))
	}
}

// ReLU sets y = max(x, 0).
func ReLU(y, x []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] = max(v, 0)
	}
}

// ReLUBackward adds dy where x > 0 to dx.
func ReLUBackward(dx, dy, x []float32) {
	dx, dy = dx[:len(x)], dy[:len(x)]
	for i, v := range x {
		if v > 0 {
			dx[i] += dy[i]
		}
	}
}

// Tanh sets y = tanh(x).
func Tanh(y, x []float32) {
	y = y[:len(x)]
	if v := simd(); v != nil && len(x) > 0 {
		v.tanh(&y[0], &x[0], len(x))
		return
	}
	for i, v := range x {
		y[i] = Tanh32(v)
	}
}

// TanhBackward adds dy·(1-y²) to dx, given the forward output y.
func TanhBackward(dx, dy, y []float32) {
	dx, dy = dx[:len(y)], dy[:len(y)]
	for i, v := range y {
		dx[i] += dy[i] * (1 - v*v)
	}
}

// Sigmoid sets y = 1/(1+exp(-x)).
func Sigmoid(y, x []float32) {
	y = y[:len(x)]
	if v := simd(); v != nil && len(x) > 0 {
		v.sigmoid(&y[0], &x[0], len(x))
		return
	}
	for i, v := range x {
		y[i] = Sigmoid32(v)
	}
}

// SigmoidBackward adds dy·y·(1-y) to dx, given the forward output y.
func SigmoidBackward(dx, dy, y []float32) {
	dx, dy = dx[:len(y)], dy[:len(y)]
	for i, v := range y {
		dx[i] += dy[i] * v * (1 - v)
	}
}
