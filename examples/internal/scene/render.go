package scene

import (
	"image"
	"image/color"
	"image/draw"
	"math/rand/v2"

	"github.com/govlm/vlm"
	"golang.org/x/image/vector"
)

// noiseStream separates the background noise's random stream from the
// generator's.
const noiseStream = 0x0153

// Render draws the scene: the background, its noise, then each object in
// order, antialiased.
func (s *Scene) Render() *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, s.Width, s.Height))
	bg := backgroundRGB[s.Background]
	draw.Draw(img, img.Bounds(), image.NewUniform(bg), image.Point{}, draw.Src)
	if s.Noise > 0 {
		rng := rand.New(rand.NewPCG(s.Seed, noiseStream))
		amp := s.Noise * 255
		for i := 0; i < len(img.Pix); i += 4 {
			d := int((2*rng.Float64() - 1) * amp)
			for c := range 3 {
				img.Pix[i+c] = uint8(min(255, max(0, int(img.Pix[i+c])+d)))
			}
		}
	}
	z := vector.NewRasterizer(s.Width, s.Height)
	for _, o := range s.Objects {
		z.Reset(s.Width, s.Height)
		pts := o.outline()
		z.MoveTo(float32(pts[0][0]), float32(pts[0][1]))
		for _, p := range pts[1:] {
			z.LineTo(float32(p[0]), float32(p[1]))
		}
		z.ClosePath()
		z.Draw(img, img.Bounds(), image.NewUniform(o.Color.RGB()), image.Point{})
	}
	return img
}

// Norm holds per-channel statistics for normalising pixels: a value v in
// [0, 1] becomes (v - Mean[c]) / Std[c].
type Norm struct {
	Mean, Std [3]float32
}

// ImageNet is the normalisation torchvision's ImageNet models and the
// Show-Attend-Tell tutorial use.
var ImageNet = Norm{
	Mean: [3]float32{0.485, 0.456, 0.406},
	Std:  [3]float32{0.229, 0.224, 0.225},
}

// Unit leaves pixels in [0, 1].
var Unit = Norm{Std: [3]float32{1, 1, 1}}

// ImageTensor returns img as a normalised tensor [3, H, W], channels
// R, G, B; alpha is ignored.
func ImageTensor(img image.Image, n Norm) *vlm.Tensor {
	b := img.Bounds()
	t := vlm.Zeros(3, b.Dy(), b.Dx())
	fillTensor(t.Data, img, n)
	return t
}

// fillTensor writes img into dst [3, H, W].
func fillTensor(dst []float32, img image.Image, n Norm) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	plane := w * h
	var scale [3]float32
	for c := range 3 {
		scale[c] = 1 / (255 * n.Std[c])
	}
	at := func(x, y int) (r, g, b uint8) {
		c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
		return c.R, c.G, c.B
	}
	if rgba, ok := img.(*image.RGBA); ok {
		at = func(x, y int) (r, g, b uint8) {
			i := rgba.PixOffset(x, y)
			return rgba.Pix[i], rgba.Pix[i+1], rgba.Pix[i+2]
		}
	}
	for y := range h {
		for x := range w {
			r, g, bl := at(b.Min.X+x, b.Min.Y+y)
			i := y*w + x
			dst[i] = float32(r)*scale[0] - n.Mean[0]/n.Std[0]
			dst[plane+i] = float32(g)*scale[1] - n.Mean[1]/n.Std[1]
			dst[2*plane+i] = float32(bl)*scale[2] - n.Mean[2]/n.Std[2]
		}
	}
}

// Tensor renders the scene and returns it as a normalised tensor
// [3, H, W].
func (s *Scene) Tensor(n Norm) *vlm.Tensor { return ImageTensor(s.Render(), n) }

// Batch renders the scenes, which must share one canvas size, into a
// normalised tensor [B, 3, H, W].
func Batch(scenes []*Scene, n Norm) *vlm.Tensor {
	if len(scenes) == 0 {
		vlm.Panicf(vlm.ErrShape, "scene.Batch: no scenes")
	}
	w, h := scenes[0].Width, scenes[0].Height
	t := vlm.Zeros(len(scenes), 3, h, w)
	size := 3 * h * w
	for i, s := range scenes {
		if s.Width != w || s.Height != h {
			vlm.Panicf(vlm.ErrShape, "scene.Batch: scene %d is %dx%d, scene 0 is %dx%d", i, s.Width, s.Height, w, h)
		}
		fillTensor(t.Data[i*size:(i+1)*size], s.Render(), n)
	}
	return t
}
