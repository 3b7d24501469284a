package vlm

import "github.com/govlm/vlm/internal/kernels"

// Activation names an elementwise non-linearity. The values are the
// hidden_act strings of Hugging Face configs, so a config field can hold
// one directly.
type Activation string

// The activations of the reference models.
const (
	ActGELU      Activation = "gelu"              // exact erf GELU: BERT, Q-Former, EVA, Flamingo FF, LLaVA projector
	ActGELUTanh  Activation = "gelu_pytorch_tanh" // tanh approximation (also accepted as "gelu_new"): GPT-2 style LMs
	ActQuickGELU Activation = "quick_gelu"        // x·σ(1.702x): OpenAI CLIP
	ActReLU      Activation = "relu"
	ActTanh      Activation = "tanh"
	ActSigmoid   Activation = "sigmoid"
	ActIdentity  Activation = "identity"
)

// Valid reports whether a names a known activation.
func (a Activation) Valid() bool {
	switch a {
	case ActGELU, ActGELUTanh, "gelu_new", ActQuickGELU, ActReLU, ActTanh, ActSigmoid, ActIdentity:
		return true
	}
	return false
}

// Apply returns the activation of x. It panics with ErrConfig for an
// unknown name; configs check [Activation.Valid] first.
func (a Activation) Apply(tp *Tape, x *Tensor) *Tensor {
	switch a {
	case ActGELU:
		return GELU(tp, x)
	case ActGELUTanh, "gelu_new":
		return GELUTanh(tp, x)
	case ActQuickGELU:
		return QuickGELU(tp, x)
	case ActReLU:
		return ReLU(tp, x)
	case ActTanh:
		return Tanh(tp, x)
	case ActSigmoid:
		return Sigmoid(tp, x)
	case ActIdentity:
		return x
	}
	Panicf(ErrConfig, "unknown activation %q", string(a))
	return nil
}

// unary applies fwd and records bwd, which receives (dx, dy, x, y).
func unary(tp *Tape, x *Tensor, fwd func(y, x []float32), bwd func(dx, dy, x, y []float32)) *Tensor {
	y := empty(tp, x.Shape...)
	fwd(y.Data, x.Data)
	if tp.NeedsGrad(x) {
		tp.Record(y, func(dy *Tensor) { bwd(tp.GradOf(x).Data, dy.Data, x.Data, y.Data) })
	}
	return y
}

// GELU returns 0.5·x·(1+erf(x/√2)) (exact GELU, nn.GELU()).
func GELU(tp *Tape, x *Tensor) *Tensor {
	return unary(tp, x, kernels.GELU, func(dx, dy, x, _ []float32) { kernels.GELUBackward(dx, dy, x) })
}

// GELUTanh returns the tanh approximation of GELU
// (nn.GELU(approximate='tanh')).
func GELUTanh(tp *Tape, x *Tensor) *Tensor {
	return unary(tp, x, kernels.GELUTanh, func(dx, dy, x, _ []float32) { kernels.GELUTanhBackward(dx, dy, x) })
}

// QuickGELU returns x·σ(1.702x).
func QuickGELU(tp *Tape, x *Tensor) *Tensor {
	return unary(tp, x, kernels.QuickGELU, func(dx, dy, x, _ []float32) { kernels.QuickGELUBackward(dx, dy, x) })
}

// ReLU returns max(x, 0).
func ReLU(tp *Tape, x *Tensor) *Tensor {
	return unary(tp, x, kernels.ReLU, func(dx, dy, x, _ []float32) { kernels.ReLUBackward(dx, dy, x) })
}

// Tanh returns tanh(x).
func Tanh(tp *Tape, x *Tensor) *Tensor {
	return unary(tp, x, kernels.Tanh, func(dx, dy, _, y []float32) { kernels.TanhBackward(dx, dy, y) })
}

// Sigmoid returns 1/(1+exp(-x)).
func Sigmoid(tp *Tape, x *Tensor) *Tensor {
	return unary(tp, x, kernels.Sigmoid, func(dx, dy, _, y []float32) { kernels.SigmoidBackward(dx, dy, y) })
}
