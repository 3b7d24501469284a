//go:build !purego

package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// gemmISA is one instruction set's micro-kernel with its packing
// routines and cache blocking.
type gemmISA struct {
	mr, nr     int // register tile: rows of X (broadcast) by lanes of Y (vectors)
	mc, kc, nc int // cache blocks: rows of packed X, depth, lanes of packed Y
	kernel     func(k int, a *float32, rs, ps int, b *float32, bs int, c *float32, ldc int, mr, nr int, alpha, beta float32, flags int, scratch *float32)
	packCopy   func(dst []float32, w int, src []float32, ld, kc, n int)
	packTrans  func(dst []float32, w int, src []float32, ld, kc, n int)
	// packRows, if not nil, packs whole rows of a vector operand with
	// unit lane stride into nr-lane panels (faster than packCopy per panel).
	packRows func(dst []float32, kc int, src []float32, ld, n int)
	// dot and gemvN are the matrix-vector kernels, with the semantics of
	// gemmDotT512 (for mi <= dotRows) and gemvN512.
	dot     func(n, k int, x *float32, ldx, mi int, m *float32, ldm int, y *float32, ldy int, alpha, beta float32, flags int)
	dotRows int
	dotCost int // see dotBeatsTiles
	gemvN   func(k, n int, x, m *float32, ldm int, y *float32, alpha, beta float32, flags int)
}

// Tuning constants, measured on a 2-core AMD Zen 5 (see gemm_test.go's
// benchmarks).
const (
	// gemmParallelFlops is the least work (2*m*n*k) worth a second goroutine.
	gemmParallelFlops = 1 << 21
	// gemvParallelElems is the least number of multiply-adds for which a
	// matrix-vector product is split over goroutines.
	gemvParallelElems = 1 << 18
	// gemmDotBlock rows of B (dot products) stay in L2 while every group
	// of rows of A passes over them.
	gemmDotBlock = 64
	// gemmSpin is how long an idle worker polls for the next task before
	// it parks.
	gemmSpin = 200 * time.Microsecond
	// gemmPackYRows: the vector operand is read in place, without packing,
	// when a goroutine has at most this many rows of X.
	gemmPackYRows = 64
)

// gemmKind says which computation a gemmProblem describes.
type gemmKind uint8

const (
	gemmBlocked gemmKind = iota // register tiles over packed or strided panels
	gemmGemvN                   // y = alpha*x·M + beta*y
	gemmDot                     // y = alpha*X·Mᵀ + beta*y
)

// gemmProblem is, for kind gemmBlocked,
//
//	C(r, l) = alpha*sum_{p<k} X(r, p)*Y(p, l) + beta*C(r, l),  r < rows, l < lanes,
//
// with X(r, p) = x[r*xr+p*xp], Y(p, l) = y[p*yp+l*yl] and C(r, l) =
// c[r*ldc+l], or c[l*ldc+r] if trans. Sgemm maps op(A)·op(B) onto it with
// X = op(A), Y = op(B) or, transposed, X = op(B)ᵀ, Y = op(A)ᵀ.
//
// For gemmGemvN, y[j] = alpha*sum_{p<k} x[p]*m[p*ldm+j] + beta*y[j] for
// j < lanes. For gemmDot, y[i*ldy+j] = alpha*sum_{p<k} x[i*ldx+p]*m[j*ldm+p]
// + beta*y[i*ldy+j] for i < rows, j < lanes.
type gemmProblem struct {
	kind         gemmKind
	rows, lanes  int
	k            int
	x            []float32
	xr, xp       int
	y            []float32
	yp, yl       int
	c            []float32
	ldc          int
	trans        bool
	alpha, beta  float32
	packX, packY bool
	splitLanes   bool // goroutines split the lanes (else the rows)
	m            []float32
	ldm          int
	ldx, ldy     int
}

// gemmTask is the part [lo, hi) of a problem's split dimension. A task is
// run by whoever first claims it: a worker goroutine or, if none has by
// the time it finished its own part, the calling goroutine.
type gemmTask struct {
	e       *gemmISA
	p       *gemmProblem
	lo, hi  int
	claimed atomic.Bool
	wg      *sync.WaitGroup
}

// gemmCall holds the state of one Sgemm call; call states are reused so
// that steady-state calls do not allocate.
type gemmCall struct {
	p     gemmProblem
	tasks []gemmTask
	wg    sync.WaitGroup
}

// gemmBuf holds one goroutine's packing buffers.
type gemmBuf struct {
	x, y    []float32
	scratch []float32
	v       []float32 // gathered vectors of the matrix-vector paths
}

var (
	// gemmFree holds idle packing buffers and gemmCallsFree idle call
	// states. Unlike a sync.Pool they keep them across garbage
	// collections: the buffers are about a megabyte each, reallocating
	// them would cost more than a small product, and Sgemm should not
	// allocate at all in steady state.
	gemmFree      = make(chan *gemmBuf, 8)
	gemmCallsFree = make(chan *gemmCall, 16)

	gemmQueue       = make(chan *gemmTask, 64)
	gemmWorkersMu   sync.Mutex
	gemmWorkerCount atomic.Int64
	gemmSpinning    atomic.Int32 // workers polling gemmQueue
)

// alignedFloats returns n zero floats starting on a 64-byte boundary.
func alignedFloats(n int) []float32 {
	s := make([]float32, n+16)
	off := int(uintptr(unsafe.Pointer(&s[0]))&63) / 4
	if off != 0 {
		off = 16 - off
	}
	return s[off : off+n : off+n]
}

// grow returns s if it holds n floats, else a new aligned slice.
func grow(s []float32, n int) []float32 {
	if cap(s) >= n {
		return s[:n]
	}
	return alignedFloats(n)
}

// startGemmWorkers makes sure n worker goroutines serve gemmQueue.
func startGemmWorkers(n int) {
	if gemmWorkerCount.Load() >= int64(n) {
		return
	}
	gemmWorkersMu.Lock()
	defer gemmWorkersMu.Unlock()
	for gemmWorkerCount.Load() < int64(n) {
		go gemmWorker()
		gemmWorkerCount.Add(1)
	}
}

func gemmWorker() {
	for t := range gemmQueue {
		t.runIfUnclaimed()
		// Stay on the CPU for a while: a layer's products come in quick
		// succession, and waking a parked goroutine on another thread takes
		// tens of microseconds, as long as a small product itself.
		gemmSpinning.Add(1)
		deadline := time.Now().Add(gemmSpin)
		for spins := 0; ; spins++ {
			select {
			case t := <-gemmQueue:
				gemmSpinning.Add(-1)
				t.runIfUnclaimed()
				gemmSpinning.Add(1)
				deadline = time.Now().Add(gemmSpin)
				continue
			default:
			}
			if spins%64 == 0 && time.Now().After(deadline) {
				break
			}
			runtime.Gosched()
		}
		gemmSpinning.Add(-1)
	}
}

// runIfUnclaimed runs the task unless another goroutine has.
func (t *gemmTask) runIfUnclaimed() {
	if t.claimed.CompareAndSwap(false, true) {
		t.run()
		t.wg.Done()
	}
}

// sgemm is Sgemm for checked arguments with m, n, k > 0 and alpha != 0.
func (e *gemmISA) sgemm(threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	var call *gemmCall
	select {
	case call = <-gemmCallsFree:
	default:
		call = new(gemmCall)
	}
	defer call.release()
	p := &call.p
	*p = gemmProblem{k: k, c: c, ldc: ldc, alpha: alpha, beta: beta}
	if m == 1 || n == 1 || (!transA && transB && e.dotBeatsTiles(m, k)) {
		e.planVector(call, threads, transA, transB, m, n, a, lda, b, ldb)
		return
	}
	// The micro-kernel wants Y with unit lane stride. op(A)·op(B) has it
	// unless transB; the transposed form op(B)ᵀ·op(A)ᵀ has it if transA.
	// For A·Bᵀ, both need a transpose-pack; the transposed form wins when
	// op(A) fits in one vector panel, so that B is read once in place
	// (otherwise both forms pack both operands, and the normal one spares
	// the transposed stores).
	trans := transB && (transA || m <= e.nr)
	if !trans {
		p.rows, p.lanes = m, n
		p.x, p.xr, p.xp = a, lda, 1
		if transA {
			p.xr, p.xp = 1, lda
		}
		p.y, p.yp, p.yl = b, ldb, 1
		if transB {
			p.yp, p.yl = 1, ldb
		}
	} else {
		p.trans = true
		p.rows, p.lanes = n, m
		p.x, p.xr, p.xp = b, 1, ldb
		if transB {
			p.xr, p.xp = ldb, 1
		}
		p.y, p.yp, p.yl = a, 1, lda
		if transA {
			p.yp, p.yl = lda, 1
		}
	}
	rowTiles := (p.rows + e.mr - 1) / e.mr
	laneTiles := (p.lanes + e.nr - 1) / e.nr
	t := gemmThreads(threads, 2*float64(m)*float64(n)*float64(k))
	p.splitLanes = p.lanes >= p.rows
	total, unit, tiles := p.lanes, e.nr, laneTiles
	if !p.splitLanes {
		total, unit, tiles = p.rows, e.mr, rowTiles
	}
	t = min(t, tiles)
	rowsPer, lanesPer := p.rows, p.lanes
	if p.splitLanes {
		lanesPer = (laneTiles + t - 1) / t * e.nr
	} else {
		rowsPer = (rowTiles + t - 1) / t * e.mr
	}
	p.packY = p.yl != 1 || rowsPer > gemmPackYRows
	p.packX = lanesPer > e.nr
	e.parallel(call, t, total, unit)
}

// dotBeatsTiles reports whether A·Bᵀ with m rows is faster as dot
// products (e.dot) than through the transposed tile form, whose vectors
// run along m. The tiles waste the lanes past m in their last vector; the
// dot products spend about e.dotCost/vector-width cycles per element of C
// on horizontal sums besides k/(2*vector-width) on FMAs (fits the
// measurements within 10%).
func (e *gemmISA) dotBeatsTiles(m, k int) bool {
	if m > e.nr {
		return false
	}
	vec := e.nr / 2
	lanes := (m + vec - 1) / vec * vec
	return float64(k)/float64(k+e.dotCost) > 0.95*float64(m)/float64(lanes)
}

// gemmThreads returns how many of at most t goroutines a problem of the
// given number of floating-point operations should use.
func gemmThreads(t int, flops float64) int {
	if t <= 1 || flops < 2*gemmParallelFlops {
		return 1
	}
	return min(t, int(flops/gemmParallelFlops))
}

// planVector maps an Sgemm with m == 1 or n == 1, or op(A)·Bᵀ with few
// rows, onto the matrix-vector kernels.
func (e *gemmISA) planVector(call *gemmCall, threads int, transA, transB bool, m, n int, a []float32, lda int, b []float32, ldb int) {
	p := &call.p
	buf := getGemmBuf()
	defer putGemmBuf(buf)
	k := p.k
	p.rows, p.ldy = 1, p.ldc
	switch {
	case m == 1 && !transB:
		// C row 0 = op(A) row 0 · B.
		p.kind, p.lanes, p.m, p.ldm, p.y = gemmGemvN, n, b, ldb, p.c[:n]
		p.x = a[:k]
		if transA {
			p.x = buf.gather(a, lda, k)
		}
	case n == 1 && m > 1:
		// C column 0 = op(A) · op(B) column 0.
		x := b[:k]
		if !transB {
			x = buf.gather(b, ldb, k)
		}
		p.kind, p.lanes, p.m, p.ldm, p.x, p.ldx = gemmDot, m, a, lda, x, k
		if transA {
			p.kind = gemmGemvN
		}
		p.y = p.c[:m]
		if p.ldc != 1 {
			// The kernels want C's column contiguous: work on a copy (p.x
			// may already live in buf.v, so use buf.y).
			buf.y = grow(buf.y, m)
			p.y = buf.y
			if p.beta != 0 {
				for i := range p.y {
					p.y[i] = p.c[i*p.ldc]
				}
			}
		}
	default:
		// The rows of op(A) dotted with the rows of B: m == 1 with transB,
		// or A·Bᵀ with few rows.
		p.kind, p.lanes, p.m, p.ldm = gemmDot, n, b, ldb
		p.rows, p.x, p.ldx, p.y = m, a, lda, p.c
		if transA {
			p.x, p.ldx = buf.gather(a, lda, k), k
		}
	}
	unit := 4
	if p.kind == gemmGemvN {
		unit = 16
	}
	t := 1
	if k*p.lanes*p.rows >= gemvParallelElems {
		t = min(threads, (p.lanes+unit-1)/unit)
	}
	e.parallel(call, t, p.lanes, unit)
	if n == 1 && m != 1 && p.ldc != 1 {
		for i, v := range p.y {
			p.c[i*p.ldc] = v
		}
	}
}

func getGemmBuf() *gemmBuf {
	select {
	case buf := <-gemmFree:
		return buf
	default:
		return &gemmBuf{scratch: alignedFloats(512)}
	}
}

func putGemmBuf(buf *gemmBuf) {
	select {
	case gemmFree <- buf:
	default:
	}
}

// gather returns v[i] = s[i*inc] for i < cnt, in buf.v.
func (buf *gemmBuf) gather(s []float32, inc, cnt int) []float32 {
	buf.v = grow(buf.v, cnt)
	for i := range buf.v {
		buf.v[i] = s[i*inc]
	}
	return buf.v
}

// release returns call to gemmCallsFree, dropping its references to the
// caller's matrices.
func (call *gemmCall) release() {
	call.p = gemmProblem{}
	select {
	case gemmCallsFree <- call:
	default:
	}
}

// parallel runs the problem in call split into t parts of [0, total) in
// multiples of unit.
func (e *gemmISA) parallel(call *gemmCall, t, total, unit int) {
	if cap(call.tasks) < t {
		call.tasks = make([]gemmTask, t)
	}
	tasks := call.tasks[:t]
	units := (total + unit - 1) / unit
	for i := range tasks {
		ts := &tasks[i]
		ts.e, ts.p, ts.wg = e, &call.p, &call.wg
		ts.lo = units * i / t * unit
		ts.hi = min(total, units*(i+1)/t*unit)
	}
	if t > 1 {
		startGemmWorkers(t - 1)
		for i := 1; i < t; i++ {
			call.wg.Add(1)
			tasks[i].claimed.Store(false)
			select {
			case gemmQueue <- &tasks[i]:
			default:
			}
		}
		// A parked worker made runnable by the send waits on this
		// goroutine's P until it yields; yield, so that the worker starts
		// now and this goroutine resumes on another P.
		if gemmSpinning.Load() < int32(t-1) {
			runtime.Gosched()
		}
	}
	tasks[0].run()
	for i := 1; i < t; i++ {
		if tasks[i].claimed.CompareAndSwap(false, true) {
			tasks[i].run()
			call.wg.Done()
		}
	}
	call.wg.Wait()
}

// run computes the task's part of its problem.
func (t *gemmTask) run() {
	p, e := t.p, t.e
	lo, hi := t.lo, t.hi
	if lo >= hi {
		return
	}
	flags := 0
	if p.beta == 0 {
		flags = flagBetaZero
	}
	switch p.kind {
	case gemmGemvN:
		_, _, _ = p.x[p.k-1], p.m[lo+(p.k-1)*p.ldm+hi-lo-1], p.y[hi-1]
		e.gemvN(p.k, hi-lo, &p.x[0], &p.m[lo], p.ldm, &p.y[lo], p.alpha, p.beta, flags)
		return
	case gemmDot:
		for jb := lo; jb < hi; jb += gemmDotBlock {
			nb := min(gemmDotBlock, hi-jb)
			for i0 := 0; i0 < p.rows; i0 += e.dotRows {
				mi := min(e.dotRows, p.rows-i0)
				_, _, _ = p.x[(i0+mi-1)*p.ldx+p.k-1], p.m[(jb+nb-1)*p.ldm+p.k-1], p.y[(i0+mi-1)*p.ldy+jb+nb-1]
				e.dot(nb, p.k, &p.x[i0*p.ldx], p.ldx, mi, &p.m[jb*p.ldm], p.ldm, &p.y[i0*p.ldy+jb], p.ldy, p.alpha, p.beta, flags)
			}
		}
		return
	}
	buf := getGemmBuf()
	if p.packX {
		buf.x = grow(buf.x, e.mc*e.kc)
	}
	if p.packY {
		buf.y = grow(buf.y, e.kc*e.nc)
	}
	if p.splitLanes {
		e.block(p, 0, p.rows, lo, hi, buf)
	} else {
		e.block(p, lo, hi, 0, p.lanes, buf)
	}
	putGemmBuf(buf)
}

// block computes rows [r0, r1) and lanes [l0, l1) of a gemmBlocked problem.
func (e *gemmISA) block(p *gemmProblem, r0, r1, l0, l1 int, buf *gemmBuf) {
	mr, nr := e.mr, e.nr
	// Split k into equal blocks of at most e.kc: every block costs a pass
	// over C, which a short last block (k = 197 → 192 + 5) would waste.
	kb := (p.k + e.kc - 1) / e.kc
	kcBlock := (p.k + kb - 1) / kb
	for jc := l0; jc < l1; jc += e.nc {
		nc := min(e.nc, l1-jc)
		for pc := 0; pc < p.k; pc += kcBlock {
			kc := min(kcBlock, p.k-pc)
			beta := p.beta
			if pc > 0 {
				beta = 1
			}
			flags := 0
			if p.trans {
				flags |= flagTrans
			}
			if beta == 0 {
				flags |= flagBetaZero
			}
			switch {
			case p.packY && p.yl == 1 && e.packRows != nil:
				e.packRows(buf.y, kc, p.y[pc*p.yp+jc:], p.yp, nc)
			case p.packY:
				for jr := 0; jr < nc; jr += nr {
					src := p.y[pc*p.yp+(jc+jr)*p.yl:]
					dst := buf.y[jr*kc:]
					if p.yl == 1 {
						e.packCopy(dst, nr, src, p.yp, kc, min(nr, nc-jr))
					} else {
						e.packTrans(dst, nr, src, p.yl, kc, min(nr, nc-jr))
					}
				}
			}
			for ic := r0; ic < r1; ic += e.mc {
				mc := min(e.mc, r1-ic)
				if p.packX {
					for ir := 0; ir < mc; ir += mr {
						src := p.x[(ic+ir)*p.xr+pc*p.xp:]
						dst := buf.x[ir*kc:]
						if p.xr == 1 {
							e.packCopy(dst, mr, src, p.xp, kc, min(mr, mc-ir))
						} else {
							e.packTrans(dst, mr, src, p.xr, kc, min(mr, mc-ir))
						}
					}
				}
				for jr := 0; jr < nc; jr += nr {
					n := min(nr, nc-jr)
					y, yp := p.y, p.yp
					if p.packY {
						y, yp = buf.y[jr*kc:], nr
					} else {
						y = y[pc*p.yp+jc+jr:]
					}
					for ir := 0; ir < mc; ir += mr {
						m := min(mr, mc-ir)
						x, xr, xp := p.x, p.xr, p.xp
						if p.packX {
							x, xr, xp = buf.x[ir*kc:], 1, mr
						} else {
							x = x[(ic+ir)*p.xr+pc*p.xp:]
						}
						r, l := ic+ir, jc+jr
						coff := r*p.ldc + l
						if p.trans {
							coff = l*p.ldc + r
						}
						e.tile(kc, x, xr, xp, y, yp, p.c[coff:], p.ldc, m, n, p.alpha, beta, flags, buf.scratch)
					}
				}
			}
		}
	}
}

// tile checks that the micro-kernel's operands lie inside their slices and
// runs it on an m×n tile (m <= mr, n <= nr) with depth k.
func (e *gemmISA) tile(k int, x []float32, xr, xp int, y []float32, yp int, c []float32, ldc, m, n int, alpha, beta float32, flags int, scratch []float32) {
	_ = x[(m-1)*xr+(k-1)*xp]
	_ = y[(k-1)*yp+n-1]
	if flags&flagTrans != 0 {
		_ = c[(n-1)*ldc+m-1]
	} else {
		_ = c[(m-1)*ldc+n-1]
	}
	_ = scratch[447]
	e.kernel(k, &x[0], xr, xp, &y[0], yp, &c[0], ldc, m, n, alpha, beta, flags, &scratch[0])
}
