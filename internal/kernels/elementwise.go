package kernels

// Add sets y = a + b elementwise (len(y) == len(a) == len(b)).
func Add(y, a, b []float32) {
	a, b = a[:len(y)], b[:len(y)]
	if v := simd(); v != nil && len(y) > 0 {
		v.add(&y[0], &a[0], &b[0], len(y))
		return
	}
	for i := range y {
		y[i] = a[i] + b[i]
	}
}

// Sub sets y = a - b elementwise.
func Sub(y, a, b []float32) {
	a, b = a[:len(y)], b[:len(y)]
	if v := simd(); v != nil && len(y) > 0 {
		v.sub(&y[0], &a[0], &b[0], len(y))
		return
	}
	for i := range y {
		y[i] = a[i] - b[i]
	}
}

// Mul sets y = a ⊙ b elementwise.
func Mul(y, a, b []float32) {
	a, b = a[:len(y)], b[:len(y)]
	if v := simd(); v != nil && len(y) > 0 {
		v.mul(&y[0], &a[0], &b[0], len(y))
		return
	}
	for i := range y {
		y[i] = a[i] * b[i]
	}
}

// Div sets y = a / b elementwise.
func Div(y, a, b []float32) {
	for i := range y {
		y[i] = a[i] / b[i]
	}
}

// Axpy adds alpha·x to y.
func Axpy(alpha float32, x, y []float32) {
	y = y[:len(x)]
	if v := simd(); v != nil && len(x) > 0 {
		v.axpy(&y[0], &x[0], len(x), alpha)
		return
	}
	for i, v := range x {
		y[i] += alpha * v
	}
}

// AddTo adds x to y.
func AddTo(y, x []float32) {
	y = y[:len(x)]
	if v := simd(); v != nil && len(x) > 0 {
		v.addTo(&y[0], &x[0], len(x))
		return
	}
	for i, v := range x {
		y[i] += v
	}
}

// MulAddTo adds a⊙b to y.
func MulAddTo(y, a, b []float32) {
	y, b = y[:len(a)], b[:len(a)]
	if v := simd(); v != nil && len(a) > 0 {
		v.mulAddTo(&y[0], &a[0], &b[0], len(a))
		return
	}
	for i, v := range a {
		y[i] += v * b[i]
	}
}

// Scale sets y = alpha·x.
func Scale(y []float32, alpha float32, x []float32) {
	y = y[:len(x)]
	if v := simd(); v != nil && len(x) > 0 {
		v.scale(&y[0], &x[0], len(x), alpha)
		return
	}
	for i, v := range x {
		y[i] = alpha * v
	}
}

// AddRows adds the vector v (length n) to each of the rows of y (rows×n).
func AddRows(y, v []float32, rows, n int) {
	for r := range rows {
		AddTo(y[r*n:(r+1)*n], v)
	}
}

// SumRows adds the column sums of x (rows×n) to dst (length n).
func SumRows(dst, x []float32, rows, n int) {
	for r := range rows {
		AddTo(dst, x[r*n:(r+1)*n])
	}
}

// Sum returns the sum of x accumulated in float64.
func Sum(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += float64(v)
	}
	return s
}

// Dot returns Σ a⊙b accumulated in float64.
func Dot(a, b []float32) float64 {
	var s float64
	for i, v := range a {
		s += float64(v) * float64(b[i])
	}
	return s
}

// Transpose2 writes the transpose of each of the batch matrices of x
// (batch × m × n, with inner blocks of size inner) into y (batch × n × m ×
// inner): y[b][j][i][:] = x[b][i][j][:].
func Transpose2(y, x []float32, batch, m, n, inner int) {
	blk := m * n * inner
	for b := range batch {
		xb := x[b*blk : (b+1)*blk]
		yb := y[b*blk : (b+1)*blk]
		if inner == 1 {
			const tile = 32
			for i0 := 0; i0 < m; i0 += tile {
				for j0 := 0; j0 < n; j0 += tile {
					for i := i0; i < min(i0+tile, m); i++ {
						for j := j0; j < min(j0+tile, n); j++ {
							yb[j*m+i] = xb[i*n+j]
						}
					}
				}
			}
			continue
		}
		for i := range m {
			for j := range n {
				copy(yb[(j*m+i)*inner:(j*m+i+1)*inner], xb[(i*n+j)*inner:(i*n+j+1)*inner])
			}
		}
	}
}

// Transpose2Add is [Transpose2] that adds into y instead of overwriting.
func Transpose2Add(y, x []float32, batch, m, n, inner int) {
	blk := m * n * inner
	for b := range batch {
		xb := x[b*blk : (b+1)*blk]
		yb := y[b*blk : (b+1)*blk]
		for i := range m {
			for j := range n {
				AddTo(yb[(j*m+i)*inner:(j*m+i+1)*inner], xb[(i*n+j)*inner:(i*n+j+1)*inner])
			}
		}
	}
}
