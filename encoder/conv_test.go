package encoder

import (
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Golden tests against PyTorch 1.13 (testdata/gen/encoder.py).

func TestGoldenConv2d(t *testing.T) {
	g := testutil.LoadGolden(t, "encoder/testdata/ops.safetensors")
	for _, c := range []struct {
		tag             string
		stride, padding int
		bias            bool
	}{
		{"conv3x3", 1, 1, true},
		{"conv_stride2", 2, 1, true},
		{"conv_nopad", 2, 0, false},
		{"conv1x1", 1, 0, true},
		{"conv5x5pad2", 1, 2, true},
	} {
		t.Run(c.tag, func(t *testing.T) {
			conv := &Conv2d{Weight: vlm.NewParam(g.T(c.tag + ".weight")), Stride: c.stride, Padding: c.padding}
			if c.bias {
				conv.Bias = vlm.NewParam(g.T(c.tag + ".bias"))
			}
			x := g.T(c.tag + ".x")
			tp := vlm.NewTape()
			tp.Watch(x)
			y := conv.Forward(tp, x)
			oh, ow := conv.OutSize(x.Shape[1], x.Shape[2])
			assert.Equal(t, []int{x.Shape[0], oh, ow, conv.Out()}, y.Shape)
			require.NoError(t, tp.Backward(vlm.Sum(tp, vlm.Mul(tp, y, g.T(c.tag+".r")))))
			testutil.Close(t, c.tag+".y", y, g.T(c.tag+".y"))
			testutil.Close(t, c.tag+".dx", tp.Grad(x), g.T(c.tag+".dx"))
			testutil.Close(t, c.tag+".dweight", conv.Weight.Grad, g.T(c.tag+".dweight"))
			if c.bias {
				testutil.Close(t, c.tag+".dbias", conv.Bias.Grad, g.T(c.tag+".dbias"))
			}
		})
	}
}

func TestGoldenPatchify(t *testing.T) {
	g := testutil.LoadGolden(t, "encoder/testdata/ops.safetensors")
	conv := &Conv2d{Weight: vlm.NewParam(g.T("patch.weight")), Stride: 4}
	x := g.T("patch.x")
	tp := vlm.NewTape()
	tp.Watch(x)
	y := conv.Patchify(tp, x)
	require.NoError(t, tp.Backward(vlm.Sum(tp, vlm.Mul(tp, y, g.T("patch.r")))))
	testutil.Close(t, "patch.y", y, g.T("patch.y"))
	testutil.Close(t, "patch.dx", tp.Grad(x), g.T("patch.dx"))
	testutil.Close(t, "patch.dweight", conv.Weight.Grad, g.T("patch.dweight"))
}

func TestGoldenPooling(t *testing.T) {
	g := testutil.LoadGolden(t, "encoder/testdata/ops.safetensors")
	for _, c := range []struct {
		tag string
		f   func(tp *vlm.Tape, x *vlm.Tensor) *vlm.Tensor
	}{
		{"maxpool2", func(tp *vlm.Tape, x *vlm.Tensor) *vlm.Tensor { return MaxPool2d(tp, x, 2, 2, 0) }},
		{"maxpool3s2p1", func(tp *vlm.Tape, x *vlm.Tensor) *vlm.Tensor { return MaxPool2d(tp, x, 3, 2, 1) }},
		{"avgpool2", func(tp *vlm.Tape, x *vlm.Tensor) *vlm.Tensor { return AvgPool2d(tp, x, 2, 2, 0, true) }},
		{"avgpool3s2p1", func(tp *vlm.Tape, x *vlm.Tensor) *vlm.Tensor { return AvgPool2d(tp, x, 3, 2, 1, true) }},
		{"avgpool3s2p1_nopad", func(tp *vlm.Tape, x *vlm.Tensor) *vlm.Tensor { return AvgPool2d(tp, x, 3, 2, 1, false) }},
		{"adaptive4x3", func(tp *vlm.Tape, x *vlm.Tensor) *vlm.Tensor { return AdaptiveAvgPool2d(tp, x, 4, 3) }},
		{"adaptive14", func(tp *vlm.Tape, x *vlm.Tensor) *vlm.Tensor { return AdaptiveAvgPool2d(tp, x, 14, 14) }},
	} {
		t.Run(c.tag, func(t *testing.T) {
			x := g.T("pool.x")
			tp := vlm.NewTape()
			tp.Watch(x)
			y := c.f(tp, x)
			require.NoError(t, tp.Backward(vlm.Sum(tp, vlm.Mul(tp, y, g.T(c.tag+".r")))))
			testutil.Close(t, c.tag+".y", y, g.T(c.tag+".y"))
			testutil.Close(t, c.tag+".dx", tp.Grad(x), g.T(c.tag+".dx"))
		})
	}
}

// projected returns sum(y ⊙ r) for a fixed random r, so that every output
// entry matters to the checked scalar.
func projected(tp *vlm.Tape, y *vlm.Tensor) *vlm.Tensor {
	return vlm.Sum(tp, vlm.Mul(tp, y, vlm.RandN(vlm.NewRand(99), 1, y.Shape...)))
}

type gradCase struct {
	name string
	m    vlm.Module // parameters to check besides x, or nil
	x    *vlm.Tensor
	f    func(tp *vlm.Tape, x *vlm.Tensor) *vlm.Tensor
}

func TestConvPoolGradients(t *testing.T) {
	rng := vlm.NewRand(5)
	// Distinct, well separated values keep max pooling away from ties,
	// where finite differences are meaningless.
	distinct := func(shape ...int) *vlm.Tensor {
		x := vlm.Zeros(shape...)
		for i, j := range rng.Perm(x.Size()) {
			x.Data[i] = float32(j)*0.1 - 2
		}
		return x
	}
	var cases []gradCase
	for _, c := range []struct {
		name                   string
		in, out, k, s, p, h, w int
		bias                   bool
	}{
		{"Conv2d3x3", 3, 4, 3, 1, 1, 5, 6, true},
		{"Conv2dStride2", 2, 3, 3, 2, 1, 7, 6, false},
		{"Conv2d1x1", 4, 2, 1, 1, 0, 3, 3, true},
		{"Conv2d2x2Stride2", 2, 2, 2, 2, 0, 5, 4, true},
	} {
		conv := NewConv2d(rng, c.in, c.out, c.k, c.s, c.p, c.bias)
		cases = append(cases, gradCase{c.name, conv, vlm.RandN(rng, 1, 2, c.h, c.w, c.in), conv.Forward})
	}
	pe := NewConv2d(rng, 3, 4, 3, 3, 0, true)
	cases = append(cases, []gradCase{
		{"Patchify", pe, vlm.RandN(rng, 1, 2, 3, 7, 6), pe.Patchify},
		{"MaxPool2d", nil, distinct(2, 5, 6, 3), func(tp *vlm.Tape, x *vlm.Tensor) *vlm.Tensor { return MaxPool2d(tp, x, 2, 2, 0) }},
		{"MaxPool2dPadded", nil, distinct(1, 5, 5, 2), func(tp *vlm.Tape, x *vlm.Tensor) *vlm.Tensor { return MaxPool2d(tp, x, 3, 2, 1) }},
		{"AvgPool2d", nil, vlm.RandN(rng, 1, 2, 5, 6, 3), func(tp *vlm.Tape, x *vlm.Tensor) *vlm.Tensor { return AvgPool2d(tp, x, 3, 2, 1, true) }},
		{"AvgPool2dNoPadCount", nil, vlm.RandN(rng, 1, 1, 5, 5, 2), func(tp *vlm.Tape, x *vlm.Tensor) *vlm.Tensor { return AvgPool2d(tp, x, 3, 2, 1, false) }},
		{"AdaptiveDown", nil, vlm.RandN(rng, 1, 2, 7, 5, 2), func(tp *vlm.Tape, x *vlm.Tensor) *vlm.Tensor { return AdaptiveAvgPool2d(tp, x, 3, 2) }},
		{"AdaptiveUp", nil, vlm.RandN(rng, 1, 1, 3, 2, 2), func(tp *vlm.Tape, x *vlm.Tensor) *vlm.Tensor { return AdaptiveAvgPool2d(tp, x, 5, 4) }},
		{"ChannelsLastFirst", nil, vlm.RandN(rng, 1, 2, 3, 4, 5), func(tp *vlm.Tape, x *vlm.Tensor) *vlm.Tensor {
			return vlm.Mul(tp, ChannelsLast(tp, x), ChannelsLast(tp, x))
		}},
	}...)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := vlm.CheckGrad(c.m, func(tp *vlm.Tape) *vlm.Tensor { return projected(tp, c.f(tp, c.x)) },
				&vlm.GradCheckOptions{Inputs: []*vlm.Tensor{c.x}, MaxPerTensor: -1})
			assert.NoError(t, err)
		})
	}
}

func TestChannelsLastRoundTrip(t *testing.T) {
	x := vlm.RandN(vlm.NewRand(1), 1, 2, 3, 4, 5) // [B, C, H, W]
	y := ChannelsLast(nil, x)
	require.Equal(t, []int{2, 4, 5, 3}, y.Shape)
	assert.Equal(t, x.At(1, 2, 3, 4), y.At(1, 3, 4, 2))
	assert.Equal(t, x.Data, ChannelsFirst(nil, y).Data)
}

func TestPoolingByHand(t *testing.T) {
	// One 4x4 single-channel image holding 0..15.
	x := vlm.Zeros(1, 4, 4, 1)
	for i := range x.Data {
		x.Data[i] = float32(i)
	}
	assert.Equal(t, []float32{5, 7, 13, 15}, MaxPool2d(nil, x, 2, 2, 0).Data)
	assert.Equal(t, []float32{2.5, 4.5, 10.5, 12.5}, AvgPool2d(nil, x, 2, 2, 0, true).Data)
	// 3x3 windows, stride 2, padding 1: the top-left window holds 0,1,4,5
	// and five padded positions.
	assert.InDelta(t, 10.0/9, AvgPool2d(nil, x, 3, 2, 1, true).Data[0], 1e-6)
	assert.InDelta(t, 2.5, AvgPool2d(nil, x, 3, 2, 1, false).Data[0], 1e-6)
	// Adaptive 4 -> 3: bins [0,2), [1,3), [2,4) along each axis.
	a := AdaptiveAvgPool2d(nil, x, 3, 3)
	assert.Equal(t, []float32{2.5, 3.5, 4.5, 6.5, 7.5, 8.5, 10.5, 11.5, 12.5}, a.Data)
}

func TestConvByHand(t *testing.T) {
	// A 3x3 all-ones kernel with padding 1 sums each neighbourhood.
	conv := &Conv2d{Weight: vlm.NewParam(vlm.Full(1, 1, 1, 3, 3)), Bias: vlm.NewParam(vlm.Full(0.5, 1)), Stride: 1, Padding: 1}
	x := vlm.Full(1, 1, 3, 3, 1)
	y := conv.Forward(nil, x)
	assert.Equal(t, []float32{4.5, 6.5, 4.5, 6.5, 9.5, 6.5, 4.5, 6.5, 4.5}, y.Data)
}

func TestConvPoolShapeErrors(t *testing.T) {
	conv := NewConv2d(vlm.NewRand(1), 3, 4, 3, 1, 0, true)
	for _, c := range []struct {
		name string
		f    func()
		kind error
	}{
		{"ConvChannels", func() { conv.Forward(nil, vlm.Zeros(1, 5, 5, 2)) }, vlm.ErrShape},
		{"ConvTooSmall", func() { conv.Forward(nil, vlm.Zeros(1, 2, 5, 3)) }, vlm.ErrShape},
		{"ConvRank", func() { conv.Forward(nil, vlm.Zeros(5, 5, 3)) }, vlm.ErrShape},
		{"PatchifyNotPatch", func() { conv.Patchify(nil, vlm.Zeros(1, 3, 6, 6)) }, vlm.ErrConfig},
		{"MaxPoolPadding", func() { MaxPool2d(nil, vlm.Zeros(1, 4, 4, 1), 2, 2, 2) }, vlm.ErrConfig},
		{"AvgPoolTooSmall", func() { AvgPool2d(nil, vlm.Zeros(1, 1, 4, 1), 2, 2, 0, true) }, vlm.ErrShape},
		{"AdaptiveZero", func() { AdaptiveAvgPool2d(nil, vlm.Zeros(1, 4, 4, 1), 0, 2) }, vlm.ErrConfig},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := func() (err error) {
				defer vlm.Recover(&err)
				c.f()
				return nil
			}()
			assert.ErrorIs(t, err, c.kind)
		})
	}
}
