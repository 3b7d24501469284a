package kernels

// Window describes a sliding window over a batch of channels-last images
// x [B, H, W, C]: a KH×KW window moved by SH rows and SW columns over the
// image zero-padded (for pooling: padded with nothing) by PH rows above
// and below and PW columns left and right, giving OH×OW output pixels.
// Convolution and pooling share it.
type Window struct {
	B, H, W, C     int
	KH, KW         int
	SH, SW, PH, PW int
	OH, OW         int
}

// NewWindow fills in the output size floor((H+2·PH-KH)/SH)+1 (likewise
// for the width), PyTorch's rule without ceil_mode; it is 0 when the
// window does not fit.
func NewWindow(b, h, w, c, kh, kw, sh, sw, ph, pw int) Window {
	return Window{
		B: b, H: h, W: w, C: c, KH: kh, KW: kw, SH: sh, SW: sw, PH: ph, PW: pw,
		OH: outSize(h, kh, sh, ph), OW: outSize(w, kw, sw, pw),
	}
}

func outSize(n, k, s, p int) int {
	if n+2*p < k {
		return 0
	}
	return (n+2*p-k)/s + 1
}

// PatchLen returns KH·KW·C, the length of one im2col row.
func (g Window) PatchLen() int { return g.KH * g.KW * g.C }

// Pixels returns B·OH·OW, the number of output pixels.
func (g Window) Pixels() int { return g.B * g.OH * g.OW }

// Identity reports whether im2col would copy x unchanged (a 1×1 window
// with stride 1 and no padding).
func (g Window) Identity() bool {
	return g.KH == 1 && g.KW == 1 && g.SH == 1 && g.SW == 1 && g.PH == 0 && g.PW == 0
}

// Im2Col writes the window of every output pixel of x [B, H, W, C] into
// the rows of cols [B·OH·OW, KH·KW·C], each row in (kh, kw, c) order;
// positions in the padding are zero. A row is KH runs of up to KW·C
// contiguous input values.
func Im2Col(cols, x []float32, g Window) {
	k, rowLen := g.PatchLen(), g.KW*g.C
	for b := range g.B {
		img := x[b*g.H*g.W*g.C : (b+1)*g.H*g.W*g.C]
		for oy := range g.OH {
			for ox := range g.OW {
				row := cols[((b*g.OH+oy)*g.OW+ox)*k:][:k]
				x0 := ox*g.SW - g.PW
				lo, hi := max(0, -x0), min(g.KW, g.W-x0) // kernel columns inside the image
				for i := range g.KH {
					dst := row[i*rowLen : (i+1)*rowLen]
					y := oy*g.SH - g.PH + i
					if y < 0 || y >= g.H || lo >= hi {
						clear(dst)
						continue
					}
					clear(dst[:lo*g.C])
					copy(dst[lo*g.C:hi*g.C], img[(y*g.W+x0+lo)*g.C:(y*g.W+x0+hi)*g.C])
					clear(dst[hi*g.C:])
				}
			}
		}
	}
}

// Col2ImAdd is the adjoint of [Im2Col]: it adds every row of cols
// [B·OH·OW, KH·KW·C] into the input positions it was read from in dx
// [B, H, W, C]; padding positions are dropped.
func Col2ImAdd(dx, cols []float32, g Window) {
	k, rowLen := g.PatchLen(), g.KW*g.C
	for b := range g.B {
		img := dx[b*g.H*g.W*g.C : (b+1)*g.H*g.W*g.C]
		for oy := range g.OH {
			for ox := range g.OW {
				row := cols[((b*g.OH+oy)*g.OW+ox)*k:][:k]
				x0 := ox*g.SW - g.PW
				lo, hi := max(0, -x0), min(g.KW, g.W-x0)
				for i := range g.KH {
					y := oy*g.SH - g.PH + i
					if y < 0 || y >= g.H || lo >= hi {
						continue
					}
					AddTo(img[(y*g.W+x0+lo)*g.C:(y*g.W+x0+hi)*g.C], row[i*rowLen+lo*g.C:i*rowLen+hi*g.C])
				}
			}
		}
	}
}

// ConvWeightToHWC copies a PyTorch convolution weight w [O, C, KH, KW]
// into dst [O, KH, KW, C], the column order of [Im2Col].
func ConvWeightToHWC(dst, w []float32, o, c, kh, kw int) {
	for n := range o {
		for ci := range c {
			for i := range kh {
				for j := range kw {
					dst[((n*kh+i)*kw+j)*c+ci] = w[((n*c+ci)*kh+i)*kw+j]
				}
			}
		}
	}
}

// ConvWeightFromHWCAdd adds src [O, KH, KW, C] into dw [O, C, KH, KW], the
// inverse of [ConvWeightToHWC].
func ConvWeightFromHWCAdd(dw, src []float32, o, c, kh, kw int) {
	for n := range o {
		for ci := range c {
			for i := range kh {
				for j := range kw {
					dw[((n*c+ci)*kh+i)*kw+j] += src[((n*kh+i)*kw+j)*c+ci]
				}
			}
		}
	}
}

// Patchify writes the non-overlapping P×P patches of the channels-first
// images x [B, C, H, W] into cols [B·(H/P)·(W/P), C·P·P]: patches in
// row-major order, each in (c, i, j) order, the layout of a PyTorch
// convolution weight [D, C, P, P]. Rows and columns past the last whole
// patch are ignored, as a convolution with stride P ignores them.
func Patchify(cols, x []float32, b, c, h, w, p int) {
	gh, gw, k := h/p, w/p, c*p*p
	for n := range b {
		for ci := range c {
			plane := x[(n*c+ci)*h*w : (n*c+ci+1)*h*w]
			for py := range gh {
				for i := range p {
					src := plane[(py*p+i)*w:]
					for px := range gw {
						dst := cols[((n*gh+py)*gw+px)*k+(ci*p+i)*p:]
						copy(dst[:p], src[px*p:px*p+p])
					}
				}
			}
		}
	}
}

// UnpatchifyAdd is the adjoint of [Patchify]: it adds cols back into dx
// [B, C, H, W].
func UnpatchifyAdd(dx, cols []float32, b, c, h, w, p int) {
	gh, gw, k := h/p, w/p, c*p*p
	for n := range b {
		for ci := range c {
			plane := dx[(n*c+ci)*h*w : (n*c+ci+1)*h*w]
			for py := range gh {
				for i := range p {
					dst := plane[(py*p+i)*w:]
					for px := range gw {
						src := cols[((n*gh+py)*gw+px)*k+(ci*p+i)*p:]
						AddTo(dst[px*p:px*p+p], src[:p])
					}
				}
			}
		}
	}
}
