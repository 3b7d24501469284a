//go:build !purego

package kernels

import "golang.org/x/sys/cpu"

//go:generate go run ./asmgen -out gemm_amd64.s

// The assembly in gemm_amd64.s is written by ./asmgen. The micro-kernels
// compute one register tile
//
//	T(r, l) = sum_{p<k} A(r, p)*B(p, l),  r < mr, l < nr,
//
// with A(r, p) = a[r*rs+p*ps] (each element is broadcast) and B(p, l) =
// b[p*bs+l] (read as vectors, masked to nr lanes), and store
// C = alpha*T + beta*C into C(r, l) = c[r*ldc+l], or c[l*ldc+r] if flags
// has flagTrans. With flagBetaZero, C is not read. They never touch memory
// outside those elements; gemmISA.tile checks the slices before calling
// them. scratch must hold 448 floats.

// Flag bits of the micro-kernels' flags argument.
const (
	flagTrans    = 1 // store the tile transposed
	flagBetaZero = 2 // beta == 0: overwrite C without reading it
)

// gemmKernel512 is the AVX-512 micro-kernel: mr <= 14, nr <= 32.
//
//go:noescape
func gemmKernel512(k int, a *float32, rs, ps int, b *float32, bs int, c *float32, ldc int, mr, nr int, alpha, beta float32, flags int, scratch *float32)

// gemmKernelAVX2 is the AVX2+FMA micro-kernel: mr <= 6, nr <= 16.
//
//go:noescape
func gemmKernelAVX2(k int, a *float32, rs, ps int, b *float32, bs int, c *float32, ldc int, mr, nr int, alpha, beta float32, flags int, scratch *float32)

// gemmPackCopy512 sets dst[p*w+l] = src[p*ld+l] for p < kc, l < n <= 32.
//
//go:noescape
func gemmPackCopy512(dst *float32, w int, src *float32, ld, kc, n int)

// gemmPackTrans512 sets dst[p*w+l] = src[l*ld+p] for p < kc, l < n <= 32.
//
//go:noescape
func gemmPackTrans512(dst *float32, w int, src *float32, ld, kc, n int)

// gemmPackRows512 packs the first n columns of kc rows of src into panels
// of 32 columns: dst[q*kc*32+p*32+l] = src[p*ld+q*32+l].
//
//go:noescape
func gemmPackRows512(dst *float32, kc int, src *float32, ld, n int)

// gemmPackCopyAVX2 and gemmPackTransAVX2 are the AVX2 versions of
// gemmPackCopy512 and gemmPackTrans512, for n <= 16.
//
//go:noescape
func gemmPackCopyAVX2(dst *float32, w int, src *float32, ld, kc, n int)

//go:noescape
func gemmPackTransAVX2(dst *float32, w int, src *float32, ld, kc, n int)

// gemmDotT512 sets y[i*ldy+j] = alpha*sum_{p<k} x[i*ldx+p]*m[j*ldm+p] +
// beta*y[i*ldy+j] for i < mi <= 4, j < n.
//
//go:noescape
func gemmDotT512(n, k int, x *float32, ldx, mi int, m *float32, ldm int, y *float32, ldy int, alpha, beta float32, flags int)

// gemvN512 sets y[j] = alpha*sum_{p<k} x[p]*m[p*ldm+j] + beta*y[j] for j < n.
//
//go:noescape
func gemvN512(k, n int, x, m *float32, ldm int, y *float32, alpha, beta float32, flags int)

// gemmDotTAVX2 and gemvNAVX2 are the AVX2 versions of gemmDotT512 (for
// mi <= 2) and gemvN512.
//
//go:noescape
func gemmDotTAVX2(n, k int, x *float32, ldx, mi int, m *float32, ldm int, y *float32, ldy int, alpha, beta float32, flags int)

//go:noescape
func gemvNAVX2(k, n int, x, m *float32, ldm int, y *float32, alpha, beta float32, flags int)

var (
	isa512 = &gemmISA{
		mr: 14, nr: 32, mc: 14 * 24, kc: 192, nc: 32 * 32,
		kernel:    gemmKernel512,
		packCopy:  packCopy512,
		packTrans: packTrans512,
		packRows:  packRows512,
		dot:       gemmDotT512, dotRows: 4, dotCost: 77,
		gemvN: gemvN512,
	}
	isaAVX2 = &gemmISA{
		mr: 6, nr: 16, mc: 6 * 24, kc: 256, nc: 16 * 128,
		kernel:    gemmKernelAVX2,
		packCopy:  packCopyAVX2,
		packTrans: packTransAVX2,
		dot:       gemmDotTAVX2, dotRows: 2, dotCost: 40,
		gemvN: gemvNAVX2,
	}
)

func archGemmPaths() []*gemmPath {
	return []*gemmPath{
		{name: "avx512", ok: cpu.X86.HasAVX512F, run: isa512.sgemm, vec: vec512},
		{name: "avx2", ok: cpu.X86.HasAVX2 && cpu.X86.HasFMA, run: isaAVX2.sgemm, vec: vecAVX2},
	}
}

// packCopy512, packTrans512, packRows512, packCopyAVX2 and packTransAVX2
// check the slices and call the assembly.
func packCopy512(dst []float32, w int, src []float32, ld, kc, n int) {
	_ = dst[(kc-1)*w+n-1]
	_ = src[(kc-1)*ld+n-1]
	gemmPackCopy512(&dst[0], w, &src[0], ld, kc, n)
}

func packTrans512(dst []float32, w int, src []float32, ld, kc, n int) {
	_ = dst[(kc-1)*w+n-1]
	_ = src[(n-1)*ld+kc-1]
	gemmPackTrans512(&dst[0], w, &src[0], ld, kc, n)
}

func packRows512(dst []float32, kc int, src []float32, ld, n int) {
	_ = dst[(n-1)/32*kc*32+(kc-1)*32+(n-1)%32]
	_ = src[(kc-1)*ld+n-1]
	gemmPackRows512(&dst[0], kc, &src[0], ld, n)
}

func packCopyAVX2(dst []float32, w int, src []float32, ld, kc, n int) {
	_ = dst[(kc-1)*w+n-1]
	_ = src[(kc-1)*ld+n-1]
	gemmPackCopyAVX2(&dst[0], w, &src[0], ld, kc, n)
}

func packTransAVX2(dst []float32, w int, src []float32, ld, kc, n int) {
	_ = dst[(kc-1)*w+n-1]
	_ = src[(n-1)*ld+kc-1]
	gemmPackTransAVX2(&dst[0], w, &src[0], ld, kc, n)
}
