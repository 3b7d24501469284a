package qformer_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/internal/testutil"
	"github.com/govlm/vlm/qformer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Golden tests against the plain-torch Q-Former of testdata/gen/qformer.py
// (LAVIS's forward pass and stage-1 losses, HF names).

const (
	forwardGolden = "qformer/testdata/forward.safetensors"
	lossesGolden  = "qformer/testdata/losses.safetensors"
)

// tiny is the configuration of the golden files.
func tiny() qformer.Config {
	return qformer.Config{
		Dim: 16, Layers: 3, Heads: 4, Hidden: 32, CrossEvery: 2, VisionDim: 12, Queries: 3,
		Vocab: 31, MaxPositions: 16, PadID: 0, DecID: 30, EmbedDim: 8, LMHead: true, LMDim: 20,
		Eps: 1e-12, InitStd: 0.02,
	}
}

// tinyInstruct is tiny with InstructBLIP's names and parts.
func tinyInstruct() qformer.Config {
	c := tiny()
	c.Names, c.EmbedDim, c.LMHead = qformer.InstructBLIPNames, 0, false
	return c
}

// loadGolden builds a model of c and fills it from the golden file at
// path through the real loader, strictly, from the keys under prefix.
func loadGolden(t *testing.T, c qformer.Config, path string, opts *vlm.LoadOptions) *qformer.Model {
	t.Helper()
	m, err := qformer.New(vlm.NewRand(9), c)
	require.NoError(t, err)
	report, err := vlm.LoadWeights(m, testutil.ModuleRoot()+"/"+path, opts)
	require.NoError(t, err)
	require.True(t, report.Complete())
	return m
}

// texts returns the golden ids [B, T] as [][]int.
func texts(g *testutil.Golden, name string, b int) [][]int {
	flat := g.Ints(name)
	t := len(flat) / b
	out := make([][]int, b)
	for i := range out {
		out[i] = flat[i*t : (i+1)*t]
	}
	return out
}

// checkGrads compares the gradient of every parameter of m with
// prefix.<name>; a parameter the reference left without gradient must
// have none (or zeros) here.
func checkGrads(t *testing.T, g *testutil.Golden, prefix string, m vlm.Module) {
	t.Helper()
	for _, p := range vlm.Params(m) {
		name := prefix + p.Name
		if !g.Has(name) {
			if p.Grad != nil {
				assert.Zero(t, vlm.MaxAbs(p.Grad), "%s has a gradient, the reference none", p.Name)
			}
			continue
		}
		testutil.Close(t, name, p.Grad, g.T(name))
	}
}

func backward(t *testing.T, tp *vlm.Tape, y, r *vlm.Tensor) {
	t.Helper()
	require.NoError(t, tp.Backward(vlm.Sum(tp, vlm.Mul(tp, y, r))))
}

func TestGoldenModes(t *testing.T) {
	for _, c := range []struct {
		tag  string
		mode qformer.Mode
	}{{"unimodal", qformer.Unimodal}, {"bidirectional", qformer.Bidirectional}, {"causal", qformer.MultimodalCausal}} {
		t.Run(c.tag, func(t *testing.T) {
			g := testutil.LoadGolden(t, forwardGolden)
			m := loadGolden(t, tiny(), forwardGolden, &vlm.LoadOptions{Prefix: "hf."})
			image := g.T("image")
			tp := vlm.NewTape()
			tp.Watch(image)
			out, err := m.Forward(tp, qformer.Input{
				Queries: true, IDs: texts(g, "ids", 3), TextMask: g.T("text_mask"), Mode: c.mode,
				Image: image, ImageMask: g.T("image_mask"),
			})
			require.NoError(t, err)
			y := out.Hidden(tp)
			backward(t, tp, y, g.T(c.tag+".r"))
			testutil.Close(t, c.tag+".y", y, g.T(c.tag+".y"))
			testutil.Close(t, c.tag+".dimage", tp.Grad(image), g.T(c.tag+".dimage"))
			checkGrads(t, g, c.tag+".g.", m)
		})
	}
}

func TestGoldenQueryOnlyTextOnly(t *testing.T) {
	g := testutil.LoadGolden(t, forwardGolden)
	m := loadGolden(t, tiny(), forwardGolden, &vlm.LoadOptions{Prefix: "hf."})
	mem, err := m.Memory(nil, g.T("image"), g.T("image_mask"))
	require.NoError(t, err)
	q, err := m.Forward(nil, qformer.Input{Queries: true, Memory: mem})
	require.NoError(t, err)
	assert.Nil(t, q.Text)
	testutil.Close(t, "query_only.y", q.Query, g.T("query_only.y"))
	txt, err := m.Forward(nil, qformer.Input{IDs: texts(g, "ids", 3), TextMask: g.T("text_mask")})
	require.NoError(t, err)
	assert.Nil(t, txt.Query)
	testutil.Close(t, "text_only.y", txt.Text, g.T("text_only.y"))
}

func TestGoldenInstructBLIP(t *testing.T) {
	g := testutil.LoadGolden(t, forwardGolden)
	m := loadGolden(t, tinyInstruct(), forwardGolden, &vlm.LoadOptions{Prefix: "instruct.p."})
	image := g.T("image")
	tp := vlm.NewTape()
	tp.Watch(image)
	mem, err := m.Memory(tp, image, g.T("image_mask"))
	require.NoError(t, err)
	out, err := m.Forward(tp, qformer.Input{
		Queries: true, Memory: mem, IDs: texts(g, "instruct.ids", 3), TextMask: g.T("instruct.text_mask"), Mode: qformer.Bidirectional,
	})
	require.NoError(t, err)
	proj, err := m.Project(tp, out.Query)
	require.NoError(t, err)
	backward(t, tp, proj, g.T("instruct.r"))
	testutil.Close(t, "instruct.y", out.Query, g.T("instruct.y"))
	testutil.Close(t, "instruct.proj", proj, g.T("instruct.proj"))
	testutil.Close(t, "instruct.dimage", tp.Grad(image), g.T("instruct.dimage"))
	checkGrads(t, g, "instruct.g.", m)
}

func TestGoldenGenerate(t *testing.T) {
	g := testutil.LoadGolden(t, forwardGolden)
	m := loadGolden(t, tiny(), forwardGolden, &vlm.LoadOptions{Prefix: "hf."})
	mem, err := m.Memory(nil, g.T("image"), g.T("image_mask"))
	require.NoError(t, err)
	caps, err := m.Generate(context.Background(), mem, qformer.GenerateOptions{MaxLen: 6, EOS: 2})
	require.NoError(t, err)
	for b, want := range texts(g, "generate.ids", 3) {
		want = slices.DeleteFunc(slices.Clone(want), func(id int) bool { return id < 0 })
		assert.Equal(t, want, caps[b], "caption %d", b)
	}
}

// lossCase runs Model.Loss on the golden batch with the golden
// negatives, checking the sampling weights the model computed.
func lossCase(t *testing.T, g *testutil.Golden, m *qformer.Model, tp *vlm.Tape, obj qformer.Objectives, imageIDs []int, wPrefix string) (*qformer.Losses, *vlm.Tensor) {
	t.Helper()
	image := g.T("image")
	tp.Watch(image)
	called := false
	l, err := m.Loss(tp, qformer.Batch{Image: image, IDs: texts(g, "ids", 4), TextMask: g.T("text_mask"), ImageIDs: imageIDs},
		&qformer.LossOptions{Objectives: obj, Negatives: func(t2i, i2t *vlm.Tensor) ([]int, []int) {
			called = true
			testutil.Close(t, wPrefix+"w_t2i", t2i, g.T(wPrefix+"w_t2i"))
			testutil.Close(t, wPrefix+"w_i2t", i2t, g.T(wPrefix+"w_i2t"))
			return g.Ints("neg_images"), g.Ints("neg_texts")
		}})
	require.NoError(t, err)
	assert.Equal(t, obj&qformer.ITM != 0, called, "negatives drawn")
	return l, image
}

func TestGoldenLosses(t *testing.T) {
	lavis := &vlm.LoadOptions{Prefix: "lavis.", Rename: qformer.LAVISRename(qformer.BLIP2Names)}
	for _, c := range []struct {
		tag string
		obj qformer.Objectives
	}{{"itc", qformer.ITC}, {"itm", qformer.ITM}, {"itg", qformer.ITG}, {"total", qformer.AllObjectives}} {
		t.Run(c.tag, func(t *testing.T) {
			g := testutil.LoadGolden(t, lossesGolden)
			m := loadGolden(t, tiny(), lossesGolden, lavis)
			tp := vlm.NewTape()
			l, image := lossCase(t, g, m, tp, c.obj, nil, "")
			require.NoError(t, tp.Backward(l.Total))
			testutil.Close(t, c.tag+".value", l.Total, g.T(c.tag+".value"))
			testutil.Close(t, c.tag+".dimage", tp.Grad(image), g.T(c.tag+".dimage"))
			checkGrads(t, g, c.tag+".g.", m)
			if c.obj&(qformer.ITC|qformer.ITM) != 0 {
				testutil.Close(t, "sim_i2t", l.SimI2T, g.T("sim_i2t"))
				testutil.Close(t, "sim_t2i", l.SimT2I, g.T("sim_t2i"))
			}
			if c.obj&qformer.ITM != 0 {
				testutil.Close(t, "itm_logits", l.ITMLogits, g.T("itm_logits"))
			}
			if c.obj == qformer.AllObjectives {
				sum := l.ITC.Data[0] + l.ITM.Data[0] + l.ITG.Data[0]
				assert.InDelta(t, sum, l.Total.Data[0], 1e-5)
				for _, part := range []string{"itc", "itm", "itg"} {
					want := g.T(part + ".value")
					got := map[string]*vlm.Tensor{"itc": l.ITC, "itm": l.ITM, "itg": l.ITG}[part]
					testutil.Close(t, part+".value in total", got, want)
				}
			}
		})
	}
}

func TestGoldenITCImageIDs(t *testing.T) {
	g := testutil.LoadGolden(t, lossesGolden)
	m := loadGolden(t, tiny(), lossesGolden, &vlm.LoadOptions{Prefix: "lavis.", Rename: qformer.LAVISRename(qformer.BLIP2Names)})
	tp := vlm.NewTape()
	l, image := lossCase(t, g, m, tp, qformer.ITC|qformer.ITM, g.Ints("image_ids"), "ids_")
	require.NoError(t, tp.Backward(l.ITC))
	testutil.Close(t, "ids_itc.value", l.ITC, g.T("ids_itc.value"))
	testutil.Close(t, "ids_itc.dimage", tp.Grad(image), g.T("ids_itc.dimage"))
	checkGrads(t, g, "ids_itc.g.", m)
}

func TestLAVISRename(t *testing.T) {
	rename := qformer.LAVISRename(qformer.BLIP2Names)
	instruct := qformer.LAVISRename(qformer.InstructBLIPNames)
	for _, c := range []struct{ key, blip2, instruct string }{
		{"query_tokens", "query_tokens", "query_tokens"},
		{"Qformer.bert.embeddings.word_embeddings.weight", "embeddings.word_embeddings.weight", "qformer.embeddings.word_embeddings.weight"},
		{"Qformer.bert.embeddings.LayerNorm.bias", "qformer.layernorm.bias", "qformer.embeddings.layernorm.bias"},
		{"Qformer.bert.embeddings.position_ids", "", ""},
		{"Qformer.bert.encoder.layer.4.attention.self.key.weight", "qformer.encoder.layer.4.attention.attention.key.weight", "qformer.encoder.layer.4.attention.attention.key.weight"},
		{"Qformer.bert.encoder.layer.4.crossattention.self.value.bias", "qformer.encoder.layer.4.crossattention.attention.value.bias", "qformer.encoder.layer.4.crossattention.attention.value.bias"},
		{"Qformer.bert.encoder.layer.1.output_query.LayerNorm.weight", "qformer.encoder.layer.1.output_query.LayerNorm.weight", "qformer.encoder.layer.1.output_query.LayerNorm.weight"},
		{"Qformer.cls.predictions.decoder.weight", "cls.predictions.decoder.weight", "cls.predictions.decoder.weight"},
		{"vision_proj.weight", "vision_projection.weight", "vision_projection.weight"},
		{"llm_proj.bias", "language_projection.bias", "language_projection.bias"},
		{"opt_proj.weight", "language_projection.weight", "language_projection.weight"},
		{"ln_vision.weight", "", ""},
		{"visual_encoder.blocks.0.attn.qkv.weight", "", ""},
		{"llm_model.model.embed_tokens.weight", "", ""},
		{"itm_head.weight", "itm_head.weight", "itm_head.weight"},
		{"some.other.key", "some.other.key", "some.other.key"},
	} {
		assert.Equal(t, c.blip2, rename(c.key), c.key)
		assert.Equal(t, c.instruct, instruct(c.key), c.key)
	}
}

func TestQFormerModuleNames(t *testing.T) {
	// The stand-alone HF Blip2QFormerModel / InstructBlipQFormerModel names.
	for _, c := range []struct {
		cfg   qformer.Config
		first []string
	}{
		{tiny(), []string{"layernorm.weight", "layernorm.bias", "encoder.layer.0.attention.attention.query.weight"}},
		{tinyInstruct(), []string{"embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight", "embeddings.layernorm.weight"}},
	} {
		m := qformer.MustNew(nil, c.cfg)
		names := vlm.Params(m.QFormer())
		got := make([]string, len(c.first))
		for i := range got {
			got[i] = names[i].Name
		}
		assert.Equal(t, c.first, got, fmt.Sprint(c.cfg.Names))
	}
}
