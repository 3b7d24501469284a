package vlm

import "math/rand/v2"

// Tape records the operations of a forward pass so that [Tape.Backward]
// can compute gradients.
//
// A nil *Tape means inference: operations record nothing, allocate no
// gradient memory, and read modules without writing to them, so any
// number of goroutines may run inference on one model at once. A non-nil
// tape belongs to one goroutine. Operations record a backward step only
// when one of their inputs needs a gradient: a trainable parameter
// registered with [Tape.Param], a tensor marked with [Tape.Watch], or the
// output of an earlier recorded operation.
//
// Gradients of parameters accumulate in Param.Grad; gradients of every
// other recorded tensor are kept by the tape and read with [Tape.Grad].
type Tape struct {
	steps    []step
	grads    map[*Tensor]*Tensor
	needs    map[*Tensor]bool
	training bool
	rng      *rand.Rand
	done     bool
}

type step struct {
	out      *Tensor
	backward func(dy *Tensor)
}

// NewTape returns a tape for computing gradients with dropout disabled
// (evaluation semantics, as PyTorch's model.eval() under autograd).
func NewTape() *Tape {
	return &Tape{grads: map[*Tensor]*Tensor{}, needs: map[*Tensor]bool{}}
}

// NewTrainingTape returns a tape in training mode: [Dropout] is active
// and draws its masks from a generator seeded with seed.
func NewTrainingTape(seed uint64) *Tape {
	tp := NewTape()
	tp.training = true
	tp.rng = NewRand(seed)
	return tp
}

// Training reports whether tp is a non-nil tape in training mode.
func (tp *Tape) Training() bool { return tp != nil && tp.training }

// Rand returns the tape's random generator (nil unless training).
func (tp *Tape) Rand() *rand.Rand {
	if tp == nil {
		return nil
	}
	return tp.rng
}

// Param returns p.Value and, if tp is non-nil and p is not frozen,
// registers it so that the gradient that reaches p.Value accumulates in
// p.Grad. Layers call it for each parameter they use.
func (tp *Tape) Param(p *Param) *Tensor {
	if tp == nil || p.Frozen {
		return p.Value
	}
	if _, ok := tp.grads[p.Value]; !ok {
		tp.grads[p.Value] = p.GradBuf()
		tp.needs[p.Value] = true
	}
	return p.Value
}

// Watch marks x (an input, not a parameter) as needing a gradient, so
// that [Tape.Grad] returns dLoss/dx after Backward. It returns x.
func (tp *Tape) Watch(x *Tensor) *Tensor {
	if tp != nil {
		tp.needs[x] = true
	}
	return x
}

// NeedsGrad reports whether tp is non-nil and any of xs needs a gradient.
func (tp *Tape) NeedsGrad(xs ...*Tensor) bool {
	if tp == nil {
		return false
	}
	for _, x := range xs {
		if x != nil && tp.needs[x] {
			return true
		}
	}
	return false
}

// Record registers the backward step of an operation whose output is out.
// backward receives dLoss/dout and must add (+=) the gradients of the
// operation's inputs into the buffers returned by [Tape.GradOf], for those
// inputs for which [Tape.NeedsGrad] is true. Record marks out as needing a
// gradient. It is the extension point for primitives defined outside this
// package; composites never call it.
func (tp *Tape) Record(out *Tensor, backward func(dy *Tensor)) {
	if tp.done {
		Panicf(ErrConfig, "Tape.Record after Backward: a tape is used once")
	}
	tp.needs[out] = true
	tp.steps = append(tp.steps, step{out, backward})
}

// GradOf returns the gradient buffer of x, allocating zeros on first use.
// Backward steps accumulate into it.
func (tp *Tape) GradOf(x *Tensor) *Tensor {
	g, ok := tp.grads[x]
	if !ok {
		g = Zeros(x.Shape...)
		tp.grads[x] = g
	}
	return g
}

// Grad returns the gradient of the loss with respect to x after
// [Tape.Backward], or nil if no gradient reached x. For a registered
// parameter's value it is the parameter's Grad.
func (tp *Tape) Grad(x *Tensor) *Tensor {
	if tp == nil {
		return nil
	}
	return tp.grads[x]
}

// Backward computes the gradient of the scalar loss (one value) with
// respect to every recorded tensor and registered parameter. The tape is
// consumed: it records nothing afterwards, but its gradients stay readable.
func (tp *Tape) Backward(loss *Tensor) error {
	if loss == nil || loss.Size() != 1 {
		return Errorf(ErrShape, "Tape.Backward: loss must hold one value, got %v", shapeOf(loss))
	}
	return tp.BackwardFrom(loss, Full(1, loss.Shape...))
}

// BackwardFrom is [Tape.Backward] seeded with dLoss/dy = dy for a tensor y
// of any shape (dy has y's shape). It computes the gradient of
// sum(y * dy).
func (tp *Tape) BackwardFrom(y, dy *Tensor) (err error) {
	defer Recover(&err)
	if tp == nil {
		return Errorf(ErrConfig, "Tape.Backward on a nil tape")
	}
	if tp.done {
		return Errorf(ErrConfig, "Tape.Backward called twice: a tape is used once")
	}
	if !tp.needs[y] {
		return Errorf(ErrConfig, "Tape.Backward: the output was not recorded on this tape (nothing it depends on needs a gradient)")
	}
	if dy.Size() != y.Size() {
		return Errorf(ErrShape, "Tape.BackwardFrom: dy shape %v, y shape %v", dy.Shape, y.Shape)
	}
	tp.done = true
	g := tp.GradOf(y)
	for i, v := range dy.Data {
		g.Data[i] += v
	}
	for i := len(tp.steps) - 1; i >= 0; i-- {
		s := tp.steps[i]
		if d, ok := tp.grads[s.out]; ok {
			s.backward(d)
		}
	}
	tp.steps = nil
	return nil
}

func shapeOf(t *Tensor) any {
	if t == nil {
		return "nil"
	}
	return t.Shape
}
