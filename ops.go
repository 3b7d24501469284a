package vlm

import (
	"math"

	"github.com/govlm/vlm/internal/kernels"
)

// Primitive operations. Each returns a new tensor and, when tp is non-nil
// and an input needs a gradient, records its backward step on tp. Shapes
// that cannot fit panic with an ErrShape *Error (entry points validate
// before calling).

type binOp int

const (
	opAdd binOp = iota
	opSub
	opMul
	opDiv
)

var binOpNames = [...]string{"Add", "Sub", "Mul", "Div"}

// Add returns a + b with NumPy broadcasting (e.g. x [B, T, D] + bias [D],
// x [B, N, D] + positions [N, D], x [B, T, D] + gate [1]).
func Add(tp *Tape, a, b *Tensor) *Tensor { return elementwise(tp, opAdd, a, b) }

// Sub returns a - b with broadcasting.
func Sub(tp *Tape, a, b *Tensor) *Tensor { return elementwise(tp, opSub, a, b) }

// Mul returns a ⊙ b with broadcasting.
func Mul(tp *Tape, a, b *Tensor) *Tensor { return elementwise(tp, opMul, a, b) }

// Div returns a / b with broadcasting.
func Div(tp *Tape, a, b *Tensor) *Tensor { return elementwise(tp, opDiv, a, b) }

func elementwise(tp *Tape, op binOp, a, b *Tensor) *Tensor {
	shape := broadcastShape(binOpNames[op], a.Shape, b.Shape)
	y := empty(tp, shape...)
	ma, mb := newBcast(shape, a.Shape), newBcast(shape, b.Shape)
	if !fastBinary(op, y.Data, a.Data, b.Data, ma, mb) {
		for i := range y.Data {
			x1, x2 := a.Data[ma.at(i)], b.Data[mb.at(i)]
			switch op {
			case opAdd:
				y.Data[i] = x1 + x2
			case opSub:
				y.Data[i] = x1 - x2
			case opMul:
				y.Data[i] = x1 * x2
			case opDiv:
				y.Data[i] = x1 / x2
			}
		}
	}
	if !tp.NeedsGrad(a, b) {
		return y
	}
	needA, needB := tp.NeedsGrad(a), tp.NeedsGrad(b)
	tp.Record(y, func(dy *Tensor) {
		var da, db []float32
		if needA {
			da = tp.GradOf(a).Data
		}
		if needB {
			db = tp.GradOf(b).Data
		}
		if fastBinaryBackward(op, dy.Data, a.Data, b.Data, da, db, ma, mb) {
			return
		}
		if needA {
			for i, g := range dy.Data {
				switch op {
				case opAdd, opSub:
					da[ma.at(i)] += g
				case opMul:
					da[ma.at(i)] += g * b.Data[mb.at(i)]
				case opDiv:
					da[ma.at(i)] += g / b.Data[mb.at(i)]
				}
			}
		}
		if needB {
			for i, g := range dy.Data {
				switch op {
				case opAdd:
					db[mb.at(i)] += g
				case opSub:
					db[mb.at(i)] -= g
				case opMul:
					db[mb.at(i)] += g * a.Data[ma.at(i)]
				case opDiv:
					bv := b.Data[mb.at(i)]
					db[mb.at(i)] -= g * a.Data[ma.at(i)] / (bv * bv)
				}
			}
		}
	})
	return y
}

// Scale returns s·x.
func Scale(tp *Tape, x *Tensor, s float32) *Tensor {
	y := empty(tp, x.Shape...)
	kernels.Scale(y.Data, s, x.Data)
	if tp.NeedsGrad(x) {
		tp.Record(y, func(dy *Tensor) { kernels.Axpy(s, dy.Data, tp.GradOf(x).Data) })
	}
	return y
}

// Reshape returns x with a new shape (one entry may be -1). The result
// shares x's data; on a tape its gradient flows back to x.
func Reshape(tp *Tape, x *Tensor, shape ...int) *Tensor {
	y := x.Reshape(shape...)
	if tp.NeedsGrad(x) {
		tp.Record(y, func(dy *Tensor) { kernels.AddTo(tp.GradOf(x).Data, dy.Data) })
	}
	return y
}

// Transpose returns x with axes a1 and a2 swapped (negative axes count
// from the end), e.g. [B, T, H, Dh] → [B, H, T, Dh] with (1, 2).
func Transpose(tp *Tape, x *Tensor, a1, a2 int) *Tensor {
	r := x.Rank()
	a1, a2 = normAxis("Transpose", a1, r), normAxis("Transpose", a2, r)
	if a1 == a2 {
		return Reshape(tp, x, x.Shape...)
	}
	if a1 > a2 {
		a1, a2 = a2, a1
	}
	shape := append([]int(nil), x.Shape...)
	shape[a1], shape[a2] = shape[a2], shape[a1]
	y := empty(tp, shape...)
	pre, d1, mid, d2, post := splitAxes(x.Shape, a1, a2)
	swapAxes(y.Data, x.Data, pre, d1, mid, d2, post, false)
	if tp.NeedsGrad(x) {
		tp.Record(y, func(dy *Tensor) {
			swapAxes(tp.GradOf(x).Data, dy.Data, pre, d2, mid, d1, post, true)
		})
	}
	return y
}

func splitAxes(s []int, a1, a2 int) (pre, d1, mid, d2, post int) {
	pre, mid, post = 1, 1, 1
	for i, d := range s {
		switch {
		case i < a1:
			pre *= d
		case i > a1 && i < a2:
			mid *= d
		case i > a2:
			post *= d
		}
	}
	return pre, s[a1], mid, s[a2], post
}

// swapAxes writes x [pre, d1, mid, d2, post] into y [pre, d2, mid, d1,
// post], adding if add.
func swapAxes(y, x []float32, pre, d1, mid, d2, post int, add bool) {
	if mid == 1 {
		if add {
			kernels.Transpose2Add(y, x, pre, d1, d2, post)
		} else {
			kernels.Transpose2(y, x, pre, d1, d2, post)
		}
		return
	}
	for p := range pre {
		for i := range d1 {
			for m := range mid {
				for j := range d2 {
					src := (((p*d1+i)*mid+m)*d2 + j) * post
					dst := (((p*d2+j)*mid+m)*d1 + i) * post
					if add {
						kernels.AddTo(y[dst:dst+post], x[src:src+post])
					} else {
						copy(y[dst:dst+post], x[src:src+post])
					}
				}
			}
		}
	}
}

func normAxis(op string, a, rank int) int {
	if a < 0 {
		a += rank
	}
	if a < 0 || a >= rank {
		Panicf(ErrShape, "%s: axis %d out of range for rank %d", op, a, rank)
	}
	return a
}

// outerInner returns the product of the sizes before axis and after it.
func outerInner(s []int, axis int) (outer, inner int) {
	outer, inner = 1, 1
	for i, d := range s {
		if i < axis {
			outer *= d
		} else if i > axis {
			inner *= d
		}
	}
	return outer, inner
}

// Concat joins tensors along axis; all other axes must agree.
func Concat(tp *Tape, axis int, xs ...*Tensor) *Tensor {
	if len(xs) == 0 {
		Panicf(ErrShape, "Concat of no tensors")
	}
	r := xs[0].Rank()
	axis = normAxis("Concat", axis, r)
	shape := append([]int(nil), xs[0].Shape...)
	shape[axis] = 0
	for _, x := range xs {
		if x.Rank() != r {
			Panicf(ErrShape, "Concat: ranks of %v and %v differ", xs[0].Shape, x.Shape)
		}
		for i, d := range x.Shape {
			if i != axis && d != xs[0].Shape[i] {
				Panicf(ErrShape, "Concat along axis %d: shapes %v and %v", axis, xs[0].Shape, x.Shape)
			}
		}
		shape[axis] += x.Shape[axis]
	}
	y := empty(tp, shape...)
	outer, inner := outerInner(shape, axis)
	rowY := shape[axis] * inner
	off := 0
	for _, x := range xs {
		w := x.Shape[axis] * inner
		for o := range outer {
			copy(y.Data[o*rowY+off:o*rowY+off+w], x.Data[o*w:(o+1)*w])
		}
		off += w
	}
	if tp.NeedsGrad(xs...) {
		tp.Record(y, func(dy *Tensor) {
			off := 0
			for _, x := range xs {
				w := x.Shape[axis] * inner
				if tp.NeedsGrad(x) {
					g := tp.GradOf(x).Data
					for o := range outer {
						kernels.AddTo(g[o*w:(o+1)*w], dy.Data[o*rowY+off:o*rowY+off+w])
					}
				}
				off += w
			}
		})
	}
	return y
}

// Slice returns x[..., start:end, ...] along axis.
func Slice(tp *Tape, x *Tensor, axis, start, end int) *Tensor {
	axis = normAxis("Slice", axis, x.Rank())
	if start < 0 || end > x.Shape[axis] || start > end {
		Panicf(ErrShape, "Slice [%d:%d] of axis %d of shape %v", start, end, axis, x.Shape)
	}
	shape := append([]int(nil), x.Shape...)
	shape[axis] = end - start
	y := empty(tp, shape...)
	outer, inner := outerInner(x.Shape, axis)
	rowX := x.Shape[axis] * inner
	w := (end - start) * inner
	for o := range outer {
		copy(y.Data[o*w:(o+1)*w], x.Data[o*rowX+start*inner:o*rowX+start*inner+w])
	}
	if tp.NeedsGrad(x) {
		tp.Record(y, func(dy *Tensor) {
			g := tp.GradOf(x).Data
			for o := range outer {
				kernels.AddTo(g[o*rowX+start*inner:o*rowX+start*inner+w], dy.Data[o*w:(o+1)*w])
			}
		})
	}
	return y
}

// Split cuts x along axis into pieces of the given sizes, which must sum
// to the axis size.
func Split(tp *Tape, x *Tensor, axis int, sizes ...int) []*Tensor {
	axis = normAxis("Split", axis, x.Rank())
	total := 0
	for _, s := range sizes {
		total += s
	}
	if total != x.Shape[axis] {
		Panicf(ErrShape, "Split of axis %d (%d) of shape %v into %v", axis, x.Shape[axis], x.Shape, sizes)
	}
	out := make([]*Tensor, len(sizes))
	off := 0
	for i, s := range sizes {
		out[i] = Slice(tp, x, axis, off, off+s)
		off += s
	}
	return out
}

// Gather returns the slices of x at the given indices along axis (PyTorch
// index_select); indices may repeat. Gradients scatter-add back.
func Gather(tp *Tape, x *Tensor, axis int, idx []int) *Tensor {
	axis = normAxis("Gather", axis, x.Rank())
	n := x.Shape[axis]
	for _, i := range idx {
		if i < 0 || i >= n {
			Panicf(ErrInput, "Gather: index %d out of range [0, %d) of axis %d", i, n, axis)
		}
	}
	shape := append([]int(nil), x.Shape...)
	shape[axis] = len(idx)
	y := Zeros(shape...)
	outer, inner := outerInner(x.Shape, axis)
	for o := range outer {
		for k, i := range idx {
			copy(y.Data[(o*len(idx)+k)*inner:(o*len(idx)+k+1)*inner], x.Data[(o*n+i)*inner:(o*n+i+1)*inner])
		}
	}
	if tp.NeedsGrad(x) {
		idx := append([]int(nil), idx...)
		tp.Record(y, func(dy *Tensor) {
			g := tp.GradOf(x).Data
			for o := range outer {
				for k, i := range idx {
					kernels.AddTo(g[(o*n+i)*inner:(o*n+i+1)*inner], dy.Data[(o*len(idx)+k)*inner:(o*len(idx)+k+1)*inner])
				}
			}
		})
	}
	return y
}

// Sum returns the sum of all values as a rank-0 tensor.
func Sum(tp *Tape, x *Tensor) *Tensor {
	y := Scalar(float32(kernels.Sum(x.Data)))
	if tp.NeedsGrad(x) {
		tp.Record(y, func(dy *Tensor) {
			g := tp.GradOf(x).Data
			for i := range g {
				g[i] += dy.Data[0]
			}
		})
	}
	return y
}

// Mean returns the mean of all values as a rank-0 tensor.
func Mean(tp *Tape, x *Tensor) *Tensor {
	return Scale(tp, Sum(tp, x), 1/float32(max(x.Size(), 1)))
}

// SumAxis returns the sum over axis; the axis is removed from the shape.
func SumAxis(tp *Tape, x *Tensor, axis int) *Tensor {
	axis = normAxis("SumAxis", axis, x.Rank())
	shape := append(append([]int(nil), x.Shape[:axis]...), x.Shape[axis+1:]...)
	y := Zeros(shape...)
	outer, inner := outerInner(x.Shape, axis)
	n := x.Shape[axis]
	for o := range outer {
		dst := y.Data[o*inner : (o+1)*inner]
		for k := range n {
			kernels.AddTo(dst, x.Data[(o*n+k)*inner:(o*n+k+1)*inner])
		}
	}
	if tp.NeedsGrad(x) {
		tp.Record(y, func(dy *Tensor) {
			g := tp.GradOf(x).Data
			for o := range outer {
				src := dy.Data[o*inner : (o+1)*inner]
				for k := range n {
					kernels.AddTo(g[(o*n+k)*inner:(o*n+k+1)*inner], src)
				}
			}
		})
	}
	return y
}

// MeanAxis returns the mean over axis; the axis is removed from the shape.
func MeanAxis(tp *Tape, x *Tensor, axis int) *Tensor {
	n := x.Dim(axis)
	return Scale(tp, SumAxis(tp, x, axis), 1/float32(max(n, 1)))
}

// MaxAxis returns the maximum over axis (the axis is removed) and the
// index of the first maximum of each slice. The gradient goes to that
// index only.
func MaxAxis(tp *Tape, x *Tensor, axis int) (*Tensor, []int) {
	axis = normAxis("MaxAxis", axis, x.Rank())
	shape := append(append([]int(nil), x.Shape[:axis]...), x.Shape[axis+1:]...)
	y := Zeros(shape...)
	outer, inner := outerInner(x.Shape, axis)
	n := x.Shape[axis]
	if n == 0 {
		Panicf(ErrShape, "MaxAxis over an empty axis of shape %v", x.Shape)
	}
	arg := make([]int, outer*inner)
	for o := range outer {
		for i := range inner {
			best, bi := x.Data[o*n*inner+i], 0
			for k := 1; k < n; k++ {
				if v := x.Data[(o*n+k)*inner+i]; v > best {
					best, bi = v, k
				}
			}
			y.Data[o*inner+i], arg[o*inner+i] = best, bi
		}
	}
	if tp.NeedsGrad(x) {
		tp.Record(y, func(dy *Tensor) {
			g := tp.GradOf(x).Data
			for o := range outer {
				for i := range inner {
					g[(o*n+arg[o*inner+i])*inner+i] += dy.Data[o*inner+i]
				}
			}
		})
	}
	return y, arg
}

// Softmax returns softmax(x + mask) over the last axis. mask is nil or an
// additive mask broadcastable to x whose last axis equals x's (e.g.
// [B, 1, 1, S] or [B, 1, T, S] for scores [B, H, T, S]); it gets no
// gradient. A row whose every entry is -Inf yields zeros, never NaN.
func Softmax(tp *Tape, x, mask *Tensor) *Tensor {
	n := x.Dim(-1)
	rows := x.Size() / max(n, 1)
	y := empty(tp, x.Shape...)
	var maskRow func(int) []float32
	if mask != nil {
		if mask.Dim(-1) != n {
			Panicf(ErrShape, "Softmax: mask %v does not end in %d like x %v", mask.Shape, n, x.Shape)
		}
		lead := broadcastShape("Softmax mask", x.Shape[:x.Rank()-1], mask.Shape[:mask.Rank()-1])
		if !equalInts(lead, x.Shape[:x.Rank()-1]) {
			Panicf(ErrShape, "Softmax: mask %v does not broadcast to x %v", mask.Shape, x.Shape)
		}
		m := newBcast(lead, mask.Shape[:mask.Rank()-1])
		maskRow = func(r int) []float32 { i := m.at(r); return mask.Data[i*n : (i+1)*n] }
	}
	kernels.Softmax(y.Data, x.Data, rows, n, maskRow)
	if tp.NeedsGrad(x) {
		tp.Record(y, func(dy *Tensor) { kernels.SoftmaxBackward(tp.GradOf(x).Data, dy.Data, y.Data, rows, n) })
	}
	return y
}

// LogSoftmax returns log softmax(x) over the last axis.
func LogSoftmax(tp *Tape, x *Tensor) *Tensor {
	n := x.Dim(-1)
	rows := x.Size() / max(n, 1)
	y := Zeros(x.Shape...)
	kernels.LogSoftmax(y.Data, x.Data, rows, n)
	if tp.NeedsGrad(x) {
		tp.Record(y, func(dy *Tensor) { kernels.LogSoftmaxBackward(tp.GradOf(x).Data, dy.Data, y.Data, rows, n) })
	}
	return y
}

// MaskedFill returns x where keep is non-zero and value elsewhere; keep
// broadcasts to x. Filled entries are replaced (PyTorch masked_fill), so
// they pass no gradient to x.
func MaskedFill(tp *Tape, x, keep *Tensor, value float32) *Tensor {
	shape := broadcastShape("MaskedFill", x.Shape, keep.Shape)
	if !equalInts(shape, x.Shape) {
		Panicf(ErrShape, "MaskedFill: mask %v does not broadcast to x %v", keep.Shape, x.Shape)
	}
	m := newBcast(shape, keep.Shape)
	y := Zeros(x.Shape...)
	for i, v := range x.Data {
		if keep.Data[m.at(i)] != 0 {
			y.Data[i] = v
		} else {
			y.Data[i] = value
		}
	}
	if tp.NeedsGrad(x) {
		tp.Record(y, func(dy *Tensor) {
			g := tp.GradOf(x).Data
			for i, d := range dy.Data {
				if keep.Data[m.at(i)] != 0 {
					g[i] += d
				}
			}
		})
	}
	return y
}

// Dropout zeroes each value with probability p and scales the rest by
// 1/(1-p) when tp is a training tape ([NewTrainingTape]); otherwise it
// returns x unchanged.
func Dropout(tp *Tape, x *Tensor, p float32) *Tensor {
	if !tp.Training() || p <= 0 {
		return x
	}
	if p >= 1 {
		return Scale(tp, x, 0)
	}
	rng := tp.Rand()
	keep := Zeros(x.Shape...)
	s := 1 / (1 - p)
	for i := range keep.Data {
		if rng.Float32() >= p {
			keep.Data[i] = s
		}
	}
	return Mul(tp, x, keep)
}

// Normalize returns x / max(‖x‖₂, eps) over the last axis
// (F.normalize(x, dim=-1)).
func Normalize(tp *Tape, x *Tensor, eps float32) *Tensor {
	n := x.Dim(-1)
	rows := x.Size() / max(n, 1)
	y := Zeros(x.Shape...)
	norms := make([]float32, rows)
	for r := range rows {
		xr := x.Data[r*n : (r+1)*n]
		nrm := float32(math.Sqrt(kernels.Dot(xr, xr)))
		norms[r] = max(nrm, eps)
		kernels.Scale(y.Data[r*n:(r+1)*n], 1/norms[r], xr)
		if nrm < eps {
			norms[r] = -eps // marks the clamped rows
		}
	}
	if tp.NeedsGrad(x) {
		tp.Record(y, func(dy *Tensor) {
			g := tp.GradOf(x).Data
			for r := range rows {
				yr, dyr, gr := y.Data[r*n:(r+1)*n], dy.Data[r*n:(r+1)*n], g[r*n:(r+1)*n]
				if norms[r] < 0 {
					kernels.Axpy(-1/norms[r], dyr, gr)
					continue
				}
				d := float32(kernels.Dot(yr, dyr))
				inv := 1 / norms[r]
				for i := range gr {
					gr[i] += (dyr[i] - yr[i]*d) * inv
				}
			}
		})
	}
	return y
}
