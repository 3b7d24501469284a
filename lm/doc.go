// Package lm is a small decoder-only language model built from the
// attention package's decoder layers: the language model that LLaVA feeds
// projected images into and that Flamingo freezes and wraps with gated
// cross-attention.
//
// # The model
//
// [Model] is HF transformers' OPTForCausalLM (Zhang et al. 2022, "OPT:
// Open Pre-trained Transformer Language Models") with its state_dict
// keys, so an OPT checkpoint of matching size loads with vlm.LoadWeights:
//
//	h = embed_tokens(ids) (or inputs_embeds) + embed_positions(positions + 2)
//	h = layer_i(h)        pre-norm: h + Attn(LN(h)) causal, then h + FC2(act(FC1(LN(h))))
//	logits = lm_head(final_layer_norm(h))                   lm_head tied to embed_tokens by default
//
// Every piece matches a plain-PyTorch re-implementation of modeling_opt.py
// to float32 precision, forward and backward (testdata/gen/lm.py).
//
// # Reference differences and choices
//
//   - Positions. OPT's learned position table keeps two unused rows at the
//     start (OPTLearnedPositionalEmbedding's offset of 2, from fairseq);
//     [PositionOffset] keeps that layout so checkpoints load unchanged.
//     Position ids are counted from 0 and derived from the attention mask
//     as OPT does (the count of real tokens before each one), so a
//     left-padded sample starts at 0 after its padding. OPT gives padding
//     position −1 (row 1); here padding gets position 0, as LLaVA's
//     prepare_inputs_labels_for_multimodal does. Padding rows never
//     influence real ones, so only their own, meaningless, outputs differ.
//   - Masking. A padding query whose every key is padding (the first
//     positions of a left-padded row) attends to nothing
//     (attention.FillExclude) where OPT's finfo.min mask makes it attend
//     uniformly; on every real position the two agree exactly.
//   - Input embeddings. [Input].Embeds replaces the token lookup, as HF's
//     inputs_embeds: projector.Splice builds them with images in place of
//     placeholders, and [Model.EmbedTokens] is the lookup it uses for the
//     text. Only the width D must match.
//   - The loss. [Model.Loss] takes labels aligned with the input and
//     shifts them inside, like HF: the logits at t predict the label at
//     t+1; -100 (vlm.IgnoreIndex) is ignored. An input with no real label
//     has loss 0 (PyTorch gives NaN).
//   - Not implemented: OPT-350m's post-norm layout and its
//     project_in/project_out (word_embed_proj_dim != hidden_size).
//
// # Running the layers yourself
//
// A forward pass is three exported steps, so that another block can run
// between the layers without this package knowing it (Flamingo puts a
// gated cross-attention block before each layer):
//
//	h, err := m.Embed(tp, in)               // [B, T, D]
//	for i := range m.Layers {
//		h, err = m.Layer(tp, i, h, in)      // with in's padding mask and cache
//	}
//	logits, err := m.Logits(tp, h)          // [B, T, V]
//
// [Model.Forward] is exactly that.
//
// # Generation
//
// [Model.Generate] continues a batch of prompts: token ids or input
// embeddings, left-padded ([LeftPad] pads ids), so that the last position
// of every row is the sample's last token. It decodes greedily or samples
// with a temperature, top-k and top-p (HF's warpers, in that order) from a
// seeded generator, stops a sample at a stop token, calls an optional hook
// after each step, and honours a context.Context. It uses a KV cache
// ([Cache], one attention.Cache per layer, with Select for beam search);
// GenerateOptions.NoCache recomputes the whole sequence at every step
// instead, and gives the same tokens (tested token for token). A batch
// generated together gives what each prompt gives alone under greedy
// decoding (tested); when sampling, one generator draws for the samples in
// batch order, so a sample's draws depend on its place in the batch.
//
// # Training
//
// Any tape works: vlm.NewTrainingTape enables the dropouts of [Config].
// Frozen parameters (vlm.Freeze(m, "*"), LLaVA's stage 1) get no gradient
// but pass it on to the input embeddings, and so to a projector. The tied
// head shares the token table's parameter: freezing either name freezes
// both.
//
// # Errors and concurrency
//
// Entry points validate their inputs (ragged rows, ids outside the
// vocabulary, masks and positions of the wrong length, positions beyond
// MaxPositions, non-finite embeddings, a cache of another model) and
// return errors wrapping vlm.ErrShape, vlm.ErrInput or vlm.ErrConfig. With
// a nil tape a Model is only read: any number of goroutines may share it,
// each with its own [Cache].
package lm
