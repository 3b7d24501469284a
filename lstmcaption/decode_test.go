package lstmcaption_test

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/lstmcaption"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Word ids of the hand-built models.
const (
	wPad = iota
	wStart
	wEnd
	wA
	wB
	wC
)

// bigram returns a decoder whose next word depends only on the previous
// one, with p(next | prev) = probs[prev][next] (rows normalised here,
// every entry > 0). The embedding is the identity; the LSTM's input gate
// and output gate are saturated open, its forget gate shut, and its
// candidate saturated, so that h = tanh(1)·onehot(prev) exactly in
// float32; fc maps that one-hot to log p(· | prev). Attention and the
// initial state play no part.
func bigram(t *testing.T, probs [][]float64) *lstmcaption.Decoder {
	t.Helper()
	v := len(probs)
	d, err := lstmcaption.New(vlm.NewRand(1), lstmcaption.Config{EncoderDim: 2, AttentionDim: 2, EmbedDim: v, DecoderDim: v, VocabSize: v})
	require.NoError(t, err)
	for _, np := range vlm.Params(d) {
		clear(np.Value.Data)
	}
	const big = 30
	for i := range v {
		d.Embedding.Weight.Value.Set(1, i, i)
		d.DecodeStep.IH.Bias.Value.Data[i] = big        // input gate
		d.DecodeStep.IH.Bias.Value.Data[v+i] = -big     // forget gate
		d.DecodeStep.IH.Weight.Value.Set(big, 2*v+i, i) // candidate = tanh(30·onehot)
		d.DecodeStep.IH.Bias.Value.Data[3*v+i] = big    // output gate
	}
	tanh1 := math.Tanh(1)
	for prev, row := range probs {
		sum := 0.0
		for _, p := range row {
			sum += p
		}
		for next, p := range row {
			d.FC.Weight.Value.Set(float32(math.Log(p/sum)/tanh1), next, prev)
		}
	}
	return d
}

// near spreads 1e-4 of probability over every word and puts the rest on
// the given words.
func near(v int, mass map[int]float64) []float64 {
	row := make([]float64, v)
	for i := range row {
		row[i] = 1e-4
	}
	for w, p := range mass {
		row[w] += p
	}
	return row
}

// detour is a bigram model where the greedy first word leads nowhere
// good: <start> → A 0.6, B 0.4; A → C 0.35, <end> 0.33, B 0.32; B →
// <end> 0.9; C → <end>. Greedy reads "A C" (p ≈ 0.21); the best caption
// is "B" (p ≈ 0.36), and beam search with k = 2 finds it.
func detour(t *testing.T) *lstmcaption.Decoder {
	const v = 6
	return bigram(t, [][]float64{
		wPad:   near(v, map[int]float64{wEnd: 1}),
		wStart: near(v, map[int]float64{wA: 0.6, wB: 0.4}),
		wEnd:   near(v, map[int]float64{wEnd: 1}),
		wA:     near(v, map[int]float64{wC: 0.35, wEnd: 0.33, wB: 0.32}),
		wB:     near(v, map[int]float64{wEnd: 0.9, wA: 0.1}),
		wC:     near(v, map[int]float64{wEnd: 1}),
	})
}

func features(b int) *vlm.Tensor { return vlm.RandN(vlm.NewRand(9), 1, b, 2, 2, 2) }

var hand = lstmcaption.DecodeOptions{Start: wStart, End: wEnd}

func TestBeamFindsKnownBest(t *testing.T) {
	d := detour(t)
	ctx := context.Background()
	greedy, err := d.Greedy(ctx, features(1), hand)
	require.NoError(t, err)
	assert.Equal(t, []int{wA, wC, wEnd}, greedy[0].IDs)
	beam, err := d.Beam(ctx, features(1), 2, hand)
	require.NoError(t, err)
	assert.Equal(t, []int{wB, wEnd}, beam[0].IDs)
	assert.True(t, beam[0].Complete)
	// Scores are the summed log-probabilities (no length penalty).
	z := 1 + 6e-4
	assert.InDelta(t, math.Log(0.4001/z)+math.Log(0.9001/z), float64(beam[0].Score), 1e-5)
	assert.InDelta(t, math.Log(0.6001/z)+math.Log(0.3501/z)+math.Log(1.0001/z), float64(greedy[0].Score), 1e-5)
	assert.Greater(t, beam[0].Score, greedy[0].Score)
	for _, k := range []int{3, 6} { // larger beams keep the best
		c, err := d.Beam(ctx, features(1), k, hand)
		require.NoError(t, err)
		assert.Equal(t, []int{wB, wEnd}, c[0].IDs, "k=%d", k)
	}
}

func TestBeamWithoutEnd(t *testing.T) {
	// <end> is never likely: every caption runs to MaxLen, and the best
	// live beam (A A A A) is returned instead of failing (issue #142).
	const v = 6
	row := near(v, map[int]float64{wA: 0.7, wB: 0.2})
	d := bigram(t, [][]float64{row, row, row, row, row, row})
	o := hand
	o.MaxLen = 4
	for _, k := range []int{1, 3} {
		c, err := d.Beam(context.Background(), features(2), k, o)
		require.NoError(t, err)
		for _, ci := range c {
			assert.Equal(t, []int{wA, wA, wA, wA}, ci.IDs, "k=%d", k)
			assert.False(t, ci.Complete)
			assert.Equal(t, []int{4, 2, 2}, ci.Alphas.Shape)
		}
	}
}

func TestBeamBatchMatchesSingleImages(t *testing.T) {
	d, err := lstmcaption.New(vlm.NewRand(3), tinyConfig(false))
	require.NoError(t, err)
	scale(d.FC.Weight.Value, 30)
	enc := vlm.RandN(vlm.NewRand(4), 1, 4, 2, 3, 6)
	opts := lstmcaption.DecodeOptions{Start: 1, End: 2, MaxLen: 12}
	all, err := d.Beam(context.Background(), enc, 3, opts)
	require.NoError(t, err)
	lengths := map[int]bool{}
	for i := range 4 {
		one, err := d.Beam(context.Background(), vlm.Slice(nil, enc, 0, i, i+1), 3, opts)
		require.NoError(t, err)
		assert.Equal(t, one[0].IDs, all[i].IDs, "image %d", i)
		// The matrix products may block a batch differently from one row:
		// equal up to rounding.
		assert.InDelta(t, one[0].Score, all[i].Score, 1e-5, "image %d", i)
		assert.InDeltaSlice(t, one[0].Alphas.Data, all[i].Alphas.Data, 1e-6, "image %d", i)
		lengths[len(all[i].IDs)] = true
	}
	assert.Greater(t, len(lengths), 1, "the images should end at different steps")
}

func scale(x *vlm.Tensor, s float32) {
	for i := range x.Data {
		x.Data[i] *= s
	}
}

func TestCaptionMaps(t *testing.T) {
	d, err := lstmcaption.New(vlm.NewRand(3), tinyConfig(false))
	require.NoError(t, err)
	caps, err := d.Greedy(context.Background(), vlm.RandN(vlm.NewRand(4), 1, 2, 2, 3, 6), lstmcaption.DecodeOptions{Start: 1, End: 2, MaxLen: 5})
	require.NoError(t, err)
	for _, c := range caps {
		require.Equal(t, []int{len(c.IDs), 2, 3}, c.Alphas.Shape)
		for i := range c.IDs {
			m := c.Map(i)
			assert.Equal(t, []int{2, 3}, m.Shape)
			assert.InDelta(t, 1, vlm.Sum(nil, m).Data[0], 1e-6)
		}
	}
	// Features given as [B, P, Denc] give maps [1, P].
	caps, err = d.Greedy(context.Background(), vlm.RandN(vlm.NewRand(4), 1, 1, 6, 6), lstmcaption.DecodeOptions{Start: 1, End: 2, MaxLen: 5})
	require.NoError(t, err)
	assert.Equal(t, []int{1, 6}, caps[0].Map(0).Shape)
}

func TestDecodeCancelled(t *testing.T) {
	d := detour(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := d.Beam(ctx, features(1), 2, hand)
	assert.ErrorIs(t, err, context.Canceled)
	_, err = d.Greedy(ctx, features(1), hand)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestDecodeErrors(t *testing.T) {
	d := detour(t)
	ctx := context.Background()
	for _, c := range []struct {
		name string
		enc  *vlm.Tensor
		k    int
		o    lstmcaption.DecodeOptions
		want error
	}{
		{"start out of range", features(1), 1, lstmcaption.DecodeOptions{Start: 6, End: wEnd}, vlm.ErrConfig},
		{"end negative", features(1), 1, lstmcaption.DecodeOptions{Start: wStart, End: -1}, vlm.ErrConfig},
		{"start is end", features(1), 1, lstmcaption.DecodeOptions{Start: wEnd, End: wEnd}, vlm.ErrConfig},
		{"negative MaxLen", features(1), 1, lstmcaption.DecodeOptions{Start: wStart, End: wEnd, MaxLen: -1}, vlm.ErrConfig},
		{"beam 0", features(1), 0, hand, vlm.ErrConfig},
		{"beam beyond vocabulary", features(1), 7, hand, vlm.ErrConfig},
		{"wrong width", vlm.Zeros(1, 2, 2, 3), 1, hand, vlm.ErrShape},
		{"rank 2", vlm.Zeros(1, 2), 1, hand, vlm.ErrShape},
		{"nil features", nil, 1, hand, vlm.ErrShape},
		{"empty grid", vlm.Zeros(1, 0, 2), 1, hand, vlm.ErrShape},
		{"NaN", vlm.FromData([]float32{float32(math.NaN()), 0}, 1, 1, 2), 1, hand, vlm.ErrInput},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := d.Beam(ctx, c.enc, c.k, c.o)
			assert.True(t, errors.Is(err, c.want), "got %v, want %v", err, c.want)
		})
	}
}

// TestConcurrentDecoding decodes from several goroutines with one
// decoder: inference only reads it (run with -race).
func TestConcurrentDecoding(t *testing.T) {
	d, err := lstmcaption.New(vlm.NewRand(3), tinyConfig(true))
	require.NoError(t, err)
	enc := vlm.RandN(vlm.NewRand(4), 1, 3, 2, 3, 6)
	opts := lstmcaption.DecodeOptions{Start: 1, End: 2, MaxLen: 8}
	want, err := d.Beam(context.Background(), enc, 3, opts)
	require.NoError(t, err)
	var wg sync.WaitGroup
	got := make([][]lstmcaption.Caption, 4)
	for g := range got {
		wg.Go(func() {
			c, err := d.Beam(context.Background(), enc, 3, opts)
			assert.NoError(t, err)
			got[g] = c
		})
	}
	wg.Wait()
	for _, c := range got {
		assert.Equal(t, want, c)
	}
}
