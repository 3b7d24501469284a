package lm_test

import (
	"path/filepath"
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/internal/testutil"
	"github.com/govlm/vlm/lm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Golden tests against a plain-torch OPTForCausalLM (testdata/gen/lm.py).

const goldenPath = "lm/testdata/lm.safetensors"

// tiny is the configuration of the golden models.
func tiny(act vlm.Activation, untied bool) lm.Config {
	return lm.Config{Vocab: 23, Dim: 16, Heads: 4, Layers: 2, Hidden: 24, MaxPositions: 12, PadID: 1, Act: act, Untied: untied}
}

// rows turns a golden [B, T] integer tensor into rows.
func rows(flat []int, b int) [][]int {
	t := len(flat) / b
	out := make([][]int, b)
	for i := range out {
		out[i] = flat[i*t : (i+1)*t]
	}
	return out
}

func boolRows(flat []int, b int) [][]bool {
	out := make([][]bool, b)
	for i, r := range rows(flat, b) {
		out[i] = make([]bool, len(r))
		for j, v := range r {
			out[i][j] = v != 0
		}
	}
	return out
}

// realRows zeroes the rows of logits [B, T, V] at padding positions, where
// the reference's finfo.min mask and FillExclude legitimately differ.
func realRows(x *vlm.Tensor, mask [][]bool) *vlm.Tensor {
	y := x.Clone()
	v := x.Shape[2]
	for b, row := range mask {
		for t, k := range row {
			if !k {
				clear(y.Data[(b*len(row)+t)*v : (b*len(row)+t+1)*v])
			}
		}
	}
	return y
}

func TestGoldenOPT(t *testing.T) {
	for _, c := range []struct {
		prefix string
		act    vlm.Activation
		untied bool
		b      int
	}{
		{"ids", vlm.ActReLU, false, 2},
		{"embeds", vlm.ActGELU, true, 3},
	} {
		t.Run(c.prefix, func(t *testing.T) {
			g := testutil.LoadGolden(t, goldenPath)
			m, err := lm.New(vlm.NewRand(7), tiny(c.act, c.untied))
			require.NoError(t, err)
			report, err := vlm.LoadWeights(m, filepath.Join(testutil.ModuleRoot(), goldenPath), &vlm.LoadOptions{Prefix: c.prefix + ".p."})
			require.NoError(t, err)
			require.True(t, report.Complete())

			mask := boolRows(g.Ints(c.prefix+".mask"), c.b)
			in := &lm.Input{Mask: mask}
			if g.Has(c.prefix + ".ids") {
				in.IDs = rows(g.Ints(c.prefix+".ids"), c.b)
			} else {
				in.Embeds = g.T(c.prefix + ".x")
				in.Positions = rows(g.Ints(c.prefix+".positions"), c.b)
			}
			tp := vlm.NewTape()
			if in.Embeds != nil {
				tp.Watch(in.Embeds)
			}
			loss, logits, err := m.Loss(tp, in, rows(g.Ints(c.prefix+".labels"), c.b))
			require.NoError(t, err)
			require.NoError(t, tp.Backward(loss))

			testutil.Close(t, c.prefix+".logits", realRows(logits, mask), realRows(g.T(c.prefix+".logits"), mask))
			testutil.Close(t, c.prefix+".loss", loss, g.T(c.prefix+".loss"))
			if in.Embeds != nil {
				testutil.Close(t, c.prefix+".dx", tp.Grad(in.Embeds), g.T(c.prefix+".dx"))
			}
			n := 0
			for _, np := range vlm.Params(m) {
				switch {
				case g.Has(c.prefix + ".g." + np.Name):
					testutil.Close(t, c.prefix+".d"+np.Name, np.Grad, g.T(c.prefix+".g."+np.Name))
					n++
				case np.Name == "lm_head.weight":
					assert.False(t, c.untied, "an untied head has its own gradient")
				default:
					// Input embeddings bypass the (untied) token table.
					assert.Equal(t, "model.decoder.embed_tokens.weight", np.Name)
					assert.Nil(t, np.Grad)
				}
			}
			assert.Equal(t, 36, n, "every parameter's gradient was compared")
		})
	}
}
