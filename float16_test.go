package vlm

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

// sameFloat compares values bit for bit, except that any NaN equals any
// NaN of the same sign.
func sameFloat(t *testing.T, want, got float32, msg string) {
	t.Helper()
	if math.IsNaN(float64(want)) {
		assert.True(t, math.IsNaN(float64(got)), "%s: got %v, want NaN", msg, got)
		assert.Equal(t, math.Signbit(float64(want)), math.Signbit(float64(got)), "%s: sign of NaN", msg)
		return
	}
	assert.Equal(t, math.Float32bits(want), math.Float32bits(got), "%s: got %v, want %v", msg, got, want)
}

func TestF16ToF32(t *testing.T) {
	tests := []struct {
		bits uint16
		want float32
	}{
		{0x0000, 0},
		{0x8000, float32(math.Copysign(0, -1))},
		{0x3c00, 1},
		{0xc000, -2},
		{0x3555, 0x555 * 0x1p-12},       // 0.333251953125
		{0x7bff, 65504},                 // largest finite
		{0x0400, 0x1p-14},               // smallest normal
		{0x0001, 0x1p-24},               // smallest subnormal
		{0x03ff, 1023 * 0x1p-24},        // largest subnormal
		{0x8001, -0x1p-24},              // negative subnormal
		{0x0200, 0x1p-15},               // subnormal, one bit
		{0x7c00, float32(math.Inf(1))},  // +Inf
		{0xfc00, float32(math.Inf(-1))}, // -Inf
		{0x7e00, float32(math.NaN())},   // quiet NaN
		{0xfe00, -float32(math.NaN())},  // negative NaN
	}
	for _, tt := range tests {
		sameFloat(t, tt.want, f16ToF32(tt.bits), "f16 0x"+hex16(tt.bits))
	}
	// Widening keeps NaN payloads; narrowing gives PyTorch's canonical NaN.
	assert.Equal(t, uint32(0x7fc02000), math.Float32bits(f16ToF32(0x7e01)))
	assert.Equal(t, uint32(0x7f802000), math.Float32bits(f16ToF32(0x7c01)))
	assert.Equal(t, hex16(0x7e00), hex16(f32ToF16(f16ToF32(0x7c01))))
	assert.Equal(t, hex16(0xfe00), hex16(f32ToF16(f16ToF32(0xfe01))))
}

func TestF16RoundTripAllPatterns(t *testing.T) {
	for h := range 1 << 16 {
		b := uint16(h)
		f := f16ToF32(b)
		if math.IsNaN(float64(f)) {
			continue
		}
		if got := f32ToF16(f); got != b {
			t.Fatalf("f16 0x%04x -> %v -> 0x%04x", b, f, got)
		}
	}
	for h := range 1 << 16 {
		b := uint16(h)
		f := bf16ToF32(b)
		if math.IsNaN(float64(f)) {
			continue
		}
		if got := f32ToBF16(f); got != b {
			t.Fatalf("bf16 0x%04x -> %v -> 0x%04x", b, f, got)
		}
	}
}

func TestF32ToF16Rounding(t *testing.T) {
	tests := []struct {
		in   float32
		want uint16
	}{
		{1 + 0x1p-11, 0x3c00},   // tie between 0x3c00 and 0x3c01: even
		{1 + 3*0x1p-11, 0x3c02}, // tie between 0x3c01 and 0x3c02: even
		{1 + 0x1p-11 + 0x1p-20, 0x3c01},
		{1 + 0x1p-12, 0x3c00},
		{65504, 0x7bff},
		{65519.99, 0x7bff},
		{65520, 0x7c00}, // tie between 65504 and 2^16: even, infinity
		{-1e6, 0xfc00},
		{float32(math.Inf(1)), 0x7c00},
		{0x1p-24, 0x0001},
		{0x1p-25, 0x0000},           // tie between 0 and 2^-24: even
		{0x1p-25 + 0x1p-40, 0x0001}, // just above the tie
		{3 * 0x1p-25, 0x0002},       // tie between 1 and 2 units: even
		{5 * 0x1p-25, 0x0002},       // tie between 2 and 3 units: even
		{0x1p-14 - 0x1p-25, 0x0400}, // tie between largest subnormal and smallest normal: even
		{-0x1p-26, 0x8000},          // rounds to -0
		{0x1p-149, 0x0000},          // float32 subnormal
		{float32(math.Copysign(0, -1)), 0x8000},
		{0.1, 0x2e66},
		{-0.3, 0xb4cd},
	}
	for _, tt := range tests {
		assert.Equal(t, hex16(tt.want), hex16(f32ToF16(tt.in)), "f32ToF16(%v)", tt.in)
	}
}

func TestBF16(t *testing.T) {
	decode := []struct {
		bits uint16
		want float32
	}{
		{0x3f80, 1},
		{0xc040, -3},
		{0x8000, float32(math.Copysign(0, -1))},
		{0x7f7f, math.Float32frombits(0x7f7f0000)}, // largest finite, 3.3895314e38
		{0x0080, 0x1p-126},                         // smallest normal
		{0x0001, 0x1p-133},                         // smallest subnormal
		{0x807f, -127 * 0x1p-133},                  // largest negative subnormal
		{0x7f80, float32(math.Inf(1))},
		{0xff80, float32(math.Inf(-1))},
		{0x7fc0, float32(math.NaN())},
	}
	for _, tt := range decode {
		sameFloat(t, tt.want, bf16ToF32(tt.bits), "bf16 0x"+hex16(tt.bits))
	}
	encode := []struct {
		in   float32
		want uint16
	}{
		{1 + 0x1p-8, 0x3f80},   // tie: even
		{1 + 3*0x1p-8, 0x3f82}, // tie: even
		{1 + 0x1p-8 + 0x1p-20, 0x3f81},
		{-(1 + 0x1p-8 + 0x1p-20), 0xbf81},
		{math.Float32frombits(0x7f7fffff), 0x7f80}, // rounds past the largest finite
		{0.1, 0x3dcd},
		{float32(math.NaN()), 0x7fc0},
		{math.Float32frombits(0x7f800001), 0x7fc0}, // signalling NaN
		{math.Float32frombits(0xffc00001), 0x7fc0}, // negative NaN
	}
	for _, tt := range encode {
		assert.Equal(t, hex16(tt.want), hex16(f32ToBF16(tt.in)), "f32ToBF16(%v)", tt.in)
	}
}

func hex16(b uint16) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[b>>12], digits[b>>8&15], digits[b>>4&15], digits[b&15]})
}
