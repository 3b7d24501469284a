package encoder

import (
	"math"
	"math/rand/v2"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/internal/kernels"
)

// Conv2d is a 2-D convolution over channels-last images (nn.Conv2d with
// PyTorch's weight layout): Weight [O, C, KH, KW], Bias [O] or nil, the
// same Stride and zero Padding along both axes. Keys: "weight", "bias".
//
// Activations are channels-last, x [B, H, W, C] → y [B, OH, OW, O], so
// that one matrix product covers the whole batch (rows are output pixels)
// and a grid of features comes out as [B, h, w, C] without a transpose.
// OH = floor((H + 2·Padding − KH)/Stride) + 1, likewise OW.
type Conv2d struct {
	Weight  *vlm.Param
	Bias    *vlm.Param
	Stride  int
	Padding int
}

// NewConv2d returns a convolution from in to out channels with a
// kernel×kernel window and PyTorch's default initialisation: weight and
// bias drawn from U(−1/√fan_in, 1/√fan_in), fan_in = in·kernel².
func NewConv2d(rng *rand.Rand, in, out, kernel, stride, padding int, bias bool) *Conv2d {
	bound := float32(1 / math.Sqrt(float64(in*kernel*kernel)))
	c := &Conv2d{
		Weight:  vlm.NewParam(vlm.Uniform(rng, -bound, bound, out, in, kernel, kernel)),
		Stride:  stride,
		Padding: padding,
	}
	if bias {
		c.Bias = vlm.NewParam(vlm.Uniform(rng, -bound, bound, out))
	}
	return c
}

// VisitParams implements vlm.Module.
func (c *Conv2d) VisitParams(prefix string, visit func(string, *vlm.Param)) {
	visit(prefix+"weight", c.Weight)
	if c.Bias != nil {
		visit(prefix+"bias", c.Bias)
	}
}

// In returns the number of input channels C.
func (c *Conv2d) In() int { return c.Weight.Value.Shape[1] }

// Out returns the number of output channels O.
func (c *Conv2d) Out() int { return c.Weight.Value.Shape[0] }

// OutSize returns the output height and width for an h×w input.
func (c *Conv2d) OutSize(h, w int) (oh, ow int) {
	g := c.window(1, h, w)
	return g.OH, g.OW
}

func (c *Conv2d) window(b, h, w int) kernels.Window {
	s := c.Weight.Value.Shape
	return kernels.NewWindow(b, h, w, s[1], s[2], s[3], c.Stride, c.Stride, c.Padding, c.Padding)
}

// Forward maps x [B, H, W, C] to [B, OH, OW, O]. It panics with an
// ErrShape *vlm.Error if x does not fit (callers validate first).
func (c *Conv2d) Forward(tp *vlm.Tape, x *vlm.Tensor) *vlm.Tensor {
	ws := c.Weight.Value.Shape
	if len(ws) != 4 || c.Stride < 1 || c.Padding < 0 {
		vlm.Panicf(vlm.ErrConfig, "Conv2d: weight %v, stride %d, padding %d", ws, c.Stride, c.Padding)
	}
	if x.Rank() != 4 || x.Shape[3] != ws[1] {
		vlm.Panicf(vlm.ErrShape, "Conv2d(%d→%d, %dx%d): input %v, want [B, H, W, %d]", ws[1], ws[0], ws[2], ws[3], x.Shape, ws[1])
	}
	g := c.window(x.Shape[0], x.Shape[1], x.Shape[2])
	if g.OH < 1 || g.OW < 1 {
		vlm.Panicf(vlm.ErrShape, "Conv2d: %dx%d kernel with padding %d does not fit input %v", ws[2], ws[3], c.Padding, x.Shape)
	}
	w := tp.Param(c.Weight)
	var b *vlm.Tensor
	if c.Bias != nil {
		b = tp.Param(c.Bias)
	}
	o, k, m := ws[0], g.PatchLen(), g.Pixels()
	wp := make([]float32, o*k)
	kernels.ConvWeightToHWC(wp, w.Data, o, ws[1], ws[2], ws[3])
	cols := x.Data
	if !g.Identity() {
		cols = make([]float32, m*k)
		kernels.Im2Col(cols, x.Data, g)
	}
	y := vlm.Zeros(g.B, g.OH, g.OW, o)
	kernels.Sgemm(false, true, m, o, k, 1, cols, k, wp, k, 0, y.Data, o)
	if b != nil {
		kernels.AddRows(y.Data, b.Data, m, o)
	}
	if !tp.NeedsGrad(x, w, b) {
		return y
	}
	needX, needW, needB := tp.NeedsGrad(x), tp.NeedsGrad(w), b != nil && tp.NeedsGrad(b)
	tp.Record(y, func(dy *vlm.Tensor) {
		if needX {
			if g.Identity() {
				kernels.Sgemm(false, false, m, k, o, 1, dy.Data, o, wp, k, 1, tp.GradOf(x).Data, k)
			} else {
				dcols := make([]float32, m*k)
				kernels.Sgemm(false, false, m, k, o, 1, dy.Data, o, wp, k, 0, dcols, k)
				kernels.Col2ImAdd(tp.GradOf(x).Data, dcols, g)
			}
		}
		if needW {
			dwp := make([]float32, o*k)
			kernels.Sgemm(true, false, o, k, m, 1, dy.Data, o, cols, k, 0, dwp, k)
			kernels.ConvWeightFromHWCAdd(tp.GradOf(w).Data, dwp, o, ws[1], ws[2], ws[3])
		}
		if needB {
			kernels.SumRows(tp.GradOf(b).Data, dy.Data, m, o)
		}
	})
	return y
}

// Patchify applies c as a patch embedding to channels-first pixels
// [B, C, H, W] and returns the patch features [B, N, O], N = (H/P)·(W/P)
// patches in row-major order: PyTorch's conv(pixels).flatten(2)
// .transpose(1, 2) for a P×P kernel with stride P and no padding, as in
// every ViT. Such a convolution reads each pixel once, so it is a
// rearrangement of the pixels followed by one matrix product. It panics
// with an ErrConfig *vlm.Error unless the kernel is square with side
// Stride and Padding is 0, and with ErrShape if pixels do not fit.
func (c *Conv2d) Patchify(tp *vlm.Tape, pixels *vlm.Tensor) *vlm.Tensor {
	ws := c.Weight.Value.Shape
	if len(ws) != 4 || ws[2] != ws[3] || ws[2] != c.Stride || c.Padding != 0 {
		vlm.Panicf(vlm.ErrConfig, "Conv2d.Patchify: weight %v with stride %d, padding %d is not a patch embedding", ws, c.Stride, c.Padding)
	}
	o, ch, p := ws[0], ws[1], ws[2]
	if pixels.Rank() != 4 || pixels.Shape[1] != ch || pixels.Shape[2] < p || pixels.Shape[3] < p {
		vlm.Panicf(vlm.ErrShape, "Conv2d.Patchify: pixels %v, want [B, %d, H >= %d, W >= %d]", pixels.Shape, ch, p, p)
	}
	b, h, w := pixels.Shape[0], pixels.Shape[2], pixels.Shape[3]
	n, k := (h/p)*(w/p), ch*p*p
	wt := tp.Param(c.Weight)
	var bias *vlm.Tensor
	if c.Bias != nil {
		bias = tp.Param(c.Bias)
	}
	cols := make([]float32, b*n*k)
	kernels.Patchify(cols, pixels.Data, b, ch, h, w, p)
	y := vlm.Zeros(b, n, o)
	kernels.Sgemm(false, true, b*n, o, k, 1, cols, k, wt.Data, k, 0, y.Data, o)
	if bias != nil {
		kernels.AddRows(y.Data, bias.Data, b*n, o)
	}
	if !tp.NeedsGrad(pixels, wt, bias) {
		return y
	}
	needX, needW, needB := tp.NeedsGrad(pixels), tp.NeedsGrad(wt), bias != nil && tp.NeedsGrad(bias)
	tp.Record(y, func(dy *vlm.Tensor) {
		if needX {
			dcols := make([]float32, b*n*k)
			kernels.Sgemm(false, false, b*n, k, o, 1, dy.Data, o, wt.Data, k, 0, dcols, k)
			kernels.UnpatchifyAdd(tp.GradOf(pixels).Data, dcols, b, ch, h, w, p)
		}
		if needW {
			kernels.Sgemm(true, false, o, k, b*n, 1, dy.Data, o, cols, k, 1, tp.GradOf(wt).Data, k)
		}
		if needB {
			kernels.SumRows(tp.GradOf(bias).Data, dy.Data, b*n, o)
		}
	})
	return y
}

// ChannelsLast returns x [B, C, H, W] as [B, H, W, C] (PyTorch's
// permute(0, 2, 3, 1)), the layout of [Conv2d] and the pooling functions.
func ChannelsLast(tp *vlm.Tape, x *vlm.Tensor) *vlm.Tensor {
	if x.Rank() != 4 {
		vlm.Panicf(vlm.ErrShape, "ChannelsLast: input %v, want [B, C, H, W]", x.Shape)
	}
	b, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	y := vlm.Transpose(tp, vlm.Reshape(tp, x, b, c, h*w), 1, 2)
	return vlm.Reshape(tp, y, b, h, w, c)
}

// ChannelsFirst returns x [B, H, W, C] as [B, C, H, W] (permute(0, 3, 1,
// 2)), the inverse of [ChannelsLast].
func ChannelsFirst(tp *vlm.Tape, x *vlm.Tensor) *vlm.Tensor {
	if x.Rank() != 4 {
		vlm.Panicf(vlm.ErrShape, "ChannelsFirst: input %v, want [B, H, W, C]", x.Shape)
	}
	b, h, w, c := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	y := vlm.Transpose(tp, vlm.Reshape(tp, x, b, h*w, c), 1, 2)
	return vlm.Reshape(tp, y, b, c, h, w)
}
