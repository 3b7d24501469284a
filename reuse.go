package vlm

import "github.com/govlm/vlm/internal/kernels"

// Nil-tape inference reuses the storage of intermediate tensors (see
// kernels.Buffer): operations whose kernels overwrite every output value
// take their outputs from recycled buffers, and composites release the
// intermediates they alone hold once they are done with them.

// empty returns a tensor of the given shape for an operation that
// overwrites all of its values: with a nil tape its values are undefined
// (recycled storage), with a tape it is fresh memory, so that nothing a
// tape records ever shares storage with a recycled buffer.
func empty(tp *Tape, shape ...int) *Tensor {
	if tp != nil {
		return Zeros(shape...)
	}
	n := checkedSize(shape)
	return &Tensor{Shape: append([]int(nil), shape...), Data: kernels.Buffer(n)}
}

// release recycles the storage of t, an intermediate of nil-tape
// inference that nothing else refers to, unless tp records (its
// closures keep t) or t shares storage with one of keep.
func release(tp *Tape, t *Tensor, keep ...*Tensor) {
	if tp != nil || t == nil {
		return
	}
	for _, k := range keep {
		if sharesData(t, k) {
			return
		}
	}
	kernels.Recycle(t.Data)
}

// sharesData reports whether a and b hold slices of one array.
func sharesData(a, b *Tensor) bool {
	return a != nil && b != nil && kernels.SameArray(a.Data, b.Data)
}
