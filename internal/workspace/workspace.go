// Package workspace lets the composite blocks of vlm reuse the storage of
// their intermediate tensors during nil-tape inference, as the vlm
// package's own operations do: a fresh multi-megabyte tensor costs more
// than the work done on it (clearing, page faults, garbage collection),
// and an inference pass allocates the same ones call after call.
package workspace

import (
	"github.com/govlm/vlm"
	"github.com/govlm/vlm/internal/kernels"
)

// Release recycles the storage of t, an intermediate of nil-tape
// inference that the caller alone refers to, unless tp records (its
// closures keep t) or t shares storage with one of keep (a view or an
// output that aliases it).
func Release(tp *vlm.Tape, t *vlm.Tensor, keep ...*vlm.Tensor) {
	if tp != nil || t == nil {
		return
	}
	for _, k := range keep {
		if Shares(t, k) {
			return
		}
	}
	kernels.Recycle(t.Data)
}

// Shares reports whether a and b hold slices of one array.
func Shares(a, b *vlm.Tensor) bool {
	return a != nil && b != nil && kernels.SameArray(a.Data, b.Data)
}

// Empty returns a tensor of the given shape for a caller that overwrites
// every value. With a nil tape its values are undefined and its storage
// comes from recycled buffers when one fits; with a tape it is fresh
// memory (a tape never sees recycled storage).
func Empty(tp *vlm.Tape, shape ...int) *vlm.Tensor {
	if tp != nil {
		return vlm.Zeros(shape...)
	}
	n := 1
	for _, d := range shape {
		n *= d
	}
	return &vlm.Tensor{Shape: append([]int(nil), shape...), Data: kernels.Buffer(n)}
}
