package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

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
