package kernels

import "math"

// AdamWParams are the scalars of one AdamW update at step t with learning
// rate lr, betas β₁, β₂, weight decay λ and ε.
type AdamWParams struct {
	Decay        float32 // 1 - lr·λ
	Beta1, Beta2 float32
	BC2Sqrt      float32 // √(1-β₂ᵗ)
	Eps          float32
	StepSize     float32 // lr/(1-β₁ᵗ)
}

// AdamW applies one update to the weights w given their gradient g and
// first and second moments m and v (updated in place), as
// torch.optim.AdamW: w ← w·Decay; m ← β₁m + (1-β₁)g; v ← β₂v + (1-β₂)g²;
// w ← w - StepSize·m/(√v/BC2Sqrt + Eps).
func AdamW(w, g, m, v []float32, p AdamWParams) {
	g, m, v = g[:len(w)], m[:len(w)], v[:len(w)]
	b1, b2 := p.Beta1, p.Beta2
	a1, a2 := 1-b1, 1-b2
	if vi := simd(); vi != nil && len(w) > 0 {
		vi.adamW(&w[0], &g[0], &m[0], &v[0], len(w), [8]float32{p.Decay, b1, a1, b2, a2, p.BC2Sqrt, p.Eps, p.StepSize})
		return
	}
	for i := range w {
		w[i] *= p.Decay
		m[i] = m[i]*b1 + a1*g[i]
		v[i] = v[i]*b2 + a2*g[i]*g[i]
		denom := float32(math.Sqrt(float64(v[i])))/p.BC2Sqrt + p.Eps
		w[i] -= p.StepSize * m[i] / denom
	}
}
