package qformer_test

import (
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/qformer"
	"github.com/stretchr/testify/require"
)

// Finite-difference gradient checks (vlm.CheckGrad) of every pass and
// loss on a small configuration, for all parameters and the image
// features. ITC, whose gathered side is a constant, is checked in
// itc_internal_test.go.

func gradConfig() qformer.Config {
	return qformer.Config{
		Dim: 8, Layers: 2, Heads: 2, Hidden: 12, CrossEvery: 2, VisionDim: 6, Queries: 2,
		Vocab: 12, MaxPositions: 8, PadID: 0, DecID: 11, EmbedDim: 4, LMHead: true, LMDim: 5,
		Eps: 1e-12, InitStd: 0.3,
	}
}

func projected(tp *vlm.Tape, y *vlm.Tensor, seed uint64) *vlm.Tensor {
	return vlm.Sum(tp, vlm.Mul(tp, y, vlm.RandN(vlm.NewRand(seed), 1, y.Shape...)))
}

func TestGradients(t *testing.T) {
	c := gradConfig()
	image := vlm.RandN(vlm.NewRand(20), 1, 3, 4, c.VisionDim)
	imageMask := vlm.FromData([]float32{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, 3, 4)
	ids, textMask := qformer.Pad([][]int{{1, 4, 5, 2}, {1, 6, 2}, {1, 7, 8, 2}}, c.PadID)
	for _, mode := range []qformer.Mode{qformer.Unimodal, qformer.Bidirectional, qformer.MultimodalCausal} {
		t.Run(mode.String(), func(t *testing.T) {
			m := qformer.MustNew(vlm.NewRand(21), c)
			loss := func(tp *vlm.Tape) *vlm.Tensor {
				out, err := m.Forward(tp, qformer.Input{Queries: true, IDs: ids, TextMask: textMask, Mode: mode, Image: image, ImageMask: imageMask})
				require.NoError(t, err)
				return projected(tp, out.Hidden(tp), 22)
			}
			require.NoError(t, vlm.CheckGrad(m, loss, &vlm.GradCheckOptions{Inputs: []*vlm.Tensor{image}, Seed: 1}))
		})
	}
	t.Run("InstructProjection", func(t *testing.T) {
		ic := c
		ic.Names, ic.EmbedDim, ic.LMHead = qformer.InstructBLIPNames, 0, false
		m := qformer.MustNew(vlm.NewRand(23), ic)
		loss := func(tp *vlm.Tape) *vlm.Tensor {
			out, err := m.Forward(tp, qformer.Input{Queries: true, IDs: ids, TextMask: textMask, Mode: qformer.Bidirectional, Image: image})
			require.NoError(t, err)
			y, err := m.Project(tp, out.Query)
			require.NoError(t, err)
			return projected(tp, y, 24)
		}
		require.NoError(t, vlm.CheckGrad(m, loss, &vlm.GradCheckOptions{Inputs: []*vlm.Tensor{image}, Seed: 2}))
	})
	negatives := &qformer.LossOptions{Negatives: func(_, _ *vlm.Tensor) ([]int, []int) { return []int{1, 2, 0}, []int{2, 0, 1} }}
	for _, obj := range []struct {
		name string
		o    qformer.Objectives
	}{{"ITM", qformer.ITM}, {"ITG", qformer.ITG}} {
		t.Run(obj.name, func(t *testing.T) {
			m := qformer.MustNew(vlm.NewRand(25), c)
			o := *negatives
			o.Objectives = obj.o
			loss := func(tp *vlm.Tape) *vlm.Tensor {
				l, err := m.Loss(tp, qformer.Batch{Image: image, IDs: ids, TextMask: textMask}, &o)
				require.NoError(t, err)
				return l.Total
			}
			require.NoError(t, vlm.CheckGrad(m, loss, &vlm.GradCheckOptions{Inputs: []*vlm.Tensor{image}, Seed: 3}))
		})
	}
}
