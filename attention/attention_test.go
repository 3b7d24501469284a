package attention_test

import (
	"errors"
	"math"
	"sync"
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/attention"
	"github.com/govlm/vlm/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMaskMatrices(t *testing.T) {
	cases := []struct {
		name string
		m    *attention.Mask
		want string
	}{
		{"causal", attention.Causal(4, 4), "" +
			"1000\n" +
			"1100\n" +
			"1110\n" +
			"1111\n"},
		{"causal after 3 cached positions", attention.Causal(2, 5), "" +
			"11110\n" +
			"11111\n"},
		{"Q-Former ITG, all rows (2 queries, 3 text)", attention.PrefixCausal(2, 5, 5), "" +
			"11000\n" +
			"11000\n" +
			"11100\n" +
			"11110\n" +
			"11111\n"},
		{"Q-Former ITG, text rows over cached queries", attention.PrefixCausal(2, 3, 5), "" +
			"11100\n" +
			"11110\n" +
			"11111\n"},
		{"right padding", attention.Lengths([]int{4, 2}, 4, attention.Right), "" +
			"[0 0]\n1111\n" +
			"[1 0]\n1100\n"},
		{"left padding", attention.Lengths([]int{4, 2}, 4, attention.Left), "" +
			"[0 0]\n1111\n" +
			"[1 0]\n0011\n"},
		{"attention_mask", attention.Padding(vlm.FromData([]float32{1, 1, 0, 0, 1, 1}, 2, 3)), "" +
			"[0 0]\n110\n" +
			"[1 0]\n011\n"},
		{"rows", attention.Rows(vlm.FromData([]float32{0, 1, 1}, 1, 3)), "0\n1\n1\n"},
		{"left padding and causal (pad rows see nothing)", attention.Lengths([]int{2}, 4, attention.Left).And(attention.Causal(4, 4)), "" +
			"0000\n" +
			"0000\n" +
			"0010\n" +
			"0011\n"},
		{"ITG with padded text", attention.PrefixCausal(2, 5, 5).And(attention.Lengths([]int{4}, 5, attention.Right)), "" +
			"11000\n" +
			"11000\n" +
			"11100\n" +
			"11110\n" +
			"11110\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, c.m.String())
			// At agrees with the drawing, broadcasting size-1 axes.
			s := c.m.Shape
			if s[0] == 1 && s[1] == 1 {
				assert.Equal(t, c.want, testutil.MaskString(s[2], s[3], func(i, j int) bool { return c.m.At(3, 7, i, j) }))
			}
		})
	}
}

func TestMaskAndBroadcasts(t *testing.T) {
	m := attention.Lengths([]int{3, 1}, 3, attention.Right).And(attention.Causal(3, 3))
	assert.Equal(t, [4]int{2, 1, 3, 3}, m.Shape)
	assert.Equal(t, "[0 0]\n100\n110\n111\n[1 0]\n100\n100\n100\n", m.String())
	assert.Equal(t, m, m.And(nil))
	var none *attention.Mask
	assert.Equal(t, m, none.And(m))
	assert.True(t, none.At(5, 5, 5, 5))
	assert.Equal(t, []float32{1, 0, 0, 1, 1, 0, 1, 1, 1}, m.Tensor().Data[:9])
	assert.Panics(t, func() {
		attention.Lengths([]int{2, 2}, 2, attention.Right).And(attention.Lengths([]int{1, 1, 1}, 2, attention.Right))
	})
	assert.Panics(t, func() { attention.Lengths([]int{3}, 2, attention.Right) })
}

// TestFullyMaskedRows spells out what each fill policy returns for a
// query row whose every key is masked (row 0) next to a normal row.
func TestFullyMaskedRows(t *testing.T) {
	rng := vlm.NewRand(3)
	q, k, v := vlm.RandN(rng, 1, 1, 1, 2, 4), vlm.RandN(rng, 1, 1, 1, 3, 4), vlm.RandN(rng, 1, 1, 1, 3, 2)
	mask := attention.NewMask(1, 1, 2, 3, func(_, _, i, j int) bool { return i == 1 && j != 2 })
	unmasked := attention.ScaledDotProduct(nil, q, k, v, nil)
	mean := []float32{(v.Data[0] + v.Data[2] + v.Data[4]) / 3, (v.Data[1] + v.Data[3] + v.Data[5]) / 3}
	reference := attention.ScaledDotProduct(nil, q, k, v, &attention.Options{Mask: mask})
	for _, c := range []struct {
		fill attention.Fill
		row0 func(t *testing.T, got []float32)
	}{
		{attention.FillExclude, func(t *testing.T, got []float32) { assert.Equal(t, []float32{0, 0}, got) }},
		{attention.FillNegInf, func(t *testing.T, got []float32) {
			assert.True(t, math.IsNaN(float64(got[0])) && math.IsNaN(float64(got[1])))
		}},
		{attention.FillMin, func(t *testing.T, got []float32) { assert.InDeltaSlice(t, mean, got, 1e-6) }},
		{attention.FillReplaceMax, func(t *testing.T, got []float32) { assert.InDeltaSlice(t, mean, got, 1e-6) }},
		{attention.FillMinus10000, func(t *testing.T, got []float32) {
			// The common −10000 offset cancels: ≈ the unmasked row, up to
			// float32 rounding of scores near −10000 (ulp ≈ 1e-3).
			assert.InDeltaSlice(t, unmasked.Data[:2], got, 2e-3)
		}},
	} {
		t.Run(c.fill.String(), func(t *testing.T) {
			y := attention.ScaledDotProduct(nil, q, k, v, &attention.Options{Mask: mask, Fill: c.fill})
			c.row0(t, y.Data[:2])
			assert.InDeltaSlice(t, reference.Data[2:], y.Data[2:], 1e-6, "a row with a key left is the same under every policy")
		})
	}
}

func TestKeepRowsZeroesOutputAndGradient(t *testing.T) {
	rng := vlm.NewRand(4)
	q, k, v := vlm.RandN(rng, 1, 2, 2, 3, 4), vlm.RandN(rng, 1, 2, 2, 5, 4), vlm.RandN(rng, 1, 2, 2, 5, 4)
	rows := attention.Rows(vlm.FromData([]float32{1, 0, 1, 1, 1, 0}, 2, 3))
	tp := vlm.NewTape()
	tp.Watch(q)
	y := attention.ScaledDotProduct(tp, q, k, v, &attention.Options{KeepRows: rows})
	require.NoError(t, tp.Backward(vlm.Sum(tp, y)))
	dq := tp.Grad(q)
	for b := range 2 {
		for h := range 2 {
			for i := range 3 {
				if rows.At(b, h, i, 0) {
					continue
				}
				for d := range 4 {
					assert.Zero(t, y.At(b, h, i, d))
					assert.Zero(t, dq.At(b, h, i, d))
				}
			}
		}
	}
}

func TestAttendMatchesScaledDotProduct(t *testing.T) {
	// [B, T, H·D] with heads side by side equals the [B, H, T, D] form.
	rng := vlm.NewRand(5)
	const b, h, tq, tk, d = 2, 3, 4, 6, 5
	q, k, v := vlm.RandN(rng, 1, b, tq, h*d), vlm.RandN(rng, 1, b, tk, h*d), vlm.RandN(rng, 1, b, tk, h*d)
	bias := vlm.RandN(rng, 1, b, 1, tq, tk)
	o := &attention.Options{Mask: attention.Lengths([]int{6, 3}, tk, attention.Left), Causal: true, Bias: bias}
	got := attention.Attend(nil, q, k, v, h, o)
	split := func(x *vlm.Tensor) *vlm.Tensor { return vlm.Transpose(nil, x.Reshape(b, -1, h, d), 1, 2) }
	want := vlm.Transpose(nil, attention.ScaledDotProduct(nil, split(q), split(k), split(v), o), 1, 2).Reshape(b, tq, h*d)
	testutil.Close(t, "Attend", got, want)
}

// randomize gives every parameter of m random values (LayerNorm weights
// around 1) so that tests do not pass by symmetry.
func randomize(m vlm.Module, seed uint64) {
	rng := vlm.NewRand(seed)
	m.VisitParams("", func(_ string, p *vlm.Param) {
		r := vlm.RandN(rng, 0.3, p.Value.Shape...)
		if p.Value.Rank() == 1 && len(p.Value.Data) > 1 && isNormWeight(p) {
			for i := range r.Data {
				r.Data[i] += 1
			}
		}
		copy(p.Value.Data, r.Data)
	})
}

func isNormWeight(p *vlm.Param) bool {
	for _, v := range p.Value.Data {
		if v != 1 {
			return false
		}
	}
	return true // fresh LayerNorm weights are all ones
}

func TestLayoutsAgree(t *testing.T) {
	// The same weights in the three layouts give the same attention.
	m, err := attention.NewMultiHead(vlm.NewRand(1), attention.Config{Dim: 12, Heads: 3})
	require.NoError(t, err)
	randomize(m, 2)
	x := vlm.RandN(vlm.NewRand(3), 1, 2, 5, 12)
	ctx := vlm.RandN(vlm.NewRand(4), 1, 2, 4, 12)
	o := &attention.Options{Mask: attention.Lengths([]int{5, 2}, 5, attention.Right), Causal: true}
	oc := &attention.Options{Mask: attention.Lengths([]int{4, 1}, 4, attention.Left)}
	wantSelf, err := m.Self(nil, x, nil, o)
	require.NoError(t, err)
	mem, err := m.Memory(nil, ctx)
	require.NoError(t, err)
	wantCross, err := m.Cross(nil, x, mem, oc)
	require.NoError(t, err)
	for _, names := range []attention.Names{attention.TorchNames, attention.FlamingoNames, attention.BERTNames, attention.CLIPNames} {
		c, err := m.WithNames(names)
		require.NoError(t, err)
		back, err := c.WithNames(attention.CLIPNames)
		require.NoError(t, err)
		assert.Equal(t, vlm.ParamMap(m)["q_proj.weight"].Value, vlm.ParamMap(back)["q_proj.weight"].Value)
		for _, mm := range []*attention.MultiHead{c, back} {
			got, err := mm.Self(nil, x, nil, o)
			require.NoError(t, err)
			testutil.Close(t, "self "+names.Out, got, wantSelf)
			mem, err := mm.Memory(nil, ctx)
			require.NoError(t, err)
			got, err = mm.Cross(nil, x, mem, oc)
			require.NoError(t, err)
			testutil.Close(t, "cross "+names.Out, got, wantCross)
		}
	}
	names := []string{}
	for _, np := range vlm.Params(must(m.WithNames(attention.TorchNames))) {
		names = append(names, np.Name)
	}
	assert.Equal(t, []string{"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"}, names)
	wide, err := attention.NewMultiHead(vlm.NewRand(1), attention.Config{Dim: 12, Heads: 3, KVDim: 7})
	require.NoError(t, err)
	_, err = wide.WithNames(attention.TorchNames)
	assert.ErrorIs(t, err, vlm.ErrConfig)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestParamNames(t *testing.T) {
	c := attention.Config{Dim: 8, Heads: 2, Hidden: 16}
	cross := c
	cross.KVDim = 6
	hfCross := cross
	hfCross.Names = attention.BLIP2Names
	cases := []struct {
		name string
		m    vlm.Module
		want []string
	}{
		{"BERT layer (LAVIS, HF BERT)", must(attention.NewBERTLayer(vlm.NewRand(1), c)), []string{
			"attention.output.LayerNorm.bias", "attention.output.LayerNorm.weight", "attention.output.dense.bias", "attention.output.dense.weight",
			"attention.self.key.bias", "attention.self.key.weight", "attention.self.query.bias", "attention.self.query.weight",
			"attention.self.value.bias", "attention.self.value.weight",
			"intermediate.dense.bias", "intermediate.dense.weight", "output.LayerNorm.bias", "output.LayerNorm.weight", "output.dense.bias", "output.dense.weight"}},
		{"Q-Former cross-attention (HF BLIP-2)", must(attention.NewBERTAttention(vlm.NewRand(1), hfCross, "crossattention")), []string{
			"crossattention.attention.key.bias", "crossattention.attention.key.weight", "crossattention.attention.query.bias", "crossattention.attention.query.weight",
			"crossattention.attention.value.bias", "crossattention.attention.value.weight",
			"crossattention.output.LayerNorm.bias", "crossattention.output.LayerNorm.weight", "crossattention.output.dense.bias", "crossattention.output.dense.weight"}},
		{"Q-Former query FFN", must(attention.NewBERTFeedForward(vlm.NewRand(1), c, "_query")), []string{
			"intermediate_query.dense.bias", "intermediate_query.dense.weight", "output_query.LayerNorm.bias", "output_query.LayerNorm.weight",
			"output_query.dense.bias", "output_query.dense.weight"}},
		{"CLIP layer", must(attention.NewCLIPLayer(vlm.NewRand(1), c)), []string{
			"layer_norm1.bias", "layer_norm1.weight", "layer_norm2.bias", "layer_norm2.weight", "mlp.fc1.bias", "mlp.fc1.weight", "mlp.fc2.bias", "mlp.fc2.weight",
			"self_attn.k_proj.bias", "self_attn.k_proj.weight", "self_attn.out_proj.bias", "self_attn.out_proj.weight",
			"self_attn.q_proj.bias", "self_attn.q_proj.weight", "self_attn.v_proj.bias", "self_attn.v_proj.weight"}},
		{"decoder layer with cross-attention", must(attention.NewDecoderLayer(vlm.NewRand(1), cross, true)), []string{
			"encoder_attn.k_proj.bias", "encoder_attn.k_proj.weight", "encoder_attn.out_proj.bias", "encoder_attn.out_proj.weight",
			"encoder_attn.q_proj.bias", "encoder_attn.q_proj.weight", "encoder_attn.v_proj.bias", "encoder_attn.v_proj.weight",
			"encoder_attn_layer_norm.bias", "encoder_attn_layer_norm.weight",
			"fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight", "final_layer_norm.bias", "final_layer_norm.weight",
			"self_attn.k_proj.bias", "self_attn.k_proj.weight", "self_attn.out_proj.bias", "self_attn.out_proj.weight",
			"self_attn.q_proj.bias", "self_attn.q_proj.weight", "self_attn.v_proj.bias", "self_attn.v_proj.weight",
			"self_attn_layer_norm.bias", "self_attn_layer_norm.weight"}},
		{"Flamingo attention", must(attention.NewMultiHead(vlm.NewRand(1), attention.Config{Dim: 8, Heads: 2, HeadDim: 4, KVDim: 6, NoBias: true, Names: attention.FlamingoNames})), []string{
			"to_kv.weight", "to_out.weight", "to_q.weight"}},
		{"Show-Attend-Tell", must(attention.NewAdditive(vlm.NewRand(1), 6, 4, 3, vlm.ActReLU)), []string{
			"decoder_att.bias", "decoder_att.weight", "encoder_att.bias", "encoder_att.weight", "full_att.bias", "full_att.weight"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { assert.Equal(t, c.want, vlm.ParamNames(c.m)) })
	}
}

// TestPaddedBatchMatchesRows runs a padded batch and each sequence alone,
// unpadded, with left and right padding, through a bidirectional encoder
// layer and a causal decoder layer.
func TestPaddedBatchMatchesRows(t *testing.T) {
	const d, tt = 16, 5
	c := attention.Config{Dim: d, Heads: 4, Hidden: 24, KVDim: 10}
	bert := must(attention.NewBERTLayer(vlm.NewRand(1), c))
	clip := must(attention.NewCLIPLayer(vlm.NewRand(2), c))
	dec := must(attention.NewDecoderLayer(vlm.NewRand(3), c, true))
	for i, m := range []vlm.Module{bert, clip, dec} {
		randomize(m, uint64(10+i))
	}
	media := vlm.RandN(vlm.NewRand(7), 1, 2, 3, 10)
	lengths := []int{5, 3}
	x := vlm.RandN(vlm.NewRand(8), 1, 2, tt, d)
	type layer struct {
		name string
		run  func(x *vlm.Tensor, o *attention.Options, media *vlm.Tensor) *vlm.Tensor
	}
	layers := []layer{
		{"BERT post-norm, −10000", func(x *vlm.Tensor, o *attention.Options, _ *vlm.Tensor) *vlm.Tensor {
			o.Fill = attention.FillMinus10000
			return must(bert.Forward(nil, x, o))
		}},
		{"CLIP pre-norm, causal", func(x *vlm.Tensor, o *attention.Options, _ *vlm.Tensor) *vlm.Tensor {
			o.Causal = true
			return must(clip.Forward(nil, x, o))
		}},
		{"decoder with cross-attention", func(x *vlm.Tensor, o *attention.Options, media *vlm.Tensor) *vlm.Tensor {
			return must(dec.Forward(nil, x, nil, o, must(dec.Memory(nil, media)), nil))
		}},
	}
	for _, side := range []attention.Side{attention.Right, attention.Left} {
		for _, l := range layers {
			t.Run(map[attention.Side]string{attention.Right: "right/", attention.Left: "left/"}[side]+l.name, func(t *testing.T) {
				batch := l.run(x, &attention.Options{Mask: attention.Lengths(lengths, tt, side)}, media)
				require.NoError(t, vlm.CheckFinite("padded output", batch))
				for b, n := range lengths {
					start := 0
					if side == attention.Left {
						start = tt - n
					}
					row := vlm.Slice(nil, vlm.Slice(nil, x, 0, b, b+1), 1, start, start+n)
					alone := l.run(row, &attention.Options{}, vlm.Slice(nil, media, 0, b, b+1))
					got := vlm.Slice(nil, vlm.Slice(nil, batch, 0, b, b+1), 1, start, start+n)
					testutil.Close(t, "sequence", got, alone)
				}
			})
		}
	}
}

// TestCacheMatchesFullPass decodes a left-padded batch through two
// decoder layers with cross-attention, first 3 positions then one at a
// time, and compares outputs and gradients with the full causal pass.
func TestCacheMatchesFullPass(t *testing.T) {
	const d, tt = 16, 6
	c := attention.Config{Dim: d, Heads: 4, Hidden: 24, KVDim: 10}
	var layers []*attention.DecoderLayer
	for i := range 2 {
		l := must(attention.NewDecoderLayer(vlm.NewRand(uint64(i)), c, true))
		randomize(l, uint64(20+i))
		layers = append(layers, l)
	}
	stack := vlm.Modules{{Name: "0", Module: layers[0]}, {Name: "1", Module: layers[1]}}
	x := vlm.RandN(vlm.NewRand(1), 1, 2, tt, d)
	media := vlm.RandN(vlm.NewRand(2), 1, 2, 3, 10)
	keep := attention.Lengths([]int{6, 4}, tt, attention.Left).Tensor().Reshape(2, tt)
	r := vlm.RandN(vlm.NewRand(3), 1, 2, tt, d)

	run := func(tp *vlm.Tape, steps []int) *vlm.Tensor {
		mems := make([]*attention.Memory, len(layers))
		for i, l := range layers {
			mems[i] = must(l.Memory(tp, media))
		}
		caches := make([]attention.Cache, len(layers))
		var outs []*vlm.Tensor
		at := 0
		for _, n := range steps {
			h := vlm.Slice(tp, x, 1, at, at+n)
			o := &attention.Options{Mask: attention.Padding(vlm.Slice(nil, keep, 1, 0, at+n))}
			for i, l := range layers {
				h = must(l.Forward(tp, h, &caches[i], o, mems[i], nil))
			}
			outs = append(outs, h)
			at += n
		}
		assert.Equal(t, tt, caches[0].Len())
		return vlm.Concat(tp, 1, outs...)
	}
	full := run(nil, []int{tt})
	inc := run(nil, []int{3, 1, 1, 1})
	testutil.Close(t, "incremental output", inc, full)

	grads := func(steps []int) (map[string]*vlm.Tensor, *vlm.Tensor) {
		vlm.ZeroGrad(stack)
		tp := vlm.NewTape()
		tp.Watch(x)
		tp.Watch(media)
		y := run(tp, steps)
		require.NoError(t, tp.Backward(vlm.Sum(tp, vlm.Mul(tp, y, r))))
		g := map[string]*vlm.Tensor{"x": tp.Grad(x).Clone(), "media": tp.Grad(media).Clone()}
		for _, np := range vlm.Params(stack) {
			g[np.Name] = np.Grad.Clone()
		}
		return g, y
	}
	gFull, yFull := grads([]int{tt})
	gInc, yInc := grads([]int{3, 1, 1, 1})
	testutil.Close(t, "taped incremental output", yInc, yFull)
	for name, want := range gFull {
		testutil.Close(t, "d"+name, gInc[name], want)
	}
}

func TestCacheSelect(t *testing.T) {
	m := must(attention.NewMultiHead(vlm.NewRand(1), attention.Config{Dim: 8, Heads: 2}))
	x := vlm.RandN(vlm.NewRand(2), 1, 2, 3, 8)
	var c attention.Cache
	_ = must(m.Self(nil, x, &c, &attention.Options{Causal: true}))
	require.NoError(t, c.Select([]int{1, 1}))
	// Both entries now continue sequence 1.
	next := vlm.RandN(vlm.NewRand(3), 1, 1, 1, 8)
	y := must(m.Self(nil, vlm.Concat(nil, 0, next, next), &c, &attention.Options{Causal: true}))
	var c1 attention.Cache
	_ = must(m.Self(nil, vlm.Slice(nil, x, 0, 1, 2), &c1, &attention.Options{Causal: true}))
	want := must(m.Self(nil, next, &c1, &attention.Options{Causal: true}))
	testutil.Close(t, "entry 0", vlm.Slice(nil, y, 0, 0, 1), want)
	testutil.Close(t, "entry 1", vlm.Slice(nil, y, 0, 1, 2), want)
	assert.ErrorIs(t, c.Select([]int{2}), vlm.ErrInput)
	c.Reset()
	assert.Zero(t, c.Len())
}

func TestDropoutOnTrainingTapeOnly(t *testing.T) {
	rng := vlm.NewRand(1)
	q, k, v := vlm.RandN(rng, 1, 1, 2, 8, 4), vlm.RandN(rng, 1, 1, 2, 8, 4), vlm.RandN(rng, 1, 1, 2, 8, 4)
	r := vlm.RandN(rng, 1, 1, 2, 8, 4)
	o := &attention.Options{Dropout: 0.5}
	plain := attention.ScaledDotProduct(nil, q, k, v, nil)
	assert.Equal(t, plain.Data, attention.ScaledDotProduct(vlm.NewTape(), q, k, v, o).Data, "no dropout on an evaluation tape")

	// A training tape of a fixed seed draws the same dropout mask every
	// time, so the loss is a deterministic function of q, k, v that finite
	// differences can check.
	loss := func(withTape bool) (*vlm.Tape, *vlm.Tensor) {
		tp := vlm.NewTrainingTape(7)
		if withTape {
			for _, x := range []*vlm.Tensor{q, k, v} {
				tp.Watch(x)
			}
		}
		y := attention.ScaledDotProduct(tp, q, k, v, o)
		return tp, vlm.Sum(tp, vlm.Mul(tp, y, r))
	}
	tp, l := loss(true)
	require.NoError(t, tp.Backward(l))
	_, again := loss(false)
	assert.Equal(t, l.Data, again.Data, "same seed, same mask")
	assert.NotEqual(t, vlm.Sum(nil, vlm.Mul(nil, plain, r)).Data, l.Data, "dropout changed the output")
	for _, x := range []*vlm.Tensor{q, k, v} {
		g := tp.Grad(x)
		for _, i := range []int{0, 5, 17, 42, 63} {
			orig := x.Data[i]
			x.Data[i] = orig + 1e-2
			_, up := loss(false)
			x.Data[i] = orig - 1e-2
			_, down := loss(false)
			x.Data[i] = orig
			num := (float64(up.Data[0]) - float64(down.Data[0])) / 2e-2
			assert.InDelta(t, num, g.Data[i], 2e-3+1e-2*math.Abs(num))
		}
	}
}

func TestConcurrentInference(t *testing.T) {
	// One model, many goroutines, nil tapes: run with -race.
	c := attention.Config{Dim: 16, Heads: 4, Hidden: 32, KVDim: 12}
	enc := must(attention.NewCLIPLayer(vlm.NewRand(1), c))
	dec := must(attention.NewDecoderLayer(vlm.NewRand(2), c, true))
	add := must(attention.NewAdditive(vlm.NewRand(3), 12, 16, 8, vlm.ActReLU))
	media := vlm.RandN(vlm.NewRand(4), 1, 2, 5, 12)
	mem := must(dec.Memory(nil, media)) // shared, read-only
	keys := must(add.Keys(nil, media))
	x := vlm.RandN(vlm.NewRand(5), 1, 2, 7, 16)
	run := func() []*vlm.Tensor {
		var probs attention.Probs
		y := must(enc.Forward(nil, x, &attention.Options{Probs: &probs}))
		var cache attention.Cache
		z := must(dec.Forward(nil, vlm.Slice(nil, x, 1, 0, 4), &cache, nil, mem, nil))
		z2 := must(dec.Forward(nil, vlm.Slice(nil, x, 1, 4, 7), &cache, nil, mem, nil))
		ctx, _, err := add.Forward(nil, media, keys, vlm.Slice(nil, x, 1, 0, 1).Reshape(2, 16))
		if err != nil {
			panic(err)
		}
		return []*vlm.Tensor{y, probs[0], z, z2, ctx}
	}
	want := run()
	var wg sync.WaitGroup
	got := make([][]*vlm.Tensor, 8)
	for i := range got {
		wg.Go(func() { got[i] = run() })
	}
	wg.Wait()
	for _, g := range got {
		for i := range want {
			assert.Equal(t, want[i].Data, g[i].Data)
		}
	}
}

func TestErrors(t *testing.T) {
	c := attention.Config{Dim: 8, Heads: 2, KVDim: 6}
	m := must(attention.NewMultiHead(vlm.NewRand(1), c))
	dec := must(attention.NewDecoderLayer(vlm.NewRand(1), c, false))
	x := vlm.Zeros(2, 3, 8)
	mem := must(m.Memory(nil, vlm.Zeros(2, 4, 6)))
	cases := []struct {
		name string
		err  error
		kind error
	}{
		{"bad heads", second(attention.NewMultiHead(nil, attention.Config{Dim: 8, Heads: 3})), vlm.ErrConfig},
		{"bad activation", second(attention.NewCLIPLayer(nil, attention.Config{Dim: 8, Heads: 2, Act: "swish"})), vlm.ErrConfig},
		{"bad dropout", second(attention.NewBERTLayer(nil, attention.Config{Dim: 8, Heads: 2, Dropout: 1})), vlm.ErrConfig},
		{"fused QKV with wider keys", second(attention.NewMultiHead(nil, attention.Config{Dim: 8, Heads: 2, KVDim: 6, Names: attention.TorchNames})), vlm.ErrConfig},
		{"self-attention with wider keys", second(m.Self(nil, x, nil, nil)), vlm.ErrConfig},
		{"wrong context width", second(m.Memory(nil, vlm.Zeros(2, 4, 8))), vlm.ErrShape},
		{"wrong query width", second(m.Cross(nil, vlm.Zeros(2, 3, 6), mem, nil)), vlm.ErrShape},
		{"memory of another batch", second(m.Cross(nil, vlm.Zeros(1, 3, 8), mem, nil)), vlm.ErrShape},
		{"mask of wrong key length", second(m.Cross(nil, x, mem, &attention.Options{Mask: attention.Causal(3, 3)})), vlm.ErrShape},
		{"mask of wrong batch", second(m.Cross(nil, x, mem, &attention.Options{Mask: attention.Lengths([]int{1, 1, 1}, 4, attention.Right)})), vlm.ErrShape},
		{"bias of wrong shape", second(m.Cross(nil, x, mem, &attention.Options{Bias: vlm.Zeros(5, 4)})), vlm.ErrShape},
		{"unknown fill", second(m.Cross(nil, x, mem, &attention.Options{Fill: 9})), vlm.ErrConfig},
		{"row mask with keys", second(m.Cross(nil, x, mem, &attention.Options{KeepRows: attention.Causal(3, 4)})), vlm.ErrShape},
		{"memory for a decoder without cross-attention", second(dec.Forward(nil, x, nil, nil, mem, nil)), vlm.ErrInput},
		{"decoder input width", second(dec.Forward(nil, vlm.Zeros(2, 3, 5), nil, nil, nil, nil)), vlm.ErrShape},
		{"cache of another batch", func() error {
			s := must(attention.NewMultiHead(nil, attention.Config{Dim: 8, Heads: 2}))
			var cache attention.Cache
			_ = must(s.Self(nil, x, &cache, nil))
			return second(s.Self(nil, vlm.Zeros(1, 1, 8), &cache, nil))
		}(), vlm.ErrShape},
		{"additive state width", func() error {
			a := must(attention.NewAdditive(nil, 6, 4, 3, vlm.ActTanh))
			_, _, err := a.Forward(nil, vlm.Zeros(2, 5, 6), nil, vlm.Zeros(2, 5))
			return err
		}(), vlm.ErrShape},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Error(t, c.err)
			assert.True(t, errors.Is(c.err, c.kind), "%v is not %v", c.err, c.kind)
		})
	}
	assert.Panics(t, func() {
		attention.ScaledDotProduct(nil, vlm.Zeros(1, 2, 3, 4), vlm.Zeros(1, 2, 3, 5), vlm.Zeros(1, 2, 3, 4), nil)
	})
}

func second[T any](_ T, err error) error { return err }
