package vlm

import (
	"math"

	"github.com/govlm/vlm/internal/kernels"
)

// Optimizer updates the trainable parameters of a module from their
// accumulated gradients. Frozen parameters and parameters without a
// gradient are skipped.
type Optimizer interface {
	Step(m Module)
}

// SGD is stochastic gradient descent with momentum and weight decay,
// with torch.optim.SGD's semantics (dampening 0).
type SGD struct {
	LR          float64
	Momentum    float64
	WeightDecay float64
	Nesterov    bool

	buf map[*Param][]float32
}

// Step applies one update to every trainable parameter of m.
func (o *SGD) Step(m Module) {
	if o.buf == nil {
		o.buf = map[*Param][]float32{}
	}
	forEachTrainable(m, func(p *Param) {
		w, g := p.Value.Data, p.Grad.Data
		b, seen := o.buf[p]
		if o.Momentum != 0 && !seen {
			b = make([]float32, len(w))
			o.buf[p] = b
		}
		lr, mom, wd := float32(o.LR), float32(o.Momentum), float32(o.WeightDecay)
		for i := range w {
			d := g[i] + wd*w[i]
			if mom != 0 {
				if seen {
					b[i] = mom*b[i] + d
				} else {
					b[i] = d
				}
				if o.Nesterov {
					d += mom * b[i]
				} else {
					d = b[i]
				}
			}
			w[i] -= lr * d
		}
	})
}

// AdamW is Adam with decoupled weight decay, with torch.optim.AdamW's
// semantics: w ← w·(1-lr·λ); m ← β₁m + (1-β₁)g; v ← β₂v + (1-β₂)g²;
// w ← w - lr/(1-β₁ᵗ) · m / (√v/√(1-β₂ᵗ) + ε), with a step count t per
// parameter.
type AdamW struct {
	LR          float64
	Beta1       float64
	Beta2       float64
	Eps         float64
	WeightDecay float64

	state map[*Param]*adamState
}

type adamState struct {
	step int
	m, v []float32
}

// NewAdamW returns AdamW with PyTorch's defaults (betas 0.9, 0.999,
// eps 1e-8, weight decay 0.01) and the given learning rate.
func NewAdamW(lr float64) *AdamW {
	return &AdamW{LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01}
}

// Step applies one update to every trainable parameter of m.
func (o *AdamW) Step(m Module) {
	if o.state == nil {
		o.state = map[*Param]*adamState{}
	}
	forEachTrainable(m, func(p *Param) {
		s := o.state[p]
		if s == nil {
			s = &adamState{m: make([]float32, p.Value.Size()), v: make([]float32, p.Value.Size())}
			o.state[p] = s
		}
		s.step++
		bc1 := 1 - math.Pow(o.Beta1, float64(s.step))
		bc2 := 1 - math.Pow(o.Beta2, float64(s.step))
		kernels.AdamW(p.Value.Data, p.Grad.Data, s.m, s.v, kernels.AdamWParams{
			Decay: float32(1 - o.LR*o.WeightDecay),
			Beta1: float32(o.Beta1), Beta2: float32(o.Beta2),
			BC2Sqrt:  float32(math.Sqrt(bc2)),
			Eps:      float32(o.Eps),
			StepSize: float32(o.LR / bc1),
		})
	})
}

// forEachTrainable calls f once for every distinct non-frozen parameter
// of m that has a gradient.
func forEachTrainable(m Module, f func(*Param)) {
	seen := map[*Param]bool{}
	m.VisitParams("", func(_ string, p *Param) {
		if p.Frozen || p.Grad == nil || seen[p] {
			return
		}
		seen[p] = true
		f(p)
	})
}

// ClipGradNorm scales the gradients of m's trainable parameters so that
// their global L2 norm is at most maxNorm, and returns the norm before
// clipping (torch.nn.utils.clip_grad_norm_, factor maxNorm/(norm+1e-6)).
func ClipGradNorm(m Module, maxNorm float64) float64 {
	var ss float64
	forEachTrainable(m, func(p *Param) {
		for _, g := range p.Grad.Data {
			ss += float64(g) * float64(g)
		}
	})
	norm := math.Sqrt(ss)
	if c := maxNorm / (norm + 1e-6); c < 1 {
		forEachTrainable(m, func(p *Param) {
			for i := range p.Grad.Data {
				p.Grad.Data[i] *= float32(c)
			}
		})
	}
	return norm
}

// ClipGradValue clamps every gradient value of m's trainable parameters to
// [-limit, limit] (the Show-Attend-Tell tutorial's clip_gradient).
func ClipGradValue(m Module, limit float32) {
	forEachTrainable(m, func(p *Param) {
		for i, g := range p.Grad.Data {
			p.Grad.Data[i] = min(max(g, -limit), limit)
		}
	})
}

// CosineSchedule is a learning-rate schedule: linear warmup from 0 to Peak
// over Warmup steps, then cosine decay to Min at step Total (and Min
// after). With Min 0 it is transformers' get_cosine_schedule_with_warmup
// (step 0 of the warmup has learning rate 0).
type CosineSchedule struct {
	Peak, Min     float64
	Warmup, Total int
}

// LR returns the learning rate for step (counted from 0).
func (s CosineSchedule) LR(step int) float64 {
	if step < s.Warmup {
		return s.Peak * float64(step) / float64(s.Warmup)
	}
	if step >= s.Total || s.Total <= s.Warmup {
		return s.Min
	}
	p := float64(step-s.Warmup) / float64(s.Total-s.Warmup)
	return s.Min + (s.Peak-s.Min)*0.5*(1+math.Cos(math.Pi*p))
}
