package gating

import (
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/govlm/vlm"
)

// Layer is one decoder layer of the frozen language model that a [Stack]
// interleaves gated blocks with, bound to the state of one forward pass
// (its KV cache, its padding mask): it maps hidden states x [B, T, D] to
// [B, T, D]. Any layer satisfies it through [LayerFunc].
type Layer interface {
	Forward(tp *vlm.Tape, x *vlm.Tensor) (*vlm.Tensor, error)
}

// LayerFunc adapts a function to [Layer]:
//
//	gating.LayerFunc(func(tp *vlm.Tape, x *vlm.Tensor) (*vlm.Tensor, error) {
//		return l.Forward(tp, x, caches[i], padding, nil, nil) // an attention.DecoderLayer
//	})
type LayerFunc func(tp *vlm.Tape, x *vlm.Tensor) (*vlm.Tensor, error)

// Forward calls f.
func (f LayerFunc) Forward(tp *vlm.Tape, x *vlm.Tensor) (*vlm.Tensor, error) { return f(tp, x) }

// Placement is where gated blocks go among the language model's layers,
// after one of the two references.
type Placement int

const (
	// Before is open_flamingo's FlamingoLayer: layer i gets a block when
	// (i+1) % every == 0 (layers every−1, 2·every−1, …), and the block
	// runs before the decoder layer.
	Before Placement = iota
	// After is lucidrains' FlamingoPaLM: layer i gets a block when
	// i % every == 0 (layers 0, every, 2·every, …), and the block runs
	// after the decoder layer.
	After
)

// String returns "before" or "after".
func (p Placement) String() string {
	switch p {
	case Before:
		return "before"
	case After:
		return "after"
	}
	return "Placement(" + strconv.Itoa(int(p)) + ")"
}

// Has reports whether layer i gets a gated block when every every-th
// layer has one.
func (p Placement) Has(i, every int) bool {
	if p == Before {
		return (i+1)%every == 0
	}
	return i%every == 0
}

// Stack holds the gated blocks of a Flamingo language model and runs
// them interleaved with the frozen model's layers (open_flamingo's
// FlamingoLMMixin). Blocks has one entry per language-model layer, nil
// where the layer has no block. Keys are open_flamingo's, relative to the
// language model's decoder-layer list: {i}.gated_cross_attn_layer.*
// ([Block]); an OpenFlamingo checkpoint of an OPT model loads with
// vlm.LoadOptions{Prefix: "lang_encoder.model.decoder.layers."} (MPT:
// "lang_encoder.transformer.blocks."), lucidrains' with
// [LucidrainsRename].
type Stack struct {
	Blocks    []*Block
	Placement Placement
}

// NewStack returns the gated blocks for a language model of n layers,
// every every-th layer getting one as p says; c sizes each block (c.Dim
// is the model's hidden size). Released OpenFlamingo models use every =
// 1 (MPT-1B), 2 (RedPajama-3B) and 4 (MPT-7B); FlamingoPaLM defaults to
// 3. A nil rng means vlm.NewRand(0).
func NewStack(rng *rand.Rand, c Config, n, every int, p Placement) (*Stack, error) {
	if n < 1 || every < 1 || (p != Before && p != After) {
		return nil, vlm.Errorf(vlm.ErrConfig, "gating: stack of %d layers, a block every %d, placement %v", n, every, p)
	}
	if rng == nil {
		rng = vlm.NewRand(0)
	}
	s := &Stack{Blocks: make([]*Block, n), Placement: p}
	for i := range n {
		if !p.Has(i, every) {
			continue
		}
		b, err := NewBlock(rng, c)
		if err != nil {
			return nil, err
		}
		s.Blocks[i] = b
	}
	return s, nil
}

// VisitParams implements vlm.Module with keys {i}.gated_cross_attn_layer.*.
func (s *Stack) VisitParams(prefix string, visit func(string, *vlm.Param)) {
	for i, b := range s.Blocks {
		if b != nil {
			b.VisitParams(prefix+strconv.Itoa(i)+".gated_cross_attn_layer.", visit)
		}
	}
}

// LucidrainsRename maps a key of lucidrains' FlamingoPaLM to a [Stack]
// key, for vlm.LoadOptions.Rename: layers.{i}.1.* (the gated block of
// layer i) becomes {i}.gated_cross_attn_layer.*; other keys are returned
// unchanged (ignore them with LoadOptions.Ignore, e.g. "layers.*",
// "token_emb.*", "perceiver_resampler.*", or load them into other
// modules).
func LucidrainsRename(key string) string {
	rest, ok := strings.CutPrefix(key, "layers.")
	if !ok {
		return key
	}
	i, rest, ok := strings.Cut(rest, ".")
	if _, err := strconv.Atoi(i); !ok || err != nil {
		return key
	}
	if rest, ok = strings.CutPrefix(rest, "1."); !ok {
		return key
	}
	return i + ".gated_cross_attn_layer." + rest
}

// Gates returns tanh(attn_gate) and tanh(ff_gate) of every block, in
// layer order ([Stack.Layers] gives the layer indices).
func (s *Stack) Gates() (attn, ff []float64) {
	for _, b := range s.Blocks {
		if b != nil {
			a, f := b.Gates()
			attn, ff = append(attn, a), append(ff, f)
		}
	}
	return attn, ff
}

// Layers returns the indices of the layers that have a block.
func (s *Stack) Layers() []int {
	var out []int
	for i, b := range s.Blocks {
		if b != nil {
			out = append(out, i)
		}
	}
	return out
}

// Media is media conditioned into every block of a [Stack] (one
// [Memory] per block): made once per batch of images by
// [Stack.Condition], it serves the prompt pass and every generation step.
type Media struct {
	mems []*Memory
}

// Condition projects media [B, M, N, Dv] (the resampler's output) to the
// keys and values of every block; real [B, M] marks the real media slots
// (nil: all), see [CrossAttention.Memory].
func (s *Stack) Condition(tp *vlm.Tape, media *vlm.Tensor, real []bool) (*Media, error) {
	c := &Media{mems: make([]*Memory, len(s.Blocks))}
	for i, b := range s.Blocks {
		if b == nil {
			continue
		}
		mem, err := b.Memory(tp, media, real)
		if err != nil {
			return nil, err
		}
		c.mems[i] = mem
	}
	return c, nil
}

// Forward runs the language model's layers on hidden states x [B, T, D]
// with the gated blocks interleaved as s.Placement says, and returns
// [B, T, D]. layers must have one entry per block slot. tt is the text
// time of x ([Locations.TextTime] for a prompt, [Locations.Cached] for
// the new tokens of a generation step, nil for no media locations).
// With nil media the blocks are skipped: the frozen model alone
// (lucidrains' text-only mode).
func (s *Stack) Forward(tp *vlm.Tape, x *vlm.Tensor, layers []Layer, media *Media, tt *TextTime) (y *vlm.Tensor, err error) {
	defer vlm.Recover(&err)
	if len(layers) != len(s.Blocks) {
		return nil, vlm.Errorf(vlm.ErrConfig, "gating: %d language-model layers for a stack of %d", len(layers), len(s.Blocks))
	}
	if media != nil {
		if len(media.mems) != len(s.Blocks) {
			return nil, vlm.Errorf(vlm.ErrInput, "gating: media conditioned for %d layers, stack has %d", len(media.mems), len(s.Blocks))
		}
		for i, b := range s.Blocks {
			if b == nil {
				continue
			}
			if err := b.Attn.check(x, media.mems[i], tt); err != nil {
				return nil, err
			}
		}
	}
	for i, l := range layers {
		b := s.Blocks[i]
		if b != nil && media != nil && s.Placement == Before {
			x = b.forward(tp, x, media.mems[i], tt)
		}
		if x, err = l.Forward(tp, x); err != nil {
			return nil, err
		}
		if b != nil && media != nil && s.Placement == After {
			x = b.forward(tp, x, media.mems[i], tt)
		}
	}
	return x, nil
}
