package attention

import (
	"fmt"
	"strings"

	"github.com/govlm/vlm"
)

// Mask is a boolean keep-mask over attention scores: Keep holds one flag
// per entry of Shape = [B, H, Tq, Tk] in row-major order, true where query
// i of batch entry b and head h may attend key j. An axis of size 1
// broadcasts: a key-padding mask is [B, 1, 1, Tk], a causal mask
// [1, 1, Tq, Tk]. A nil *Mask keeps everything.
//
// This is the convention of HF attention_mask (1 = attend) and of
// F.scaled_dot_product_attention, and the opposite of the boolean masks of
// torch.nn.MultiheadAttention (True = ignore). What happens to a masked
// score is decided by the [Fill] of the call, not by the mask.
type Mask struct {
	Shape [4]int
	Keep  []bool
}

// NewMask returns the mask of shape [b, h, tq, tk] with Keep[b, h, i, j] =
// keep(b, h, i, j). Use size 1 for an axis the mask does not depend on.
// Flamingo's media mask, for example, is
//
//	NewMask(B, 1, T, M*N, func(b, _, i, j int) bool { return textTime[b][i] == j/N+1 })
func NewMask(b, h, tq, tk int, keep func(b, h, i, j int) bool) *Mask {
	for _, d := range []int{b, h, tq, tk} {
		if d < 1 {
			vlm.Panicf(vlm.ErrShape, "attention.NewMask: shape [%d %d %d %d]", b, h, tq, tk)
		}
	}
	m := &Mask{Shape: [4]int{b, h, tq, tk}, Keep: make([]bool, b*h*tq*tk)}
	n := 0
	for bi := range b {
		for hi := range h {
			for i := range tq {
				for j := range tk {
					m.Keep[n] = keep(bi, hi, i, j)
					n++
				}
			}
		}
	}
	return m
}

// Causal returns the [1, 1, tq, tk] mask of autoregressive attention in
// which the tq queries are the last tq positions of the tk keys: query i
// keeps key j if j <= i + tk - tq. With tq == tk it is the lower
// triangle; with a cache of p earlier positions (tk = p + tq) query i sits
// at position p + i.
func Causal(tq, tk int) *Mask { return PrefixCausal(0, tq, tk) }

// PrefixCausal returns the [1, 1, tq, tk] mask in which the first prefix
// keys are visible to every query and the rest causally (UniLM's
// sequence-to-sequence mask, prefix LMs, the Q-Former's ITG mask with
// prefix = number of queries). Queries are the last tq of the tk
// positions, as in [Causal]; a query inside the prefix sees the prefix
// only. Query i keeps key j if j < prefix or j <= i + tk - tq.
//
// BLIP-2's ITG mask with 2 queries and 3 text tokens is PrefixCausal(2, 5,
// 5) (all rows) or PrefixCausal(2, 3, 5) (text rows over cached query
// keys):
//
//	11000
//	11000
//	11100
//	11110
//	11111
func PrefixCausal(prefix, tq, tk int) *Mask {
	off := tk - tq
	return NewMask(1, 1, tq, tk, func(_, _, i, j int) bool { return j < prefix || j <= i+off })
}

// Side says where padding sits in a sequence.
type Side int

const (
	// Right padding: the valid tokens come first (BERT, training batches).
	Right Side = iota
	// Left padding: the valid tokens come last (decoder LMs when
	// generating a batch, OpenFlamingo's tokenizer).
	Left
)

// Lengths returns the [B, 1, 1, tk] key-padding mask of sequences of the
// given lengths padded to tk on the given side.
func Lengths(lengths []int, tk int, side Side) *Mask {
	for b, n := range lengths {
		if n < 0 || n > tk {
			vlm.Panicf(vlm.ErrShape, "attention.Lengths: length %d of sequence %d outside [0, %d]", n, b, tk)
		}
	}
	return NewMask(len(lengths), 1, 1, tk, func(b, _, _, j int) bool {
		if side == Left {
			return j >= tk-lengths[b]
		}
		return j < lengths[b]
	})
}

// Padding returns the [B, 1, 1, Tk] key-padding mask of a 0/1
// attention_mask keep [B, Tk] (HF convention: non-zero = a real token).
func Padding(keep *vlm.Tensor) *Mask {
	if keep.Rank() != 2 {
		vlm.Panicf(vlm.ErrShape, "attention.Padding: mask shape %v, want [B, Tk]", keep.Shape)
	}
	tk := keep.Shape[1]
	return NewMask(keep.Shape[0], 1, 1, tk, func(b, _, _, j int) bool { return keep.Data[b*tk+j] != 0 })
}

// Rows returns the [B, 1, Tq, 1] mask that keeps query i of batch entry
// b if keep[b, i] is non-zero ([Options.KeepRows]).
func Rows(keep *vlm.Tensor) *Mask {
	if keep.Rank() != 2 {
		vlm.Panicf(vlm.ErrShape, "attention.Rows: mask shape %v, want [B, Tq]", keep.Shape)
	}
	tq := keep.Shape[1]
	return NewMask(keep.Shape[0], 1, tq, 1, func(b, _, i, _ int) bool { return keep.Data[b*tq+i] != 0 })
}

// At reports whether entry (b, h, i, j) is kept, broadcasting axes of
// size 1. A nil mask keeps everything.
func (m *Mask) At(b, h, i, j int) bool {
	if m == nil {
		return true
	}
	return m.Keep[m.offset(b, h, i)+pick(j, m.Shape[3])]
}

func pick(i, n int) int {
	if n == 1 {
		return 0
	}
	return i
}

// offset returns the index of the row (b, h, i).
func (m *Mask) offset(b, h, i int) int {
	s := m.Shape
	return ((pick(b, s[0])*s[1]+pick(h, s[1]))*s[2] + pick(i, s[2])) * s[3]
}

// And returns the mask that keeps what both m and o keep, of the
// broadcast shape. A nil operand keeps everything, so m.And(nil) is m.
func (m *Mask) And(o *Mask) *Mask {
	if m == nil {
		return o
	}
	if o == nil {
		return m
	}
	var s [4]int
	for ax := range 4 {
		a, b := m.Shape[ax], o.Shape[ax]
		switch {
		case a == b || b == 1:
			s[ax] = a
		case a == 1:
			s[ax] = b
		default:
			vlm.Panicf(vlm.ErrShape, "attention.Mask.And: shapes %v and %v do not broadcast", m.Shape, o.Shape)
		}
	}
	return NewMask(s[0], s[1], s[2], s[3], func(b, h, i, j int) bool { return m.At(b, h, i, j) && o.At(b, h, i, j) })
}

// Tensor returns the mask as 0/1 values of shape Shape.
func (m *Mask) Tensor() *vlm.Tensor {
	t := vlm.Zeros(m.Shape[:]...)
	for i, k := range m.Keep {
		if k {
			t.Data[i] = 1
		}
	}
	return t
}

// String draws the Tq×Tk matrix of every (b, h) as rows of 0 and 1.
func (m *Mask) String() string {
	if m == nil {
		return "<keep all>"
	}
	var sb strings.Builder
	for b := range m.Shape[0] {
		for h := range m.Shape[1] {
			if m.Shape[0]*m.Shape[1] > 1 {
				fmt.Fprintf(&sb, "[%d %d]\n", b, h)
			}
			for i := range m.Shape[2] {
				for j := range m.Shape[3] {
					if m.At(b, h, i, j) {
						sb.WriteByte('1')
					} else {
						sb.WriteByte('0')
					}
				}
				sb.WriteByte('\n')
			}
		}
	}
	return sb.String()
}

// fits reports whether m broadcasts to [b, h, tq, tk].
func (m *Mask) fits(b, h, tq, tk int) bool {
	want := [4]int{b, h, tq, tk}
	for ax, d := range m.Shape {
		if d != 1 && d != want[ax] {
			return false
		}
	}
	return len(m.Keep) == m.Shape[0]*m.Shape[1]*m.Shape[2]*m.Shape[3]
}

// Fill says what a masked score becomes, and so what a query row whose
// every key is masked returns. The references differ (02-attention §6):
//
//	Fill            masked score          fully masked row             gradient of masked scores
//	FillExclude     left out exactly      zeros (default, never NaN)   none
//	FillNegInf      −∞ (PyTorch MHA)      NaN                          none
//	FillMin         + finfo(f32).min      uniform over all keys        passes (additive)
//	FillMinus10000  + (−10000)            ≈ the unmasked softmax       passes (additive)
//	FillReplaceMax  := −finfo(f32).max    uniform over all keys        none (masked_fill)
//
// On rows that keep at least one key all five give the same
// probabilities (exp of a score 10⁴ below the maximum is 0 in float32).
// FillMin is current HF transformers (get_extended_attention_mask,
// invert_attention_mask); FillMinus10000 the BLIP-2 and InstructBLIP
// Q-Former self-attention (HF and LAVIS); FillReplaceMax Flamingo's
// MaskedCrossAttention, whose fully masked rows pass gradient to V only.
type Fill int

// The fill policies; see [Fill].
const (
	FillExclude Fill = iota
	FillNegInf
	FillMin
	FillMinus10000
	FillReplaceMax
)

var fillNames = [...]string{"FillExclude", "FillNegInf", "FillMin", "FillMinus10000", "FillReplaceMax"}

// String returns the policy's Go name, such as "FillExclude".
func (f Fill) String() string {
	if f < 0 || int(f) >= len(fillNames) {
		return fmt.Sprintf("Fill(%d)", int(f))
	}
	return fillNames[f]
}

// Valid reports whether f is one of the defined policies.
func (f Fill) Valid() bool { return f >= 0 && int(f) < len(fillNames) }
