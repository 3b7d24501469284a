package kernels

import (
	"math/bits"
	"sync"
)

// Inference allocates the same intermediate tensors call after call. A
// fresh multi-megabyte allocation costs more than the work done on it:
// the runtime clears it, and memory the garbage collector returned to the
// operating system faults in page by page on first touch. Buffer and
// Recycle let nil-tape inference reuse that memory instead: callers
// recycle a tensor's storage once nothing refers to it any more, and
// operations take the storage of their outputs from the recycled buffers.
//
// Buffers are grouped in size classes, eight per power of two (at most
// 12.5% slack), in sync.Pools: an idle buffer lives until the next garbage
// collections, and concurrent inference is safe.

// bufMinClass is the smallest class: buffers of fewer floats are not
// worth pooling.
const (
	bufMinLog2 = 10 // 1024 floats
	bufMaxLog2 = 31
	bufSub     = 8 // classes per power of two
)

var bufPools [(bufMaxLog2 - bufMinLog2 + 1) * bufSub]sync.Pool

// bufClass returns the class of a buffer of n floats, the smallest whose
// size holds n, and that size; ok is false for sizes not pooled.
func bufClass(n int) (class, size int, ok bool) {
	if n <= 1<<bufMinLog2 || n > 1<<bufMaxLog2 {
		return 0, 0, false
	}
	e := bits.Len(uint(n-1)) - 1 // 2^e < n <= 2^(e+1)
	step := 1 << (e - 3)         // 2^e/8
	sub := (n - 1 - 1<<e) / step // 0..7: n <= 2^e + (sub+1)·step
	return (e-bufMinLog2)*bufSub + sub, 1<<e + (sub+1)*step, true
}

// Buffer returns a slice of n floats whose contents are undefined: a
// recycled buffer of n's size class if one is idle, else new memory. The
// caller must overwrite every element it reads.
func Buffer(n int) []float32 {
	c, size, ok := bufClass(n)
	if !ok {
		return make([]float32, n)
	}
	if p, _ := bufPools[c].Get().(*[]float32); p != nil {
		return (*p)[:n]
	}
	return make([]float32, n, size)
}

// Recycle hands b's storage back for reuse by Buffer. Nothing may use b,
// or any slice sharing its storage, afterwards. Buffers not obtained from
// Buffer are accepted when their capacity is exactly a class size.
func Recycle(b []float32) {
	c, size, ok := bufClass(cap(b))
	if !ok || cap(b) != size {
		return
	}
	b = b[:cap(b)]
	bufPools[c].Put(&b)
}

// SameArray reports whether a and b are slices of one underlying array
// (views of each other's storage, or one slice twice).
func SameArray(a, b []float32) bool {
	if cap(a) == 0 || cap(b) == 0 {
		return false
	}
	return &a[:cap(a)][cap(a)-1] == &b[:cap(b)][cap(b)-1]
}
