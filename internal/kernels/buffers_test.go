package kernels

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestBufClass(t *testing.T) {
	_, _, ok := bufClass(1 << bufMinLog2)
	assert.False(t, ok, "small buffers are not pooled")
	prevClass, prevSize := -1, 0
	for n := 1<<bufMinLog2 + 1; n < 1<<22; n += 1 + n/97 {
		c, size, ok := bufClass(n)
		if !assert.True(t, ok, "n = %d", n) {
			return
		}
		assert.GreaterOrEqual(t, size, n)
		assert.LessOrEqual(t, float64(size), 1.125*float64(n)+1, "n = %d", n)
		assert.GreaterOrEqual(t, c, prevClass, "classes grow with n")
		if c == prevClass {
			assert.Equal(t, prevSize, size)
		}
		// A buffer of exactly the class size is in the same class.
		c2, size2, _ := bufClass(size)
		assert.Equal(t, c, c2)
		assert.Equal(t, size, size2)
		prevClass, prevSize = c, size
	}
}

func TestBufferReuse(t *testing.T) {
	b := Buffer(5000)
	assert.Len(t, b, 5000)
	_, size, _ := bufClass(5000)
	assert.Equal(t, size, cap(b))
	// A recycled buffer comes back for any size of its class (sync.Pool
	// may drop it, at random under the race detector: try a few times).
	reused := false
	for range 20 {
		Recycle(b)
		c := Buffer(size - 3)
		if &c[0] == &b[0] {
			reused = true
			break
		}
		b = c
	}
	assert.True(t, reused)
	// Small and odd-sized slices are ignored.
	Recycle(make([]float32, 10))
	Recycle(make([]float32, 5000))
}
