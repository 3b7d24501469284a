package encoder

import (
	"github.com/govlm/vlm"
	"github.com/govlm/vlm/internal/kernels"
)

// Pooling over channels-last images x [B, H, W, C]. The output size is
// PyTorch's without ceil_mode: OH = floor((H + 2·padding − kernel)/stride)
// + 1, likewise OW. Shapes that cannot fit panic with an ErrShape
// *vlm.Error (callers validate first).

func poolWindow(op string, x *vlm.Tensor, kernel, stride, padding int) kernels.Window {
	if x.Rank() != 4 {
		vlm.Panicf(vlm.ErrShape, "%s: input %v, want [B, H, W, C]", op, x.Shape)
	}
	if kernel < 1 || stride < 1 || padding < 0 || 2*padding > kernel {
		vlm.Panicf(vlm.ErrConfig, "%s: kernel %d, stride %d, padding %d (want kernel, stride >= 1 and padding <= kernel/2)", op, kernel, stride, padding)
	}
	g := kernels.NewWindow(x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3], kernel, kernel, stride, stride, padding, padding)
	if g.OH < 1 || g.OW < 1 {
		vlm.Panicf(vlm.ErrShape, "%s: window %d with padding %d does not fit input %v", op, kernel, padding, x.Shape)
	}
	return g
}

// MaxPool2d returns the maximum of each kernel×kernel window of x
// [B, H, W, C] moved by stride, with implicit −Inf padding
// (nn.MaxPool2d): [B, OH, OW, C]. The gradient goes to the first maximum
// of each window.
func MaxPool2d(tp *vlm.Tape, x *vlm.Tensor, kernel, stride, padding int) *vlm.Tensor {
	g := poolWindow("MaxPool2d", x, kernel, stride, padding)
	y := vlm.Zeros(g.B, g.OH, g.OW, g.C)
	arg := make([]int32, y.Size())
	kernels.MaxPool(y.Data, arg, x.Data, g)
	if tp.NeedsGrad(x) {
		tp.Record(y, func(dy *vlm.Tensor) { kernels.MaxPoolBackward(tp.GradOf(x).Data, dy.Data, arg) })
	}
	return y
}

// AvgPool2d returns the mean of each kernel×kernel window of x
// [B, H, W, C] moved by stride, with zero padding (nn.AvgPool2d):
// [B, OH, OW, C]. countPad selects PyTorch's count_include_pad (its
// default, true): whether padded positions count in the divisor.
func AvgPool2d(tp *vlm.Tape, x *vlm.Tensor, kernel, stride, padding int, countPad bool) *vlm.Tensor {
	g := poolWindow("AvgPool2d", x, kernel, stride, padding)
	y := vlm.Zeros(g.B, g.OH, g.OW, g.C)
	kernels.AvgPool(y.Data, x.Data, g, countPad)
	if tp.NeedsGrad(x) {
		tp.Record(y, func(dy *vlm.Tensor) { kernels.AvgPoolBackward(tp.GradOf(x).Data, dy.Data, g, countPad) })
	}
	return y
}

// AdaptiveAvgPool2d returns the mean of x [B, H, W, C] over an oh×ow grid
// of bins (nn.AdaptiveAvgPool2d((oh, ow))): [B, oh, ow, C]. Output cell i
// of an axis of size n covers input [floor(i·n/oh), ceil((i+1)·n/oh)), so
// cells overlap when oh > n (the Show-Attend-Tell encoder pools ResNet's
// 8×8 grid up to 14×14 this way).
func AdaptiveAvgPool2d(tp *vlm.Tape, x *vlm.Tensor, oh, ow int) *vlm.Tensor {
	if x.Rank() != 4 || x.Shape[1] < 1 || x.Shape[2] < 1 {
		vlm.Panicf(vlm.ErrShape, "AdaptiveAvgPool2d: input %v, want [B, H, W, C] with H, W >= 1", x.Shape)
	}
	if oh < 1 || ow < 1 {
		vlm.Panicf(vlm.ErrConfig, "AdaptiveAvgPool2d: output size %dx%d", oh, ow)
	}
	b, h, w, c := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	y := vlm.Zeros(b, oh, ow, c)
	kernels.AdaptiveAvgPool(y.Data, x.Data, b, h, w, c, oh, ow)
	if tp.NeedsGrad(x) {
		tp.Record(y, func(dy *vlm.Tensor) {
			kernels.AdaptiveAvgPoolBackward(tp.GradOf(x).Data, dy.Data, b, h, w, c, oh, ow)
		})
	}
	return y
}
