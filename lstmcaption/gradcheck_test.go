package lstmcaption_test

import (
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/lstmcaption"
	"github.com/stretchr/testify/require"
)

// TestDecoderGradients checks the gradients of the decoder unrolled over
// time, through the shrinking batch, against finite differences: every
// parameter and the encoder output, for the tutorial's decoder and the
// paper's variants under each loss normalisation. The loss weighs every
// prediction and attention weight (zero-filled steps included) and adds
// the training loss. The finite-difference step is 1e-3: the tutorial's
// ReLU attention has kinks that a larger step straddles.
func TestDecoderGradients(t *testing.T) {
	captions := [][]int{{1, 4, 5, 2}, {1, 3, 3, 6, 7, 2}, {1, 2}, {1, 9, 2}, {1, 10, 8, 2}}
	for _, c := range []struct {
		name  string
		paper bool
		norm  lstmcaption.Norm
	}{
		{"tutorial", false, lstmcaption.NormTutorial},
		{"paper", true, lstmcaption.NormPaper},
		{"arctic", true, lstmcaption.NormArctic},
	} {
		t.Run(c.name, func(t *testing.T) {
			rng := vlm.NewRand(5)
			d, err := lstmcaption.New(rng, tinyConfig(c.paper))
			require.NoError(t, err)
			enc := vlm.RandN(rng, 1, len(captions), 2, 2, 6)
			r1, r2 := vlm.RandN(rng, 1, len(captions), 5, 11), vlm.RandN(rng, 1, len(captions), 5, 4)
			loss := func(tp *vlm.Tape) *vlm.Tensor {
				out, err := d.Forward(tp, enc, captions)
				require.NoError(t, err)
				l, err := out.Loss(tp, lstmcaption.LossOptions{AlphaC: 0.7, Norm: c.norm})
				require.NoError(t, err)
				y := vlm.Add(tp, vlm.Sum(tp, vlm.Mul(tp, out.Predictions, r1)), vlm.Sum(tp, vlm.Mul(tp, out.Alphas, r2)))
				return vlm.Add(tp, y, l.Total)
			}
			require.NoError(t, vlm.CheckGrad(d, loss, &vlm.GradCheckOptions{Inputs: []*vlm.Tensor{enc}, Seed: 3, Step: 1e-3}))
		})
	}
}
