package main

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tiny is a run of a few seconds: few scenes, a short stage 0 and a
// narrow Q-Former of two layers and four queries.
func tiny(t *testing.T) config {
	cfg := defaultConfig()
	cfg.Train, cfg.Gallery, cfg.EncoderSteps, cfg.Steps, cfg.Batch, cfg.LR = 300, 20, 10, 100, 16, 5e-3
	cfg.Dim, cfg.Layers, cfg.Queries = 32, 2, 4
	cfg.Out = t.TempDir()
	return cfg
}

// TestRunTiny runs the whole example on a tiny setting: the losses are
// finite and fall, retrieval beats chance, and the pictures are written.
// Under the race detector, which makes training several times slower, it
// runs a few steps and checks only the output: run starts no goroutines
// of its own, and the inference passes of evaluate share the model.
func TestRunTiny(t *testing.T) {
	cfg := tiny(t)
	if raceEnabled {
		cfg.Train, cfg.Gallery, cfg.EncoderSteps, cfg.Steps, cfg.Batch = 64, 4, 2, 3, 4
	}
	var log strings.Builder
	res, err := run(context.Background(), cfg, &log)
	require.NoError(t, err, log.String())
	t.Log("\n" + log.String())
	assert.Len(t, res.Samples, cfg.Gallery)
	for _, name := range []string{"loss.png", "retrieval.png"} {
		st, err := os.Stat(filepath.Join(cfg.Out, name))
		require.NoError(t, err)
		assert.Positive(t, st.Size())
	}
	for _, s := range []string{"stage 0", "frozen encoder", "stage 1  step", "held-out retrieval R@1", "ITM accuracy", "greedy captions", "wrote"} {
		assert.Contains(t, log.String(), s)
	}
	if raceEnabled {
		return
	}
	for k, name := range []string{"ITC", "ITM", "ITG"} {
		assert.False(t, math.IsNaN(res.Last[k]) || math.IsInf(res.Last[k], 0), "%s loss %v", name, res.Last[k])
		assert.Less(t, res.Last[k], res.First[k], "%s loss did not fall", name)
	}
	chance := 1 / float64(cfg.Gallery)
	assert.Greater(t, res.I2T, 2*chance, "image→text R@1")
	assert.Greater(t, res.T2I, 2*chance, "text→image R@1")
}

func TestRunCancelled(t *testing.T) {
	cfg := tiny(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := run(ctx, cfg, &strings.Builder{})
	assert.ErrorIs(t, err, context.Canceled)
}

func TestRunRejectsBadSettings(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(*config)
	}{
		{"no steps", func(c *config) { c.Steps = 0 }},
		{"batch of one", func(c *config) { c.Batch = 1 }},
		{"gallery of one", func(c *config) { c.Gallery = 1 }},
		{"negative encoder steps", func(c *config) { c.EncoderSteps = -1 }},
		{"width not a multiple of 16", func(c *config) { c.Dim = 40 }},
		{"no queries", func(c *config) { c.Queries = 0 }},
		{"zero learning rate", func(c *config) { c.LR = 0 }},
		{"NaN learning rate", func(c *config) { c.LR = math.NaN() }},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := tiny(t)
			c.edit(&cfg)
			_, err := run(context.Background(), cfg, &strings.Builder{})
			assert.Error(t, err)
		})
	}
}
