package kernels

import "math"

// Float32 versions of the transcendental functions the activation and
// softmax kernels need. They stay in float32 (no conversion to float64 and
// back) and are accurate to a few units in the last place, which is well
// inside the parity tolerance against PyTorch's vectorised float32 code.

// Exp32 returns eˣ with a relative error below 2e-7 (Cephes expf:
// x = n·ln2 + r, |r| <= ln2/2, a degree-7 polynomial in r, scaled by 2ⁿ).
// x < -87.3 gives 0, x > 88.7 gives +Inf, NaN gives NaN.
func Exp32(x float32) float32 {
	switch {
	case x < -87.3:
		return 0
	case x > 88.7:
		return float32(math.Inf(1))
	case x != x:
		return x
	}
	const (
		log2e = 1.44269504088896341
		ln2Hi = 0.693359375
		ln2Lo = -2.12194440e-4
	)
	t := x * log2e
	if t < 0 {
		t -= 0.5
	} else {
		t += 0.5
	}
	n := float32(int32(t)) // round to nearest
	r := x - n*ln2Hi - n*ln2Lo
	p := ((((((1.9875691500e-4*r+1.3981999507e-3)*r+8.3334519073e-3)*r+4.1665795894e-2)*r+1.6666665459e-1)*r+5.0000001201e-1)*r*r + r) + 1
	ni := int32(n)
	if ni < -126 { // subnormal result: scale in two steps
		return p * math.Float32frombits(uint32(ni+126+127)<<23) * math.Float32frombits(1<<23)
	}
	if ni > 127 {
		return p * 2 * math.Float32frombits(uint32(ni-1+127)<<23)
	}
	return math.Float32frombits(uint32(ni+127)<<23) * p
}

// Tanh32 returns tanh(x): Cephes tanhf's odd polynomial for |x| < 0.625,
// 1 - 2/(e^{2|x|}+1) with the sign restored elsewhere.
func Tanh32(x float32) float32 {
	a := x
	if a < 0 {
		a = -a
	}
	if a < 0.625 {
		z := x * x
		return ((((-5.70498872745e-3*z+2.06390887954e-2)*z-5.37397155531e-2)*z+1.33314422036e-1)*z-3.33332819422e-1)*z*x + x
	}
	if a > 9 {
		return float32(math.Copysign(1, float64(x)))
	}
	t := 1 - 2/(Exp32(2*a)+1)
	if x < 0 {
		return -t
	}
	return t
}

// Sigmoid32 returns 1/(1+e⁻ˣ).
func Sigmoid32(x float32) float32 {
	if x >= 0 {
		return 1 / (1 + Exp32(-x))
	}
	e := Exp32(x)
	return e / (1 + e)
}

// Erfc32 returns the complementary error function 1-erf(x) with a
// relative error below about 2e-7 everywhere (Numerical Recipes' erfcc
// Chebyshev fit, evaluated in float32). GELU uses it as
// 1+erf(x/√2) = erfc(-x/√2), which has no cancellation near zero.
func Erfc32(x float32) float32 {
	z := x
	if z < 0 {
		z = -z
	}
	t := 1 / (1 + 0.5*z)
	p := -1.26551223 + t*(1.00002368+t*(0.37409196+t*(0.09678418+t*(-0.18628806+t*(0.27886807+t*(-1.13520398+t*(1.48851587+t*(-0.82215223+t*0.17087277))))))))
	ans := t * Exp32(-z*z+p)
	if x < 0 {
		return 2 - ans
	}
	return ans
}
