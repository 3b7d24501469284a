package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRunTiny runs the whole example on a tiny setting: the losses fall,
// retrieval beats chance, and the pictures are written.
func TestRunTiny(t *testing.T) {
	cfg := defaultConfig()
	cfg.Train, cfg.Gallery, cfg.EncoderSteps, cfg.Steps, cfg.Batch, cfg.LR = 300, 20, 10, 100, 16, 5e-3
	cfg.Dim, cfg.Layers, cfg.Queries = 32, 2, 4
	cfg.Out = t.TempDir()
	var log strings.Builder
	res, err := run(context.Background(), cfg, &log)
	require.NoError(t, err)
	t.Log("\n" + log.String())
	for k, name := range []string{"ITC", "ITM", "ITG"} {
		assert.Less(t, res.Last[k], res.First[k], "%s loss did not fall", name)
	}
	chance := 1 / float64(cfg.Gallery)
	assert.Greater(t, res.I2T, chance, "image→text R@1")
	assert.Greater(t, res.T2I, chance, "text→image R@1")
	assert.Len(t, res.Samples, cfg.Gallery)
	for _, name := range []string{"loss.png", "retrieval.png"} {
		st, err := os.Stat(filepath.Join(cfg.Out, name))
		require.NoError(t, err)
		assert.Positive(t, st.Size())
	}
	assert.Contains(t, log.String(), "held-out retrieval R@1")
}

func TestRunCancelled(t *testing.T) {
	cfg := defaultConfig()
	cfg.Train, cfg.Gallery, cfg.Out = 50, 5, ""
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := run(ctx, cfg, &strings.Builder{})
	assert.ErrorIs(t, err, context.Canceled)
}
