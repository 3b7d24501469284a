package jpeg

// libjpeg's accurate integer inverse DCT (jidctint.c, jpeg_idct_islow):
// the Loeffler-Ligtenberg-Moschytz algorithm with 13-bit fixed-point
// constants and 2 extra bits of precision between the passes.
const (
	islowConstBits = 13
	islowPass1Bits = 2

	fix0_298631336 = 2446
	fix0_390180644 = 3196
	fix0_541196100 = 4433
	fix0_765366865 = 6270
	fix0_899976223 = 7373
	fix1_175875602 = 9633
	fix1_501321110 = 12299
	fix1_847759065 = 15137
	fix1_961570560 = 16069
	fix2_053119869 = 16819
	fix2_562915447 = 20995
	fix3_072711026 = 25172
)

// descale divides x by 2^n, rounding half up (libjpeg's DESCALE).
func descale(x int64, n uint) int64 { return (x + 1<<(n-1)) >> n }

// rangeLimit maps an inverse-DCT output to a sample as libjpeg's
// IDCT_range_limit table does: x + 128 clamped to 0..255 for |x| < 512,
// the table's wrap-around (x masked to 10 bits) beyond.
func rangeLimit(x int64) uint8 {
	v := int32(x&1023) - int32(x&512)<<1 // x masked to 10 bits, as a signed value
	return uint8(min(max(v+128, 0), 255))
}

// idct1D is the odd and even parts shared by both passes: it returns the
// four even sums tmp10..tmp13 and the four odd products tmp0..tmp3 of
// inputs x0..x7 (x0 and x4 already shifted by islowConstBits).
func idct1D(x0, x1, x2, x3, x4, x5, x6, x7 int64) (t10, t11, t12, t13, t0, t1, t2, t3 int64) {
	// Even part.
	z1 := (x2 + x6) * fix0_541196100
	tmp2 := z1 - x6*fix1_847759065
	tmp3 := z1 + x2*fix0_765366865
	tmp0 := x0 + x4
	tmp1 := x0 - x4
	t10, t13 = tmp0+tmp3, tmp0-tmp3
	t11, t12 = tmp1+tmp2, tmp1-tmp2

	// Odd part.
	t0, t1, t2, t3 = x7, x5, x3, x1
	z1 = t0 + t3
	z2 := t1 + t2
	z3 := t0 + t2
	z4 := t1 + t3
	z5 := (z3 + z4) * fix1_175875602
	t0 *= fix0_298631336
	t1 *= fix2_053119869
	t2 *= fix3_072711026
	t3 *= fix1_501321110
	z1 *= -fix0_899976223
	z2 *= -fix2_562915447
	z3 = z3*-fix1_961570560 + z5
	z4 = z4*-fix0_390180644 + z5
	t0 += z1 + z3
	t1 += z2 + z4
	t2 += z2 + z3
	t3 += z1 + z4
	return
}

// idctISLOW computes the inverse DCT of the dequantised coefficients b
// and writes the level-shifted, range-limited 8×8 samples to dst with the
// given stride.
func idctISLOW(b *block, dst []byte, stride int) {
	var ws [blockSize]int64
	// Pass 1: columns, scaled up by 2^islowPass1Bits.
	for c := range 8 {
		if b[8+c] == 0 && b[16+c] == 0 && b[24+c] == 0 && b[32+c] == 0 && b[40+c] == 0 && b[48+c] == 0 && b[56+c] == 0 {
			dc := int64(b[c]) << islowPass1Bits
			for r := range 8 {
				ws[8*r+c] = dc
			}
			continue
		}
		t10, t11, t12, t13, t0, t1, t2, t3 := idct1D(
			int64(b[c])<<islowConstBits, int64(b[8+c]), int64(b[16+c]), int64(b[24+c]),
			int64(b[32+c])<<islowConstBits, int64(b[40+c]), int64(b[48+c]), int64(b[56+c]))
		const n = islowConstBits - islowPass1Bits
		ws[c], ws[56+c] = descale(t10+t3, n), descale(t10-t3, n)
		ws[8+c], ws[48+c] = descale(t11+t2, n), descale(t11-t2, n)
		ws[16+c], ws[40+c] = descale(t12+t1, n), descale(t12-t1, n)
		ws[24+c], ws[32+c] = descale(t13+t0, n), descale(t13-t0, n)
	}
	// Pass 2: rows, scaled down by 2^(islowPass1Bits+3) and the constants.
	for r := range 8 {
		w := ws[8*r : 8*r+8]
		out := dst[r*stride : r*stride+8]
		if w[1] == 0 && w[2] == 0 && w[3] == 0 && w[4] == 0 && w[5] == 0 && w[6] == 0 && w[7] == 0 {
			v := rangeLimit(descale(w[0], islowPass1Bits+3))
			for i := range out {
				out[i] = v
			}
			continue
		}
		t10, t11, t12, t13, t0, t1, t2, t3 := idct1D(
			w[0]<<islowConstBits, w[1], w[2], w[3], w[4]<<islowConstBits, w[5], w[6], w[7])
		const n = islowConstBits + islowPass1Bits + 3
		out[0], out[7] = rangeLimit(descale(t10+t3, n)), rangeLimit(descale(t10-t3, n))
		out[1], out[6] = rangeLimit(descale(t11+t2, n)), rangeLimit(descale(t11-t2, n))
		out[2], out[5] = rangeLimit(descale(t12+t1, n)), rangeLimit(descale(t12-t1, n))
		out[3], out[4] = rangeLimit(descale(t13+t0, n)), rangeLimit(descale(t13-t0, n))
	}
}
