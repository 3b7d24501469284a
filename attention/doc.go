// Package attention is the attention every block of vlm shares: scaled
// dot-product attention with masks, multi-head self- and cross-attention
// with a KV cache and reusable cross-attention memory, post- and pre-norm
// transformer layers, and Show, Attend and Tell's additive attention.
// Every piece matches its PyTorch reference to float32 precision, forward
// and backward (testdata/gen/attention.py writes the golden files).
//
// # Scaled dot-product attention
//
// For queries q [B, H, Tq, Dh], keys k [B, H, Tk, Dh] and values
// v [B, H, Tk, Dv],
//
//	out = softmax(Scale·q·kᵀ + Bias, masked) · v       Scale = 1/√Dh by default
//
// [ScaledDotProduct] takes that layout; [Attend] takes heads side by side,
// q [B, Tq, H·Dh], the layout every projection produces, and reads each
// head in place (no transpose, in either direction of the backward pass).
// Both run one fused kernel per (batch, head): q·kᵀ, masking and softmax
// in one pass over the scores, then p·v. [Options] carries the mask, the
// fill policy, an additive bias, rows to zero, dropout and a trace of
// the probabilities.
//
// # Masks and fill policies
//
// A [Mask] is a keep-mask (true = may attend, HF's convention, the
// opposite of torch.nn.MultiheadAttention's boolean masks) of shape
// [B, H, Tq, Tk] whose size-1 axes broadcast. Constructors cover the
// references: [Lengths] and [Padding] (key padding, left or right),
// [Causal] (with the queries at the end of the keys, so a KV cache of p
// positions is Causal(t, p+t)), [PrefixCausal] (the Q-Former's ITG mask,
// prefix LMs), [NewMask] for anything else (Flamingo's media mask), and
// [Mask.And] to combine them. Options.Causal applies a causal mask without
// building one.
//
// What a masked score becomes is the [Fill] policy of the call, and the
// references differ exactly where every key of a query row is masked
// (02-attention §3, §6):
//
//	FillExclude (default)  masked keys get probability 0; a fully masked row outputs zeros, never NaN
//	FillNegInf             PyTorch MHA's −inf: a fully masked row is NaN
//	FillMin                + finfo(f32).min (current HF): fully masked rows are uniform over all keys
//	FillMinus10000         + (−10000) (BLIP-2/InstructBLIP Q-Former in HF and LAVIS, older HF):
//	                       a fully masked row keeps roughly its unmasked distribution
//	FillReplaceMax         masked_fill with −finfo(f32).max (Flamingo): uniform, but the
//	                       masked scores pass no gradient to q and k
//
// The additive policies pass the softmax gradient of a fully masked row to
// q and k, as PyTorch's autograd does, although the float32 forward value
// no longer depends on them; FillReplaceMax and FillExclude do not. On
// rows that keep a key all five agree. Options.KeepRows zeroes whole rows
// (output and gradient), as Flamingo does for text before the first
// image; Options.Bias adds a float mask or position bias (no gradient).
//
// # Modules
//
// [MultiHead] holds the projections: separate (HF BERT query/key/value,
// CLIP q_proj/k_proj/v_proj), query plus fused key/value (open_flamingo
// to_q/to_kv) or fully fused (PyTorch in_proj_weight), each with its
// checkpoint [Names]; [MultiHead.WithNames] converts between them.
// Key/value width may differ from query width (the Q-Former attends to
// 1408-wide image features).
//
//	m.Self(tp, x, cache, o)       self-attention; with a *Cache, incremental decoding
//	m.Memory(tp, ctx)             keys and values of a context, computed once
//	m.Cross(tp, x, mem, o)        cross-attention into a Memory, reusable across passes and steps
//
// A [Cache] appends each step's keys and values (in place without a tape);
// on a tape, gradients flow through cached keys to the pass that made them.
// [Sublayer] wraps a MultiHead with its residual and LayerNorm, post-norm
// (BERT: LN(x + Attn(x))) or pre-norm (CLIP, GPT: x + Attn(LN(x)));
// [FeedForward] does the same for the MLP. The layers:
//
//	NewBERTLayer     post-norm, attention.self.* (LAVIS) or attention.attention.* (HF BLIP-2,
//	                 BLIP2Names), attention.output.*, intermediate.dense, output.*; GELU, eps 1e-12
//	NewBERTAttention the Q-Former's attention and crossattention sub-layers
//	NewBERTFeedForward intermediate{,_query}.dense, output{,_query}.*
//	NewCLIPLayer     pre-norm, layer_norm1, self_attn.{q,k,v,out}_proj, layer_norm2, mlp.fc1/fc2; quick_gelu
//	NewDecoderLayer  pre-norm, causal, OPT keys (self_attn.*, self_attn_layer_norm, fc1, fc2,
//	                 final_layer_norm), optional encoder_attn.* cross-attention (BART, Whisper)
//
// The Perceiver resampler's attention (keys and values from concat(media,
// latents), no biases, no mask) is [Attend] or a MultiHead with
// [FlamingoNames] and Config.NoBias; Flamingo's MaskedCrossAttention is a
// LayerNorm, that MultiHead, a media [NewMask], [FillReplaceMax] and
// Options.KeepRows.
//
// [Additive] is Bahdanau attention with the tutorial's names (encoder_att,
// decoder_att, full_att), ReLU (tutorial) or tanh (paper), returning the
// context and the weights; [Additive.Keys] precomputes encoder_att once
// per image.
//
// # Errors, tapes and concurrency
//
// Module methods and constructors validate shapes and configurations and
// return errors wrapping vlm.ErrShape, vlm.ErrConfig or vlm.ErrInput; the
// functions [ScaledDotProduct] and [Attend] are primitives like vlm.MatMul
// and panic with a *vlm.Error instead. A nil tape is inference: modules
// are only read, so any number of goroutines may share one; a Cache
// belongs to one decoding stream. Probabilities asked for with
// Options.Probs are returned per call, never stored in a module.
//
// Dropout (attention probabilities and hidden) is active only on
// vlm.NewTrainingTape tapes.
package attention
