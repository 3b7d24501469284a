package main

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/projector"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tinyConfig runs every stage in a few seconds.
func tinyConfig(t *testing.T) config {
	cfg := defaultConfig()
	cfg.Steps = [4]int{120, 60, 20, 120}
	cfg.Dim, cfg.Heads, cfg.Layers, cfg.Hidden = 32, 2, 1, 64
	cfg.Train, cfg.Test = 200, 16
	cfg.Batch, cfg.VisionBatch = 16, 8
	cfg.LR[tune], cfg.Warmup = 1e-2, 5
	cfg.Out = t.TempDir()
	cfg.Pictures, cfg.Show, cfg.Progress = 4, 2, 1
	if raceEnabled {
		cfg.Steps = [4]int{4, 4, 4, 4}
		cfg.Train, cfg.Test = 40, 4
	}
	return cfg
}

// TestRun trains the tiny LLaVA in its stages and checks that each
// stage's loss falls, that the vision encoder names objects well above
// chance, that the final model answers held-out questions better than the
// language model alone, and that the pictures and the stage-1 adapter are
// written. (At this size the answers come from the questions' priors; the
// default run, minutes long, is where the pictures make the difference.)
// Under the race detector only the plumbing is checked.
func TestRun(t *testing.T) {
	cfg := tinyConfig(t)
	var out bytes.Buffer
	res, err := run(context.Background(), cfg, &out)
	require.NoError(t, err, out.String())
	t.Log(out.String())
	for s, l := range res.Loss {
		require.Len(t, l, cfg.Steps[s], stageNames[s])
	}
	assert.Contains(t, out.String(), "held-out answer accuracy")
	if !raceEnabled {
		for s, l := range res.Loss {
			assert.Less(t, mean(l[len(l)-10:]), mean(l[:10]), "%s: the loss falls", stageNames[s])
		}
		assert.Greater(t, res.VisionObjects, 3.0/19, "the vision encoder names objects well above chance")
		assert.Greater(t, res.Acc[2].All, res.Acc[0].All, "stage 2 improves on the language model alone")
	}
	require.Len(t, res.Files, 3)
	for _, f := range res.Files {
		st, err := os.Stat(f)
		require.NoError(t, err)
		assert.Positive(t, st.Size())
	}
	// The adapter holds the projector under LLaVA's keys and loads back.
	p, err := projector.New(nil, projector.Config{Type: projector.MLPGELU, In: 64, Out: 32})
	require.NoError(t, err)
	require.NoError(t, p.LoadAdapter(res.Files[0]))
	assert.Positive(t, vlm.MaxAbs(p.Layers[0].Weight.Value))
}

// TestSkipAlign leaves the projector untrained until stage 2 and
// checks that stage 1 then changes nothing.
func TestSkipAlign(t *testing.T) {
	cfg := tinyConfig(t)
	cfg.Steps = [4]int{10, 10, 10, 10}
	cfg.Out, cfg.SkipAlign = "", true
	var out bytes.Buffer
	res, err := run(context.Background(), cfg, &out)
	require.NoError(t, err)
	assert.Empty(t, res.Loss[align])
	assert.Equal(t, res.Acc[0], res.Acc[1])
	assert.Equal(t, res.Captions[0], res.Captions[1])
	assert.Contains(t, out.String(), "skipped")
	assert.Empty(t, res.Files)
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := run(ctx, tinyConfig(t), &bytes.Buffer{})
	assert.ErrorIs(t, err, context.Canceled)
}

func TestObjectsNamed(t *testing.T) {
	assert.Equal(t, "blue square, red circle", objectsNamed("there is a red circle left of a blue square"))
	assert.Equal(t, "red circle", objectsNamed("a single red circle"))
	assert.Equal(t, objectsNamed("a red circle above a blue square"), objectsNamed("a blue square below a red circle"))
	assert.Empty(t, objectsNamed("a red"))
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}
