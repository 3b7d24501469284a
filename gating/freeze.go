package gating

import "github.com/govlm/vlm"

// Parts are the components of a Flamingo model, for freezing them the way
// the references train and for counting their parameters. Any may be nil
// except LM and Gated.
type Parts struct {
	Vision    vlm.Module // the vision encoder (always frozen)
	Resampler vlm.Module // the Perceiver resampler
	LM        vlm.Module // the language model, without the gated blocks
	// Embeddings are the language model's input embeddings, a part of
	// LM. A head tied to them (OPT) follows them.
	Embeddings vlm.Module
	Gated      vlm.Module // the gated cross-attention blocks, e.g. a *Stack
}

// Recipe is a freezing preset.
type Recipe int

const (
	// OpenFlamingo is open_flamingo's factory.py with its default
	// freeze_lm_embeddings=False: everything frozen, then the resampler,
	// the gated blocks and the language model's input embeddings (to
	// learn <image> and <|endofchunk|>) trainable.
	OpenFlamingo Recipe = iota
	// FrozenLM trains only the resampler and the gated blocks:
	// open_flamingo with freeze_lm_embeddings=True, and lucidrains'
	// FlamingoPaLM in flamingo mode (images given).
	FrozenLM
)

// Freeze sets every parameter's Frozen flag as the recipe says and
// returns an ErrConfig error for an unknown recipe or a missing LM or
// Gated part, changing nothing then.
func (p Parts) Freeze(r Recipe) error {
	if r != OpenFlamingo && r != FrozenLM {
		return vlm.Errorf(vlm.ErrConfig, "gating: unknown freezing recipe %d", int(r))
	}
	if p.LM == nil || p.Gated == nil {
		return vlm.Errorf(vlm.ErrConfig, "gating: Parts needs LM and Gated to freeze")
	}
	for _, m := range []vlm.Module{p.Vision, p.LM} {
		if m != nil {
			vlm.Freeze(m, "*")
		}
	}
	for _, m := range []vlm.Module{p.Resampler, p.Gated} {
		if m != nil {
			vlm.Unfreeze(m, "*")
		}
	}
	if r == OpenFlamingo && p.Embeddings != nil {
		vlm.Unfreeze(p.Embeddings, "*")
	}
	return nil
}

// Count is the number of parameter values of one component.
type Count struct {
	Name             string
	Total, Trainable int
}

// Count returns the parameter counts of each non-nil part ("vision",
// "resampler", "lm", "embeddings", "gated"; embeddings are also counted
// in lm) and of the whole model ("total", each parameter once).
func (p Parts) Count() []Count {
	var out []Count
	var all vlm.Modules
	for _, c := range []struct {
		name string
		m    vlm.Module
	}{{"vision", p.Vision}, {"resampler", p.Resampler}, {"lm", p.LM}, {"embeddings", p.Embeddings}, {"gated", p.Gated}} {
		if c.m == nil {
			continue
		}
		total, trainable := vlm.CountParams(c.m)
		out = append(out, Count{Name: c.name, Total: total, Trainable: trainable})
		all = append(all, vlm.NamedModule{Name: c.name, Module: c.m})
	}
	total, trainable := vlm.CountParams(all)
	return append(out, Count{Name: "total", Total: total, Trainable: trainable})
}
