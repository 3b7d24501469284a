package vlm_test

import (
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/internal/testutil"
	"github.com/stretchr/testify/require"
)

// Golden tests against PyTorch 1.13 (testdata/gen/core.py).

func TestGoldenLinear(t *testing.T) {
	g := testutil.LoadGolden(t, "testdata/core.safetensors")
	l := &vlm.Linear{Weight: vlm.NewParam(g.T("linear.weight")), Bias: vlm.NewParam(g.T("linear.bias"))}
	x := g.T("linear.x")
	tp := vlm.NewTape()
	tp.Watch(x)
	y := l.Forward(tp, x)
	require.NoError(t, tp.Backward(vlm.Sum(tp, vlm.Mul(tp, y, g.T("linear.r")))))
	testutil.Close(t, "linear.y", y, g.T("linear.y"))
	testutil.Close(t, "linear.dx", tp.Grad(x), g.T("linear.dx"))
	testutil.Close(t, "linear.dweight", l.Weight.Grad, g.T("linear.dweight"))
	testutil.Close(t, "linear.dbias", l.Bias.Grad, g.T("linear.dbias"))
}

func TestGoldenLayerNorm(t *testing.T) {
	g := testutil.LoadGolden(t, "testdata/core.safetensors")
	for _, c := range []struct {
		tag string
		eps float32
	}{{"ln12", 1e-12}, {"ln5", 1e-5}} {
		t.Run(c.tag, func(t *testing.T) {
			ln := &vlm.LayerNorm{Weight: vlm.NewParam(g.T(c.tag + ".weight")), Bias: vlm.NewParam(g.T(c.tag + ".bias")), Eps: c.eps}
			x := g.T(c.tag + ".x")
			tp := vlm.NewTape()
			tp.Watch(x)
			y := ln.Forward(tp, x)
			require.NoError(t, tp.Backward(vlm.Sum(tp, vlm.Mul(tp, y, g.T(c.tag+".r")))))
			testutil.Close(t, c.tag+".y", y, g.T(c.tag+".y"))
			testutil.Close(t, c.tag+".dx", tp.Grad(x), g.T(c.tag+".dx"))
			testutil.Close(t, c.tag+".dweight", ln.Weight.Grad, g.T(c.tag+".dweight"))
			testutil.Close(t, c.tag+".dbias", ln.Bias.Grad, g.T(c.tag+".dbias"))
		})
	}
}

func TestGoldenActivations(t *testing.T) {
	g := testutil.LoadGolden(t, "testdata/core.safetensors")
	for _, c := range []struct {
		tag string
		act vlm.Activation
	}{
		{"gelu", vlm.ActGELU}, {"gelu_tanh", vlm.ActGELUTanh}, {"quick_gelu", vlm.ActQuickGELU},
		{"relu", vlm.ActReLU}, {"tanh", vlm.ActTanh}, {"sigmoid", vlm.ActSigmoid},
	} {
		t.Run(c.tag, func(t *testing.T) {
			x := g.T("act.x")
			tp := vlm.NewTape()
			tp.Watch(x)
			y := c.act.Apply(tp, x)
			require.NoError(t, tp.Backward(vlm.Sum(tp, vlm.Mul(tp, y, g.T("act.r")))))
			testutil.Close(t, c.tag+".y", y, g.T("act."+c.tag+".y"))
			testutil.Close(t, c.tag+".dx", tp.Grad(x), g.T("act."+c.tag+".dx"))
		})
	}
}

func TestGoldenSoftmaxMask(t *testing.T) {
	g := testutil.LoadGolden(t, "testdata/core.safetensors")
	x := g.T("softmax.x")
	tp := vlm.NewTape()
	tp.Watch(x)
	y := vlm.Softmax(tp, x, g.T("softmax.mask"))
	require.NoError(t, tp.Backward(vlm.Sum(tp, vlm.Mul(tp, y, g.T("softmax.r")))))
	testutil.Close(t, "softmax.y", y, g.T("softmax.y"))
	testutil.Close(t, "softmax.dx", tp.Grad(x), g.T("softmax.dx"))
}

func TestGoldenCrossEntropy(t *testing.T) {
	g := testutil.LoadGolden(t, "testdata/core.safetensors")
	for _, c := range []struct {
		tag       string
		smoothing float32
	}{{"ce", 0}, {"ce_smooth", 0.1}} {
		t.Run(c.tag, func(t *testing.T) {
			logits := g.T("ce.logits")
			tp := vlm.NewTape()
			tp.Watch(logits)
			loss := vlm.CrossEntropy(tp, logits, g.Ints("ce.targets"), c.smoothing)
			require.NoError(t, tp.Backward(loss))
			testutil.Close(t, c.tag+".loss", loss, g.T(c.tag+".loss"))
			testutil.Close(t, c.tag+".dlogits", tp.Grad(logits), g.T(c.tag+".dlogits"))
		})
	}
}

func TestGoldenAdamW(t *testing.T) {
	g := testutil.LoadGolden(t, "testdata/core.safetensors")
	w, b := vlm.NewParam(g.T("adamw.w0")), vlm.NewParam(g.T("adamw.b0"))
	m := vlm.Modules{{Name: "w", Module: single{w}}, {Name: "b", Module: single{b}}}
	opt := &vlm.AdamW{LR: 1e-2, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1}
	for step := range 3 {
		w.Grad, b.Grad = g.T(stepName("adamw.gw", step)), g.T(stepName("adamw.gb", step))
		opt.Step(m)
		testutil.Close(t, stepName("adamw.w", step+1), w.Value, g.T(stepName("adamw.w", step+1)))
		testutil.Close(t, stepName("adamw.b", step+1), b.Value, g.T(stepName("adamw.b", step+1)))
	}
}

func TestGoldenSGD(t *testing.T) {
	g := testutil.LoadGolden(t, "testdata/core.safetensors")
	w := vlm.NewParam(g.T("sgd.w0"))
	opt := &vlm.SGD{LR: 0.1, Momentum: 0.9, Nesterov: true, WeightDecay: 0.01}
	for step := range 2 {
		w.Grad = g.T(stepName("sgd.g", step))
		opt.Step(single{w})
		testutil.Close(t, stepName("sgd.w", step+1), w.Value, g.T(stepName("sgd.w", step+1)))
	}
}

type single struct{ p *vlm.Param }

func (s single) VisitParams(prefix string, visit func(string, *vlm.Param)) {
	visit(prefix+"value", s.p)
}

func stepName(prefix string, i int) string { return prefix + string(rune('0'+i)) }
