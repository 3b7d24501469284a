//go:build !purego

package kernels

//go:generate go run ./asmgen -vec -out vec_amd64.s

// The vectorised kernels of vec_amd64.s; vecImpl documents them.

var (
	vec512 = &vecImpl{
		exp:               vecExp512,
		sigmoid:           vecSigmoid512,
		tanh:              vecTanh512,
		quickGELU:         vecQuickGELU512,
		gelu:              vecGELU512,
		geluTanh:          vecGELUTanh512,
		geluBackward:      vecGELUBackward512,
		geluTanhBackward:  vecGELUTanhBackward512,
		quickGELUBackward: vecQuickGELUBackward512,
		add:               vecAdd512,
		sub:               vecSub512,
		mul:               vecMul512,
		mulAddTo:          vecMulAddTo512,
		addTo:             vecAddTo512,
		axpy:              vecAxpy512,
		scale:             vecScale512,
		sum:               vecSum512,
		max:               vecMax512,
		sumSqDev:          vecSumSqDev512,
		expSum:            vecExpSum512,
		norm:              vecNorm512,
		adamW:             vecAdamW512,
	}
	vecAVX2 = &vecImpl{
		exp:               vecExpAVX2,
		sigmoid:           vecSigmoidAVX2,
		tanh:              vecTanhAVX2,
		quickGELU:         vecQuickGELUAVX2,
		gelu:              vecGELUAVX2,
		geluTanh:          vecGELUTanhAVX2,
		geluBackward:      vecGELUBackwardAVX2,
		geluTanhBackward:  vecGELUTanhBackwardAVX2,
		quickGELUBackward: vecQuickGELUBackwardAVX2,
		add:               vecAddAVX2,
		sub:               vecSubAVX2,
		mul:               vecMulAVX2,
		mulAddTo:          vecMulAddToAVX2,
		addTo:             vecAddToAVX2,
		axpy:              vecAxpyAVX2,
		scale:             vecScaleAVX2,
		sum:               vecSumAVX2,
		max:               vecMaxAVX2,
		sumSqDev:          vecSumSqDevAVX2,
		expSum:            vecExpSumAVX2,
		norm:              vecNormAVX2,
		adamW:             vecAdamWAVX2,
	}
)

//go:noescape
func vecExp512(y, x *float32, n int)

//go:noescape
func vecExpAVX2(y, x *float32, n int)

//go:noescape
func vecSigmoid512(y, x *float32, n int)

//go:noescape
func vecSigmoidAVX2(y, x *float32, n int)

//go:noescape
func vecTanh512(y, x *float32, n int)

//go:noescape
func vecTanhAVX2(y, x *float32, n int)

//go:noescape
func vecQuickGELU512(y, x *float32, n int)

//go:noescape
func vecQuickGELUAVX2(y, x *float32, n int)

//go:noescape
func vecGELU512(y, x *float32, n int)

//go:noescape
func vecGELUAVX2(y, x *float32, n int)

//go:noescape
func vecGELUTanh512(y, x *float32, n int)

//go:noescape
func vecGELUTanhAVX2(y, x *float32, n int)

//go:noescape
func vecGELUBackward512(dx, dy, x *float32, n int)

//go:noescape
func vecGELUBackwardAVX2(dx, dy, x *float32, n int)

//go:noescape
func vecGELUTanhBackward512(dx, dy, x *float32, n int)

//go:noescape
func vecGELUTanhBackwardAVX2(dx, dy, x *float32, n int)

//go:noescape
func vecQuickGELUBackward512(dx, dy, x *float32, n int)

//go:noescape
func vecQuickGELUBackwardAVX2(dx, dy, x *float32, n int)

//go:noescape
func vecAdd512(y, a, b *float32, n int)

//go:noescape
func vecAddAVX2(y, a, b *float32, n int)

//go:noescape
func vecSub512(y, a, b *float32, n int)

//go:noescape
func vecSubAVX2(y, a, b *float32, n int)

//go:noescape
func vecMul512(y, a, b *float32, n int)

//go:noescape
func vecMulAVX2(y, a, b *float32, n int)

//go:noescape
func vecMulAddTo512(y, a, b *float32, n int)

//go:noescape
func vecMulAddToAVX2(y, a, b *float32, n int)

//go:noescape
func vecAddTo512(y, x *float32, n int)

//go:noescape
func vecAddToAVX2(y, x *float32, n int)

//go:noescape
func vecAxpy512(y, x *float32, n int, a float32)

//go:noescape
func vecAxpyAVX2(y, x *float32, n int, a float32)

//go:noescape
func vecScale512(y, x *float32, n int, a float32)

//go:noescape
func vecScaleAVX2(y, x *float32, n int, a float32)

//go:noescape
func vecSum512(x *float32, n int) float32

//go:noescape
func vecSumAVX2(x *float32, n int) float32

//go:noescape
func vecMax512(x *float32, n int) float32

//go:noescape
func vecMaxAVX2(x *float32, n int) float32

//go:noescape
func vecSumSqDev512(x *float32, n int, mu float32) float32

//go:noescape
func vecSumSqDevAVX2(x *float32, n int, mu float32) float32

//go:noescape
func vecExpSum512(x *float32, n int, mx float32) float32

//go:noescape
func vecExpSumAVX2(x *float32, n int, mx float32) float32

//go:noescape
func vecNorm512(y, x, w, b *float32, n int, mu, rs float32)

//go:noescape
func vecNormAVX2(y, x, w, b *float32, n int, mu, rs float32)

//go:noescape
func vecAdamW512(w, gr, m, v *float32, n int, p [8]float32)

//go:noescape
func vecAdamWAVX2(w, gr, m, v *float32, n int, p [8]float32)
