package kernels

import "math"

// MaxPool sets y [B, OH, OW, C] to the maximum of each window of x
// [B, H, W, C] (padding never wins, as PyTorch pads with -Inf) and stores
// in arg the flat index into x of each maximum, for the backward pass. The
// first maximum in window order (rows, then columns) wins ties and a NaN
// wins over any number, as in PyTorch's CPU kernel. Every window must
// overlap the image (padding at most half the window).
func MaxPool(y []float32, arg []int32, x []float32, g Window) {
	c := g.C
	for b := range g.B {
		for oy := range g.OH {
			y0 := oy*g.SH - g.PH
			ylo, yhi := max(y0, 0), min(y0+g.KH, g.H)
			for ox := range g.OW {
				x0 := ox*g.SW - g.PW
				xlo, xhi := max(x0, 0), min(x0+g.KW, g.W)
				o := ((b*g.OH+oy)*g.OW + ox) * c
				yo, ao := y[o:o+c], arg[o:o+c]
				first := int32(((b*g.H+ylo)*g.W + xlo) * c)
				for ch := range yo {
					yo[ch], ao[ch] = float32(math.Inf(-1)), first+int32(ch)
				}
				for yy := ylo; yy < yhi; yy++ {
					for xx := xlo; xx < xhi; xx++ {
						i := ((b*g.H+yy)*g.W + xx) * c
						for ch, v := range x[i : i+c] {
							if v > yo[ch] || math.IsNaN(float64(v)) {
								yo[ch], ao[ch] = v, int32(i+ch)
							}
						}
					}
				}
			}
		}
	}
}

// MaxPoolBackward adds each dy to the dx entry that won its window.
func MaxPoolBackward(dx, dy []float32, arg []int32) {
	for i, g := range dy {
		dx[arg[i]] += g
	}
}

// AvgPool sets y [B, OH, OW, C] to the mean of each window of x
// [B, H, W, C] with PyTorch's divisor: the window size clipped to the
// padded image when countPad (count_include_pad=True, the default), the
// number of image pixels in the window otherwise.
func AvgPool(y, x []float32, g Window, countPad bool) {
	clear(y)
	avgPool(g, countPad, func(o, i int, s float32) { Axpy(s, x[i:i+g.C], y[o:o+g.C]) })
}

// AvgPoolBackward adds to dx [B, H, W, C] the gradient of [AvgPool] for
// dy [B, OH, OW, C].
func AvgPoolBackward(dx, dy []float32, g Window, countPad bool) {
	avgPool(g, countPad, func(o, i int, s float32) { Axpy(s, dy[o:o+g.C], dx[i:i+g.C]) })
}

// avgPool calls f(o, i, 1/divisor) for every output pixel (flat offset o
// into y) and every image pixel (flat offset i into x) of its window.
func avgPool(g Window, countPad bool, f func(o, i int, s float32)) {
	c := g.C
	for b := range g.B {
		for oy := range g.OH {
			y0 := oy*g.SH - g.PH
			y1 := min(y0+g.KH, g.H+g.PH)
			ylo, yhi := max(y0, 0), min(y1, g.H)
			for ox := range g.OW {
				x0 := ox*g.SW - g.PW
				x1 := min(x0+g.KW, g.W+g.PW)
				xlo, xhi := max(x0, 0), min(x1, g.W)
				n := (yhi - ylo) * (xhi - xlo)
				if countPad {
					n = (y1 - y0) * (x1 - x0)
				}
				if n <= 0 {
					continue
				}
				s := 1 / float32(n)
				o := ((b*g.OH+oy)*g.OW + ox) * c
				for yy := ylo; yy < yhi; yy++ {
					for xx := xlo; xx < xhi; xx++ {
						f(o, ((b*g.H+yy)*g.W+xx)*c, s)
					}
				}
			}
		}
	}
}

// AdaptiveBin returns the input range [lo, hi) that output cell i of n
// covers in an axis of size in: lo = floor(i·in/n), hi = ceil((i+1)·in/n)
// (PyTorch's adaptive pooling rule; cells overlap when upsampling).
func AdaptiveBin(i, in, n int) (lo, hi int) {
	return i * in / n, ((i+1)*in + n - 1) / n
}

// AdaptiveAvgPool sets y [B, OH, OW, C] to the mean of x [B, H, W, C]
// over the bins of [AdaptiveBin] along each axis.
func AdaptiveAvgPool(y, x []float32, b, h, w, c, oh, ow int) {
	clear(y)
	adaptive(b, h, w, c, oh, ow, func(o, i int, s float32) { Axpy(s, x[i:i+c], y[o:o+c]) })
}

// AdaptiveAvgPoolBackward adds to dx [B, H, W, C] the gradient of
// [AdaptiveAvgPool] for dy [B, OH, OW, C].
func AdaptiveAvgPoolBackward(dx, dy []float32, b, h, w, c, oh, ow int) {
	adaptive(b, h, w, c, oh, ow, func(o, i int, s float32) { Axpy(s, dy[o:o+c], dx[i:i+c]) })
}

func adaptive(b, h, w, c, oh, ow int, f func(o, i int, s float32)) {
	for n := range b {
		for oy := range oh {
			ylo, yhi := AdaptiveBin(oy, h, oh)
			for ox := range ow {
				xlo, xhi := AdaptiveBin(ox, w, ow)
				s := 1 / float32((yhi-ylo)*(xhi-xlo))
				o := ((n*oh+oy)*ow + ox) * c
				for yy := ylo; yy < yhi; yy++ {
					for xx := xlo; xx < xhi; xx++ {
						f(o, ((n*h+yy)*w+xx)*c, s)
					}
				}
			}
		}
	}
}
