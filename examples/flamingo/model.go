package main

import (
	"github.com/govlm/vlm"
	"github.com/govlm/vlm/gating"
	"github.com/govlm/vlm/lm"
	"github.com/govlm/vlm/resampler"
)

// flamingo is the whole model: the frozen vision encoder (its tokens are
// precomputed per scene), the Perceiver resampler, the frozen language
// model and the gated cross-attention blocks interleaved with its layers.
type flamingo struct {
	vision    *vision
	resampler *resampler.Model
	lm        *lm.Model
	gated     *gating.Stack
	image     int // <image>
}

// parts names the components for freezing and counting.
func (f *flamingo) parts() gating.Parts {
	return gating.Parts{Vision: f.vision, Resampler: f.resampler, LM: f.lm, Embeddings: f.lm.Tokens, Gated: f.gated}
}

// VisitParams lists the trainable modules with OpenFlamingo's checkpoint
// layout: perceiver.*, lang_encoder.model.decoder.layers.{i}.gated_cross_attn_layer.*.
func (f *flamingo) VisitParams(prefix string, visit func(string, *vlm.Param)) {
	f.resampler.VisitParams(prefix+"perceiver.", visit)
	f.gated.VisitParams(prefix+"lang_encoder.model.decoder.layers.", visit)
}

// layers binds the language model's decoder layers to in, whose Cache (if
// any) they read and extend, for one pass through the gated stack.
func (f *flamingo) layers(in *lm.Input) []gating.Layer {
	out := make([]gating.Layer, len(f.lm.Layers))
	for i := range f.lm.Layers {
		out[i] = gating.LayerFunc(func(tp *vlm.Tape, x *vlm.Tensor) (*vlm.Tensor, error) {
			return f.lm.Layer(tp, i, x, in)
		})
	}
	return out
}

// condition resamples the visual tokens feats [B, M, N, D] and conditions
// them into every gated block.
func (f *flamingo) condition(tp *vlm.Tape, feats *vlm.Tensor) (*gating.Media, error) {
	media, err := f.resampler.Forward(tp, feats)
	if err != nil {
		return nil, err
	}
	return f.gated.Condition(tp, media, nil)
}

// logits returns the logits [B, T, V] of right-padded ids [B][T] whose
// <image> tokens go with the media items of feats, in order.
func (f *flamingo) logits(tp *vlm.Tape, ids [][]int, feats *vlm.Tensor) (*vlm.Tensor, error) {
	media, err := f.condition(tp, feats)
	if err != nil {
		return nil, err
	}
	flat := make([]int, 0, len(ids)*len(ids[0]))
	for _, row := range ids {
		flat = append(flat, row...)
	}
	loc, err := gating.Locate(flat, len(ids), len(ids[0]), f.image)
	if err != nil {
		return nil, err
	}
	in := &lm.Input{IDs: ids}
	h, err := f.lm.Embed(tp, in)
	if err != nil {
		return nil, err
	}
	if h, err = f.gated.Forward(tp, h, f.layers(in), media, loc.TextTime()); err != nil {
		return nil, err
	}
	return f.lm.Logits(tp, h)
}

// generate continues prompt, whose <image> tokens go with the media
// items of feats [1, M, N, D], greedily until stop or <image> or max
// tokens, with the language model's KV cache and the media conditioned
// once: each new token attends to the last image (open_flamingo's
// use_cached_media).
func (f *flamingo) generate(prompt []int, feats *vlm.Tensor, stop, maxNew int) ([]int, error) {
	media, err := f.condition(nil, feats)
	if err != nil {
		return nil, err
	}
	loc, err := gating.Locate(prompt, 1, len(prompt), f.image)
	if err != nil {
		return nil, err
	}
	cache := f.lm.NewCache()
	step, tt := prompt, loc.TextTime()
	var out []int
	for range maxNew {
		in := &lm.Input{IDs: [][]int{step}, Cache: cache}
		h, err := f.lm.Embed(nil, in)
		if err != nil {
			return nil, err
		}
		if h, err = f.gated.Forward(nil, h, f.layers(in), media, tt); err != nil {
			return nil, err
		}
		logits, err := f.lm.Logits(nil, vlm.Slice(nil, h, 1, len(step)-1, len(step)))
		if err != nil {
			return nil, err
		}
		tok := argmax(logits.Data)
		if tok == stop || tok == f.image {
			break
		}
		out = append(out, tok)
		step, tt = []int{tok}, loc.Cached(1)
	}
	return out, nil
}
