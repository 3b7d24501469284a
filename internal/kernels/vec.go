package kernels

// vecImpl is one instruction set's vectorised elementwise and row
// kernels (vec_amd64.s, written by ./asmgen -vec). The elementwise ones
// (maps, adamW, norm) process all n elements, every one with the same
// instructions wherever it lies, so that results do not depend on how a
// tensor is batched. The reductions (sum, max, sumSqDev, expSum) process
// the first n&^15 elements, whole blocks of 16 floats; their callers add
// the rest with the Go code. Results agree with the Go code, which runs
// when no vector kernels exist, to a few units in the last place: the same
// formulas with fused multiply-adds.
type vecImpl struct {
	exp, sigmoid, tanh, quickGELU, gelu, geluTanh func(y, x *float32, n int)
	// geluBackward, geluTanhBackward and quickGELUBackward add dy·f'(x)
	// to dx.
	geluBackward, geluTanhBackward, quickGELUBackward func(dx, dy, x *float32, n int)
	add, sub, mul                                     func(y, a, b *float32, n int)
	mulAddTo                                          func(y, a, b *float32, n int) // y += a⊙b
	addTo                                             func(y, x *float32, n int)    // y += x
	axpy                                              func(y, x *float32, n int, a float32)
	scale                                             func(y, x *float32, n int, a float32)
	sum, max                                          func(x *float32, n int) float32
	sumSqDev                                          func(x *float32, n int, mu float32) float32 // Σ(x-mu)²
	expSum                                            func(x *float32, n int, mx float32) float32 // x = e^(x-mx) in place; Σx
	// norm sets y = (x-mu)·rs·w + b; a nil w means 1, a nil b 0.
	norm func(y, x, w, b *float32, n int, mu, rs float32)
	// adamW is one AdamW update with p = decay, β₁, 1-β₁, β₂, 1-β₂,
	// √(1-β₂ᵗ), ε, lr/(1-β₁ᵗ) (see AdamW).
	adamW func(w, g, m, v *float32, n int, p [8]float32)
}

// vecBlock is the number of floats the vector kernels process at a time.
const vecBlock = 16

// simd returns the vector kernels of the selected implementation (see
// SetGEMM), or nil for the Go code.
func simd() *vecImpl { return gemmCur.Load().vec }

// vecLen returns the number of leading elements of n that the vector
// kernels handle, or 0 if there are none.
func vecLen(v *vecImpl, n int) int {
	if v == nil {
		return 0
	}
	return n &^ (vecBlock - 1)
}
