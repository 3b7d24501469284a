package encoder

import (
	"image"

	"github.com/govlm/vlm"
)

// PIL's fixed-point precision for 8-bit resampling (Resample.c:
// PRECISION_BITS = 32 - 8 - 2).
const resamplePrecision = 22

// bicubic is the Keys cubic convolution kernel with a = -0.5
// (Catmull-Rom), written as PIL's bicubic_filter evaluates it.
func bicubic(x float64) float64 {
	const a = -0.5
	if x < 0 {
		x = -x
	}
	if x < 1 {
		return ((a+2)*x-(a+3))*x*x + 1
	}
	if x < 2 {
		return (((x-5)*x+8)*x - 4) * a
	}
	return 0
}

// resampleCoeffs holds the fixed-point weights of one resampling pass
// for a range of output samples: output sample from+i reads input samples
// start[i] .. start[i]+len(taps[i])-1.
type resampleCoeffs struct {
	start []int
	taps  [][]int32
}

// newResampleCoeffs computes PIL's weights for output samples [from, to)
// of resizing n samples to out (Resample.c: precompute_coeffs and
// normalize_coeffs_8bpc): the kernel is stretched by the scale factor when
// downscaling (antialiasing), taps outside the image are dropped and the
// rest renormalised, and the weights are rounded half away from zero to
// 22-bit fixed point.
func newResampleCoeffs(n, out, from, to int) resampleCoeffs {
	const support = 2.0 // bicubic
	scale := float64(n) / float64(out)
	fs := max(scale, 1)
	sup := support * fs
	ss := 1 / fs
	c := resampleCoeffs{start: make([]int, to-from), taps: make([][]int32, to-from)}
	w := make([]float64, 0, int(sup)*2+2)
	for i := from; i < to; i++ {
		center := (float64(i) + 0.5) * scale
		lo := max(int(center-sup+0.5), 0)
		hi := min(int(center+sup+0.5), n)
		w = w[:0]
		total := 0.0
		for j := lo; j < hi; j++ {
			v := bicubic((float64(j) - center + 0.5) * ss)
			w = append(w, v)
			total += v
		}
		q := make([]int32, len(w))
		for k, v := range w {
			if total != 0 {
				v /= total
			}
			if v < 0 {
				q[k] = int32(-0.5 + v*(1<<resamplePrecision))
			} else {
				q[k] = int32(0.5 + v*(1<<resamplePrecision))
			}
		}
		c.start[i-from], c.taps[i-from] = lo, q
	}
	return c
}

// clip8 turns a fixed-point accumulator (which starts at one half, so
// this rounds) into a byte, clamped to 0..255, as PIL's clip8 does.
func clip8(acc int32) uint8 {
	return uint8(min(max(acc>>resamplePrecision, 0), 255))
}

// ResizeBicubic resizes an 8-bit RGB image to w×h exactly as PIL's
// Image.resize((w, h), Image.BICUBIC) does (Pillow 9.4 through current:
// Resample.c), so that preprocessing reproduces Hugging Face's
// pixel_values byte for byte: a horizontal pass into an 8-bit intermediate
// image, then a vertical pass, each skipped when its size is unchanged,
// with antialiasing when downscaling and 22-bit fixed-point weights. The
// alpha channel of img is ignored; the result is opaque with its origin
// at (0, 0). It returns an ErrConfig error if w or h is not positive.
func ResizeBicubic(img *image.NRGBA, w, h int) (*image.NRGBA, error) {
	if w < 1 || h < 1 {
		return nil, vlm.Errorf(vlm.ErrConfig, "ResizeBicubic: target size %dx%d", w, h)
	}
	return resizeWindow(img, w, h, image.Rect(0, 0, w, h)), nil
}

// resizeWindow returns the pixels inside win of img resized to w×h by
// [ResizeBicubic], with black where win leaves the resized image: the
// resize and a crop (or pad) in one step. Each output row and column of
// PIL's two passes depends only on the input, so computing the window
// alone gives the same bytes and bounds the work by the window's size
// whatever the aspect ratio.
func resizeWindow(img *image.NRGBA, w, h int, win image.Rectangle) *image.NRGBA {
	sw, sh := img.Rect.Dx(), img.Rect.Dy()
	out := image.NewNRGBA(image.Rect(0, 0, win.Dx(), win.Dy()))
	for i := 3; i < len(out.Pix); i += 4 {
		out.Pix[i] = 255
	}
	in := win.Intersect(image.Rect(0, 0, w, h))
	if in.Empty() {
		return out
	}
	// Rows of img that the vertical pass reads for the window's rows.
	var vc resampleCoeffs
	r0, r1 := in.Min.Y, in.Max.Y
	if sh != h {
		vc = newResampleCoeffs(sh, h, in.Min.Y, in.Max.Y)
		last := len(vc.start) - 1 // the tap windows move monotonically
		r0, r1 = vc.start[0], vc.start[last]+len(vc.taps[last])
	}
	// Horizontal pass over those rows for the window's columns, into an
	// 8-bit intermediate (row r of tmp is row r0+r of img).
	cw := in.Dx()
	tmp := make([]uint8, (r1-r0)*cw*3)
	var hc resampleCoeffs
	if sw != w {
		hc = newResampleCoeffs(sw, w, in.Min.X, in.Max.X)
	}
	for r := r0; r < r1; r++ {
		row := img.Pix[img.PixOffset(img.Rect.Min.X, img.Rect.Min.Y+r):]
		dst := tmp[(r-r0)*cw*3:]
		for x := range cw {
			if sw == w {
				p := row[4*(in.Min.X+x):]
				dst[3*x], dst[3*x+1], dst[3*x+2] = p[0], p[1], p[2]
				continue
			}
			acc := [3]int32{1 << (resamplePrecision - 1), 1 << (resamplePrecision - 1), 1 << (resamplePrecision - 1)}
			p := row[4*hc.start[x]:]
			for k, q := range hc.taps[x] {
				acc[0] += int32(p[4*k]) * q
				acc[1] += int32(p[4*k+1]) * q
				acc[2] += int32(p[4*k+2]) * q
			}
			dst[3*x], dst[3*x+1], dst[3*x+2] = clip8(acc[0]), clip8(acc[1]), clip8(acc[2])
		}
	}
	// Vertical pass for the window's rows.
	ox, oy := in.Min.X-win.Min.X, in.Min.Y-win.Min.Y
	for y := range in.Dy() {
		dst := out.Pix[(oy+y)*out.Stride+4*ox:]
		if sh == h {
			src := tmp[(in.Min.Y+y-r0)*cw*3:]
			for x := range cw {
				dst[4*x], dst[4*x+1], dst[4*x+2] = src[3*x], src[3*x+1], src[3*x+2]
			}
			continue
		}
		taps, y0 := vc.taps[y], vc.start[y]-r0
		for x := range cw {
			acc := [3]int32{1 << (resamplePrecision - 1), 1 << (resamplePrecision - 1), 1 << (resamplePrecision - 1)}
			for k, q := range taps {
				p := tmp[((y0+k)*cw+x)*3:]
				acc[0] += int32(p[0]) * q
				acc[1] += int32(p[1]) * q
				acc[2] += int32(p[2]) * q
			}
			dst[4*x], dst[4*x+1], dst[4*x+2] = clip8(acc[0]), clip8(acc[1]), clip8(acc[2])
		}
	}
	return out
}
