package main

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/gating"
	"github.com/govlm/vlm/lm"
	"github.com/govlm/vlm/resampler"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRun runs the example on a tiny setting: the Flamingo loss falls,
// the gates leave zero, and the pictures are written.
func TestRun(t *testing.T) {
	cfg := defaultConfig()
	cfg.Out, cfg.VisionSteps, cfg.LMSteps, cfg.Steps, cfg.Batch = t.TempDir(), 4, 20, 60, 4
	cfg.TrainScenes, cfg.TestScenes, cfg.Eval, cfg.Dim = 60, 12, 1, 32
	var out bytes.Buffer
	res, err := run(context.Background(), cfg, &out)
	require.NoError(t, err, out.String())
	t.Log(out.String())
	require.Len(t, res.Loss, cfg.Steps)
	first, last := mean(res.Loss[:10]), mean(res.Loss[cfg.Steps-10:])
	t.Logf("Flamingo loss: first 10 steps %.3f, last 10 %.3f", first, last)
	assert.Less(t, last, first, "Flamingo loss falls")
	assert.Less(t, mean(res.LMLoss[cfg.LMSteps-5:]), mean(res.LMLoss[:5]), "LM loss falls")
	require.NotEmpty(t, res.Gates)
	assert.Equal(t, []float64{0, 0, 0, 0}, res.Gates[0], "gates start at 0")
	moved := 0.0
	for _, g := range res.Gates[len(res.Gates)-1] {
		moved = max(moved, abs(g))
	}
	assert.Greater(t, moved, 1e-3, "gates left zero")
	for _, name := range []string{"gates.png", "loss.png", "fewshot.png"} {
		st, err := os.Stat(filepath.Join(cfg.Out, name))
		require.NoError(t, err)
		assert.Positive(t, st.Size())
	}
	assert.Contains(t, out.String(), "few-shot")
}

func TestCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cfg := defaultConfig()
	cfg.Out, cfg.TrainScenes, cfg.TestScenes = "", 50, 10
	_, err := run(ctx, cfg, &bytes.Buffer{})
	assert.ErrorIs(t, err, context.Canceled)
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// TestIdentityAtInit: with its gates at 0 the Flamingo model's logits are
// the frozen lm.Model's, bit for bit, and generation with cached media
// continues prompts as the language model alone does.
func TestIdentityAtInit(t *testing.T) {
	c, err := newCorpus(20, 4, 5)
	require.NoError(t, err)
	vis, err := newVision(6)
	require.NoError(t, err)
	require.NoError(t, encodeAll(vis, c.train))
	model, err := lm.New(vlm.NewRand(7), lm.Config{Vocab: c.vocab.Len(), Dim: 32, Layers: 3, Heads: 4, MaxPositions: 64})
	require.NoError(t, err)
	rs, err := resampler.New(vlm.NewRand(8), resampler.Config{Dim: vis.cnn.Dim(), Depth: 1, Heads: 2, HeadDim: 8, Latents: 4})
	require.NoError(t, err)
	gated, err := gating.NewStack(vlm.NewRand(9), gating.Config{Dim: 32, MediaDim: vis.cnn.Dim(), Heads: 2, HeadDim: 8}, 3, 1, gating.Before)
	require.NoError(t, err)
	f := &flamingo{vision: vis, resampler: rs, lm: model, gated: gated, image: c.image}

	rng := vlm.NewRand(10)
	eps := []episode{randomEpisode(rng, c.train, 3), randomEpisode(rng, c.train, 3)}
	ids, _, feats := c.batch(c.train, eps)
	got, err := f.logits(nil, ids, feats)
	require.NoError(t, err)
	want, err := model.Forward(nil, &lm.Input{IDs: ids})
	require.NoError(t, err)
	require.Equal(t, want.Shape, got.Shape)
	for i := range want.Data {
		require.Equal(t, math.Float32bits(want.Data[i]), math.Float32bits(got.Data[i]), "logit %d", i)
	}

	prompt := c.ids(c.train, eps[0], true)
	out, err := f.generate(prompt, gather(c.train.feats, eps[:1]), c.chunk, 6)
	require.NoError(t, err)
	ref, err := model.Generate(context.Background(), &lm.Input{IDs: [][]int{prompt}}, &lm.GenerateOptions{MaxNewTokens: 6, Stop: []int{c.chunk, c.image}})
	require.NoError(t, err)
	wantOut := ref[0]
	if n := len(wantOut); n > 0 && (wantOut[n-1] == c.chunk || wantOut[n-1] == c.image) {
		wantOut = wantOut[:n-1]
	}
	require.NotEmpty(t, out)
	assert.Equal(t, wantOut, out)
}
