package projector_test

import (
	"math"
	"sync"
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/attention"
	"github.com/govlm/vlm/projector"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConfig(t *testing.T) {
	for _, c := range []struct {
		cfg    projector.Config
		layers int
		err    string
	}{
		{projector.Config{Type: "linear", In: 4, Out: 6}, 1, ""},
		{projector.Config{Type: "mlp2x_gelu", In: 4, Out: 6}, 2, ""},
		{projector.Config{Type: "mlp3x_gelu", In: 4, Out: 6}, 3, ""},
		{projector.Config{Type: "identity", In: 6, Out: 6}, 0, ""},
		{projector.Config{Type: "identity", In: 4, Out: 6}, 0, "identity"},
		{projector.Config{Type: "mlp0x_gelu", In: 4, Out: 6}, 0, "unknown type"},
		{projector.Config{Type: "resampler", In: 4, Out: 6}, 0, "unknown type"},
		{projector.Config{Type: "linear", In: 0, Out: 6}, 0, "widths"},
	} {
		t.Run(c.cfg.Type, func(t *testing.T) {
			p, err := projector.New(nil, c.cfg)
			if c.err != "" {
				assert.ErrorIs(t, err, vlm.ErrConfig)
				assert.ErrorContains(t, err, c.err)
				return
			}
			require.NoError(t, err)
			assert.Len(t, p.Layers, c.layers)
			y, err := p.Forward(nil, vlm.Full(1, 2, 3, c.cfg.In))
			require.NoError(t, err)
			assert.Equal(t, []int{2, 3, c.cfg.Out}, y.Shape)
		})
	}
}

func TestRename(t *testing.T) {
	for key, want := range map[string]string{
		"model.mm_projector.weight":                        "linear_1.weight",
		"model.mm_projector.bias":                          "linear_1.bias",
		"model.mm_projector.0.weight":                      "linear_1.weight",
		"model.mm_projector.2.bias":                        "linear_2.bias",
		"model.mm_projector.4.weight":                      "linear_3.weight",
		"mm_projector.2.weight":                            "linear_2.weight",
		"multi_modal_projector.linear_2.weight":            "linear_2.weight",
		"model.multi_modal_projector.linear_1.bias":        "linear_1.bias",
		"linear_1.weight":                                  "linear_1.weight",
		"model.mm_projector.1.weight":                      "",
		"model.layers.0.self_attn.q_proj.weight":           "",
		"model.vision_tower.vision_tower.embeddings.x":     "",
		"vision_tower.vision_model.post_layernorm.weight":  "",
		"language_model.model.embed_tokens.weight":         "",
		"multi_modal_projector.linear_1.weight.extra":      "",
		"model.mm_projector.pre_norm.weight":               "",
		"model.multi_modal_projector.linear_0.weight":      "",
		"model.mm_projector.0.weight_scale":                "",
		"model.mm_projector":                               "",
		"mm_projector.weight":                              "linear_1.weight",
		"model.image_newline":                              "",
		"lm_head.weight":                                   "",
		"multi_modal_projector.linear_10.bias":             "linear_10.bias",
		"model.mm_projector.10.bias":                       "linear_6.bias",
		"model.mm_projector.0.bias":                        "linear_1.bias",
		"model.vision_tower.vision_tower.vision_model.x.y": "",
	} {
		assert.Equal(t, want, projector.Rename(key), key)
	}
}

func TestLinearAdapterKeys(t *testing.T) {
	p, err := projector.New(vlm.NewRand(1), projector.Config{Type: projector.Linear, In: 3, Out: 4})
	require.NoError(t, err)
	path := t.TempDir() + "/mm_projector.safetensors"
	require.NoError(t, p.SaveAdapter(path))
	w, err := vlm.ReadSafetensors(path)
	require.NoError(t, err)
	assert.Contains(t, w.Tensors, "model.mm_projector.weight")
	assert.Contains(t, w.Tensors, "model.mm_projector.bias")
	q, err := projector.New(vlm.NewRand(2), p.Config)
	require.NoError(t, err)
	require.NoError(t, q.LoadAdapter(path))
	assert.Equal(t, p.Layers[0].Weight.Value.Data, q.Layers[0].Weight.Value.Data)

	wide, err := projector.New(nil, projector.Config{Type: projector.Linear, In: 3, Out: 5})
	require.NoError(t, err)
	assert.ErrorIs(t, wide.LoadAdapter(path), vlm.ErrCheckpoint, "shapes are checked")
	id, err := projector.New(nil, projector.Config{Type: projector.Identity, In: 3, Out: 3})
	require.NoError(t, err)
	assert.ErrorIs(t, id.SaveAdapter(path), vlm.ErrConfig)
}

func TestForwardErrors(t *testing.T) {
	p, err := projector.New(nil, projector.Config{Type: projector.MLPGELU, In: 3, Out: 4})
	require.NoError(t, err)
	_, err = p.Forward(nil, vlm.Zeros(2, 4))
	assert.ErrorIs(t, err, vlm.ErrShape)
	_, err = p.Forward(nil, nil)
	assert.ErrorIs(t, err, vlm.ErrShape)
	_, err = p.Forward(nil, vlm.Full(float32(math.Inf(1)), 2, 3))
	assert.ErrorIs(t, err, vlm.ErrInput)
}

func TestSelectFeatures(t *testing.T) {
	var hidden []*vlm.Tensor
	for i := range 3 {
		hidden = append(hidden, vlm.Full(float32(i), 2, 5, 4))
	}
	for _, c := range []struct {
		layer int
		s     projector.Strategy
		n     int
		value float32
	}{
		{-2, projector.Patch, 4, 1},
		{-1, projector.CLSPatch, 5, 2},
		{0, "default", 4, 0},
		{2, "full", 5, 2},
	} {
		f, err := projector.SelectFeatures(nil, hidden, c.layer, c.s)
		require.NoError(t, err)
		assert.Equal(t, []int{2, c.n, 4}, f.Shape)
		assert.Equal(t, c.value, f.Data[0])
	}
	_, err := projector.SelectFeatures(nil, hidden, -4, projector.Patch)
	assert.ErrorIs(t, err, vlm.ErrInput)
	_, err = projector.SelectFeatures(nil, hidden, 3, projector.Patch)
	assert.ErrorIs(t, err, vlm.ErrInput)
	_, err = projector.SelectFeatures(nil, hidden, 0, "mean")
	assert.ErrorIs(t, err, vlm.ErrConfig)
	_, err = projector.SelectFeatures(nil, []*vlm.Tensor{vlm.Zeros(2, 1, 4)}, 0, projector.Patch)
	assert.ErrorIs(t, err, vlm.ErrShape)
	_, err = projector.SelectFeatures(nil, []*vlm.Tensor{vlm.Zeros(2, 4)}, 0, projector.Patch)
	assert.ErrorIs(t, err, vlm.ErrShape)
}

// table is a 20-word embedding table of width 3 whose row i is (i, i, i).
func table() projector.EmbedFunc {
	e := vlm.NewEmbedding(vlm.NewRand(1), 20, 3, 1)
	for i := range 20 {
		for j := range 3 {
			e.Weight.Value.Data[i*3+j] = float32(i)
		}
	}
	return embedding(e)
}

// image returns n rows of width 3 holding -v, -v-1, ...
func image(n int, v float32) *vlm.Tensor {
	t := vlm.Zeros(n, 3)
	for i := range n {
		for j := range 3 {
			t.Data[i*3+j] = -v - float32(i)
		}
	}
	return t
}

// firsts returns the first value of every row of embeddings [B, T, 3].
func firsts(x *vlm.Tensor) [][]float32 {
	b, t := x.Shape[0], x.Shape[1]
	out := make([][]float32, b)
	for i := range b {
		for j := range t {
			out[i] = append(out[i], x.Data[(i*t+j)*3])
		}
	}
	return out
}

func TestSpliceLayout(t *testing.T) {
	const img = projector.ImageToken
	samples := []projector.Sample{
		{IDs: []int{1, img, 5, img, 6}, Images: []*vlm.Tensor{image(2, 10), image(1, 20)}, Labels: []int{-100, -100, 5, -100, 6}},
		{IDs: []int{1, 7}, Labels: []int{-100, 7}},
	}
	for _, c := range []struct {
		side      attention.Side
		maxLen    int
		values    [][]float32
		mask      [][]bool
		positions [][]int
		labels    [][]int
	}{
		{
			attention.Right, 0,
			[][]float32{{1, -10, -11, 5, -20, 6}, {1, 7, 0, 0, 0, 0}},
			[][]bool{{true, true, true, true, true, true}, {true, true, false, false, false, false}},
			[][]int{{0, 1, 2, 3, 4, 5}, {0, 1, 0, 0, 0, 0}},
			[][]int{{-100, -100, -100, 5, -100, 6}, {-100, 7, -100, -100, -100, -100}},
		},
		{
			attention.Left, 0,
			[][]float32{{1, -10, -11, 5, -20, 6}, {0, 0, 0, 0, 1, 7}},
			[][]bool{{true, true, true, true, true, true}, {false, false, false, false, true, true}},
			[][]int{{0, 1, 2, 3, 4, 5}, {0, 0, 0, 0, 0, 1}},
			[][]int{{-100, -100, -100, 5, -100, 6}, {-100, -100, -100, -100, -100, 7}},
		},
		{
			attention.Left, 4,
			[][]float32{{1, -10, -11, 5}, {0, 0, 1, 7}},
			[][]bool{{true, true, true, true}, {false, false, true, true}},
			[][]int{{0, 1, 2, 3}, {0, 0, 0, 1}},
			[][]int{{-100, -100, -100, 5}, {-100, -100, -100, 7}},
		},
	} {
		out, err := projector.Splice(nil, table(), samples, &projector.SpliceOptions{Side: c.side, MaxLen: c.maxLen})
		require.NoError(t, err)
		assert.Equal(t, c.values, firsts(out.Embeds))
		assert.Equal(t, c.mask, out.Mask)
		assert.Equal(t, c.positions, out.Positions)
		assert.Equal(t, c.labels, out.Labels)
	}
}

// TestExpandedEqualsSplice: the HF form with pre-expanded placeholders
// gives the LLaVA form's output.
func TestExpandedEqualsSplice(t *testing.T) {
	const img, hf = projector.ImageToken, 19
	ims := []*vlm.Tensor{image(3, 10), image(2, 20)}
	llava := []projector.Sample{{IDs: []int{1, img, 5, 6, img, 2}, Images: ims, Labels: []int{-100, -100, -100, 6, -100, 2}}}
	expanded := []projector.Sample{{IDs: []int{1, hf, hf, hf, 5, 6, hf, hf, 2}, Images: ims, Labels: []int{-100, 0, 0, 0, -100, 6, 0, 0, 2}}}
	a, err := projector.Splice(nil, table(), llava, nil)
	require.NoError(t, err)
	b, err := projector.Splice(nil, table(), expanded, &projector.SpliceOptions{Placeholder: hf, Expanded: true})
	require.NoError(t, err)
	assert.Equal(t, a, b)
}

func TestSpliceErrors(t *testing.T) {
	const img = projector.ImageToken
	ok := projector.Sample{IDs: []int{1, img, 2}, Images: []*vlm.Tensor{image(2, 1)}}
	for _, c := range []struct {
		name    string
		embed   projector.EmbedFunc
		samples []projector.Sample
		o       *projector.SpliceOptions
		kind    error
		msg     string
	}{
		{"no embed", nil, []projector.Sample{ok}, nil, vlm.ErrConfig, "no embedding function"},
		{"no samples", table(), nil, nil, vlm.ErrInput, "no samples"},
		{"too few images", table(), []projector.Sample{ok, {IDs: []int{img, 3, img}, Images: []*vlm.Tensor{image(1, 1)}}}, nil, vlm.ErrInput, "sample 1 has 2 image placeholders but 1 images"},
		{"too many images", table(), []projector.Sample{{IDs: []int{1, 2}, Images: []*vlm.Tensor{image(1, 1)}}}, nil, vlm.ErrInput, "sample 0 has 0 image placeholders but 1 images"},
		{"expanded rows", table(), []projector.Sample{ok}, &projector.SpliceOptions{Expanded: true}, vlm.ErrInput, "sample 0 has 1 image tokens but its 1 images have 2 feature rows"},
		{"empty", table(), []projector.Sample{ok, {}}, nil, vlm.ErrInput, "sample 1 has no tokens"},
		{"labels length", table(), []projector.Sample{{IDs: []int{1, 2}, Labels: []int{1}}}, nil, vlm.ErrShape, "sample 0 has 1 labels for 2 ids"},
		{"labels mixed", table(), []projector.Sample{{IDs: []int{1, 2}, Labels: []int{1, 2}}, {IDs: []int{1}}}, nil, vlm.ErrInput, "sample 1 has labels false"},
		{"image rank", table(), []projector.Sample{{IDs: []int{img}, Images: []*vlm.Tensor{vlm.Zeros(1, 2, 3)}}}, nil, vlm.ErrShape, "sample 0, image 0"},
		{"image widths", table(), []projector.Sample{{IDs: []int{img, img}, Images: []*vlm.Tensor{vlm.Zeros(2, 3), vlm.Zeros(2, 4)}}}, nil, vlm.ErrShape, "sample 0, image 1"},
		{"text width", table(), []projector.Sample{{IDs: []int{1, img}, Images: []*vlm.Tensor{vlm.Zeros(2, 4)}}}, nil, vlm.ErrShape, "the images are 4 wide"},
		{"nan", table(), []projector.Sample{{IDs: []int{img}, Images: []*vlm.Tensor{vlm.Full(float32(math.NaN()), 1, 3)}}}, nil, vlm.ErrInput, "NaN"},
		{"vocabulary", table(), []projector.Sample{{IDs: []int{1, 20}}}, nil, vlm.ErrInput, "= 20"},
		{"side", table(), []projector.Sample{ok}, &projector.SpliceOptions{Side: 7}, vlm.ErrConfig, "padding side"},
		{"max len", table(), []projector.Sample{ok}, &projector.SpliceOptions{MaxLen: -1}, vlm.ErrConfig, "MaxLen"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := projector.Splice(nil, c.embed, c.samples, c.o)
			assert.ErrorIs(t, err, c.kind)
			assert.ErrorContains(t, err, c.msg)
		})
	}
}

func TestPromptLabels(t *testing.T) {
	assert.Equal(t, []int{-100, -100, 7, 8}, projector.PromptLabels([]int{1, projector.ImageToken, 7, 8}, 2))
	assert.Equal(t, []int{-100, -100}, projector.PromptLabels([]int{1, 2}, 5))
}

func TestGradCheck(t *testing.T) {
	for _, typ := range []string{projector.Linear, projector.MLPGELU, "mlp3x_gelu"} {
		p, err := projector.New(vlm.NewRand(1), projector.Config{Type: typ, In: 5, Out: 4})
		require.NoError(t, err)
		x := vlm.RandN(vlm.NewRand(2), 1, 2, 3, 5)
		r := vlm.RandN(vlm.NewRand(3), 1, 2, 3, 4)
		loss := func(tp *vlm.Tape) *vlm.Tensor {
			y, err := p.Forward(tp, x)
			require.NoError(t, err)
			return vlm.Sum(tp, vlm.Mul(tp, y, r))
		}
		assert.NoError(t, vlm.CheckGrad(p, loss, &vlm.GradCheckOptions{Inputs: []*vlm.Tensor{x}}), typ)
	}
	// Through the splice, in both layouts, into the projector, its input
	// and the embedding table.
	p, err := projector.New(vlm.NewRand(4), projector.Config{Type: projector.MLPGELU, In: 5, Out: 3})
	require.NoError(t, err)
	e := vlm.NewEmbedding(vlm.NewRand(5), 20, 3, 1)
	m := &spliceModel{Proj: p, Embed: e}
	raw := vlm.RandN(vlm.NewRand(6), 1, 3, 2, 5)
	for _, side := range []attention.Side{attention.Right, attention.Left} {
		r := vlm.RandN(vlm.NewRand(7), 1, 2, 6, 3)
		loss := func(tp *vlm.Tape) *vlm.Tensor {
			f, err := p.Forward(tp, raw)
			require.NoError(t, err)
			ims, err := projector.Unbind(tp, f)
			require.NoError(t, err)
			out, err := projector.Splice(tp, embedding(e), []projector.Sample{
				{IDs: []int{1, projector.ImageToken, 4, projector.ImageToken}, Images: ims[:2]},
				{IDs: []int{2, 3, projector.ImageToken}, Images: ims[2:]},
			}, &projector.SpliceOptions{Side: side})
			require.NoError(t, err)
			return vlm.Sum(tp, vlm.Mul(tp, out.Embeds, r))
		}
		assert.NoError(t, vlm.CheckGrad(m, loss, &vlm.GradCheckOptions{Inputs: []*vlm.Tensor{raw}}))
	}
}

func TestStage(t *testing.T) {
	vision := vlm.NewLinear(vlm.NewRand(1), 3, 3, true)
	lang := vlm.NewLinear(vlm.NewRand(2), 4, 4, true)
	p, err := projector.New(vlm.NewRand(3), projector.Config{Type: projector.MLPGELU, In: 3, Out: 4})
	require.NoError(t, err)
	all := vlm.Modules{{Name: "vision_tower", Module: vision}, {Name: "multi_modal_projector", Module: p}, {Name: "language_model", Module: lang}}
	trainable := func() []string {
		var out []string
		for _, np := range vlm.Params(all) {
			if !np.Frozen {
				out = append(out, np.Name)
			}
		}
		return out
	}
	require.NoError(t, projector.Pretrain.Apply(vision, p, lang))
	assert.Equal(t, []string{
		"multi_modal_projector.linear_1.weight", "multi_modal_projector.linear_1.bias",
		"multi_modal_projector.linear_2.weight", "multi_modal_projector.linear_2.bias",
	}, trainable())
	require.NoError(t, projector.Finetune.Apply(vision, p, lang))
	assert.Len(t, trainable(), 6)
	assert.NotContains(t, trainable(), "vision_tower.weight")
	assert.ErrorIs(t, projector.Stage(3).Apply(vision, p, lang), vlm.ErrConfig)
	assert.Equal(t, "pretrain", projector.Pretrain.String())
	assert.Equal(t, "finetune", projector.Finetune.String())
}

func TestConcurrentForward(t *testing.T) {
	p, err := projector.New(vlm.NewRand(1), projector.Config{Type: projector.MLPGELU, In: 8, Out: 8})
	require.NoError(t, err)
	x := vlm.RandN(vlm.NewRand(2), 1, 4, 8)
	want, err := p.Forward(nil, x)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			y, err := p.Forward(nil, x)
			assert.NoError(t, err)
			assert.Equal(t, want.Data, y.Data)
		})
	}
	wg.Wait()
}
