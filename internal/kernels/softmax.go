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
		if m != nil {
			Add(yr, xr, m[:n])
		} else {
			copy(yr, xr)
		}
		mx := rowMax(yr)
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
	t := s
	if v := simd(); vecLen(v, len(s)) > 0 {
		n := vecLen(v, len(s))
		sum = v.expSum(&s[0], n, mx)
		t = s[n:]
	}
	for j, v := range t {
		e := Exp32(v - mx)
		t[j] = e
		sum += e
	}
	Scale(s, 1/sum, s)
}

// rowMax returns the maximum of s (-Inf for an empty s). A NaN may or
// may not win; when one does not, it still makes every entry of an
// expNormalize of s NaN.
func rowMax(s []float32) float32 {
	mx := float32(math.Inf(-1))
	if v := simd(); vecLen(v, len(s)) > 0 {
		n := vecLen(v, len(s))
		mx = v.max(&s[0], n)
		s = s[n:]
	}
	for _, v := range s {
		mx = max(mx, v)
	}
	return mx
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
