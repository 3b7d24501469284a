package encoder_test

import (
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/encoder"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseViTConfig(t *testing.T) {
	// The vision parts of config.json files as transformers writes them
	// (it leaves out fields at their defaults).
	l14at336 := `{"hidden_size": 1024, "image_size": 336, "intermediate_size": 4096, "model_type": "clip_vision_model",
		"num_attention_heads": 16, "num_hidden_layers": 24, "patch_size": 14, "projection_dim": 768}`
	noProjection := func(c encoder.ViTConfig) encoder.ViTConfig { c.ProjectionDim = 0; return c }
	withGELU := func(c encoder.ViTConfig) encoder.ViTConfig { c.Act = vlm.ActGELU; return c }
	cases := []struct {
		name, json string
		want       encoder.ViTConfig
	}{
		{"CLIPModel ViT-B/16", `{"architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": 512,
			"text_config": {"hidden_size": 512, "model_type": "clip_text_model"},
			"vision_config": {"dropout": 0.0, "model_type": "clip_vision_model", "patch_size": 16}}`,
			encoder.ViTB16Config()},
		{"CLIPModel ViT-L/14-336", `{"architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": 768,
			"vision_config": ` + l14at336 + `}`, encoder.ViTL14At336Config()},
		{"CLIPModel without model types", `{"model_type": "clip", "vision_config": {"patch_size": 16}}`, encoder.ViTB16Config()},
		{"LLaVA-1.5 vision tower", `{"architectures": ["LlavaForConditionalGeneration"], "model_type": "llava",
			"text_config": {"model_type": "llama"}, "vision_config": ` + l14at336 + `}`, noProjection(encoder.ViTL14At336Config())},
		{"CLIPVisionModelWithProjection", `{"architectures": ["CLIPVisionModelWithProjection"], "model_type": "clip_vision_model",
			"patch_size": 16}`, encoder.ViTB16Config()},
		{"CLIPVisionModel at the defaults", `{"model_type": "clip_vision_model"}`, noProjection(encoder.ViTB32Config())},
		{"exact GELU", `{"model_type": "clip_vision_model", "hidden_act": "gelu"}`, withGELU(noProjection(encoder.ViTB32Config()))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := encoder.ParseViTConfig([]byte(tc.json))
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseViTConfigErrors(t *testing.T) {
	cases := []struct{ name, json, want string }{
		{"not JSON", `{"model_type": `, "config.json"},
		{"BLIP-2's EVA tower", `{"model_type": "blip-2", "vision_config": {"model_type": "blip_2_vision_model"}}`,
			`has a "blip_2_vision_model" vision tower, not CLIP's`},
		{"no vision tower", `{"model_type": "bert", "hidden_size": 768}`, `"bert" model is neither`},
		{"patch does not divide", `{"model_type": "clip_vision_model", "patch_size": 15}`, "not a positive multiple of patch size 15"},
		{"heads do not divide", `{"model_type": "clip_vision_model", "num_attention_heads": 7}`, "not a multiple of 7 heads"},
		{"unknown activation", `{"model_type": "clip_vision_model", "hidden_act": "swish"}`, `unknown activation "swish"`},
		{"wrong type", `{"model_type": "clip_vision_model", "hidden_size": "768"}`, "config.json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := encoder.ParseViTConfig([]byte(tc.json))
			require.Error(t, err)
			assert.ErrorIs(t, err, vlm.ErrConfig)
			assert.ErrorContains(t, err, tc.want)
		})
	}
}
