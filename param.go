package vlm

import (
	"path"
	"sort"
)

// Param is a trainable tensor: its value, its accumulated gradient, and
// whether it is frozen.
//
// Grad is allocated by the first backward pass that reaches the parameter
// and accumulates (+=) across Backward calls until [ZeroGrad]. A frozen
// parameter never gets a gradient and optimizers skip it, but gradients
// still flow through the layers that use it.
type Param struct {
	Value  *Tensor
	Grad   *Tensor
	Frozen bool
}

// NewParam wraps v in a trainable parameter.
func NewParam(v *Tensor) *Param { return &Param{Value: v} }

// GradBuf returns p.Grad, allocating it as zeros first if needed.
func (p *Param) GradBuf() *Tensor {
	if p.Grad == nil || p.Grad.Size() != p.Value.Size() {
		p.Grad = Zeros(p.Value.Shape...)
	}
	return p.Grad
}

// Module is anything that holds parameters. VisitParams calls visit once
// for every parameter with its full name, prefix + the module's own key.
// The keys are those of the reference implementation's state_dict
// ("encoder.layer.0.attention.attention.query.weight"), so names double as
// checkpoint keys. A composite visits its children with prefix+"child.".
// A parameter shared by two names (tied weights) is visited under both.
type Module interface {
	VisitParams(prefix string, visit func(name string, p *Param))
}

// NamedParam is a parameter with its name.
type NamedParam struct {
	Name string
	*Param
}

// Params lists the parameters of m in visiting order, each name once.
func Params(m Module) []NamedParam {
	var out []NamedParam
	m.VisitParams("", func(name string, p *Param) { out = append(out, NamedParam{name, p}) })
	return out
}

// ParamMap returns the parameters of m by name.
func ParamMap(m Module) map[string]*Param {
	out := map[string]*Param{}
	m.VisitParams("", func(name string, p *Param) { out[name] = p })
	return out
}

// CountParams returns the number of scalar values in all distinct
// parameters of m and in those that are not frozen. Tied parameters count
// once.
func CountParams(m Module) (total, trainable int) {
	seen := map[*Param]bool{}
	m.VisitParams("", func(_ string, p *Param) {
		if seen[p] {
			return
		}
		seen[p] = true
		total += p.Value.Size()
		if !p.Frozen {
			trainable += p.Value.Size()
		}
	})
	return total, trainable
}

// Freeze marks every parameter whose name matches pattern as frozen and
// returns how many matched, so that a misspelt pattern is visible (0).
// Patterns use path.Match syntax; '*' also matches dots, so
// "encoder.layer.*.crossattention.*" selects every cross-attention
// parameter, and "*" selects all.
func Freeze(m Module, pattern string) int { return setFrozen(m, pattern, true) }

// Unfreeze is the inverse of [Freeze]; it returns how many parameters
// matched.
func Unfreeze(m Module, pattern string) int { return setFrozen(m, pattern, false) }

func setFrozen(m Module, pattern string, frozen bool) int {
	n := 0
	m.VisitParams("", func(name string, p *Param) {
		if ok, err := path.Match(pattern, name); err == nil && ok {
			p.Frozen = frozen
			if frozen {
				p.Grad = nil
			}
			n++
		}
	})
	return n
}

// ZeroGrad zeroes the gradients of every parameter of m.
func ZeroGrad(m Module) {
	m.VisitParams("", func(_ string, p *Param) {
		if p.Grad != nil {
			clear(p.Grad.Data)
		}
	})
}

// ParamNames returns the sorted names of m's parameters.
func ParamNames(m Module) []string {
	var names []string
	m.VisitParams("", func(name string, _ *Param) { names = append(names, name) })
	sort.Strings(names)
	return names
}

// Modules is a Module made of named children, visited in order with
// prefix+name+".". It is the usual way to expose the parameters of a
// composite built from several modules.
type Modules []NamedModule

// NamedModule is one child of [Modules].
type NamedModule struct {
	Name string
	Module
}

// VisitParams implements Module.
func (ms Modules) VisitParams(prefix string, visit func(string, *Param)) {
	for _, c := range ms {
		if c.Module == nil {
			continue
		}
		p := prefix
		if c.Name != "" {
			p += c.Name + "."
		}
		c.VisitParams(p, visit)
	}
}
