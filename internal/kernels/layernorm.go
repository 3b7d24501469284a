package kernels

import "math"

// LayerNorm normalises each of the rows of x (length d) to zero mean and
// unit biased variance, then applies the optional affine w, b:
// y = (x-μ)/√(σ²+eps)·w + b. It stores μ and 1/√(σ²+eps) per row in mean
// and rstd for the backward pass. w and b may be nil.
func LayerNorm(y, mean, rstd, x, w, b []float32, rows, d int, eps float32) {
	if v := simd(); vecLen(v, d) > 0 {
		layerNormVec(v, y, mean, rstd, x, w, b, rows, d, eps)
		return
	}
	for r := range rows {
		xr := x[r*d : (r+1)*d]
		yr := y[r*d : (r+1)*d]
		var s float64
		for _, v := range xr {
			s += float64(v)
		}
		mu := s / float64(d)
		var ss float64
		for _, v := range xr {
			dv := float64(v) - mu
			ss += dv * dv
		}
		rs := 1 / math.Sqrt(ss/float64(d)+float64(eps))
		mean[r], rstd[r] = float32(mu), float32(rs)
		m32, r32 := float32(mu), float32(rs)
		switch {
		case w != nil && b != nil:
			for i, v := range xr {
				yr[i] = (v-m32)*r32*w[i] + b[i]
			}
		case w != nil:
			for i, v := range xr {
				yr[i] = (v - m32) * r32 * w[i]
			}
		case b != nil:
			for i, v := range xr {
				yr[i] = (v-m32)*r32 + b[i]
			}
		default:
			for i, v := range xr {
				yr[i] = (v - m32) * r32
			}
		}
	}
}

// layerNormVec is LayerNorm with the vector kernels (d >= vecBlock): the
// same two passes, with float32 sums over 16 lanes.
func layerNormVec(v *vecImpl, y, mean, rstd, x, w, b []float32, rows, d int, eps float32) {
	n := vecLen(v, d)
	var wp, bp *float32
	if w != nil {
		wp = &w[0]
	}
	if b != nil {
		bp = &b[0]
	}
	for r := range rows {
		xr := x[r*d : (r+1)*d]
		yr := y[r*d : (r+1)*d]
		s := v.sum(&xr[0], n)
		for _, x := range xr[n:] {
			s += x
		}
		mu := s / float32(d)
		ss := v.sumSqDev(&xr[0], n, mu)
		for _, x := range xr[n:] {
			ss += (x - mu) * (x - mu)
		}
		rs := float32(1 / math.Sqrt(float64(ss/float32(d))+float64(eps)))
		mean[r], rstd[r] = mu, rs
		v.norm(&yr[0], &xr[0], wp, bp, d, mu, rs)
	}
}

// LayerNormBackward adds the gradients of [LayerNorm] to dx, dw and db
// (each may be nil when not wanted), given dy, x and the saved mean and
// rstd.
func LayerNormBackward(dx, dw, db, dy, x, mean, rstd, w []float32, rows, d int) {
	for r := range rows {
		xr := x[r*d : (r+1)*d]
		dyr := dy[r*d : (r+1)*d]
		mu, rs := mean[r], rstd[r]
		if dw != nil || db != nil {
			for i, g := range dyr {
				if dw != nil {
					dw[i] += g * (xr[i] - mu) * rs
				}
				if db != nil {
					db[i] += g
				}
			}
		}
		if dx == nil {
			continue
		}
		// dxhat = dy·w; dx = rstd·(dxhat - mean(dxhat) - xhat·mean(dxhat·xhat))
		var sum, dot float64
		for i, g := range dyr {
			gh := g
			if w != nil {
				gh *= w[i]
			}
			xh := (xr[i] - mu) * rs
			sum += float64(gh)
			dot += float64(gh * xh)
		}
		mSum, mDot := float32(sum/float64(d)), float32(dot/float64(d))
		dxr := dx[r*d : (r+1)*d]
		for i, g := range dyr {
			gh := g
			if w != nil {
				gh *= w[i]
			}
			xh := (xr[i] - mu) * rs
			dxr[i] += rs * (gh - mSum - xh*mDot)
		}
	}
}
