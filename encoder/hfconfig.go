package encoder

import (
	"encoding/json"
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
