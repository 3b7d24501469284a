package lstmcaption_test

import (
	"errors"
	"math"
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/lstmcaption"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func paramShapes(m vlm.Module) map[string][]int {
	s := map[string][]int{}
	for _, np := range vlm.Params(m) {
		s[np.Name] = np.Value.Shape
	}
	return s
}

func TestParamNames(t *testing.T) {
	// Denc 6, A 5, E 4, H 7, V 11.
	tutorial := map[string][]int{
		"attention.encoder_att.weight": {5, 6}, "attention.encoder_att.bias": {5},
		"attention.decoder_att.weight": {5, 7}, "attention.decoder_att.bias": {5},
		"attention.full_att.weight": {1, 5}, "attention.full_att.bias": {1},
		"embedding.weight":      {11, 4},
		"decode_step.weight_ih": {28, 10}, "decode_step.weight_hh": {28, 7},
		"decode_step.bias_ih": {28}, "decode_step.bias_hh": {28},
		"init_h.weight": {7, 6}, "init_h.bias": {7},
		"init_c.weight": {7, 6}, "init_c.bias": {7},
		"f_beta.weight": {6, 7}, "f_beta.bias": {6},
		"fc.weight": {11, 7}, "fc.bias": {11},
	}
	d, err := lstmcaption.New(vlm.NewRand(1), tinyConfig(false))
	require.NoError(t, err)
	assert.Equal(t, tutorial, paramShapes(d))
	assert.Equal(t, "attention.encoder_att.weight", vlm.Params(d)[0].Name, "the tutorial's state_dict order")

	paper := map[string][]int{}
	for k, v := range tutorial {
		paper[k] = v
	}
	paper["f_beta.weight"], paper["f_beta.bias"] = []int{1, 7}, []int{1}
	paper["fc.weight"] = []int{11, 4}
	paper["logit_h.weight"], paper["logit_h.bias"] = []int{4, 7}, []int{4}
	paper["logit_z.weight"], paper["logit_z.bias"] = []int{4, 6}, []int{4}
	d, err = lstmcaption.New(vlm.NewRand(1), tinyConfig(true))
	require.NoError(t, err)
	assert.Equal(t, paper, paramShapes(d))
}

func TestNewInitialisation(t *testing.T) {
	d, err := lstmcaption.New(nil, tinyConfig(false))
	require.NoError(t, err)
	for _, w := range []*vlm.Tensor{d.Embedding.Weight.Value, d.FC.Weight.Value} {
		assert.LessOrEqual(t, vlm.MaxAbs(w), 0.1, "U(-0.1, 0.1)")
		assert.Greater(t, vlm.MaxAbs(w), 0.05)
	}
	assert.Equal(t, 0.0, vlm.MaxAbs(d.FC.Bias.Value), "fc.bias is 0")
	assert.Equal(t, -1, d.Embedding.PaddingIdx, "the tutorial's embedding has no padding_idx")
	total, trainable := vlm.CountParams(d)
	assert.Equal(t, total, trainable)
}

func TestConfigValidate(t *testing.T) {
	ok := tinyConfig(false)
	for _, c := range []struct {
		field string
		edit  func(*lstmcaption.Config)
	}{
		{"EncoderDim", func(c *lstmcaption.Config) { c.EncoderDim = 0 }},
		{"AttentionDim", func(c *lstmcaption.Config) { c.AttentionDim = -1 }},
		{"EmbedDim", func(c *lstmcaption.Config) { c.EmbedDim = 0 }},
		{"DecoderDim", func(c *lstmcaption.Config) { c.DecoderDim = 0 }},
		{"VocabSize", func(c *lstmcaption.Config) { c.VocabSize = 0 }},
		{"Dropout", func(c *lstmcaption.Config) { c.Dropout = 1 }},
		{"Dropout", func(c *lstmcaption.Config) { c.Dropout = float32(math.NaN()) }},
		{"AttentionAct", func(c *lstmcaption.Config) { c.AttentionAct = "swish" }},
	} {
		cfg := ok
		c.edit(&cfg)
		_, err := lstmcaption.New(nil, cfg)
		assert.ErrorIs(t, err, vlm.ErrConfig, c.field)
		assert.ErrorContains(t, err, "Config."+c.field)
	}
	require.NoError(t, lstmcaption.TutorialConfig(10).Validate())
	p := lstmcaption.TutorialConfig(10).Paper()
	assert.Equal(t, vlm.ActTanh, p.AttentionAct)
	assert.True(t, p.ScalarGate && p.DeepOutput && p.TanhInit)
}

// TestForwardSortsAndPads checks the tutorial's bookkeeping: rows sorted
// by decreasing length (stable on ties), the shrinking batch, and zeros
// beyond each row's decode length.
func TestForwardSortsAndPads(t *testing.T) {
	d, err := lstmcaption.New(vlm.NewRand(1), tinyConfig(false))
	require.NoError(t, err)
	captions := [][]int{{1, 4, 2}, {1, 5, 6, 7, 2}, {1, 3, 2}, {1, 2}, {1, 8, 9, 2}}
	enc := vlm.RandN(vlm.NewRand(2), 1, 5, 2, 2, 6)
	out, err := d.Forward(nil, enc, captions)
	require.NoError(t, err)
	assert.Equal(t, []int{1, 4, 0, 2, 3}, out.SortIndex)
	assert.Equal(t, []int{4, 3, 2, 2, 1}, out.DecodeLengths)
	for i, o := range out.SortIndex {
		assert.Equal(t, captions[o], out.Captions[i])
	}
	require.Equal(t, []int{5, 4, 11}, out.Predictions.Shape)
	require.Equal(t, []int{5, 4, 4}, out.Alphas.Shape)
	for i, n := range out.DecodeLengths {
		for step := range 4 {
			alphas := vlm.Slice(nil, vlm.Slice(nil, out.Alphas, 0, i, i+1), 1, step, step+1)
			preds := vlm.Slice(nil, vlm.Slice(nil, out.Predictions, 0, i, i+1), 1, step, step+1)
			if step < n {
				assert.InDelta(t, 1, vlm.Sum(nil, alphas).Data[0], 1e-6, "row %d step %d", i, step)
				assert.NotZero(t, vlm.MaxAbs(preds))
			} else {
				assert.Zero(t, vlm.MaxAbs(alphas), "row %d step %d", i, step)
				assert.Zero(t, vlm.MaxAbs(preds), "row %d step %d", i, step)
			}
		}
	}

	// Each sorted row is the caption decoded on its own: the batch does
	// not mix rows, and [B, P, Denc] features give the same result.
	for i, o := range out.SortIndex {
		one, err := d.Forward(nil, vlm.Reshape(nil, vlm.Slice(nil, enc, 0, o, o+1), 1, 4, 6), captions[o:o+1])
		require.NoError(t, err)
		n := out.DecodeLengths[i]
		got := vlm.Slice(nil, vlm.Slice(nil, out.Predictions, 0, i, i+1), 1, 0, n)
		assert.InDeltaSlice(t, one.Predictions.Data, got.Data, 1e-6, "row %d", i)
	}
}

func TestForwardErrors(t *testing.T) {
	d, err := lstmcaption.New(vlm.NewRand(1), tinyConfig(false))
	require.NoError(t, err)
	enc := vlm.RandN(vlm.NewRand(2), 1, 2, 2, 2, 6)
	good := [][]int{{1, 2}, {1, 3, 2}}
	for _, c := range []struct {
		name string
		enc  *vlm.Tensor
		caps [][]int
		want error
	}{
		{"caption count", enc, good[:1], vlm.ErrShape},
		{"caption too short", enc, [][]int{{1}, {1, 2}}, vlm.ErrInput},
		{"id out of range", enc, [][]int{{1, 11}, {1, 2}}, vlm.ErrInput},
		{"negative id", enc, [][]int{{1, -1}, {1, 2}}, vlm.ErrInput},
		{"wrong width", vlm.Zeros(2, 2, 2, 5), good, vlm.ErrShape},
		{"rank 5", vlm.Zeros(2, 1, 2, 2, 6), good, vlm.ErrShape},
		{"empty batch", vlm.Zeros(0, 4, 6), nil, vlm.ErrShape},
		{"Inf", vlm.Full(float32(math.Inf(1)), 2, 4, 6), good, vlm.ErrInput},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := d.Forward(nil, c.enc, c.caps)
			assert.True(t, errors.Is(err, c.want), "got %v, want %v", err, c.want)
		})
	}
}

func TestLossOptions(t *testing.T) {
	d, err := lstmcaption.New(vlm.NewRand(1), tinyConfig(false))
	require.NoError(t, err)
	captions := [][]int{{1, 4, 2}, {1, 5, 6, 7, 2}, {1, 2}}
	out, err := d.Forward(nil, vlm.RandN(vlm.NewRand(2), 1, 3, 2, 2, 6), captions)
	require.NoError(t, err)
	loss := func(o lstmcaption.LossOptions) lstmcaption.Loss {
		l, err := out.Loss(nil, o)
		require.NoError(t, err)
		return l
	}
	tut := loss(lstmcaption.TutorialLoss())
	assert.InDelta(t, tut.CE.Data[0]+tut.Reg.Data[0], tut.Total.Data[0], 1e-6)
	off := loss(lstmcaption.LossOptions{})
	assert.Equal(t, off.CE.Data[0], off.Total.Data[0], "AlphaC 0 leaves the regulariser out")

	// 7 predicted words in 3 captions over 4 pixels: the paper and the
	// Theano code sum the words of each caption; the tutorial's
	// regulariser is a mean over B·P terms, the paper's a sum over P per
	// caption, the Theano code's a sum over B per pixel.
	paper, arctic := loss(lstmcaption.LossOptions{AlphaC: 1, Norm: lstmcaption.NormPaper}), loss(lstmcaption.LossOptions{AlphaC: 1, Norm: lstmcaption.NormArctic})
	assert.InDelta(t, tut.CE.Data[0]*7/3, paper.CE.Data[0], 1e-5)
	assert.Equal(t, paper.CE.Data[0], arctic.CE.Data[0])
	assert.InDelta(t, tut.Reg.Data[0]*4, paper.Reg.Data[0], 1e-5)
	assert.InDelta(t, tut.Reg.Data[0]*3, arctic.Reg.Data[0], 1e-5)
	assert.Equal(t, []string{"tutorial", "paper", "arctic"}, []string{lstmcaption.NormTutorial.String(), lstmcaption.NormPaper.String(), lstmcaption.NormArctic.String()})

	_, err = out.Loss(nil, lstmcaption.LossOptions{Norm: 7})
	assert.ErrorIs(t, err, vlm.ErrConfig)
	_, err = (&lstmcaption.Output{}).Loss(nil, lstmcaption.TutorialLoss())
	assert.ErrorIs(t, err, vlm.ErrInput)
}

// TestDropoutOnlyWhenTraining checks that dropout (on fc's input only)
// changes the predictions on a training tape and nowhere else.
func TestDropoutOnlyWhenTraining(t *testing.T) {
	d, err := lstmcaption.New(vlm.NewRand(1), tinyConfig(false))
	require.NoError(t, err)
	captions := [][]int{{1, 4, 5, 2}, {1, 3, 2}}
	enc := vlm.RandN(vlm.NewRand(2), 1, 2, 2, 2, 6)
	run := func(tp *vlm.Tape) *lstmcaption.Output {
		out, err := d.Forward(tp, enc, captions)
		require.NoError(t, err)
		return out
	}
	eval, plain := run(nil), run(vlm.NewTape())
	train := run(vlm.NewTrainingTape(1))
	assert.Equal(t, eval.Predictions.Data, plain.Predictions.Data)
	assert.NotEqual(t, eval.Predictions.Data, train.Predictions.Data)
	assert.Equal(t, eval.Alphas.Data, train.Alphas.Data, "the attention sees no dropout")
}
