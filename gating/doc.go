// Package gating is Flamingo's tanh-gated cross-attention (Alayrac et
// al. 2022, arXiv:2204.14198): the layers that teach a frozen language
// model to look at images. Text tokens attend to the visual tokens of the
// resampler package through a mask driven by where the <image> tokens
// are, and each layer's two branches are scaled by tanh of a gate that
// starts at 0, so that at the first training step the model is exactly
// the frozen language model.
//
// # The block
//
// [Block] is GatedCrossAttentionBlock, on text x [B, T, D] and media
// [B, M, N, Dv] (M media items of N visual tokens):
//
//	x = x + tanh(attn_gate) · to_out(softmax(to_q(LN(x))·kᵀ/√Dh, media mask)·v)
//	x = x + tanh(ff_gate) · W₂·GELU(W₁·LN(x))          (on every token)
//	[k; v] = to_kv(media flattened to [B, M·N, Dv])
//
// with H heads of width Dh (8×64), no biases, exact GELU, LayerNorm eps
// 1e-5, no LayerNorm on the media.
//
// # The media mask
//
// [Locations] marks the <image> tokens ([Locate] finds an id, or give
// the [B, T] flags). Their running count is the text time of each token
// ([Locations.TextTime]): for `t <img> t t <img> t` it is 0 1 1 1 2 2 —
// an <image> token belongs to its own image. Token i may attend to media
// item m (1-based) if
//
//	Immediate   (default)  text_time == m   only the last image at or before it
//	AllPrevious            text_time >= m   every image so far
//
// [TextTime.Mask] builds the masks and prints them. What the references
// do where no key is allowed is reproduced exactly (03-flamingo §4):
// masked scores are replaced by −finfo(f32).max (attention.FillReplaceMax,
// so they pass no gradient), which makes a fully masked row the uniform
// mean of the values of all M·N media tokens; in Immediate mode text
// before the first <image> is then zeroed (it outputs exactly 0 and
// passes no gradient), in AllPrevious mode it keeps the uniform mean.
// A token whose text time exceeds M (more <image> tokens than media)
// is fully masked in Immediate mode and, like every fully masked row
// other than the zeroed ones, gets the uniform mean; in AllPrevious mode
// it sees every item. With nil text time there is no mask at all
// (lucidrains' media_locations=None).
//
// Samples with fewer media are padded to M items (open_flamingo's
// evaluation pads with zero images, which the resampler resamples like
// any other). The media mask real [B, M] given to [Block.Memory] or
// [Stack.Condition] marks the real items: a text token never attends to
// a padded item by choice; a token whose text time points at one (more
// <image> tokens than the sample has media) gets the fully masked row,
// as the references treat text_time > T_img — the uniform mean of all
// M·N media tokens, padded ones included. For well-formed prompts (no
// more <image> tokens than real media) the mask changes nothing.
//
// # Cached media and generation
//
// [Block.Memory] projects the media to keys and values once; the
// [Memory] serves the prompt pass and every generation step. The new
// tokens of a step have no <image> token; [Locations.Cached] gives them
// the text time of open_flamingo's use_cached_media: the number of
// <image> tokens of the prompt, so each new token attends to the last
// image (every image in AllPrevious mode; a sample without any <image>
// gets zero in Immediate mode).
//
// # Wrapping a frozen language model
//
// [Stack] holds the blocks of a language model of n layers and runs them
// interleaved with the model's own layers, which only need to satisfy
// the one-method [Layer] interface ([LayerFunc] adapts a closure that
// binds a layer's KV cache and padding mask). Both references' placement
// rules are available:
//
//	Before (open_flamingo FlamingoLayer)   block before layer i when (i+1) % every == 0
//	After  (lucidrains FlamingoPaLM)       block after layer i when i % every == 0
//
// [Stack.Condition] conditions the media into every block once
// (open_flamingo's condition_vis_x); [Stack.Forward] with nil media runs
// the frozen model alone.
//
// [Parts] freezes a whole model as the references train it
// (open_flamingo's factory.py: language model and vision encoder frozen,
// resampler, gated blocks and — unless [FrozenLM] — the language
// model's input embeddings trainable) and counts parameters per part.
//
// # Names
//
// Keys are open_flamingo's. A Block: attn.norm.*, attn.to_q.weight,
// attn.to_kv.weight [2·H·Dh, Dv] (keys then values), attn.to_out.weight,
// attn_gate [1], ff.0.* (LayerNorm), ff.1.weight, ff.3.weight, ff_gate
// [1]; lucidrains' block has the same keys (with Dv = D). A Stack adds
// {i}.gated_cross_attn_layer. for layer i, as in an OpenFlamingo
// checkpoint under the language model's decoder-layer path
// (lang_encoder.model.decoder.layers. for OPT, use it as
// vlm.LoadOptions.Prefix); [LucidrainsRename] maps FlamingoPaLM's
// layers.{i}.1.* keys.
//
// # Parity, errors and concurrency
//
// Blocks and stacks match plain-torch re-implementations of both
// references to float32 precision, forward and backward
// (testdata/gen/flamingo.py). Entry points validate shapes, text times
// and finite values and return errors wrapping vlm.ErrShape,
// vlm.ErrConfig or vlm.ErrInput. With a nil tape modules and memories
// are only read, so goroutines may share them.
package gating
