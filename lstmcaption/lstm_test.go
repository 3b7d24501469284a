package lstmcaption_test

import (
	"math"
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/lstmcaption"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// TestLSTMCellGateOrder checks PyTorch's gate order i, f, g, o and the sum
// of both biases on a cell of width 1 whose four gates read distinct
// pre-activations.
func TestLSTMCellGateOrder(t *testing.T) {
	l := lstmcaption.NewLSTMCell(vlm.NewRand(1), 1, 1)
	copy(l.IH.Weight.Value.Data, []float32{0.1, 0.2, 0.3, 0.4}) // x = 2
	copy(l.HH.Weight.Value.Data, []float32{-0.5, 0.5, 1, -1})   // h = 0.5
	copy(l.IH.Bias.Value.Data, []float32{0.3, -1, 0.2, 0.1})
	copy(l.HH.Bias.Value.Data, []float32{0.05, -0.2, 0.3, 0.4})
	x, h, c := vlm.FromData([]float32{2}, 1, 1), vlm.FromData([]float32{0.5}, 1, 1), vlm.FromData([]float32{0.7}, 1, 1)
	zi := 0.1*2 - 0.5*0.5 + 0.3 + 0.05
	zf := 0.2*2 + 0.5*0.5 - 1 - 0.2
	zg := 0.3*2 + 1*0.5 + 0.2 + 0.3
	zo := 0.4*2 - 1*0.5 + 0.1 + 0.4
	wantC := sigmoid(zf)*0.7 + sigmoid(zi)*math.Tanh(zg)
	wantH := sigmoid(zo) * math.Tanh(wantC)
	h2, c2 := l.Forward(nil, x, h, c)
	assert.InDelta(t, wantC, c2.Data[0], 1e-6)
	assert.InDelta(t, wantH, h2.Data[0], 1e-6)
	assert.Equal(t, 1, l.Hidden())
}

func TestLSTMCellNames(t *testing.T) {
	l := lstmcaption.NewLSTMCell(vlm.NewRand(1), 3, 2)
	shapes := map[string][]int{}
	for _, np := range vlm.Params(l) {
		shapes[np.Name] = np.Value.Shape
	}
	assert.Equal(t, map[string][]int{"weight_ih": {8, 3}, "weight_hh": {8, 2}, "bias_ih": {8}, "bias_hh": {8}}, shapes)
	for _, np := range vlm.Params(l) { // U(±1/√H)
		for _, v := range np.Value.Data {
			require.LessOrEqual(t, math.Abs(float64(v)), 1/math.Sqrt(2))
		}
	}
}

func TestLSTMCellShapeError(t *testing.T) {
	l := lstmcaption.NewLSTMCell(vlm.NewRand(1), 3, 2)
	forward := func() (err error) {
		defer vlm.Recover(&err)
		l.Forward(nil, vlm.Zeros(1, 3), vlm.Zeros(1, 2), vlm.Zeros(1, 3))
		return nil
	}
	assert.ErrorIs(t, forward(), vlm.ErrShape)
}

func TestLSTMCellGradients(t *testing.T) {
	rng := vlm.NewRand(2)
	l := lstmcaption.NewLSTMCell(rng, 3, 4)
	x, h, c := vlm.RandN(rng, 1, 2, 3), vlm.RandN(rng, 1, 2, 4), vlm.RandN(rng, 1, 2, 4)
	r1, r2 := vlm.RandN(rng, 1, 2, 4), vlm.RandN(rng, 1, 2, 4)
	loss := func(tp *vlm.Tape) *vlm.Tensor {
		h2, c2 := l.Forward(tp, x, h, c)
		return vlm.Add(tp, vlm.Sum(tp, vlm.Mul(tp, h2, r1)), vlm.Sum(tp, vlm.Mul(tp, c2, r2)))
	}
	require.NoError(t, vlm.CheckGrad(l, loss, &vlm.GradCheckOptions{Inputs: []*vlm.Tensor{x, h, c}, MaxPerTensor: -1}))
}
