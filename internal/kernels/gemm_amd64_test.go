//go:build !purego

package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"golang.org/x/sys/cpu"
)

func TestPackAVX512(t *testing.T) {
	if !cpu.X86.HasAVX512F {
		t.Skip("no AVX-512")
	}
	rng := rand.New(rand.NewPCG(9, 9))
	for _, w := range []int{14, 32} {
		for n := 1; n <= min(w, 32); n++ {
			for _, kc := range []int{1, 5, 16, 17, 40} {
				ld := kc + n%3
				if n > kc {
					ld = n + 2
				}
				src := newMatrix(rng, max(n, kc), ld, ld, 0)
				want := make([]float32, kc*w)
				got := make([]float32, kc*w)
				src = src[:(n-1)*ld+kc]
				packTransGo(want, w, src, ld, kc, n)
				packTrans512(got, w, src, ld, kc, n)
				assert.Equal(t, want, got, "trans w=%d n=%d kc=%d", w, n, kc)
				src = src[:min(len(src), (kc-1)*ld+n)]
				if len(src) < (kc-1)*ld+n {
					continue
				}
				clear(want)
				clear(got)
				packCopyGo(want, w, src, ld, kc, n)
				packCopy512(got, w, src, ld, kc, n)
				assert.Equal(t, want, got, "copy w=%d n=%d kc=%d", w, n, kc)
			}
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
