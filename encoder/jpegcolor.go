package encoder

import "image"

// libjpeg's YCbCr → RGB conversion (jdcolor.c, build_ycc_rgb_table) in
// 16-bit fixed point, the tables computed once per call from the same
// integer formulas.
const (
	yccScaleBits = 16
	yccHalf      = 1 << (yccScaleBits - 1)
)

func yccFix(x float64) int32 { return int32(x*(1<<yccScaleBits) + 0.5) }

type yccTables struct {
	crR, cbB, crG, cbG [256]int32
}

func newYCCTables() *yccTables {
	t := &yccTables{}
	for i := range 256 {
		x := int32(i - 128)
		t.crR[i] = (yccFix(1.40200)*x + yccHalf) >> yccScaleBits
		t.cbB[i] = (yccFix(1.77200)*x + yccHalf) >> yccScaleBits
		t.crG[i] = -yccFix(0.71414) * x
		t.cbG[i] = -yccFix(0.34414)*x + yccHalf
	}
	return t
}

func clampByte(v int32) uint8 {
	return uint8(min(max(v, 0), 255))
}

// ycbcrToRGB converts m into out (same size, origin (0, 0)) as
// libjpeg-turbo does with its default options: chroma upsampled with the
// fancy filters of jdsample.c, then the fixed-point conversion.
func ycbcrToRGB(out *image.NRGBA, m *image.YCbCr) {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	cb, cr := upsampleChroma(m, m.Cb), upsampleChroma(m, m.Cr)
	t := newYCCTables()
	for y := range h {
		yrow := m.Y[m.YOffset(m.Rect.Min.X, m.Rect.Min.Y+y):]
		dst := out.Pix[y*out.Stride:]
		for x := range w {
			yy := int32(yrow[x])
			b, r := cb[y*w+x], cr[y*w+x]
			dst[4*x] = clampByte(yy + t.crR[r])
			dst[4*x+1] = clampByte(yy + (t.cbG[b]+t.crG[r])>>yccScaleBits)
			dst[4*x+2] = clampByte(yy + t.cbB[b])
			dst[4*x+3] = 255
		}
	}
}

// upsampleChroma returns the chroma plane c of m at full resolution
// (w×h). For 4:2:2, 4:2:0 and 4:4:0 images whose rectangle starts at the
// origin (as the JPEG decoder returns them) it applies libjpeg-turbo's
// triangular filters h2v1_fancy_upsample, h2v2_fancy_upsample and
// h1v2_fancy_upsample, with the edge rows and columns replicated as
// libjpeg's context rows are; otherwise (other ratios, sub-images, or
// chroma planes too narrow for libjpeg's fancy filters) each chroma
// sample is replicated, as libjpeg's plain upsamplers do.
func upsampleChroma(m *image.YCbCr, c []uint8) []uint8 {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	out := make([]uint8, w*h)
	dw, dh := (w+1)/2, (h+1)/2
	at := func(x, y int) int32 { return int32(c[y*m.CStride+x]) }
	fancy := m.Rect.Min == image.Point{}
	switch {
	case fancy && m.SubsampleRatio == image.YCbCrSubsampleRatio422 && dw > 2:
		for y := range h {
			for i := range dw {
				v := 3 * at(i, y)
				out[y*w+2*i] = uint8((v + at(max(i-1, 0), y) + 1) >> 2)
				if 2*i+1 < w {
					out[y*w+2*i+1] = uint8((v + at(min(i+1, dw-1), y) + 2) >> 2)
				}
			}
		}
	case fancy && m.SubsampleRatio == image.YCbCrSubsampleRatio420 && dw > 2:
		colsum := func(i, r, far int) int32 { return 3*at(i, r) + at(i, far) }
		for y := range h {
			r := y / 2
			far := max(r-1, 0) // even output rows lean on the row above
			if y%2 == 1 {
				far = min(r+1, dh-1)
			}
			for i := range dw {
				this := colsum(i, r, far)
				out[y*w+2*i] = uint8((3*this + colsum(max(i-1, 0), r, far) + 8) >> 4)
				if 2*i+1 < w {
					out[y*w+2*i+1] = uint8((3*this + colsum(min(i+1, dw-1), r, far) + 7) >> 4)
				}
			}
		}
	case fancy && m.SubsampleRatio == image.YCbCrSubsampleRatio440:
		for y := range h {
			r := y / 2
			far, bias := max(r-1, 0), int32(1)
			if y%2 == 1 {
				far, bias = min(r+1, dh-1), 2
			}
			for x := range w {
				out[y*w+x] = uint8((3*at(x, r) + at(x, far) + bias) >> 2)
			}
		}
	default:
		for y := range h {
			for x := range w {
				out[y*w+x] = c[m.COffset(m.Rect.Min.X+x, m.Rect.Min.Y+y)]
			}
		}
	}
	return out
}
