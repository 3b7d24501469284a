// Package dense converts between gorgonia.org/tensor's *tensor.Dense and
// *vlm.Tensor, for programs that already hold their data in gorgonia
// tensors.
//
// [ToDense] and [FromDense] share memory whenever the layouts agree: a
// vlm.Tensor is always dense, contiguous, row-major float32, and so is a
// freshly made float32 *tensor.Dense. Views that are not contiguous row-major
// (transposes, column slices, column-major data) and float64 tensors are
// copied. Whether a result shares memory is part of each function's
// contract, because writes through one then show in the other.
//
// This is the only package of the module that imports gorgonia. Its last
// release (v0.9.24) pulls in go4.org/unsafe/assume-no-moving-gc, whose
// version from 2022 panics at start-up on Go 1.22 and later; this module's
// go.mod requires v0.0.0-20231121144256-b99613f794b6, which asks the
// runtime instead, and minimal version selection gives that version to
// every program that imports this package. The package's tests build and
// run such a program to prove it starts.
package dense
