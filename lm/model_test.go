package lm_test

import (
	"context"
	"math"
	"sync"
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/lm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConfigValidate(t *testing.T) {
	ok := lm.Config{Vocab: 10, Dim: 8, Heads: 2, Layers: 1, MaxPositions: 4}
	require.NoError(t, ok.Validate())
	for _, c := range []struct {
		name string
		edit func(*lm.Config)
		msg  string
	}{
		{"vocab", func(c *lm.Config) { c.Vocab = 0 }, "Vocab"},
		{"heads", func(c *lm.Config) { c.Heads = 3 }, "heads"},
		{"layers", func(c *lm.Config) { c.Layers = -1 }, "Layers"},
		{"positions", func(c *lm.Config) { c.MaxPositions = 0 }, "MaxPositions"},
		{"act", func(c *lm.Config) { c.Act = "swish" }, "activation"},
		{"pad", func(c *lm.Config) { c.PadID = 10 }, "PadID"},
		{"dropout", func(c *lm.Config) { c.Dropout = 1 }, "dropout"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := ok
			c.edit(&cfg)
			_, err := lm.New(nil, cfg)
			assert.ErrorIs(t, err, vlm.ErrConfig)
			assert.ErrorContains(t, err, c.msg)
		})
	}
}

func TestParamNames(t *testing.T) {
	for _, untied := range []bool{false, true} {
		m, err := lm.New(nil, lm.Config{Vocab: 10, Dim: 8, Heads: 2, Layers: 2, MaxPositions: 4, Untied: untied})
		require.NoError(t, err)
		pm := vlm.ParamMap(m)
		for _, name := range []string{
			"model.decoder.embed_tokens.weight", "model.decoder.embed_positions.weight",
			"model.decoder.layers.1.self_attn.q_proj.weight", "model.decoder.layers.0.self_attn_layer_norm.bias",
			"model.decoder.layers.1.fc2.bias", "model.decoder.layers.0.final_layer_norm.weight",
			"model.decoder.final_layer_norm.weight", "lm_head.weight",
		} {
			assert.Contains(t, pm, name)
		}
		assert.Equal(t, []int{6, 8}, pm["model.decoder.embed_positions.weight"].Value.Shape, "MaxPositions + the offset of 2")
		assert.Equal(t, !untied, pm["lm_head.weight"] == pm["model.decoder.embed_tokens.weight"], "tied head")
		total, _ := vlm.CountParams(m)
		perLayer := 4*(8*8+8) + 2*8*32 + 32 + 8 + 4*8
		want := 10*8 + 6*8 + 2*perLayer + 2*8
		if untied {
			want += 10 * 8
		}
		assert.Equal(t, want, total)
	}
}

func TestInputErrors(t *testing.T) {
	m := testModel(t, 1, false)
	e := vlm.Zeros(1, 2, 32)
	for _, c := range []struct {
		name string
		in   *lm.Input
		kind error
		msg  string
	}{
		{"nil", nil, vlm.ErrInput, "nil input"},
		{"neither", &lm.Input{}, vlm.ErrInput, "exactly one"},
		{"both", &lm.Input{IDs: [][]int{{1}}, Embeds: e}, vlm.ErrInput, "exactly one"},
		{"ragged", &lm.Input{IDs: [][]int{{1, 2}, {1}}}, vlm.ErrShape, "row 1 has 1 tokens"},
		{"vocab", &lm.Input{IDs: [][]int{{1, 29}}}, vlm.ErrInput, "IDs row 0[1] = 29"},
		{"width", &lm.Input{Embeds: vlm.Zeros(1, 2, 8)}, vlm.ErrShape, "embeddings"},
		{"nan", &lm.Input{Embeds: vlm.Full(float32(nan()), 1, 2, 32)}, vlm.ErrInput, "NaN"},
		{"mask rows", &lm.Input{IDs: [][]int{{1}}, Mask: [][]bool{{true}, {true}}}, vlm.ErrShape, "Mask has 2 rows"},
		{"mask length", &lm.Input{IDs: [][]int{{1}}, Mask: [][]bool{{true, true}}}, vlm.ErrShape, "Mask row 0 has 2"},
		{"positions", &lm.Input{IDs: [][]int{{1}}, Positions: [][]int{{40}}}, vlm.ErrInput, "position 40"},
		{"negative position", &lm.Input{IDs: [][]int{{1}}, Positions: [][]int{{-1}}}, vlm.ErrInput, "position -1"},
		{"long", &lm.Input{IDs: [][]int{make([]int, 41)}}, vlm.ErrInput, "position 40"},
		{"cache", &lm.Input{IDs: [][]int{{1}}, Cache: testModelLayers(t, 1).NewCache()}, vlm.ErrInput, "cache of 1 layers"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := m.Forward(nil, c.in)
			assert.ErrorIs(t, err, c.kind)
			assert.ErrorContains(t, err, c.msg)
		})
	}
	_, _, err := m.Loss(nil, &lm.Input{IDs: [][]int{{1, 2}}}, [][]int{{1, 29}})
	assert.ErrorIs(t, err, vlm.ErrInput)
	_, _, err = m.Loss(nil, &lm.Input{IDs: [][]int{{1, 2}}}, [][]int{{1}})
	assert.ErrorIs(t, err, vlm.ErrShape)
	_, err = m.Layer(nil, 2, vlm.Zeros(1, 1, 32), &lm.Input{IDs: [][]int{{1}}})
	assert.ErrorContains(t, err, "layer 2 of 2")
	_, err = m.Layer(nil, 0, vlm.Zeros(1, 2, 32), &lm.Input{IDs: [][]int{{1}}})
	assert.ErrorIs(t, err, vlm.ErrShape)
	_, err = m.EmbedTokens(nil, []int{-1})
	assert.ErrorIs(t, err, vlm.ErrInput)
}

func nan() float64 { return math.NaN() }

func testModelLayers(t *testing.T, layers int) *lm.Model {
	m, err := lm.New(nil, lm.Config{Vocab: 29, Dim: 32, Heads: 4, Layers: layers, MaxPositions: 40})
	require.NoError(t, err)
	return m
}

// TestLayersEqualForward runs the pieces a wrapper (Flamingo's gated
// layers) would run between: Embed, Layer for each layer, Logits.
// A cached pass run layer by layer (as gating runs blocks between the
// layers) equals the whole cached pass.
func TestLayersWithCacheEqualForward(t *testing.T) {
	m := testModel(t, 6, false)
	in := lm.LeftPad(prompts, 0)
	whole, byLayer := m.NewCache(), m.NewCache()
	for _, r := range [][2]int{{0, 4}, {4, 6}} {
		ids := make([][]int, len(in.IDs))
		mask := make([][]bool, len(in.IDs))
		for i := range ids {
			ids[i] = in.IDs[i][r[0]:r[1]]
			mask[i] = in.Mask[i][:r[1]]
		}
		want, err := m.Forward(nil, &lm.Input{IDs: ids, Mask: mask, Cache: whole})
		require.NoError(t, err)
		step := &lm.Input{IDs: ids, Mask: mask, Cache: byLayer}
		h, err := m.Embed(nil, step)
		require.NoError(t, err)
		for i := range m.Layers {
			h, err = m.Layer(nil, i, h, step)
			require.NoError(t, err, "layer %d", i)
		}
		got, err := m.Logits(nil, h)
		require.NoError(t, err)
		assert.Equal(t, want.Data, got.Data)
	}
	assert.Equal(t, 6, byLayer.Len())
}

func TestLayersEqualForward(t *testing.T) {
	m := testModel(t, 6, false)
	in := lm.LeftPad(prompts, 0)
	want, err := m.Forward(nil, in)
	require.NoError(t, err)
	h, err := m.Embed(nil, in)
	require.NoError(t, err)
	for i := range m.Layers {
		h, err = m.Layer(nil, i, h, in)
		require.NoError(t, err)
	}
	got, err := m.Logits(nil, h)
	require.NoError(t, err)
	assert.Equal(t, want.Data, got.Data)
}

func TestGradCheck(t *testing.T) {
	for _, untied := range []bool{false, true} {
		m, err := lm.New(vlm.NewRand(3), lm.Config{Vocab: 11, Dim: 8, Heads: 2, Layers: 2, Hidden: 12, MaxPositions: 8, Act: vlm.ActGELU, Untied: untied})
		require.NoError(t, err)
		rng := vlm.NewRand(4)
		for _, p := range vlm.Params(m) {
			copy(p.Value.Data, vlm.RandN(rng, 0.5, p.Value.Shape...).Data)
		}
		x := vlm.RandN(rng, 1, 2, 5, 8)
		r := vlm.RandN(rng, 1, 2, 5, 11)
		mask := [][]bool{{true, true, true, true, true}, {false, false, true, true, true}}
		loss := func(tp *vlm.Tape) *vlm.Tensor {
			y, err := m.Forward(tp, &lm.Input{Embeds: x, Mask: mask})
			require.NoError(t, err)
			return vlm.Sum(tp, vlm.Mul(tp, y, r))
		}
		assert.NoError(t, vlm.CheckGrad(m, loss, &vlm.GradCheckOptions{Inputs: []*vlm.Tensor{x}}))
		ids := [][]int{{1, 4, 7, 2}, {3, 3, 9, 10}}
		labels := [][]int{{-100, 4, 7, 2}, {-100, -100, 9, 10}}
		ce := func(tp *vlm.Tape) *vlm.Tensor {
			l, _, err := m.Loss(tp, &lm.Input{IDs: ids}, labels)
			require.NoError(t, err)
			return l
		}
		assert.NoError(t, vlm.CheckGrad(m, ce, nil))
	}
}

// TestFrozenPassesGradient freezes the whole model, as LLaVA's stage 1
// does: the input embeddings still get the same gradient.
func TestFrozenPassesGradient(t *testing.T) {
	m := testModel(t, 7, false)
	x := vlm.RandN(vlm.NewRand(1), 1, 2, 4, 32)
	labels := [][]int{{-100, 3, 4, 5}, {-100, 6, 7, 8}}
	grad := func() *vlm.Tensor {
		tp := vlm.NewTape()
		tp.Watch(x)
		loss, _, err := m.Loss(tp, &lm.Input{Embeds: x}, labels)
		require.NoError(t, err)
		require.NoError(t, tp.Backward(loss))
		return tp.Grad(x)
	}
	want := grad()
	assert.Equal(t, 2+2*16+2+1, vlm.Freeze(m, "*"), "names, the tied head counted twice")
	vlm.ZeroGrad(m)
	got := grad()
	assert.Equal(t, want.Data, got.Data)
	for _, p := range vlm.Params(m) {
		assert.Nil(t, p.Grad, p.Name)
	}
}

// TestConcurrentInference runs generation from several goroutines on one
// model (go test -race checks that nothing is written).
func TestConcurrentInference(t *testing.T) {
	m := testModel(t, 8, false)
	o := &lm.GenerateOptions{MaxNewTokens: 5, Temperature: 1, Seed: 1}
	want, err := m.Generate(context.Background(), lm.LeftPad(prompts, 0), o)
	require.NoError(t, err)
	var wg sync.WaitGroup
	got := make([][][]int, 4)
	for i := range got {
		wg.Go(func() {
			got[i], _ = m.Generate(context.Background(), lm.LeftPad(prompts, 0), o)
		})
	}
	wg.Wait()
	for _, g := range got {
		assert.Equal(t, want, g)
	}
}

// TestLearns trains a tiny model to continue a counting sequence.
func TestLearns(t *testing.T) {
	m, in, labels := counting(t)
	opt := vlm.NewAdamW(3e-2)
	var first, last float32
	for step := range 60 {
		tp := vlm.NewTape()
		loss, _, err := m.Loss(tp, in, labels)
		require.NoError(t, err)
		require.NoError(t, tp.Backward(loss))
		opt.Step(m)
		vlm.ZeroGrad(m)
		if step == 0 {
			first = loss.Data[0]
		}
		last = loss.Data[0]
	}
	assert.Less(t, last, first/10)
	out, err := m.Generate(context.Background(), &lm.Input{IDs: [][]int{{3, 4}}}, &lm.GenerateOptions{MaxNewTokens: 4})
	require.NoError(t, err)
	assert.Equal(t, []int{5, 6, 7, 8}, out[0])
}

// counting returns a tiny model and a batch of windows of 0 1 2 ... 9 0 1 ...
func counting(t testing.TB) (*lm.Model, *lm.Input, [][]int) {
	m, err := lm.New(vlm.NewRand(1), lm.Config{Vocab: 10, Dim: 16, Heads: 2, Layers: 1, MaxPositions: 8})
	if err != nil {
		t.Fatal(err)
	}
	in := &lm.Input{}
	for s := range 10 {
		row := make([]int, 6)
		for j := range row {
			row[j] = (s + j) % 10
		}
		in.IDs = append(in.IDs, row)
	}
	return m, in, in.IDs
}
