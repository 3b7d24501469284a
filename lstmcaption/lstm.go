package lstmcaption

import (
	"math"
	"math/rand/v2"

	"github.com/govlm/vlm"
)

// LSTMCell is torch.nn.LSTMCell: for input x [B, In] and state h, c
// [B, H],
//
//	z  = x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh          [B, 4H], gates in the order i, f, g, o
//	c' = σ(z_f)⊙c + σ(z_i)⊙tanh(z_g)
//	h' = σ(z_o)⊙tanh(c')
//
// Keys: "weight_ih" [4H, In], "weight_hh" [4H, H], "bias_ih" [4H],
// "bias_hh" [4H] (PyTorch's names, not Linear's). The two biases are
// separate parameters that are summed, as in PyTorch, so checkpoints load
// unchanged.
type LSTMCell struct {
	IH *vlm.Linear // weight_ih, bias_ih
	HH *vlm.Linear // weight_hh, bias_hh
}

// NewLSTMCell returns a cell from in inputs to a state of width hidden,
// with PyTorch's initialisation: every weight and bias drawn from
// U(−1/√H, 1/√H).
func NewLSTMCell(rng *rand.Rand, in, hidden int) *LSTMCell {
	b := float32(1 / math.Sqrt(float64(hidden)))
	u := func(shape ...int) *vlm.Param { return vlm.NewParam(vlm.Uniform(rng, -b, b, shape...)) }
	return &LSTMCell{
		IH: &vlm.Linear{Weight: u(4*hidden, in), Bias: u(4 * hidden)},
		HH: &vlm.Linear{Weight: u(4*hidden, hidden), Bias: u(4 * hidden)},
	}
}

// VisitParams implements vlm.Module.
func (l *LSTMCell) VisitParams(prefix string, visit func(string, *vlm.Param)) {
	visit(prefix+"weight_ih", l.IH.Weight)
	visit(prefix+"weight_hh", l.HH.Weight)
	visit(prefix+"bias_ih", l.IH.Bias)
	visit(prefix+"bias_hh", l.HH.Bias)
}

// Hidden returns H, the width of the state.
func (l *LSTMCell) Hidden() int { return l.HH.In() }

// Forward advances the state h, c [B, H] by the input x [B, In] and
// returns the new h and c. It panics with a *vlm.Error on shapes that do
// not fit.
func (l *LSTMCell) Forward(tp *vlm.Tape, x, h, c *vlm.Tensor) (h2, c2 *vlm.Tensor) {
	hd := l.Hidden()
	if c.Rank() != 2 || c.Shape[1] != hd || h.Rank() != 2 || h.Shape[0] != c.Shape[0] {
		vlm.Panicf(vlm.ErrShape, "LSTMCell(H=%d): state h %v, c %v", hd, h.Shape, c.Shape)
	}
	z := vlm.Add(tp, l.IH.Forward(tp, x), l.HH.Forward(tp, h))
	g := vlm.Split(tp, z, 1, hd, hd, hd, hd)
	i, f, cand, o := vlm.Sigmoid(tp, g[0]), vlm.Sigmoid(tp, g[1]), vlm.Tanh(tp, g[2]), vlm.Sigmoid(tp, g[3])
	c2 = vlm.Add(tp, vlm.Mul(tp, f, c), vlm.Mul(tp, i, cand))
	return vlm.Mul(tp, o, vlm.Tanh(tp, c2)), c2
}
