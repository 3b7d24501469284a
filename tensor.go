package vlm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// Tensor is a dense, contiguous, row-major float32 array.
//
// Shape lists the sizes of the axes, outermost first; Data holds
// prod(Shape) values. A rank-0 tensor (empty Shape) holds one value.
// Tensors are plain values: the fields may be read and written directly.
type Tensor struct {
	Shape []int
	Data  []float32
}

// Zeros returns a zero-filled tensor of the given shape.
func Zeros(shape ...int) *Tensor {
	n := checkedSize(shape)
	return &Tensor{Shape: append([]int(nil), shape...), Data: make([]float32, n)}
}

// Full returns a tensor of the given shape with every value v.
func Full(v float32, shape ...int) *Tensor {
	t := Zeros(shape...)
	for i := range t.Data {
		t.Data[i] = v
	}
	return t
}

// Scalar returns a rank-0 tensor holding v.
func Scalar(v float32) *Tensor { return &Tensor{Shape: []int{}, Data: []float32{v}} }

// FromData wraps data (not copied) in a tensor of the given shape. It
// panics with an ErrShape *Error if len(data) does not match the shape.
func FromData(data []float32, shape ...int) *Tensor {
	n := checkedSize(shape)
	if n != len(data) {
		Panicf(ErrShape, "FromData: %d values for shape %v (%d)", len(data), shape, n)
	}
	return &Tensor{Shape: append([]int(nil), shape...), Data: data}
}

// RandN returns a tensor of normally distributed values with mean 0 and
// standard deviation std, drawn from rng.
func RandN(rng *rand.Rand, std float32, shape ...int) *Tensor {
	t := Zeros(shape...)
	for i := range t.Data {
		t.Data[i] = float32(rng.NormFloat64()) * std
	}
	return t
}

// Uniform returns a tensor of values drawn uniformly from [lo, hi).
func Uniform(rng *rand.Rand, lo, hi float32, shape ...int) *Tensor {
	t := Zeros(shape...)
	for i := range t.Data {
		t.Data[i] = lo + (hi-lo)*float32(rng.Float64())
	}
	return t
}

// NewRand returns a deterministic random source for the given seed, the
// one every seeded initialiser of this module uses.
func NewRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
}

// Size returns the number of values, prod(Shape).
func (t *Tensor) Size() int { return len(t.Data) }

// Rank returns the number of axes.
func (t *Tensor) Rank() int { return len(t.Shape) }

// Dim returns the size of axis i; negative i counts from the end.
func (t *Tensor) Dim(i int) int {
	if i < 0 {
		i += len(t.Shape)
	}
	if i < 0 || i >= len(t.Shape) {
		Panicf(ErrShape, "Dim(%d) of a rank-%d tensor", i, len(t.Shape))
	}
	return t.Shape[i]
}

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	return &Tensor{Shape: append([]int(nil), t.Shape...), Data: append([]float32(nil), t.Data...)}
}

// Reshape returns a tensor sharing t's Data with a new shape; one entry
// may be -1 and is inferred. Reshape records nothing on a tape: inside a
// differentiated computation use the function [Reshape].
func (t *Tensor) Reshape(shape ...int) *Tensor {
	s := inferShape(len(t.Data), shape)
	return &Tensor{Shape: s, Data: t.Data}
}

// At returns the value at the given index (one entry per axis).
func (t *Tensor) At(idx ...int) float32 { return t.Data[t.offset(idx)] }

// Set stores v at the given index (one entry per axis).
func (t *Tensor) Set(v float32, idx ...int) { t.Data[t.offset(idx)] = v }

// String formats the shape and, for small tensors, the values.
func (t *Tensor) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Tensor%v", t.Shape)
	if len(t.Data) <= 16 {
		fmt.Fprintf(&b, "%v", t.Data)
	}
	return b.String()
}

func (t *Tensor) offset(idx []int) int {
	if len(idx) != len(t.Shape) {
		Panicf(ErrShape, "index %v for shape %v", idx, t.Shape)
	}
	off := 0
	for i, v := range idx {
		if v < 0 || v >= t.Shape[i] {
			Panicf(ErrShape, "index %v out of range for shape %v", idx, t.Shape)
		}
		off = off*t.Shape[i] + v
	}
	return off
}

func (t *Tensor) shapeSize() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// SameShape reports whether a and b have identical shapes.
func SameShape(a, b *Tensor) bool { return equalInts(a.Shape, b.Shape) }

// AllClose reports whether a and b have the same shape and
// |a-b| <= atol + rtol*|b| for every value (numpy.allclose). NaNs compare
// unequal.
func AllClose(a, b *Tensor, atol, rtol float64) bool {
	if !SameShape(a, b) {
		return false
	}
	for i, x := range a.Data {
		y := float64(b.Data[i])
		d := math.Abs(float64(x) - y)
		if !(d <= atol+rtol*math.Abs(y)) {
			return false
		}
	}
	return true
}

// MaxAbsDiff returns max |a-b| over all values (NaN if any is NaN). It
// panics with ErrShape if the sizes differ.
func MaxAbsDiff(a, b *Tensor) float64 {
	if len(a.Data) != len(b.Data) {
		Panicf(ErrShape, "MaxAbsDiff: sizes %v and %v", a.Shape, b.Shape)
	}
	m := 0.0
	for i, x := range a.Data {
		d := math.Abs(float64(x) - float64(b.Data[i]))
		if math.IsNaN(d) {
			return math.NaN()
		}
		m = max(m, d)
	}
	return m
}

// MaxAbs returns max |t| over all values.
func MaxAbs(t *Tensor) float64 {
	m := 0.0
	for _, x := range t.Data {
		m = max(m, math.Abs(float64(x)))
	}
	return m
}

func checkedSize(shape []int) int {
	n := 1
	for _, d := range shape {
		if d < 0 {
			Panicf(ErrShape, "negative axis size in shape %v", shape)
		}
		if d != 0 && n > math.MaxInt32/d {
			Panicf(ErrShape, "shape %v has more than 2^31 values", shape)
		}
		n *= d
	}
	return n
}

func inferShape(n int, shape []int) []int {
	s := append([]int(nil), shape...)
	infer, known := -1, 1
	for i, d := range s {
		switch {
		case d == -1 && infer < 0:
			infer = i
		case d < 0:
			Panicf(ErrShape, "reshape to %v: bad axis size %d", shape, d)
		default:
			known *= d
		}
	}
	if infer >= 0 {
		if known == 0 || n%known != 0 {
			Panicf(ErrShape, "reshape of %d values to %v", n, shape)
		}
		s[infer] = n / known
		known *= s[infer]
	}
	if known != n {
		Panicf(ErrShape, "reshape of %d values to %v", n, shape)
	}
	return s
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
