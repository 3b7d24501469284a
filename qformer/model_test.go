package qformer_test

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/qformer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParamCountBLIP2(t *testing.T) {
	// BLIP-2 stage 1 (LAVIS Blip2Qformer, EVA ViT-g features); see
	// Config.ParamCount for the breakdown. The paper says 188M; a by-layer
	// count that adds BERT's pooler (768² + 768, which the Q-Former does
	// not build) gives 187.3M. Building the model takes seconds, so the
	// benchmarks check vlm.CountParams of the real model against this.
	const blip2 = 186_702_654
	assert.Equal(t, blip2, qformer.BLIP2().ParamCount())
	assert.Equal(t, 187_293_246, blip2+768*768+768, "with a pooler")

	// HF Blip2ForConditionalGeneration (OPT-2.7B) and
	// InstructBlipForConditionalGeneration (Vicuna-7B) Q-Formers.
	assert.Equal(t, 107_130_880, qformer.BLIP2Stage2(2560).ParamCount())
	assert.Equal(t, 188_834_560, qformer.InstructBLIP(4096).ParamCount())
}

func TestParamCountMatchesModel(t *testing.T) {
	small := tiny()
	noText := small
	noText.Vocab, noText.EmbedDim, noText.LMHead = 0, 0, false
	noHeads := small
	noHeads.EmbedDim, noHeads.LMDim = 0, 0
	every := small
	every.CrossEvery, every.Layers = 1, 2
	for _, c := range []qformer.Config{small, tinyInstruct(), noText, noHeads, every} {
		m := qformer.MustNew(vlm.NewRand(1), c)
		total, trainable := vlm.CountParams(m)
		assert.Equal(t, c.ParamCount(), total)
		assert.Equal(t, total, trainable)
	}
}

func TestNames(t *testing.T) {
	m := qformer.MustNew(nil, tiny())
	names := vlm.ParamNames(m)
	for _, want := range []string{
		"query_tokens",
		"embeddings.word_embeddings.weight",
		"embeddings.position_embeddings.weight",
		"qformer.layernorm.weight",
		"qformer.encoder.layer.0.attention.attention.query.weight",
		"qformer.encoder.layer.0.attention.output.LayerNorm.bias",
		"qformer.encoder.layer.0.crossattention.attention.key.weight",
		"qformer.encoder.layer.2.crossattention.output.dense.weight",
		"qformer.encoder.layer.1.intermediate_query.dense.weight",
		"qformer.encoder.layer.1.output_query.LayerNorm.weight",
		"qformer.encoder.layer.1.intermediate.dense.bias",
		"qformer.encoder.layer.1.output.dense.weight",
		"vision_projection.weight", "text_projection.bias", "itm_head.weight", "temp",
		"cls.predictions.bias", "cls.predictions.transform.dense.weight", "cls.predictions.transform.LayerNorm.weight",
		"cls.predictions.decoder.weight", "cls.predictions.decoder.bias",
		"language_projection.weight",
	} {
		assert.Contains(t, names, want)
	}
	assert.NotContains(t, names, "qformer.encoder.layer.1.crossattention.attention.key.weight")
	pm := vlm.ParamMap(m)
	assert.Same(t, pm["embeddings.word_embeddings.weight"], pm["cls.predictions.decoder.weight"], "decoder tied to the words")
	assert.Same(t, pm["cls.predictions.bias"], pm["cls.predictions.decoder.bias"])
	assert.Equal(t, []int{31, 16}, pm["embeddings.word_embeddings.weight"].Value.Shape)
	assert.Equal(t, []int{16, 12}, pm["qformer.encoder.layer.0.crossattention.attention.value.weight"].Value.Shape)
	assert.Empty(t, pm["temp"].Value.Shape, "temp is a scalar")

	// Fresh weights as LAVIS: query FFN = text FFN, padding row zero.
	assert.Equal(t, pm["qformer.encoder.layer.1.intermediate.dense.weight"].Value.Data, pm["qformer.encoder.layer.1.intermediate_query.dense.weight"].Value.Data)
	assert.Equal(t, pm["qformer.encoder.layer.2.output.LayerNorm.bias"].Value.Data, pm["qformer.encoder.layer.2.output_query.LayerNorm.bias"].Value.Data)
	assert.Zero(t, vlm.MaxAbs(vlm.Slice(nil, pm["embeddings.word_embeddings.weight"].Value, 0, 0, 1)))
	assert.InDelta(t, 0.07, pm["temp"].Value.Data[0], 1e-7)
}

func TestSaveLoad(t *testing.T) {
	// HF names round-trip; tied weights are saved once (as HF does) and
	// fill both names on loading.
	for _, c := range []qformer.Config{tiny(), tinyInstruct()} {
		m := qformer.MustNew(vlm.NewRand(1), c)
		path := filepath.Join(t.TempDir(), "q.safetensors")
		require.NoError(t, vlm.SaveWeights(m, path, nil))
		w, err := vlm.ReadSafetensors(path)
		require.NoError(t, err)
		if c.LMHead {
			assert.Contains(t, w.Tensors, "embeddings.word_embeddings.weight")
			assert.NotContains(t, w.Tensors, "cls.predictions.decoder.weight")
		}
		m2 := qformer.MustNew(vlm.NewRand(2), c)
		_, err = vlm.LoadWeights(m2, path, nil)
		require.NoError(t, err)
		for _, p := range vlm.Params(m) {
			assert.Equal(t, p.Value.Data, vlm.ParamMap(m2)[p.Name].Value.Data, p.Name)
		}
		// The stand-alone HF QFormerModel view saves and loads alone.
		qpath := filepath.Join(t.TempDir(), "qformer.safetensors")
		require.NoError(t, vlm.SaveWeights(m.QFormer(), qpath, nil))
		_, err = vlm.LoadWeights(qformer.MustNew(vlm.NewRand(3), c).QFormer(), qpath, nil)
		require.NoError(t, err)
	}
}

func TestFreeze(t *testing.T) {
	// BLIP-2 stage 2 trains the Q-Former and the projection; here the
	// text side is frozen and still passes gradient to the queries.
	m := qformer.MustNew(vlm.NewRand(1), tiny())
	assert.Equal(t, 2, vlm.Freeze(m, "embeddings.*"))
	tp := vlm.NewTape()
	ids, mask := qformer.Pad([][]int{{1, 5, 2}}, 0)
	out, err := m.Forward(tp, qformer.Input{Queries: true, IDs: ids, TextMask: mask, Mode: qformer.Bidirectional, Image: vlm.RandN(vlm.NewRand(2), 1, 1, 4, 12)})
	require.NoError(t, err)
	require.NoError(t, tp.Backward(vlm.Sum(tp, out.Query)))
	pm := vlm.ParamMap(m)
	assert.Nil(t, pm["embeddings.word_embeddings.weight"].Grad)
	assert.NotNil(t, pm["query_tokens"].Grad)
}

func TestCachedCaptioningPass(t *testing.T) {
	// The ITG text pass over the query pass's cached keys and values
	// gives the text rows of one MultimodalCausal pass of queries + text
	// (LAVIS trains with the first, generates with the second), and the
	// query rows of that pass are those of a query-only pass.
	m := qformer.MustNew(vlm.NewRand(1), tiny())
	mem, err := m.Memory(nil, vlm.RandN(vlm.NewRand(2), 1, 2, 5, 12), vlm.FromData([]float32{1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, 2, 5))
	require.NoError(t, err)
	ids, mask := qformer.Pad([][]int{{30, 5, 6, 7, 2}, {30, 8, 2}}, 0)
	full, err := m.Forward(nil, qformer.Input{Queries: true, Memory: mem, IDs: ids, TextMask: mask, Mode: qformer.MultimodalCausal})
	require.NoError(t, err)
	cache := &qformer.Cache{}
	q, err := m.Forward(nil, qformer.Input{Queries: true, Memory: mem, Cache: cache})
	require.NoError(t, err)
	txt, err := m.Forward(nil, qformer.Input{IDs: ids, TextMask: mask, Mode: qformer.MultimodalCausal, Cache: cache})
	require.NoError(t, err)
	assert.Less(t, vlm.MaxAbsDiff(full.Query, q.Query), 1e-5)
	assert.Less(t, vlm.MaxAbsDiff(full.Text, txt.Text), 1e-5)

	// Token by token through the cache gives the same again.
	cache = &qformer.Cache{}
	_, err = m.Forward(nil, qformer.Input{Queries: true, Memory: mem, Cache: cache})
	require.NoError(t, err)
	for j := range 5 {
		step := [][]int{{ids[0][j]}, {ids[1][j]}}
		out, err := m.Forward(nil, qformer.Input{IDs: step, TextMask: vlm.Slice(nil, mask, 1, j, j+1), Mode: qformer.MultimodalCausal, Cache: cache})
		require.NoError(t, err)
		for b := range 2 {
			if mask.At(b, j) == 0 {
				continue
			}
			want := vlm.Slice(nil, vlm.Slice(nil, txt.Text, 0, b, b+1), 1, j, j+1)
			assert.Less(t, vlm.MaxAbsDiff(want, vlm.Slice(nil, out.Text, 0, b, b+1)), 1e-5, "token %d of text %d", j, b)
		}
	}
}

func TestMemorySelect(t *testing.T) {
	// A selected memory gives what the selected images give.
	m := qformer.MustNew(vlm.NewRand(1), tiny())
	image := vlm.RandN(vlm.NewRand(2), 1, 3, 5, 12)
	mem, err := m.Memory(nil, image, nil)
	require.NoError(t, err)
	idx := []int{2, 0, 2, 1}
	sel, err := mem.Select(nil, idx)
	require.NoError(t, err)
	assert.Equal(t, 4, sel.Batch())
	assert.Equal(t, 5, sel.Len())
	a, err := m.Forward(nil, qformer.Input{Queries: true, Memory: sel})
	require.NoError(t, err)
	b, err := m.Forward(nil, qformer.Input{Queries: true, Image: vlm.Gather(nil, image, 0, idx)})
	require.NoError(t, err)
	assert.Equal(t, b.Query.Data, a.Query.Data)
	_, err = mem.Select(nil, []int{3})
	assert.ErrorIs(t, err, vlm.ErrInput)
}

func TestInferenceAPI(t *testing.T) {
	m := qformer.MustNew(vlm.NewRand(1), tiny())
	mem, err := m.Memory(nil, vlm.RandN(vlm.NewRand(2), 1, 2, 5, 12), nil)
	require.NoError(t, err)
	ids, mask := qformer.Pad([][]int{{1, 5, 6, 2}, {1, 8, 2}, {1, 9, 2}}, 0)
	img, err := m.ImageEmbeds(nil, mem)
	require.NoError(t, err)
	assert.Equal(t, []int{2, 3, 8}, img.Shape)
	txt, err := m.TextEmbeds(nil, ids, mask)
	require.NoError(t, err)
	assert.Equal(t, []int{3, 8}, txt.Shape)
	sim, err := qformer.Similarity(img, txt)
	require.NoError(t, err)
	assert.Equal(t, []int{2, 3}, sim.Shape)
	for i, v := range sim.Data {
		assert.LessOrEqual(t, v, float32(1.0001), "cosine %d", i)
	}
	logits, err := m.Match(nil, mem, ids[:2], vlm.Slice(nil, mask, 0, 0, 2))
	require.NoError(t, err)
	assert.Equal(t, []int{2, 2}, logits.Shape)
	caps, err := m.Generate(context.Background(), mem, qformer.GenerateOptions{MaxLen: 4, MinLen: 4, EOS: 2})
	require.NoError(t, err)
	for _, c := range caps {
		assert.Len(t, c, 4)
		assert.NotContains(t, c, 2)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = m.Generate(ctx, mem, qformer.GenerateOptions{MaxLen: 5, EOS: 2})
	assert.ErrorIs(t, err, context.Canceled)

	stage2 := qformer.MustNew(vlm.NewRand(3), qformer.Config{Dim: 16, Layers: 2, Heads: 4, Hidden: 32, CrossEvery: 2, VisionDim: 12, Queries: 3, LMDim: 20, Eps: 1e-12})
	_, err = stage2.ImageEmbeds(nil, mem)
	assert.ErrorIs(t, err, vlm.ErrConfig)
	_, err = stage2.TextEmbeds(nil, ids, mask)
	assert.ErrorIs(t, err, vlm.ErrConfig)
	_, err = stage2.Match(nil, mem, ids[:2], nil)
	assert.ErrorIs(t, err, vlm.ErrConfig)
	_, err = stage2.Generate(context.Background(), mem, qformer.GenerateOptions{})
	assert.ErrorIs(t, err, vlm.ErrConfig)
	_, err = m.Generate(context.Background(), mem, qformer.GenerateOptions{MaxLen: 17})
	assert.ErrorIs(t, err, vlm.ErrConfig)
}

func TestForwardErrors(t *testing.T) {
	m := qformer.MustNew(vlm.NewRand(1), tiny())
	image := vlm.RandN(vlm.NewRand(2), 1, 2, 5, 12)
	mem, err := m.Memory(nil, image, nil)
	require.NoError(t, err)
	ids := [][]int{{1, 5, 2}, {1, 6, 2}}
	nan := image.Clone()
	nan.Data[3] = float32(math.NaN())
	full := &qformer.Cache{}
	_, err = m.Forward(nil, qformer.Input{Queries: true, Memory: mem, Cache: full})
	require.NoError(t, err)
	for _, c := range []struct {
		name string
		in   qformer.Input
		kind error
	}{
		{"nothing", qformer.Input{}, vlm.ErrInput},
		{"mode", qformer.Input{IDs: ids, Mode: 3}, vlm.ErrConfig},
		{"no image", qformer.Input{Queries: true}, vlm.ErrInput},
		{"image without queries", qformer.Input{IDs: ids, Memory: mem}, vlm.ErrInput},
		{"both images", qformer.Input{Queries: true, Memory: mem, Image: image}, vlm.ErrInput},
		{"ragged", qformer.Input{IDs: [][]int{{1, 2}, {1}}}, vlm.ErrShape},
		{"empty", qformer.Input{IDs: [][]int{}}, vlm.ErrShape},
		{"id", qformer.Input{IDs: [][]int{{1, 31}}}, vlm.ErrInput},
		{"mask shape", qformer.Input{IDs: ids, TextMask: vlm.Full(1, 2, 4)}, vlm.ErrShape},
		{"mask values", qformer.Input{IDs: ids, TextMask: vlm.Full(0.5, 2, 3)}, vlm.ErrInput},
		{"mask alone", qformer.Input{Queries: true, Memory: mem, TextMask: vlm.Full(1, 2, 3)}, vlm.ErrInput},
		{"batch", qformer.Input{Queries: true, Memory: mem, IDs: ids[:1]}, vlm.ErrShape},
		{"image batch", qformer.Input{Queries: true, Image: image, IDs: ids[:1]}, vlm.ErrShape},
		{"image width", qformer.Input{Queries: true, Image: vlm.Zeros(2, 5, 11)}, vlm.ErrShape},
		{"image NaN", qformer.Input{Queries: true, Image: nan}, vlm.ErrInput},
		{"image mask", qformer.Input{Queries: true, Image: image, ImageMask: vlm.Full(1, 2, 4)}, vlm.ErrShape},
		{"positions", qformer.Input{IDs: [][]int{make([]int, 17)}}, vlm.ErrShape},
		{"cache mode", qformer.Input{IDs: ids, Cache: full}, vlm.ErrInput},
		{"cache queries", qformer.Input{Queries: true, Memory: mem, Cache: full, Mode: qformer.MultimodalCausal}, vlm.ErrInput},
		{"cache batch", qformer.Input{IDs: ids[:1], Cache: full, Mode: qformer.MultimodalCausal}, vlm.ErrInput},
		{"text into empty cache", qformer.Input{IDs: ids, Cache: &qformer.Cache{}, Mode: qformer.Bidirectional}, vlm.ErrInput},
		{"cache positions", qformer.Input{IDs: [][]int{make([]int, 17), make([]int, 17)}, Cache: full, Mode: qformer.MultimodalCausal}, vlm.ErrShape},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := m.Forward(nil, c.in)
			assert.ErrorIs(t, err, c.kind)
		})
	}
	stage2 := qformer.MustNew(nil, qformer.Config{Dim: 16, Layers: 2, Heads: 4, Hidden: 32, CrossEvery: 2, VisionDim: 12, Queries: 3, Eps: 1e-12})
	_, err = stage2.Forward(nil, qformer.Input{IDs: ids})
	assert.ErrorIs(t, err, vlm.ErrConfig)
	_, err = m.Project(nil, vlm.Zeros(1, 3, 15))
	assert.ErrorIs(t, err, vlm.ErrShape)
}

func TestLossErrors(t *testing.T) {
	m := qformer.MustNew(vlm.NewRand(1), tiny())
	image := vlm.RandN(vlm.NewRand(2), 1, 2, 5, 12)
	ids := [][]int{{1, 5, 2}, {1, 6, 2}}
	ok := qformer.Batch{Image: image, IDs: ids}
	for _, c := range []struct {
		name  string
		batch qformer.Batch
		opts  *qformer.LossOptions
		kind  error
	}{
		{"objectives", ok, &qformer.LossOptions{Objectives: 8}, vlm.ErrConfig},
		{"batch", qformer.Batch{Image: image, IDs: ids[:1]}, nil, vlm.ErrShape},
		{"short text", qformer.Batch{Image: image, IDs: [][]int{{1}, {1}}}, nil, vlm.ErrShape},
		{"image ids", qformer.Batch{Image: image, IDs: ids, ImageIDs: []int{1}}, nil, vlm.ErrShape},
		{"no image", qformer.Batch{IDs: ids}, nil, vlm.ErrShape},
		{"negatives count", ok, &qformer.LossOptions{Negatives: func(_, _ *vlm.Tensor) ([]int, []int) { return []int{1}, []int{0, 1} }}, vlm.ErrShape},
		{"negatives range", ok, &qformer.LossOptions{Negatives: func(_, _ *vlm.Tensor) ([]int, []int) { return []int{1, 2}, []int{0, 1} }}, vlm.ErrInput},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := m.Loss(vlm.NewTape(), c.batch, c.opts)
			assert.ErrorIs(t, err, c.kind)
		})
	}
	noHeads := tiny()
	noHeads.EmbedDim, noHeads.LMHead = 0, false
	_, err := qformer.MustNew(nil, noHeads).Loss(nil, ok, &qformer.LossOptions{Objectives: qformer.ITC})
	assert.ErrorIs(t, err, vlm.ErrConfig)
	_, err = qformer.MustNew(nil, noHeads).Loss(nil, ok, &qformer.LossOptions{Objectives: qformer.ITG})
	assert.ErrorIs(t, err, vlm.ErrConfig)
}

func TestConfigErrors(t *testing.T) {
	for _, f := range []func(*qformer.Config){
		func(c *qformer.Config) { c.Heads = 5 },
		func(c *qformer.Config) { c.Layers = 0 },
		func(c *qformer.Config) { c.CrossEvery = 0 },
		func(c *qformer.Config) { c.Queries = 0 },
		func(c *qformer.Config) { c.Vocab = -1 },
		func(c *qformer.Config) { c.MaxPositions = 0 },
		func(c *qformer.Config) { c.PadID = 31 },
		func(c *qformer.Config) { c.Vocab = 0 },
		func(c *qformer.Config) { c.DecID = c.PadID },
		func(c *qformer.Config) { c.Names = 2 },
		func(c *qformer.Config) { c.Eps = -1 },
		func(c *qformer.Config) { c.InitStd = -0.1 },
		func(c *qformer.Config) { c.Dropout = 1 },
	} {
		c := tiny()
		f(&c)
		_, err := qformer.New(nil, c)
		assert.ErrorIs(t, err, vlm.ErrConfig, "%+v", c)
	}
}

func TestTrainingAndDropout(t *testing.T) {
	// An evaluation tape computes what inference computes; a training
	// tape applies dropout (different values), seeded.
	c := tiny()
	c.Dropout, c.AttnDropout = 0.1, 0.1
	m := qformer.MustNew(vlm.NewRand(1), c)
	in := qformer.Input{Queries: true, Image: vlm.RandN(vlm.NewRand(2), 1, 2, 5, 12)}
	ref, err := m.Forward(nil, in)
	require.NoError(t, err)
	eval, err := m.Forward(vlm.NewTape(), in)
	require.NoError(t, err)
	assert.Equal(t, ref.Query.Data, eval.Query.Data)
	a, err := m.Forward(vlm.NewTrainingTape(5), in)
	require.NoError(t, err)
	b, err := m.Forward(vlm.NewTrainingTape(5), in)
	require.NoError(t, err)
	assert.Equal(t, a.Query.Data, b.Query.Data)
	assert.NotEqual(t, ref.Query.Data, a.Query.Data)
}

func TestConcurrentInference(t *testing.T) {
	// One model serves goroutines at once with nil tapes (go test -race).
	m := qformer.MustNew(vlm.NewRand(1), tiny())
	image := vlm.RandN(vlm.NewRand(2), 1, 2, 5, 12)
	mem, err := m.Memory(nil, image, nil)
	require.NoError(t, err)
	ref, err := m.Generate(context.Background(), mem, qformer.GenerateOptions{MaxLen: 5, EOS: 2})
	require.NoError(t, err)
	var wg sync.WaitGroup
	results := make([][][]int, 4)
	for i := range results {
		wg.Go(func() {
			results[i], _ = m.Generate(context.Background(), mem, qformer.GenerateOptions{MaxLen: 5, EOS: 2})
		})
	}
	wg.Wait()
	for _, r := range results {
		assert.True(t, slices.EqualFunc(ref, r, slices.Equal[[]int]))
	}
}

func TestLossSampling(t *testing.T) {
	// Default negatives are drawn from the softmax weights with a seeded
	// generator: never a positive, and reproducible.
	m := qformer.MustNew(vlm.NewRand(1), tiny())
	image := vlm.RandN(vlm.NewRand(2), 1, 4, 5, 12)
	ids, mask := qformer.Pad([][]int{{1, 5, 2}, {1, 6, 7, 2}, {1, 8, 2}, {1, 9, 2}}, 0)
	batch := qformer.Batch{Image: image, IDs: ids, TextMask: mask, ImageIDs: []int{0, 1, 0, 2}}
	a, err := m.Loss(nil, batch, &qformer.LossOptions{Rand: vlm.NewRand(3)})
	require.NoError(t, err)
	b, err := m.Loss(nil, batch, &qformer.LossOptions{Rand: vlm.NewRand(3)})
	require.NoError(t, err)
	assert.Equal(t, a.NegImages, b.NegImages)
	assert.Equal(t, a.NegTexts, b.NegTexts)
	for i := range 4 {
		assert.NotEqual(t, batch.ImageIDs[i], batch.ImageIDs[a.NegImages[i]])
		assert.NotEqual(t, batch.ImageIDs[i], batch.ImageIDs[a.NegTexts[i]])
	}
	assert.Equal(t, []int{12, 2}, a.ITMLogits.Shape)
	assert.InDelta(t, a.ITC.Data[0]+a.ITM.Data[0]+a.ITG.Data[0], a.Total.Data[0], 1e-5)
}
