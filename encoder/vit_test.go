package encoder

import (
	"fmt"
	"math"
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tinyViT is the configuration of testdata/gen/vit.py.
func tinyViT() ViTConfig {
	return ViTConfig{ImageSize: 32, PatchSize: 8, Channels: 3, Dim: 32, Layers: 3, Heads: 4, Hidden: 64,
		Act: vlm.ActQuickGELU, Eps: 1e-5, ProjectionDim: 24}
}

// loadTinyViT builds the tiny ViT and loads the golden checkpoint with
// Hugging Face names through the module's checkpoint loader (strict).
func loadTinyViT(t *testing.T) *ViT {
	t.Helper()
	m, err := NewViT(nil, tinyViT())
	require.NoError(t, err)
	report, err := vlm.LoadWeights(m, "testdata/vit_hf.safetensors", nil)
	require.NoError(t, err)
	require.True(t, report.Complete())
	return m
}

func TestGoldenViT(t *testing.T) {
	g := testutil.LoadGolden(t, "encoder/testdata/vit.safetensors")
	m := loadTinyViT(t)
	pixels := g.T("pixels")
	tp := vlm.NewTape()
	tp.Watch(pixels)
	out, err := m.Forward(tp, pixels, &ViTOptions{Hidden: true})
	require.NoError(t, err)
	loss := vlm.Add(tp, vlm.Add(tp,
		vlm.Sum(tp, vlm.Mul(tp, out.LastHidden, g.T("r_last"))),
		vlm.Sum(tp, vlm.Mul(tp, out.Pooled, g.T("r_pooled")))),
		vlm.Sum(tp, vlm.Mul(tp, out.Embeds, g.T("r_embeds"))))
	require.NoError(t, tp.Backward(loss))

	testutil.Close(t, "last_hidden_state", out.LastHidden, g.T("last_hidden_state"))
	testutil.Close(t, "pooler_output", out.Pooled, g.T("pooler_output"))
	testutil.Close(t, "image_embeds", out.Embeds, g.T("image_embeds"))
	require.Len(t, out.Hidden, 4)
	for i, h := range out.Hidden {
		testutil.Close(t, fmt.Sprintf("hidden_states.%d", i), h, g.T(fmt.Sprintf("hidden_states.%d", i)))
	}
	testutil.Close(t, "dpixels", tp.Grad(pixels), g.T("dpixels"))
	// The key biases' gradients are zero in exact arithmetic (a constant
	// added to every score of a softmax row): both sides hold float32
	// noise of order 1e-7, within the absolute tolerance.
	for _, p := range vlm.Params(m) {
		testutil.Close(t, "grad."+p.Name, p.Grad, g.T("grad."+p.Name))
	}
}

func TestViTFeatures(t *testing.T) {
	g := testutil.LoadGolden(t, "encoder/testdata/vit.safetensors")
	m := loadTinyViT(t)
	pixels := g.T("pixels")
	for _, c := range []struct {
		layer   int
		dropCLS bool
		hidden  int
	}{
		{-2, true, 2}, // LLaVA
		{-1, false, 3},
		{0, false, 0},
		{3, true, 3},
	} {
		t.Run(fmt.Sprintf("%d/%v", c.layer, c.dropCLS), func(t *testing.T) {
			f, err := m.Features(nil, pixels, c.layer, c.dropCLS)
			require.NoError(t, err)
			want := g.T(fmt.Sprintf("hidden_states.%d", c.hidden))
			if c.dropCLS {
				want = vlm.Slice(nil, want, 1, 1, want.Shape[1])
			}
			assert.Equal(t, want.Shape, f.Shape)
			testutil.Close(t, "features", f, want)
		})
	}
	_, err := m.Features(nil, pixels, 4, false)
	assert.ErrorIs(t, err, vlm.ErrConfig)
	_, err = m.Features(nil, pixels, -5, false)
	assert.ErrorIs(t, err, vlm.ErrConfig)
}

func TestLoadOpenAIWeights(t *testing.T) {
	hf := loadTinyViT(t)
	oa, err := NewViT(vlm.NewRand(9), tinyViT())
	require.NoError(t, err)
	report, err := LoadOpenAIWeights(oa, "testdata/vit_openai.safetensors", nil)
	require.NoError(t, err)
	assert.True(t, report.Complete(), "%+v", report)
	want := vlm.ParamMap(hf)
	for _, p := range vlm.Params(oa) {
		assert.Equal(t, want[p.Name].Value.Data, p.Value.Data, p.Name)
	}

	// A strict load into a mismatched model fails and changes nothing.
	cfg := tinyViT()
	cfg.ProjectionDim = 0
	other, err := NewViT(vlm.NewRand(9), cfg)
	require.NoError(t, err)
	before := other.Layers[0].Attn.Attn.Q.Weight.Value.Clone()
	_, err = LoadOpenAIWeights(other, "testdata/vit_openai.safetensors", nil)
	require.ErrorIs(t, err, vlm.ErrCheckpoint)
	assert.ErrorContains(t, err, "proj")
	assert.Equal(t, before.Data, other.Layers[0].Attn.Attn.Q.Weight.Value.Data)

	// Partial: the projection key is reported unexpected, the rest loads.
	report, err = LoadOpenAIWeights(other, "testdata/vit_openai.safetensors", &vlm.LoadOptions{Prefix: "visual.", Partial: true})
	require.NoError(t, err)
	assert.Equal(t, []string{"visual.proj"}, report.Unexpected)
	assert.Equal(t, hf.Layers[0].Attn.Attn.Q.Weight.Value.Data, other.Layers[0].Attn.Attn.Q.Weight.Value.Data)
}

func TestViTGradients(t *testing.T) {
	rng := vlm.NewRand(4)
	cfg := ViTConfig{ImageSize: 8, PatchSize: 4, Channels: 2, Dim: 8, Layers: 1, Heads: 2, Hidden: 12,
		Act: vlm.ActQuickGELU, Eps: 1e-5, ProjectionDim: 5}
	m, err := NewViT(rng, cfg)
	require.NoError(t, err)
	pixels := vlm.RandN(rng, 1, 2, 2, 8, 8)
	err = vlm.CheckGrad(m, func(tp *vlm.Tape) *vlm.Tensor {
		out, err := m.Forward(tp, pixels, nil)
		require.NoError(t, err)
		return vlm.Add(tp, projected(tp, out.LastHidden), projected(tp, out.Embeds))
	}, &vlm.GradCheckOptions{Inputs: []*vlm.Tensor{pixels}, Step: 1e-3})
	assert.NoError(t, err)
}

func TestViTPresets(t *testing.T) {
	for _, c := range []struct {
		name         string
		cfg          ViTConfig
		patches, dim int
	}{
		{"B/16", ViTB16Config(), 196, 768},
		{"B/32", ViTB32Config(), 49, 768},
		{"L/14", ViTL14Config(), 256, 1024},
		{"L/14-336", ViTL14At336Config(), 576, 1024},
	} {
		t.Run(c.name, func(t *testing.T) {
			require.NoError(t, c.cfg.Validate())
			assert.Equal(t, c.patches, c.cfg.Patches())
			assert.Equal(t, c.dim, c.cfg.Dim)
			assert.Equal(t, vlm.ActQuickGELU, c.cfg.Act)
		})
	}
}

func TestViTErrors(t *testing.T) {
	m, err := NewViT(vlm.NewRand(1), tinyViT())
	require.NoError(t, err)
	nan := vlm.Zeros(1, 3, 32, 32)
	nan.Data[5] = float32(math.Inf(1))
	for _, c := range []struct {
		name   string
		pixels *vlm.Tensor
		kind   error
	}{
		{"Size", vlm.Zeros(1, 3, 48, 48), vlm.ErrShape},
		{"Channels", vlm.Zeros(1, 1, 32, 32), vlm.ErrShape},
		{"Inf", nan, vlm.ErrInput},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := m.Forward(nil, c.pixels, nil)
			assert.ErrorIs(t, err, c.kind)
			_, err = m.Features(nil, c.pixels, -2, true)
			assert.ErrorIs(t, err, c.kind)
		})
	}
	for _, edit := range []func(*ViTConfig){
		func(c *ViTConfig) { c.ImageSize = 30 },
		func(c *ViTConfig) { c.Heads = 5 },
		func(c *ViTConfig) { c.Act = "swish" },
		func(c *ViTConfig) { c.Eps = 0 },
		func(c *ViTConfig) { c.Dim = 0 },
	} {
		cfg := tinyViT()
		edit(&cfg)
		_, err := NewViT(nil, cfg)
		assert.ErrorIs(t, err, vlm.ErrConfig, "%+v", cfg)
	}
}
