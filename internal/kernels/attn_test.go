package kernels

import (
	"math"
	"testing"
)

// attn1 is one head, one query, two keys of width 1, in [B, H, T, D]
// layout.
func attn1(q, k, v []float32, tq, tk int) *Attention {
	s := func(d []float32, t int) Strided { return Strided{Data: d, BStride: t, HStride: t, Row: 1} }
	return &Attention{B: 1, H: 1, Tq: tq, Tk: tk, Dh: 1, Dv: 1, Scale: 1,
		Q: s(q, tq), K: s(k, tk), V: s(v, tk), O: s(make([]float32, tq), tq)}
}

func near(a, b float32) bool { return math.Abs(float64(a-b)) <= 1e-6 }

func TestAttentionForwardByHand(t *testing.T) {
	// Scores q·k = [0, ln 3]: probabilities [1/4, 3/4]; out = ¼·2 + ¾·6 = 5.
	ln3 := float32(math.Log(3))
	a := attn1([]float32{1}, []float32{0, ln3}, []float32{2, 6}, 1, 2)
	p := make([]float32, 2)
	AttentionForward(a, p, nil)
	if !near(p[0], 0.25) || !near(p[1], 0.75) || !near(a.O.Data[0], 5) {
		t.Fatalf("probs %v, out %v; want [0.25 0.75], 5", p, a.O.Data)
	}

	// Masking key 1 leaves key 0 alone: out = 2.
	a.Keep = Rows[bool]{Data: []bool{true, false}}
	AttentionForward(a, p, nil)
	if p[0] != 1 || p[1] != 0 || a.O.Data[0] != 2 {
		t.Fatalf("masked: probs %v, out %v", p, a.O.Data)
	}

	// Both keys masked: zeros (exclude), NaN, uniform (replace), the
	// unmasked row (add a constant).
	a.Keep = Rows[bool]{Data: []bool{false, false}}
	for _, c := range []struct {
		fill  int
		value float32
		out   float32
	}{{FillExclude, 0, 0}, {FillNaN, 0, float32(math.NaN())}, {FillReplace, -math.MaxFloat32, 4}, {FillAdd, -10000, 5}} {
		a.Fill, a.FillValue = c.fill, c.value
		AttentionForward(a, p, nil)
		got := a.O.Data[0]
		if math.IsNaN(float64(c.out)) != math.IsNaN(float64(got)) || (!math.IsNaN(float64(c.out)) && math.Abs(float64(got-c.out)) > 2e-3) {
			t.Errorf("fill %d: out %v, want %v", c.fill, got, c.out)
		}
	}
}

func TestAttentionCausalAndRows(t *testing.T) {
	// Two queries over three keys (one cached): query 0 sees keys 0, 1;
	// query 1 sees all; a zeroed row outputs 0.
	a := attn1([]float32{0, 0}, []float32{0, 0, 0}, []float32{1, 2, 6}, 2, 3)
	a.Causal = true
	p := make([]float32, 6)
	AttentionForward(a, p, nil)
	want := []float32{0.5, 0.5, 0, 1.0 / 3, 1.0 / 3, 1.0 / 3}
	for i := range want {
		if !near(p[i], want[i]) {
			t.Fatalf("probs %v, want %v", p, want)
		}
	}
	if !near(a.O.Data[0], 1.5) || !near(a.O.Data[1], 3) {
		t.Fatalf("out %v, want [1.5 3]", a.O.Data)
	}
	a.KeepRows = Rows[bool]{Data: []bool{false, true}, Row: 1}
	AttentionForward(a, p, nil)
	if a.O.Data[0] != 0 || !near(a.O.Data[1], 3) {
		t.Fatalf("rows: out %v, want [0 3]", a.O.Data)
	}
}

func TestAttentionBackwardByHand(t *testing.T) {
	// p = softmax([0, q·k1]) with k1 = 1, v = [0, 1]: out = σ(q), so
	// dout/dq = σ(q)(1-σ(q)) = 1/4 at q = 0; dout/dk1 = q·σ' = 0;
	// dout/dv = p = [½, ½].
	a := attn1([]float32{0}, []float32{0, 1}, []float32{0, 1}, 1, 2)
	p := make([]float32, 2)
	AttentionForward(a, p, nil)
	dq, dk, dv := make([]float32, 1), make([]float32, 2), make([]float32, 2)
	s := func(d []float32, t int) Strided { return Strided{Data: d, BStride: t, HStride: t, Row: 1} }
	AttentionBackward(a, p, nil, s([]float32{1}, 1), s(dq, 1), s(dk, 2), s(dv, 2))
	if !near(dq[0], 0.25) || !near(dk[0], 0) || !near(dk[1], 0) || !near(dv[0], 0.5) || !near(dv[1], 0.5) {
		t.Fatalf("dq %v, dk %v, dv %v", dq, dk, dv)
	}
	// Replaced (masked) scores pass no gradient even on a uniform row.
	a.Keep = Rows[bool]{Data: []bool{false, false}}
	a.Fill, a.FillValue = FillReplace, -math.MaxFloat32
	AttentionForward(a, p, nil)
	dq[0] = 0
	AttentionBackward(a, p, nil, s([]float32{1}, 1), s(dq, 1), Strided{}, Strided{})
	if dq[0] != 0 {
		t.Fatalf("replace: dq %v, want 0", dq)
	}
}

func TestExp32(t *testing.T) {
	worst := 0.0
	for i := 0; i <= 2000000; i++ {
		x := -87.3 * float64(i) / 2000000
		want := math.Exp(float64(float32(x)))
		got := float64(Exp32(float32(x)))
		worst = max(worst, math.Abs(got-want)/want)
	}
	if worst > 2e-7 {
		t.Fatalf("exp32: max relative error %.3g", worst)
	}
	t.Logf("exp32: max relative error %.3g", worst)
	for _, x := range []float32{-88, -1000, float32(math.Inf(-1))} {
		if Exp32(x) != 0 {
			t.Errorf("Exp32(%v) = %v, want 0", x, Exp32(x))
		}
	}
	if Exp32(0) != 1 {
		t.Errorf("Exp32(0) = %v", Exp32(0))
	}
}

func BenchmarkExp(b *testing.B) {
	x := make([]float32, 4096)
	for i := range x {
		x[i] = -float32(i) / 256
	}
	b.Run("exp32", func(b *testing.B) {
		var s float32
		for b.Loop() {
			for _, v := range x {
				s += Exp32(v)
			}
		}
		_ = s
	})
	b.Run("math.Exp", func(b *testing.B) {
		var s float32
		for b.Loop() {
			for _, v := range x {
				s += float32(math.Exp(float64(v)))
			}
		}
		_ = s
	})
}
