package encoder_test

import (
	"fmt"
	"image"
	"os"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/encoder"
)

// Decode a photograph and turn it into CLIP's pixel values, as
// transformers' CLIPImageProcessor would.
func Example() {
	f, err := os.Open("testdata/chelsea.png")
	if err != nil {
		panic(err)
	}
	defer f.Close()
	img, format, err := encoder.Decode(f, encoder.Limits{})
	if err != nil {
		panic(err)
	}
	pixels, err := encoder.CLIPPreprocessor(224).Pixels(img)
	if err != nil {
		panic(err)
	}
	fmt.Println(format, img.Bounds().Size(), "->", pixels.Shape)
	// Output:
	// png (451,300) -> [3 224 224]
}

// Batch images of different sizes and aspect ratios for BLIP-2 (squashed
// to a square) and LLaVA (padded to a square with the mean colour).
func ExamplePreprocessor_Batch() {
	wide := image.NewRGBA(image.Rect(0, 0, 640, 360))
	tall := image.NewGray(image.Rect(0, 0, 90, 200))
	for _, p := range []encoder.Preprocessor{encoder.BLIP2Preprocessor(224), encoder.LLaVAPreprocessor(336)} {
		pixels, err := p.Batch([]image.Image{wide, tall})
		if err != nil {
			panic(err)
		}
		fmt.Println(pixels.Shape)
	}
	// Output:
	// [2 3 224 224]
	// [2 3 336 336]
}

// Get the 8-bit image a model sees, to draw on it.
func ExamplePreprocessor_Prepare() {
	img := image.NewNRGBA(image.Rect(0, 0, 400, 300))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	seen, err := encoder.LLaVAPreprocessor(336).Prepare(img)
	if err != nil {
		panic(err)
	}
	fmt.Println(seen.Bounds().Size(), seen.At(0, 0), seen.At(168, 168))
	// Output:
	// (336,336) {122 116 104 255} {255 255 255 255}
}

// Encode a batch of 64×64 images into an 8×8 grid of features for soft
// attention, and train the encoder with a tape.
func ExampleCNN() {
	rng := vlm.NewRand(1)
	cnn, err := encoder.NewCNN(rng, encoder.DefaultCNNConfig())
	if err != nil {
		panic(err)
	}
	pixels := vlm.RandN(rng, 1, 4, 3, 64, 64) // [B, 3, H, W]
	tp := vlm.NewTape()
	grid, err := cnn.Forward(tp, pixels) // [B, h, w, D]
	if err != nil {
		panic(err)
	}
	if err := tp.Backward(vlm.Mean(tp, vlm.Mul(tp, grid, grid))); err != nil {
		panic(err)
	}
	total, _ := vlm.CountParams(cnn)
	fmt.Println("grid:", grid.Shape, "params:", total)
	fmt.Println("first conv has a gradient:", cnn.Stages[0].Conv.Weight.Grad != nil)
	// Output:
	// grid: [4 8 8 64] params: 23808
	// first conv has a gradient: true
}

// Convolutions and pooling work on channels-last images.
func ExampleConv2d() {
	conv := encoder.NewConv2d(vlm.NewRand(1), 3, 16, 3, 2, 1, true) // 3→16 channels, 3×3, stride 2, padding 1
	x := vlm.Zeros(1, 32, 48, 3)                                    // [B, H, W, C]
	y := conv.Forward(nil, x)
	fmt.Println(y.Shape, encoder.MaxPool2d(nil, y, 2, 2, 0).Shape)
	// Output:
	// [1 16 24 16] [1 8 12 16]
}

// Load a CLIP vision tower saved by transformers and get its outputs,
// every hidden state, and LLaVA's features (penultimate layer, CLS
// dropped). The checkpoint here is a tiny random one; a real one loads the
// same way with NewViT(nil, ViTL14At336Config()).
func ExampleViT() {
	cfg := encoder.ViTConfig{ImageSize: 32, PatchSize: 8, Channels: 3, Dim: 32, Layers: 3, Heads: 4, Hidden: 64,
		Act: vlm.ActQuickGELU, Eps: 1e-5, ProjectionDim: 24}
	vit, err := encoder.NewViT(nil, cfg)
	if err != nil {
		panic(err)
	}
	report, err := vlm.LoadWeights(vit, "testdata/vit_hf.safetensors", nil)
	if err != nil {
		panic(err)
	}
	pixels := vlm.RandN(vlm.NewRand(1), 1, 2, 3, 32, 32) // [B, 3, S, S]
	out, err := vit.Forward(nil, pixels, &encoder.ViTOptions{Hidden: true})
	if err != nil {
		panic(err)
	}
	feats, err := vit.Features(nil, pixels, -2, true)
	if err != nil {
		panic(err)
	}
	fmt.Println("loaded:", len(report.Loaded), "tensors")
	fmt.Println("last hidden:", out.LastHidden.Shape, "pooled:", out.Pooled.Shape, "embeds:", out.Embeds.Shape)
	fmt.Println("hidden states:", len(out.Hidden), "LLaVA features:", feats.Shape)
	// Output:
	// loaded: 56 tensors
	// last hidden: [2 17 32] pooled: [2 32] embeds: [2 24]
	// hidden states: 4 LLaVA features: [2 16 32]
}

// Load the same weights from an OpenAI / open_clip checkpoint, whose
// attention input projections are fused and whose projection is
// transposed.
func ExampleLoadOpenAIWeights() {
	cfg := encoder.ViTConfig{ImageSize: 32, PatchSize: 8, Channels: 3, Dim: 32, Layers: 3, Heads: 4, Hidden: 64,
		Act: vlm.ActQuickGELU, Eps: 1e-5, ProjectionDim: 24}
	vit, err := encoder.NewViT(nil, cfg)
	if err != nil {
		panic(err)
	}
	report, err := encoder.LoadOpenAIWeights(vit, "testdata/vit_openai.safetensors", nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(report.Complete(), report.Loaded[:3])
	// Output:
	// true [class_embedding positional_embedding conv1.weight]
}

// Size a ViT from a Hugging Face config.json, here LLaVA-1.5's, whose
// vision tower is CLIP ViT-L/14 at 336 px.
func ExampleParseViTConfig() {
	cfg, err := encoder.ParseViTConfig([]byte(`{
		"architectures": ["LlavaForConditionalGeneration"],
		"model_type": "llava",
		"vision_config": {"hidden_size": 1024, "image_size": 336, "intermediate_size": 4096,
			"model_type": "clip_vision_model", "num_attention_heads": 16, "num_hidden_layers": 24,
			"patch_size": 14, "projection_dim": 768}
	}`))
	if err != nil {
		panic(err)
	}
	fmt.Println(cfg.Patches(), "patches,", cfg.Layers, "layers of", cfg.Heads, "heads,", cfg.Act)
	want := encoder.ViTL14At336Config()
	want.ProjectionDim = 0 // LLaVA's tower is a CLIPVisionModel
	fmt.Println("ViT-L/14-336 without projection:", cfg == want)
	// Output:
	// 576 patches, 24 layers of 16 heads, quick_gelu
	// ViT-L/14-336 without projection: true
}

// Build the preprocessing of a Hugging Face checkpoint from its
// preprocessor_config.json, here CLIP ViT-L/14-336's.
func ExampleParsePreprocessor() {
	pre, err := encoder.ParsePreprocessor([]byte(`{
		"crop_size": {"height": 336, "width": 336}, "do_center_crop": true, "do_normalize": true,
		"do_rescale": true, "do_resize": true, "image_processor_type": "CLIPImageProcessor",
		"image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
		"resample": 3, "rescale_factor": 0.00392156862745098, "size": {"shortest_edge": 336}
	}`))
	if err != nil {
		panic(err)
	}
	fmt.Println("CLIP's pipeline at 336 px:", pre == encoder.CLIPPreprocessor(336))
	// Output:
	// CLIP's pipeline at 336 px: true
}
