// Package encoder turns pixels into features for vision-language models:
// image decoding and the preprocessing pipelines of CLIP, BLIP-2 and
// LLaVA, CLIP's vision transformer, a small trainable CNN whose feature
// grid Show, Attend and Tell attends over, and the convolution and
// pooling layers they are made of.
//
// # From bytes to pixel values
//
// [Decode] reads PNG, JPEG, GIF, BMP, TIFF and WebP under [Limits]: the
// encoded size and the header's width × height are checked before any
// pixel is decoded, so a hostile upload costs bounded memory and every
// failure is an error wrapping vlm.ErrInput. A [Preprocessor] then
// produces the pixel values a model takes, [3, S, S] per image or
// [B, 3, S, S] for a batch of images of any sizes:
//
//	img, _, err := encoder.Decode(r, encoder.Limits{})
//	pixels, err := encoder.CLIPPreprocessor(224).Batch([]image.Image{img})
//
// [ParsePreprocessor] builds the pipeline a checkpoint's
// preprocessor_config.json describes. The pipelines reproduce Hugging
// Face's image processors (and, with CropRound, OpenAI's torchvision
// pipeline) byte for byte before normalisation: RGB conversion as PIL's
// convert("RGB"), PIL's fixed-point bicubic resize ([ResizeBicubic]), the
// reference crop rounding, float32 normalisation. JPEG goes through Go's
// decoder with libjpeg's inverse DCT, chroma upsampling and colour
// conversion (see [ToRGB]), so on the PNG and JPEG photographs of the
// parity test the pixel values are identical to the Python ones.
//
// # CLIP's vision transformer
//
// [ViT] has transformers' CLIPVisionModelWithProjection structure and
// keys (vision_model.embeddings..., vision_model.encoder.layers.{i}...,
// visual_projection), built from package attention's pre-norm CLIP layers,
// so a Hugging Face checkpoint loads with vlm.LoadWeights and OpenAI or
// open_clip checkpoints (visual.*) with [LoadOpenAIWeights]. Presets:
// [ViTB16Config], [ViTB32Config], [ViTL14Config], [ViTL14At336Config];
// [ParseViTConfig] reads any other from the checkpoint's config.json
// (CLIP's, or the vision_config of LLaVA's).
//
//	vit, err := encoder.NewViT(nil, encoder.ViTL14At336Config())
//	_, err = vlm.LoadWeights(vit, "model.safetensors", &vlm.LoadOptions{Ignore: []string{"*.position_ids"}})
//	out, err := vit.Forward(nil, pixels, nil)          // out.LastHidden [B, 577, 1024], out.Pooled [B, 1024]
//	feats, err := vit.Features(nil, pixels, -2, true) // LLaVA-1.5: [B, 576, 1024]
//
// A CLIPModel checkpoint also holds the text tower: add "text_model.*",
// "text_projection.*" and "logit_scale" to Ignore.
//
// # Layout
//
// Pixel values are channels-first, [B, 3, H, W], as transformers'
// pixel_values. Inside the CNN activations are channels-last,
// [B, H, W, C]: [Conv2d] is then one matrix product over all output pixels
// of the batch (im2col + GEMM), per-channel normalisation is a LayerNorm
// over the last axis, and the feature grid comes out as [B, h, w, D]
// (Show-Attend-Tell's encoder_out) with no transpose. Weights keep
// PyTorch's layout, Conv2d's [O, C, KH, KW], so checkpoints load
// unchanged. A ViT's patch embedding, a convolution with stride equal to
// its kernel, is a rearrangement of the pixels and one matrix product
// ([Conv2d.Patchify]).
//
// # Training
//
// Every layer takes a *vlm.Tape: nil for inference (safe for concurrent
// use), or a tape to record the backward pass. [Conv2d] and the pooling
// functions have hand-written backward kernels; the [CNN] only composes
// them. The default CNN (16-32-64 channels) turns 64×64 images into an
// 8×8 grid of 64 features; BenchmarkCNNTrainStep measures its training
// throughput.
//
// # Errors
//
// Entry points ([Decode], [Preprocessor] methods, [NewCNN], [CNN.Forward],
// [NewViT], [ViT.Forward], [ViT.Features], [LoadOpenAIWeights])
// validate their inputs and return errors wrapping vlm.ErrInput,
// vlm.ErrShape, vlm.ErrConfig or, when loading, vlm.ErrCheckpoint. The
// layers below them panic with a *vlm.Error on shapes that cannot fit,
// which the entry points recover.
package encoder
