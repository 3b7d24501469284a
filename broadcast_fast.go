package vlm

import "github.com/govlm/vlm/internal/kernels"

// Fast paths of the binary operations for the broadcasts of VLM blocks:
// both operands whole (x + y), or one whole and one repeating (x [B, T, D]
// + bias [D], x · gate [1], x + positions [N, D]). They run the vector
// kernels over runs of output elements that start on a period boundary,
// instead of indexing every element.

// periodRun is the least length of the runs, so that short periods (a
// scalar gate) still make long kernel calls.
const periodRun = 1024

// periodic reports whether the operand repeats with a period (its flat
// index is i % period, the identity when period == n).
func (m bcast) periodic() bool { return m.idx == nil }

// runLen returns the length of the runs for periods pa and pb of n
// elements (one of them n): n if both are, else the repeating period times
// enough to reach periodRun.
func runLen(n, pa, pb int) int {
	p := min(pa, pb)
	if p == n {
		return n
	}
	return (max(periodRun, p) + p - 1) / p * p
}

// operand is one input of a fast binary operation, over runs.
type runOperand struct {
	x    []float32 // the whole operand, or its run-long repetition
	p, n int
	tmp  bool // x is a buffer to recycle
}

func newRunOperand(x []float32, p, n, run int) runOperand {
	if p == n || p == run {
		return runOperand{x: x, p: p, n: n}
	}
	rep := kernels.Buffer(run)
	for o := 0; o < run; o += p {
		copy(rep[o:o+p], x)
	}
	return runOperand{x: rep, p: p, n: n, tmp: true}
}

// at returns the operand's values for output elements [o, o+c) of a run
// starting at o.
func (r runOperand) at(o, c int) []float32 {
	if r.p == r.n {
		return r.x[o : o+c]
	}
	return r.x[:c]
}

func (r runOperand) done() {
	if r.tmp {
		kernels.Recycle(r.x)
	}
}

// runGrad is the gradient of one operand over runs: the operand's own
// gradient when it is whole, or an accumulator folded into it at the end.
type runGrad struct {
	d, acc []float32
	p, n   int
}

func newRunGrad(d []float32, p, n, run int) runGrad {
	if d == nil || p == n || p == run {
		return runGrad{d: d, acc: d, p: p, n: n}
	}
	acc := kernels.Buffer(run)
	clear(acc)
	return runGrad{d: d, acc: acc, p: p, n: n}
}

func (g runGrad) at(o, c int) []float32 {
	if g.p == g.n {
		return g.acc[o : o+c]
	}
	return g.acc[:c]
}

// done folds the accumulator into the gradient.
func (g runGrad) done() {
	if g.d == nil || len(g.acc) == len(g.d) {
		return
	}
	for i, v := range g.acc {
		g.d[i%g.p] += v
	}
	kernels.Recycle(g.acc)
}

// fastBinary sets y = a op b for periods pa, pb of len(y) (one of them
// len(y)), reporting false, doing nothing, when neither is whole or an
// operand does not repeat.
func fastBinary(op binOp, y, a, b []float32, ma, mb bcast) bool {
	n := len(y)
	if !ma.periodic() || !mb.periodic() || (ma.period != n && mb.period != n) || n == 0 {
		return false
	}
	run := runLen(n, ma.period, mb.period)
	ra, rb := newRunOperand(a, ma.period, n, run), newRunOperand(b, mb.period, n, run)
	for o := 0; o < n; o += run {
		c := min(run, n-o)
		ys, as, bs := y[o:o+c], ra.at(o, c), rb.at(o, c)
		switch op {
		case opAdd:
			kernels.Add(ys, as, bs)
		case opSub:
			kernels.Sub(ys, as, bs)
		case opMul:
			kernels.Mul(ys, as, bs)
		case opDiv:
			kernels.Div(ys, as, bs)
		}
	}
	ra.done()
	rb.done()
	return true
}

// fastBinaryBackward adds the gradients of y = a op b to da and db (nil
// when not wanted) in the cases fastBinary handles, except Div; it reports
// false, doing nothing, otherwise.
func fastBinaryBackward(op binOp, dy, a, b, da, db []float32, ma, mb bcast) bool {
	n := len(dy)
	if op == opDiv || !ma.periodic() || !mb.periodic() || (ma.period != n && mb.period != n) || n == 0 {
		return false
	}
	run := runLen(n, ma.period, mb.period)
	var ra, rb runOperand
	if op == opMul {
		ra, rb = newRunOperand(a, ma.period, n, run), newRunOperand(b, mb.period, n, run)
	}
	ga, gb := newRunGrad(da, ma.period, n, run), newRunGrad(db, mb.period, n, run)
	for o := 0; o < n; o += run {
		c := min(run, n-o)
		g := dy[o : o+c]
		if da != nil {
			if op == opMul {
				kernels.MulAddTo(ga.at(o, c), g, rb.at(o, c))
			} else {
				kernels.AddTo(ga.at(o, c), g)
			}
		}
		if db != nil {
			switch op {
			case opMul:
				kernels.MulAddTo(gb.at(o, c), g, ra.at(o, c))
			case opSub:
				kernels.Axpy(-1, g, gb.at(o, c))
			default:
				kernels.AddTo(gb.at(o, c), g)
			}
		}
	}
	ga.done()
	gb.done()
	if op == opMul {
		ra.done()
		rb.done()
	}
	return true
}
