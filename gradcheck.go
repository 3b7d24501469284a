package vlm

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"gonum.org/v1/gonum/diff/fd"
)

// GradCheckOptions tunes [CheckGrad]. The zero value is usable.
type GradCheckOptions struct {
	// Step is the finite-difference step (default 1e-2, suited to float32
	// forward passes whose loss is of order 1).
	Step float64
	// RelTol and AbsTol bound |analytic - numeric| <= AbsTol + RelTol·s,
	// where s is the largest |numeric| of the tensor being checked
	// (defaults 1e-2 and 1e-3).
	RelTol, AbsTol float64
	// MaxPerTensor is how many entries of each tensor are checked, chosen
	// at random with Seed (default 12; a negative value checks all).
	MaxPerTensor int
	Seed         uint64
	// Inputs are non-parameter tensors to check as well; loss must use
	// these very tensors (they are marked with Tape.Watch).
	Inputs []*Tensor
}

// CheckGrad compares the gradients computed by the tape for every
// trainable parameter of m (and every tensor in opts.Inputs) with central
// finite differences (gonum's diff/fd) of loss, and returns an error
// listing the entries that disagree, or nil.
//
// loss builds the scalar to differentiate from the tape it is given; it is
// called once with a fresh tape and then many times with a nil tape, so
// it must be deterministic (no dropout). Multiply the output by a fixed
// random tensor and sum, so that every entry matters.
func CheckGrad(m Module, loss func(tp *Tape) *Tensor, opts *GradCheckOptions) (err error) {
	defer Recover(&err)
	o := GradCheckOptions{Step: 1e-2, RelTol: 1e-2, AbsTol: 1e-3, MaxPerTensor: 12}
	if opts != nil {
		if opts.Step > 0 {
			o.Step = opts.Step
		}
		if opts.RelTol > 0 {
			o.RelTol = opts.RelTol
		}
		if opts.AbsTol > 0 {
			o.AbsTol = opts.AbsTol
		}
		if opts.MaxPerTensor != 0 {
			o.MaxPerTensor = opts.MaxPerTensor
		}
		o.Seed, o.Inputs = opts.Seed, opts.Inputs
	}
	type target struct {
		name string
		t    *Tensor
		p    *Param
	}
	var targets []target
	if m != nil {
		seen := map[*Param]bool{}
		m.VisitParams("", func(name string, p *Param) {
			if !p.Frozen && !seen[p] {
				seen[p] = true
				targets = append(targets, target{name, p.Value, p})
			}
		})
	}
	for i, x := range o.Inputs {
		targets = append(targets, target{fmt.Sprintf("input %d", i), x, nil})
	}
	if len(targets) == 0 {
		return Errorf(ErrConfig, "CheckGrad: nothing to check (no trainable parameters or inputs)")
	}
	saved := map[*Param]*Tensor{}
	for _, tg := range targets {
		if tg.p != nil {
			saved[tg.p], tg.p.Grad = tg.p.Grad, nil
		}
	}
	defer func() {
		for p, g := range saved {
			p.Grad = g
		}
	}()
	tp := NewTape()
	for _, x := range o.Inputs {
		tp.Watch(x)
	}
	l := loss(tp)
	if err := tp.Backward(l); err != nil {
		return err
	}
	rng := NewRand(o.Seed)
	var bad []string
	for _, tg := range targets {
		var g *Tensor
		if tg.p != nil {
			g = tg.p.Grad
		} else {
			g = tp.Grad(tg.t)
		}
		idx := make([]int, tg.t.Size())
		for i := range idx {
			idx[i] = i
		}
		if o.MaxPerTensor > 0 && len(idx) > o.MaxPerTensor {
			rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
			idx = idx[:o.MaxPerTensor]
			sort.Ints(idx)
		}
		num := make([]float64, len(idx))
		scale := 0.0
		for k, i := range idx {
			orig := tg.t.Data[i]
			f := func(x float64) float64 {
				tg.t.Data[i] = float32(x)
				return float64(loss(nil).Data[0])
			}
			num[k] = fd.Derivative(f, float64(orig), &fd.Settings{Formula: fd.Central, Step: o.Step})
			tg.t.Data[i] = orig
			scale = max(scale, math.Abs(num[k]))
		}
		for k, i := range idx {
			var a float64
			if g != nil {
				a = float64(g.Data[i])
			}
			if d := math.Abs(a - num[k]); !(d <= o.AbsTol+o.RelTol*scale) {
				bad = append(bad, fmt.Sprintf("%s[%d]: analytic %.6g, numeric %.6g", tg.name, i, a, num[k]))
			}
		}
	}
	if len(bad) > 0 {
		if len(bad) > 20 {
			bad = append(bad[:20], fmt.Sprintf("... and %d more", len(bad)-20))
		}
		return fmt.Errorf("gradient check failed:\n  %s", strings.Join(bad, "\n  "))
	}
	return nil
}
