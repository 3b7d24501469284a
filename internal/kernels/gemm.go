package kernels

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/gonum"
)

// The GEMM implementation behind Sgemm is chosen once at start-up from
// the CPU: "avx512" (amd64 with AVX-512F and an OS that saves the zmm
// state), else "avx2" (amd64 with AVX2 and FMA), else "go", the portable
// gonum code. The environment variable VLM_GEMM=go|avx2|avx512 asks for a
// particular one (an implementation the CPU cannot run falls back to the
// best available one), and SetGEMM changes it at run time, so that tests
// can run the same cases through every implementation. The choice covers
// the vectorised elementwise and row kernels too (activations, softmax,
// LayerNorm, AdamW, ...): "go" runs the whole package without assembly.
// The assembly is left out of builds for other architectures and of
// builds with the purego tag.
//
// If blas32.Use has installed an implementation other than gonum's native
// one, Sgemm calls that implementation instead, whatever the setting.

// gemmPath is one implementation of Sgemm for checked arguments with
// m, n, k > 0 and alpha != 0, using at most threads goroutines; run == nil
// means the portable gonum code.
type gemmPath struct {
	name string
	ok   bool
	run  func(threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)
	// vec holds the same instruction set's vectorised elementwise and row
	// kernels; nil means the Go code.
	vec *vecImpl
}

// gemmPaths lists the implementations, fastest first; archGemmPaths comes
// from the architecture's file.
var gemmPaths = append(archGemmPaths(), &gemmPath{name: "go", ok: true})

var gemmCur atomic.Pointer[gemmPath]

func init() {
	gemmCur.Store(bestGemmPath())
	if name, set := os.LookupEnv("VLM_GEMM"); set {
		// An unknown or unsupported name keeps the best implementation.
		_ = SetGEMM(name)
	}
}

func bestGemmPath() *gemmPath {
	for _, p := range gemmPaths {
		if p.ok {
			return p
		}
	}
	panic("kernels: no GEMM implementation")
}

// SetGEMM selects the implementation behind Sgemm: "avx512", "avx2", "go",
// or "" for the best one this CPU runs. It returns an error, and changes
// nothing, if the name is unknown or the CPU cannot run that
// implementation. It is safe to call concurrently with Sgemm.
func SetGEMM(name string) error {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" {
		gemmCur.Store(bestGemmPath())
		return nil
	}
	for _, p := range gemmPaths {
		if p.name == name {
			if !p.ok {
				return fmt.Errorf("kernels: GEMM implementation %q is not supported on this CPU", name)
			}
			gemmCur.Store(p)
			return nil
		}
	}
	return fmt.Errorf("kernels: unknown GEMM implementation %q (want avx512, avx2 or go)", name)
}

// GEMM returns the name of the implementation Sgemm uses: "avx512",
// "avx2" or "go".
func GEMM() string { return gemmCur.Load().name }

// Sgemm computes C = alpha*op(A)*op(B) + beta*C for row-major matrices,
// where op(X) is X or its transpose, op(A) is m×k, op(B) is k×n and C is
// m×n, with leading dimensions lda, ldb and ldc.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemm(Threads(), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// sgemm is Sgemm on at most threads goroutines, for callers that already
// run on several (one product per attention head).
func sgemm(threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	impl := blas32.Implementation()
	if _, native := impl.(gonum.Implementation); !native {
		impl.Sgemm(blasTrans(transA), blasTrans(transB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	checkSgemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	if p := gemmCur.Load(); p.run != nil {
		p.run(threads, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	impl.Sgemm(blasTrans(transA), blasTrans(transB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func blasTrans(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}

// checkSgemm panics, as gonum does, if the arguments do not describe
// matrices inside the slices.
func checkSgemm(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("kernels: Sgemm with negative size m=%d n=%d k=%d", m, n, k))
	}
	rowsA, colsA := m, k
	if transA {
		rowsA, colsA = k, m
	}
	rowsB, colsB := k, n
	if transB {
		rowsB, colsB = n, k
	}
	if lda < max(1, colsA) {
		panic("kernels: Sgemm: bad lda")
	}
	if ldb < max(1, colsB) {
		panic("kernels: Sgemm: bad ldb")
	}
	if ldc < max(1, n) {
		panic("kernels: Sgemm: bad ldc")
	}
	if m == 0 || n == 0 {
		return
	}
	// With k == 0, A and B have no elements and are not read.
	if k > 0 && len(a) < (rowsA-1)*lda+colsA {
		panic("kernels: Sgemm: A is too short")
	}
	if k > 0 && len(b) < (rowsB-1)*ldb+colsB {
		panic("kernels: Sgemm: B is too short")
	}
	if len(c) < (m-1)*ldc+n {
		panic("kernels: Sgemm: C is too short")
	}
}

// scaleC sets C = beta*C; beta == 0 overwrites C with zeros.
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}
