package kernels

import "math"

// Softmax sets each row of y (rows×n) to softmax(x_row + mask_row) over
// its n entries. maskRow(r) returns the additive mask of row r, or nil for
// none. The maximum is subtracted first; a row whose every entry is -Inf
// (or NaN-free but all masked to -Inf) is set to zeros, never NaN.
func Softmax(y, x []float32, rows, n int, maskRow func(r int) []float32) {
	for r := range rows {
		xr := x[r*n : (r+1)*n]
		yr := y[r*n : (r+1)*n]
		var m []float32
		if maskRow != nil {
			m = maskRow(r)
		}
		mx := float32(math.Inf(-1))
		for i, v := range xr {
			if m != nil {
				v += m[i]
			}
			yr[i] = v
			mx = max(mx, v)
		}
		if math.IsInf(float64(mx), -1) {
			clear(yr)
			continue
		}
		expNormalize(yr, mx)
	}
}

// expNormalize replaces the scores s, whose maximum is mx, by
// exp(s - mx) / Σ exp(s - mx).
func expNormalize(s []float32, mx float32) {
	var sum float32
	for j, v := range s {
		e := Exp32(v - mx)
		s[j] = e
		sum += e
	}
	inv := 1 / sum
	for j := range s {
		s[j] *= inv
	}
}

// SoftmaxBackward adds y⊙(dy - Σ dy⊙y) row-wise to dx, given the forward
// output y.
func SoftmaxBackward(dx, dy, y []float32, rows, n int) {
	for r := range rows {
		yr := y[r*n : (r+1)*n]
		dyr := dy[r*n : (r+1)*n]
		var dot float64
		for i, v := range yr {
			dot += float64(v * dyr[i])
		}
		d := float32(dot)
		dxr := dx[r*n : (r+1)*n]
		for i, v := range yr {
			dxr[i] += v * (dyr[i] - d)
		}
	}
}

// LogSoftmax sets each row of y (rows×n) to log softmax(x_row).
func LogSoftmax(y, x []float32, rows, n int) {
	for r := range rows {
		xr := x[r*n : (r+1)*n]
		yr := y[r*n : (r+1)*n]
		mx := float32(math.Inf(-1))
		for _, v := range xr {
			mx = max(mx, v)
		}
		var s float64
		for _, v := range xr {
			s += float64(Exp32(v - mx))
		}
		lse := mx + float32(math.Log(s))
		for i, v := range xr {
			yr[i] = v - lse
		}
	}
}

// LogSoftmaxBackward adds dy - softmax·Σdy row-wise to dx, given the
// forward output y = log softmax(x).
func LogSoftmaxBackward(dx, dy, y []float32, rows, n int) {
	for r := range rows {
		yr := y[r*n : (r+1)*n]
		dyr := dy[r*n : (r+1)*n]
		var s float64
		for _, g := range dyr {
			s += float64(g)
		}
		sf := float32(s)
		dxr := dx[r*n : (r+1)*n]
		for i, v := range yr {
			dxr[i] += dyr[i] - Exp32(v)*sf
		}
	}
}
