package vlm

import (
	"math"
	"math/rand/v2"

	"github.com/govlm/vlm/internal/kernels"
)

// Linear is a fully connected layer y = x·Wᵀ + b with PyTorch's weight
// layout: Weight [Out, In], Bias [Out] or nil. Keys: "weight", "bias".
type Linear struct {
	Weight *Param
	Bias   *Param
}

// NewLinear returns a Linear layer with PyTorch's default initialisation:
// weight and bias drawn from U(-1/√in, 1/√in).
func NewLinear(rng *rand.Rand, in, out int, bias bool) *Linear {
	bound := float32(1 / math.Sqrt(float64(in)))
	l := &Linear{Weight: NewParam(Uniform(rng, -bound, bound, out, in))}
	if bias {
		l.Bias = NewParam(Uniform(rng, -bound, bound, out))
	}
	return l
}

// In returns the input width.
func (l *Linear) In() int { return l.Weight.Value.Shape[1] }

// Out returns the output width.
func (l *Linear) Out() int { return l.Weight.Value.Shape[0] }

// VisitParams implements Module.
func (l *Linear) VisitParams(prefix string, visit func(string, *Param)) {
	visit(prefix+"weight", l.Weight)
	if l.Bias != nil {
		visit(prefix+"bias", l.Bias)
	}
}

// Forward maps x [..., In] to [..., Out].
func (l *Linear) Forward(tp *Tape, x *Tensor) *Tensor {
	in, out := l.In(), l.Out()
	if x.Rank() == 0 || x.Dim(-1) != in {
		Panicf(ErrShape, "Linear(%d→%d): input shape %v", in, out, x.Shape)
	}
	w := tp.Param(l.Weight)
	var b *Tensor
	if l.Bias != nil {
		b = tp.Param(l.Bias)
	}
	rows := x.Size() / in
	shape := append(append([]int(nil), x.Shape[:x.Rank()-1]...), out)
	y := empty(tp, shape...)
	kernels.Sgemm(false, true, rows, out, in, 1, x.Data, in, w.Data, in, 0, y.Data, out)
	if b != nil {
		kernels.AddRows(y.Data, b.Data, rows, out)
	}
	if !tp.NeedsGrad(x, w, b) {
		return y
	}
	needX, needW, needB := tp.NeedsGrad(x), tp.NeedsGrad(w), b != nil && tp.NeedsGrad(b)
	tp.Record(y, func(dy *Tensor) {
		if needX {
			kernels.Sgemm(false, false, rows, in, out, 1, dy.Data, out, w.Data, in, 1, tp.GradOf(x).Data, in)
		}
		if needW {
			kernels.Sgemm(true, false, out, in, rows, 1, dy.Data, out, x.Data, in, 1, tp.GradOf(w).Data, in)
		}
		if needB {
			kernels.SumRows(tp.GradOf(b).Data, dy.Data, rows, out)
		}
	})
	return y
}

// LayerNorm normalises the last axis: y = (x-μ)/√(σ²+Eps)·Weight + Bias,
// with the biased variance. Keys: "weight", "bias". Eps differs between
// references (1e-12 BERT/Q-Former, 1e-5 CLIP and PyTorch, 1e-6 EVA).
type LayerNorm struct {
	Weight *Param // [D], or nil for no affine transform
	Bias   *Param // [D], or nil
	Eps    float32
}

// NewLayerNorm returns a LayerNorm over d features with weight 1, bias 0.
func NewLayerNorm(d int, eps float32) *LayerNorm {
	return &LayerNorm{Weight: NewParam(Full(1, d)), Bias: NewParam(Zeros(d)), Eps: eps}
}

// VisitParams implements Module.
func (l *LayerNorm) VisitParams(prefix string, visit func(string, *Param)) {
	if l.Weight != nil {
		visit(prefix+"weight", l.Weight)
	}
	if l.Bias != nil {
		visit(prefix+"bias", l.Bias)
	}
}

// Forward normalises x [..., D].
func (l *LayerNorm) Forward(tp *Tape, x *Tensor) *Tensor {
	d := x.Dim(-1)
	var w, b *Tensor
	var wd, bd []float32
	if l.Weight != nil {
		w = tp.Param(l.Weight)
		wd = w.Data
		if w.Size() != d {
			Panicf(ErrShape, "LayerNorm(%d): input shape %v", w.Size(), x.Shape)
		}
	}
	if l.Bias != nil {
		b = tp.Param(l.Bias)
		bd = b.Data
	}
	rows := x.Size() / max(d, 1)
	y := empty(tp, x.Shape...)
	if !tp.NeedsGrad(x, w, b) {
		stats := kernels.Buffer(2 * rows)
		kernels.LayerNorm(y.Data, stats[:rows], stats[rows:], x.Data, wd, bd, rows, d, l.Eps)
		kernels.Recycle(stats)
		return y
	}
	mean, rstd := make([]float32, rows), make([]float32, rows)
	kernels.LayerNorm(y.Data, mean, rstd, x.Data, wd, bd, rows, d, l.Eps)
	needX, needW, needB := tp.NeedsGrad(x), w != nil && tp.NeedsGrad(w), b != nil && tp.NeedsGrad(b)
	tp.Record(y, func(dy *Tensor) {
		var dx, dw, db []float32
		if needX {
			dx = tp.GradOf(x).Data
		}
		if needW {
			dw = tp.GradOf(w).Data
		}
		if needB {
			db = tp.GradOf(b).Data
		}
		kernels.LayerNormBackward(dx, dw, db, dy.Data, x.Data, mean, rstd, wd, rows, d)
	})
	return y
}

// Embedding is a lookup table: Weight [V, D]. Key: "weight". Row
// PaddingIdx (if >= 0) is looked up like any other but never receives a
// gradient, as nn.Embedding(padding_idx=...).
type Embedding struct {
	Weight     *Param
	PaddingIdx int
}

// NewEmbedding returns a table of n rows of width d drawn from N(0, std²)
// (PyTorch's default is std 1), without a padding index.
func NewEmbedding(rng *rand.Rand, n, d int, std float32) *Embedding {
	return &Embedding{Weight: NewParam(RandN(rng, std, n, d)), PaddingIdx: -1}
}

// VisitParams implements Module.
func (e *Embedding) VisitParams(prefix string, visit func(string, *Param)) {
	visit(prefix+"weight", e.Weight)
}

// Forward returns the rows of the table for ids, shaped [len(ids), D]. An
// id outside [0, V) panics with ErrInput; entry points validate ids first
// with [Embedding.CheckIDs].
func (e *Embedding) Forward(tp *Tape, ids []int) *Tensor {
	w := tp.Param(e.Weight)
	v, d := w.Shape[0], w.Shape[1]
	y := Zeros(len(ids), d)
	for k, id := range ids {
		if id < 0 || id >= v {
			Panicf(ErrInput, "Embedding: id %d outside [0, %d)", id, v)
		}
		copy(y.Data[k*d:(k+1)*d], w.Data[id*d:(id+1)*d])
	}
	if tp.NeedsGrad(w) {
		ids := append([]int(nil), ids...)
		tp.Record(y, func(dy *Tensor) {
			g := tp.GradOf(w).Data
			for k, id := range ids {
				if id != e.PaddingIdx {
					kernels.AddTo(g[id*d:(id+1)*d], dy.Data[k*d:(k+1)*d])
				}
			}
		})
	}
	return y
}

// CheckIDs returns an ErrInput error naming the first id outside [0, V).
func (e *Embedding) CheckIDs(name string, ids []int) error {
	v := e.Weight.Value.Shape[0]
	for i, id := range ids {
		if id < 0 || id >= v {
			return Errorf(ErrInput, "%s[%d] = %d is outside the vocabulary [0, %d)", name, i, id, v)
		}
	}
	return nil
}

// MLP is the two-layer feed-forward block y = FC2(Act(FC1(x))) of
// transformer layers. Keys: Names[0]+".", Names[1]+"." (default "fc1",
// "fc2" as in CLIP; BERT uses other module paths and builds its own).
type MLP struct {
	FC1, FC2 *Linear
	Act      Activation
	Names    [2]string
}

// NewMLP returns an MLP d → hidden → d with biases and CLIP's key names.
func NewMLP(rng *rand.Rand, d, hidden int, act Activation) *MLP {
	return &MLP{
		FC1:   NewLinear(rng, d, hidden, true),
		FC2:   NewLinear(rng, hidden, d, true),
		Act:   act,
		Names: [2]string{"fc1", "fc2"},
	}
}

// VisitParams implements Module.
func (m *MLP) VisitParams(prefix string, visit func(string, *Param)) {
	m.FC1.VisitParams(prefix+m.Names[0]+".", visit)
	m.FC2.VisitParams(prefix+m.Names[1]+".", visit)
}

// Forward maps x [..., D] to [..., D].
func (m *MLP) Forward(tp *Tape, x *Tensor) *Tensor {
	h := m.FC1.Forward(tp, x)
	a := m.Act.Apply(tp, h)
	y := m.FC2.Forward(tp, a)
	release(tp, h, x, y)
	if !sharesData(a, h) {
		release(tp, a, x, y)
	}
	return y
}
