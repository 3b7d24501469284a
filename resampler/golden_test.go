package resampler_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/internal/testutil"
	"github.com/govlm/vlm/resampler"
	"github.com/stretchr/testify/require"
)

// Golden tests against plain-torch open_flamingo and lucidrains
// resamplers (testdata/gen/flamingo.py).

const goldenPath = "resampler/testdata/resampler.safetensors"

func TestGolden(t *testing.T) {
	for _, c := range []struct {
		tag    string
		cfg    resampler.Config
		rename func(string) string
	}{
		{"o", resampler.Config{Dim: 16, Depth: 2, Heads: 2, HeadDim: 8, Latents: 3, MaxMedia: 3, MaxFrames: 3}, nil},
		{"o_plain", resampler.Config{Dim: 16, Depth: 2, Heads: 2, HeadDim: 8, Latents: 3}, nil},
		{"l4", lucidrains(), resampler.LucidrainsRename},
		{"l3", lucidrains(), resampler.LucidrainsRename},
	} {
		t.Run(c.tag, func(t *testing.T) {
			g := testutil.LoadGolden(t, goldenPath)
			m, err := resampler.New(vlm.NewRand(1), c.cfg)
			require.NoError(t, err)
			// Through the real loader with the reference's own names.
			_, err = vlm.LoadWeights(m, filepath.Join(testutil.ModuleRoot(), goldenPath), &vlm.LoadOptions{Prefix: c.tag + ".p.", Rename: c.rename})
			require.NoError(t, err)

			x := g.T(c.tag + ".x")
			tp := vlm.NewTape()
			tp.Watch(x)
			y, err := m.Forward(tp, x)
			require.NoError(t, err)
			want := g.T(c.tag + ".y")
			require.Equal(t, want.Shape, y.Shape)
			require.NoError(t, tp.Backward(vlm.Sum(tp, vlm.Mul(tp, y, g.T(c.tag+".r")))))
			testutil.Close(t, c.tag+".y", y, want)
			testutil.Close(t, c.tag+".dx", tp.Grad(x), g.T(c.tag+".dx"))
			params := vlm.ParamMap(m)
			n := 0
			for _, key := range g.Names() {
				name, ok := strings.CutPrefix(key, c.tag+".g.")
				if !ok {
					continue
				}
				if c.rename != nil {
					name = c.rename(name)
				}
				require.Contains(t, params, name)
				testutil.Close(t, c.tag+".d"+name, params[name].Grad, g.T(key))
				n++
			}
			require.Equal(t, len(params), n, "every parameter has a reference gradient")
		})
	}
}

func lucidrains() resampler.Config {
	c := resampler.Lucidrains(16, 2)
	c.Heads, c.HeadDim, c.Latents = 2, 8, 3
	return c
}
