package qformer_test

import (
	"strings"
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/attention"
	"github.com/govlm/vlm/internal/testutil"
	"github.com/govlm/vlm/qformer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The three masks of BLIP-2 (paper Fig. 2; reference 04 §4) with Q=2
// queries and T=3 text tokens whose last one is padding. Rows are q1 q2
// t1 t2 t3, columns the same keys; 1 = may attend.
var modeMasks = []struct {
	mode qformer.Mode
	want string
}{
	{qformer.Unimodal, `
11000
11000
00110
00110
00110
`},
	{qformer.Bidirectional, `
11110
11110
11110
11110
11110
`},
	{qformer.MultimodalCausal, `
11000
11000
11100
11110
11110
`},
}

func TestMask(t *testing.T) {
	text := vlm.FromData([]float32{1, 1, 0}, 1, 3)
	for _, c := range modeMasks {
		t.Run(c.mode.String(), func(t *testing.T) {
			m, err := qformer.Mask(c.mode, 2, text)
			require.NoError(t, err)
			t.Logf("%v, Q=2, T=3, t3 padded:\n%s", c.mode, m)
			assert.Equal(t, [4]int{1, 1, 5, 5}, m.Shape)
			assert.Equal(t, strings.TrimPrefix(c.want, "\n"), m.String())
		})
	}
}

// attended draws which keys a pass's self-attention gave weight, from
// the probabilities of its first layer: with the −10000 fill a masked key
// gets exactly 0 in float32.
func attended(p *vlm.Tensor, b int) string {
	rows, keys := p.Shape[2], p.Shape[3]
	off := b * p.Shape[1] * rows * keys
	return testutil.MaskString(rows, keys, func(i, j int) bool { return p.Data[off+i*keys+j] != 0 })
}

func TestPassMasks(t *testing.T) {
	// The masks that the passes of the model really apply, read back from
	// their attention probabilities: one pass of 2 queries and 3 text
	// tokens (the last padded) per mode, and the captioning pass of the
	// text over the cached query keys (LAVIS's ITG), a T×(Q+T) block.
	c := tiny()
	c.Queries = 2
	m := qformer.MustNew(vlm.NewRand(1), c)
	image := vlm.RandN(vlm.NewRand(2), 1, 1, 4, c.VisionDim)
	ids, mask := qformer.Pad([][]int{{1, 5, 6, 2}, {1}}, c.PadID)
	for i := range ids {
		ids[i] = ids[i][:3]
	}
	mask = vlm.Gather(nil, mask, 1, []int{0, 1, 2})
	mask.Data[2] = 0 // sample 0: t3 is padding; sample 1: t2 and t3 are
	for _, mc := range modeMasks {
		var probs attention.Probs
		_, err := m.Forward(nil, qformer.Input{
			Queries: true, IDs: ids, TextMask: mask, Mode: mc.mode,
			Image: vlm.Concat(nil, 0, image, image), SelfProbs: &probs,
		})
		require.NoError(t, err)
		require.Len(t, probs, c.Layers)
		assert.Equal(t, strings.TrimPrefix(mc.want, "\n"), attended(probs[0], 0), "%v", mc.mode)
	}

	var probs attention.Probs
	cache := &qformer.Cache{}
	mem, err := m.Memory(nil, vlm.Concat(nil, 0, image, image), nil)
	require.NoError(t, err)
	_, err = m.Forward(nil, qformer.Input{Queries: true, Memory: mem, Cache: cache})
	require.NoError(t, err)
	assert.Equal(t, 2, cache.Len())
	_, err = m.Forward(nil, qformer.Input{IDs: ids, TextMask: mask, Mode: qformer.MultimodalCausal, Cache: cache, SelfProbs: &probs})
	require.NoError(t, err)
	assert.Equal(t, 5, cache.Len())
	assert.Equal(t, 2, cache.Queries())
	assert.Equal(t, "11100\n11110\n11110\n", attended(probs[0], 0))
	assert.Equal(t, "11100\n11100\n11100\n", attended(probs[0], 1))
}

func TestMaskErrors(t *testing.T) {
	_, err := qformer.Mask(qformer.Mode(7), 2, vlm.Full(1, 1, 3))
	assert.ErrorIs(t, err, vlm.ErrConfig)
	_, err = qformer.Mask(qformer.Unimodal, 2, vlm.Full(1, 3))
	assert.ErrorIs(t, err, vlm.ErrShape)
	_, err = qformer.Mask(qformer.Unimodal, 0, vlm.Full(1, 1, 0))
	assert.ErrorIs(t, err, vlm.ErrShape)
	assert.Equal(t, "Mode(7)", qformer.Mode(7).String())
}
