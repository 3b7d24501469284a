package qformer

import (
	"testing"

	"github.com/govlm/vlm"
	"github.com/stretchr/testify/require"
)

// TestITCGradient checks the ITC gradient by finite differences. ITC's
// gathered side is a constant (LAVIS concat_all_gather under no_grad), so
// the tape's gradient is the derivative with the gathered features held
// at their unperturbed values, not the total derivative of the loss: the
// check holds them fixed the same way. Loss must give the same value and
// gradient as that function.
func TestITCGradient(t *testing.T) {
	c := Config{
		Dim: 8, Layers: 2, Heads: 2, Hidden: 12, CrossEvery: 2, VisionDim: 6, Queries: 2,
		Vocab: 12, MaxPositions: 8, DecID: 11, EmbedDim: 4, Eps: 1e-12, InitStd: 0.3,
	}
	image := vlm.RandN(vlm.NewRand(20), 1, 3, 4, c.VisionDim)
	ids, textMask := Pad([][]int{{1, 4, 5, 2}, {1, 6, 2}, {1, 7, 8, 2}}, c.PadID)
	for _, imageIDs := range [][]int{nil, {4, 9, 4}} {
		m := MustNew(vlm.NewRand(21), c)
		features := func(tp *vlm.Tape) (img, txt *vlm.Tensor) {
			q, err := m.Forward(tp, Input{Queries: true, Image: image})
			require.NoError(t, err)
			tx, err := m.Forward(tp, Input{IDs: ids, TextMask: textMask})
			require.NoError(t, err)
			return m.imageFeatures(tp, q.Query), m.textFeatures(tp, tx.Text)
		}
		imgAll, txtAll := features(nil)
		loss := func(tp *vlm.Tape) *vlm.Tensor {
			img, txt := features(tp)
			i2t, t2i := m.similarities(tp, img, txt, imgAll, txtAll)
			return itcLoss(tp, i2t, t2i, imageIDs)
		}
		// Step 1e-3: the default 1e-2 is a 14% change of temp = 0.07.
		require.NoError(t, vlm.CheckGrad(m, loss, &vlm.GradCheckOptions{Inputs: []*vlm.Tensor{image}, Seed: 3, Step: 1e-3}))

		tp := vlm.NewTape()
		want := loss(tp)
		require.NoError(t, tp.Backward(want))
		grads := map[string][]float32{}
		for _, p := range vlm.Params(m) {
			if p.Grad != nil {
				grads[p.Name] = append([]float32(nil), p.Grad.Data...)
			}
		}
		vlm.ZeroGrad(m)
		tp = vlm.NewTape()
		l, err := m.Loss(tp, Batch{Image: image, IDs: ids, TextMask: textMask, ImageIDs: imageIDs}, &LossOptions{Objectives: ITC})
		require.NoError(t, err)
		require.NoError(t, tp.Backward(l.Total))
		require.Equal(t, want.Data, l.Total.Data)
		for _, p := range vlm.Params(m) {
			if g, ok := grads[p.Name]; ok {
				require.Equal(t, g, p.Grad.Data, p.Name)
			}
		}
	}
}
