package qformer

import (
	"fmt"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/attention"
)

// Mode is the self-attention masking of a pass over queries and text,
// one per BLIP-2 pre-training objective (paper Fig. 2). Padded text keys
// are masked in every mode.
//
// Q=2 queries, T=3 text tokens, the last one padding (1 = may attend):
//
//	Unimodal (ITC)   Bidirectional (ITM)   MultimodalCausal (ITG)
//	11000            11110                 11000
//	11000            11110                 11000
//	00110            11110                 11100
//	00110            11110                 11110
//	00110            11110                 11110
type Mode int

const (
	// Unimodal lets queries see queries and text see text, never each
	// other (image-text contrastive learning). LAVIS runs it as two
	// separate passes; one pass under this mask gives the same numbers.
	Unimodal Mode = iota
	// Bidirectional lets every row see every query and text token
	// (image-text matching, and InstructBLIP's instruction-aware queries).
	Bidirectional
	// MultimodalCausal lets queries see queries, and text see all queries
	// and the text up to itself (image-grounded text generation, UniLM's
	// sequence-to-sequence mask; LAVIS get_extended_attention_mask with
	// is_decoder and has_query).
	MultimodalCausal
)

var modeNames = [...]string{"Unimodal", "Bidirectional", "MultimodalCausal"}

// String returns the mode's Go name, such as "MultimodalCausal".
func (m Mode) String() string {
	if !m.Valid() {
		return fmt.Sprintf("Mode(%d)", int(m))
	}
	return modeNames[m]
}

// Valid reports whether m is one of the defined modes.
func (m Mode) Valid() bool { return m >= 0 && int(m) < len(modeNames) }

// Mask returns the self-attention keep-mask [B, 1, Q+T, Q+T] of mode for
// q query rows followed by the text rows of the 0/1 padding mask
// textMask [B, T] (1 = a real token; HF attention_mask). Query rows come
// first and the keys are in the same order as the rows.
func Mask(mode Mode, q int, textMask *vlm.Tensor) (m *attention.Mask, err error) {
	defer vlm.Recover(&err)
	if !mode.Valid() {
		return nil, vlm.Errorf(vlm.ErrConfig, "qformer.Mask: unknown mode %d", int(mode))
	}
	if err := vlm.CheckShape("qformer.Mask text mask", textMask, -1, -1); err != nil {
		return nil, err
	}
	if q < 0 || q+textMask.Shape[1] == 0 || textMask.Shape[0] == 0 {
		return nil, vlm.Errorf(vlm.ErrShape, "qformer.Mask: %d queries and text mask %v", q, textMask.Shape)
	}
	b, t := textMask.Shape[0], textMask.Shape[1]
	s := seq{b: b, queries: q, rows: q + t, keep: keyFlags(b, nil, 0, q, t, textMask)}
	return s.mask(mode), nil
}

// seq describes the rows of one pass and the keys they attend: the keys
// are the past cached positions (pastQueries of them queries, the rest
// text) followed by the pass's own rows, first its queries query rows,
// then its text rows. keep holds a 0/1 flag per key, [B, past + rows]
// (0 = padding), or is nil when every key is kept.
type seq struct {
	b           int
	past        int
	pastQueries int
	queries     int // query rows of this pass
	rows        int // queries + text rows of this pass
	keep        []float32
}

// keyFlags returns the key flags [B, npast + q + t] of a pass: the
// cached flags past [B, npast] (all ones if nil), 1 for each of q
// queries, then the text mask [B, t] (all ones if nil). It returns nil
// when every flag is 1.
func keyFlags(b int, past []float32, npast, q, t int, textMask *vlm.Tensor) []float32 {
	keys := npast + q + t
	flags := make([]float32, b*keys)
	all := true
	for bi := range b {
		row := flags[bi*keys : (bi+1)*keys]
		for j := range row {
			row[j] = 1
		}
		if past != nil {
			copy(row, past[bi*npast:(bi+1)*npast])
		}
		if textMask != nil {
			copy(row[npast+q:], textMask.Data[bi*t:(bi+1)*t])
		}
		for _, f := range row {
			all = all && f != 0
		}
	}
	if all {
		return nil
	}
	return flags
}

// mask returns the [B, 1, rows, past+rows] keep-mask of mode, or nil when
// it keeps everything.
func (s seq) mask(mode Mode) *attention.Mask {
	keys := s.past + s.rows
	nq := s.pastQueries + s.queries // query keys; queries always come before text
	if s.past > 0 && s.queries > 0 {
		vlm.Panicf(vlm.ErrConfig, "qformer: query rows after %d cached positions", s.past)
	}
	if s.keep == nil && (mode == Bidirectional || nq == keys || mode == Unimodal && nq == 0) {
		return nil
	}
	return attention.NewMask(s.b, 1, s.rows, keys, func(b, _, i, j int) bool {
		if s.keep != nil && s.keep[b*keys+j] == 0 {
			return false
		}
		row := s.past + i // position of the row among the keys
		switch mode {
		case Unimodal:
			return (row < nq) == (j < nq)
		case MultimodalCausal:
			if row < nq {
				return j < nq
			}
			return j < nq || j <= row
		}
		return true
	})
}
