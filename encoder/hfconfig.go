package encoder

import (
	"encoding/json"
	"math"
	"slices"

	"github.com/govlm/vlm"
)

// hfVisionConfig holds the fields of transformers' CLIPVisionConfig that
// size a ViT; nil means absent (transformers writes only the fields that
// differ from the defaults).
type hfVisionConfig struct {
	ModelType         *string  `json:"model_type"`
	HiddenSize        *int     `json:"hidden_size"`
	IntermediateSize  *int     `json:"intermediate_size"`
	ProjectionDim     *int     `json:"projection_dim"`
	NumHiddenLayers   *int     `json:"num_hidden_layers"`
	NumAttentionHeads *int     `json:"num_attention_heads"`
	NumChannels       *int     `json:"num_channels"`
	ImageSize         *int     `json:"image_size"`
	PatchSize         *int     `json:"patch_size"`
	HiddenAct         *string  `json:"hidden_act"`
	LayerNormEps      *float64 `json:"layer_norm_eps"`
}

// hfConfig is a config.json: a CLIPVisionConfig at the top level, or a
// composite config with a vision_config.
type hfConfig struct {
	hfVisionConfig
	Architectures []string        `json:"architectures"`
	VisionConfig  *hfVisionConfig `json:"vision_config"`
}

// ParseViTConfig returns the ViTConfig of a Hugging Face config.json
// (data) that describes a CLIP vision tower:
//
//   - a CLIPVisionConfig ("model_type": "clip_vision_model"), with a
//     projection of projection_dim if its architectures name
//     CLIPVisionModelWithProjection;
//   - a CLIPConfig ("clip"): its vision_config, with the top-level
//     projection_dim as CLIPModel's visual_projection;
//   - any other config whose vision_config is a CLIPVisionConfig (LLaVA's
//     "llava"): that vision_config, without projection, as the
//     CLIPVisionModel these models use.
//
// Fields the file leaves out take CLIPVisionConfig's defaults (ViT-B/32 at
// 224 px, QuickGELU, projection 512), as transformers saves only the
// fields that differ from them. An unreadable file or a vision tower that
// is not CLIP's (BLIP-2's EVA ViT, SigLIP) is an ErrConfig error.
//
//	data, err := os.ReadFile("clip-vit-large-patch14-336/config.json")
//	...
//	cfg, err := encoder.ParseViTConfig(data)
func ParseViTConfig(data []byte) (ViTConfig, error) {
	var top hfConfig
	if err := json.Unmarshal(data, &top); err != nil {
		return ViTConfig{}, vlm.Errorf(vlm.ErrConfig, "encoder: config.json: %v", err)
	}
	modelType := deref(top.ModelType, "")
	v, projection := &top.hfVisionConfig, 0
	switch {
	case modelType == "clip_vision_model":
		if slices.Contains(top.Architectures, "CLIPVisionModelWithProjection") {
			projection = deref(top.ProjectionDim, 512)
		}
	case top.VisionConfig != nil:
		v = top.VisionConfig
		if t := deref(v.ModelType, "clip_vision_model"); t != "clip_vision_model" {
			return ViTConfig{}, vlm.Errorf(vlm.ErrConfig, "encoder: config.json of a %q model has a %q vision tower, not CLIP's (clip_vision_model)", modelType, t)
		}
		if modelType == "clip" {
			projection = deref(top.ProjectionDim, 512)
		}
	default:
		return ViTConfig{}, vlm.Errorf(vlm.ErrConfig, "encoder: config.json of a %q model is neither a clip_vision_model nor has a vision_config", modelType)
	}
	c := ViTConfig{
		ImageSize:     deref(v.ImageSize, 224),
		PatchSize:     deref(v.PatchSize, 32),
		Channels:      deref(v.NumChannels, 3),
		Dim:           deref(v.HiddenSize, 768),
		Layers:        deref(v.NumHiddenLayers, 12),
		Heads:         deref(v.NumAttentionHeads, 12),
		Hidden:        deref(v.IntermediateSize, 3072),
		Act:           vlm.Activation(deref(v.HiddenAct, string(vlm.ActQuickGELU))),
		Eps:           float32(deref(v.LayerNormEps, 1e-5)),
		ProjectionDim: projection,
	}
	if err := c.Validate(); err != nil {
		return ViTConfig{}, err
	}
	return c, nil
}

// deref returns *p, or def if p is nil.
func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// hfSize is a size field of an image processor config: a number (older
// files) or an object with shortest_edge or height and width.
type hfSize struct {
	n, shortest, height, width int
}

// UnmarshalJSON reads either form of a size.
func (s *hfSize) UnmarshalJSON(data []byte) error {
	if err := json.Unmarshal(data, &s.n); err == nil {
		return nil
	}
	var o struct {
		ShortestEdge int `json:"shortest_edge"`
		Height       int `json:"height"`
		Width        int `json:"width"`
	}
	if err := json.Unmarshal(data, &o); err != nil {
		return err
	}
	s.shortest, s.height, s.width = o.ShortestEdge, o.Height, o.Width
	return nil
}

// square returns the side of a size that is one number or a square.
func (s *hfSize) square(field string) (int, error) {
	switch {
	case s.n > 0:
		return s.n, nil
	case s.height > 0 && s.height == s.width:
		return s.height, nil
	}
	return 0, vlm.Errorf(vlm.ErrConfig, "encoder: preprocessor_config.json: %s %dx%d, want a square", field, s.width, s.height)
}

// hfImageProcessor holds the fields of a preprocessor_config.json that
// Preprocessor reproduces.
type hfImageProcessor struct {
	ImageProcessorType   *string   `json:"image_processor_type"`
	FeatureExtractorType *string   `json:"feature_extractor_type"`
	DoResize             *bool     `json:"do_resize"`
	Size                 *hfSize   `json:"size"`
	Resample             *int      `json:"resample"`
	DoCenterCrop         *bool     `json:"do_center_crop"`
	CropSize             *hfSize   `json:"crop_size"`
	DoRescale            *bool     `json:"do_rescale"`
	RescaleFactor        *float64  `json:"rescale_factor"`
	DoNormalize          *bool     `json:"do_normalize"`
	ImageMean            []float32 `json:"image_mean"`
	ImageStd             []float32 `json:"image_std"`
}

// pilBicubic is PIL's Image.BICUBIC, the resample value of the pipelines
// Preprocessor reproduces.
const pilBicubic = 3

// ParsePreprocessor returns the Preprocessor of a Hugging Face
// preprocessor_config.json (data): transformers' CLIPImageProcessor (also
// as the older CLIPFeatureExtractor) or BlipImageProcessor (BLIP-2,
// InstructBLIP). Fields the file leaves out take that processor's
// defaults. Settings Preprocessor does not reproduce are ErrConfig errors:
// a resample filter other than bicubic, no resizing or rescaling, a
// rescale factor other than 1/255, a size or crop that is not square.
// Without do_normalize the pixels are only rescaled (Mean 0, Std 1).
//
//	data, err := os.ReadFile("clip-vit-large-patch14-336/preprocessor_config.json")
//	...
//	pre, err := encoder.ParsePreprocessor(data)
//	pixels, err := pre.Batch(images)
func ParsePreprocessor(data []byte) (Preprocessor, error) {
	var c hfImageProcessor
	if err := json.Unmarshal(data, &c); err != nil {
		return Preprocessor{}, vlm.Errorf(vlm.ErrConfig, "encoder: preprocessor_config.json: %v", err)
	}
	kind := deref(c.ImageProcessorType, deref(c.FeatureExtractorType, ""))
	var p Preprocessor
	size, crop := &hfSize{shortest: 224}, &hfSize{n: 224}
	switch kind {
	case "CLIPImageProcessor", "CLIPFeatureExtractor":
		p = CLIPPreprocessor(224)
		if !deref(c.DoCenterCrop, true) {
			crop = nil
		}
	case "BlipImageProcessor":
		p, size, crop = BLIP2Preprocessor(384), &hfSize{height: 384, width: 384}, nil
	default:
		return Preprocessor{}, vlm.Errorf(vlm.ErrConfig, "encoder: preprocessor_config.json: image processor %q, want CLIPImageProcessor or BlipImageProcessor", kind)
	}
	if c.Size != nil {
		size = c.Size
	}
	if c.CropSize != nil && crop != nil {
		crop = c.CropSize
	}
	switch {
	case !deref(c.DoResize, true) || !deref(c.DoRescale, true):
		return Preprocessor{}, vlm.Errorf(vlm.ErrConfig, "encoder: preprocessor_config.json: do_resize and do_rescale must be true")
	case deref(c.Resample, pilBicubic) != pilBicubic:
		return Preprocessor{}, vlm.Errorf(vlm.ErrConfig, "encoder: preprocessor_config.json: resample %d, only bicubic (%d) is reproduced", *c.Resample, pilBicubic)
	case math.Abs(deref(c.RescaleFactor, 1.0/255)-1.0/255) > 1e-12:
		return Preprocessor{}, vlm.Errorf(vlm.ErrConfig, "encoder: preprocessor_config.json: rescale_factor %g, want 1/255", *c.RescaleFactor)
	}
	var err error
	if size.shortest > 0 {
		p.Resize, p.Size = ResizeShortest, size.shortest
	} else if kind == "BlipImageProcessor" || size.height > 0 {
		p.Resize = ResizeSquare
		if p.Size, err = size.square("size"); err != nil {
			return Preprocessor{}, err
		}
	} else {
		p.Resize, p.Size = ResizeShortest, size.n // older CLIP files: the shortest edge
	}
	p.Crop = 0
	if crop != nil {
		if p.Crop, err = crop.square("crop_size"); err != nil {
			return Preprocessor{}, err
		}
	}
	for _, f := range []struct {
		name string
		v    []float32
		dst  *[3]float32
	}{{"image_mean", c.ImageMean, &p.Mean}, {"image_std", c.ImageStd, &p.Std}} {
		switch len(f.v) {
		case 0:
		case 3:
			copy(f.dst[:], f.v)
		default:
			return Preprocessor{}, vlm.Errorf(vlm.ErrConfig, "encoder: preprocessor_config.json: %s has %d values, want 3 (RGB)", f.name, len(f.v))
		}
	}
	if !deref(c.DoNormalize, true) {
		p.Mean, p.Std = [3]float32{}, [3]float32{1, 1, 1}
	}
	if err := p.Validate(); err != nil {
		return Preprocessor{}, err
	}
	return p, nil
}
