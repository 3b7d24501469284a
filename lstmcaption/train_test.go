package lstmcaption_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/lstmcaption"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pixelEncoder is a minimal trainable encoder: one Linear over the
// channels of every pixel, images [B, C, H, W] → grid [B, W, H, D].
type pixelEncoder struct{ proj *vlm.Linear }

func (e *pixelEncoder) VisitParams(prefix string, visit func(string, *vlm.Param)) {
	e.proj.VisitParams(prefix+"proj.", visit)
}

func (e *pixelEncoder) Forward(tp *vlm.Tape, pixels *vlm.Tensor) (*vlm.Tensor, error) {
	return e.proj.Forward(tp, vlm.Transpose(tp, pixels, 1, 3)), nil
}

// toyCaptions are the captions of the two kinds of toy image.
var toyCaptions = [2][]int{{1, 3, 4, 2}, {1, 5, 6, 7, 2}}

// toyBatch returns n images [n, 2, 3, 3] of noise, those of kind 1 with
// a bright top-left pixel in channel 0, and their captions.
func toyBatch(rng *rand.Rand, n int) (*vlm.Tensor, [][]int, []int) {
	x := vlm.RandN(rng, 0.3, n, 2, 3, 3)
	caps := make([][]int, n)
	kinds := make([]int, n)
	for i := range n {
		kinds[i] = rng.IntN(2)
		if kinds[i] == 1 {
			x.Data[i*18] += 3
		}
		caps[i] = toyCaptions[kinds[i]]
	}
	return x, caps, kinds
}

func toyModel(t *testing.T, fineTune bool) *lstmcaption.Trainer {
	rng := vlm.NewRand(1)
	enc := &pixelEncoder{proj: vlm.NewLinear(rng, 2, 6, true)}
	dec, err := lstmcaption.New(rng, lstmcaption.Config{EncoderDim: 6, AttentionDim: 8, EmbedDim: 8, DecoderDim: 16, VocabSize: 8, Dropout: 0.1})
	require.NoError(t, err)
	tr := lstmcaption.NewTrainer(enc, dec, fineTune)
	tr.DecoderOptimizer = &vlm.AdamW{LR: 1e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
	tr.EncoderOptimizer = &vlm.AdamW{LR: 1e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
	return tr
}

func TestTrainerLearns(t *testing.T) {
	tr := toyModel(t, true)
	rng := vlm.NewRand(2)
	var first, last float32
	for step := range 300 {
		x, caps, _ := toyBatch(rng, 8)
		l, err := tr.Step(x, caps)
		require.NoError(t, err)
		if step == 0 {
			first = l.CE.Data[0]
		}
		last = l.CE.Data[0]
	}
	assert.Less(t, last, first/10, "cross-entropy %.3f → %.3f", first, last)
	x, _, kinds := toyBatch(rng, 16)
	feats, err := tr.Encoder.Forward(nil, x)
	require.NoError(t, err)
	caps, err := tr.Decoder.Greedy(context.Background(), feats, lstmcaption.DecodeOptions{Start: 1, End: 2})
	require.NoError(t, err)
	for i, c := range caps {
		assert.Equal(t, toyCaptions[kinds[i]][1:], c.IDs, "image %d of kind %d", i, kinds[i])
	}
}

func TestTrainerFineTune(t *testing.T) {
	for _, fineTune := range []bool{false, true} {
		tr := toyModel(t, fineTune)
		enc := tr.Encoder.(*pixelEncoder).proj.Weight.Value.Clone()
		dec := tr.Decoder.FC.Weight.Value.Clone()
		x, caps, _ := toyBatch(vlm.NewRand(3), 4)
		_, err := tr.Step(x, caps)
		require.NoError(t, err)
		assert.NotEqual(t, dec.Data, tr.Decoder.FC.Weight.Value.Data, "the decoder trains")
		if fineTune {
			assert.NotEqual(t, enc.Data, tr.Encoder.(*pixelEncoder).proj.Weight.Value.Data, "the encoder fine-tunes")
		} else {
			assert.Equal(t, enc.Data, tr.Encoder.(*pixelEncoder).proj.Weight.Value.Data, "the encoder stays frozen")
			assert.Nil(t, tr.Encoder.(*pixelEncoder).proj.Weight.Grad)
		}
	}
}

func TestTrainerClip(t *testing.T) {
	tr := toyModel(t, true)
	const clip = 1.0 / 1024
	tr.Clip = clip
	x, caps, _ := toyBatch(vlm.NewRand(3), 4)
	_, err := tr.Step(x, caps)
	require.NoError(t, err)
	for _, m := range []vlm.Module{tr.Decoder, tr.Encoder} {
		largest := 0.0
		for _, np := range vlm.Params(m) {
			largest = max(largest, vlm.MaxAbs(np.Grad))
		}
		assert.Equal(t, clip, largest, "every gradient value clamped, some at the limit")
	}
}

func TestTrainerFeatures(t *testing.T) {
	// Without an encoder Step takes features [B, h, w, Denc].
	dec, err := lstmcaption.New(vlm.NewRand(1), tinyConfig(false))
	require.NoError(t, err)
	tr := lstmcaption.NewTrainer(nil, dec, true)
	l, err := tr.Step(vlm.RandN(vlm.NewRand(2), 1, 2, 2, 2, 6), [][]int{{1, 3, 2}, {1, 2}})
	require.NoError(t, err)
	assert.Greater(t, l.Total.Data[0], l.CE.Data[0])
}

func TestTrainerErrors(t *testing.T) {
	tr := toyModel(t, true)
	x, caps, _ := toyBatch(vlm.NewRand(3), 2)
	_, err := tr.Step(x, caps[:1])
	assert.ErrorIs(t, err, vlm.ErrShape)
	tr.EncoderOptimizer = nil
	_, err = tr.Step(x, caps)
	assert.ErrorIs(t, err, vlm.ErrConfig)
	_, err = (&lstmcaption.Trainer{}).Step(x, caps)
	assert.ErrorIs(t, err, vlm.ErrConfig)
}
