//go:build !purego

package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"golang.org/x/sys/cpu"
)

func TestPack(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, isa := range []struct {
		name     string
		ok       bool
		ws       []int
		copy, tr func(dst []float32, w int, src []float32, ld, kc, n int)
	}{
		{"avx512", cpu.X86.HasAVX512F, []int{14, 32}, packCopy512, packTrans512},
		{"avx2", cpu.X86.HasAVX2, []int{6, 16}, packCopyAVX2, packTransAVX2},
	} {
		if !isa.ok {
			continue
		}
		for _, w := range isa.ws {
			for n := 1; n <= w; n++ {
				for _, kc := range []int{1, 5, 8, 16, 17, 40} {
					// Transpose-pack n rows of kc floats; the slice ends at
					// the last element read.
					ld := kc + n%3
					src := newMatrix(rng, n, kc, ld, 0)
					want := make([]float32, kc*w)
					got := make([]float32, kc*w)
					packTransGo(want, w, src, ld, kc, n)
					isa.tr(got, w, src, ld, kc, n)
					assert.Equal(t, want, got, "%s trans w=%d n=%d kc=%d", isa.name, w, n, kc)
					// Copy-pack kc rows of n floats.
					ld = n + kc%3
					src = newMatrix(rng, kc, n, ld, 0)
					clear(want)
					clear(got)
					packCopyGo(want, w, src, ld, kc, n)
					isa.copy(got, w, src, ld, kc, n)
					assert.Equal(t, want, got, "%s copy w=%d n=%d kc=%d", isa.name, w, n, kc)
				}
			}
		}
	}
}

func TestPackRows512(t *testing.T) {
	if !cpu.X86.HasAVX512F {
		t.Skip("no AVX-512")
	}
	rng := rand.New(rand.NewPCG(8, 8))
	for _, n := range []int{1, 15, 16, 17, 32, 33, 64, 70, 100} {
		for _, kc := range []int{1, 3, 20} {
			ld := n + kc%3
			src := newMatrix(rng, kc, n, ld, 0)
			panels := (n + 31) / 32
			want := make([]float32, panels*kc*32)
			got := make([]float32, panels*kc*32)
			for q := 0; q < panels; q++ {
				packCopyGo(want[q*kc*32:], 32, src[q*32:], ld, kc, min(32, n-q*32))
			}
			// The slice ends at the last element written.
			packRows512(got[:(panels-1)*kc*32+(kc-1)*32+(n-1)%32+1], kc, src, ld, n)
			assert.Equal(t, want, got, "n=%d kc=%d", n, kc)
		}
	}
}

// packCopyGo and packTransGo are the reference packing routines: the
// semantics of gemmPackCopy512 and gemmPackTrans512.
func packCopyGo(dst []float32, w int, src []float32, ld, kc, n int) {
	for p := 0; p < kc; p++ {
		copy(dst[p*w:p*w+n], src[p*ld:p*ld+n])
	}
}

func packTransGo(dst []float32, w int, src []float32, ld, kc, n int) {
	for l := 0; l < n; l++ {
		row := src[l*ld : l*ld+kc]
		d := dst[l:]
		for p, v := range row {
			d[p*w] = v
		}
	}
}

// BenchmarkGemmKernel measures the micro-kernels alone on packed panels
// that stay in L1: the ceiling for the blocked GEMM.
func BenchmarkGemmKernel(b *testing.B) {
	for _, isa := range []struct {
		name string
		ok   bool
		e    *gemmISA
	}{{"avx512", cpu.X86.HasAVX512F, isa512}, {"avx2", cpu.X86.HasAVX2 && cpu.X86.HasFMA, isaAVX2}} {
		for _, k := range []int{64, 256} {
			b.Run(fmt.Sprintf("%s/k=%d", isa.name, k), func(b *testing.B) {
				if !isa.ok {
					b.Skip("not supported")
				}
				e := isa.e
				x := make([]float32, k*e.mr)
				y := make([]float32, k*e.nr)
				c := make([]float32, e.mr*e.nr)
				scratch := make([]float32, 512)
				for b.Loop() {
					e.tile(k, x, 1, e.mr, y, e.nr, c, e.nr, e.mr, e.nr, 1, 1, 0, scratch)
				}
				flops := 2 * float64(k*e.mr*e.nr) * float64(b.N)
				b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
