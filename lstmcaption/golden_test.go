package lstmcaption_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/internal/testutil"
	"github.com/govlm/vlm/lstmcaption"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testdata/gen/lstmcaption.py writes the golden file.
const goldenPath = "lstmcaption/testdata/lstmcaption.safetensors"

// tinyConfig is the size of the golden "tutorial" and "paper" decoders.
func tinyConfig(paper bool) lstmcaption.Config {
	c := lstmcaption.Config{EncoderDim: 6, AttentionDim: 5, EmbedDim: 4, DecoderDim: 7, VocabSize: 11, Dropout: 0.5}
	if paper {
		c = c.Paper()
	}
	return c
}

// loadGoldenDecoder builds a decoder and fills it from the golden file's
// tag.p.* tensors through the strict loader, by the tutorial's names.
func loadGoldenDecoder(t *testing.T, cfg lstmcaption.Config, tag string) *lstmcaption.Decoder {
	t.Helper()
	d, err := lstmcaption.New(vlm.NewRand(1), cfg)
	require.NoError(t, err)
	rep, err := vlm.LoadWeights(d, filepath.Join(testutil.ModuleRoot(), goldenPath), &vlm.LoadOptions{Prefix: tag + ".p."})
	require.NoError(t, err)
	require.True(t, rep.Complete(), "report %+v", rep)
	return d
}

// goldenCaptions returns the captions of a golden batch without padding.
func goldenCaptions(g *testutil.Golden, tag string) [][]int {
	lens := g.Ints(tag + ".caplens")
	caps := g.Ints(tag + ".caps")
	width := len(caps) / len(lens)
	out := make([][]int, len(lens))
	for i, n := range lens {
		out[i] = caps[i*width : i*width+n]
	}
	return out
}

func TestGoldenForwardAndLoss(t *testing.T) {
	for _, c := range []struct {
		tag   string
		paper bool
		loss  lstmcaption.LossOptions
	}{
		{"tutorial", false, lstmcaption.TutorialLoss()},
		{"paper", true, lstmcaption.LossOptions{AlphaC: 1, Norm: lstmcaption.NormPaper}},
	} {
		t.Run(c.tag, func(t *testing.T) {
			g := testutil.LoadGolden(t, goldenPath)
			d := loadGoldenDecoder(t, tinyConfig(c.paper), c.tag)
			enc := g.T(c.tag + ".enc")
			tp := vlm.NewTape()
			tp.Watch(enc)
			out, err := d.Forward(tp, enc, goldenCaptions(g, c.tag))
			require.NoError(t, err)
			assert.Equal(t, g.Ints(c.tag+".sort_ind"), out.SortIndex)
			assert.Equal(t, g.Ints(c.tag+".decode_lengths"), out.DecodeLengths)
			testutil.Close(t, c.tag+".predictions", out.Predictions, g.T(c.tag+".predictions"))
			testutil.Close(t, c.tag+".alphas", out.Alphas, g.T(c.tag+".alphas"))
			if c.paper {
				l, err := out.Loss(nil, lstmcaption.LossOptions{AlphaC: 1, Norm: lstmcaption.NormArctic})
				require.NoError(t, err)
				testutil.Close(t, c.tag+".arctic_loss", l.Total, g.T(c.tag+".arctic_loss"))
				testutil.Close(t, c.tag+".arctic_ce", l.CE, g.T(c.tag+".arctic_ce"))
				testutil.Close(t, c.tag+".arctic_reg", l.Reg, g.T(c.tag+".arctic_reg"))
			}
			l, err := out.Loss(tp, c.loss)
			require.NoError(t, err)
			testutil.Close(t, c.tag+".loss", l.Total, g.T(c.tag+".loss"))
			testutil.Close(t, c.tag+".ce", l.CE, g.T(c.tag+".ce"))
			testutil.Close(t, c.tag+".reg", l.Reg, g.T(c.tag+".reg"))
			require.NoError(t, tp.Backward(l.Total))
			testutil.Close(t, c.tag+".denc", tp.Grad(enc), g.T(c.tag+".denc"))
			for _, np := range vlm.Params(d) {
				want := g.T(c.tag + ".g." + np.Name)
				if np.Name == "attention.full_att.bias" {
					// Mathematically zero (01 §3): rounding noise only.
					assert.InDelta(t, 0, np.Grad.Data[0], 1e-5)
					assert.InDelta(t, 0, want.Data[0], 1e-5)
					continue
				}
				testutil.Close(t, c.tag+".d"+np.Name, np.Grad, want)
			}
		})
	}
}

func TestGoldenBeamAndGreedy(t *testing.T) {
	g := testutil.LoadGolden(t, goldenPath)
	cfg := lstmcaption.Config{EncoderDim: 6, AttentionDim: 5, EmbedDim: 4, DecoderDim: 7, VocabSize: 8, Dropout: 0.5}
	// The tutorial's loop runs at most 51 steps; <start> 6, <end> 7.
	opts := lstmcaption.DecodeOptions{Start: 6, End: 7, MaxLen: 51}
	for _, tag := range []string{"beam", "open"} {
		d := loadGoldenDecoder(t, cfg, tag)
		enc := g.T(tag + ".enc")
		beam, err := d.Beam(context.Background(), enc, 3, opts)
		require.NoError(t, err)
		greedy, err := d.Greedy(context.Background(), enc, opts)
		require.NoError(t, err)
		for _, r := range []struct {
			name string
			caps []lstmcaption.Caption
		}{{"beam", beam}, {"greedy", greedy}} {
			for i, got := range r.caps {
				pre := fmt.Sprintf("%s.%s%d.", tag, r.name, i)
				t.Run(pre, func(t *testing.T) {
					seq := g.Ints(pre + "seq")
					require.Equal(t, seq[0], opts.Start)
					assert.Equal(t, seq[1:], got.IDs)
					assert.Equal(t, g.Ints(pre + "complete")[0] == 1, got.Complete)
					testutil.Close(t, pre+"alphas", got.Alphas, g.T(pre+"alphas"))
					testutil.Close(t, pre+"score", vlm.Scalar(got.Score), g.T(pre+"score"))
				})
			}
		}
	}
}

// split cuts flat into consecutive pieces of the given lengths.
func split[T any](flat []T, lens []int) [][]T {
	out := make([][]T, len(lens))
	for i, n := range lens {
		out[i], flat = flat[:n:n], flat[n:]
	}
	return out
}

func TestGoldenCorpusBLEU(t *testing.T) {
	g := testutil.LoadGolden(t, goldenPath)
	cases := 0
	for c := 0; g.Has(fmt.Sprintf("bleu.%d.score", c)); c++ {
		pre := fmt.Sprintf("bleu.%d.", c)
		hyps := split(g.Ints(pre+"hyp_ids"), g.Ints(pre+"hyp_len"))
		refs := split(split(g.Ints(pre+"ref_ids"), g.Ints(pre+"ref_len")), g.Ints(pre+"nref"))
		got, err := lstmcaption.CorpusBLEU(refs, hyps)
		require.NoError(t, err)
		want := g.T(pre + "score")
		for n := range 4 {
			assert.InDelta(t, float64(want.Data[n]), got[n], 1e-6, "case %d BLEU-%d", c, n+1)
		}
		cases++
	}
	require.Equal(t, 4, cases)
}
