package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/gonum"
)

// gemmCase is one Sgemm call to check against the float64 reference.
type gemmCase struct {
	transA, transB bool
	m, n, k        int
	pad            int // lda, ldb, ldc exceed the row length by pad
	alpha, beta    float32
}

func (tc gemmCase) String() string {
	t := func(b bool) string {
		if b {
			return "T"
		}
		return "N"
	}
	return fmt.Sprintf("%s%s/%dx%dx%d/pad%d/a%g/b%g", t(tc.transA), t(tc.transB), tc.m, tc.n, tc.k, tc.pad, tc.alpha, tc.beta)
}

// sentinel fills the elements of a matrix's slice that lie between rows;
// they must not be written.
const sentinel = float32(-12345.5)

// newMatrix returns a rows×cols matrix with leading dimension ld, in a
// slice that ends exactly at its last element, with random entries and
// the gaps between rows set to gap.
func newMatrix(rng *rand.Rand, rows, cols, ld int, gap float32) []float32 {
	if rows == 0 || cols == 0 {
		return nil
	}
	s := make([]float32, (rows-1)*ld+cols)
	for i := range s {
		if i%ld < cols {
			s[i] = float32(rng.NormFloat64())
		} else {
			s[i] = gap
		}
	}
	return s
}

// gemmRef is a case's operands with the float64 reference result.
type gemmRef struct {
	a, b, c0      []float32
	lda, ldb, ldc int
	want, mag     []float64 // expected C and the magnitude of its terms
}

// ref draws the case's operands and computes the reference. NaNs between
// the rows of A and B would poison the result if read; with beta == 0, C
// starts as NaNs, which must not be read either.
func (tc gemmCase) ref(rng *rand.Rand) *gemmRef {
	rowsA, colsA := tc.m, tc.k
	if tc.transA {
		rowsA, colsA = tc.k, tc.m
	}
	rowsB, colsB := tc.k, tc.n
	if tc.transB {
		rowsB, colsB = tc.n, tc.k
	}
	r := &gemmRef{lda: max(1, colsA+tc.pad), ldb: max(1, colsB+tc.pad), ldc: max(1, tc.n+tc.pad)}
	nan := float32(math.NaN())
	r.a = newMatrix(rng, rowsA, colsA, r.lda, nan)
	r.b = newMatrix(rng, rowsB, colsB, r.ldb, nan)
	r.c0 = newMatrix(rng, tc.m, tc.n, r.ldc, sentinel)
	// op(A) and op(B)ᵀ as dense float64 rows of length k.
	opA := make([]float64, tc.m*tc.k)
	opBT := make([]float64, tc.n*tc.k)
	for p := 0; p < tc.k; p++ {
		for i := 0; i < tc.m; i++ {
			if tc.transA {
				opA[i*tc.k+p] = float64(r.a[p*r.lda+i])
			} else {
				opA[i*tc.k+p] = float64(r.a[i*r.lda+p])
			}
		}
		for j := 0; j < tc.n; j++ {
			if tc.transB {
				opBT[j*tc.k+p] = float64(r.b[j*r.ldb+p])
			} else {
				opBT[j*tc.k+p] = float64(r.b[p*r.ldb+j])
			}
		}
	}
	r.want = make([]float64, tc.m*tc.n)
	r.mag = make([]float64, tc.m*tc.n)
	for i := 0; i < tc.m; i++ {
		ai := opA[i*tc.k : (i+1)*tc.k]
		for j := 0; j < tc.n; j++ {
			bj := opBT[j*tc.k : (j+1)*tc.k]
			var sum, mag float64
			for p, v := range ai {
				v *= bj[p]
				sum += v
				mag += math.Abs(v)
			}
			c := &r.c0[i*r.ldc+j]
			want := float64(tc.alpha) * sum
			mag *= math.Abs(float64(tc.alpha))
			if tc.beta == 0 {
				*c = nan
			} else {
				want += float64(tc.beta) * float64(*c)
				mag += math.Abs(float64(tc.beta) * float64(*c))
			}
			r.want[i*tc.n+j], r.mag[i*tc.n+j] = want, mag
		}
	}
	return r
}

// verify runs the case through Sgemm as currently configured and compares
// with the reference.
func (tc gemmCase) verify(t *testing.T, r *gemmRef, config string) {
	t.Helper()
	tc.verifyInto(t, r, append([]float32(nil), r.c0...), config)
}

// verifyInto is verify with C computed in c, which must hold a copy of r.c0.
func (tc gemmCase) verifyInto(t *testing.T, r *gemmRef, c []float32, config string) {
	t.Helper()
	Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, r.a, r.lda, r.b, r.ldb, tc.beta, c, r.ldc)
	const eps = 1.0 / (1 << 23)
	bad := 0
	for i := 0; i < tc.m; i++ {
		for j := 0; j < tc.n; j++ {
			got, want := float64(c[i*r.ldc+j]), r.want[i*tc.n+j]
			if tol := 2 * float64(tc.k+4) * eps * r.mag[i*tc.n+j]; math.IsNaN(got) || math.Abs(got-want) > tol+1e-30 {
				if bad < 5 {
					t.Errorf("%v %s: C[%d,%d] = %g, want %g (tolerance %g)", tc, config, i, j, got, want, tol)
				}
				bad++
			}
		}
	}
	for i, v := range c {
		if i%r.ldc >= tc.n && v != sentinel {
			t.Fatalf("%v %s: Sgemm wrote C[%d] = %g between rows", tc, config, i, v)
		}
	}
}

// check compares Sgemm with the float64 reference for every
// implementation this CPU runs, on each number of goroutines in threads
// (none: the current setting).
func (tc gemmCase) check(t *testing.T, rng *rand.Rand, threads ...int) {
	t.Helper()
	r := tc.ref(rng)
	prev := GEMM()
	defer func() { require.NoError(t, SetGEMM(prev)) }()
	for _, p := range gemmPaths {
		if !p.ok {
			continue
		}
		require.NoError(t, SetGEMM(p.name))
		if len(threads) == 0 {
			tc.verify(t, r, p.name)
		}
		for _, n := range threads {
			withThreads(n, func() { tc.verify(t, r, fmt.Sprintf("%s/threads=%d", p.name, n)) })
		}
	}
}

// forEachGEMM runs f once with each implementation this CPU supports.
func forEachGEMM(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	prev := GEMM()
	defer func() { require.NoError(t, SetGEMM(prev)) }()
	for _, name := range []string{"avx512", "avx2", "go"} {
		t.Run(name, func(t *testing.T) {
			if err := SetGEMM(name); err != nil {
				t.Skip(err)
			}
			f(t)
		})
	}
}

// withThreads runs f with SetThreads(n) and restores the previous setting.
func withThreads(n int, f func()) {
	prev := maxThreads.Load()
	SetThreads(n)
	defer maxThreads.Store(prev)
	f()
}

var transposes = [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}}

var alphaBetas = [][2]float32{{1, 0}, {1, 1}, {-0.5, 2}, {2, 0}, {0.75, -1}}

func TestSgemmSmallSizes(t *testing.T) {
	ks := []int{1, 2, 3, 5, 7, 13, 16, 17, 31, 32, 33, 40, 64, 97}
	rng := rand.New(rand.NewPCG(1, 2))
	i := 0
	for m := 1; m <= 40; m++ {
		for n := 1; n <= 40; n++ {
			for _, tr := range transposes {
				ab := alphaBetas[i%len(alphaBetas)]
				gemmCase{tr[0], tr[1], m, n, ks[i%len(ks)], i % 3, ab[0], ab[1]}.check(t, rng)
				i++
			}
		}
	}
}

func TestSgemmDepths(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for k := 0; k <= 41; k++ {
		for _, mn := range [][2]int{{1, 1}, {1, 37}, {29, 1}, {15, 33}, {14, 32}, {6, 16}, {37, 70}} {
			for _, tr := range transposes {
				for _, ab := range alphaBetas {
					gemmCase{tr[0], tr[1], mn[0], mn[1], k, 1, ab[0], ab[1]}.check(t, rng)
				}
			}
		}
	}
}

// TestSgemmBlockBoundaries uses sizes that cross the register tiles and
// the cache blocks (MC, KC, NC) of every implementation, on one, two and
// three goroutines.
func TestSgemmBlockBoundaries(t *testing.T) {
	shapes := [][3]int{
		{337, 45, 257}, {145, 33, 300}, {20, 2081, 260}, {7, 2100, 513},
		{131, 257, 97}, {1, 3001, 300}, {2999, 1, 130}, {1, 700, 1000},
		{500, 3, 64}, {3, 500, 64}, {197, 197, 64}, {32, 257, 64}, {64, 64, 1},
		{32, 300, 400}, {16, 100, 300}, {768, 70, 197},
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for i, s := range shapes {
		for _, tr := range transposes {
			ab := alphaBetas[i%len(alphaBetas)]
			gemmCase{tr[0], tr[1], s[0], s[1], s[2], i % 2, ab[0], ab[1]}.check(t, rng, 1, 2, 3)
		}
	}
}

func TestSgemmAlphaZero(t *testing.T) {
	forEachGEMM(t, func(t *testing.T) {
		nan := float32(math.NaN())
		a := []float32{nan, nan, nan, nan}
		c := []float32{1, 2, nan, 3, 4}
		Sgemm(false, false, 2, 2, 2, 0, a, 2, a, 2, 2, c, 3)
		assert.Equal(t, []float32{2, 4}, c[:2])
		assert.Equal(t, []float32{6, 8}, c[3:])
		Sgemm(false, false, 2, 2, 2, 0, a, 2, a, 2, 0, c, 3)
		assert.Equal(t, []float32{0, 0}, c[:2])
		assert.Equal(t, []float32{0, 0}, c[3:])
	})
}

func TestSgemmPanics(t *testing.T) {
	a := make([]float32, 6)
	assert.Panics(t, func() { Sgemm(false, false, 2, 3, 3, 1, a[:5], 3, a, 3, 0, a, 3) })
	assert.Panics(t, func() { Sgemm(false, false, 2, 3, 3, 1, a, 3, a[:8], 3, 0, a, 3) })
	assert.Panics(t, func() { Sgemm(false, false, 2, 3, 3, 1, a, 3, make([]float32, 9), 3, 0, a[:5], 3) })
	assert.Panics(t, func() { Sgemm(false, false, 2, 3, 3, 1, a, 2, a, 3, 0, a, 3) })
	assert.Panics(t, func() { Sgemm(false, false, -1, 3, 3, 1, a, 3, a, 3, 0, a, 3) })
	assert.NotPanics(t, func() { Sgemm(false, false, 0, 3, 3, 1, nil, 3, nil, 3, 0, nil, 3) })
}

func TestSetGEMM(t *testing.T) {
	prev := GEMM()
	defer func() { require.NoError(t, SetGEMM(prev)) }()
	require.NoError(t, SetGEMM("go"))
	assert.Equal(t, "go", GEMM())
	require.NoError(t, SetGEMM(""))
	assert.Equal(t, bestGemmPath().name, GEMM())
	assert.Error(t, SetGEMM("sse9"))
	assert.Equal(t, bestGemmPath().name, GEMM())
}

// TestGEMMEnv checks that VLM_GEMM selects the implementation at start-up,
// by running this test binary again with it set.
func TestGEMMEnv(t *testing.T) {
	if want, child := os.LookupEnv("VLM_GEMM_TEST_WANT"); child {
		assert.Equal(t, want, GEMM())
		return
	}
	for _, name := range []string{"go", "avx2", "avx512", "bogus"} {
		want := bestGemmPath().name
		for _, p := range gemmPaths {
			if p.name == name && p.ok {
				want = name
			}
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestGEMMEnv$", "-test.count=1")
		cmd.Env = append(os.Environ(), "VLM_GEMM="+name, "VLM_GEMM_TEST_WANT="+want)
		out, err := cmd.CombinedOutput()
		assert.NoError(t, err, "VLM_GEMM=%s: %s", name, out)
	}
}

// countingImpl is a BLAS implementation that counts its Sgemm calls.
type countingImpl struct {
	gonum.Implementation
	calls int
}

func (c *countingImpl) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, cc []float32, ldc int) {
	c.calls++
	c.Implementation.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, cc, ldc)
}

func TestSgemmRoutesToBlas32Use(t *testing.T) {
	impl := &countingImpl{}
	blas32.Use(impl)
	defer blas32.Use(gonum.Implementation{})
	a := []float32{1, 2, 3, 4}
	c := make([]float32, 4)
	Sgemm(false, false, 2, 2, 2, 1, a, 2, a, 2, 0, c, 2)
	assert.Equal(t, 1, impl.calls)
	assert.Equal(t, []float32{7, 10, 15, 22}, c)
}

// TestSgemmConcurrent calls Sgemm from several goroutines at once; run it
// with -race.
func TestSgemmConcurrent(t *testing.T) {
	forEachGEMM(t, func(t *testing.T) {
		withThreads(2, func() {
			var wg sync.WaitGroup
			for g := 0; g < 6; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(g), 7))
					for i := 0; i < 4; i++ {
						tr := transposes[(g+i)%4]
						for _, tc := range []gemmCase{
							{tr[0], tr[1], 70 + g*13, 150 - g*7, 160 + i, g % 2, 1, float32(i % 2)},
							{tr[0], tr[1], 1, 4000 + g, 40, 0, 1, 0},
						} {
							tc.verify(t, tc.ref(rng), GEMM())
						}
					}
				}()
			}
			wg.Wait()
		})
	})
}

func TestSgemmNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	forEachGEMM(t, func(t *testing.T) {
		if GEMM() == "go" {
			t.Skip("gonum's Sgemm allocates")
		}
		for _, s := range [][3]int{{256, 256, 256}, {32, 768, 768}, {1, 768, 768}, {300, 1, 300}} {
			a := make([]float32, s[0]*s[2])
			b := make([]float32, s[2]*s[1])
			c := make([]float32, s[0]*s[1])
			for _, threads := range []int{1, 2} {
				withThreads(threads, func() {
					for _, tr := range transposes {
						lda, ldb := s[2], s[1]
						if tr[0] {
							lda = s[0]
						}
						if tr[1] {
							ldb = s[2]
						}
						run := func() { Sgemm(tr[0], tr[1], s[0], s[1], s[2], 1, a, lda, b, ldb, 0, c, s[1]) }
						run()
						assert.Zero(t, testing.AllocsPerRun(20, run), "%v %v threads=%d", s, tr, threads)
					}
				})
			}
		}
	})
}

// benchShapes are the products the library spends its time in: M×K·K×N.
var benchShapes = []struct {
	name           string
	transA, transB bool
	m, k, n        int
}{
	{"1024x1024x1024", false, false, 1024, 1024, 1024},
	{"32x768x768", false, false, 32, 768, 768},
	{"257x1408x768", false, false, 257, 1408, 768},
	{"32x768x3072", false, false, 32, 768, 3072},
	{"NT/32x768x768", false, true, 32, 768, 768},
	{"NT/257x1408x768", false, true, 257, 1408, 768},
	{"NT/197x768x2304", false, true, 197, 768, 2304},
	{"TN/768x32x768", true, false, 768, 32, 768},
	{"1x768x768", false, false, 1, 768, 768},
	{"NT/1x768x3072", false, true, 1, 768, 3072},
	{"NT/197x64x197", false, true, 197, 64, 197},
}

func BenchmarkSgemm(b *testing.B) {
	prev := GEMM()
	defer func() { _ = SetGEMM(prev) }()
	for _, s := range benchShapes {
		rng := rand.New(rand.NewPCG(1, 1))
		x := newMatrix(rng, s.m, s.k, s.k, 0)
		y := newMatrix(rng, s.k, s.n, s.n, 0)
		c := make([]float32, s.m*s.n)
		lda, ldb := s.k, s.n
		if s.transA {
			lda = s.m
		}
		if s.transB {
			ldb = s.k
		}
		for _, impl := range []string{"avx512", "avx2", "go"} {
			for _, threads := range []int{1, 2} {
				b.Run(fmt.Sprintf("%s/%s/threads=%d", s.name, impl, threads), func(b *testing.B) {
					if err := SetGEMM(impl); err != nil {
						b.Skip(err)
					}
					// gonum's native Sgemm sizes its parallelism by GOMAXPROCS.
					defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(threads))
					withThreads(threads, func() {
						b.ReportAllocs()
						for b.Loop() {
							Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, x, lda, y, ldb, 0, c, s.n)
						}
						flops := 2 * float64(s.m) * float64(s.n) * float64(s.k) * float64(b.N)
						b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
					})
				})
			}
		}
	}
}
