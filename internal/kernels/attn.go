package kernels

import (
	"math"
	"sync"
)

// Strided addresses a [B, H, T, D] operand inside a larger buffer: element
// (b, h, t, d) is Data[Off + b·BStride + h·HStride + t·Row + d]. The two
// layouts of attention are
//
//	[B, H, T, D]:    BStride = H·T·D, HStride = T·D, Row = D
//	[B, T, H·D]:     BStride = T·L,   HStride = D,   Row = L   (L >= H·D, Off = column of head 0)
//
// so heads projected side by side ([B, T, H·Dh], or a fused [B, T, 3·H·Dh])
// are read in place, without a transpose.
type Strided struct {
	Data                  []float32
	Off, BStride, HStride int
	Row                   int
}

func (s Strided) at(b, h int) []float32 { return s.Data[s.Off+b*s.BStride+h*s.HStride:] }

// Rows addresses a broadcast [B, H, Tq, N] array of per-row values (a mask
// or a bias row of N entries, or one flag per query row with N = 1): the
// row of (b, h, i) starts at Off + b·BStride + h·HStride + i·Row. A
// stride of 0 broadcasts that axis.
type Rows[T any] struct {
	Data                  []T
	Off, BStride, HStride int
	Row                   int
}

func (r Rows[T]) row(b, h, i, n int) []T {
	if r.Data == nil {
		return nil
	}
	o := r.Off + b*r.BStride + h*r.HStride + i*r.Row
	return r.Data[o : o+n]
}

// Fill modes of [Attention]: how a masked score enters the softmax.
const (
	// FillExclude gives masked keys probability exactly 0; a row with no
	// key left outputs zeros.
	FillExclude = iota
	// FillNaN is FillExclude, except that a row with no key left is NaN
	// (PyTorch's −inf boolean masks).
	FillNaN
	// FillAdd adds FillValue to masked scores (HF extended masks); the
	// score keeps its gradient.
	FillAdd
	// FillReplace replaces masked scores by FillValue (masked_fill); they
	// pass no gradient.
	FillReplace
)

// Attention describes one multi-head scaled dot-product attention
//
//	O[b,h] = softmax(Scale·Q[b,h]·K[b,h]ᵀ + Bias, masked) · V[b,h]
//
// over Q [B, H, Tq, Dh], K [B, H, Tk, Dh], V [B, H, Tk, Dv] and O
// [B, H, Tq, Dv], each [Strided].
type Attention struct {
	B, H, Tq, Tk, Dh, Dv int
	Scale                float32
	Q, K, V, O           Strided

	// Keep, if set, holds Tk flags per (b, h, i): false masks key j.
	Keep Rows[bool]
	// Causal masks key j for query i when j > i + Tk - Tq.
	Causal bool
	// Bias, if set, holds Tk additive scores per (b, h, i).
	Bias Rows[float32]
	// KeepRows, if set, holds one flag per (b, h, i): false zeroes the
	// whole probability row, so the row outputs 0 and passes no gradient.
	KeepRows Rows[bool]
	// Fill (one of the Fill constants) and FillValue say how masked
	// scores are treated.
	Fill      int
	FillValue float32
}

func (a *Attention) masked(b, h, i int, keep []bool, j int) bool {
	if keep != nil && !keep[j] {
		return true
	}
	return a.Causal && j > i+a.Tk-a.Tq
}

// visible returns the number of leading keys the causal mask leaves to
// query i (all Tk without one).
func (a *Attention) visible(i int) int {
	if !a.Causal {
		return a.Tk
	}
	return min(max(i+a.Tk-a.Tq+1, 0), a.Tk)
}

// probsRow computes row i of the probabilities of (b, h) in place: s holds
// the raw scores Q·Kᵀ (already scaled) on entry.
func (a *Attention) probsRow(b, h, i int, s []float32) {
	if kr := a.KeepRows.row(b, h, i, 1); kr != nil && !kr[0] {
		clear(s)
		return
	}
	if bias := a.Bias.row(b, h, i, a.Tk); bias != nil {
		AddTo(s, bias)
	}
	keep := a.Keep.row(b, h, i, a.Tk)
	lim := a.visible(i)
	fill := func(j int) {
		switch a.Fill {
		case FillAdd:
			s[j] += a.FillValue
		case FillReplace:
			s[j] = a.FillValue
		default:
			s[j] = float32(math.Inf(-1))
		}
	}
	for j := lim; j < len(s); j++ {
		fill(j)
	}
	if keep != nil {
		for j, k := range keep[:lim] {
			if !k {
				fill(j)
			}
		}
	}
	mx := rowMax(s)
	if math.IsInf(float64(mx), 0) || math.IsNaN(float64(mx)) {
		v := float32(0)
		if a.Fill == FillNaN || !math.IsInf(float64(mx), -1) {
			v = float32(math.NaN())
		}
		for j := range s {
			s[j] = v
		}
		return
	}
	expNormalize(s, mx)
}

var scratchPool = sync.Pool{New: func() any { return new([]float32) }}

func getScratch(n int) *[]float32 {
	p := scratchPool.Get().(*[]float32)
	if cap(*p) < n {
		*p = make([]float32, n)
	}
	*p = (*p)[:n]
	return p
}

// AttentionForward computes a.O. If probs is non-nil ([B, H, Tq, Tk],
// contiguous) the probabilities are stored there; otherwise they live in
// scratch memory. If drop is non-nil ([B, H, Tq, Tk]) the probabilities
// are multiplied by it (dropout scale factors) before the product with V;
// probs keeps the values before dropout.
func AttentionForward(a *Attention, probs, drop []float32) {
	tt := a.Tq * a.Tk
	parallel(a.B*a.H, tt*(a.Dh+a.Dv), func(lo, hi, threads int) {
		var buf *[]float32
		if probs == nil || drop != nil {
			buf = getScratch(tt)
			defer scratchPool.Put(buf)
		}
		for bh := lo; bh < hi; bh++ {
			b, h := bh/a.H, bh%a.H
			var p []float32
			if probs != nil {
				p = probs[bh*tt : (bh+1)*tt]
			} else {
				p = *buf
			}
			sgemm(threads, false, true, a.Tq, a.Tk, a.Dh, a.Scale, a.Q.at(b, h), a.Q.Row, a.K.at(b, h), a.K.Row, 0, p, a.Tk)
			for i := range a.Tq {
				a.probsRow(b, h, i, p[i*a.Tk:(i+1)*a.Tk])
			}
			if drop != nil {
				Mul(*buf, p, drop[bh*tt:(bh+1)*tt])
				p = *buf
			}
			sgemm(threads, false, false, a.Tq, a.Dv, a.Tk, 1, p, a.Tk, a.V.at(b, h), a.V.Row, 0, a.O.at(b, h), a.O.Row)
		}
	})
}

// AttentionBackward adds the gradients of [AttentionForward] with respect
// to Q, K and V to dQ, dK and dV (a nil Data skips one), given dO and the
// probabilities and dropout factors of the forward pass. The gradient
// operands use the strides of their forward counterparts.
func AttentionBackward(a *Attention, probs, drop []float32, dO, dQ, dK, dV Strided) {
	tt := a.Tq * a.Tk
	parallel(a.B*a.H, 2*tt*(a.Dh+a.Dv), func(lo, hi, threads int) {
		dpBuf := getScratch(tt)
		defer scratchPool.Put(dpBuf)
		var pdBuf *[]float32
		if drop != nil {
			pdBuf = getScratch(tt)
			defer scratchPool.Put(pdBuf)
		}
		dp := *dpBuf
		for bh := lo; bh < hi; bh++ {
			b, h := bh/a.H, bh%a.H
			p := probs[bh*tt : (bh+1)*tt]
			pd := p // probabilities as multiplied with V
			// dP = dO·Vᵀ
			sgemm(threads, false, true, a.Tq, a.Tk, a.Dv, 1, dO.at(b, h), dO.Row, a.V.at(b, h), a.V.Row, 0, dp, a.Tk)
			if drop != nil {
				d := drop[bh*tt : (bh+1)*tt]
				pd = *pdBuf
				Mul(pd, p, d)
				Mul(dp, dp, d)
			}
			if dV.Data != nil {
				sgemm(threads, true, false, a.Tk, a.Dv, a.Tq, 1, pd, a.Tk, dO.at(b, h), dO.Row, 1, dV.at(b, h), dV.Row)
			}
			if dQ.Data == nil && dK.Data == nil {
				continue
			}
			// dS = P⊙(dP - Σ_j P⊙dP), in place in dp.
			for i := range a.Tq {
				pr, gr := p[i*a.Tk:(i+1)*a.Tk], dp[i*a.Tk:(i+1)*a.Tk]
				var dot float64
				for j, v := range pr {
					dot += float64(v * gr[j])
				}
				d := float32(dot)
				for j, v := range pr {
					gr[j] = v * (gr[j] - d)
				}
				if a.Fill == FillReplace {
					keep := a.Keep.row(b, h, i, a.Tk)
					for j := range gr {
						if a.masked(b, h, i, keep, j) {
							gr[j] = 0
						}
					}
				}
			}
			if dQ.Data != nil {
				sgemm(threads, false, false, a.Tq, a.Dh, a.Tk, a.Scale, dp, a.Tk, a.K.at(b, h), a.K.Row, 1, dQ.at(b, h), dQ.Row)
			}
			if dK.Data != nil {
				sgemm(threads, true, false, a.Tk, a.Dh, a.Tq, a.Scale, dp, a.Tk, a.Q.at(b, h), a.Q.Row, 1, dK.at(b, h), dK.Row)
			}
		}
	})
}

// minParallelWork is the number of multiply-adds below which a kernel
// stays on one goroutine.
const minParallelWork = 1 << 18

// parallel splits the tasks [0, n) into contiguous chunks run on up to
// Threads() goroutines; work is the cost of one task in multiply-adds.
// f receives the number of threads its own products may use: all of them
// when the tasks run on one goroutine, else one, so that the products of
// concurrent tasks do not split again and oversubscribe the cores.
func parallel(n, work int, f func(lo, hi, threads int)) {
	threads := Threads()
	w := min(threads, n)
	if w <= 1 || n*work < minParallelWork {
		f(0, n, threads)
		return
	}
	var wg sync.WaitGroup
	for t := range w {
		lo, hi := t*n/w, (t+1)*n/w
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi, max(1, threads/w))
		}()
	}
	wg.Wait()
}
