package attention_test

import (
	"strings"
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/attention"
	"github.com/govlm/vlm/internal/testutil"
	"github.com/stretchr/testify/require"
)

// Golden tests against PyTorch 1.13 (testdata/gen/attention.py).

const goldenPath = "attention/testdata/attention.safetensors"

// load copies the golden parameters prefix.p.<name> into m, strictly:
// every parameter of m must be in the file and every file parameter of
// the group in m, with equal shapes.
func load(t *testing.T, g *testutil.Golden, prefix string, m vlm.Module) {
	t.Helper()
	pm := vlm.ParamMap(m)
	for name, p := range pm {
		want := g.T(prefix + ".p." + name)
		require.Equal(t, want.Shape, p.Value.Shape, "parameter %s", name)
		copy(p.Value.Data, want.Data)
	}
	for _, n := range g.Names() {
		if name, ok := strings.CutPrefix(n, prefix+".p."); ok {
			require.Contains(t, pm, name, "golden parameter %s is not in the module", name)
		}
	}
}

// checkGrads compares every parameter gradient of m with prefix.g.<name>.
func checkGrads(t *testing.T, g *testutil.Golden, prefix string, m vlm.Module) {
	t.Helper()
	for _, np := range vlm.Params(m) {
		testutil.Close(t, prefix+".d"+np.Name, np.Grad, g.T(prefix+".g."+np.Name))
	}
}

// keepMask turns a golden 0/1 tensor of rank 2 ([B, Tk], key padding) or
// 4 ([B, 1|H, Tq, Tk]) into a Mask.
func keepMask(k *vlm.Tensor) *attention.Mask {
	if k.Rank() == 2 {
		return attention.Padding(k)
	}
	s := k.Shape
	return attention.NewMask(s[0], s[1], s[2], s[3], func(b, h, i, j int) bool { return k.At(b, h, i, j) != 0 })
}

func backward(t *testing.T, tp *vlm.Tape, terms ...[2]*vlm.Tensor) {
	t.Helper()
	var loss *vlm.Tensor
	for _, yr := range terms {
		l := vlm.Sum(tp, vlm.Mul(tp, yr[0], yr[1]))
		if loss == nil {
			loss = l
		} else {
			loss = vlm.Add(tp, loss, l)
		}
	}
	require.NoError(t, tp.Backward(loss))
}

func TestGoldenTorchMultiheadAttention(t *testing.T) {
	for _, c := range []struct {
		tag    string
		causal bool
		cross  bool
	}{{"mha_self", true, false}, {"mha_left", false, false}, {"mha_cross", false, true}} {
		t.Run(c.tag, func(t *testing.T) {
			g := testutil.LoadGolden(t, goldenPath)
			m, err := attention.NewMultiHead(vlm.NewRand(1), attention.Config{Dim: 16, Heads: 4, Names: attention.TorchNames})
			require.NoError(t, err)
			load(t, g, c.tag, m)
			x := g.T(c.tag + ".x")
			tp := vlm.NewTape()
			tp.Watch(x)
			var probs attention.Probs
			o := &attention.Options{Mask: attention.Padding(g.T(c.tag + ".keep")), Causal: c.causal, Fill: attention.FillNegInf, Probs: &probs}
			var y, ctx *vlm.Tensor
			if c.cross {
				ctx = tp.Watch(g.T(c.tag + ".ctx"))
				mem, err := m.Memory(tp, ctx)
				require.NoError(t, err)
				y, err = m.Cross(tp, x, mem, o)
				require.NoError(t, err)
			} else {
				y, err = m.Self(tp, x, nil, o)
				require.NoError(t, err)
			}
			backward(t, tp, [2]*vlm.Tensor{y, g.T(c.tag + ".r")})
			testutil.Close(t, c.tag+".y", y, g.T(c.tag+".y"))
			require.Len(t, probs, 1)
			testutil.Close(t, c.tag+".probs", probs[0], g.T(c.tag+".probs"))
			testutil.Close(t, c.tag+".dx", tp.Grad(x), g.T(c.tag+".dx"))
			if c.cross {
				testutil.Close(t, c.tag+".dctx", tp.Grad(ctx), g.T(c.tag+".dctx"))
			}
			checkGrads(t, g, c.tag, m)
		})
	}
}

func TestGoldenBERTLayer(t *testing.T) {
	// HF BLIP-2 names, the Q-Former's ITG mask (2 queries, 4 text tokens,
	// the second sample padded to 2) with LAVIS's −10000 fill.
	g := testutil.LoadGolden(t, goldenPath)
	l, err := attention.NewBERTLayer(vlm.NewRand(1), attention.Config{Dim: 32, Heads: 4, Hidden: 64, Names: attention.BLIP2Names})
	require.NoError(t, err)
	load(t, g, "bert_layer", l)
	mask := attention.PrefixCausal(2, 6, 6).And(attention.Lengths([]int{6, 4}, 6, attention.Right))
	require.Equal(t, keepMask(g.T("bert_layer.keep")).String(), mask.String())

	x := g.T("bert_layer.x")
	tp := vlm.NewTape()
	tp.Watch(x)
	var probs attention.Probs
	y, err := l.Forward(tp, x, &attention.Options{Mask: mask, Fill: attention.FillMinus10000, Probs: &probs})
	require.NoError(t, err)
	backward(t, tp, [2]*vlm.Tensor{y, g.T("bert_layer.r")})
	testutil.Close(t, "bert_layer.y", y, g.T("bert_layer.y"))
	testutil.Close(t, "bert_layer.probs", probs[0], g.T("bert_layer.probs"))
	testutil.Close(t, "bert_layer.dx", tp.Grad(x), g.T("bert_layer.dx"))
	checkGrads(t, g, "bert_layer", l)
}

func TestGoldenBERTCrossAttention(t *testing.T) {
	// LAVIS names (crossattention.self.query), 24-wide keys/values,
	// padded image tokens with HF's invert_attention_mask (finfo.min).
	g := testutil.LoadGolden(t, goldenPath)
	s, err := attention.NewBERTAttention(vlm.NewRand(1), attention.Config{Dim: 32, Heads: 4, KVDim: 24}, "crossattention")
	require.NoError(t, err)
	load(t, g, "bert_cross", s)
	x, img := g.T("bert_cross.x"), g.T("bert_cross.ctx")
	tp := vlm.NewTape()
	tp.Watch(x)
	tp.Watch(img)
	mem, err := s.Memory(tp, img)
	require.NoError(t, err)
	var probs attention.Probs
	y, err := s.Cross(tp, x, mem, &attention.Options{Mask: attention.Padding(g.T("bert_cross.keep")), Fill: attention.FillMin, Probs: &probs})
	require.NoError(t, err)
	backward(t, tp, [2]*vlm.Tensor{y, g.T("bert_cross.r")})
	testutil.Close(t, "bert_cross.y", y, g.T("bert_cross.y"))
	testutil.Close(t, "bert_cross.probs", probs[0], g.T("bert_cross.probs"))
	testutil.Close(t, "bert_cross.dx", tp.Grad(x), g.T("bert_cross.dx"))
	testutil.Close(t, "bert_cross.dctx", tp.Grad(img), g.T("bert_cross.dctx"))
	checkGrads(t, g, "bert_cross", s)
}

func TestGoldenCLIPLayer(t *testing.T) {
	for _, c := range []struct {
		tag    string
		causal bool
	}{{"clip", false}, {"clip_causal", true}} {
		t.Run(c.tag, func(t *testing.T) {
			g := testutil.LoadGolden(t, goldenPath)
			l, err := attention.NewCLIPLayer(vlm.NewRand(1), attention.Config{Dim: 32, Heads: 4, Hidden: 64})
			require.NoError(t, err)
			load(t, g, c.tag, l)
			x := g.T(c.tag + ".x")
			tp := vlm.NewTape()
			tp.Watch(x)
			var probs attention.Probs
			y, err := l.Forward(tp, x, &attention.Options{Causal: c.causal, Fill: attention.FillMin, Probs: &probs})
			require.NoError(t, err)
			backward(t, tp, [2]*vlm.Tensor{y, g.T(c.tag + ".r")})
			testutil.Close(t, c.tag+".y", y, g.T(c.tag+".y"))
			testutil.Close(t, c.tag+".probs", probs[0], g.T(c.tag+".probs"))
			testutil.Close(t, c.tag+".dx", tp.Grad(x), g.T(c.tag+".dx"))
			checkGrads(t, g, c.tag, l)
		})
	}
}

func TestGoldenDecoderLayer(t *testing.T) {
	// Causal self-attention over left-padded text (HF finfo.min, so the
	// two pad rows of sample 1 are fully masked and uniform, with the
	// additive gradient) and cross-attention into padded memory.
	g := testutil.LoadGolden(t, goldenPath)
	l, err := attention.NewDecoderLayer(vlm.NewRand(1), attention.Config{Dim: 32, Heads: 4, Hidden: 64, KVDim: 24}, true)
	require.NoError(t, err)
	load(t, g, "decoder", l)
	x, memIn := g.T("decoder.x"), g.T("decoder.mem")
	tp := vlm.NewTape()
	tp.Watch(x)
	tp.Watch(memIn)
	mem, err := l.Memory(tp, memIn)
	require.NoError(t, err)
	var probs, cross attention.Probs
	y, err := l.Forward(tp, x, nil,
		&attention.Options{Mask: attention.Padding(g.T("decoder.txt_keep")), Fill: attention.FillMin, Probs: &probs},
		mem, &attention.Options{Mask: attention.Padding(g.T("decoder.mem_keep")), Fill: attention.FillMin, Probs: &cross})
	require.NoError(t, err)
	backward(t, tp, [2]*vlm.Tensor{y, g.T("decoder.r")})
	testutil.Close(t, "decoder.y", y, g.T("decoder.y"))
	testutil.Close(t, "decoder.probs", probs[0], g.T("decoder.probs"))
	testutil.Close(t, "decoder.cross_probs", cross[0], g.T("decoder.cross_probs"))
	testutil.Close(t, "decoder.dx", tp.Grad(x), g.T("decoder.dx"))
	testutil.Close(t, "decoder.dmem", tp.Grad(memIn), g.T("decoder.dmem"))
	checkGrads(t, g, "decoder", l)
}

func TestGoldenFillPolicies(t *testing.T) {
	g0 := testutil.LoadGolden(t, goldenPath)
	keep := keepMask(g0.T("fill.keep"))
	rows := attention.Rows(g0.T("fill.rows"))
	bias := g0.T("fill.bias")
	for _, c := range []struct {
		tag string
		o   attention.Options
	}{
		{"minus10000", attention.Options{Mask: keep, Fill: attention.FillMinus10000}},
		{"min", attention.Options{Mask: keep, Fill: attention.FillMin}},
		{"replace", attention.Options{Mask: keep, Fill: attention.FillReplaceMax, KeepRows: rows}},
		{"exclude", attention.Options{Mask: keep}},
		{"exclude_bias", attention.Options{Mask: keep, Bias: bias}},
	} {
		t.Run(c.tag, func(t *testing.T) {
			g := testutil.LoadGolden(t, goldenPath)
			q, k, v := g.T("fill.q"), g.T("fill.k"), g.T("fill.v")
			tp := vlm.NewTape()
			for _, x := range []*vlm.Tensor{q, k, v} {
				tp.Watch(x)
			}
			var probs attention.Probs
			o := c.o
			o.Probs = &probs
			y := attention.ScaledDotProduct(tp, q, k, v, &o)
			backward(t, tp, [2]*vlm.Tensor{y, g.T("fill.r")})
			p := "fill_" + c.tag
			testutil.Close(t, p+".y", y, g.T(p+".y"))
			testutil.Close(t, p+".probs", probs[0], g.T(p+".probs"))
			testutil.Close(t, p+".dq", tp.Grad(q), g.T(p+".dq"))
			testutil.Close(t, p+".dk", tp.Grad(k), g.T(p+".dk"))
			testutil.Close(t, p+".dv", tp.Grad(v), g.T(p+".dv"))
		})
	}
}

func TestGoldenFlamingoMaskedCrossAttention(t *testing.T) {
	// open_flamingo's MaskedCrossAttention from this package's parts:
	// LayerNorm on the text, MultiHead with to_q/to_kv/to_out, the media
	// mask replaced with −finfo.max, text before the first image zeroed.
	g := testutil.LoadGolden(t, goldenPath)
	m, err := attention.NewMultiHead(vlm.NewRand(1), attention.Config{Dim: 32, Heads: 4, HeadDim: 8, NoBias: true, Names: attention.FlamingoNames})
	require.NoError(t, err)
	norm := vlm.NewLayerNorm(32, 1e-5)
	mod := vlm.Modules{{Name: "norm", Module: norm}, {Module: m}}
	load(t, g, "flamingo", mod)

	x, media := g.T("flamingo.x"), g.T("flamingo.media")
	locs := g.Ints("flamingo.locations")
	const b, tt, nMedia, n = 2, 6, 2, 3
	textTime := make([]int, b*tt)
	for bi := range b {
		c := 0
		for i := range tt {
			c += locs[bi*tt+i]
			textTime[bi*tt+i] = c
		}
	}
	mask := attention.NewMask(b, 1, tt, nMedia*n, func(bi, _, i, j int) bool { return textTime[bi*tt+i] == j/n+1 })
	rows := attention.NewMask(b, 1, tt, 1, func(bi, _, i, _ int) bool { return textTime[bi*tt+i] != 0 })
	require.Equal(t, "[0 0]\n000000\n111000\n111000\n111000\n000111\n000111\n[1 0]\n111000\n111000\n000111\n000111\n000000\n000000\n", mask.String())

	tp := vlm.NewTape()
	tp.Watch(x)
	tp.Watch(media)
	mem, err := m.Memory(tp, vlm.Reshape(tp, media, b, nMedia*n, 32))
	require.NoError(t, err)
	var probs attention.Probs
	y, err := m.Cross(tp, norm.Forward(tp, x), mem, &attention.Options{Mask: mask, Fill: attention.FillReplaceMax, KeepRows: rows, Probs: &probs})
	require.NoError(t, err)
	backward(t, tp, [2]*vlm.Tensor{y, g.T("flamingo.r")})
	testutil.Close(t, "flamingo.y", y, g.T("flamingo.y"))
	testutil.Close(t, "flamingo.probs", probs[0], g.T("flamingo.probs"))
	testutil.Close(t, "flamingo.dx", tp.Grad(x), g.T("flamingo.dx"))
	testutil.Close(t, "flamingo.dmedia", tp.Grad(media), g.T("flamingo.dmedia"))
	checkGrads(t, g, "flamingo", mod)
}

func TestGoldenAdditive(t *testing.T) {
	for _, c := range []struct {
		tag string
		act vlm.Activation
	}{{"additive_relu", vlm.ActReLU}, {"additive_tanh", vlm.ActTanh}} {
		t.Run(c.tag, func(t *testing.T) {
			g := testutil.LoadGolden(t, goldenPath)
			a, err := attention.NewAdditive(vlm.NewRand(1), 10, 7, 5, c.act)
			require.NoError(t, err)
			load(t, g, c.tag, a)
			enc, h := g.T(c.tag+".enc"), g.T(c.tag+".h")
			tp := vlm.NewTape()
			tp.Watch(enc)
			tp.Watch(h)
			keys, err := a.Keys(tp, enc)
			require.NoError(t, err)
			ctx, alpha, err := a.Forward(tp, enc, keys, h)
			require.NoError(t, err)
			backward(t, tp, [2]*vlm.Tensor{ctx, g.T(c.tag + ".r")}, [2]*vlm.Tensor{alpha, g.T(c.tag + ".r_alpha")})
			testutil.Close(t, c.tag+".awe", ctx, g.T(c.tag+".awe"))
			testutil.Close(t, c.tag+".alpha", alpha, g.T(c.tag+".alpha"))
			testutil.Close(t, c.tag+".denc", tp.Grad(enc), g.T(c.tag+".denc"))
			testutil.Close(t, c.tag+".dh", tp.Grad(h), g.T(c.tag+".dh"))
			for _, np := range vlm.Params(a) {
				want := g.T(c.tag + ".g." + np.Name)
				if np.Name == "full_att.bias" {
					// Mathematically zero (02/01 §3): rounding noise only.
					require.InDelta(t, 0, np.Grad.Data[0], 1e-5)
					require.InDelta(t, 0, want.Data[0], 1e-5)
					continue
				}
				testutil.Close(t, c.tag+".d"+np.Name, np.Grad, want)
			}
		})
	}
}
