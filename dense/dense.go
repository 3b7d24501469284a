package dense

import (
	"github.com/govlm/vlm"
	"gorgonia.org/tensor"
)

// FromDense returns d as a *vlm.Tensor with d's shape.
//
// If d is float32, its elements lie in row-major order with no gaps (a new
// tensor, a reshape, a slice of whole rows) and its memory is managed by
// Go, the result shares d's memory: writes through either show in the
// other. Otherwise (a transposed or strided view, column-major data,
// memory from tensor.FromMemory that may be freed under the result) the
// values are copied in d's logical row-major order; float64 values are
// converted to float32. Other dtypes, masked tensors and memory that Go
// cannot read (an engine's device memory) are an ErrInput error.
//
//	d := tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float32{1, 2, 3, 4, 5, 6}))
//	t, err := dense.FromDense(d) // t.Data is d's backing array
func FromDense(d *tensor.Dense) (*vlm.Tensor, error) {
	if d == nil {
		return nil, vlm.Errorf(vlm.ErrInput, "dense.FromDense: nil *tensor.Dense")
	}
	if len(d.Mask()) > 0 {
		return nil, vlm.Errorf(vlm.ErrInput, "dense.FromDense: masked tensor of shape %v", d.Shape())
	}
	if !d.IsNativelyAccessible() {
		return nil, vlm.Errorf(vlm.ErrInput, "dense.FromDense: tensor of shape %v is in memory Go cannot access", d.Shape())
	}
	shape := append([]int{}, d.Shape()...)
	size := 1
	for _, n := range shape {
		size *= n
	}
	switch d.Dtype() {
	case tensor.Float32:
		data := d.Float32s()
		if !d.IsManuallyManaged() && rowMajor(shape, d.Strides()) && len(data) >= size {
			return &vlm.Tensor{Shape: shape, Data: data[:size:size]}, nil
		}
		out := make([]float32, 0, size)
		each(d, size, func(i int) { out = append(out, data[i]) })
		return &vlm.Tensor{Shape: shape, Data: out}, nil
	case tensor.Float64:
		data := d.Float64s()
		out := make([]float32, 0, size)
		each(d, size, func(i int) { out = append(out, float32(data[i])) })
		return &vlm.Tensor{Shape: shape, Data: out}, nil
	default:
		return nil, vlm.Errorf(vlm.ErrInput, "dense.FromDense: dtype %v, want float32 or float64", d.Dtype())
	}
}

// rowMajor reports whether strides walk shape in row-major order without
// gaps. Axes of size 1 may have any stride.
func rowMajor(shape, strides []int) bool {
	if len(strides) != len(shape) {
		return false
	}
	want := 1
	for i := len(shape) - 1; i >= 0; i-- {
		if shape[i] != 1 && strides[i] != want {
			return false
		}
		want *= shape[i]
	}
	return true
}

// each calls f with the index into d's backing array of each of the size
// elements of d, in row-major order of d's shape.
func each(d *tensor.Dense, size int, f func(i int)) {
	switch {
	case size == 0:
	case d.Shape().IsScalar():
		f(0)
	default:
		it := d.Iterator()
		for i, err := it.Start(); err == nil; i, err = it.Next() {
			f(i)
		}
	}
}

// ToDense returns a float32 *tensor.Dense of t's shape that shares t's
// memory: writes through either show in the other. It panics with an
// ErrShape *vlm.Error if len(t.Data) does not match t.Shape.
//
//	d := dense.ToDense(vlm.FromData([]float32{1, 2, 3, 4}, 2, 2))
//	d.T() // a gorgonia view; t is unchanged
func ToDense(t *vlm.Tensor) *tensor.Dense {
	if err := vlm.CheckShape("dense.ToDense", t, t.Shape...); err != nil {
		panic(err)
	}
	return tensor.New(tensor.WithShape(t.Shape...), tensor.WithBacking(t.Data))
}
