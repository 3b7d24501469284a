package vlm

// Recorded returns the outputs of the steps tp has recorded so far, for
// tests that check where their storage comes from.
func Recorded(tp *Tape) []*Tensor {
	out := make([]*Tensor, len(tp.steps))
	for i, s := range tp.steps {
		out[i] = s.out
	}
	return out
}

// SetAdamWSteps sets the step count of every parameter o has state for,
// for tests of step counts too long to run.
func SetAdamWSteps(o *AdamW, step int) {
	for _, s := range o.state {
		s.step = step
	}
}
