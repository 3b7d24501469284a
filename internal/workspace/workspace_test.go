package workspace

import (
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/internal/kernels"
	"github.com/stretchr/testify/assert"
)

// recycled reports whether t's storage comes back from kernels.Buffer
// within a few tries (other buffers of its class may be idle too).
func recycled(t *vlm.Tensor) bool {
	var got [][]float32
	defer func() {
		for _, b := range got {
			kernels.Recycle(b)
		}
	}()
	for range 20 {
		b := kernels.Buffer(t.Size())
		got = append(got, b)
		if &b[0] == &t.Data[0] {
			return true
		}
	}
	return false
}

func TestRelease(t *testing.T) {
	const n = 4096
	x := Empty(nil, 2, n/2)
	assert.Equal(t, []int{2, n / 2}, x.Shape)
	assert.Len(t, x.Data, n)

	// A recording tape keeps its intermediates.
	Release(vlm.NewTape(), x)
	assert.False(t, recycled(x), "released under a tape")

	// A view of an output, or the output itself, is kept.
	view := x.Reshape(n)
	Release(nil, x, view)
	assert.False(t, recycled(x), "released while a view lives")
	assert.True(t, Shares(x, view))
	assert.False(t, Shares(x, Empty(nil, n)))

	// Otherwise the storage is reused. Under the race detector sync.Pool
	// drops a quarter of the buffers it is handed, at random, so release
	// again until the pool keeps it (x stays ours until recycled finds it).
	reused := false
	for range 20 {
		Release(nil, x, Empty(nil, n))
		if recycled(x) {
			reused = true
			break
		}
	}
	assert.True(t, reused, "released storage never came back")
}
