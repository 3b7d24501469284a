package gating_test

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/attention"
	"github.com/govlm/vlm/gating"
	"github.com/govlm/vlm/internal/testutil"
	"github.com/stretchr/testify/require"
)

// Golden tests against plain-torch open_flamingo and lucidrains gated
// cross-attention (testdata/gen/flamingo.py): text before the first
// <image>, two images per sample, a sample with three <image> tokens for
// two media, cached media, and both placements in a frozen 4-layer LM.

const goldenPath = "gating/testdata/gating.safetensors"

// load fills m from the golden parameters under prefix through the real
// loader, strictly.
func load(t *testing.T, m vlm.Module, opts *vlm.LoadOptions) {
	t.Helper()
	_, err := vlm.LoadWeights(m, filepath.Join(testutil.ModuleRoot(), goldenPath), opts)
	require.NoError(t, err)
}

// locations reads a golden 0/1 [B, T] tensor.
func locations(t *testing.T, g *testutil.Golden, name string) *gating.Locations {
	t.Helper()
	ids := g.Ints(name)
	l, err := gating.Locate(ids, 2, len(ids)/2, 1)
	require.NoError(t, err)
	return l
}

// checkGrads compares the gradient of every parameter of m named in the
// golden file (prefix.g.<key>, rename mapping a key to m's name) and
// requires that every trainable parameter has one.
func checkGrads(t *testing.T, g *testutil.Golden, prefix string, m vlm.Module, rename func(string) string) {
	t.Helper()
	params := vlm.ParamMap(m)
	seen := map[string]bool{}
	for _, key := range g.Names() {
		name, ok := strings.CutPrefix(key, prefix+".g.")
		if !ok {
			continue
		}
		if rename != nil {
			name = rename(name)
		}
		p, ok := params[name]
		if !ok {
			continue
		}
		testutil.Close(t, prefix+".d"+name, p.Grad, g.T(key))
		seen[name] = true
	}
	for name, p := range params {
		if !p.Frozen {
			require.True(t, seen[name], "no reference gradient for %s", name)
		}
	}
}

func lossOf(t *testing.T, tp *vlm.Tape, y, r *vlm.Tensor) {
	t.Helper()
	require.NoError(t, tp.Backward(vlm.Sum(tp, vlm.Mul(tp, y, r))))
}

func TestGoldenBlock(t *testing.T) {
	for _, c := range []struct {
		tag    string
		mode   gating.Mode
		dv     int
		cached bool
	}{
		{"o_imm", gating.Immediate, 12, false},
		{"o_all", gating.AllPrevious, 12, false},
		{"o_cached", gating.Immediate, 12, true},
		{"l_imm", gating.Immediate, 0, false},
		{"l_all", gating.AllPrevious, 0, false},
	} {
		t.Run(c.tag, func(t *testing.T) {
			g := testutil.LoadGolden(t, goldenPath)
			b, err := gating.NewBlock(vlm.NewRand(1), gating.Config{Dim: 16, MediaDim: c.dv, Heads: 2, HeadDim: 8, Mode: c.mode})
			require.NoError(t, err)
			load(t, b, &vlm.LoadOptions{Prefix: c.tag + ".p."})

			x, media := g.T(c.tag+".x"), g.T(c.tag+".media")
			loc := locations(t, g, c.tag+".locations")
			tt := loc.TextTime()
			if c.cached {
				tt = loc.Cached(x.Shape[1])
			}
			tp := vlm.NewTape()
			tp.Watch(x)
			tp.Watch(media)
			mem, err := b.Memory(tp, media, nil)
			require.NoError(t, err)
			y, err := b.Forward(tp, x, mem, tt)
			require.NoError(t, err)
			lossOf(t, tp, y, g.T(c.tag+".r"))
			testutil.Close(t, c.tag+".y", y, g.T(c.tag+".y"))
			testutil.Close(t, c.tag+".dx", tp.Grad(x), g.T(c.tag+".dx"))
			testutil.Close(t, c.tag+".dmedia", tp.Grad(media), g.T(c.tag+".dmedia"))
			checkGrads(t, g, c.tag, b, nil)
		})
	}
}

func TestGoldenStack(t *testing.T) {
	for _, c := range []struct {
		tag       string
		every     int
		placement gating.Placement
		mode      gating.Mode
		lmOpts    *vlm.LoadOptions // the frozen LM's layers, as a list "0".."3"
		opts      *vlm.LoadOptions // the gated blocks
		rename    func(string) string
	}{
		{
			"stack_o", 2, gating.Before, gating.Immediate,
			&vlm.LoadOptions{Prefix: "stack_o.p.layers.", Rename: strings.NewReplacer(".decoder_layer.", ".").Replace, Ignore: []string{"*.gated_cross_attn_layer.*"}},
			&vlm.LoadOptions{Prefix: "stack_o.p.layers.", Ignore: []string{"*.decoder_layer.*"}},
			func(k string) string { return strings.TrimPrefix(k, "layers.") },
		},
		{
			"stack_l", 3, gating.After, gating.Immediate,
			&vlm.LoadOptions{Prefix: "stack_l.p.layers.", Rename: strings.NewReplacer(".0.", ".").Replace, Ignore: []string{"*.1.*"}},
			&vlm.LoadOptions{Prefix: "stack_l.p.", Rename: gating.LucidrainsRename, Ignore: []string{"layers.*"}},
			gating.LucidrainsRename,
		},
	} {
		t.Run(c.tag, func(t *testing.T) {
			g := testutil.LoadGolden(t, goldenPath)
			lm := make(vlm.Modules, 4)
			layers := make([]gating.Layer, 4)
			for i := range lm {
				l, err := attention.NewDecoderLayer(vlm.NewRand(uint64(i)), attention.Config{Dim: 16, Heads: 2}, false)
				require.NoError(t, err)
				lm[i] = vlm.NamedModule{Name: strconv.Itoa(i), Module: l}
				layers[i] = gating.LayerFunc(func(tp *vlm.Tape, x *vlm.Tensor) (*vlm.Tensor, error) {
					return l.Forward(tp, x, nil, nil, nil, nil)
				})
			}
			load(t, lm, c.lmOpts)
			vlm.Freeze(lm, "*")
			s, err := gating.NewStack(vlm.NewRand(1), gating.Config{Dim: 16, Heads: 2, HeadDim: 8, Mode: c.mode}, 4, c.every, c.placement)
			require.NoError(t, err)
			load(t, s, c.opts)

			x, media := g.T(c.tag+".x"), g.T(c.tag+".media")
			tp := vlm.NewTape()
			tp.Watch(x)
			tp.Watch(media)
			cond, err := s.Condition(tp, media, nil)
			require.NoError(t, err)
			y, err := s.Forward(tp, x, layers, cond, locations(t, g, c.tag+".locations").TextTime())
			require.NoError(t, err)
			lossOf(t, tp, y, g.T(c.tag+".r"))
			testutil.Close(t, c.tag+".y", y, g.T(c.tag+".y"))
			testutil.Close(t, c.tag+".dx", tp.Grad(x), g.T(c.tag+".dx"))
			testutil.Close(t, c.tag+".dmedia", tp.Grad(media), g.T(c.tag+".dmedia"))
			checkGrads(t, g, c.tag, s, c.rename)
			for _, p := range vlm.Params(lm) {
				require.Nil(t, p.Grad, "frozen %s", p.Name)
			}
		})
	}
}
