package vlm

import (
	"math"

	"github.com/govlm/vlm/internal/kernels"
)

// IgnoreIndex is the target value that [CrossEntropy] skips, as PyTorch's
// default ignore_index (-100) and the labels of LLaVA, LAVIS and
// open_flamingo.
const IgnoreIndex = -100

// CrossEntropy returns the mean cross-entropy of logits [N, V] against
// class targets (len N), averaged over the targets that are not
// [IgnoreIndex] (nn.CrossEntropyLoss). With label smoothing ε > 0 the
// target distribution is (1-ε)·onehot + ε/V, as PyTorch's label_smoothing.
// If every target is ignored the loss is 0 (PyTorch returns NaN).
func CrossEntropy(tp *Tape, logits *Tensor, targets []int, smoothing float32) *Tensor {
	if logits.Rank() != 2 || logits.Shape[0] != len(targets) {
		Panicf(ErrShape, "CrossEntropy: logits %v for %d targets; want [N, V]", logits.Shape, len(targets))
	}
	n, v := logits.Shape[0], logits.Shape[1]
	logp := make([]float32, n*v)
	kernels.LogSoftmax(logp, logits.Data, n, v)
	count := 0
	var loss float64
	eps := float64(smoothing)
	for r, t := range targets {
		if t == IgnoreIndex {
			continue
		}
		if t < 0 || t >= v {
			Panicf(ErrInput, "CrossEntropy: target %d = %d outside [0, %d)", r, t, v)
		}
		count++
		row := logp[r*v : (r+1)*v]
		loss -= (1 - eps) * float64(row[t])
		if eps != 0 {
			loss -= eps / float64(v) * kernels.Sum(row)
		}
	}
	y := Scalar(0)
	if count == 0 {
		return y
	}
	y.Data[0] = float32(loss / float64(count))
	if tp.NeedsGrad(logits) {
		targets := append([]int(nil), targets...)
		tp.Record(y, func(dy *Tensor) {
			g := tp.GradOf(logits).Data
			s := dy.Data[0] / float32(count)
			off := float32(eps / float64(v))
			for r, t := range targets {
				if t == IgnoreIndex {
					continue
				}
				row, gr := logp[r*v:(r+1)*v], g[r*v:(r+1)*v]
				for j, lp := range row {
					p := float32(math.Exp(float64(lp)))
					gr[j] += s * (p - off)
				}
				gr[t] -= s * (1 - float32(eps))
			}
		})
	}
	return y
}

// SoftCrossEntropy returns the mean over rows of -Σ_j target[i,j]·log
// softmax(logits)[i,j], for logits and target distributions [N, V] (the
// soft targets of BLIP-2's ITC with image ids). target gets no gradient.
func SoftCrossEntropy(tp *Tape, logits, target *Tensor) *Tensor {
	if logits.Rank() != 2 || !SameShape(logits, target) {
		Panicf(ErrShape, "SoftCrossEntropy: logits %v, target %v; want equal [N, V]", logits.Shape, target.Shape)
	}
	n := logits.Shape[0]
	lp := LogSoftmax(tp, logits)
	return Scale(tp, Sum(tp, Mul(tp, lp, target)), -1/float32(max(n, 1)))
}

// MSE returns the mean squared error mean((a-b)²) (nn.MSELoss).
func MSE(tp *Tape, a, b *Tensor) *Tensor {
	if !SameShape(a, b) {
		Panicf(ErrShape, "MSE: shapes %v and %v differ", a.Shape, b.Shape)
	}
	d := Sub(tp, a, b)
	return Mean(tp, Mul(tp, d, d))
}
