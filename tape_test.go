package vlm_test

import (
	"errors"
	"io/fs"
	"math"
	"sync"
	"testing"

	"github.com/govlm/vlm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stack is two Linear layers: lower feeds upper.
type stack struct{ lower, upper *vlm.Linear }

func (s *stack) VisitParams(prefix string, visit func(string, *vlm.Param)) {
	s.lower.VisitParams(prefix+"lower.", visit)
	s.upper.VisitParams(prefix+"upper.", visit)
}

func (s *stack) loss(tp *vlm.Tape, x *vlm.Tensor) *vlm.Tensor {
	return vlm.MSE(tp, s.upper.Forward(tp, vlm.Tanh(tp, s.lower.Forward(tp, x))), vlm.Zeros(x.Dim(0), 2))
}

func newStack() *stack {
	rng := vlm.NewRand(3)
	return &stack{lower: vlm.NewLinear(rng, 4, 5, true), upper: vlm.NewLinear(rng, 5, 2, true)}
}

func TestFrozenLayerPassesGradientThrough(t *testing.T) {
	s := newStack()
	require.Equal(t, 2, vlm.Freeze(s, "upper.*"))
	before := s.upper.Weight.Value.Clone()
	x := vlm.RandN(vlm.NewRand(4), 1, 3, 4)
	opt := vlm.NewAdamW(0.1)
	for range 3 {
		vlm.ZeroGrad(s)
		tp := vlm.NewTape()
		require.NoError(t, tp.Backward(s.loss(tp, x)))
		opt.Step(s)
	}
	assert.Nil(t, s.upper.Weight.Grad, "a frozen parameter gets no gradient")
	assert.Nil(t, s.upper.Bias.Grad)
	assert.Equal(t, before.Data, s.upper.Weight.Value.Data, "the optimizer leaves a frozen parameter bit-identical")
	require.NotNil(t, s.lower.Weight.Grad, "the gradient reaches the trainable layer below the frozen one")
	assert.Positive(t, vlm.MaxAbs(s.lower.Weight.Grad))

	total, trainable := vlm.CountParams(s)
	assert.Equal(t, 4*5+5+5*2+2, total)
	assert.Equal(t, 4*5+5, trainable)
	assert.Equal(t, 2, vlm.Unfreeze(s, "upper.*"))
	assert.Equal(t, 0, vlm.Freeze(s, "uper.*"), "a misspelt pattern matches nothing, visibly")
}

func TestGradientCheckOfComposite(t *testing.T) {
	s := newStack()
	x := vlm.RandN(vlm.NewRand(5), 1, 3, 4)
	require.NoError(t, vlm.CheckGrad(s, func(tp *vlm.Tape) *vlm.Tensor { return s.loss(tp, x) },
		&vlm.GradCheckOptions{Inputs: []*vlm.Tensor{x}, MaxPerTensor: -1}))
}

func TestCheckGradDetectsAWrongGradient(t *testing.T) {
	p := vlm.NewParam(vlm.FromData([]float32{0.3, -0.7}, 2))
	m := vlm.Modules{{Name: "p", Module: single{p}}}
	// A custom op whose backward is deliberately off by a factor of two.
	square := func(tp *vlm.Tape, x *vlm.Tensor) *vlm.Tensor {
		y := vlm.Zeros(x.Shape...)
		for i, v := range x.Data {
			y.Data[i] = v * v
		}
		if tp.NeedsGrad(x) {
			tp.Record(y, func(dy *vlm.Tensor) {
				g := tp.GradOf(x)
				for i, v := range x.Data {
					g.Data[i] += dy.Data[i] * v // should be 2v
				}
			})
		}
		return y
	}
	err := vlm.CheckGrad(m, func(tp *vlm.Tape) *vlm.Tensor { return vlm.Sum(tp, square(tp, tp.Param(p))) }, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "p.value[0]")
}

func TestNilTapeRecordsNothing(t *testing.T) {
	s := newStack()
	x := vlm.RandN(vlm.NewRand(6), 1, 3, 4)
	y := s.loss(nil, x)
	assert.Len(t, y.Data, 1)
	for _, p := range vlm.Params(s) {
		assert.Nil(t, p.Grad, p.Name)
	}
}

func TestTapeMisuse(t *testing.T) {
	s := newStack()
	x := vlm.RandN(vlm.NewRand(6), 1, 3, 4)
	tp := vlm.NewTape()
	l := s.loss(tp, x)
	require.NoError(t, tp.Backward(l))
	err := tp.Backward(l)
	require.ErrorIs(t, err, vlm.ErrConfig, "a tape is used once")

	tp = vlm.NewTape()
	y := s.upper.Forward(tp, vlm.Zeros(1, 5))
	err = tp.Backward(y)
	require.ErrorIs(t, err, vlm.ErrShape, "Backward needs a scalar")
	var e *vlm.Error
	require.True(t, errors.As(err, &e))

	vlm.Freeze(s, "*")
	tp = vlm.NewTape()
	err = tp.Backward(s.loss(tp, x))
	require.ErrorIs(t, err, vlm.ErrConfig, "nothing needs a gradient")
}

func TestGradientsAccumulateAcrossBackward(t *testing.T) {
	s := newStack()
	x := vlm.RandN(vlm.NewRand(7), 1, 3, 4)
	tp := vlm.NewTape()
	require.NoError(t, tp.Backward(s.loss(tp, x)))
	once := s.lower.Weight.Grad.Clone()
	tp = vlm.NewTape()
	require.NoError(t, tp.Backward(s.loss(tp, x)))
	for i, v := range once.Data {
		assert.InDelta(t, 2*v, s.lower.Weight.Grad.Data[i], 1e-6)
	}
	vlm.ZeroGrad(s)
	assert.Zero(t, vlm.MaxAbs(s.lower.Weight.Grad))
}

func TestDropoutOnlyWhenTraining(t *testing.T) {
	x := vlm.Full(1, 1000)
	assert.Same(t, x, vlm.Dropout(nil, x, 0.5))
	assert.Same(t, x, vlm.Dropout(vlm.NewTape(), x, 0.5))
	a := vlm.Dropout(vlm.NewTrainingTape(1), x, 0.5)
	b := vlm.Dropout(vlm.NewTrainingTape(1), x, 0.5)
	assert.Equal(t, a.Data, b.Data, "seeded")
	zeros := 0
	for _, v := range a.Data {
		if v == 0 {
			zeros++
		} else {
			assert.Equal(t, float32(2), v, "kept values are scaled by 1/(1-p)")
		}
	}
	assert.InDelta(t, 500, zeros, 60)
}

func TestConcurrentInference(t *testing.T) {
	s := newStack()
	x := vlm.RandN(vlm.NewRand(8), 1, 3, 4)
	want := s.loss(nil, x).Data[0]
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if got := s.loss(nil, x).Data[0]; got != want {
					t.Errorf("concurrent inference gave %v, want %v", got, want)
				}
			}
		})
	}
	wg.Wait()
}

func TestCosineSchedule(t *testing.T) {
	s := vlm.CosineSchedule{Peak: 1e-3, Min: 0, Warmup: 10, Total: 110}
	cases := []struct {
		step int
		want float64
	}{{0, 0}, {5, 5e-4}, {10, 1e-3}, {60, 5e-4}, {110, 0}, {500, 0}}
	for _, c := range cases {
		assert.InDelta(t, c.want, s.LR(c.step), 1e-12, "step %d", c.step)
	}
}

func TestClipGradNorm(t *testing.T) {
	p := vlm.NewParam(vlm.Zeros(2))
	p.Grad = vlm.FromData([]float32{3, 4}, 2)
	m := single{p}
	norm := vlm.ClipGradNorm(m, 1)
	assert.InDelta(t, 5, norm, 1e-6)
	assert.InDelta(t, 0.6, p.Grad.Data[0], 1e-6)
	assert.InDelta(t, 0.8, p.Grad.Data[1], 1e-6)
	vlm.ClipGradValue(m, 0.7)
	assert.InDelta(t, 0.6, p.Grad.Data[0], 1e-6)
	assert.Equal(t, float32(0.7), p.Grad.Data[1])
}

func TestEntryPointErrors(t *testing.T) {
	l := vlm.NewLinear(vlm.NewRand(1), 4, 2, true)
	forward := func(x *vlm.Tensor) (y *vlm.Tensor, err error) {
		defer vlm.Recover(&err)
		return l.Forward(nil, x), nil
	}
	_, err := forward(vlm.Zeros(3, 5))
	require.ErrorIs(t, err, vlm.ErrShape)
	assert.Contains(t, err.Error(), "Linear(4→2)")
	assert.ErrorIs(t, vlm.CheckFinite("x", vlm.FromData([]float32{1, float32(nan())}, 2)), vlm.ErrInput)
	assert.ErrorIs(t, vlm.CheckShape("x", vlm.Zeros(2, 3), 2, 4), vlm.ErrShape)
	assert.NoError(t, vlm.CheckShape("x", vlm.Zeros(2, 3), -1, 3))
}

func nan() float64 { return math.NaN() }

func TestErrorKeepsItsCause(t *testing.T) {
	_, err := vlm.ReadSafetensors(t.TempDir() + "/missing.safetensors")
	require.ErrorIs(t, err, vlm.ErrCheckpoint)
	require.ErrorIs(t, err, fs.ErrNotExist)
}
