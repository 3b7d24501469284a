package vlm

// broadcastShape returns the NumPy broadcast of shapes a and b.
func broadcastShape(op string, a, b []int) []int {
	n := max(len(a), len(b))
	out := make([]int, n)
	for i := range n {
		da, db := dimFromEnd(a, n-1-i), dimFromEnd(b, n-1-i)
		switch {
		case da == db, db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			Panicf(ErrShape, "%s: shapes %v and %v do not broadcast", op, a, b)
		}
	}
	return out
}

func dimFromEnd(s []int, k int) int {
	if k < len(s) {
		return s[len(s)-1-k]
	}
	return 1
}

// bcast maps a flat index of the broadcast output to a flat index of one
// operand: identity (period == n), periodic (the operand's shape is a
// suffix of the output's, so index = i % period), or an explicit table.
type bcast struct {
	period int
	idx    []int32
}

func newBcast(out, in []int) bcast {
	n := 1
	for _, d := range out {
		n *= d
	}
	// Drop leading size-1 axes of in; if what is left equals the tail of
	// out, the operand repeats with period prod(in).
	k := 0
	for k < len(in) && in[k] == 1 {
		k++
	}
	tail := in[k:]
	if len(tail) <= len(out) && equalInts(tail, out[len(out)-len(tail):]) {
		p := 1
		for _, d := range tail {
			p *= d
		}
		return bcast{period: p}
	}
	// General case: strides of in over out's axes, 0 where broadcast.
	r := len(out)
	strides := make([]int, r)
	s := 1
	for i := r - 1; i >= 0; i-- {
		d := dimFromEnd(in, r-1-i)
		if d != 1 {
			strides[i] = s
		}
		s *= d
	}
	idx := make([]int32, n)
	pos := make([]int, r)
	off := 0
	for i := range n {
		idx[i] = int32(off)
		for ax := r - 1; ax >= 0; ax-- {
			pos[ax]++
			off += strides[ax]
			if pos[ax] < out[ax] {
				break
			}
			off -= strides[ax] * pos[ax]
			pos[ax] = 0
		}
	}
	return bcast{idx: idx}
}

func (m bcast) at(i int) int {
	if m.idx != nil {
		return int(m.idx[i])
	}
	return i % m.period
}
