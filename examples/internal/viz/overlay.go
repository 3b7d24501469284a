package viz

import (
	"image"
	"image/color"
	"math"

	"github.com/govlm/vlm"
)

// Overlay returns img with the attention map att [h, w] laid over it:
// the map is upsampled to the image's size (bilinear, then blurred with a
// Gaussian of sigma upscale/3 as skimage's pyramid_expand), stretched so
// its smallest value is 0 and its largest 1 (a constant map becomes 0),
// coloured with cm and blended as (1-alpha)·image + alpha·colour.
// Alpha is clamped to [0, 1]; 0.6 with [Magma] shows both the image
// and where the attention falls.
func Overlay(img image.Image, att *vlm.Tensor, cm Colormap, alpha float64) *image.RGBA {
	if att.Rank() != 2 {
		vlm.Panicf(vlm.ErrShape, "viz.Overlay: attention map has shape %v, want [h, w]", att.Shape)
	}
	b := img.Bounds()
	W, H := b.Dx(), b.Dy()
	up := upsample(att, H, W)
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range up {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	alpha = math.Min(1, math.Max(0, alpha))
	out := image.NewRGBA(image.Rect(0, 0, W, H))
	for y := range H {
		for x := range W {
			v := 0.0
			if hi > lo {
				v = (up[y*W+x] - lo) / (hi - lo)
			}
			c := cm.At(v)
			p := color.RGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.RGBA)
			blend := func(under, over uint8) uint8 {
				return uint8(math.Round((1-alpha)*float64(under) + alpha*float64(over)))
			}
			out.SetRGBA(x, y, color.RGBA{blend(p.R, c.R), blend(p.G, c.G), blend(p.B, c.B), 0xff})
		}
	}
	return out
}

// upsample resizes the map att [h, w] to H×W values, row-major, as
// skimage's pyramid_expand does: bilinear interpolation between cell
// centres (edges clamped), then a Gaussian blur with sigma equal to a
// third of the upscale factor, reflecting at the borders.
func upsample(att *vlm.Tensor, H, W int) []float64 {
	h, w := att.Shape[0], att.Shape[1]
	out := make([]float64, H*W)
	sy, sx := float64(h)/float64(H), float64(w)/float64(W)
	for y := range H {
		fy, y0, y1 := lerpIndex((float64(y)+0.5)*sy-0.5, h)
		for x := range W {
			fx, x0, x1 := lerpIndex((float64(x)+0.5)*sx-0.5, w)
			top := (1-fx)*float64(att.Data[y0*w+x0]) + fx*float64(att.Data[y0*w+x1])
			bot := (1-fx)*float64(att.Data[y1*w+x0]) + fx*float64(att.Data[y1*w+x1])
			out[y*W+x] = (1-fy)*top + fy*bot
		}
	}
	sigma := math.Max(float64(H)/float64(h), float64(W)/float64(w)) / 3
	if sigma > 0.5 {
		blur(out, H, W, sigma)
	}
	return out
}

// lerpIndex splits the source coordinate s on an axis of n cells into the
// two neighbouring indices and the weight of the second, clamped at the
// edges.
func lerpIndex(s float64, n int) (f float64, i0, i1 int) {
	if s <= 0 {
		return 0, 0, 0
	}
	if s >= float64(n-1) {
		return 0, n - 1, n - 1
	}
	i0 = int(s)
	return s - float64(i0), i0, i0 + 1
}

// blur applies a separable Gaussian of the given sigma to the H×W values
// in place, reflecting at the borders (scipy's mode "reflect").
func blur(v []float64, H, W int, sigma float64) {
	r := int(math.Ceil(4 * sigma))
	k := make([]float64, 2*r+1)
	sum := 0.0
	for i := range k {
		d := float64(i - r)
		k[i] = math.Exp(-d * d / (2 * sigma * sigma))
		sum += k[i]
	}
	for i := range k {
		k[i] /= sum
	}
	reflect := func(i, n int) int {
		period := 2 * n
		i = ((i % period) + period) % period
		if i >= n {
			i = period - 1 - i
		}
		return i
	}
	line := make([]float64, max(H, W))
	for y := range H {
		row := v[y*W : (y+1)*W]
		for x := range W {
			s := 0.0
			for j, kj := range k {
				s += kj * row[reflect(x+j-r, W)]
			}
			line[x] = s
		}
		copy(row, line[:W])
	}
	for x := range W {
		for y := range H {
			s := 0.0
			for j, kj := range k {
				s += kj * v[reflect(y+j-r, H)*W+x]
			}
			line[y] = s
		}
		for y := range H {
			v[y*W+x] = line[y]
		}
	}
}
