// Package resampler is Flamingo's Perceiver resampler (Alayrac et al.
// 2022, arXiv:2204.14198): it turns any number of visual tokens — the
// patch features of an image, or of every frame of a video — into a fixed
// number Q of visual tokens, the "latents", that the gated
// cross-attention layers of the gating package read.
//
// # The computation
//
// For each media item separately (items never attend to each other), with
// x the item's tokens [N, D] and l the learned latents [Q, D]:
//
//	for each layer:
//	    l = l + to_out(softmax(to_q(LN₁(l)) · to_kv([LN₂(x); LN₁(l)])ₖᵀ / √Dh) · to_kv(...)ᵥ)
//	    l = l + W₂·GELU(W₁·LN₃(l))
//	return LN(l)
//
// The latents' own keys and values are concatenated after the media's, as
// in the paper. Attention has H heads of width Dh (8×64 by default, so the
// inner width is 512 whatever D is), no biases and no mask; GELU is the
// exact erf form; every LayerNorm has eps 1e-5. Input media come as
// [B, N, D], [B, M, N, D] or [B, M, F, N, D] (M items of F frames) and
// the output is [B, M, Q, D].
//
// # The references and their names
//
// Two implementations agree on everything except the time embedding
// (03-flamingo §3), and this package matches both to float32 precision,
// forward and backward (testdata/gen/flamingo.py writes the golden
// files):
//
//   - mlfoundations/open_flamingo (native names): depth 6, an optional
//     media_time_embs [max_num_media, 1, D] and an optional frame_embs
//     [max_num_frames, D], both absent in the released OpenFlamingo
//     models (Config.MaxMedia and Config.MaxFrames 0). Input is always
//     5-D; frame f's embedding is added to its tokens, the frames of an
//     item are flattened frame-major to F·N tokens, then item m's time
//     embedding is added.
//   - lucidrains/flamingo-pytorch: the same module with media_pos_emb
//     [num_media_embeds=4, 1, D] always present (time_pos_emb before
//     v0.1.0), 3-D or 4-D input. [Lucidrains] gives its configuration and
//     [LucidrainsRename] maps its keys for vlm.LoadOptions.Rename.
//
// Keys: latents, media_time_embs, frame_embs, layers.{i}.0.{norm_media,
// norm_latents, to_q, to_kv, to_out}.*, layers.{i}.1.{0,1,3}.* (the
// FeedForward's LayerNorm and two Linears), norm.*. In an OpenFlamingo
// checkpoint they sit under "perceiver."; in a FlamingoPaLM one under
// "perceiver_resampler.".
//
// # Samples with different numbers of media
//
// A batch holds M media slots per sample. open_flamingo's evaluation pads
// a sample with fewer images with all-zero images; since every item is
// resampled on its own, the padding changes no real item's latents (the
// padded slots' latents are computed and are simply never chosen by the
// text). Pass which slots are real to the gating package (its media
// mask): there a text token only ever attends to real media.
//
// # Training and concurrency
//
// Forward with a tape records the backward pass of every step; media time
// and frame embedding rows beyond M and F get zero gradient, as in
// PyTorch. A nil tape is inference: the model is only read, so goroutines
// may share it. Forward validates the input (rank, width, the number of
// items and frames the embeddings cover, finite values) and returns
// errors wrapping vlm.ErrShape or vlm.ErrInput.
package resampler
