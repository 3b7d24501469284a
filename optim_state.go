package vlm

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

const (
	// stateKind is the metadata key naming the optimizer of a state file.
	stateKind = "optimizer"
	// maxStateStep bounds the step counts a state file holds exactly as
	// float32 values.
	maxStateStep = 1 << 24
)

// saveOptimState writes, for each parameter of m with state (once per
// *Param, under the first name visited), the tensors parts(p) returns
// (nil: no state) under NAME.suffix, atomically.
func saveOptimState(m Module, path, kind string, parts func(p *Param) map[string]*Tensor) (err error) {
	defer Recover(&err)
	w := &Weights{Tensors: map[string]*Tensor{}, Metadata: map[string]string{"format": "pt", stateKind: kind}}
	seen := map[*Param]bool{}
	m.VisitParams("", func(name string, p *Param) {
		if seen[p] {
			return
		}
		seen[p] = true
		for suffix, t := range parts(p) {
			w.Tensors[name+"."+suffix] = t
		}
	})
	return WriteSafetensors(path, w, F32)
}

// paramState is the state of one parameter in a state file: its tensors
// by suffix.
type paramState struct {
	name  string
	p     *Param
	parts map[string]*Tensor
}

// loadOptimState reads a state file of the given kind written for m and
// returns the state of each parameter it holds, by name. Every parameter
// in the file must be one of m's, with every suffix, each of the shape
// shape(p, suffix) gives, and finite; parameters of m absent from the
// file are left out (they start afresh, as in PyTorch).
func loadOptimState(m Module, path, kind string, suffixes []string, shape func(p *Param, suffix string) []int) (_ []paramState, err error) {
	defer Recover(&err)
	w, err := ReadSafetensors(path)
	if err != nil {
		return nil, err
	}
	if got := w.Metadata[stateKind]; got != kind {
		return nil, Errorf(ErrCheckpoint, "load %s state from %s: the file holds %q optimizer state", kind, path, got)
	}
	params := map[string]*Param{}
	m.VisitParams("", func(name string, p *Param) { params[name] = p })
	byName := map[string]*paramState{}
	owner := map[*Param]string{} // the name each parameter's state is under
	for _, key := range sortedKeys(w.Tensors) {
		t := w.Tensors[key]
		name, suffix, p := "", "", (*Param)(nil)
		for _, s := range suffixes {
			if n, ok := strings.CutSuffix(key, "."+s); ok && params[n] != nil {
				name, suffix, p = n, s, params[n]
				break
			}
		}
		if p == nil {
			return nil, Errorf(ErrCheckpoint, "load %s state from %s: %q is not the state of a parameter of the module (want NAME.%s)", kind, path, key, strings.Join(suffixes, ", NAME."))
		}
		if want := shape(p, suffix); !equalInts(t.Shape, want) {
			return nil, Errorf(ErrCheckpoint, "load %s state from %s: %s has shape %v, want %v", kind, path, key, t.Shape, want)
		}
		if err := CheckFinite(fmt.Sprintf("%s state %s", kind, key), t); err != nil {
			return nil, Errorf(ErrCheckpoint, "load %s state from %s: %v", kind, path, err)
		}
		if o, ok := owner[p]; ok && o != name {
			return nil, Errorf(ErrCheckpoint, "load %s state from %s: %s and %s are one (tied) parameter with two states", kind, path, o, name)
		}
		owner[p] = name
		if byName[name] == nil {
			byName[name] = &paramState{name: name, p: p, parts: map[string]*Tensor{}}
		}
		byName[name].parts[suffix] = t
	}
	var out []paramState
	for _, name := range sortedKeys(byName) {
		ps := byName[name]
		if len(ps.parts) != len(suffixes) {
			return nil, Errorf(ErrCheckpoint, "load %s state from %s: %s has %d of its %d state tensors (%s)", kind, path, name, len(ps.parts), len(suffixes), strings.Join(suffixes, ", "))
		}
		out = append(out, *ps)
	}
	return out, nil
}

// SaveState writes o's state for the parameters of m to a safetensors
// file at path, atomically, so that training can resume where it stopped
// (torch.save(optimizer.state_dict())). Each parameter NAME of m that o
// has updated gets NAME.exp_avg and NAME.exp_avg_sq, of its shape, and
// NAME.step, the step count as a one-element float tensor (PyTorch's state
// keys, and its representation of the step). Hyperparameters are not
// saved: build the optimizer as before, then [AdamW.LoadState].
func (o *AdamW) SaveState(m Module, path string) error {
	return saveOptimState(m, path, "AdamW", func(p *Param) map[string]*Tensor {
		s := o.state[p]
		if s == nil {
			return nil
		}
		if s.step >= maxStateStep {
			Panicf(ErrConfig, "save AdamW state to %s: step %d does not fit the float32 step of the file (< 2^24)", path, s.step)
		}
		return map[string]*Tensor{
			"exp_avg":    FromData(s.m, p.Value.Shape...),
			"exp_avg_sq": FromData(s.v, p.Value.Shape...),
			"step":       FromData([]float32{float32(s.step)}, 1),
		}
	})
}

// LoadState replaces o's state with the one [AdamW.SaveState] wrote to
// path for the parameters of m. Every tensor of the file must be the
// state of one of m's parameters, complete, of the right shape and
// finite; parameters the file does not name start afresh, as in PyTorch.
// On error o is unchanged.
func (o *AdamW) LoadState(m Module, path string) error {
	state, err := loadOptimState(m, path, "AdamW", []string{"exp_avg", "exp_avg_sq", "step"}, func(p *Param, suffix string) []int {
		if suffix == "step" {
			return []int{1}
		}
		return p.Value.Shape
	})
	if err != nil {
		return err
	}
	next := map[*Param]*adamState{}
	for _, ps := range state {
		step := float64(ps.parts["step"].Data[0])
		if step < 1 || step != math.Trunc(step) || step >= maxStateStep {
			return Errorf(ErrCheckpoint, "load AdamW state from %s: %s.step is %v, want a whole number from 1 to 2^24-1", path, ps.name, step)
		}
		if slices.ContainsFunc(ps.parts["exp_avg_sq"].Data, func(v float32) bool { return v < 0 }) {
			return Errorf(ErrCheckpoint, "load AdamW state from %s: %s.exp_avg_sq holds a negative value", path, ps.name)
		}
		next[ps.p] = &adamState{step: int(step), m: ps.parts["exp_avg"].Data, v: ps.parts["exp_avg_sq"].Data}
	}
	o.state = next
	return nil
}

// SaveState writes o's momentum buffers for the parameters of m to a
// safetensors file at path, atomically: NAME.momentum_buffer (PyTorch's
// state key) for each parameter NAME of m that o has updated. Without
// momentum there is no state, and the file holds no tensors.
// Hyperparameters are not saved: build the optimizer as before, then
// [SGD.LoadState].
func (o *SGD) SaveState(m Module, path string) error {
	return saveOptimState(m, path, "SGD", func(p *Param) map[string]*Tensor {
		b, ok := o.buf[p]
		if !ok {
			return nil
		}
		return map[string]*Tensor{"momentum_buffer": FromData(b, p.Value.Shape...)}
	})
}

// LoadState replaces o's momentum buffers with the ones [SGD.SaveState]
// wrote to path for the parameters of m, checked as [AdamW.LoadState]
// checks its state. On error o is unchanged.
func (o *SGD) LoadState(m Module, path string) error {
	state, err := loadOptimState(m, path, "SGD", []string{"momentum_buffer"}, func(p *Param, _ string) []int { return p.Value.Shape })
	if err != nil {
		return err
	}
	next := map[*Param][]float32{}
	for _, ps := range state {
		next[ps.p] = ps.parts["momentum_buffer"].Data
	}
	o.buf = next
	return nil
}
