package resampler_test

import (
	"errors"
	"math"
	"sync"
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/resampler"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func tiny() resampler.Config {
	return resampler.Config{Dim: 8, Depth: 2, Heads: 2, HeadDim: 4, Latents: 3, FFMult: 2, MaxMedia: 3, MaxFrames: 2}
}

func newModel(t testing.TB, c resampler.Config) *resampler.Model {
	t.Helper()
	m, err := resampler.New(vlm.NewRand(7), c)
	require.NoError(t, err)
	return m
}

func TestConfig(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  resampler.Config
	}{
		{"no dim", resampler.Config{}},
		{"negative depth", resampler.Config{Dim: 8, Depth: -1}},
		{"negative heads", resampler.Config{Dim: 8, Heads: -2}},
		{"negative latents", resampler.Config{Dim: 8, Latents: -1}},
		{"negative media", resampler.Config{Dim: 8, MaxMedia: -1}},
		{"negative frames", resampler.Config{Dim: 8, MaxFrames: -1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := resampler.New(nil, c.cfg)
			assert.ErrorIs(t, err, vlm.ErrConfig)
		})
	}
}

func TestDefaultsAndNames(t *testing.T) {
	// OpenFlamingo's resampler as released is PerceiverResampler(dim=1024):
	// 6 layers, 8 heads of 64, 64 latents, no embeddings. Width 32 here.
	const d = 32
	m := newModel(t, resampler.Config{Dim: d})
	assert.Len(t, m.Layers, 6)
	assert.Equal(t, 64, m.NumLatents())
	assert.Equal(t, d, m.Dim())
	p := vlm.ParamMap(m)
	assert.NotContains(t, p, "media_time_embs")
	assert.NotContains(t, p, "frame_embs")
	shapes := map[string][]int{
		"latents":                        {64, d},
		"layers.0.0.norm_media.weight":   {d},
		"layers.0.0.norm_latents.bias":   {d},
		"layers.0.0.to_q.weight":         {512, d},
		"layers.0.0.to_kv.weight":        {1024, d},
		"layers.0.0.to_out.weight":       {d, 512},
		"layers.5.1.0.weight":            {d},
		"layers.5.1.1.weight":            {4 * d, d},
		"layers.5.1.3.weight":            {d, 4 * d},
		"layers.3.0.norm_media.bias":     {d},
		"layers.3.0.norm_latents.weight": {d},
		"norm.weight":                    {d},
		"norm.bias":                      {d},
	}
	for name, s := range shapes {
		require.Contains(t, p, name)
		assert.Equal(t, s, p[name].Value.Shape, name)
	}
	assert.Len(t, p, 1+6*11+2)
	total, trainable := vlm.CountParams(m)
	assert.Equal(t, 64*d+6*(4*d+512*d+1024*d+d*512+2*d+2*4*d*d)+2*d, total)
	assert.Equal(t, total, trainable)

	l := newModel(t, resampler.Lucidrains(32, 2))
	require.Contains(t, vlm.ParamMap(l), "media_time_embs")
	assert.Equal(t, []int{4, 1, 32}, vlm.ParamMap(l)["media_time_embs"].Value.Shape)
	for key, want := range map[string]string{
		"media_pos_emb":           "media_time_embs",
		"time_pos_emb":            "media_time_embs",
		"latents":                 "latents",
		"layers.0.0.to_kv.weight": "layers.0.0.to_kv.weight",
		"media_pos_emb.extra":     "media_pos_emb.extra",
	} {
		assert.Equal(t, want, resampler.LucidrainsRename(key), key)
	}
}

func TestForwardErrors(t *testing.T) {
	m := newModel(t, tiny())
	nan := vlm.Zeros(1, 2, 8)
	nan.Data[3] = float32(math.NaN())
	for _, c := range []struct {
		name string
		x    *vlm.Tensor
		kind error
	}{
		{"nil", nil, vlm.ErrShape},
		{"rank 2", vlm.Zeros(4, 8), vlm.ErrShape},
		{"rank 6", vlm.Zeros(1, 1, 1, 1, 1, 8), vlm.ErrShape},
		{"width", vlm.Zeros(1, 4, 7), vlm.ErrShape},
		{"empty", vlm.Zeros(1, 0, 8), vlm.ErrShape},
		{"too many media", vlm.Zeros(1, 4, 2, 8), vlm.ErrShape},
		{"too many frames", vlm.Zeros(1, 1, 3, 2, 8), vlm.ErrShape},
		{"short data", &vlm.Tensor{Shape: []int{1, 2, 8}, Data: make([]float32, 15)}, vlm.ErrShape},
		{"NaN", nan, vlm.ErrInput},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := m.Forward(nil, c.x)
			assert.ErrorIs(t, err, c.kind)
		})
	}
}

func TestInputForms(t *testing.T) {
	// [B, N, D] is [B, 1, N, D] is [B, 1, 1, N, D]: bit for bit.
	m := newModel(t, tiny())
	x := vlm.RandN(vlm.NewRand(1), 1, 2, 5, 8)
	y3, err := m.Forward(nil, x)
	require.NoError(t, err)
	y4, err := m.Forward(nil, x.Reshape(2, 1, 5, 8))
	require.NoError(t, err)
	y5, err := m.Forward(nil, x.Reshape(2, 1, 1, 5, 8))
	require.NoError(t, err)
	assert.Equal(t, []int{2, 1, 3, 8}, y3.Shape)
	assert.Equal(t, y3.Data, y4.Data)
	assert.Equal(t, y3.Data, y5.Data)
	// Frames are flattened frame-major into one item's tokens.
	v, err := m.Forward(nil, vlm.RandN(vlm.NewRand(2), 1, 2, 3, 2, 4, 8))
	require.NoError(t, err)
	assert.Equal(t, []int{2, 3, 3, 8}, v.Shape)
}

func TestItemsAreIndependent(t *testing.T) {
	// Each media item is resampled on its own: zero-padding a sample's
	// missing items (open_flamingo's eval) leaves its real items as they
	// are alone, and changing one item changes no other item's latents.
	c := tiny()
	c.MaxFrames = 0
	m := newModel(t, c)
	const n, d, q = 4, 8, 3
	a := vlm.RandN(vlm.NewRand(3), 1, 1, 2, n, d) // sample 0: two items
	b := vlm.RandN(vlm.NewRand(4), 1, 1, 1, n, d) // sample 1: one item
	padded := vlm.Zeros(2, 3, n, d)               // three slots each
	copy(padded.Data, a.Data)
	copy(padded.Data[3*n*d:], b.Data)
	y, err := m.Forward(nil, padded)
	require.NoError(t, err)
	ya, err := m.Forward(nil, a)
	require.NoError(t, err)
	yb, err := m.Forward(nil, b)
	require.NoError(t, err)
	assert.InDeltaSlice(t, ya.Data, y.Data[:2*q*d], 1e-6)
	assert.InDeltaSlice(t, yb.Data, y.Data[3*q*d:4*q*d], 1e-6)

	changed := padded.Clone()
	for i := n * d; i < 2*n*d; i++ { // item 1 of sample 0
		changed.Data[i] += 1
	}
	y2, err := m.Forward(nil, changed)
	require.NoError(t, err)
	for item := range 6 {
		same := assert.ObjectsAreEqual(y.Data[item*q*d:(item+1)*q*d], y2.Data[item*q*d:(item+1)*q*d])
		assert.Equal(t, item != 1, same, "item %d", item)
	}
}

func TestFrozen(t *testing.T) {
	// A frozen resampler gets no gradient but passes one to its input.
	m := newModel(t, tiny())
	require.Positive(t, vlm.Freeze(m, "*"))
	x := vlm.RandN(vlm.NewRand(5), 1, 1, 2, 1, 4, 8)
	tp := vlm.NewTape()
	tp.Watch(x)
	y, err := m.Forward(tp, x)
	require.NoError(t, err)
	require.NoError(t, tp.Backward(vlm.Sum(tp, vlm.Mul(tp, y, vlm.RandN(vlm.NewRand(6), 1, y.Shape...)))))
	for _, p := range vlm.Params(m) {
		assert.Nil(t, p.Grad, p.Name)
	}
	assert.Positive(t, vlm.MaxAbs(tp.Grad(x)))
}

func TestGradCheck(t *testing.T) {
	m := newModel(t, tiny())
	x := vlm.RandN(vlm.NewRand(8), 1, 2, 2, 2, 3, 8)
	r := vlm.RandN(vlm.NewRand(9), 1, 2, 2, 3, 8)
	err := vlm.CheckGrad(m, func(tp *vlm.Tape) *vlm.Tensor {
		y, err := m.Forward(tp, x)
		require.NoError(t, err)
		return vlm.Sum(tp, vlm.Mul(tp, y, r))
	}, &vlm.GradCheckOptions{Inputs: []*vlm.Tensor{x}, MaxPerTensor: 6, Seed: 1})
	assert.NoError(t, err)
}

func TestConcurrentInference(t *testing.T) {
	m := newModel(t, tiny())
	x := vlm.RandN(vlm.NewRand(10), 1, 2, 3, 1, 4, 8)
	want, err := m.Forward(nil, x)
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for g := range errs {
		wg.Go(func() {
			y, err := m.Forward(nil, x)
			if err == nil && !assert.ObjectsAreEqual(want.Data, y.Data) {
				err = errors.New("different output")
			}
			errs[g] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		assert.NoError(t, err)
	}
}
