package gating_test

import (
	"errors"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/attention"
	"github.com/govlm/vlm/gating"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	dim, mediaDim = 16, 12
	vocab         = 20
)

func cfg(mode gating.Mode) gating.Config {
	return gating.Config{Dim: dim, MediaDim: mediaDim, Heads: 2, HeadDim: 8, FFMult: 2, Mode: mode}
}

func newBlock(t testing.TB, mode gating.Mode, attnGate, ffGate float32) *gating.Block {
	t.Helper()
	b, err := gating.NewBlock(vlm.NewRand(3), cfg(mode))
	require.NoError(t, err)
	b.AttnGate.Value.Data[0], b.FFGate.Value.Data[0] = attnGate, ffGate
	return b
}

// tinyLM is a frozen decoder LM built from attention's OPT layers: token
// embedding, layers, final LayerNorm, head.
type tinyLM struct {
	embed  *vlm.Embedding
	layers []*attention.DecoderLayer
	norm   *vlm.LayerNorm
	head   *vlm.Linear
}

func newLM(t testing.TB, n int) *tinyLM {
	t.Helper()
	rng := vlm.NewRand(11)
	lm := &tinyLM{embed: vlm.NewEmbedding(rng, vocab, dim, 1), norm: vlm.NewLayerNorm(dim, 1e-5), head: vlm.NewLinear(rng, dim, vocab, false)}
	for range n {
		l, err := attention.NewDecoderLayer(rng, attention.Config{Dim: dim, Heads: 4}, false)
		require.NoError(t, err)
		lm.layers = append(lm.layers, l)
	}
	return lm
}

func (lm *tinyLM) VisitParams(prefix string, visit func(string, *vlm.Param)) {
	lm.embed.VisitParams(prefix+"embed_tokens.", visit)
	for i, l := range lm.layers {
		l.VisitParams(prefix+"layers."+string(rune('0'+i))+".", visit)
	}
	lm.norm.VisitParams(prefix+"final_layer_norm.", visit)
	lm.head.VisitParams(prefix+"lm_head.", visit)
}

// logits runs the LM on ids [B, T], through s if non-nil.
func (lm *tinyLM) logits(t testing.TB, tp *vlm.Tape, ids []int, b int, s *gating.Stack, media *gating.Media, tt *gating.TextTime) *vlm.Tensor {
	t.Helper()
	x := vlm.Reshape(tp, lm.embed.Forward(tp, ids), b, len(ids)/b, dim)
	var err error
	if s == nil {
		for _, l := range lm.layers {
			x, err = l.Forward(tp, x, nil, nil, nil, nil)
			require.NoError(t, err)
		}
	} else {
		layers := make([]gating.Layer, len(lm.layers))
		for i, l := range lm.layers {
			layers[i] = gating.LayerFunc(func(tp *vlm.Tape, x *vlm.Tensor) (*vlm.Tensor, error) {
				return l.Forward(tp, x, nil, nil, nil, nil)
			})
		}
		x, err = s.Forward(tp, x, layers, media, tt)
		require.NoError(t, err)
	}
	return lm.head.Forward(tp, lm.norm.Forward(tp, x))
}

// batch is two samples of `t <img> t t <img> t t` and `<img> t t t <img> t t`.
var batchIDs = []int{5, img, 6, 7, img, 8, 4, img, 3, 2, 5, img, 6, 1}

func TestIdentityAtInit(t *testing.T) {
	// With both gates at 0 the wrapped LM's logits are the frozen LM's,
	// bit for bit, whatever the placement, mode and media; with a gate
	// opened they differ.
	lm := newLM(t, 4)
	loc, err := gating.Locate(batchIDs, 2, 7, img)
	require.NoError(t, err)
	media := vlm.RandN(vlm.NewRand(4), 1, 2, 2, 3, mediaDim)
	want := lm.logits(t, nil, batchIDs, 2, nil, nil, nil)
	for _, p := range []gating.Placement{gating.Before, gating.After} {
		for _, mode := range []gating.Mode{gating.Immediate, gating.AllPrevious} {
			for _, every := range []int{1, 2, 3} {
				s, err := gating.NewStack(vlm.NewRand(5), cfg(mode), 4, every, p)
				require.NoError(t, err)
				cond, err := s.Condition(nil, media, nil)
				require.NoError(t, err)
				got := lm.logits(t, nil, batchIDs, 2, s, cond, loc.TextTime())
				require.Equal(t, want.Shape, got.Shape)
				for i := range want.Data {
					require.Equal(t, math.Float32bits(want.Data[i]), math.Float32bits(got.Data[i]), "%v %v every %d: logit %d", p, mode, every, i)
				}
				s.Blocks[s.Layers()[0]].AttnGate.Value.Data[0] = 0.1
				opened := lm.logits(t, nil, batchIDs, 2, s, cond, loc.TextTime())
				assert.Greater(t, vlm.MaxAbsDiff(opened, want), 1e-4)
			}
		}
	}
}

func TestFirstStepMovesOnlyGates(t *testing.T) {
	// At init the gates pass gradient (tanh'(0) = 1) but the branches
	// they scale get none: the first step of training moves the gates.
	lm := newLM(t, 2)
	vlm.Freeze(lm, "*")
	s, err := gating.NewStack(vlm.NewRand(5), cfg(gating.Immediate), 2, 1, gating.Before)
	require.NoError(t, err)
	loc, err := gating.Locate(batchIDs, 2, 7, img)
	require.NoError(t, err)
	tp := vlm.NewTape()
	cond, err := s.Condition(tp, vlm.RandN(vlm.NewRand(4), 1, 2, 2, 3, mediaDim), nil)
	require.NoError(t, err)
	logits := lm.logits(t, tp, batchIDs, 2, s, cond, loc.TextTime())
	require.NoError(t, tp.Backward(vlm.CrossEntropy(tp, vlm.Reshape(tp, logits, 14, vocab), batchIDs, 0)))
	for _, p := range vlm.Params(s) {
		require.NotNil(t, p.Grad, p.Name)
		if strings.HasSuffix(p.Name, "_gate") {
			assert.NotZero(t, p.Grad.Data[0], p.Name)
		} else {
			assert.Zero(t, vlm.MaxAbs(p.Grad), p.Name)
		}
	}
	for _, p := range vlm.Params(lm) {
		assert.Nil(t, p.Grad, p.Name)
	}
}

func TestCachedMediaGeneration(t *testing.T) {
	// A new token after the prompt, with cached media and Cached text
	// time, gets what it gets as the last token of a full pass.
	for _, mode := range []gating.Mode{gating.Immediate, gating.AllPrevious} {
		b := newBlock(t, mode, 0.6, -0.3)
		media := vlm.RandN(vlm.NewRand(6), 1, 2, 2, 3, mediaDim)
		mem, err := b.Memory(nil, media, nil)
		require.NoError(t, err)
		x := vlm.RandN(vlm.NewRand(7), 1, 2, 8, dim)
		// Sample 0 ends `... <img> t t`, sample 1 has no <image>.
		at := make([]bool, 16)
		at[1], at[5] = true, true
		full, err := gating.NewLocations(2, 8, at)
		require.NoError(t, err)
		yFull, err := b.Forward(nil, x, mem, full.TextTime())
		require.NoError(t, err)

		prompt, err := gating.NewLocations(2, 7, append(append([]bool(nil), at[:7]...), at[8:15]...))
		require.NoError(t, err)
		last := vlm.Concat(nil, 0, vlm.Slice(nil, x, 1, 7, 8))
		yStep, err := b.Forward(nil, last, mem, prompt.Cached(1))
		require.NoError(t, err)
		for s := range 2 {
			assert.InDeltaSlice(t, yFull.Data[(s*8+7)*dim:(s*8+8)*dim], yStep.Data[s*dim:(s+1)*dim], 1e-6, "%v sample %d", mode, s)
		}
	}
}

func TestPaddedMedia(t *testing.T) {
	// Sample 1 has one real image in two slots (the second zero-padded,
	// as open_flamingo's eval pads): with the media mask, every token of
	// a well-formed prompt gets what it gets with sample 1 alone.
	at := []bool{false, true, false, false, true, false, true, false, false, false, false, false}
	loc, err := gating.NewLocations(2, 6, at)
	require.NoError(t, err)
	alone, err := gating.NewLocations(1, 6, at[6:])
	require.NoError(t, err)
	media := vlm.RandN(vlm.NewRand(8), 1, 2, 2, 3, mediaDim)
	clear(media.Data[3*3*mediaDim:]) // sample 1, slot 1
	x := vlm.RandN(vlm.NewRand(9), 1, 2, 6, dim)
	for _, mode := range []gating.Mode{gating.Immediate, gating.AllPrevious} {
		b := newBlock(t, mode, 0.5, 0.5)
		mem, err := b.Memory(nil, media, []bool{true, true, true, false})
		require.NoError(t, err)
		y, err := b.Forward(nil, x, mem, loc.TextTime())
		require.NoError(t, err)
		memAlone, err := b.Memory(nil, vlm.Slice(nil, vlm.Slice(nil, media, 0, 1, 2), 1, 0, 1), nil)
		require.NoError(t, err)
		yAlone, err := b.Forward(nil, vlm.Slice(nil, x, 0, 1, 2), memAlone, alone.TextTime())
		require.NoError(t, err)
		assert.InDeltaSlice(t, yAlone.Data, y.Data[6*dim:], 1e-6, "%v", mode)
	}
}

func TestFullyMaskedRows(t *testing.T) {
	// A fully masked row outputs the mean of the values over all media
	// tokens, whatever its query. Immediate mode: text_time 3 > 2 media
	// (rows 4, 5) is fully masked and text before any image (row 0) is
	// zeroed. AllPrevious: only row 0 is fully masked, with the same
	// uniform mean; rows 4 and 5 see both images.
	loc, err := gating.Locate([]int{5, img, 6, img, img, 7}, 1, 6, img) // text_time 0 1 1 2 3 3
	require.NoError(t, err)
	media := vlm.RandN(vlm.NewRand(10), 1, 1, 2, 3, mediaDim)
	x := vlm.RandN(vlm.NewRand(11), 1, 1, 6, dim)
	x2 := x.Clone()
	for i := range dim { // not a constant shift, which LayerNorm removes
		x2.Data[0*dim+i] += float32(i % 3)
		x2.Data[5*dim+i] -= float32(i%5) / 2
	}
	row := func(y *vlm.Tensor, i int) []float32 { return y.Data[i*dim : (i+1)*dim] }
	run := func(mode gating.Mode, x *vlm.Tensor) *vlm.Tensor {
		b := newBlock(t, mode, 1, 1) // same weights in both modes
		mem, err := b.Memory(nil, media, nil)
		require.NoError(t, err)
		y, err := b.Attn.Forward(nil, x, mem, loc.TextTime())
		require.NoError(t, err)
		return y
	}
	imm, imm2 := run(gating.Immediate, x), run(gating.Immediate, x2)
	assert.Equal(t, make([]float32, dim), row(imm, 0))
	assert.Equal(t, make([]float32, dim), row(imm2, 0))
	assert.Equal(t, row(imm, 4), row(imm, 5))
	assert.Equal(t, row(imm, 5), row(imm2, 5))
	assert.NotEqual(t, row(imm, 1), row(imm, 4))

	all, all2 := run(gating.AllPrevious, x), run(gating.AllPrevious, x2)
	assert.InDeltaSlice(t, row(imm, 4), row(all, 0), 1e-6)
	assert.Equal(t, row(all, 0), row(all2, 0))
	assert.NotEqual(t, row(all, 5), row(all2, 5))
}

func TestNoLocations(t *testing.T) {
	// Without locations every token attends to every media token
	// (lucidrains' media_locations=None): the same as AllPrevious with
	// every token after the last image.
	b := newBlock(t, gating.Immediate, 0.5, 0.5)
	media := vlm.RandN(vlm.NewRand(12), 1, 1, 2, 3, mediaDim)
	x := vlm.RandN(vlm.NewRand(13), 1, 1, 4, dim)
	mem, err := b.Memory(nil, media, nil)
	require.NoError(t, err)
	y, err := b.Forward(nil, x, mem, nil)
	require.NoError(t, err)
	b.Attn.Mode = gating.AllPrevious
	y2, err := b.Forward(nil, x, mem, &gating.TextTime{B: 1, T: 4, Time: []int{2, 2, 2, 2}})
	require.NoError(t, err)
	assert.InDeltaSlice(t, y.Data, y2.Data, 1e-6)
}

func TestErrors(t *testing.T) {
	b := newBlock(t, gating.Immediate, 0, 0)
	other := newBlock(t, gating.Immediate, 0, 0)
	media := vlm.RandN(vlm.NewRand(1), 1, 2, 2, 3, mediaDim)
	mem, err := b.Memory(nil, media, nil)
	require.NoError(t, err)
	x := vlm.RandN(vlm.NewRand(2), 1, 2, 4, dim)
	nan := x.Clone()
	nan.Data[5] = float32(math.Inf(1))
	tt := &gating.TextTime{B: 2, T: 4, Time: make([]int, 8)}

	_, err = b.Memory(nil, vlm.Zeros(2, 2, 3, dim), nil)
	assert.ErrorIs(t, err, vlm.ErrShape, "media width")
	_, err = b.Memory(nil, vlm.Zeros(2, 0, 3, mediaDim), nil)
	assert.ErrorIs(t, err, vlm.ErrShape, "no media")
	_, err = b.Memory(nil, media, []bool{true})
	assert.ErrorIs(t, err, vlm.ErrShape, "media mask")
	bad := media.Clone()
	bad.Data[0] = float32(math.NaN())
	_, err = b.Memory(nil, bad, nil)
	assert.ErrorIs(t, err, vlm.ErrInput, "NaN media")

	for _, c := range []struct {
		name string
		x    *vlm.Tensor
		mem  *gating.Memory
		tt   *gating.TextTime
		kind error
	}{
		{"text width", vlm.Zeros(2, 4, mediaDim), mem, tt, vlm.ErrShape},
		{"nil memory", x, nil, tt, vlm.ErrInput},
		{"memory of another block", x, must(other.Memory(nil, media, nil)), tt, vlm.ErrInput},
		{"batch", vlm.Zeros(1, 4, dim), mem, nil, vlm.ErrShape},
		{"text time shape", x, mem, &gating.TextTime{B: 2, T: 3, Time: make([]int, 6)}, vlm.ErrShape},
		{"negative text time", x, mem, &gating.TextTime{B: 2, T: 4, Time: []int{0, 0, 0, -1, 0, 0, 0, 0}}, vlm.ErrInput},
		{"infinite text", nan, mem, tt, vlm.ErrInput},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := b.Forward(nil, c.x, c.mem, c.tt)
			assert.ErrorIs(t, err, c.kind)
		})
	}

	for _, c := range []gating.Config{{}, {Dim: 8, Heads: -1}, {Dim: 8, MediaDim: -1}, {Dim: 8, Mode: 5}} {
		_, err := gating.NewBlock(nil, c)
		assert.ErrorIs(t, err, vlm.ErrConfig, "%+v", c)
	}
	for _, c := range []struct{ n, every int }{{0, 1}, {4, 0}} {
		_, err := gating.NewStack(nil, cfg(gating.Immediate), c.n, c.every, gating.Before)
		assert.ErrorIs(t, err, vlm.ErrConfig)
	}
	_, err = gating.NewStack(nil, cfg(gating.Immediate), 2, 1, gating.Placement(3))
	assert.ErrorIs(t, err, vlm.ErrConfig)

	s, err := gating.NewStack(vlm.NewRand(1), cfg(gating.Immediate), 2, 1, gating.Before)
	require.NoError(t, err)
	cond, err := s.Condition(nil, media, nil)
	require.NoError(t, err)
	id := gating.LayerFunc(func(_ *vlm.Tape, x *vlm.Tensor) (*vlm.Tensor, error) { return x, nil })
	_, err = s.Forward(nil, x, []gating.Layer{id}, cond, tt)
	assert.ErrorIs(t, err, vlm.ErrConfig, "layer count")
	boom := errors.New("boom")
	_, err = s.Forward(nil, x, []gating.Layer{id, gating.LayerFunc(func(*vlm.Tape, *vlm.Tensor) (*vlm.Tensor, error) { return nil, boom })}, cond, tt)
	assert.ErrorIs(t, err, boom, "a layer's error is returned")
	s3, err := gating.NewStack(vlm.NewRand(1), cfg(gating.Immediate), 3, 1, gating.Before)
	require.NoError(t, err)
	_, err = s3.Forward(nil, x, []gating.Layer{id, id, id}, cond, tt)
	assert.ErrorIs(t, err, vlm.ErrInput, "media of another stack")
	_, err = s.Condition(nil, vlm.Zeros(2, 1, 1, dim), nil)
	assert.ErrorIs(t, err, vlm.ErrShape)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestStackWithoutMedia(t *testing.T) {
	// Nil media skips the blocks (text-only), even with open gates.
	lm := newLM(t, 3)
	s, err := gating.NewStack(vlm.NewRand(1), cfg(gating.Immediate), 3, 1, gating.After)
	require.NoError(t, err)
	for _, b := range s.Blocks {
		b.AttnGate.Value.Data[0], b.FFGate.Value.Data[0] = 1, 1
	}
	want := lm.logits(t, nil, batchIDs, 2, nil, nil, nil)
	got := lm.logits(t, nil, batchIDs, 2, s, nil, nil)
	assert.Equal(t, want.Data, got.Data)
}

func TestStackNamesAndGates(t *testing.T) {
	s, err := gating.NewStack(vlm.NewRand(1), gating.Config{Dim: 16, Heads: 2, HeadDim: 8}, 6, 2, gating.Before)
	require.NoError(t, err)
	assert.Equal(t, []int{1, 3, 5}, s.Layers())
	names := vlm.ParamNames(s)
	assert.Contains(t, names, "1.gated_cross_attn_layer.attn.to_kv.weight")
	assert.Contains(t, names, "5.gated_cross_attn_layer.ff_gate")
	assert.Contains(t, names, "3.gated_cross_attn_layer.ff.3.weight")
	assert.Len(t, names, 3*11)
	attn, ff := s.Gates()
	assert.Equal(t, []float64{0, 0, 0}, attn)
	assert.Equal(t, []float64{0, 0, 0}, ff)
	s.Blocks[3].AttnGate.Value.Data[0] = 0.5
	attn, _ = s.Gates()
	assert.InDelta(t, math.Tanh(0.5), attn[1], 1e-12)

	for key, want := range map[string]string{
		"layers.3.1.attn.to_q.weight": "3.gated_cross_attn_layer.attn.to_q.weight",
		"layers.12.1.ff_gate":         "12.gated_cross_attn_layer.ff_gate",
		"layers.3.0.fn.norm.gamma":    "layers.3.0.fn.norm.gamma",
		"layers.x.1.attn_gate":        "layers.x.1.attn_gate",
		"layers.3":                    "layers.3",
		"token_emb.weight":            "token_emb.weight",
	} {
		assert.Equal(t, want, gating.LucidrainsRename(key), key)
	}
}

func TestFreezeRecipes(t *testing.T) {
	lm := newLM(t, 2)
	s, err := gating.NewStack(vlm.NewRand(1), cfg(gating.Immediate), 2, 1, gating.Before)
	require.NoError(t, err)
	vision := vlm.NewLinear(vlm.NewRand(2), 4, mediaDim, true)
	res := vlm.NewLinear(vlm.NewRand(3), mediaDim, mediaDim, false)
	parts := gating.Parts{Vision: vision, Resampler: res, LM: lm, Embeddings: lm.embed, Gated: s}
	lmTotal, _ := vlm.CountParams(lm)
	gTotal, _ := vlm.CountParams(s)
	emb := vocab * dim
	for _, c := range []struct {
		recipe  gating.Recipe
		lmTrain int
	}{{gating.OpenFlamingo, emb}, {gating.FrozenLM, 0}} {
		require.NoError(t, parts.Freeze(c.recipe))
		assert.Equal(t, []gating.Count{
			{"vision", 4*mediaDim + mediaDim, 0},
			{"resampler", mediaDim * mediaDim, mediaDim * mediaDim},
			{"lm", lmTotal, c.lmTrain},
			{"embeddings", emb, c.lmTrain},
			{"gated", gTotal, gTotal},
			{"total", 5*mediaDim + mediaDim*mediaDim + lmTotal + gTotal, mediaDim*mediaDim + c.lmTrain + gTotal},
		}, parts.Count())
	}
	assert.ErrorIs(t, parts.Freeze(gating.Recipe(9)), vlm.ErrConfig)
	assert.ErrorIs(t, gating.Parts{LM: lm}.Freeze(gating.FrozenLM), vlm.ErrConfig)
}

func TestGradCheck(t *testing.T) {
	loc, err := gating.Locate([]int{5, img, 6, img, img, 7}, 1, 6, img)
	require.NoError(t, err)
	for _, c := range []struct {
		name string
		mode gating.Mode
		tt   *gating.TextTime
	}{
		{"immediate", gating.Immediate, loc.TextTime()},
		{"all previous", gating.AllPrevious, loc.TextTime()},
		{"cached", gating.Immediate, loc.Cached(6)},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := newBlock(t, c.mode, 0.7, -0.5)
			x := vlm.RandN(vlm.NewRand(1), 1, 1, 6, dim)
			media := vlm.RandN(vlm.NewRand(2), 1, 1, 2, 3, mediaDim)
			r := vlm.RandN(vlm.NewRand(3), 1, 1, 6, dim)
			err := vlm.CheckGrad(b, func(tp *vlm.Tape) *vlm.Tensor {
				mem, err := b.Memory(tp, media, nil)
				require.NoError(t, err)
				y, err := b.Forward(tp, x, mem, c.tt)
				require.NoError(t, err)
				return vlm.Sum(tp, vlm.Mul(tp, y, r))
			}, &vlm.GradCheckOptions{Inputs: []*vlm.Tensor{x, media}, MaxPerTensor: 6, Seed: 2})
			assert.NoError(t, err)
		})
	}
}

func TestConcurrentInference(t *testing.T) {
	b := newBlock(t, gating.Immediate, 0.5, 0.5)
	media := vlm.RandN(vlm.NewRand(1), 1, 2, 2, 3, mediaDim)
	mem, err := b.Memory(nil, media, nil)
	require.NoError(t, err)
	x := vlm.RandN(vlm.NewRand(2), 1, 2, 7, dim)
	loc, err := gating.Locate(batchIDs, 2, 7, img)
	require.NoError(t, err)
	want, err := b.Forward(nil, x, mem, loc.TextTime())
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for g := range errs {
		wg.Go(func() {
			y, err := b.Forward(nil, x, mem, loc.TextTime())
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
