package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/govlm/vlm/examples/internal/scene"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tiny is a run of a few seconds: 32×32 scenes of red and blue circles
// and squares, a two-stage CNN and a narrow decoder.
func tiny(t *testing.T) config {
	cfg := defaultConfig()
	cfg.Steps, cfg.Batch, cfg.Train, cfg.Test = 150, 16, 600, 60
	cfg.Size, cfg.Channels, cfg.Dim = 32, []int{8, 16}, 32
	cfg.Colors, cfg.Shapes = []scene.Color{scene.Red, scene.Blue}, []scene.Shape{scene.Circle, scene.Square}
	cfg.LR, cfg.Warmup = 1e-2, 10
	cfg.Out, cfg.Pictures, cfg.Progress = t.TempDir(), 2, 3
	return cfg
}

// TestRunTiny trains on a tiny setting: the loss falls, the held-out
// captions beat the most frequent caption, and the pictures are written.
// Under the race detector, which makes training about eight times slower,
// it runs a few steps and checks only the output: run starts no
// goroutines of its own.
func TestRunTiny(t *testing.T) {
	cfg := tiny(t)
	if raceEnabled {
		cfg.Steps, cfg.Train, cfg.Test = 6, 96, 8
	}
	var out bytes.Buffer
	rep, err := run(context.Background(), cfg, &out)
	require.NoError(t, err, out.String())
	t.Log("\n" + out.String())
	require.Len(t, rep.Losses, cfg.Steps)
	assert.Len(t, rep.Files, cfg.Pictures+1)
	for _, f := range rep.Files {
		info, err := os.Stat(f)
		require.NoError(t, err)
		assert.Positive(t, info.Size())
	}
	for _, s := range []string{fmt.Sprintf("step %5d/%d", cfg.Steps, cfg.Steps), "BLEU-4", "baseline, always", "attention inside", "wrote"} {
		assert.Contains(t, out.String(), s)
	}
	if raceEnabled {
		return
	}
	first, last := mean(rep.CE[:10]), mean(rep.CE[len(rep.CE)-10:])
	assert.Less(t, last, first/2, "cross-entropy %.3f -> %.3f", first, last)
	for n := range 4 {
		assert.Greater(t, rep.BLEU[n], rep.Baseline[n], "BLEU-%d", n+1)
	}
	assert.Positive(t, rep.Nouns)
}

func TestRunCancelled(t *testing.T) {
	cfg := tiny(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := run(ctx, cfg, &bytes.Buffer{})
	assert.ErrorIs(t, err, context.Canceled)
}

func TestRunRejectsBadSettings(t *testing.T) {
	for _, edit := range []func(*config){
		func(c *config) { c.Steps = 0 },
		func(c *config) { c.Batch = -1 },
		func(c *config) { c.Test = 0 },
		func(c *config) { c.Beam = 0 },
		func(c *config) { c.Pictures = -2 },
	} {
		cfg := tiny(t)
		edit(&cfg)
		_, err := run(context.Background(), cfg, &bytes.Buffer{})
		assert.Error(t, err)
	}
}
