package lstmcaption

import "github.com/govlm/vlm"

// Norm selects how [Output.Loss] averages its two terms. The references
// disagree (01-show-attend-tell §4), and the values are not
// interchangeable.
type Norm int

const (
	// NormTutorial is the tutorial's train.py: cross-entropy averaged
	// over all predicted words, and the regulariser
	// ((1 − Σ_t α_t)²).mean() over the B·P pixels of the batch.
	NormTutorial Norm = iota
	// NormPaper is the paper's eq. (14) averaged over the captions of
	// the batch: the negative log-likelihood summed over each caption's
	// words, and the regulariser Σ_p (1 − Σ_t α_tp)² summed over each
	// image's pixels.
	NormPaper
	// NormArctic is the authors' Theano code (arctic-captions capgen.py,
	// train): the negative log-likelihood summed over each caption's
	// words and averaged over the batch, and the regulariser
	// ((1 − alphas.sum(0))²).sum(0).mean() of alphas [T, B, P], which
	// sums over the batch and averages over the pixels. (The Theano
	// model also attends at the padded steps of shorter captions and
	// counts those weights; here they are zero, as in the tutorial.)
	NormArctic
)

// String returns "tutorial", "paper" or "arctic".
func (n Norm) String() string {
	switch n {
	case NormTutorial:
		return "tutorial"
	case NormPaper:
		return "paper"
	case NormArctic:
		return "arctic"
	}
	return "Norm(?)"
}

// LossOptions configures [Output.Loss].
type LossOptions struct {
	// AlphaC weighs the doubly stochastic regulariser: 1 in the
	// tutorial, 0 leaves it out.
	AlphaC float32
	// Norm is the normalisation of both terms.
	Norm Norm
}

// TutorialLoss returns the loss of the tutorial's train.py: alpha_c = 1,
// NormTutorial.
func TutorialLoss() LossOptions { return LossOptions{AlphaC: 1} }

// Loss holds the training loss and its two terms, rank-0 tensors on the
// tape of the forward pass.
type Loss struct {
	// Total is CE + AlphaC·Reg, the value to differentiate.
	Total *vlm.Tensor
	// CE is the cross-entropy of the predicted words.
	CE *vlm.Tensor
	// Reg is the doubly stochastic attention regulariser, not yet
	// weighted by AlphaC: it pushes the attention of every pixel,
	// summed over the steps, towards 1.
	Reg *vlm.Tensor
}

// Loss returns the training loss of o, as the tutorial's train.py
// computes it: cross-entropy of the predictions against the next word
// over the real (non-padded) steps, the targets being Captions[i][1:],
// plus AlphaC times the doubly stochastic regulariser over the
// zero-filled Alphas. tp must be the tape of the [Decoder.Forward] that
// made o (nil for a value without gradients).
func (o *Output) Loss(tp *vlm.Tape, opts LossOptions) (l Loss, err error) {
	defer vlm.Recover(&err)
	if o == nil || o.Predictions == nil || o.Alphas == nil {
		return Loss{}, vlm.Errorf(vlm.ErrInput, "lstmcaption.Output.Loss: no predictions (use the Output of Decoder.Forward)")
	}
	switch opts.Norm {
	case NormTutorial, NormPaper, NormArctic:
	default:
		return Loss{}, vlm.Errorf(vlm.ErrConfig, "lstmcaption.LossOptions.Norm = %d, want NormTutorial, NormPaper or NormArctic", int(opts.Norm))
	}
	b, steps, v := o.Predictions.Shape[0], o.Predictions.Shape[1], o.Predictions.Shape[2]
	p := o.Alphas.Shape[2]
	targets := make([]int, b*steps)
	words := 0
	for i := range b {
		for t := range steps {
			targets[i*steps+t] = vlm.IgnoreIndex
			if t < o.DecodeLengths[i] {
				targets[i*steps+t] = o.Captions[i][t+1]
				words++
			}
		}
	}
	l.CE = vlm.CrossEntropy(tp, vlm.Reshape(tp, o.Predictions, b*steps, v), targets, 0)
	miss := vlm.Sub(tp, vlm.Scalar(1), vlm.SumAxis(tp, o.Alphas, 1)) // [B, P]
	sq := vlm.Mul(tp, miss, miss)
	switch opts.Norm {
	case NormTutorial:
		l.Reg = vlm.Mean(tp, sq)
	case NormPaper:
		l.CE = vlm.Scale(tp, l.CE, float32(words)/float32(b))
		l.Reg = vlm.Scale(tp, vlm.Sum(tp, sq), 1/float32(b))
	case NormArctic:
		l.CE = vlm.Scale(tp, l.CE, float32(words)/float32(b))
		l.Reg = vlm.Scale(tp, vlm.Sum(tp, sq), 1/float32(p))
	}
	l.Total = vlm.Add(tp, l.CE, vlm.Scale(tp, l.Reg, opts.AlphaC))
	return l, nil
}
