package encoder

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func loadPhoto(t testing.TB, name string) image.Image {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	require.NoError(t, err)
	defer f.Close()
	img, _, err := Decode(f, Limits{})
	require.NoError(t, err)
	return img
}

// TestPreprocessParity compares every pipeline on real photographs with
// the Python reference (testdata/gen/preprocess.py): PIL + numpy
// re-implementations of Hugging Face's image processors, and torchvision
// for OpenAI's CLIP. It reports, per image, the largest difference of the
// normalised pixel values and of the 8-bit image before normalisation.
// Both must be zero: PNG and JPEG (baseline 4:4:4 and 4:2:0) decode to
// PIL's bytes, and the resize, crop, padding and normalisation follow the
// reference bit for bit.
func TestPreprocessParity(t *testing.T) {
	g := testutil.LoadGolden(t, "encoder/testdata/preprocess.safetensors")
	openai := CLIPPreprocessor(224)
	openai.CropRule = CropRound
	for _, c := range []struct {
		photo, pipeline string
		p               Preprocessor
		lut             string
	}{
		{"chelsea.png", "clip224", CLIPPreprocessor(224), "lut.hf"},
		{"chelsea.png", "blip2_224", BLIP2Preprocessor(224), "lut.hf"},
		{"rocket.jpg", "clip224", CLIPPreprocessor(224), "lut.hf"},
		{"rocket.jpg", "openai224", openai, "lut.tv"},
		{"rocket.jpg", "llava336", LLaVAPreprocessor(336), "lut.hf"},
		{"retina.jpg", "clip224", CLIPPreprocessor(224), "lut.hf"},
	} {
		name := c.photo[:len(c.photo)-len(filepath.Ext(c.photo))] + "_" + c.pipeline
		t.Run(name, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", "pre_"+name+".png"))
			require.NoError(t, err)
			defer f.Close()
			ref, err := png.Decode(f)
			require.NoError(t, err)
			lut := g.T(c.lut)
			img := loadPhoto(t, c.photo)

			got, err := c.p.Prepare(img)
			require.NoError(t, err)
			x := c.p.normalize(got) // the last step of Pixels
			want := ToRGB(ref)
			b := want.Rect
			require.Equal(t, b.Size(), got.Rect.Size())
			require.Equal(t, []int{3, b.Dy(), b.Dx()}, x.Shape)

			levels, differ, maxNorm := 0, 0, 0.0
			for y := range b.Dy() {
				for xx := range b.Dx() {
					for ch := range 3 {
						gv, wv := got.Pix[y*got.Stride+4*xx+ch], want.Pix[y*want.Stride+4*xx+ch]
						if d := absInt(int(gv) - int(wv)); d > 0 {
							levels, differ = max(levels, d), differ+1
						}
						wantNorm := lut.Data[ch*256+int(wv)]
						maxNorm = max(maxNorm, math.Abs(float64(x.Data[(ch*b.Dy()+y)*b.Dx()+xx]-wantNorm)))
					}
				}
			}
			t.Logf("%-22s max|Δ normalised| = %.4g, max|Δ| = %d/255 levels, %.2f%% of samples differ",
				name, maxNorm, levels, 100*float64(differ)/float64(3*b.Dx()*b.Dy()))
			assert.Zero(t, levels)
			assert.Zero(t, maxNorm)
		})
	}
}

func absInt(v int) int { return max(v, -v) }

// nrgba builds an opaque image from a float tensor [H, W, 3] of bytes.
func nrgba(t *vlm.Tensor) *image.NRGBA {
	h, w := t.Shape[0], t.Shape[1]
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range h * w {
		img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = uint8(t.Data[3*i]), uint8(t.Data[3*i+1]), uint8(t.Data[3*i+2]), 255
	}
	return img
}

func TestResizeBicubicMatchesPIL(t *testing.T) {
	g := testutil.LoadGolden(t, "encoder/testdata/preprocess.safetensors")
	for _, src := range []string{"noise", "checker"} {
		img := nrgba(g.T("resize." + src))
		for _, s := range [][2]int{{13, 40}, {64, 9}, {29, 5}, {7, 7}, {58, 34}} {
			name := fmt.Sprintf("resize.%s.%dx%d", src, s[0], s[1])
			want := nrgba(g.T(name))
			got, err := ResizeBicubic(img, s[0], s[1])
			require.NoError(t, err)
			assert.Equal(t, want.Pix, got.Pix, name)
		}
	}
	_, err := ResizeBicubic(image.NewNRGBA(image.Rect(0, 0, 4, 4)), 0, 3)
	assert.ErrorIs(t, err, vlm.ErrConfig)
}

func TestResizeSizes(t *testing.T) {
	for _, c := range []struct {
		p      Preprocessor
		w, h   int
		rw, rh int
	}{
		{CLIPPreprocessor(224), 451, 300, 336, 224},
		{CLIPPreprocessor(224), 384, 303, 283, 224},
		{CLIPPreprocessor(224), 300, 451, 224, 336},
		{CLIPPreprocessor(336), 336, 336, 336, 336},
		{BLIP2Preprocessor(224), 451, 300, 224, 224},
	} {
		rw, rh := c.p.resizedSize(c.w, c.h)
		assert.Equal(t, [2]int{c.rw, c.rh}, [2]int{rw, rh}, "%dx%d", c.w, c.h)
	}
}

func TestCropOffsets(t *testing.T) {
	for _, c := range []struct {
		n, s         int
		floor, round int
	}{
		{283, 224, 29, 30}, // 59/2 = 29.5: floor 29, half to even 30
		{281, 224, 28, 28}, // 28.5 → 28
		{335, 224, 55, 56}, // 55.5 → 56: n − S ≡ 3 (mod 4)
		{336, 224, 56, 56},
		{224, 224, 0, 0},
		{221, 224, -2, -1}, // 3 short: HF pads 2 before, torchvision 1
		{220, 224, -2, -2},
	} {
		assert.Equal(t, c.floor, CropFloor.offset(c.n, c.s), "floor %d→%d", c.n, c.s)
		assert.Equal(t, c.round, CropRound.offset(c.n, c.s), "round %d→%d", c.n, c.s)
	}
}

// solid returns a w×h image of one colour.
func solid(w, h int, c color.NRGBA) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	return img
}

func TestPadAndCropPadding(t *testing.T) {
	white := color.NRGBA{255, 255, 255, 255}
	// LLaVA: a wide white strip padded with the mean colour; the top and
	// bottom rows of the result are the background.
	p := LLaVAPreprocessor(16)
	got, err := p.Prepare(solid(32, 8, white))
	require.NoError(t, err)
	assert.Equal(t, image.Pt(16, 16), got.Rect.Size())
	assert.Equal(t, []uint8{122, 116, 104, 255}, got.Pix[:4])
	assert.Equal(t, []uint8{255, 255, 255, 255}, got.Pix[8*got.Stride+32:][:4])

	// A crop larger than the resized image pads with black.
	q := BLIP2Preprocessor(4)
	q.Crop = 6
	got, err = q.Prepare(solid(9, 9, white))
	require.NoError(t, err)
	assert.Equal(t, []uint8{0, 0, 0, 255}, got.Pix[:4])
	assert.Equal(t, []uint8{255, 255, 255, 255}, got.Pix[1*got.Stride+4:][:4])
}

func TestToRGB(t *testing.T) {
	gray := image.NewGray(image.Rect(0, 0, 2, 1))
	gray.Pix[0], gray.Pix[1] = 7, 200
	pal := image.NewPaletted(image.Rect(0, 0, 1, 1), color.Palette{color.NRGBA{10, 20, 30, 0}})
	nrgbaHalf := solid(1, 1, color.NRGBA{40, 50, 60, 128})
	rgba := image.NewRGBA(image.Rect(0, 0, 1, 1))
	rgba.Pix[0], rgba.Pix[1], rgba.Pix[2], rgba.Pix[3] = 20, 25, 30, 128 // premultiplied
	gray16 := image.NewGray16(image.Rect(0, 0, 1, 1))
	gray16.Pix[0], gray16.Pix[1] = 0x12, 0xff
	for _, c := range []struct {
		name string
		img  image.Image
		want []uint8
	}{
		{"Gray", gray, []uint8{7, 7, 7, 255, 200, 200, 200, 255}},
		{"PalettedTransparent", pal, []uint8{10, 20, 30, 255}},
		{"NRGBADropsAlpha", nrgbaHalf, []uint8{40, 50, 60, 255}},
		{"RGBAUnpremultiplied", rgba, []uint8{39, 49, 59, 255}},
		{"Gray16HighByte", gray16, []uint8{0x12, 0x12, 0x12, 255}},
		{"SubImage", solid(4, 4, color.NRGBA{1, 2, 3, 255}).SubImage(image.Rect(1, 1, 2, 2)), []uint8{1, 2, 3, 255}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := ToRGB(c.img)
			assert.Equal(t, image.Point{}, got.Rect.Min)
			assert.Equal(t, c.want, got.Pix)
		})
	}
}

func TestBatch(t *testing.T) {
	p := CLIPPreprocessor(8)
	imgs := []image.Image{solid(20, 10, color.NRGBA{255, 0, 0, 255}), solid(9, 31, color.NRGBA{0, 0, 255, 255})}
	x, err := p.Batch(imgs)
	require.NoError(t, err)
	assert.Equal(t, []int{2, 3, 8, 8}, x.Shape)
	one, err := p.Pixels(imgs[1])
	require.NoError(t, err)
	assert.Equal(t, one.Data, x.Data[3*64:])
	assert.InDelta(t, (1-0.48145466)/0.26862954, x.Data[0], 1e-6)

	noCrop := p
	noCrop.Crop = 0
	_, err = noCrop.Batch(imgs)
	assert.ErrorIs(t, err, vlm.ErrShape)
	_, err = p.Batch([]image.Image{imgs[0], image.NewGray(image.Rectangle{})})
	assert.ErrorIs(t, err, vlm.ErrInput)
	assert.ErrorContains(t, err, "image 1")
	_, err = p.Batch(nil)
	assert.ErrorIs(t, err, vlm.ErrInput)
}

func TestPreprocessorErrors(t *testing.T) {
	img := solid(4, 4, color.NRGBA{A: 255})
	for _, c := range []struct {
		name string
		edit func(p *Preprocessor)
		img  image.Image
		kind error
	}{
		{"Size", func(p *Preprocessor) { p.Size = 0 }, img, vlm.ErrConfig},
		{"Crop", func(p *Preprocessor) { p.Crop = -1 }, img, vlm.ErrConfig},
		{"Huge", func(p *Preprocessor) { p.Size = 1 << 20 }, img, vlm.ErrConfig},
		{"Std", func(p *Preprocessor) { p.Std[1] = 0 }, img, vlm.ErrConfig},
		{"Mode", func(p *Preprocessor) { p.Resize = 7 }, img, vlm.ErrConfig},
		{"Rule", func(p *Preprocessor) { p.CropRule = 3 }, img, vlm.ErrConfig},
		{"Nil", func(*Preprocessor) {}, nil, vlm.ErrInput},
		{"Empty", func(*Preprocessor) {}, image.NewNRGBA(image.Rect(3, 3, 3, 9)), vlm.ErrInput},
		{"PadElongated", func(p *Preprocessor) { p.Pad = true }, image.NewGray(image.Rect(0, 0, 1, 10000)), vlm.ErrInput},
		{"UncroppedElongated", func(p *Preprocessor) { p.Crop = 0 }, image.NewGray(image.Rect(0, 0, 1, 10000)), vlm.ErrInput},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := CLIPPreprocessor(224)
			c.edit(&p)
			_, err := p.Pixels(c.img)
			assert.ErrorIs(t, err, c.kind)
		})
	}
	// An elongated image with a crop costs only the crop.
	x, err := CLIPPreprocessor(32).Pixels(image.NewGray(image.Rect(0, 0, 1, 100000)))
	require.NoError(t, err)
	assert.Equal(t, []int{3, 32, 32}, x.Shape)
}
