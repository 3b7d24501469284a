package lm_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/lm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testModel returns a small random model whose embeddings are wide
// enough (std 1) that its next-token distributions are far from uniform.
func testModel(t testing.TB, seed uint64, untied bool) *lm.Model {
	t.Helper()
	m, err := lm.New(vlm.NewRand(seed), lm.Config{Vocab: 29, Dim: 32, Heads: 4, Layers: 2, MaxPositions: 40, Untied: untied})
	require.NoError(t, err)
	rng := vlm.NewRand(seed + 100)
	for _, p := range []*vlm.Param{m.Tokens.Weight, m.Positions.Weight, m.LMHead.Weight} {
		copy(p.Value.Data, vlm.RandN(rng, 1, p.Value.Shape...).Data)
	}
	return m
}

var prompts = [][]int{{1, 5, 9, 4}, {1, 7}, {1, 12, 3, 3, 8, 20}}

func TestGenerateCacheEqualsRecomputation(t *testing.T) {
	m := testModel(t, 1, false)
	for _, o := range []lm.GenerateOptions{
		{MaxNewTokens: 12},
		{MaxNewTokens: 12, Temperature: 0.8, Seed: 3},
		{MaxNewTokens: 12, Temperature: 1.5, TopK: 5, Seed: 4},
		{MaxNewTokens: 12, Temperature: 1, TopP: 0.7, Seed: 5},
		{MaxNewTokens: 12, Temperature: 1, TopK: 8, TopP: 0.9, Seed: 6, Stop: []int{2}},
	} {
		t.Run(fmt.Sprintf("T%v_k%d_p%v", o.Temperature, o.TopK, o.TopP), func(t *testing.T) {
			cached, err := m.Generate(context.Background(), lm.LeftPad(prompts, 0), &o)
			require.NoError(t, err)
			o.NoCache = true
			full, err := m.Generate(context.Background(), lm.LeftPad(prompts, 0), &o)
			require.NoError(t, err)
			assert.Equal(t, full, cached)
			assert.Len(t, cached[0], 12)
		})
	}
}

func TestGenerateBatchEqualsAlone(t *testing.T) {
	for _, untied := range []bool{false, true} {
		m := testModel(t, 2, untied)
		o := &lm.GenerateOptions{MaxNewTokens: 10}
		batch, err := m.Generate(context.Background(), lm.LeftPad(prompts, 0), o)
		require.NoError(t, err)
		distinct := map[string]bool{}
		for i, p := range prompts {
			alone, err := m.Generate(context.Background(), &lm.Input{IDs: [][]int{p}}, o)
			require.NoError(t, err)
			assert.Equal(t, alone[0], batch[i], "prompt %d", i)
			distinct[fmt.Sprint(alone[0])] = true
		}
		assert.Len(t, distinct, len(prompts), "the prompts lead to different continuations")
	}
}

// TestGenerateFromEmbeddings generates from input embeddings (the form
// projector.Splice produces) and from the ids they embed: same tokens.
func TestGenerateFromEmbeddings(t *testing.T) {
	m := testModel(t, 3, false)
	in := lm.LeftPad(prompts, 0)
	var flat []int
	for _, r := range in.IDs {
		flat = append(flat, r...)
	}
	e, err := m.EmbedTokens(nil, flat)
	require.NoError(t, err)
	o := &lm.GenerateOptions{MaxNewTokens: 6}
	want, err := m.Generate(context.Background(), in, o)
	require.NoError(t, err)
	got, err := m.Generate(context.Background(), &lm.Input{Embeds: e.Reshape(3, 6, 32), Mask: in.Mask}, o)
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

func TestGenerateStopAndHook(t *testing.T) {
	m := testModel(t, 1, false)
	free, err := m.Generate(context.Background(), lm.LeftPad(prompts, 0), &lm.GenerateOptions{MaxNewTokens: 8})
	require.NoError(t, err)
	// Stop at the third token sample 0 generates.
	stop := free[0][2]
	var steps [][]int
	out, err := m.Generate(context.Background(), lm.LeftPad(prompts, 0), &lm.GenerateOptions{
		MaxNewTokens: 8, Stop: []int{stop},
		OnStep: func(step int, tokens []int) error {
			require.Len(t, steps, step)
			steps = append(steps, tokens)
			return nil
		},
	})
	require.NoError(t, err)
	k := 0
	for k < len(free[0]) && free[0][k] != stop {
		k++
	}
	assert.Equal(t, free[0][:k+1], out[0], "sample 0 ends with its stop token")
	for i, o := range out {
		for s, tok := range o {
			assert.Equal(t, tok, steps[s][i])
		}
		for s := len(o); s < len(steps); s++ {
			assert.Equal(t, -1, steps[s][i], "a stopped sample reports -1")
		}
	}

	stopErr := errors.New("enough")
	out, err = m.Generate(context.Background(), lm.LeftPad(prompts, 0), &lm.GenerateOptions{
		MaxNewTokens: 8,
		OnStep: func(step int, _ []int) error {
			if step == 2 {
				return stopErr
			}
			return nil
		},
	})
	assert.ErrorIs(t, err, stopErr)
	assert.Len(t, out[0], 3)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = m.Generate(ctx, lm.LeftPad(prompts, 0), nil)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestGenerateErrors(t *testing.T) {
	m := testModel(t, 1, false)
	right := &lm.Input{IDs: [][]int{{1, 2, 0}, {1, 2, 3}}, Mask: [][]bool{{true, true, false}, {true, true, true}}}
	for _, c := range []struct {
		name string
		in   *lm.Input
		o    *lm.GenerateOptions
		kind error
		msg  string
	}{
		{"right padding", right, nil, vlm.ErrInput, "sample 0 has padding at position 2"},
		{"all padding", &lm.Input{IDs: [][]int{{0}}, Mask: [][]bool{{false}}}, nil, vlm.ErrInput, "all padding"},
		{"too long", lm.LeftPad(prompts, 0), &lm.GenerateOptions{MaxNewTokens: 40}, vlm.ErrInput, "beyond MaxPositions"},
		{"bad top-p", lm.LeftPad(prompts, 0), &lm.GenerateOptions{TopP: 1.5}, vlm.ErrConfig, "TopP"},
		{"bad stop", lm.LeftPad(prompts, 0), &lm.GenerateOptions{Stop: []int{29}}, vlm.ErrConfig, "stop token 29"},
		{"own cache", &lm.Input{IDs: [][]int{{1}}, Cache: m.NewCache()}, nil, vlm.ErrInput, "own cache"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := m.Generate(context.Background(), c.in, c.o)
			assert.ErrorIs(t, err, c.kind)
			assert.ErrorContains(t, err, c.msg)
		})
	}
}

// TestSamplingFilters checks the filters through generation of one token:
// top-k 1 and a tiny top-p are greedy, and sampled frequencies at
// temperature 1 follow the softmax of the logits.
func TestSamplingFilters(t *testing.T) {
	m := testModel(t, 4, false)
	in := &lm.Input{IDs: [][]int{{1, 5}}}
	logits, err := m.Forward(nil, in)
	require.NoError(t, err)
	v := m.Config.Vocab
	last := logits.Data[v:]
	greedy := 0
	for j, x := range last {
		if x > last[greedy] {
			greedy = j
		}
	}
	for _, o := range []lm.GenerateOptions{{}, {Temperature: 2, TopK: 1}, {Temperature: 2, TopP: 1e-6}} {
		for seed := range uint64(5) {
			o.Seed = seed
			out, err := m.Generate(context.Background(), in, &o)
			require.NoError(t, err)
			assert.Equal(t, greedy, out[0][0])
		}
	}

	p := make([]float64, v)
	var sum float64
	for j, x := range last {
		p[j] = math.Exp(float64(x - last[greedy]))
		sum += p[j]
	}
	counts := make([]float64, v)
	const n = 3000
	batch := make([][]int, n)
	for i := range batch {
		batch[i] = []int{1, 5}
	}
	out, err := m.Generate(context.Background(), &lm.Input{IDs: batch}, &lm.GenerateOptions{Temperature: 1, Seed: 9})
	require.NoError(t, err)
	for _, o := range out {
		counts[o[0]]++
	}
	for j := range p {
		want := p[j] / sum
		assert.InDelta(t, want, counts[j]/n, 4*math.Sqrt(want*(1-want)/n)+1e-3, "token %d", j)
	}
}

// TestCacheEqualsFullForward runs a prompt in three pieces over a cache
// and compares the logits with one pass over the whole.
func TestCacheEqualsFullForward(t *testing.T) {
	m := testModel(t, 5, false)
	in := lm.LeftPad(prompts, 0)
	full, err := m.Forward(nil, in)
	require.NoError(t, err)
	c := m.NewCache()
	var parts []*vlm.Tensor
	for _, r := range [][2]int{{0, 2}, {2, 5}, {5, 6}} {
		ids := make([][]int, len(in.IDs))
		mask := make([][]bool, len(in.IDs))
		for i := range ids {
			ids[i] = in.IDs[i][r[0]:r[1]]
			mask[i] = in.Mask[i][:r[1]]
		}
		y, err := m.Forward(nil, &lm.Input{IDs: ids, Mask: mask, Cache: c})
		require.NoError(t, err)
		parts = append(parts, y)
	}
	assert.Equal(t, 6, c.Len())
	got := vlm.Concat(nil, 1, parts...)
	// Padding rows differ (a padding query with no real key before it
	// attends to nothing in both, but only real rows are meaningful).
	for b := range in.Mask {
		for j, k := range in.Mask[b] {
			if !k {
				continue
			}
			v := m.Config.Vocab
			off := (b*6 + j) * v
			for x := range v {
				assert.InDelta(t, full.Data[off+x], got.Data[off+x], 1e-5)
			}
		}
	}
}
