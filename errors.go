package vlm

import (
	"errors"
	"fmt"
	"math"
)

// Sentinel errors. Every error returned by an entry point of this module
// wraps exactly one of them, so callers can branch with errors.Is.
var (
	// ErrShape reports tensors whose shapes do not fit an operation.
	ErrShape = errors.New("shape mismatch")
	// ErrConfig reports an invalid configuration or option.
	ErrConfig = errors.New("invalid configuration")
	// ErrCheckpoint reports a corrupt, truncated or mismatched weight file.
	ErrCheckpoint = errors.New("bad checkpoint")
	// ErrInput reports invalid input values: NaN or Inf, out-of-range ids,
	// undecodable images.
	ErrInput = errors.New("invalid input")
)

// Error is the error type of this module. Below a validated entry point,
// programmer errors (a shape that cannot fit, an impossible option) panic
// with a *Error; entry points recover that type only, with [Recover], and
// return it. Any other panic is a bug and is not recovered.
type Error struct {
	Kind error  // one of ErrShape, ErrConfig, ErrCheckpoint, ErrInput
	Msg  string // what is wrong, naming the operation and the values
	Err  error  // the underlying cause (an *os.PathError, say), or nil
}

// Error returns the message followed by the kind's text: Msg + ": shape
// mismatch" for ErrShape.
func (e *Error) Error() string { return e.Msg + ": " + e.Kind.Error() }

// Unwrap returns the sentinel and the cause, for errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// Errorf returns a *Error of the given kind with a formatted message. A
// %w verb in format records its operand as the cause, so that
// errors.Is(err, fs.ErrNotExist) works on a missing file.
func Errorf(kind error, format string, args ...any) error {
	cause := fmt.Errorf(format, args...)
	return &Error{Kind: kind, Msg: cause.Error(), Err: errors.Unwrap(cause)}
}

// Panicf panics with a *Error of the given kind. Code below an entry point
// calls it for conditions the entry point's validation rules out; the
// entry point turns it back into an error with [Recover].
func Panicf(kind error, format string, args ...any) {
	panic(&Error{Kind: kind, Msg: fmt.Sprintf(format, args...)})
}

// Recover turns a panic carrying a *Error into an error stored in *err.
// Use it as the first deferred call of an entry point:
//
//	func (m *Model) Forward(...) (out *vlm.Tensor, err error) {
//		defer vlm.Recover(&err)
//		...
//	}
//
// Panics of any other type propagate unchanged.
func Recover(err *error) {
	r := recover()
	if r == nil {
		return
	}
	if e, ok := r.(*Error); ok {
		*err = e
		return
	}
	panic(r)
}

// CheckFinite returns an ErrInput error naming t and the first index that
// holds a NaN or an infinity, or nil.
func CheckFinite(name string, t *Tensor) error {
	if t == nil {
		return Errorf(ErrInput, "%s is nil", name)
	}
	for i, v := range t.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return Errorf(ErrInput, "%s holds %v at flat index %d of shape %v", name, v, i, t.Shape)
		}
	}
	return nil
}

// CheckShape returns an ErrShape error unless t has the wanted shape. A
// negative entry in want matches any size.
func CheckShape(name string, t *Tensor, want ...int) error {
	if t == nil {
		return Errorf(ErrShape, "%s is nil, want shape %v", name, want)
	}
	if len(t.Shape) != len(want) {
		return Errorf(ErrShape, "%s has shape %v, want rank %d %v", name, t.Shape, len(want), want)
	}
	for i, w := range want {
		if w >= 0 && t.Shape[i] != w {
			return Errorf(ErrShape, "%s has shape %v, want %v", name, t.Shape, want)
		}
	}
	if len(t.Data) != t.shapeSize() {
		return Errorf(ErrShape, "%s has %d values for shape %v", name, len(t.Data), t.Shape)
	}
	return nil
}
