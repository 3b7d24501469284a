package vlm

import "math"

// Conversions between float32 and the two 16-bit float formats that
// safetensors checkpoints use: IEEE 754 binary16 (F16: 1 sign, 5 exponent,
// 10 mantissa bits) and bfloat16 (BF16: the top 16 bits of a float32).
// Widening is exact for every bit pattern, subnormals, infinities, signed
// zeros and NaNs included. Narrowing rounds to nearest, ties to even, and
// gives the bits PyTorch's .half() and .bfloat16() give, NaNs included: a
// NaN narrows to the canonical quiet NaN, signed for F16 (0x7e00, 0xfe00)
// and positive for BF16 (0x7fc0).

// f16ToF32 returns the float32 value of the binary16 bit pattern h.
func f16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f: // infinity or NaN: keep the payload
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp != 0: // normal: rebias the exponent from 15 to 127
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	case mant == 0: // signed zero
		return math.Float32frombits(sign)
	default: // subnormal: mant × 2^-24, a normal float32
		v := float32(mant) * (1.0 / (1 << 24))
		return math.Float32frombits(sign | math.Float32bits(v))
	}
}

// f32ToF16 returns the binary16 bit pattern nearest to f, ties to even.
// Values beyond the largest finite half (65504) round to infinity.
func f32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant == 0 {
			return sign | 0x7c00
		}
		return sign | 0x7e00
	}
	e := exp - 127 + 15 // the half's biased exponent
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		// Subnormal half: the value is (1<<23 | mant) × 2^(exp-150) and
		// the result counts units of 2^-24, so shift right by 126-exp,
		// at least 14. From a shift of 25 on (float32 subnormals
		// included), the value is below half the smallest subnormal half
		// and rounds to zero.
		shift := uint(126 - exp)
		if shift > 24 {
			return sign
		}
		return sign | uint16(roundShift(mant|0x800000, shift))
	}
	// Normal half; a carry out of the mantissa bumps the exponent, up to
	// infinity (0x7c00) for values that round past 65504.
	return sign | uint16(roundShift(uint32(e)<<23|mant, 13))
}

// roundShift returns x >> shift rounded to nearest, ties to even.
func roundShift(x uint32, shift uint) uint32 {
	q := x >> shift
	rem := x & (1<<shift - 1)
	half := uint32(1) << (shift - 1)
	if rem > half || rem == half && q&1 == 1 {
		q++
	}
	return q
}

// bf16ToF32 returns the float32 value of the bfloat16 bit pattern h.
func bf16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// f32ToBF16 returns the bfloat16 bit pattern nearest to f, ties to even.
func f32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return 0x7fc0
	}
	return uint16(roundShift(b, 16))
}
