package encoder

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

// gradient returns a small opaque test image.
func gradient(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), 128, 255})
		}
	}
	return img
}

// encoded returns img encoded in each format Go can write, and the WebP
// test file.
func encoded(t testing.TB, img image.Image) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for name, enc := range map[string]func(*bytes.Buffer) error{
		"png":  func(b *bytes.Buffer) error { return png.Encode(b, img) },
		"jpeg": func(b *bytes.Buffer) error { return jpeg.Encode(b, img, nil) },
		"gif":  func(b *bytes.Buffer) error { return gif.Encode(b, img, nil) },
		"bmp":  func(b *bytes.Buffer) error { return bmp.Encode(b, img) },
		"tiff": func(b *bytes.Buffer) error { return tiff.Encode(b, img, &tiff.Options{Compression: tiff.Deflate}) },
	} {
		var b bytes.Buffer
		require.NoError(t, enc(&b))
		out[name] = b.Bytes()
	}
	webp, err := os.ReadFile(filepath.Join("testdata", "tiny.webp"))
	require.NoError(t, err)
	out["webp"] = webp
	return out
}

func TestDecodeFormats(t *testing.T) {
	src := gradient(8, 6)
	for format, data := range encoded(t, src) {
		t.Run(format, func(t *testing.T) {
			img, got, err := Decode(bytes.NewReader(data), Limits{})
			require.NoError(t, err)
			assert.Equal(t, format, got)
			assert.Equal(t, image.Pt(8, 6), img.Bounds().Size())
			rgb := ToRGB(img)
			if format == "png" || format == "bmp" || format == "tiff" {
				assert.Equal(t, src.Pix, rgb.Pix) // lossless
			}
		})
	}
}

func TestDecodeWebPMatchesPIL(t *testing.T) {
	g := testutil.LoadGolden(t, "encoder/testdata/preprocess.safetensors")
	img := loadPhoto(t, "tiny.webp")
	assert.Equal(t, nrgba(g.T("webp.pixels")).Pix, ToRGB(img).Pix)
}

// pngHeader returns the signature and IHDR chunk of a w×h RGB PNG: enough
// for image.DecodeConfig, nothing to decode.
func pngHeader(w, h uint32) []byte {
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit truecolour
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	chunk := append([]byte("IHDR"), ihdr...)
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

func TestDecodeErrors(t *testing.T) {
	valid := encoded(t, gradient(8, 6))["png"]
	for _, c := range []struct {
		name string
		data []byte
		lim  Limits
		msg  string
	}{
		{"Empty", nil, Limits{}, "header"},
		{"Garbage", []byte("definitely not an image"), Limits{}, "header"},
		{"Truncated", valid[:len(valid)/2], Limits{}, "decode png"},
		{"TooManyBytes", valid, Limits{MaxBytes: 10}, "MaxBytes"},
		{"TooManyPixels", valid, Limits{MaxPixels: 47}, "MaxPixels"},
		{"HugeHeader", pngHeader(100000, 100000), Limits{}, "MaxPixels"},
		{"ZeroWidth", pngHeader(0, 5), Limits{}, "png"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := Decode(bytes.NewReader(c.data), c.lim)
			require.ErrorIs(t, err, vlm.ErrInput)
			assert.ErrorContains(t, err, c.msg)
		})
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestDecodeReadError(t *testing.T) {
	_, _, err := Decode(failingReader{}, Limits{})
	assert.ErrorIs(t, err, vlm.ErrInput)
	assert.ErrorContains(t, err, "connection reset")
}

// FuzzDecodePreprocess feeds arbitrary bytes through decoding and the CLIP
// and LLaVA pipelines: every input must give either an ErrInput error or
// finite pixel values of the right shape, never a panic, and small
// limits keep every run cheap.
func FuzzDecodePreprocess(f *testing.F) {
	for _, data := range encoded(f, gradient(9, 5)) {
		f.Add(data)
	}
	f.Add(pngHeader(3, 4))
	lim := Limits{MaxBytes: 1 << 20, MaxPixels: 1 << 16}
	pipelines := []Preprocessor{CLIPPreprocessor(16), LLaVAPreprocessor(12), BLIP2Preprocessor(8)}
	f.Fuzz(func(t *testing.T, data []byte) {
		img, _, err := DecodeBytes(data, lim)
		if err != nil {
			if !errors.Is(err, vlm.ErrInput) {
				t.Fatalf("error %v does not wrap ErrInput", err)
			}
			return
		}
		for _, p := range pipelines {
			x, err := p.Pixels(img)
			if err != nil {
				if !errors.Is(err, vlm.ErrInput) {
					t.Fatalf("%+v: error %v does not wrap ErrInput", p, err)
				}
				continue
			}
			side := p.Crop
			if side == 0 {
				side = p.Size // BLIP-2: a square resize
			}
			if x.Shape[1] != side || x.Shape[2] != side {
				t.Fatalf("pixels %v, want side %d", x.Shape, side)
			}
			for _, v := range x.Data {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("non-finite pixel value %v", v)
				}
			}
		}
	})
}
