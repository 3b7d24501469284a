// Package projector feeds images to a language model the way LLaVA
// (Liu et al. 2023, "Visual Instruction Tuning"; LLaVA-1.5, "Improved
// Baselines with Visual Instruction Tuning") and PaLM-E (Driess et al.
// 2023) do: vision features are projected to the language model's width
// and spliced into its token sequence where the prompt says <image>.
//
// # Features and projection
//
// [SelectFeatures] takes LLaVA's features from a vision encoder's hidden
// states (HF output_hidden_states): layer −2 with the CLS token dropped
// ([Patch]) in LLaVA-1.5, never passed through the final LayerNorm.
// A [Projector] maps them to the language model's width: "linear"
// (LLaVA v1) or "mlp2x_gelu" (Linear, exact GELU, Linear; LLaVA-1.5,
// HF's LlavaMultiModalProjector), or any "mlp{N}x_gelu". Its keys are
// HF's, linear_1 and linear_2; [Rename] maps original LLaVA checkpoints
// (model.mm_projector.0/.2, or .weight for linear) and HF llava's
// multi_modal_projector. prefix onto them and skips everything else, so
// the projector loads from a whole LLaVA checkpoint.
//
// # Multimodal sequences
//
// [Splice] is LLaVA's prepare_inputs_labels_for_multimodal. Each
// [Sample] holds token ids with the placeholder [ImageToken] (−200,
// LLaVA's IMAGE_TOKEN_INDEX) where each image goes, the images' projected
// features [N_i, D], and optionally its labels. Each placeholder grows
// into its image's N_i rows (PaLM-E's multimodal sentence: observation j
// replaces its placeholder with its q vectors); text is embedded with the
// language model's token table, passed as an [EmbedFunc]
// (lm.Model.EmbedTokens). The result, a [Batch], is padded with zero
// vectors to the longest sample, on the right for training or the left
// for generation, with the attention mask, position ids 0..len−1 over
// each sample's real positions (after the padding, with left padding),
// and labels with −100 on image rows and padding. Any number of images
// per sample, including none; samples of different lengths. The prompt's
// labels are the caller's: [PromptLabels] puts −100 on the first n
// tokens, as LLaVA's preprocess_plain and conversation templates do.
//
// Differences from the reference:
//
//   - Samples come unpadded, with their own images, rather than as a
//     padded input_ids tensor with one flat list of image features; a
//     placeholder count that differs from the image count is an error
//     naming the sample. LLaVA makes a sample without a placeholder
//     consume (and discard) one slot of the flat list, so text-only
//     samples in mixed batches need a dummy image; here a text-only
//     sample simply has no images.
//   - HF transformers' llava takes another form of the same thing: its
//     processor repeats a real <image> token id N times per image, the
//     embeddings of the whole sequence are computed, and the image token
//     rows are overwritten with the features in order (masked_scatter);
//     the attention mask and positions are the ordinary ones of the
//     expanded sequence. SpliceOptions.Expanded with Placeholder set to
//     that id does this, and gives the same batch as LLaVA's splice of
//     the unexpanded ids (tested). In this form the placeholder rows
//     overwrite whatever the token table holds for that id, which
//     therefore gets no gradient.
//   - Padding embeddings are zeros and padding position ids 0, as
//     LLaVA's; HF's expanded form leaves the pad token's embedding in
//     padded rows. Only the mask-hidden rows differ.
//
// # Training stages
//
// LLaVA trains in two stages: [Pretrain] (feature alignment on
// image-caption pairs, only the projector learns) and [Finetune] (visual
// instruction tuning, the projector and the language model learn); the
// vision encoder stays frozen throughout. [Stage.Apply] sets the Frozen
// flags of the three modules accordingly; frozen layers still pass
// gradients, so the frozen language model's loss trains the projector.
// [Projector.SaveAdapter] writes the projector alone, under LLaVA's
// stage-1 keys (mm_projector.bin), and [Projector.LoadAdapter] reads it
// (or any checkpoint [Rename] understands) back.
//
// # Errors, tapes and concurrency
//
// Entry points validate and return errors wrapping vlm.ErrShape,
// vlm.ErrInput or vlm.ErrConfig. On a tape every function records its
// work, so gradients flow from the language model's loss through the
// splice into the projector, the image features and the token table. With
// a nil tape a Projector is only read and may serve many goroutines.
package projector
