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

func TestParsePreprocessor(t *testing.T) {
	// preprocessor_config.json files as transformers writes them, older
	// and newer.
	const mean, std = `[0.48145466, 0.4578275, 0.40821073]`, `[0.26862954, 0.26130258, 0.27577711]`
	noCrop := encoder.CLIPPreprocessor(224)
	noCrop.Crop = 0
	rescaleOnly := encoder.CLIPPreprocessor(224)
	rescaleOnly.Mean, rescaleOnly.Std = [3]float32{}, [3]float32{1, 1, 1}
	imagenet := encoder.CLIPPreprocessor(224)
	imagenet.Mean, imagenet.Std = [3]float32{0.485, 0.456, 0.406}, [3]float32{0.229, 0.224, 0.225}
	cases := []struct {
		name, json string
		want       encoder.Preprocessor
	}{
		{"CLIPFeatureExtractor (openai/clip-vit-base-patch16)", `{"crop_size": 224, "do_center_crop": true, "do_normalize": true,
			"do_resize": true, "feature_extractor_type": "CLIPFeatureExtractor", "image_mean": ` + mean + `,
			"image_std": ` + std + `, "resample": 3, "size": 224}`, encoder.CLIPPreprocessor(224)},
		{"CLIPImageProcessor (clip-vit-large-patch14-336)", `{"crop_size": {"height": 336, "width": 336}, "do_center_crop": true,
			"do_convert_rgb": true, "do_normalize": true, "do_rescale": true, "do_resize": true, "image_mean": ` + mean + `,
			"image_processor_type": "CLIPImageProcessor", "image_std": ` + std + `, "resample": 3,
			"rescale_factor": 0.00392156862745098, "size": {"shortest_edge": 336}}`, encoder.CLIPPreprocessor(336)},
		{"BlipImageProcessor (blip2-opt-2.7b)", `{"do_normalize": true, "do_rescale": true, "do_resize": true,
			"image_mean": ` + mean + `, "image_processor_type": "BlipImageProcessor", "image_std": ` + std + `,
			"processor_class": "Blip2Processor", "resample": 3, "rescale_factor": 0.00392156862745098,
			"size": {"height": 224, "width": 224}}`, encoder.BLIP2Preprocessor(224)},
		{"CLIP defaults", `{"image_processor_type": "CLIPImageProcessor"}`, encoder.CLIPPreprocessor(224)},
		{"BLIP defaults", `{"image_processor_type": "BlipImageProcessor"}`, encoder.BLIP2Preprocessor(384)},
		{"no centre crop", `{"image_processor_type": "CLIPImageProcessor", "do_center_crop": false}`, noCrop},
		{"no normalisation", `{"image_processor_type": "CLIPImageProcessor", "do_normalize": false}`, rescaleOnly},
		{"ImageNet statistics", `{"image_processor_type": "CLIPImageProcessor", "image_mean": [0.485, 0.456, 0.406],
			"image_std": [0.229, 0.224, 0.225]}`, imagenet},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := encoder.ParsePreprocessor([]byte(tc.json))
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParsePreprocessorErrors(t *testing.T) {
	cases := []struct{ name, json, want string }{
		{"not JSON", `{"size": `, "preprocessor_config.json"},
		{"size of the wrong type", `{"image_processor_type": "CLIPImageProcessor", "size": "224"}`, "preprocessor_config.json"},
		{"other processor", `{"image_processor_type": "SiglipImageProcessor"}`, `image processor "SiglipImageProcessor"`},
		{"no type", `{"size": 224}`, `image processor ""`},
		{"bilinear", `{"image_processor_type": "CLIPImageProcessor", "resample": 2}`, "resample 2, only bicubic"},
		{"no rescaling", `{"image_processor_type": "CLIPImageProcessor", "do_rescale": false}`, "do_rescale must be true"},
		{"no resizing", `{"image_processor_type": "BlipImageProcessor", "do_resize": false}`, "do_resize"},
		{"other rescale factor", `{"image_processor_type": "CLIPImageProcessor", "rescale_factor": 1}`, "rescale_factor 1, want 1/255"},
		{"oblong crop", `{"image_processor_type": "CLIPImageProcessor", "crop_size": {"height": 224, "width": 256}}`, "crop_size 256x224, want a square"},
		{"oblong size", `{"image_processor_type": "BlipImageProcessor", "size": {"height": 224, "width": 256}}`, "size 256x224"},
		{"four means", `{"image_processor_type": "CLIPImageProcessor", "image_mean": [0.5, 0.5, 0.5, 0.5]}`, "image_mean has 4 values"},
		{"zero std", `{"image_processor_type": "CLIPImageProcessor", "image_std": [0.2, 0, 0.2]}`, "Std[1]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := encoder.ParsePreprocessor([]byte(tc.json))
			require.Error(t, err)
			assert.ErrorIs(t, err, vlm.ErrConfig)
			assert.ErrorContains(t, err, tc.want)
		})
	}
}
