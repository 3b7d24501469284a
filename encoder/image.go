package encoder

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	_ "image/gif"  // register GIF
	_ "image/jpeg" // register JPEG (headers; pixels come from internal/jpeg)
	_ "image/png"  // register PNG
	"io"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/encoder/internal/jpeg"
	_ "golang.org/x/image/bmp"  // register BMP
	_ "golang.org/x/image/tiff" // register TIFF
	_ "golang.org/x/image/webp" // register WebP
)

// Default bounds of [Decode] for a zero [Limits] field.
const (
	// DefaultMaxBytes bounds the encoded size: 64 MiB.
	DefaultMaxBytes = 64 << 20
	// DefaultMaxPixels bounds width × height: 2^25 ≈ 33.5 million pixels
	// (8192×4096), which decodes into at most 256 MiB (16-bit RGBA).
	DefaultMaxPixels = 1 << 25
)

// Limits bound the images that [Decode] accepts, so that a hostile or
// corrupt file costs at most a known amount of memory. A zero field takes
// its default.
type Limits struct {
	MaxBytes  int64 // encoded size in bytes (DefaultMaxBytes)
	MaxPixels int64 // width × height from the header (DefaultMaxPixels)
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxPixels <= 0 {
		l.MaxPixels = DefaultMaxPixels
	}
	return l
}

// Decode reads one image in any registered format — PNG, JPEG, GIF (the
// first frame), BMP, TIFF or WebP — and returns it with the format's name.
// JPEG is decoded with libjpeg's inverse DCT, so that together with
// [ToRGB] its pixels are those PIL (and so Hugging Face) reads.
//
// It reads at most lim.MaxBytes bytes, then reads the header's dimensions
// (image.DecodeConfig) and refuses an image with more than lim.MaxPixels
// pixels before decoding it, so memory stays bounded whatever the input.
// Every failure is an error wrapping vlm.ErrInput; a panic inside a
// decoder on malformed input is returned as such an error too.
func Decode(r io.Reader, lim Limits) (img image.Image, format string, err error) {
	lim = lim.withDefaults()
	data, err := io.ReadAll(io.LimitReader(r, lim.MaxBytes+1))
	if err != nil {
		return nil, "", vlm.Errorf(vlm.ErrInput, "decode image: reading: %v", err)
	}
	if int64(len(data)) > lim.MaxBytes {
		return nil, "", vlm.Errorf(vlm.ErrInput, "decode image: more than %d bytes (Limits.MaxBytes)", lim.MaxBytes)
	}
	return DecodeBytes(data, lim)
}

// DecodeBytes is [Decode] for an image already in memory; lim.MaxBytes
// applies to len(data).
func DecodeBytes(data []byte, lim Limits) (img image.Image, format string, err error) {
	lim = lim.withDefaults()
	if int64(len(data)) > lim.MaxBytes {
		return nil, "", vlm.Errorf(vlm.ErrInput, "decode image: %d bytes, more than %d (Limits.MaxBytes)", len(data), lim.MaxBytes)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, "", vlm.Errorf(vlm.ErrInput, "decode image header: %v", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, format, vlm.Errorf(vlm.ErrInput, "decode %s: empty image %dx%d", format, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > lim.MaxPixels {
		return nil, format, vlm.Errorf(vlm.ErrInput, "decode %s: %dx%d is more than %d pixels (Limits.MaxPixels)", format, cfg.Width, cfg.Height, lim.MaxPixels)
	}
	img, err = decodeGuarded(data, format)
	if err != nil {
		return nil, format, vlm.Errorf(vlm.ErrInput, "decode %s: %v", format, err)
	}
	if b := img.Bounds(); b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		return nil, format, vlm.Errorf(vlm.ErrInput, "decode %s: header says %dx%d, image is %dx%d", format, cfg.Width, cfg.Height, b.Dx(), b.Dy())
	}
	return img, format, nil
}

// decodeGuarded runs the decoder of format, turning a panic on malformed
// input into an error: decoders parse untrusted bytes, and one bad file
// must not take a server down. JPEG goes through internal/jpeg, Go's
// decoder with libjpeg's inverse DCT, so that pixels match PIL's.
func decodeGuarded(data []byte, format string) (img image.Image, err error) {
	defer func() {
		if r := recover(); r != nil {
			img, err = nil, fmt.Errorf("decoder panicked on malformed input: %v", r)
		}
	}()
	if format == "jpeg" {
		return jpeg.Decode(bytes.NewReader(data))
	}
	img, _, err = image.Decode(bytes.NewReader(data))
	return img, err
}

// ToRGB converts img to 8-bit RGB as PIL's Image.convert("RGB"), the
// first step of Hugging Face's image processors: grey is replicated into
// R, G and B; alpha is dropped (not composited onto a background), so a
// transparent pixel keeps its colour; palette images are looked up; 16-bit
// samples keep their high byte. JPEG colour (YCbCr) is converted as
// libjpeg does for PIL: chroma upsampled with libjpeg's "fancy"
// (triangular) filter and converted with its fixed-point tables, so that a
// JPEG read by [Decode] (whose inverse DCT is libjpeg's too) gives PIL's
// bytes exactly. (JPEGs decoded by image/jpeg differ by a level in about
// 2% of the samples: Go's inverse DCT rounds differently.)
//
// The result is an *image.NRGBA with alpha 255 everywhere and its origin
// at (0, 0).
func ToRGB(img image.Image) *image.NRGBA {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	switch m := img.(type) {
	case *image.YCbCr:
		ycbcrToRGB(out, m)
		return out
	case *image.Gray:
		for y := range h {
			src := m.Pix[(y+b.Min.Y-m.Rect.Min.Y)*m.Stride+(b.Min.X-m.Rect.Min.X):]
			dst := out.Pix[y*out.Stride:]
			for x := range w {
				v := src[x]
				dst[4*x], dst[4*x+1], dst[4*x+2], dst[4*x+3] = v, v, v, 255
			}
		}
		return out
	case *image.NRGBA:
		for y := range h {
			src := m.Pix[(y+b.Min.Y-m.Rect.Min.Y)*m.Stride+4*(b.Min.X-m.Rect.Min.X):]
			dst := out.Pix[y*out.Stride:]
			copy(dst[:4*w], src[:4*w])
			for x := range w {
				dst[4*x+3] = 255
			}
		}
		return out
	}
	for y := range h {
		dst := out.Pix[y*out.Stride:]
		for x := range w {
			c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
			dst[4*x], dst[4*x+1], dst[4*x+2], dst[4*x+3] = c.R, c.G, c.B, 255
		}
	}
	return out
}
