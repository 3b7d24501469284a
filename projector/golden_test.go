package projector_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/attention"
	"github.com/govlm/vlm/internal/testutil"
	"github.com/govlm/vlm/projector"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Golden tests against PyTorch 1.13 (testdata/gen/projector.py).

const goldenPath = "projector/testdata/projector.safetensors"

func goldenFile(name string) string {
	return filepath.Join(testutil.ModuleRoot(), "projector/testdata", name)
}

// load fills m strictly from the golden parameters prefix.p.*.
func load(t *testing.T, prefix string, m vlm.Module) {
	t.Helper()
	report, err := vlm.LoadWeights(m, goldenFile("projector.safetensors"), &vlm.LoadOptions{Prefix: prefix + ".p."})
	require.NoError(t, err)
	require.True(t, report.Complete())
}

func checkGrads(t *testing.T, g *testutil.Golden, prefix string, m vlm.Module) {
	t.Helper()
	for _, np := range vlm.Params(m) {
		testutil.Close(t, prefix+".d"+np.Name, np.Grad, g.T(prefix+".g."+np.Name))
	}
}

func TestGoldenProjector(t *testing.T) {
	for _, c := range []struct {
		prefix, typ string
		layer       int
		strategy    projector.Strategy
	}{
		{"linear", projector.Linear, -2, projector.Patch},
		{"mlp", projector.MLPGELU, -1, projector.CLSPatch},
	} {
		t.Run(c.prefix, func(t *testing.T) {
			g := testutil.LoadGolden(t, goldenPath)
			p, err := projector.New(nil, projector.Config{Type: c.typ, In: 12, Out: 20})
			require.NoError(t, err)
			load(t, c.prefix, p)
			tp := vlm.NewTape()
			var hidden []*vlm.Tensor
			for i := range 4 {
				hidden = append(hidden, tp.Watch(g.T(fmt.Sprintf("%s.h%d", c.prefix, i))))
			}
			f, err := projector.SelectFeatures(tp, hidden, c.layer, c.strategy)
			require.NoError(t, err)
			y, err := p.Forward(tp, f)
			require.NoError(t, err)
			testutil.Close(t, c.prefix+".y", y, g.T(c.prefix+".y"))
			require.NoError(t, tp.Backward(vlm.Sum(tp, vlm.Mul(tp, y, g.T(c.prefix+".r")))))
			checkGrads(t, g, c.prefix, p)
			for i, h := range hidden {
				name := fmt.Sprintf("%s.dh%d", c.prefix, i)
				if g.Has(name) {
					testutil.Close(t, name, tp.Grad(h), g.T(name))
				} else {
					assert.Nil(t, tp.Grad(h), "hidden state %d is not selected", i)
				}
			}
		})
	}
}

// TestLoadLLaVAKeys loads original LLaVA keys (model.mm_projector.0/2,
// next to a vision-tower key) through the real loader and Rename.
func TestLoadLLaVAKeys(t *testing.T) {
	g := testutil.LoadGolden(t, goldenPath)
	p, err := projector.New(nil, projector.Config{Type: projector.MLPGELU, In: 12, Out: 20})
	require.NoError(t, err)
	require.NoError(t, p.LoadAdapter(goldenFile("llava_mm_projector.safetensors")))
	for _, np := range vlm.Params(p) {
		assert.Equal(t, g.T("mlp.p."+np.Name).Data, np.Value.Data, np.Name)
	}
	// A round trip through SaveAdapter writes the same keys.
	path := filepath.Join(t.TempDir(), "mm_projector.safetensors")
	require.NoError(t, p.SaveAdapter(path))
	w, err := vlm.ReadSafetensors(path)
	require.NoError(t, err)
	var keys []string
	for k := range w.Tensors {
		keys = append(keys, k)
	}
	assert.ElementsMatch(t, []string{"model.mm_projector.0.weight", "model.mm_projector.0.bias", "model.mm_projector.2.weight", "model.mm_projector.2.bias"}, keys)
	q, err := projector.New(vlm.NewRand(5), p.Config)
	require.NoError(t, err)
	require.NoError(t, q.LoadAdapter(path))
	for i, l := range q.Layers {
		assert.Equal(t, p.Layers[i].Weight.Value.Data, l.Weight.Value.Data)
	}
}

// embedding wraps a golden embedding table as a projector.EmbedFunc.
func embedding(e *vlm.Embedding) projector.EmbedFunc {
	return func(tp *vlm.Tape, ids []int) (*vlm.Tensor, error) {
		if err := e.CheckIDs("ids", ids); err != nil {
			return nil, err
		}
		return e.Forward(tp, ids), nil
	}
}

// spliceModel is the projector and embedding table of a splice group.
type spliceModel struct {
	Proj  *projector.Projector
	Embed *vlm.Embedding
}

func (m *spliceModel) VisitParams(prefix string, visit func(string, *vlm.Param)) {
	m.Proj.VisitParams(prefix, visit)
	m.Embed.VisitParams(prefix+"embed.", visit)
}

// unpad returns the rows of a golden padded [B, T] id tensor without
// padding.
func unpad(ids, mask []int, b int) [][]int {
	t := len(ids) / b
	out := make([][]int, b)
	for i := range b {
		for j := range t {
			if mask[i*t+j] != 0 {
				out[i] = append(out[i], ids[i*t+j])
			}
		}
	}
	return out
}

func ints2(x [][]int) []int {
	var out []int
	for _, r := range x {
		out = append(out, r...)
	}
	return out
}

func bools2(x [][]bool) []int {
	var out []int
	for _, r := range x {
		for _, v := range r {
			if v {
				out = append(out, 1)
			} else {
				out = append(out, 0)
			}
		}
	}
	return out
}

// TestGoldenSplice compares Splice with LLaVA's
// prepare_inputs_labels_for_multimodal on a ragged batch: two images in
// sample 0, one in sample 1, none in sample 2 (which LLaVA gives a dummy
// feature slot that it does not splice; here it simply has no images).
func TestGoldenSplice(t *testing.T) {
	for _, c := range []struct {
		prefix string
		side   attention.Side
		maxLen int
	}{{"right", attention.Right, 13}, {"left", attention.Left, 0}} {
		t.Run(c.prefix, func(t *testing.T) {
			g := testutil.LoadGolden(t, goldenPath)
			p, err := projector.New(nil, projector.Config{Type: projector.MLPGELU, In: 8, Out: 10})
			require.NoError(t, err)
			m := &spliceModel{Proj: p, Embed: vlm.NewEmbedding(vlm.NewRand(1), 17, 10, 1)}
			load(t, c.prefix, m)

			tp := vlm.NewTape()
			raw := tp.Watch(g.T(c.prefix + ".raw"))
			feats, err := p.Forward(tp, raw)
			require.NoError(t, err)
			images, err := projector.Unbind(tp, feats)
			require.NoError(t, err)
			mask := g.Ints(c.prefix + ".mask")
			ids := unpad(g.Ints(c.prefix+".ids"), mask, 3)
			samples := []projector.Sample{
				{IDs: ids[0], Images: images[:2]},
				{IDs: ids[1], Images: images[2:3]},
				{IDs: ids[2]}, // images[3] is LLaVA's unused dummy slot
			}
			if g.Has(c.prefix + ".labels") {
				labels := unpad(g.Ints(c.prefix+".labels"), mask, 3)
				for i := range samples {
					samples[i].Labels = labels[i]
				}
			}
			out, err := projector.Splice(tp, embedding(m.Embed), samples, &projector.SpliceOptions{Side: c.side, MaxLen: c.maxLen})
			require.NoError(t, err)
			testutil.Close(t, c.prefix+".embeds", out.Embeds, g.T(c.prefix+".embeds"))
			assert.Equal(t, g.Ints(c.prefix+".attention_mask"), bools2(out.Mask))
			assert.Equal(t, g.Ints(c.prefix+".positions"), ints2(out.Positions))
			if g.Has(c.prefix + ".new_labels") {
				assert.Equal(t, g.Ints(c.prefix+".new_labels"), ints2(out.Labels))
			} else {
				assert.Nil(t, out.Labels)
			}
			require.NoError(t, tp.Backward(vlm.Sum(tp, vlm.Mul(tp, out.Embeds, g.T(c.prefix+".r")))))
			testutil.Close(t, c.prefix+".draw", tp.Grad(raw), g.T(c.prefix+".draw"))
			checkGrads(t, g, c.prefix, m)
		})
	}
}

// TestGoldenSpliceExpanded compares the Expanded form with HF's
// masked_scatter of pre-expanded image tokens.
func TestGoldenSpliceExpanded(t *testing.T) {
	g := testutil.LoadGolden(t, goldenPath)
	e := vlm.NewEmbedding(vlm.NewRand(1), 17, 10, 1)
	copy(e.Weight.Value.Data, g.T("hf.p.embed.weight").Data)
	tp := vlm.NewTape()
	tp.Param(e.Weight)
	feats := tp.Watch(g.T("hf.feats"))
	images, err := projector.Unbind(tp, feats)
	require.NoError(t, err)
	ids := unpad(g.Ints("hf.ids"), g.Ints("hf.mask"), 2)
	samples := []projector.Sample{{IDs: ids[0], Images: images[:2]}, {IDs: ids[1], Images: images[2:]}}
	out, err := projector.Splice(tp, embedding(e), samples, &projector.SpliceOptions{Placeholder: 3, Expanded: true})
	require.NoError(t, err)
	// HF leaves the padding's own embeddings in place (the mask hides
	// them); the splice puts zeros there. Compare the real positions.
	want := g.T("hf.embeds")
	mask := g.Ints("hf.mask")
	for i, k := range mask {
		if k == 0 {
			clear(want.Data[i*10 : (i+1)*10])
		}
	}
	testutil.Close(t, "hf.embeds", out.Embeds, want)
	assert.Equal(t, mask, bools2(out.Mask))
	require.NoError(t, tp.Backward(vlm.Sum(tp, vlm.Mul(tp, out.Embeds, g.T("hf.r")))))
	testutil.Close(t, "hf.dfeats", tp.Grad(feats), g.T("hf.dfeats"))
	// The padding rows of HF's embeddings (pad id 0) pass gradient to row 0
	// of the table; nothing of the splice does.
	wantG := g.T("hf.g.embed.weight")
	clear(wantG.Data[:10])
	testutil.Close(t, "hf.dembed.weight", e.Weight.Grad, wantG)
}
