package attention

import (
	"math"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/internal/kernels"
	"github.com/govlm/vlm/internal/workspace"
)

// Options configure one attention call. A nil *Options is the zero value:
// no mask, scale 1/√Dh, no dropout, [FillExclude].
type Options struct {
	// Mask keeps the entries of the scores [B, H, Tq, Tk] that may be
	// attended; nil keeps all.
	Mask *Mask
	// Causal additionally masks, for query i, every key j > i + Tk − Tq
	// (the queries are the last Tq positions of the keys; see [Causal]).
	// It costs nothing to build.
	Causal bool
	// Fill says what masked scores become (default [FillExclude]).
	Fill Fill
	// Bias is added to the scaled scores before masking: a float mask or
	// position bias broadcastable to [B, H, Tq, Tk] whose last axis is
	// Tk (PyTorch's float attn_mask, an HF extended mask). It gets no
	// gradient. Entries of −Inf mask like Mask does under FillExclude.
	Bias *vlm.Tensor
	// KeepRows, broadcastable to [B, H, Tq, 1], zeroes the probability
	// rows of the queries it does not keep: they output exactly 0 and
	// pass no gradient (Flamingo zeroes text before the first image).
	// [Rows] builds it from a 0/1 [B, Tq] tensor.
	KeepRows *Mask
	// Scale multiplies q·kᵀ; 0 means 1/√Dh. A module's calls default to
	// the module's Scale.
	Scale float32
	// Dropout is the probability of dropping an attention probability on
	// a training tape (vlm.NewTrainingTape); 0 on other tapes. A module's
	// calls default to the module's Dropout.
	Dropout float32
	// Probs, if non-nil, receives the attention probabilities of the call
	// (before dropout), appended as one [B, H, Tq, Tk] tensor, for
	// visualisation. The tensor may be shared with the tape: do not
	// modify it.
	Probs *Probs
}

// Probs collects attention probabilities, one [B, H, Tq, Tk] tensor per
// call that is given it ([Options.Probs]), in call order: a stack of
// encoder layers sharing one *Probs yields one map per layer, as HF's
// output_attentions.
type Probs []*vlm.Tensor

// ScaledDotProduct returns softmax(Scale·q·kᵀ + Bias, masked)·v for
// q [B, H, Tq, Dh], k [B, H, Tk, Dh] and v [B, H, Tk, Dv], shaped
// [B, H, Tq, Dv]. On a tape it records one backward step for q, k and v.
// Shapes that do not fit panic with an ErrShape *vlm.Error.
func ScaledDotProduct(tp *vlm.Tape, q, k, v *vlm.Tensor, o *Options) *vlm.Tensor {
	for _, t := range []*vlm.Tensor{q, k, v} {
		if t.Rank() != 4 {
			vlm.Panicf(vlm.ErrShape, "attention.ScaledDotProduct: q %v, k %v, v %v: want rank 4 [B, H, T, D]", q.Shape, k.Shape, v.Shape)
		}
	}
	b, h, tq, dh := q.Shape[0], q.Shape[1], q.Shape[2], q.Shape[3]
	tk, dv := k.Shape[2], v.Shape[3]
	if k.Shape[0] != b || v.Shape[0] != b || k.Shape[1] != h || v.Shape[1] != h || k.Shape[3] != dh || v.Shape[2] != tk {
		vlm.Panicf(vlm.ErrShape, "attention.ScaledDotProduct: q %v, k %v, v %v do not fit", q.Shape, k.Shape, v.Shape)
	}
	split := func(t *vlm.Tensor) operand {
		r, d := t.Shape[2], t.Shape[3]
		return operand{t: t, s: kernels.Strided{BStride: h * r * d, HStride: r * d, Row: d}}
	}
	return attend(tp, split(q), split(k), split(v), dims{b, h, tq, tk, dh, dv}, o, true)
}

// Attend is [ScaledDotProduct] for heads laid side by side, the layout of
// every projection in the references: q [B, Tq, H·Dh], k [B, Tk, H·Dh]
// and v [B, Tk, H·Dv] give [B, Tq, H·Dv], head h being the h-th slice of
// width Dh (Dv) of the last axis. No transpose is made: each head is read
// in place. Shapes that do not fit panic with an ErrShape *vlm.Error.
func Attend(tp *vlm.Tape, q, k, v *vlm.Tensor, heads int, o *Options) *vlm.Tensor {
	for _, t := range []*vlm.Tensor{q, k, v} {
		if t.Rank() != 3 {
			vlm.Panicf(vlm.ErrShape, "attention.Attend: q %v, k %v, v %v: want rank 3 [B, T, H·D]", q.Shape, k.Shape, v.Shape)
		}
	}
	if heads < 1 || q.Shape[2]%heads != 0 || v.Shape[2]%heads != 0 || k.Shape[2] != q.Shape[2] ||
		k.Shape[0] != q.Shape[0] || v.Shape[0] != q.Shape[0] || v.Shape[1] != k.Shape[1] {
		vlm.Panicf(vlm.ErrShape, "attention.Attend: q %v, k %v, v %v do not fit %d heads", q.Shape, k.Shape, v.Shape, heads)
	}
	d := dims{q.Shape[0], heads, q.Shape[1], k.Shape[1], q.Shape[2] / heads, v.Shape[2] / heads}
	return attend(tp, whole(q, d.dh), whole(k, d.dh), whole(v, d.dv), d, o, false)
}

// dims are the sizes of one attention call.
type dims struct{ b, h, tq, tk, dh, dv int }

// operand is a [B, H, T, D] view into the data of a tensor t; gradients
// go to the same positions of t's gradient.
type operand struct {
	t *vlm.Tensor
	s kernels.Strided // without Data
}

// whole views t [B, T, H·D] (all of its last axis) as heads of width d.
func whole(t *vlm.Tensor, d int) operand {
	w := t.Shape[2]
	return operand{t: t, s: kernels.Strided{BStride: t.Shape[1] * w, HStride: d, Row: w}}
}

// columns views columns [off, off+H·d) of t [B, T, W] as heads of width d.
func columns(t *vlm.Tensor, off, d int) operand {
	o := whole(t, d)
	o.s.Off = off
	return o
}

func (o operand) on(data []float32) kernels.Strided {
	s := o.s
	s.Data = data
	return s
}

// fillMode maps a Fill to the kernel's mode and value.
func fillMode(f Fill) (int, float32) {
	switch f {
	case FillNegInf:
		return kernels.FillNaN, 0
	case FillMin:
		return kernels.FillAdd, -math.MaxFloat32
	case FillMinus10000:
		return kernels.FillAdd, -10000
	case FillReplaceMax:
		return kernels.FillReplace, -math.MaxFloat32
	case FillExclude:
		return kernels.FillExclude, 0
	}
	vlm.Panicf(vlm.ErrConfig, "attention: unknown fill policy %d", int(f))
	return 0, 0
}

// check returns an error unless the options fit an attention of sizes d.
func (o *Options) check(d dims) error {
	if o == nil {
		return nil
	}
	if !o.Fill.Valid() {
		return vlm.Errorf(vlm.ErrConfig, "attention: unknown fill policy %d", int(o.Fill))
	}
	if o.Mask != nil && !o.Mask.fits(d.b, d.h, d.tq, d.tk) {
		return vlm.Errorf(vlm.ErrShape, "attention: mask %v does not broadcast to scores [%d %d %d %d]", o.Mask.Shape, d.b, d.h, d.tq, d.tk)
	}
	if o.KeepRows != nil && (!o.KeepRows.fits(d.b, d.h, d.tq, 1) || o.KeepRows.Shape[3] != 1) {
		return vlm.Errorf(vlm.ErrShape, "attention: row mask %v does not broadcast to [%d %d %d 1]", o.KeepRows.Shape, d.b, d.h, d.tq)
	}
	if o.Bias != nil {
		s := o.Bias.Shape
		ok := len(s) >= 1 && len(s) <= 4 && s[len(s)-1] == d.tk
		want := []int{d.b, d.h, d.tq, d.tk}
		for i := 0; ok && i < len(s); i++ {
			x := s[len(s)-1-i]
			ok = x == 1 || x == want[3-i]
		}
		if !ok {
			return vlm.Errorf(vlm.ErrShape, "attention: bias %v does not broadcast to scores [%d %d %d %d]", s, d.b, d.h, d.tq, d.tk)
		}
	}
	if o.Dropout < 0 || o.Dropout >= 1 {
		return vlm.Errorf(vlm.ErrConfig, "attention: dropout %v outside [0, 1)", o.Dropout)
	}
	return nil
}

// maskRows returns the kernel view of a mask broadcast over [B, H, Tq, n].
func maskRows(m *Mask, n int) kernels.Rows[bool] {
	if m == nil {
		return kernels.Rows[bool]{}
	}
	if m.Shape[3] != n {
		s := m.Shape
		m = NewMask(s[0], s[1], s[2], n, func(b, h, i, _ int) bool { return m.At(b, h, i, 0) })
	}
	r := kernels.Rows[bool]{Data: m.Keep}
	r.BStride, r.HStride, r.Row = rowStrides(m.Shape)
	return r
}

// biasRows returns the kernel view of a bias broadcast over [B, H, Tq, Tk].
func biasRows(t *vlm.Tensor) kernels.Rows[float32] {
	if t == nil {
		return kernels.Rows[float32]{}
	}
	s := [4]int{1, 1, 1, 1}
	copy(s[4-t.Rank():], t.Shape)
	r := kernels.Rows[float32]{Data: t.Data}
	r.BStride, r.HStride, r.Row = rowStrides(s)
	return r
}

// rowStrides returns the strides of the batch, head and query axes of a
// row-major array of shape s, 0 for an axis of size 1 (broadcast).
func rowStrides(s [4]int) (b, h, row int) {
	if s[0] > 1 {
		b = s[1] * s[2] * s[3]
	}
	if s[1] > 1 {
		h = s[2] * s[3]
	}
	if s[2] > 1 {
		row = s[3]
	}
	return b, h, row
}

// attend is the attention primitive: q, k, v are views of tensors that
// the tape knows; the output is [B, H, Tq, Dv] if fourD, else
// [B, Tq, H·Dv]. Options have been checked, or are checked here with a
// panic.
func attend(tp *vlm.Tape, q, k, v operand, d dims, o *Options, fourD bool) *vlm.Tensor {
	if err := o.check(d); err != nil {
		panic(err)
	}
	if o == nil {
		o = &Options{}
	}
	var out *vlm.Tensor
	var os kernels.Strided
	// AttentionForward writes every output value.
	if fourD {
		out = workspace.Empty(tp, d.b, d.h, d.tq, d.dv)
		os = kernels.Strided{BStride: d.h * d.tq * d.dv, HStride: d.tq * d.dv, Row: d.dv}
	} else {
		out = workspace.Empty(tp, d.b, d.tq, d.h*d.dv)
		os = kernels.Strided{BStride: d.tq * d.h * d.dv, HStride: d.dv, Row: d.h * d.dv}
	}
	scale := o.Scale
	if scale == 0 {
		scale = float32(1 / math.Sqrt(float64(d.dh)))
	}
	fill, fillValue := fillMode(o.Fill)
	a := &kernels.Attention{
		B: d.b, H: d.h, Tq: d.tq, Tk: d.tk, Dh: d.dh, Dv: d.dv, Scale: scale,
		Q: q.on(q.t.Data), K: k.on(k.t.Data), V: v.on(v.t.Data), O: os,
		Keep: maskRows(o.Mask, d.tk), Causal: o.Causal, Bias: biasRows(o.Bias),
		KeepRows: maskRows(o.KeepRows, 1), Fill: fill, FillValue: fillValue,
	}
	a.O.Data = out.Data
	record := tp.NeedsGrad(q.t, k.t, v.t)
	var probs *vlm.Tensor
	if record || o.Probs != nil {
		probs = vlm.Zeros(d.b, d.h, d.tq, d.tk)
	}
	var drop []float32
	if tp.Training() && o.Dropout > 0 {
		rng := tp.Rand()
		drop = make([]float32, d.b*d.h*d.tq*d.tk)
		s := 1 / (1 - o.Dropout)
		for i := range drop {
			if rng.Float32() >= o.Dropout {
				drop[i] = s
			}
		}
	}
	var pd []float32
	if probs != nil {
		pd = probs.Data
	}
	kernels.AttentionForward(a, pd, drop)
	if o.Probs != nil {
		*o.Probs = append(*o.Probs, probs)
	}
	if !record {
		return out
	}
	needQ, needK, needV := tp.NeedsGrad(q.t), tp.NeedsGrad(k.t), tp.NeedsGrad(v.t)
	tp.Record(out, func(dy *vlm.Tensor) {
		var dq, dk, dv kernels.Strided
		if needQ {
			dq = q.on(tp.GradOf(q.t).Data)
		}
		if needK {
			dk = k.on(tp.GradOf(k.t).Data)
		}
		if needV {
			dv = v.on(tp.GradOf(v.t).Data)
		}
		do := os
		do.Data = dy.Data
		kernels.AttentionBackward(a, probs.Data, drop, do, dq, dk, dv)
	})
	return out
}
