package qformer

import (
	"github.com/govlm/vlm"
	"github.com/govlm/vlm/attention"
)

// Input describes one pass of the Q-Former: the learned queries, text,
// or both (queries first), under a masking [Mode].
type Input struct {
	// Queries adds the Q learned query tokens as the first rows. Query
	// rows cross-attend to the image and use the query FFN.
	Queries bool
	// IDs are the token ids of B texts of equal length T ([CLS] first,
	// padded with PadID; see [Pad]), or nil for a pass without text.
	// Text rows use the text FFN and never see the image directly.
	IDs [][]int
	// TextMask [B, T] is HF's attention_mask for the text (1 = a real
	// token, 0 = padding), or nil when no token is padding.
	TextMask *vlm.Tensor
	// Mode is the self-attention masking (default Unimodal).
	Mode Mode
	// Memory holds the image's cross-attention keys and values
	// ([Model.Memory]). A pass with queries needs it, or Image.
	Memory *Memory
	// Image [B, N, VisionDim] and ImageMask [B, N] (nil = no padding) are
	// the image features, projected by this pass when Memory is nil.
	Image, ImageMask *vlm.Tensor
	// Cache, if non-nil, makes the pass attend to the positions cached in
	// it and appends its own keys and values ([Cache]). A pass with a
	// cache is a query-only pass into an empty cache, or runs in
	// MultimodalCausal mode (text after cached queries: ITG, generation).
	Cache *Cache
	// SelfProbs and CrossProbs, if non-nil, receive the self-attention
	// probabilities of every layer [B, H, rows, keys] and the
	// cross-attention probabilities of every cross-attention layer
	// [B, H, Q, N] (HF output_attentions: attentions, cross_attentions).
	SelfProbs, CrossProbs *attention.Probs
}

// Output is the last hidden state of a pass, split into its query rows
// and its text rows.
type Output struct {
	Query *vlm.Tensor // [B, Q, D], nil without queries
	Text  *vlm.Tensor // [B, T, D], nil without text
}

// Hidden returns HF's last_hidden_state [B, Q+T, D], query rows first.
func (o *Output) Hidden(tp *vlm.Tape) *vlm.Tensor {
	switch {
	case o.Query == nil:
		return o.Text
	case o.Text == nil:
		return o.Query
	}
	return vlm.Concat(tp, 1, o.Query, o.Text)
}

// Pad lays texts of any lengths out as ids [B][T] (T the longest
// length), filling with pad, and returns them with the 0/1 mask [B, T]
// (HF's padding="longest").
func Pad(texts [][]int, pad int) (ids [][]int, mask *vlm.Tensor) {
	t := 0
	for _, s := range texts {
		t = max(t, len(s))
	}
	ids = make([][]int, len(texts))
	mask = vlm.Zeros(len(texts), t)
	for b, s := range texts {
		ids[b] = make([]int, t)
		for j := range t {
			ids[b][j] = pad
			if j < len(s) {
				ids[b][j] = s[j]
				mask.Data[b*t+j] = 1
			}
		}
	}
	return ids, mask
}

// Forward runs one pass (LAVIS BertModel.forward, HF Blip2QFormerModel /
// InstructBlipQFormerModel): queries and the text embeddings (word +
// position, positions counting text only) go through the embeddings
// LayerNorm, then every layer applies self-attention over all rows under
// the mode's mask (padded text keys masked, −10000 fill), cross-attention
// of the query rows into the image, and the query FFN to query rows and
// the text FFN to text rows.
func (m *Model) Forward(tp *vlm.Tape, in Input) (out *Output, err error) {
	defer vlm.Recover(&err)
	p, err := m.prepare(&in)
	if err != nil {
		return nil, err
	}
	if in.Queries && p.mem == nil {
		if p.mem, err = m.Memory(tp, in.Image, in.ImageMask); err != nil {
			return nil, err
		}
		if p.b >= 0 && p.mem.b != p.b {
			return nil, vlm.Errorf(vlm.ErrShape, "qformer: %d images for %d texts", p.mem.b, p.b)
		}
		p.b = p.mem.b
		// The keys and values of this call's memory die with it.
		defer p.mem.release(tp)
	}
	return m.forward(tp, &in, p), nil
}

// pass holds what prepare derived from a validated Input.
type pass struct {
	b, t int
	ids  []int // [B·T]
	mem  *Memory
}

func (m *Model) prepare(in *Input) (p pass, err error) {
	c := m.Config
	if !in.Mode.Valid() {
		return p, vlm.Errorf(vlm.ErrConfig, "qformer: unknown mode %d", int(in.Mode))
	}
	if !in.Queries && in.IDs == nil {
		return p, vlm.Errorf(vlm.ErrInput, "qformer: a pass needs queries, text or both")
	}
	p.b = -1
	if in.IDs != nil {
		if m.Word == nil {
			return p, vlm.Errorf(vlm.ErrConfig, "qformer: text given to a model without text side (Vocab 0)")
		}
		p.b = len(in.IDs)
		if p.b == 0 || len(in.IDs[0]) == 0 {
			return p, vlm.Errorf(vlm.ErrShape, "qformer: empty text ids")
		}
		p.t = len(in.IDs[0])
		p.ids = make([]int, 0, p.b*p.t)
		for i, s := range in.IDs {
			if len(s) != p.t {
				return p, vlm.Errorf(vlm.ErrShape, "qformer: text %d has %d ids, text 0 has %d (pad them, see qformer.Pad)", i, len(s), p.t)
			}
			p.ids = append(p.ids, s...)
		}
		if err := m.Word.CheckIDs("qformer text ids", p.ids); err != nil {
			return p, err
		}
		if in.TextMask != nil {
			if err := checkMask("qformer text mask", in.TextMask, p.b, p.t); err != nil {
				return p, err
			}
		}
	} else if in.TextMask != nil {
		return p, vlm.Errorf(vlm.ErrInput, "qformer: text mask without text ids")
	}
	if in.Queries {
		switch {
		case in.Memory != nil && in.Image != nil:
			return p, vlm.Errorf(vlm.ErrInput, "qformer: both Memory and Image given")
		case in.Memory != nil:
			p.mem = in.Memory
			if len(p.mem.k) != len(m.Layers) {
				return p, vlm.Errorf(vlm.ErrShape, "qformer: memory of %d layers for a model of %d", len(p.mem.k), len(m.Layers))
			}
			if p.b >= 0 && p.mem.b != p.b {
				return p, vlm.Errorf(vlm.ErrShape, "qformer: %d images for %d texts", p.mem.b, p.b)
			}
			p.b = p.mem.b
		case in.Image == nil:
			return p, vlm.Errorf(vlm.ErrInput, "qformer: a pass with queries needs the image (Memory or Image)")
		}
	} else if in.Memory != nil || in.Image != nil {
		return p, vlm.Errorf(vlm.ErrInput, "qformer: image given to a pass without queries (text never sees the image directly)")
	}
	start := 0
	if cc := in.Cache; cc != nil {
		if cc.n > 0 {
			if in.Queries || in.Mode != MultimodalCausal || cc.b != p.b {
				return p, vlm.Errorf(vlm.ErrInput, "qformer: a pass after %d cached positions of batch %d must be text only in MultimodalCausal mode, got queries %v, mode %v, batch %d", cc.n, cc.b, in.Queries, in.Mode, p.b)
			}
		} else if in.IDs != nil && in.Mode != MultimodalCausal {
			return p, vlm.Errorf(vlm.ErrInput, "qformer: a pass with text into a cache must be MultimodalCausal, got %v", in.Mode)
		}
		start = cc.n - cc.queries
	}
	if p.t > 0 && start+p.t > c.MaxPositions {
		return p, vlm.Errorf(vlm.ErrShape, "qformer: text positions up to %d exceed max_position_embeddings %d", start+p.t, c.MaxPositions)
	}
	return p, nil
}

func (m *Model) forward(tp *vlm.Tape, in *Input, p pass) *Output {
	c := m.Config
	b, t := p.b, p.t
	nq := 0
	if in.Queries {
		nq = c.Queries
	}
	s := seq{b: b, queries: nq, rows: nq + t}
	var past []float32
	if cc := in.Cache; cc != nil {
		if cc.layers == nil {
			cc.layers = make([]attention.Cache, len(m.Layers))
		}
		s.past, s.pastQueries, past = cc.n, cc.queries, cc.keep
	}
	s.keep = keyFlags(b, past, s.past, nq, t, in.TextMask)

	var hq, ht *vlm.Tensor
	if nq > 0 {
		q := vlm.Gather(tp, tp.Param(m.QueryTokens), 0, make([]int, b))
		hq = vlm.Dropout(tp, m.Norm.Forward(tp, q), c.Dropout)
	}
	if t > 0 {
		pos := make([]int, t)
		for i := range pos {
			pos[i] = s.past - s.pastQueries + i
		}
		w := vlm.Reshape(tp, m.Word.Forward(tp, p.ids), b, t, c.Dim)
		e := vlm.Add(tp, w, m.Position.Forward(tp, pos))
		ht = vlm.Dropout(tp, m.Norm.Forward(tp, e), c.Dropout)
	}
	so := &attention.Options{Mask: s.mask(in.Mode), Fill: attention.FillMinus10000, Probs: in.SelfProbs}
	for i, l := range m.Layers {
		h := hq
		switch {
		case hq == nil:
			h = ht
		case ht != nil:
			h = vlm.Concat(tp, 1, hq, ht)
		}
		var cache *attention.Cache
		if in.Cache != nil {
			cache = &in.Cache.layers[i]
		}
		a := must(l.Attention.Self(tp, h, cache, so))
		aq, at := a, a
		if nq > 0 && t > 0 {
			parts := vlm.Split(tp, a, 1, nq, t)
			aq, at = parts[0], parts[1]
		}
		if nq > 0 {
			if l.CrossAttention != nil {
				aq = l.cross(tp, aq, p.mem, i, in.CrossProbs)
			}
			hq = must(l.QueryFFN.Forward(tp, aq))
		}
		if t > 0 {
			ht = must(l.FFN.Forward(tp, at))
		}
	}
	if cc := in.Cache; cc != nil {
		cc.keep = s.keep
		cc.b, cc.n, cc.queries = b, s.past+s.rows, s.pastQueries+nq
	}
	return &Output{Query: hq, Text: ht}
}

// must returns v or panics with err, a *vlm.Error from a callee whose
// inputs this package validated (recovered by the entry point).
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
