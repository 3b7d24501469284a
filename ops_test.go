package vlm

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// inputs is a Module made of free tensors, so that CheckGrad treats the
// operands of an op as parameters.
type inputs []*Param

func (in inputs) VisitParams(prefix string, visit func(string, *Param)) {
	for i, p := range in {
		visit(prefix+string(rune('a'+i)), p)
	}
}

func randInputs(seed uint64, shapes ...[]int) inputs {
	rng := NewRand(seed)
	in := make(inputs, len(shapes))
	for i, s := range shapes {
		in[i] = NewParam(RandN(rng, 1, s...))
	}
	return in
}

// projected returns sum(y ⊙ r) for a fixed random r, so every output
// entry contributes to the checked scalar.
func projected(tp *Tape, y *Tensor, seed uint64) *Tensor {
	r := RandN(NewRand(seed+1000), 1, y.Shape...)
	return Sum(tp, Mul(tp, y, r))
}

func TestOpGradients(t *testing.T) {
	mask := Zeros(2, 1, 5)
	mask.Data[3], mask.Data[9] = -1e4, -1e4
	keep := Full(1, 3, 1)
	keep.Data[1] = 0
	cases := []struct {
		name   string
		shapes [][]int
		f      func(tp *Tape, x []*Tensor) *Tensor
	}{
		{"Add", [][]int{{2, 3}, {2, 3}}, func(tp *Tape, x []*Tensor) *Tensor { return Add(tp, x[0], x[1]) }},
		{"AddBias", [][]int{{2, 3, 4}, {4}}, func(tp *Tape, x []*Tensor) *Tensor { return Add(tp, x[0], x[1]) }},
		{"AddScalar", [][]int{{2, 3}, {1}}, func(tp *Tape, x []*Tensor) *Tensor { return Add(tp, x[0], x[1]) }},
		{"SubInner", [][]int{{2, 3, 4}, {2, 3, 1}}, func(tp *Tape, x []*Tensor) *Tensor { return Sub(tp, x[0], x[1]) }},
		{"MulBothBroadcast", [][]int{{2, 1, 4}, {3, 1}}, func(tp *Tape, x []*Tensor) *Tensor { return Mul(tp, x[0], x[1]) }},
		{"Div", [][]int{{2, 3}, {3}}, func(tp *Tape, x []*Tensor) *Tensor {
			return Div(tp, x[0], Add(tp, Mul(tp, x[1], x[1]), Full(1, 1)))
		}},
		{"Scale", [][]int{{5}}, func(tp *Tape, x []*Tensor) *Tensor { return Scale(tp, x[0], -2.5) }},
		{"Reshape", [][]int{{2, 6}}, func(tp *Tape, x []*Tensor) *Tensor { return Reshape(tp, x[0], 3, -1) }},
		{"TransposeAdjacent", [][]int{{2, 3, 4, 2}}, func(tp *Tape, x []*Tensor) *Tensor { return Transpose(tp, x[0], 1, 2) }},
		{"TransposeFar", [][]int{{2, 3, 4, 5}}, func(tp *Tape, x []*Tensor) *Tensor { return Transpose(tp, x[0], -1, 1) }},
		{"Concat", [][]int{{2, 1, 3}, {2, 2, 3}}, func(tp *Tape, x []*Tensor) *Tensor { return Concat(tp, 1, x[0], x[1]) }},
		{"Slice", [][]int{{3, 5}}, func(tp *Tape, x []*Tensor) *Tensor { return Slice(tp, x[0], 1, 1, 4) }},
		{"Split", [][]int{{4, 3}}, func(tp *Tape, x []*Tensor) *Tensor {
			p := Split(tp, x[0], 0, 1, 3)
			return Add(tp, Mul(tp, p[0], p[0]), p[1])
		}},
		{"Gather", [][]int{{4, 3}}, func(tp *Tape, x []*Tensor) *Tensor { return Gather(tp, x[0], 0, []int{3, 0, 3}) }},
		{"GatherAxis1", [][]int{{2, 4, 3}}, func(tp *Tape, x []*Tensor) *Tensor { return Gather(tp, x[0], 1, []int{1, 1, 2}) }},
		{"Sum", [][]int{{3, 2}}, func(tp *Tape, x []*Tensor) *Tensor { return Sum(tp, x[0]) }},
		{"Mean", [][]int{{3, 2}}, func(tp *Tape, x []*Tensor) *Tensor { return Mean(tp, x[0]) }},
		{"SumAxis", [][]int{{2, 3, 4}}, func(tp *Tape, x []*Tensor) *Tensor { return SumAxis(tp, x[0], 1) }},
		{"MeanAxis", [][]int{{2, 3, 4}}, func(tp *Tape, x []*Tensor) *Tensor { return MeanAxis(tp, x[0], -1) }},
		{"MaxAxis", [][]int{{2, 5, 3}}, func(tp *Tape, x []*Tensor) *Tensor { y, _ := MaxAxis(tp, x[0], 1); return y }},
		{"Softmax", [][]int{{2, 3, 5}}, func(tp *Tape, x []*Tensor) *Tensor { return Softmax(tp, x[0], nil) }},
		{"SoftmaxMask", [][]int{{2, 3, 5}}, func(tp *Tape, x []*Tensor) *Tensor { return Softmax(tp, x[0], mask) }},
		{"LogSoftmax", [][]int{{3, 4}}, func(tp *Tape, x []*Tensor) *Tensor { return LogSoftmax(tp, x[0]) }},
		{"MaskedFill", [][]int{{3, 4}}, func(tp *Tape, x []*Tensor) *Tensor { return MaskedFill(tp, x[0], keep, -3) }},
		{"Normalize", [][]int{{3, 4}}, func(tp *Tape, x []*Tensor) *Tensor { return Normalize(tp, x[0], 1e-12) }},
		{"GELU", [][]int{{4, 5}}, func(tp *Tape, x []*Tensor) *Tensor { return GELU(tp, x[0]) }},
		{"GELUTanh", [][]int{{4, 5}}, func(tp *Tape, x []*Tensor) *Tensor { return GELUTanh(tp, x[0]) }},
		{"QuickGELU", [][]int{{4, 5}}, func(tp *Tape, x []*Tensor) *Tensor { return QuickGELU(tp, x[0]) }},
		{"ReLU", [][]int{{4, 5}}, func(tp *Tape, x []*Tensor) *Tensor { return ReLU(tp, x[0]) }},
		{"Tanh", [][]int{{4, 5}}, func(tp *Tape, x []*Tensor) *Tensor { return Tanh(tp, x[0]) }},
		{"Sigmoid", [][]int{{4, 5}}, func(tp *Tape, x []*Tensor) *Tensor { return Sigmoid(tp, x[0]) }},
		{"MatMul", [][]int{{3, 4}, {4, 5}}, func(tp *Tape, x []*Tensor) *Tensor { return MatMul(tp, x[0], x[1], false, false) }},
		{"MatMulTT", [][]int{{4, 3}, {5, 4}}, func(tp *Tape, x []*Tensor) *Tensor { return MatMul(tp, x[0], x[1], true, true) }},
		{"MatMulBatchedNT", [][]int{{2, 3, 3, 4}, {2, 3, 5, 4}}, func(tp *Tape, x []*Tensor) *Tensor {
			return MatMul(tp, x[0], x[1], false, true)
		}},
		{"MatMulBatchedTN", [][]int{{2, 4, 3}, {2, 4, 5}}, func(tp *Tape, x []*Tensor) *Tensor { return MatMul(tp, x[0], x[1], true, false) }},
		{"MatMulSharedB", [][]int{{2, 3, 4}, {4, 5}}, func(tp *Tape, x []*Tensor) *Tensor { return MatMul(tp, x[0], x[1], false, false) }},
		{"MatMulSharedBT", [][]int{{2, 3, 4}, {5, 4}}, func(tp *Tape, x []*Tensor) *Tensor { return MatMul(tp, x[0], x[1], false, true) }},
		{"MatMulSharedA", [][]int{{3, 4}, {2, 4, 5}}, func(tp *Tape, x []*Tensor) *Tensor { return MatMul(tp, x[0], x[1], false, false) }},
		{"MatMulSharedBTransA", [][]int{{2, 4, 3}, {4, 5}}, func(tp *Tape, x []*Tensor) *Tensor { return MatMul(tp, x[0], x[1], true, false) }},
		{"MSE", [][]int{{3, 4}, {3, 4}}, func(tp *Tape, x []*Tensor) *Tensor { return MSE(tp, x[0], x[1]) }},
		{"CrossEntropy", [][]int{{4, 6}}, func(tp *Tape, x []*Tensor) *Tensor {
			return CrossEntropy(tp, x[0], []int{1, IgnoreIndex, 5, 0}, 0)
		}},
		{"CrossEntropySmoothed", [][]int{{4, 6}}, func(tp *Tape, x []*Tensor) *Tensor {
			return CrossEntropy(tp, x[0], []int{1, IgnoreIndex, 5, 0}, 0.1)
		}},
		{"SoftCrossEntropy", [][]int{{3, 4}}, func(tp *Tape, x []*Tensor) *Tensor {
			return SoftCrossEntropy(tp, x[0], Softmax(nil, RandN(NewRand(9), 1, 3, 4), nil))
		}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := randInputs(uint64(i), c.shapes...)
			// Keep values off ReLU's kink, where finite differences lie.
			for _, p := range in {
				for k, v := range p.Value.Data {
					if v > -0.05 && v < 0.05 {
						p.Value.Data[k] += 0.1
					}
				}
			}
			loss := func(tp *Tape) *Tensor {
				xs := make([]*Tensor, len(in))
				for k, p := range in {
					xs[k] = tp.Param(p)
				}
				y := c.f(tp, xs)
				if y.Size() == 1 {
					return y
				}
				return projected(tp, y, uint64(i))
			}
			require.NoError(t, CheckGrad(in, loss, &GradCheckOptions{MaxPerTensor: -1}))
		})
	}
}

func TestLayerGradients(t *testing.T) {
	rng := NewRand(1)
	ln := NewLayerNorm(6, 1e-5)
	ln.Weight.Value = RandN(rng, 1, 6)
	ln.Bias.Value = RandN(rng, 1, 6)
	emb := NewEmbedding(rng, 5, 3, 1)
	emb.PaddingIdx = 0
	cases := []struct {
		name string
		m    Module
		in   []int
		f    func(tp *Tape, x *Tensor) *Tensor
	}{
		{"Linear", NewLinear(rng, 4, 3, true), []int{2, 5, 4}, nil},
		{"LinearNoBias", NewLinear(rng, 4, 3, false), []int{5, 4}, nil},
		{"LayerNorm", ln, []int{3, 6}, nil},
		{"MLP", NewMLP(rng, 4, 7, ActGELU), []int{2, 4}, nil},
		{"Embedding", emb, nil, func(tp *Tape, _ *Tensor) *Tensor { return emb.Forward(tp, []int{1, 4, 1, 2}) }},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var x *Tensor
			var inputs []*Tensor
			if c.in != nil {
				x = RandN(NewRand(uint64(i)), 1, c.in...)
				inputs = []*Tensor{x}
			}
			f := c.f
			if f == nil {
				f = func(tp *Tape, x *Tensor) *Tensor {
					return c.m.(interface {
						Forward(*Tape, *Tensor) *Tensor
					}).Forward(tp, x)
				}
			}
			loss := func(tp *Tape) *Tensor { return projected(tp, f(tp, x), uint64(i)) }
			require.NoError(t, CheckGrad(c.m, loss, &GradCheckOptions{MaxPerTensor: -1, Inputs: inputs}))
		})
	}
}

func TestEmbeddingPaddingRowGetsNoGradient(t *testing.T) {
	emb := NewEmbedding(NewRand(1), 4, 2, 1)
	emb.PaddingIdx = 0
	tp := NewTape()
	y := emb.Forward(tp, []int{0, 2, 0})
	require.NoError(t, tp.Backward(Sum(tp, y)))
	require.Equal(t, []float32{0, 0, 0, 0, 1, 1, 0, 0}, emb.Weight.Grad.Data)
}
