// Package kernels holds the numerical kernels of vlm: forward and backward
// loops over []float32 for every primitive, and the matrix multiply they
// share. It is the only package of the module that touches BLAS.
//
// Conventions: matrices are row-major; a function that computes a
// gradient adds (+=) into its destination, so that gradients of a tensor
// used twice accumulate; shapes are passed as plain ints and are the
// caller's responsibility (the vlm package validates them).
package kernels
