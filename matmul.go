package vlm

import "github.com/govlm/vlm/internal/kernels"

// MatMul returns op(a)·op(b) for every matrix of a batch, where op
// transposes the last two axes when the flag is set: a [..., M, K] (or
// [..., K, M] with transA) times b [..., K, N] (or [..., N, K] with
// transB) gives [..., M, N]. The leading (batch) axes of a and b must be
// equal, or one of the two must be a plain matrix, which is then shared by
// every batch entry (x [B, T, K] · W [K, N]).
func MatMul(tp *Tape, a, b *Tensor, transA, transB bool) *Tensor {
	if a.Rank() < 2 || b.Rank() < 2 {
		Panicf(ErrShape, "MatMul: operands %v and %v must have rank >= 2", a.Shape, b.Shape)
	}
	ar, br := a.Rank(), b.Rank()
	m, ka := a.Shape[ar-2], a.Shape[ar-1]
	if transA {
		m, ka = ka, m
	}
	kb, n := b.Shape[br-2], b.Shape[br-1]
	if transB {
		kb, n = n, kb
	}
	if ka != kb {
		Panicf(ErrShape, "MatMul: inner sizes differ: %v%s · %v%s", a.Shape, tStr(transA), b.Shape, tStr(transB))
	}
	k := ka
	aBatch, bBatch := a.Shape[:ar-2], b.Shape[:br-2]
	var batch []int
	switch {
	case equalInts(aBatch, bBatch):
		batch = aBatch
	case br == 2:
		batch = aBatch
	case ar == 2:
		batch = bBatch
	default:
		Panicf(ErrShape, "MatMul: batch axes of %v and %v differ", a.Shape, b.Shape)
	}
	nb := 1
	for _, d := range batch {
		nb *= d
	}
	// A shared plain-matrix a with a non-transposed layout folds the batch
	// into M when b is shared instead; handle the common x·W case as one
	// GEMM.
	shape := append(append([]int(nil), batch...), m, n)
	y := empty(tp, shape...)
	lda, ldb := a.Shape[ar-1], b.Shape[br-1]
	sa, sb := m*k, k*n
	if ar == 2 && len(batch) > 0 {
		sa = 0
	}
	if br == 2 && len(batch) > 0 {
		sb = 0
	}
	if sb == 0 && !transA && sa != 0 {
		// [nb·M, K] · [K, N] in one call.
		kernels.Sgemm(false, transB, nb*m, n, k, 1, a.Data, lda, b.Data, ldb, 0, y.Data, n)
	} else {
		for i := range nb {
			kernels.Sgemm(transA, transB, m, n, k, 1, a.Data[i*sa:], lda, b.Data[i*sb:], ldb, 0, y.Data[i*m*n:], n)
		}
	}
	if !tp.NeedsGrad(a, b) {
		return y
	}
	needA, needB := tp.NeedsGrad(a), tp.NeedsGrad(b)
	tp.Record(y, func(dy *Tensor) {
		if needA {
			ga := tp.GradOf(a).Data
			// dA = dY·op(B)ᵀ (or its transpose when transA).
			if sb == 0 && !transA && sa != 0 {
				kernels.Sgemm(false, !transB, nb*m, k, n, 1, dy.Data, n, b.Data, ldb, 1, ga, lda)
			} else {
				for i := range nb {
					if transA {
						// A is [K, M]: dA = op(B)·dYᵀ
						kernels.Sgemm(transB, true, k, m, n, 1, b.Data[i*sb:], ldb, dy.Data[i*m*n:], n, 1, ga[i*sa:], lda)
					} else {
						kernels.Sgemm(false, !transB, m, k, n, 1, dy.Data[i*m*n:], n, b.Data[i*sb:], ldb, 1, ga[i*sa:], lda)
					}
				}
			}
		}
		if needB {
			gb := tp.GradOf(b).Data
			if sb == 0 && !transA && sa != 0 {
				if transB {
					kernels.Sgemm(true, false, n, k, nb*m, 1, dy.Data, n, a.Data, lda, 1, gb, ldb)
				} else {
					kernels.Sgemm(true, false, k, n, nb*m, 1, a.Data, lda, dy.Data, n, 1, gb, ldb)
				}
			} else {
				for i := range nb {
					if transB {
						// B is [N, K]: dB = dYᵀ·op(A)
						kernels.Sgemm(true, transA, n, k, m, 1, dy.Data[i*m*n:], n, a.Data[i*sa:], lda, 1, gb[i*sb:], ldb)
					} else {
						kernels.Sgemm(!transA, false, k, n, m, 1, a.Data[i*sa:], lda, dy.Data[i*m*n:], n, 1, gb[i*sb:], ldb)
					}
				}
			}
		}
	})
	return y
}

func tStr(t bool) string {
	if t {
		return "ᵀ"
	}
	return ""
}
