package attention

import (
	"github.com/govlm/vlm"
	"github.com/govlm/vlm/internal/kernels"
)

// Cache holds the keys and values of the positions a self-attention has
// already seen, for incremental decoding: [MultiHead.Self] with a cache
// attends the new positions to the cached ones and appends theirs. The
// zero value is an empty cache; use one per layer and per decoding
// stream, from one goroutine.
//
// Without a tape (or when nothing needs a gradient) appends are in place
// into storage that grows geometrically, so a decoding step copies only
// the new keys and values. On a tape that records, every append makes new
// storage and gradients flow back through the cached keys and values to
// the passes that produced them (BLIP-2's captioning loss reaches the
// query pass through its cached keys this way).
type Cache struct {
	k, v *vlm.Tensor // [B, capacity, H·Dh]
	n    int
}

// Len returns the number of cached positions.
func (c *Cache) Len() int { return c.n }

// Reset empties the cache.
func (c *Cache) Reset() { *c = Cache{} }

func (c *Cache) fits(b, w int) error {
	if c.k != nil && (c.k.Shape[0] != b || c.k.Shape[2] != w) {
		return vlm.Errorf(vlm.ErrShape, "attention: cache of batch %d and width %d used for batch %d and width %d", c.k.Shape[0], c.k.Shape[2], b, w)
	}
	return nil
}

// append adds the t new positions of k and v (views of width w = H·dh)
// for a batch of b and returns views of all cached keys and values.
func (c *Cache) append(tp *vlm.Tape, k, v operand, b, t, w, dh int) (operand, operand) {
	n := c.n + t
	record := tp.NeedsGrad(k.t, v.t, c.k, c.v)
	if record || c.k == nil || c.k.Shape[1] < n {
		capacity := n
		if !record {
			capacity = max(2*n, 16)
		}
		c.k = grow(tp, c.k, k, c.n, t, b, w, capacity)
		c.v = grow(tp, c.v, v, c.n, t, b, w, capacity)
	} else {
		copyRows(c.k, k, c.n, t, b, w)
		copyRows(c.v, v, c.n, t, b, w)
	}
	c.n = n
	view := func(s *vlm.Tensor) operand {
		o := whole(s, dh)
		o.s.BStride = s.Shape[1] * w
		return o
	}
	return view(c.k), view(c.v)
}

// copyRows writes the t rows of x into rows [at, at+t) of the storage s.
func copyRows(s *vlm.Tensor, x operand, at, t, b, w int) {
	capacity := s.Shape[1]
	for bi := range b {
		for r := range t {
			src := x.s.Off + bi*x.s.BStride + r*x.s.Row
			dst := (bi*capacity + at + r) * w
			copy(s.Data[dst:dst+w], x.t.Data[src:src+w])
		}
	}
}

// grow returns new storage [b, capacity, w] holding the n rows of old and
// the t rows of x, recording the copy on tp.
func grow(tp *vlm.Tape, old *vlm.Tensor, x operand, n, t, b, w, capacity int) *vlm.Tensor {
	s := vlm.Zeros(b, capacity, w)
	if old != nil {
		oc := old.Shape[1]
		for bi := range b {
			copy(s.Data[bi*capacity*w:(bi*capacity+n)*w], old.Data[bi*oc*w:(bi*oc+n)*w])
		}
	}
	copyRows(s, x, n, t, b, w)
	needOld, needX := tp.NeedsGrad(old), tp.NeedsGrad(x.t)
	if !needOld && !needX {
		return s
	}
	tp.Record(s, func(ds *vlm.Tensor) {
		for bi := range b {
			if needOld {
				g, oc := tp.GradOf(old).Data, old.Shape[1]
				kernels.AddTo(g[bi*oc*w:(bi*oc+n)*w], ds.Data[bi*capacity*w:(bi*capacity+n)*w])
			}
			if needX {
				g := tp.GradOf(x.t).Data
				for r := range t {
					src := x.s.Off + bi*x.s.BStride + r*x.s.Row
					dst := (bi*capacity + n + r) * w
					kernels.AddTo(g[src:src+w], ds.Data[dst:dst+w])
				}
			}
		}
	})
	return s
}

// Select keeps the cached batch entries idx, in that order (entries may
// repeat): beam search reorders its caches with the parent beam of each
// new beam. It copies without recording on a tape.
func (c *Cache) Select(idx []int) error {
	if c.k == nil {
		return nil
	}
	b, capacity, w := c.k.Shape[0], c.k.Shape[1], c.k.Shape[2]
	for _, i := range idx {
		if i < 0 || i >= b {
			return vlm.Errorf(vlm.ErrInput, "attention.Cache.Select: index %d outside batch [0, %d)", i, b)
		}
	}
	pick := func(s *vlm.Tensor) *vlm.Tensor {
		o := vlm.Zeros(len(idx), capacity, w)
		blk := capacity * w
		for j, i := range idx {
			copy(o.Data[j*blk:(j+1)*blk], s.Data[i*blk:(i+1)*blk])
		}
		return o
	}
	c.k, c.v = pick(c.k), pick(c.v)
	return nil
}
