package encoder

import (
	"errors"
	"image"

	"github.com/govlm/vlm"
)

// ResizeMode selects how a [Preprocessor] resizes.
type ResizeMode int

const (
	// ResizeShortest scales the shortest side to Size and the other to
	// int(Size·long/short), truncated, keeping the orientation (CLIP:
	// 451×300 → 336×224). Hugging Face's size={"shortest_edge": S}.
	ResizeShortest ResizeMode = iota
	// ResizeSquare scales both sides to Size, not keeping the aspect ratio
	// (BLIP-2, InstructBLIP).
	ResizeSquare
)

// CropRule selects where a centre crop of side S starts in a side of n
// pixels. The two rules differ by one pixel when n − S ≡ 3 (mod 4).
type CropRule int

const (
	// CropFloor starts at floor((n − S)/2): Hugging Face's center_crop.
	CropFloor CropRule = iota
	// CropRound starts at round((n − S)/2), halves to even:
	// torchvision's CenterCrop, used by OpenAI's clip and open_clip.
	CropRound
)

// offset returns where the crop of side s starts in a side of n pixels;
// negative when the crop is larger and the image is padded (HF pads
// ceil((s − n)/2) before, torchvision floor((s − n)/2)).
func (r CropRule) offset(n, s int) int {
	d := n - s
	if r == CropRound {
		if d < 0 {
			return -(-d / 2)
		}
		h := d / 2
		if d%2 == 1 && h%2 == 1 { // x.5 rounds to the even neighbour
			h++
		}
		return h
	}
	if d < 0 {
		return -((-d + 1) / 2)
	}
	return d / 2
}

// The normalisation constants of OpenAI's CLIP (OPENAI_CLIP_MEAN/STD in
// transformers), used by CLIP, BLIP-2, InstructBLIP and LLaVA alike.
var (
	clipMean = [3]float32{0.48145466, 0.4578275, 0.40821073}
	clipStd  = [3]float32{0.26862954, 0.26130258, 0.27577711}
)

// Preprocessor turns images into the normalised pixel tensors vision
// encoders take, reproducing the Python pipelines byte for byte on the
// uint8 image (see [ToRGB] for the one caveat, JPEG's inverse DCT):
//
//  1. convert to RGB ([ToRGB]), as Hugging Face's do_convert_rgb;
//  2. if Pad, paste the image centred on a square of Background
//     (LLaVA's expand2square);
//  3. resize with PIL's bicubic filter ([ResizeBicubic]) per Resize;
//  4. if Crop > 0, centre-crop Crop×Crop per CropRule, padding with
//     black if the image is smaller;
//  5. x/255, then (x − Mean)/Std per channel in float32, channels first.
//
// The zero value is not usable; start from [CLIPPreprocessor],
// [BLIP2Preprocessor] or [LLaVAPreprocessor] and adjust fields. A
// Preprocessor is a plain value, safe for concurrent use.
type Preprocessor struct {
	Resize     ResizeMode
	Size       int // resize target (shortest side, or the square's side)
	Crop       int // centre-crop side; 0 for no crop
	CropRule   CropRule
	Pad        bool     // pad to a square with Background before resizing
	Background [3]uint8 // padding colour (R, G, B)
	Mean, Std  [3]float32
}

// CLIPPreprocessor returns CLIPImageProcessor's pipeline: shortest side
// to size (224, or 336 for ViT-L/14-336), centre crop size×size with
// Hugging Face's floor rule, CLIP mean and std. Set CropRule to CropRound
// for OpenAI's clip.load / open_clip preprocessing.
func CLIPPreprocessor(size int) Preprocessor {
	return Preprocessor{Resize: ResizeShortest, Size: size, Crop: size, Mean: clipMean, Std: clipStd}
}

// BLIP2Preprocessor returns BLIP-2's and InstructBLIP's pipeline (LAVIS
// BlipImageEvalProcessor, HF BlipImageProcessor): resize directly to
// size×size (224), no crop, CLIP mean and std.
func BLIP2Preprocessor(size int) Preprocessor {
	return Preprocessor{Resize: ResizeSquare, Size: size, Mean: clipMean, Std: clipStd}
}

// LLaVAPreprocessor returns LLaVA-1.5's image_aspect_ratio="pad"
// pipeline: pad to a square with the CLIP mean as bytes, (122, 116, 104)
// = tuple(int(x*255) for x in image_mean), then [CLIPPreprocessor] (size
// 336 for LLaVA-1.5).
func LLaVAPreprocessor(size int) Preprocessor {
	p := CLIPPreprocessor(size)
	p.Pad, p.Background = true, [3]uint8{122, 116, 104}
	return p
}

// Validate returns an ErrConfig error naming the first invalid field.
func (p Preprocessor) Validate() error {
	switch {
	case p.Resize != ResizeShortest && p.Resize != ResizeSquare:
		return vlm.Errorf(vlm.ErrConfig, "Preprocessor.Resize = %d is not a ResizeMode", p.Resize)
	case p.Size < 1:
		return vlm.Errorf(vlm.ErrConfig, "Preprocessor.Size = %d, want >= 1", p.Size)
	case p.Crop < 0:
		return vlm.Errorf(vlm.ErrConfig, "Preprocessor.Crop = %d, want >= 0", p.Crop)
	case p.CropRule != CropFloor && p.CropRule != CropRound:
		return vlm.Errorf(vlm.ErrConfig, "Preprocessor.CropRule = %d is not a CropRule", p.CropRule)
	case p.Size > maxSide || p.Crop > maxSide:
		return vlm.Errorf(vlm.ErrConfig, "Preprocessor.Size = %d, Crop = %d, want <= %d", p.Size, p.Crop, maxSide)
	}
	for c := range 3 {
		if !(p.Std[c] > 0) {
			return vlm.Errorf(vlm.ErrConfig, "Preprocessor.Std[%d] = %g, want > 0", c, p.Std[c])
		}
	}
	return nil
}

// maxSide bounds Size and Crop, far above any published model.
const maxSide = 4096

// resizedSize returns the size the image is resized to.
func (p Preprocessor) resizedSize(w, h int) (rw, rh int) {
	if p.Resize == ResizeSquare {
		return p.Size, p.Size
	}
	if w <= h {
		return p.Size, int(int64(p.Size) * int64(h) / int64(w))
	}
	return int(int64(p.Size) * int64(w) / int64(h)), p.Size
}

// Prepare runs steps 1–4 and returns the 8-bit RGB image the model sees
// (what to draw attention maps over). Only the pixels that survive the
// crop are computed, so the work is bounded by Crop² whatever the aspect
// ratio; an image so elongated that its padded square, or its uncropped
// resize, would hold more than DefaultMaxPixels pixels is refused with
// ErrInput.
func (p Preprocessor) Prepare(img image.Image) (*image.NRGBA, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if img == nil || img.Bounds().Empty() {
		return nil, vlm.Errorf(vlm.ErrInput, "Preprocessor: empty image")
	}
	rgb := ToRGB(img)
	if p.Pad {
		if s := int64(max(rgb.Rect.Dx(), rgb.Rect.Dy())); s*s > DefaultMaxPixels {
			return nil, vlm.Errorf(vlm.ErrInput, "Preprocessor: padding a %v image to a square needs more than %d pixels", rgb.Rect.Size(), DefaultMaxPixels)
		}
		rgb = padToSquare(rgb, p.Background)
	}
	w, h := rgb.Rect.Dx(), rgb.Rect.Dy()
	rw, rh := p.resizedSize(w, h)
	win := image.Rect(0, 0, rw, rh)
	if p.Crop > 0 {
		x0, y0 := p.CropRule.offset(rw, p.Crop), p.CropRule.offset(rh, p.Crop)
		win = image.Rect(x0, y0, x0+p.Crop, y0+p.Crop)
	} else if int64(rw)*int64(rh) > DefaultMaxPixels {
		return nil, vlm.Errorf(vlm.ErrInput, "Preprocessor: a %dx%d image resizes to %dx%d, more than %d pixels; set Crop", w, h, rw, rh, DefaultMaxPixels)
	}
	return resizeWindow(rgb, rw, rh, win), nil
}

// Pixels runs the whole pipeline on one image and returns its pixel
// values [3, S, S] (or [3, H, W] without a crop), the layout of Hugging
// Face's pixel_values[i].
func (p Preprocessor) Pixels(img image.Image) (*vlm.Tensor, error) {
	rgb, err := p.Prepare(img)
	if err != nil {
		return nil, err
	}
	return p.normalize(rgb), nil
}

// Batch preprocesses images of any sizes and stacks them into pixel
// values [B, 3, S, S]. The outputs must share a size: with a crop or a
// square resize they always do; otherwise Batch returns an ErrShape error
// naming the first image that differs. Errors name the image's index.
func (p Preprocessor) Batch(imgs []image.Image) (*vlm.Tensor, error) {
	if len(imgs) == 0 {
		return nil, vlm.Errorf(vlm.ErrInput, "Preprocessor.Batch: no images")
	}
	var out *vlm.Tensor
	for i, img := range imgs {
		x, err := p.Pixels(img)
		if err != nil {
			return nil, vlm.Errorf(errKind(err), "image %d: %v", i, err)
		}
		if out == nil {
			out = vlm.Zeros(append([]int{len(imgs)}, x.Shape...)...)
		} else if x.Shape[1] != out.Shape[2] || x.Shape[2] != out.Shape[3] {
			return nil, vlm.Errorf(vlm.ErrShape, "Preprocessor.Batch: image %d gives %v, image 0 gives %v; set Crop", i, x.Shape, out.Shape[1:])
		}
		copy(out.Data[i*x.Size():], x.Data)
	}
	return out, nil
}

// errKind returns the sentinel err wraps.
func errKind(err error) error {
	if e := (*vlm.Error)(nil); errors.As(err, &e) {
		return e.Kind
	}
	return vlm.ErrInput
}

// normalize returns (x/255 − Mean)/Std per channel, channels first.
func (p Preprocessor) normalize(rgb *image.NRGBA) *vlm.Tensor {
	w, h := rgb.Rect.Dx(), rgb.Rect.Dy()
	out := vlm.Zeros(3, h, w)
	var lut [3][256]float32
	for c := range 3 {
		for v := range 256 {
			lut[c][v] = (float32(v)/255 - p.Mean[c]) / p.Std[c]
		}
	}
	for y := range h {
		row := rgb.Pix[y*rgb.Stride:]
		for x := range w {
			for c := range 3 {
				out.Data[(c*h+y)*w+x] = lut[c][row[4*x+c]]
			}
		}
	}
	return out
}

// padToSquare pastes img centred on a square of colour bg, offset
// floor((long − short)/2) (LLaVA's expand2square); a square image is
// returned unchanged.
func padToSquare(img *image.NRGBA, bg [3]uint8) *image.NRGBA {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	if w == h {
		return img
	}
	s := max(w, h)
	out := image.NewNRGBA(image.Rect(0, 0, s, s))
	for i := 0; i < len(out.Pix); i += 4 {
		out.Pix[i], out.Pix[i+1], out.Pix[i+2], out.Pix[i+3] = bg[0], bg[1], bg[2], 255
	}
	x0, y0 := (s-w)/2, (s-h)/2
	for y := range h {
		copy(out.Pix[(y0+y)*out.Stride+4*x0:][:4*w], img.Pix[y*img.Stride:])
	}
	return out
}
