// Command asmgen writes internal/kernels/gemm_amd64.s, the amd64 assembly
// behind kernels.Sgemm, for AVX-512F and for AVX2+FMA: the register-tile
// micro-kernels, the panel packing routines and the matrix-vector kernels;
// with -vec it writes vec_amd64.s, the vectorised elementwise and row
// kernels (activations, softmax and LayerNorm rows, AdamW; see vec.go).
//
// Run it from internal/kernels with go generate. The Go declarations of
// the functions it emits are in gemm_amd64.go; keep the two in step. It
// writes Go assembler by hand rather than through avo so that the module
// needs no generator dependency.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"os"
)

// Register tile sizes: 14 rows by 32 columns (two zmm vectors) for
// AVX-512, 6 by 16 (two ymm vectors) for AVX2. The Go side
// (gemm_amd64.go) relies on the same values.
const (
	mr512  = 14
	mrAVX2 = 6
	nrAVX2 = 16
)

// Flag bits of the micro-kernels' flags argument.
const (
	flagTrans    = 1 // store the tile transposed: tile (r, l) goes to c[l*ldc+r]
	flagBetaZero = 2 // beta == 0: do not read C
)

// gen accumulates the assembly text.
type gen struct{ b bytes.Buffer }

// i emits one instruction.
func (g *gen) i(format string, args ...any) {
	fmt.Fprintf(&g.b, "\t"+format+"\n", args...)
}

// l emits a label.
func (g *gen) l(name string) { fmt.Fprintf(&g.b, "%s:\n", name) }

func (g *gen) comment(format string, args ...any) {
	fmt.Fprintf(&g.b, "\t// "+format+"\n", args...)
}

func (g *gen) blank() { g.b.WriteString("\n") }

func z(i int) string { return fmt.Sprintf("Z%d", i) }
func y(i int) string { return fmt.Sprintf("Y%d", i) }
func x(i int) string { return fmt.Sprintf("X%d", i) }

// maskCX sets mask register k to the low CX bits set; CX must be in 0..16.
// It clobbers AX.
func (g *gen) maskCX(k string) {
	g.i("MOVL $1, AX")
	g.i("SHLL CX, AX")
	g.i("DECL AX")
	g.i("KMOVW AX, %s", k)
}

// transpose16 transposes the 16x16 float32 matrix held one row per
// register in in, using tmp as scratch. It returns the register holding
// each column of the original matrix (all of them are registers of in).
func (g *gen) transpose16(in, tmp [16]string) [16]string {
	for grp := 0; grp < 4; grp++ {
		a, b, c, d := in[4*grp], in[4*grp+1], in[4*grp+2], in[4*grp+3]
		g.i("VUNPCKLPS %s, %s, %s", b, a, tmp[4*grp])
		g.i("VUNPCKHPS %s, %s, %s", b, a, tmp[4*grp+1])
		g.i("VUNPCKLPS %s, %s, %s", d, c, tmp[4*grp+2])
		g.i("VUNPCKHPS %s, %s, %s", d, c, tmp[4*grp+3])
	}
	for grp := 0; grp < 4; grp++ {
		t0, t1, t2, t3 := tmp[4*grp], tmp[4*grp+1], tmp[4*grp+2], tmp[4*grp+3]
		g.i("VUNPCKLPD %s, %s, %s", t2, t0, in[4*grp])
		g.i("VUNPCKHPD %s, %s, %s", t2, t0, in[4*grp+1])
		g.i("VUNPCKLPD %s, %s, %s", t3, t1, in[4*grp+2])
		g.i("VUNPCKHPD %s, %s, %s", t3, t1, in[4*grp+3])
	}
	// Now in[4G+q] holds, in its 128-bit lane L, column 4L+q of rows 4G..4G+3.
	for q := 0; q < 4; q++ {
		g.i("VSHUFF32X4 $0x88, %s, %s, %s", in[4+q], in[q], tmp[q])
		g.i("VSHUFF32X4 $0xdd, %s, %s, %s", in[4+q], in[q], tmp[4+q])
		g.i("VSHUFF32X4 $0x88, %s, %s, %s", in[12+q], in[8+q], tmp[8+q])
		g.i("VSHUFF32X4 $0xdd, %s, %s, %s", in[12+q], in[8+q], tmp[12+q])
	}
	var col [16]string
	for q := 0; q < 4; q++ {
		g.i("VSHUFF32X4 $0x88, %s, %s, %s", tmp[8+q], tmp[q], in[q])
		g.i("VSHUFF32X4 $0xdd, %s, %s, %s", tmp[8+q], tmp[q], in[4+q])
		g.i("VSHUFF32X4 $0x88, %s, %s, %s", tmp[12+q], tmp[4+q], in[8+q])
		g.i("VSHUFF32X4 $0xdd, %s, %s, %s", tmp[12+q], tmp[4+q], in[12+q])
		col[q] = in[q]
		col[8+q] = in[4+q]
		col[4+q] = in[8+q]
		col[12+q] = in[12+q]
	}
	return col
}

// Address of row r of the broadcast operand in the micro-kernels: SI is
// row 0, DI row 9, BX the row stride in bytes, CX, DX and R8 three, five
// and seven times it.
var rowAddr = [mr512]string{
	"(SI)", "(SI)(BX*1)", "(SI)(BX*2)", "(SI)(CX*1)", "(SI)(BX*4)",
	"(SI)(DX*1)", "(SI)(CX*2)", "(SI)(R8*1)", "(SI)(BX*8)",
	"(DI)", "(DI)(BX*1)", "(DI)(BX*2)", "(DI)(CX*1)", "(DI)(BX*4)",
}

// kernelPrologue loads the arguments shared by both micro-kernels:
// AX = k, SI = a, BX = row stride, CX/DX/R8 = 3/5/7 row strides,
// DI = row 9, R9 = k stride of a, R10 = b, R11 = k stride of b (all bytes).
func (g *gen) kernelPrologue() {
	g.i("MOVQ a+8(FP), SI")
	g.i("MOVQ rs+16(FP), BX")
	g.i("SHLQ $2, BX")
	g.i("LEAQ (BX)(BX*2), CX")
	g.i("LEAQ (BX)(BX*4), DX")
	g.i("LEAQ (CX)(BX*4), R8")
	g.i("LEAQ (SI)(BX*8), DI")
	g.i("ADDQ BX, DI")
	g.i("MOVQ ps+24(FP), R9")
	g.i("SHLQ $2, R9")
	g.i("MOVQ b+32(FP), R10")
	g.i("MOVQ bs+40(FP), R11")
	g.i("SHLQ $2, R11")
	g.i("MOVQ k+0(FP), AX")
}

// prefetchC emits prefetches of the first, middle and last byte of each
// row of the C tile, so that its cache misses overlap the k loop. R13 must
// hold nr; it clobbers AX, BX, CX, DX, SI, DI.
func (g *gen) prefetchC(prefix string) {
	g.i("MOVQ c+48(FP), SI")
	g.i("MOVQ ldc+56(FP), DX")
	g.i("SHLQ $2, DX")
	g.i("MOVQ mr+64(FP), CX")
	g.i("MOVQ R13, AX")
	g.i("MOVQ flags+88(FP), DI")
	g.i("TESTQ $%d, DI", flagTrans)
	g.i("JZ %s_pfrows", prefix)
	g.i("XCHGQ AX, CX")
	g.l(prefix + "_pfrows")
	g.comment("CX rows of AX floats: AX = offset of the last byte, BX of the middle")
	g.i("SHLQ $2, AX")
	g.i("DECQ AX")
	g.i("MOVQ AX, BX")
	g.i("SHRQ $1, BX")
	g.l(prefix + "_pf")
	g.i("PREFETCHT0 (SI)")
	g.i("PREFETCHT0 (SI)(BX*1)")
	g.i("PREFETCHT0 (SI)(AX*1)")
	g.i("ADDQ DX, SI")
	g.i("DECQ CX")
	g.i("JNZ %s_pf", prefix)
}

// kloop emits the k loop of one micro-kernel variant: step() is one k
// step; the loop is unrolled four times.
func (g *gen) kloop(prefix string, step func()) {
	g.i("MOVQ AX, R12")
	g.i("SHRQ $2, R12")
	g.i("ANDQ $3, AX")
	g.i("TESTQ R12, R12")
	g.i("JZ %s_tail", prefix)
	g.l(prefix + "_loop4")
	for u := 0; u < 4; u++ {
		step()
	}
	g.i("DECQ R12")
	g.i("JNZ %s_loop4", prefix)
	g.l(prefix + "_tail")
	g.i("TESTQ AX, AX")
	g.i("JZ %s_done", prefix)
	g.l(prefix + "_loop1")
	step()
	g.i("DECQ AX")
	g.i("JNZ %s_loop1", prefix)
	g.l(prefix + "_done")
}

// kernel512 emits gemmKernel512, the 14x32 AVX-512 micro-kernel.
//
// Accumulators: Z(r) holds columns 0..15 of tile row r, Z(14+r) columns
// 16..31. Z28, Z29 hold the b vectors, Z30, Z31 the broadcasts.
func (g *gen) kernel512() {
	g.comment("func gemmKernel512(%s)", "k int, a *float32, rs, ps int, b *float32, bs int, c *float32, ldc int, mr, nr int, alpha, beta float32, flags int, scratch *float32")
	g.i("TEXT ·gemmKernel512(SB), NOSPLIT, $0-104")
	g.comment("K1, K2: the valid columns of the two b vectors.")
	g.i("MOVQ nr+72(FP), R13")
	g.i("MOVQ R13, CX")
	g.i("CMPQ CX, $16")
	g.i("JLE k512_mask0")
	g.i("MOVQ $16, CX")
	g.l("k512_mask0")
	g.maskCX("K1")
	g.i("MOVQ R13, CX")
	g.i("SUBQ $16, CX")
	g.i("JGT k512_mask1")
	g.i("XORL CX, CX")
	g.l("k512_mask1")
	g.maskCX("K2")
	g.prefetchC("k512")
	g.kernelPrologue()
	g.i("MOVQ mr+64(FP), R12")
	g.i("CMPQ R13, $16")
	g.i("JGT k512_two")
	for nv := 1; nv <= 2; nv++ {
		if nv == 2 {
			g.l("k512_two")
		}
		for mr := 1; mr <= mr512; mr++ {
			g.i("CMPQ R12, $%d", mr)
			g.i("JEQ k512_%d_%d", mr, nv)
		}
		g.i("RET") // unreachable for valid mr
	}
	for nv := 1; nv <= 2; nv++ {
		for mr := 1; mr <= mr512; mr++ {
			prefix := fmt.Sprintf("k512_%d_%d", mr, nv)
			g.l(prefix)
			for r := 0; r < mr; r++ {
				g.i("VPXORD %s, %s, %s", z(r), z(r), z(r))
				if nv == 2 {
					g.i("VPXORD %s, %s, %s", z(14+r), z(14+r), z(14+r))
				}
			}
			g.kloop(prefix, func() {
				g.i("VMOVUPS.Z (R10), K1, Z28")
				if nv == 2 {
					g.i("VMOVUPS.Z 64(R10), K2, Z29")
					for r := 0; r < mr; r++ {
						bc := z(30 + r%2)
						g.i("VBROADCASTSS %s, %s", rowAddr[r], bc)
						g.i("VFMADD231PS Z28, %s, %s", bc, z(r))
						g.i("VFMADD231PS Z29, %s, %s", bc, z(14+r))
					}
				} else {
					for r := 0; r < mr; r++ {
						g.i("VFMADD231PS.BCST %s, Z28, %s", rowAddr[r], z(r))
					}
				}
				// Prefetch a and b eight k steps ahead: packed panels stream
				// from L2 and strided b rows cross pages at every step.
				g.i("PREFETCHT0 (SI)(R9*8)")
				g.i("PREFETCHT0 (R10)(R11*8)")
				if nv == 2 {
					g.i("PREFETCHT0 64(R10)(R11*8)")
				}
				g.i("ADDQ R9, SI")
				if mr > 9 {
					g.i("ADDQ R9, DI")
				}
				g.i("ADDQ R11, R10")
			})
			g.i("JMP k512_store")
		}
	}
	g.blank()
	g.l("k512_store")
	g.i("MOVQ flags+88(FP), AX")
	g.i("MOVQ c+48(FP), R10")
	g.i("MOVQ ldc+56(FP), R11")
	g.i("SHLQ $2, R11")
	g.i("MOVQ mr+64(FP), R12")
	g.i("TESTQ $%d, AX", flagTrans)
	g.i("JNZ k512_tstore")
	g.i("VBROADCASTSS alpha+80(FP), Z30")
	g.i("VBROADCASTSS beta+84(FP), Z31")
	g.i("TESTQ $%d, AX", flagBetaZero)
	g.i("JNZ k512_store0")
	for _, beta := range []bool{true, false} {
		if !beta {
			g.l("k512_store0")
		}
		for r := 0; r < mr512; r++ {
			if beta {
				g.i("VMOVUPS.Z (R10), K1, Z28")
				g.i("VMOVUPS.Z 64(R10), K2, Z29")
			}
			g.i("VMULPS Z30, %s, %s", z(r), z(r))
			g.i("VMULPS Z30, %s, %s", z(14+r), z(14+r))
			if beta {
				g.i("VFMADD231PS Z31, Z28, %s", z(r))
				g.i("VFMADD231PS Z31, Z29, %s", z(14+r))
			}
			g.i("VMOVUPS %s, K1, (R10)", z(r))
			g.i("VMOVUPS %s, K2, 64(R10)", z(14+r))
			if r < mr512-1 {
				g.i("DECQ R12")
				g.i("JZ k512_ret")
				g.i("ADDQ R11, R10")
			}
		}
		g.i("JMP k512_ret")
	}
	g.blank()
	g.comment("Transposed store: tile column l goes to row l of c.")
	g.l("k512_tstore")
	g.i("MOVQ R12, CX")
	g.maskCX("K3")
	g.i("MOVQ flags+88(FP), AX")
	g.i("MOVQ scratch+96(FP), DI")
	g.i("MOVQ nr+72(FP), R13")
	g.i("CMPQ R13, $16")
	g.i("JLE k512_tspilled")
	for r := 0; r < mr512; r++ {
		g.i("VMOVUPS %s, %d(DI)", z(14+r), 64*r)
	}
	g.l("k512_tspilled")
	var in, tmp [16]string
	for r := 0; r < 14; r++ {
		in[r] = z(r)
		tmp[r] = z(14 + r)
	}
	in[14], in[15] = "Z28", "Z29"
	tmp[14], tmp[15] = "Z30", "Z31"
	for half := 0; half < 2; half++ {
		if half == 1 {
			for r := 0; r < mr512; r++ {
				g.i("VMOVUPS %d(DI), %s", 64*r, z(r))
			}
		}
		g.i("VPXORD Z28, Z28, Z28")
		g.i("VPXORD Z29, Z29, Z29")
		col := g.transpose16(in, tmp)
		g.i("VBROADCASTSS alpha+80(FP), Z30")
		g.i("VBROADCASTSS beta+84(FP), Z31")
		g.i("TESTQ $%d, AX", flagBetaZero)
		g.i("JNZ k512_tstore0_%d", half)
		for _, beta := range []bool{true, false} {
			if !beta {
				g.l(fmt.Sprintf("k512_tstore0_%d", half))
			}
			for q := 0; q < 16; q++ {
				if beta {
					g.i("VMOVUPS.Z (R10), K3, Z14")
				}
				g.i("VMULPS Z30, %s, %s", col[q], col[q])
				if beta {
					g.i("VFMADD231PS Z31, Z14, %s", col[q])
				}
				g.i("VMOVUPS %s, K3, (R10)", col[q])
				g.i("ADDQ R11, R10")
				g.i("DECQ R13")
				g.i("JZ k512_ret")
			}
			g.i("JMP k512_thalf%d", half+1)
		}
		g.l(fmt.Sprintf("k512_thalf%d", half+1))
	}
	g.l("k512_ret")
	g.i("VZEROUPPER")
	g.i("RET")
	g.blank()
}

// kernelAVX2 emits gemmKernelAVX2, the 6x16 AVX2+FMA micro-kernel.
//
// Accumulators: Y(r) holds columns 0..7 of tile row r, Y(6+r) columns
// 8..15. Y12, Y13 hold the b vectors, Y14 the broadcast and Y15 the mask
// of the last b vector. Three column modes: one masked vector (nr <= 8),
// a full and a masked vector (8 < nr < 16), two full vectors (nr == 16).
func (g *gen) kernelAVX2() {
	g.comment("func gemmKernelAVX2(%s)", "k int, a *float32, rs, ps int, b *float32, bs int, c *float32, ldc int, mr, nr int, alpha, beta float32, flags int, scratch *float32")
	g.i("TEXT ·gemmKernelAVX2(SB), NOSPLIT, $0-104")
	g.comment("Y15: the valid columns of the last b vector.")
	g.i("MOVQ nr+72(FP), R13")
	g.i("MOVQ R13, CX")
	g.i("CMPQ CX, $8")
	g.i("JLE kavx2_mask")
	g.i("SUBQ $8, CX")
	g.l("kavx2_mask")
	g.i("NEGQ CX")
	g.i("LEAQ gemmMaskTab<>+32(SB), AX")
	g.i("VMOVUPS (AX)(CX*4), Y15")
	g.kernelPrologue()
	g.i("MOVQ mr+64(FP), R12")
	modes := []string{"m1", "m2", "f2"}
	g.i("CMPQ R13, $8")
	g.i("JLE kavx2_m1")
	g.i("CMPQ R13, $16")
	g.i("JLT kavx2_m2")
	g.i("JMP kavx2_f2")
	for _, mode := range modes {
		g.l("kavx2_" + mode)
		for mr := 1; mr <= mrAVX2; mr++ {
			g.i("CMPQ R12, $%d", mr)
			g.i("JEQ kavx2_%s_%d", mode, mr)
		}
		g.i("RET") // unreachable for valid mr
	}
	for _, mode := range modes {
		for mr := 1; mr <= mrAVX2; mr++ {
			prefix := fmt.Sprintf("kavx2_%s_%d", mode, mr)
			g.l(prefix)
			for r := 0; r < mr; r++ {
				g.i("VXORPS %s, %s, %s", y(r), y(r), y(r))
				if mode != "m1" {
					g.i("VXORPS %s, %s, %s", y(6+r), y(6+r), y(6+r))
				}
			}
			g.kloop(prefix, func() {
				switch mode {
				case "m1":
					g.i("VMASKMOVPS (R10), Y15, Y12")
				case "m2":
					g.i("VMOVUPS (R10), Y12")
					g.i("VMASKMOVPS 32(R10), Y15, Y13")
				case "f2":
					g.i("VMOVUPS (R10), Y12")
					g.i("VMOVUPS 32(R10), Y13")
				}
				for r := 0; r < mr; r++ {
					g.i("VBROADCASTSS %s, Y14", rowAddr[r])
					g.i("VFMADD231PS Y12, Y14, %s", y(r))
					if mode != "m1" {
						g.i("VFMADD231PS Y13, Y14, %s", y(6+r))
					}
				}
				g.i("ADDQ R9, SI")
				g.i("ADDQ R11, R10")
			})
			g.i("JMP kavx2_store_%s", mode)
		}
	}
	for _, mode := range modes {
		g.l("kavx2_store_" + mode)
		g.i("MOVQ flags+88(FP), AX")
		g.i("MOVQ c+48(FP), R10")
		g.i("MOVQ ldc+56(FP), R11")
		g.i("SHLQ $2, R11")
		g.i("MOVQ mr+64(FP), R12")
		g.i("TESTQ $%d, AX", flagTrans)
		g.i("JNZ kavx2_tstore")
		g.i("VBROADCASTSS alpha+80(FP), Y12")
		g.i("VBROADCASTSS beta+84(FP), Y13")
		g.i("TESTQ $%d, AX", flagBetaZero)
		g.i("JNZ kavx2_store0_%s", mode)
		for _, beta := range []bool{true, false} {
			if !beta {
				g.l("kavx2_store0_" + mode)
			}
			for r := 0; r < mrAVX2; r++ {
				vecs := []struct {
					acc    string
					off    int
					masked bool
				}{{y(r), 0, mode == "m1"}}
				if mode != "m1" {
					vecs = append(vecs, struct {
						acc    string
						off    int
						masked bool
					}{y(6 + r), 32, mode == "m2"})
				}
				for _, v := range vecs {
					g.i("VMULPS Y12, %s, %s", v.acc, v.acc)
					if beta {
						if v.masked {
							g.i("VMASKMOVPS %d(R10), Y15, Y14", v.off)
						} else {
							g.i("VMOVUPS %d(R10), Y14", v.off)
						}
						g.i("VFMADD231PS Y13, Y14, %s", v.acc)
					}
					if v.masked {
						g.i("VMASKMOVPS %s, Y15, %d(R10)", v.acc, v.off)
					} else {
						g.i("VMOVUPS %s, %d(R10)", v.acc, v.off)
					}
				}
				if r < mrAVX2-1 {
					g.i("DECQ R12")
					g.i("JZ kavx2_ret")
					g.i("ADDQ R11, R10")
				}
			}
			g.i("JMP kavx2_ret")
		}
	}
	g.blank()
	g.comment("Transposed store: tile column l goes to row l of c, by 8x8 transposes;")
	g.comment("the second half of the tile waits in scratch.")
	g.l("kavx2_tstore")
	g.i("MOVQ scratch+96(FP), DI")
	g.i("MOVQ nr+72(FP), R13")
	g.i("CMPQ R13, $8")
	g.i("JLE kavx2_tspilled")
	for r := 0; r < mrAVX2; r++ {
		g.i("VMOVUPS %s, %d(DI)", y(6+r), 32*r)
	}
	g.l("kavx2_tspilled")
	var in, tmp [8]string
	for i := 0; i < 8; i++ {
		in[i] = y(i)
		tmp[i] = y(8 + i)
	}
	for half := 0; half < 2; half++ {
		if half == 1 {
			for r := 0; r < mrAVX2; r++ {
				g.i("VMOVUPS %d(DI), %s", 32*r, y(r))
			}
		}
		g.i("VXORPS Y6, Y6, Y6")
		g.i("VXORPS Y7, Y7, Y7")
		col := g.transpose8(in, tmp)
		g.comment("Y0 = mask of the mr valid rows of the tile, Y1 = alpha, Y2 = beta")
		g.i("MOVQ R12, CX")
		g.loadMaskAVX2(0)
		g.i("MOVQ flags+88(FP), AX")
		g.i("VBROADCASTSS alpha+80(FP), Y1")
		g.i("VBROADCASTSS beta+84(FP), Y2")
		for q := 0; q < 8; q++ {
			g.i("VMULPS Y1, %s, %s", col[q], col[q])
			g.i("TESTQ $%d, AX", flagBetaZero)
			lbl := fmt.Sprintf("kavx2_tput%d_%d", half, q)
			g.i("JNZ %s", lbl)
			g.i("VMASKMOVPS (R10), Y0, Y3")
			g.i("VFMADD231PS Y2, Y3, %s", col[q])
			g.l(lbl)
			g.i("VMASKMOVPS %s, Y0, (R10)", col[q])
			g.i("ADDQ R11, R10")
			g.i("DECQ R13")
			g.i("JZ kavx2_ret")
		}
	}
	g.l("kavx2_ret")
	g.i("VZEROUPPER")
	g.i("RET")
	g.blank()
}

// packCopy512 emits gemmPackCopy512: dst[p*w+l] = src[p*ld+l] for p < kc,
// l < n <= 32. Columns n..w-1 of dst are left alone.
func (g *gen) packCopy512() {
	g.comment("func gemmPackCopy512(dst *float32, w int, src *float32, ld, kc, n int)")
	g.i("TEXT ·gemmPackCopy512(SB), NOSPLIT, $0-48")
	g.i("MOVQ n+40(FP), R13")
	g.i("MOVQ R13, CX")
	g.i("CMPQ CX, $16")
	g.i("JLE pc512_mask0")
	g.i("MOVQ $16, CX")
	g.l("pc512_mask0")
	g.maskCX("K1")
	g.i("MOVQ R13, CX")
	g.i("SUBQ $16, CX")
	g.i("JGT pc512_mask1")
	g.i("XORL CX, CX")
	g.l("pc512_mask1")
	g.maskCX("K2")
	g.i("MOVQ dst+0(FP), DI")
	g.i("MOVQ w+8(FP), DX")
	g.i("SHLQ $2, DX")
	g.i("MOVQ src+16(FP), SI")
	g.i("MOVQ ld+24(FP), BX")
	g.i("SHLQ $2, BX")
	g.i("MOVQ kc+32(FP), AX")
	g.i("CMPQ R13, $16")
	g.i("JGT pc512_two")
	g.l("pc512_one")
	g.i("VMOVUPS.Z (SI), K1, Z0")
	g.i("VMOVUPS Z0, K1, (DI)")
	g.i("ADDQ BX, SI")
	g.i("ADDQ DX, DI")
	g.i("DECQ AX")
	g.i("JNZ pc512_one")
	g.i("VZEROUPPER")
	g.i("RET")
	g.l("pc512_two")
	g.i("VMOVUPS.Z (SI), K1, Z0")
	g.i("VMOVUPS.Z 64(SI), K2, Z1")
	g.i("VMOVUPS Z0, K1, (DI)")
	g.i("VMOVUPS Z1, K2, 64(DI)")
	g.i("ADDQ BX, SI")
	g.i("ADDQ DX, DI")
	g.i("DECQ AX")
	g.i("JNZ pc512_two")
	g.i("VZEROUPPER")
	g.i("RET")
	g.blank()
}

// packRows512 emits gemmPackRows512: the n <= nc columns of kc rows of
// src (leading dimension ld) into panels of 32 columns,
// dst[q*kc*32+p*32+l] = src[p*ld+q*32+l], reading src row by row so that
// it streams. Columns past n in the last panel are left alone.
func (g *gen) packRows512() {
	g.comment("func gemmPackRows512(dst *float32, kc int, src *float32, ld, n int)")
	g.i("TEXT ·gemmPackRows512(SB), NOSPLIT, $0-40")
	g.comment("K1, K2: the valid columns of the last panel")
	g.i("MOVQ n+32(FP), R13")
	g.i("MOVQ R13, CX")
	g.i("ANDQ $31, CX")
	g.i("JNZ prows_tail")
	g.i("MOVQ $32, CX")
	g.l("prows_tail")
	g.i("MOVQ CX, R12")
	g.i("CMPQ CX, $16")
	g.i("JLE prows_mask0")
	g.i("MOVQ $16, CX")
	g.l("prows_mask0")
	g.maskCX("K1")
	g.i("MOVQ R12, CX")
	g.i("SUBQ $16, CX")
	g.i("JGT prows_mask1")
	g.i("XORL CX, CX")
	g.l("prows_mask1")
	g.maskCX("K2")
	g.comment("R13 = full panels, DX = panel stride in bytes")
	g.i("SUBQ R12, R13")
	g.i("SHRQ $5, R13")
	g.i("MOVQ kc+8(FP), R12")
	g.i("MOVQ R12, DX")
	g.i("SHLQ $7, DX")
	g.i("MOVQ dst+0(FP), DI")
	g.i("MOVQ src+16(FP), SI")
	g.i("MOVQ ld+24(FP), BX")
	g.i("SHLQ $2, BX")
	g.l("prows_row")
	g.i("MOVQ SI, R8")
	g.i("MOVQ DI, R9")
	g.i("MOVQ R13, CX")
	g.i("TESTQ CX, CX")
	g.i("JZ prows_last")
	g.l("prows_panel")
	g.i("VMOVUPS (R8), Z0")
	g.i("VMOVUPS 64(R8), Z1")
	g.i("VMOVUPS Z0, (R9)")
	g.i("VMOVUPS Z1, 64(R9)")
	g.i("ADDQ $128, R8")
	g.i("ADDQ DX, R9")
	g.i("DECQ CX")
	g.i("JNZ prows_panel")
	g.l("prows_last")
	g.i("VMOVUPS.Z (R8), K1, Z0")
	g.i("VMOVUPS.Z 64(R8), K2, Z1")
	g.i("VMOVUPS Z0, K1, (R9)")
	g.i("VMOVUPS Z1, K2, 64(R9)")
	g.i("ADDQ BX, SI")
	g.i("ADDQ $128, DI")
	g.i("DECQ R12")
	g.i("JNZ prows_row")
	g.i("VZEROUPPER")
	g.i("RET")
	g.blank()
}

// packTrans512 emits gemmPackTrans512: dst[p*w+l] = src[l*ld+p] for
// p < kc, l < n <= 32, by 16x16 blocks transposed in registers. Columns
// n..w-1 of dst are left alone.
func (g *gen) packTrans512() {
	g.comment("func gemmPackTrans512(dst *float32, w int, src *float32, ld, kc, n int)")
	g.i("TEXT ·gemmPackTrans512(SB), NOSPLIT, $0-48")
	g.i("MOVQ dst+0(FP), DI")
	g.i("MOVQ w+8(FP), DX")
	g.i("SHLQ $2, DX")
	g.i("MOVQ DX, R10")
	g.i("SHLQ $4, R10")
	g.i("MOVQ src+16(FP), SI")
	g.i("MOVQ ld+24(FP), BX")
	g.i("SHLQ $2, BX")
	g.i("MOVQ n+40(FP), R11")
	g.l("pt512_half")
	g.comment("R13 = rows of src in this half (1..16), K2 = their mask")
	g.i("MOVQ R11, R13")
	g.i("CMPQ R13, $16")
	g.i("JLE pt512_cnt")
	g.i("MOVQ $16, R13")
	g.l("pt512_cnt")
	g.i("MOVQ R13, CX")
	g.maskCX("K2")
	g.i("MOVQ kc+32(FP), R12")
	g.l("pt512_block")
	g.comment("CX = columns of src in this block (1..16), K1 = their mask")
	g.i("MOVQ R12, CX")
	g.i("CMPQ CX, $16")
	g.i("JLE pt512_rem")
	g.i("MOVQ $16, CX")
	g.l("pt512_rem")
	g.i("MOVQ CX, R9")
	g.maskCX("K1")
	g.i("MOVQ SI, R8")
	for i := 0; i < 16; i++ {
		if i > 0 {
			g.i("CMPQ R13, $%d", i)
			g.i("JLE pt512_zero%d", i)
		}
		g.i("VMOVUPS.Z (R8), K1, %s", z(i))
		if i < 15 {
			g.i("ADDQ BX, R8")
		}
	}
	g.i("JMP pt512_transpose")
	for i := 1; i < 16; i++ {
		g.l(fmt.Sprintf("pt512_zero%d", i))
		g.i("VPXORD %s, %s, %s", z(i), z(i), z(i))
	}
	g.l("pt512_transpose")
	var in, tmp [16]string
	for i := 0; i < 16; i++ {
		in[i] = z(i)
		tmp[i] = z(16 + i)
	}
	col := g.transpose16(in, tmp)
	g.i("MOVQ DI, R8")
	for q := 0; q < 16; q++ {
		if q > 0 {
			g.i("CMPQ R9, $%d", q)
			g.i("JLE pt512_stored")
		}
		g.i("VMOVUPS %s, K2, (R8)", col[q])
		if q < 15 {
			g.i("ADDQ DX, R8")
		}
	}
	g.l("pt512_stored")
	g.i("ADDQ $64, SI")
	g.i("ADDQ R10, DI")
	g.i("SUBQ $16, R12")
	g.i("JGT pt512_block")
	g.comment("next 16 rows of src, if any")
	g.i("SUBQ $16, R11")
	g.i("JLE pt512_ret")
	g.i("MOVQ src+16(FP), SI")
	g.i("MOVQ BX, AX")
	g.i("SHLQ $4, AX")
	g.i("ADDQ AX, SI")
	g.i("MOVQ dst+0(FP), DI")
	g.i("ADDQ $64, DI")
	g.i("JMP pt512_half")
	g.l("pt512_ret")
	g.i("VZEROUPPER")
	g.i("RET")
	g.blank()
}

// storeExact stores the first n <= 8 floats of Y(reg) at off(base) with
// plain moves of 8, 4, 2 and 1 floats, so that nothing past them is
// written (masked stores are slow on some AMD CPUs). It clobbers Y(reg).
func (g *gen) storeExact(reg, n int, base string, off int) {
	if n == 8 {
		g.i("VMOVUPS %s, %d(%s)", y(reg), off, base)
		return
	}
	if n&4 != 0 {
		g.i("VMOVUPS %s, %d(%s)", x(reg), off, base)
		g.i("VEXTRACTF128 $1, %s, %s", y(reg), x(reg))
		off += 16
	}
	if n&2 != 0 {
		g.i("VMOVSD %s, %d(%s)", x(reg), off, base)
		g.i("VMOVHLPS %s, %s, %s", x(reg), x(reg), x(reg))
		off += 8
	}
	if n&1 != 0 {
		g.i("VMOVSS %s, %d(%s)", x(reg), off, base)
	}
}

// loadMaskAVX2 loads into Y(reg) the mask of the first CX lanes (CX in
// 0..8) from gemmMaskTab. It clobbers AX and CX.
func (g *gen) loadMaskAVX2(reg int) {
	g.i("NEGQ CX")
	g.i("LEAQ gemmMaskTab<>+32(SB), AX")
	g.i("VMOVUPS (AX)(CX*4), %s", y(reg))
}

// packCopyAVX2 emits gemmPackCopyAVX2, gemmPackCopy512's AVX2 twin for
// n <= 16: one loop per n, loading with masks and storing exactly n floats.
func (g *gen) packCopyAVX2() {
	g.comment("func gemmPackCopyAVX2(dst *float32, w int, src *float32, ld, kc, n int)")
	g.i("TEXT ·gemmPackCopyAVX2(SB), NOSPLIT, $0-48")
	g.i("MOVQ n+40(FP), R13")
	g.i("MOVQ R13, CX")
	g.i("CMPQ CX, $8")
	g.i("JLE pcavx2_mask")
	g.i("SUBQ $8, CX")
	g.l("pcavx2_mask")
	g.loadMaskAVX2(15)
	g.i("MOVQ dst+0(FP), DI")
	g.i("MOVQ w+8(FP), DX")
	g.i("SHLQ $2, DX")
	g.i("MOVQ src+16(FP), SI")
	g.i("MOVQ ld+24(FP), BX")
	g.i("SHLQ $2, BX")
	g.i("MOVQ kc+32(FP), AX")
	for n := 1; n <= nrAVX2; n++ {
		g.i("CMPQ R13, $%d", n)
		g.i("JEQ pcavx2_%d", n)
	}
	g.i("RET") // unreachable for valid n
	for n := 1; n <= nrAVX2; n++ {
		p := fmt.Sprintf("pcavx2_%d", n)
		g.l(p)
		switch {
		case n < 8:
			g.i("VMASKMOVPS (SI), Y15, Y0")
			g.storeExact(0, n, "DI", 0)
		case n == 8:
			g.i("VMOVUPS (SI), Y0")
			g.i("VMOVUPS Y0, (DI)")
		default:
			g.i("VMOVUPS (SI), Y0")
			g.i("VMOVUPS Y0, (DI)")
			if n < 16 {
				g.i("VMASKMOVPS 32(SI), Y15, Y1")
			} else {
				g.i("VMOVUPS 32(SI), Y1")
			}
			g.storeExact(1, n-8, "DI", 32)
		}
		g.i("ADDQ BX, SI")
		g.i("ADDQ DX, DI")
		g.i("DECQ AX")
		g.i("JNZ %s", p)
		g.i("VZEROUPPER")
		g.i("RET")
	}
	g.blank()
}

// transpose8 transposes the 8x8 float32 matrix held one row per ymm
// register in in, using tmp as scratch; it returns the register holding
// each column (all of them registers of tmp).
func (g *gen) transpose8(in, tmp [8]string) [8]string {
	for h := 0; h < 2; h++ {
		a, b, c, d := in[4*h], in[4*h+1], in[4*h+2], in[4*h+3]
		g.i("VUNPCKLPS %s, %s, %s", b, a, tmp[4*h])
		g.i("VUNPCKHPS %s, %s, %s", b, a, tmp[4*h+1])
		g.i("VUNPCKLPS %s, %s, %s", d, c, tmp[4*h+2])
		g.i("VUNPCKHPS %s, %s, %s", d, c, tmp[4*h+3])
	}
	// in[4h+q] gets column q (128-bit lane 0) and 4+q (lane 1) of rows 4h..4h+3.
	for h := 0; h < 2; h++ {
		t0, t1, t2, t3 := tmp[4*h], tmp[4*h+1], tmp[4*h+2], tmp[4*h+3]
		g.i("VSHUFPS $0x44, %s, %s, %s", t2, t0, in[4*h])
		g.i("VSHUFPS $0xee, %s, %s, %s", t2, t0, in[4*h+1])
		g.i("VSHUFPS $0x44, %s, %s, %s", t3, t1, in[4*h+2])
		g.i("VSHUFPS $0xee, %s, %s, %s", t3, t1, in[4*h+3])
	}
	var col [8]string
	for q := 0; q < 4; q++ {
		g.i("VPERM2F128 $0x20, %s, %s, %s", in[4+q], in[q], tmp[q])
		g.i("VPERM2F128 $0x31, %s, %s, %s", in[4+q], in[q], tmp[4+q])
		col[q], col[4+q] = tmp[q], tmp[4+q]
	}
	return col
}

// packTransAVX2 emits gemmPackTransAVX2, gemmPackTrans512's AVX2 twin for
// n <= 16, by 8x8 blocks transposed in registers.
func (g *gen) packTransAVX2() {
	g.comment("func gemmPackTransAVX2(dst *float32, w int, src *float32, ld, kc, n int)")
	g.i("TEXT ·gemmPackTransAVX2(SB), NOSPLIT, $0-48")
	g.i("MOVQ dst+0(FP), DI")
	g.i("MOVQ w+8(FP), DX")
	g.i("SHLQ $2, DX")
	g.i("MOVQ DX, R10")
	g.i("SHLQ $3, R10")
	g.i("MOVQ src+16(FP), SI")
	g.i("MOVQ ld+24(FP), BX")
	g.i("SHLQ $2, BX")
	g.i("MOVQ n+40(FP), R11")
	g.l("ptavx2_half")
	g.comment("R13 = rows of src in this half (1..8)")
	g.i("MOVQ R11, R13")
	g.i("CMPQ R13, $8")
	g.i("JLE ptavx2_cnt")
	g.i("MOVQ $8, R13")
	g.l("ptavx2_cnt")
	g.i("MOVQ kc+32(FP), R12")
	g.l("ptavx2_block")
	g.comment("R9 = columns of src in this block (1..8), Y15 = their mask")
	g.i("MOVQ R12, CX")
	g.i("CMPQ CX, $8")
	g.i("JLE ptavx2_rem")
	g.i("MOVQ $8, CX")
	g.l("ptavx2_rem")
	g.i("MOVQ CX, R9")
	g.loadMaskAVX2(15)
	g.i("MOVQ SI, R8")
	for i := 0; i < 8; i++ {
		if i > 0 {
			g.i("CMPQ R13, $%d", i)
			g.i("JLE ptavx2_zero%d", i)
		}
		g.i("VMASKMOVPS (R8), Y15, %s", y(i))
		if i < 7 {
			g.i("ADDQ BX, R8")
		}
	}
	g.i("JMP ptavx2_transpose")
	for i := 1; i < 8; i++ {
		g.l(fmt.Sprintf("ptavx2_zero%d", i))
		g.i("VXORPS %s, %s, %s", y(i), y(i), y(i))
	}
	g.l("ptavx2_transpose")
	var in, tmp [8]string
	for i := 0; i < 8; i++ {
		in[i] = y(i)
		tmp[i] = y(8 + i)
	}
	col := g.transpose8(in, tmp)
	for cnt := 1; cnt <= 8; cnt++ {
		g.i("CMPQ R13, $%d", cnt)
		g.i("JEQ ptavx2_store%d", cnt)
	}
	for cnt := 1; cnt <= 8; cnt++ {
		g.l(fmt.Sprintf("ptavx2_store%d", cnt))
		g.i("MOVQ DI, R8")
		for q := 0; q < 8; q++ {
			if q > 0 {
				g.i("CMPQ R9, $%d", q)
				g.i("JLE ptavx2_stored")
			}
			var reg int
			fmt.Sscanf(col[q], "Y%d", &reg)
			g.storeExact(reg, cnt, "R8", 0)
			if q < 7 {
				g.i("ADDQ DX, R8")
			}
		}
		g.i("JMP ptavx2_stored")
	}
	g.l("ptavx2_stored")
	g.i("ADDQ $32, SI")
	g.i("ADDQ R10, DI")
	g.i("SUBQ $8, R12")
	g.i("JGT ptavx2_block")
	g.comment("next 8 rows of src, if any")
	g.i("SUBQ $8, R11")
	g.i("JLE ptavx2_ret")
	g.i("MOVQ src+16(FP), SI")
	g.i("MOVQ BX, AX")
	g.i("SHLQ $3, AX")
	g.i("ADDQ AX, SI")
	g.i("MOVQ dst+0(FP), DI")
	g.i("ADDQ $32, DI")
	g.i("JMP ptavx2_half")
	g.l("ptavx2_ret")
	g.i("VZEROUPPER")
	g.i("RET")
	g.blank()
}

// dotT512 emits gemmDotT512:
//
//	y[i*ldy+j] = alpha*sum_{p<k} x[i*ldx+p]*m[j*ldm+p] + beta*y[i*ldy+j]
//
// for i < mi <= 4 and j < n: dot products of up to four rows of x with
// each row of m, four rows of m at a time, so that m is read once. It
// serves op(A)·op(B)ᵀ with few rows, and m == 1 or n == 1 products.
//
// Registers: SI, DI, R14, R15 point to the rows of x, R8..R11 to four
// rows of m, DX is the byte offset along k, R12 = k, R13 = rows of m
// left, BX = ldm in bytes. The accumulator of (i, j) is Z(4i+j); with one
// row of x a second set Z(16+j) doubles the independent chains.
func (g *gen) dotT512() {
	g.comment("func gemmDotT512(n, k int, x *float32, ldx, mi int, m *float32, ldm int, y *float32, ldy int, alpha, beta float32, flags int)")
	g.i("TEXT ·gemmDotT512(SB), NOSPLIT, $0-88")
	g.i("MOVQ n+0(FP), R13")
	g.i("MOVQ k+8(FP), R12")
	g.i("MOVQ ldx+24(FP), AX")
	g.i("SHLQ $2, AX")
	g.i("MOVQ x+16(FP), SI")
	g.i("LEAQ (SI)(AX*1), DI")
	g.i("LEAQ (DI)(AX*1), R14")
	g.i("LEAQ (R14)(AX*1), R15")
	g.i("MOVQ m+40(FP), R8")
	g.i("MOVQ ldm+48(FP), BX")
	g.i("SHLQ $2, BX")
	g.i("MOVQ R12, CX")
	g.i("ANDQ $15, CX")
	g.maskCX("K1")
	g.i("MOVQ mi+32(FP), AX")
	for mi := 1; mi <= 4; mi++ {
		g.i("CMPQ AX, $%d", mi)
		g.i("JEQ dot%d_4_rows", mi)
	}
	g.i("RET") // unreachable for valid mi
	xrow := []string{"SI", "DI", "R14", "R15"}
	wrow := []string{"R8", "R9", "R10", "R11"}
	acc := func(i, j int) string { return z(4*i + j) }
	for mi := 1; mi <= 4; mi++ {
		for _, rows := range []int{4, 1} {
			p := fmt.Sprintf("dot%d_%d", mi, rows)
			g.l(p + "_rows")
			g.i("CMPQ R13, $%d", rows)
			if rows == 4 {
				g.i("JLT dot%d_1_rows", mi)
				g.i("LEAQ (R8)(BX*1), R9")
				g.i("LEAQ (R8)(BX*2), R10")
				g.i("LEAQ (R9)(BX*2), R11")
			} else {
				g.i("JLT dot_ret")
			}
			two := mi == 1 && rows == 4
			for i := 0; i < mi; i++ {
				for j := 0; j < rows; j++ {
					g.i("VPXORD %s, %s, %s", acc(i, j), acc(i, j), acc(i, j))
					if two {
						g.i("VPXORD %s, %s, %s", z(16+j), z(16+j), z(16+j))
					}
				}
			}
			g.i("XORL DX, DX")
			g.i("MOVQ R12, CX")
			if two {
				g.i("SHRQ $5, CX")
				g.i("JZ %s_k16", p)
				g.l(p + "_k32")
				g.i("VMOVUPS (SI)(DX*1), Z24")
				g.i("VMOVUPS 64(SI)(DX*1), Z25")
				for j := 0; j < rows; j++ {
					g.i("VFMADD231PS (%s)(DX*1), Z24, %s", wrow[j], acc(0, j))
					g.i("VFMADD231PS 64(%s)(DX*1), Z25, %s", wrow[j], z(16+j))
				}
				g.i("ADDQ $128, DX")
				g.i("DECQ CX")
				g.i("JNZ %s_k32", p)
				g.l(p + "_k16")
				g.i("TESTQ $16, R12")
				g.i("JZ %s_ktail", p)
			} else {
				g.i("SHRQ $4, CX")
				g.i("JZ %s_ktail", p)
				g.l(p + "_k16")
			}
			// One step of 16 along k; masked by K1 in the tail.
			step := func(masked bool) {
				ld := "VMOVUPS"
				mask := ""
				if masked {
					ld, mask = "VMOVUPS.Z", "K1, "
				}
				for i := 0; i < mi; i++ {
					g.i("%s (%s)(DX*1), %s%s", ld, xrow[i], mask, z(24+i))
				}
				for j := 0; j < rows; j++ {
					g.i("%s (%s)(DX*1), %s%s", ld, wrow[j], mask, z(28+j))
				}
				for i := 0; i < mi; i++ {
					for j := 0; j < rows; j++ {
						g.i("VFMADD231PS %s, %s, %s", z(28+j), z(24+i), acc(i, j))
					}
				}
				g.i("ADDQ $64, DX")
			}
			step(false)
			if !two {
				g.i("DECQ CX")
				g.i("JNZ %s_k16", p)
			}
			g.l(p + "_ktail")
			g.i("TESTQ $15, R12")
			g.i("JZ %s_reduce", p)
			step(true)
			g.l(p + "_reduce")
			if two {
				for j := 0; j < rows; j++ {
					g.i("VADDPS %s, %s, %s", z(16+j), acc(0, j), acc(0, j))
				}
			}
			// Sum the 16 lanes of each accumulator: first fold the four
			// 128-bit lanes, then horizontal adds within one.
			for i := 0; i < mi; i++ {
				for j := 0; j < rows; j++ {
					a := acc(i, j)
					g.i("VSHUFF32X4 $0x4e, %s, %s, Z24", a, a)
					g.i("VADDPS Z24, %s, %s", a, a)
					g.i("VSHUFF32X4 $0xb1, %s, %s, Z24", a, a)
					g.i("VADDPS Z24, %s, %s", a, a)
				}
				if rows == 4 {
					g.i("VHADDPS %s, %s, %s", x(4*i+1), x(4*i), x(4*i))
					g.i("VHADDPS %s, %s, %s", x(4*i+3), x(4*i+2), x(4*i+2))
					g.i("VHADDPS %s, %s, %s", x(4*i+2), x(4*i), x(4*i))
				} else {
					g.i("VHADDPS %s, %s, %s", x(4*i), x(4*i), x(4*i))
					g.i("VHADDPS %s, %s, %s", x(4*i), x(4*i), x(4*i))
				}
			}
			// X(4i) now holds the sums of row i; X1, X2, X3 are free.
			g.i("VBROADCASTSS alpha+72(FP), X1")
			g.i("VBROADCASTSS beta+76(FP), X2")
			g.i("MOVQ y+56(FP), AX")
			g.i("MOVQ ldy+64(FP), CX")
			g.i("SHLQ $2, CX")
			g.i("MOVQ flags+80(FP), DX")
			for i := 0; i < mi; i++ {
				r := x(4 * i)
				sfx := "PS"
				mov := "VMOVUPS"
				if rows == 1 {
					sfx, mov = "SS", "VMOVSS"
				}
				lbl := fmt.Sprintf("%s_put%d", p, i)
				g.i("VMUL%s X1, %s, %s", sfx, r, r)
				g.i("TESTQ $%d, DX", flagBetaZero)
				g.i("JNZ %s", lbl)
				g.i("%s (AX), X3", mov)
				g.i("VFMADD231%s X2, X3, %s", sfx, r)
				g.l(lbl)
				g.i("%s %s, (AX)", mov, r)
				if i < mi-1 {
					g.i("ADDQ CX, AX")
				}
			}
			g.i("ADDQ $%d, y+56(FP)", 4*rows)
			if rows == 4 {
				g.i("LEAQ (R8)(BX*4), R8")
			} else {
				g.i("ADDQ BX, R8")
			}
			g.i("SUBQ $%d, R13", rows)
			g.i("JMP %s_rows", p)
		}
	}
	g.l("dot_ret")
	g.i("VZEROUPPER")
	g.i("RET")
	g.blank()
}

// gemvN512 emits gemvN512: y[:n] = alpha*sum_p x[p]*m[p*ldm:p*ldm+n] +
// beta*y[:n], by strips of 128 columns kept in eight accumulators.
func (g *gen) gemvN512() {
	g.comment("func gemvN512(k, n int, x, m *float32, ldm int, y *float32, alpha, beta float32, flags int)")
	g.i("TEXT ·gemvN512(SB), NOSPLIT, $0-64")
	g.i("MOVQ k+0(FP), R12")
	g.i("MOVQ n+8(FP), R13")
	g.i("MOVQ x+16(FP), SI")
	g.i("MOVQ m+24(FP), R8")
	g.i("MOVQ ldm+32(FP), BX")
	g.i("SHLQ $2, BX")
	g.i("MOVQ y+40(FP), DI")
	g.i("VBROADCASTSS alpha+48(FP), Z30")
	g.i("VBROADCASTSS beta+52(FP), Z31")
	g.l("gvn_strip")
	g.comment("DX = vectors in this strip (1..8), K1 = valid columns of the last")
	g.i("CMPQ R13, $128")
	g.i("JLT gvn_part")
	g.i("MOVQ $8, DX")
	g.i("MOVQ $16, CX")
	g.i("JMP gvn_mask")
	g.l("gvn_part")
	g.i("LEAQ 15(R13), DX")
	g.i("SHRQ $4, DX")
	g.i("MOVQ DX, CX")
	g.i("SHLQ $4, CX")
	g.i("SUBQ $16, CX")
	g.i("NEGQ CX")
	g.i("ADDQ R13, CX")
	g.l("gvn_mask")
	g.maskCX("K1")
	g.i("MOVQ flags+56(FP), AX")
	for v := 1; v <= 8; v++ {
		g.i("CMPQ DX, $%d", v)
		g.i("JEQ gvn_%d", v)
	}
	for v := 1; v <= 8; v++ {
		p := fmt.Sprintf("gvn_%d", v)
		g.l(p)
		for j := 0; j < v; j++ {
			g.i("VPXORD %s, %s, %s", z(j), z(j), z(j))
		}
		g.i("MOVQ R8, R9")
		g.i("MOVQ SI, R10")
		g.i("MOVQ R12, CX")
		g.l(p + "_loop")
		g.i("VBROADCASTSS (R10), Z29")
		for j := 0; j < v-1; j++ {
			g.i("VFMADD231PS %d(R9), Z29, %s", 64*j, z(j))
		}
		g.i("VMOVUPS.Z %d(R9), K1, Z28", 64*(v-1))
		g.i("VFMADD231PS Z28, Z29, %s", z(v-1))
		g.i("ADDQ BX, R9")
		g.i("ADDQ $4, R10")
		g.i("DECQ CX")
		g.i("JNZ %s_loop", p)
		g.i("TESTQ $%d, AX", flagBetaZero)
		g.i("JNZ %s_store0", p)
		for _, beta := range []bool{true, false} {
			if !beta {
				g.l(p + "_store0")
			}
			for j := 0; j < v; j++ {
				g.i("VMULPS Z30, %s, %s", z(j), z(j))
				last := j == v-1
				if beta {
					if last {
						g.i("VMOVUPS.Z %d(DI), K1, Z28", 64*j)
					} else {
						g.i("VMOVUPS %d(DI), Z28", 64*j)
					}
					g.i("VFMADD231PS Z31, Z28, %s", z(j))
				}
				if last {
					g.i("VMOVUPS %s, K1, %d(DI)", z(j), 64*j)
				} else {
					g.i("VMOVUPS %s, %d(DI)", z(j), 64*j)
				}
			}
			g.i("JMP gvn_next")
		}
	}
	g.l("gvn_next")
	g.i("ADDQ $512, R8")
	g.i("ADDQ $512, DI")
	g.i("SUBQ $128, R13")
	g.i("JG gvn_strip")
	g.i("VZEROUPPER")
	g.i("RET")
	g.blank()
}

// dotTAVX2 emits gemmDotTAVX2, gemmDotT512's AVX2 twin for mi <= 2.
// The accumulator of (i, j) is Y(4i+j); with one row of x a second set
// Y(4+j) doubles the independent chains. Y14 masks the k tail.
func (g *gen) dotTAVX2() {
	g.comment("func gemmDotTAVX2(n, k int, x *float32, ldx, mi int, m *float32, ldm int, y *float32, ldy int, alpha, beta float32, flags int)")
	g.i("TEXT ·gemmDotTAVX2(SB), NOSPLIT, $0-88")
	g.i("MOVQ n+0(FP), R13")
	g.i("MOVQ k+8(FP), R12")
	g.i("MOVQ R12, CX")
	g.i("ANDQ $7, CX")
	g.loadMaskAVX2(14)
	g.i("MOVQ ldx+24(FP), AX")
	g.i("SHLQ $2, AX")
	g.i("MOVQ x+16(FP), SI")
	g.i("LEAQ (SI)(AX*1), DI")
	g.i("MOVQ m+40(FP), R8")
	g.i("MOVQ ldm+48(FP), BX")
	g.i("SHLQ $2, BX")
	g.i("MOVQ mi+32(FP), AX")
	g.i("CMPQ AX, $1")
	g.i("JEQ dotavx2_1_4_rows")
	g.i("JMP dotavx2_2_4_rows")
	xrow := []string{"SI", "DI"}
	wrow := []string{"R8", "R9", "R10", "R11"}
	acc := func(i, j int) string { return y(4*i + j) }
	for mi := 1; mi <= 2; mi++ {
		for _, rows := range []int{4, 1} {
			p := fmt.Sprintf("dotavx2_%d_%d", mi, rows)
			g.l(p + "_rows")
			g.i("CMPQ R13, $%d", rows)
			if rows == 4 {
				g.i("JLT dotavx2_%d_1_rows", mi)
				g.i("LEAQ (R8)(BX*1), R9")
				g.i("LEAQ (R8)(BX*2), R10")
				g.i("LEAQ (R9)(BX*2), R11")
			} else {
				g.i("JLT dotavx2_ret")
			}
			two := mi == 1 && rows == 4
			for i := 0; i < mi; i++ {
				for j := 0; j < rows; j++ {
					g.i("VXORPS %s, %s, %s", acc(i, j), acc(i, j), acc(i, j))
					if two {
						g.i("VXORPS %s, %s, %s", y(4+j), y(4+j), y(4+j))
					}
				}
			}
			g.i("XORL DX, DX")
			g.i("MOVQ R12, CX")
			if two {
				g.i("SHRQ $4, CX")
				g.i("JZ %s_k8", p)
				g.l(p + "_k16")
				g.i("VMOVUPS (SI)(DX*1), Y8")
				g.i("VMOVUPS 32(SI)(DX*1), Y9")
				for j := 0; j < rows; j++ {
					g.i("VFMADD231PS (%s)(DX*1), Y8, %s", wrow[j], acc(0, j))
					g.i("VFMADD231PS 32(%s)(DX*1), Y9, %s", wrow[j], y(4+j))
				}
				g.i("ADDQ $64, DX")
				g.i("DECQ CX")
				g.i("JNZ %s_k16", p)
				g.l(p + "_k8")
				g.i("TESTQ $8, R12")
				g.i("JZ %s_ktail", p)
			} else {
				g.i("SHRQ $3, CX")
				g.i("JZ %s_ktail", p)
				g.l(p + "_k8")
			}
			step := func(masked bool) {
				load := func(addr, dst string) {
					if masked {
						g.i("VMASKMOVPS %s, Y14, %s", addr, dst)
					} else {
						g.i("VMOVUPS %s, %s", addr, dst)
					}
				}
				for i := 0; i < mi; i++ {
					load(fmt.Sprintf("(%s)(DX*1)", xrow[i]), y(8+i))
				}
				for j := 0; j < rows; j++ {
					load(fmt.Sprintf("(%s)(DX*1)", wrow[j]), y(10+j))
				}
				for i := 0; i < mi; i++ {
					for j := 0; j < rows; j++ {
						g.i("VFMADD231PS %s, %s, %s", y(10+j), y(8+i), acc(i, j))
					}
				}
				g.i("ADDQ $32, DX")
			}
			step(false)
			if !two {
				g.i("DECQ CX")
				g.i("JNZ %s_k8", p)
			}
			g.l(p + "_ktail")
			g.i("TESTQ $7, R12")
			g.i("JZ %s_reduce", p)
			step(true)
			g.l(p + "_reduce")
			if two {
				for j := 0; j < rows; j++ {
					g.i("VADDPS %s, %s, %s", y(4+j), acc(0, j), acc(0, j))
				}
			}
			for i := 0; i < mi; i++ {
				for j := 0; j < rows; j++ {
					a := 4*i + j
					g.i("VEXTRACTF128 $1, %s, X15", y(a))
					g.i("VADDPS X15, %s, %s", x(a), x(a))
				}
				if rows == 4 {
					g.i("VHADDPS %s, %s, %s", x(4*i+1), x(4*i), x(4*i))
					g.i("VHADDPS %s, %s, %s", x(4*i+3), x(4*i+2), x(4*i+2))
					g.i("VHADDPS %s, %s, %s", x(4*i+2), x(4*i), x(4*i))
				} else {
					g.i("VHADDPS %s, %s, %s", x(4*i), x(4*i), x(4*i))
					g.i("VHADDPS %s, %s, %s", x(4*i), x(4*i), x(4*i))
				}
			}
			g.i("VBROADCASTSS alpha+72(FP), X1")
			g.i("VBROADCASTSS beta+76(FP), X2")
			g.i("MOVQ y+56(FP), AX")
			g.i("MOVQ ldy+64(FP), CX")
			g.i("SHLQ $2, CX")
			g.i("MOVQ flags+80(FP), DX")
			for i := 0; i < mi; i++ {
				r := x(4 * i)
				sfx, mov := "PS", "VMOVUPS"
				if rows == 1 {
					sfx, mov = "SS", "VMOVSS"
				}
				lbl := fmt.Sprintf("%s_put%d", p, i)
				g.i("VMUL%s X1, %s, %s", sfx, r, r)
				g.i("TESTQ $%d, DX", flagBetaZero)
				g.i("JNZ %s", lbl)
				g.i("%s (AX), X3", mov)
				g.i("VFMADD231%s X2, X3, %s", sfx, r)
				g.l(lbl)
				g.i("%s %s, (AX)", mov, r)
				if i < mi-1 {
					g.i("ADDQ CX, AX")
				}
			}
			g.i("ADDQ $%d, y+56(FP)", 4*rows)
			if rows == 4 {
				g.i("LEAQ (R8)(BX*4), R8")
			} else {
				g.i("ADDQ BX, R8")
			}
			g.i("SUBQ $%d, R13", rows)
			g.i("JMP %s_rows", p)
		}
	}
	g.l("dotavx2_ret")
	g.i("VZEROUPPER")
	g.i("RET")
	g.blank()
}

// gemvNAVX2 emits gemvNAVX2, gemvN512's AVX2 twin: strips of 64 columns
// in eight accumulators, Y9 masking the last vector of a strip.
func (g *gen) gemvNAVX2() {
	g.comment("func gemvNAVX2(k, n int, x, m *float32, ldm int, y *float32, alpha, beta float32, flags int)")
	g.i("TEXT ·gemvNAVX2(SB), NOSPLIT, $0-64")
	g.i("MOVQ k+0(FP), R12")
	g.i("MOVQ n+8(FP), R13")
	g.i("MOVQ x+16(FP), SI")
	g.i("MOVQ m+24(FP), R8")
	g.i("MOVQ ldm+32(FP), BX")
	g.i("SHLQ $2, BX")
	g.i("MOVQ y+40(FP), DI")
	g.i("VBROADCASTSS alpha+48(FP), Y11")
	g.i("VBROADCASTSS beta+52(FP), Y12")
	g.l("gvnavx2_strip")
	g.comment("DX = vectors in this strip (1..8), Y9 = valid columns of the last")
	g.i("CMPQ R13, $64")
	g.i("JLT gvnavx2_part")
	g.i("MOVQ $8, DX")
	g.i("MOVQ $8, CX")
	g.i("JMP gvnavx2_mask")
	g.l("gvnavx2_part")
	g.i("LEAQ 7(R13), DX")
	g.i("SHRQ $3, DX")
	g.i("MOVQ DX, CX")
	g.i("SHLQ $3, CX")
	g.i("SUBQ $8, CX")
	g.i("NEGQ CX")
	g.i("ADDQ R13, CX")
	g.l("gvnavx2_mask")
	g.loadMaskAVX2(9)
	g.i("MOVQ flags+56(FP), AX")
	for v := 1; v <= 8; v++ {
		g.i("CMPQ DX, $%d", v)
		g.i("JEQ gvnavx2_%d", v)
	}
	for v := 1; v <= 8; v++ {
		p := fmt.Sprintf("gvnavx2_%d", v)
		g.l(p)
		for j := 0; j < v; j++ {
			g.i("VXORPS %s, %s, %s", y(j), y(j), y(j))
		}
		g.i("MOVQ R8, R9")
		g.i("MOVQ SI, R10")
		g.i("MOVQ R12, CX")
		g.l(p + "_loop")
		g.i("VBROADCASTSS (R10), Y8")
		for j := 0; j < v-1; j++ {
			g.i("VFMADD231PS %d(R9), Y8, %s", 32*j, y(j))
		}
		g.i("VMASKMOVPS %d(R9), Y9, Y10", 32*(v-1))
		g.i("VFMADD231PS Y10, Y8, %s", y(v-1))
		g.i("ADDQ BX, R9")
		g.i("ADDQ $4, R10")
		g.i("DECQ CX")
		g.i("JNZ %s_loop", p)
		g.i("TESTQ $%d, AX", flagBetaZero)
		g.i("JNZ %s_store0", p)
		for _, beta := range []bool{true, false} {
			if !beta {
				g.l(p + "_store0")
			}
			for j := 0; j < v; j++ {
				g.i("VMULPS Y11, %s, %s", y(j), y(j))
				last := j == v-1
				if beta {
					if last {
						g.i("VMASKMOVPS %d(DI), Y9, Y10", 32*j)
					} else {
						g.i("VMOVUPS %d(DI), Y10", 32*j)
					}
					g.i("VFMADD231PS Y12, Y10, %s", y(j))
				}
				if last {
					g.i("VMASKMOVPS %s, Y9, %d(DI)", y(j), 32*j)
				} else {
					g.i("VMOVUPS %s, %d(DI)", y(j), 32*j)
				}
			}
			g.i("JMP gvnavx2_next")
		}
	}
	g.l("gvnavx2_next")
	g.i("ADDQ $256, R8")
	g.i("ADDQ $256, DI")
	g.i("SUBQ $64, R13")
	g.i("JG gvnavx2_strip")
	g.i("VZEROUPPER")
	g.i("RET")
	g.blank()
}

func main() {
	out := flag.String("out", "gemm_amd64.s", "output file")
	vec := flag.Bool("vec", false, "write the vectorised elementwise and row kernels (vec_amd64.s) instead of the GEMM")
	flag.Parse()
	if *vec {
		if err := os.WriteFile(*out, vecFile(), 0o644); err != nil {
			log.Fatal(err)
		}
		return
	}
	g := &gen{}
	g.b.WriteString("// Code generated by go run ./asmgen; DO NOT EDIT.\n\n")
	g.b.WriteString("//go:build amd64 && !purego\n\n")
	g.b.WriteString("#include \"textflag.h\"\n\n")
	g.comment("gemmMaskTab: eight all-ones words then eight zero words; the 8 words")
	g.comment("at gemmMaskTab+4*(8-n) mask the first n lanes of a ymm register.")
	for i := 0; i < 16; i++ {
		v := "0xffffffff"
		if i >= 8 {
			v = "0x00000000"
		}
		g.b.WriteString(fmt.Sprintf("DATA gemmMaskTab<>+%d(SB)/4, $%s\n", 4*i, v))
	}
	g.b.WriteString("GLOBL gemmMaskTab<>(SB), RODATA|NOPTR, $64\n\n")
	g.kernel512()
	g.kernelAVX2()
	g.packCopy512()
	g.packTrans512()
	g.packRows512()
	g.packCopyAVX2()
	g.packTransAVX2()
	g.dotT512()
	g.gemvN512()
	g.dotTAVX2()
	g.gemvNAVX2()
	if err := os.WriteFile(*out, g.b.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
}
