package lstmcaption

import "github.com/govlm/vlm"

// Encoder turns images into the feature grid the decoder attends over,
// pixels [B, C, H, W] → [B, h, w, Denc]. encoder.CNN is one.
type Encoder interface {
	vlm.Module
	Forward(tp *vlm.Tape, pixels *vlm.Tensor) (*vlm.Tensor, error)
}

// Trainer runs the training step of the tutorial's train.py: encode,
// decode with teacher forcing, the loss, backward, clamp every gradient
// value, and one optimizer step for the decoder and, when fine-tuning,
// for the encoder.
type Trainer struct {
	// Encoder maps the step's images to features; nil means the images
	// given to Step are already features [B, h, w, Denc].
	Encoder Encoder
	// Decoder is the model being trained.
	Decoder *Decoder
	// FineTune trains the encoder too (the tutorial's
	// fine_tune_encoder, off by default). A frozen encoder runs without
	// a tape, so it keeps no activations; parameters frozen with
	// vlm.Freeze stay fixed while the rest of the encoder fine-tunes (the
	// tutorial fine-tunes ResNet's layer2 to layer4 only).
	FineTune bool
	// DecoderOptimizer and EncoderOptimizer update the two modules; the
	// encoder's is used only when fine-tuning.
	DecoderOptimizer, EncoderOptimizer vlm.Optimizer
	// Clip clamps every gradient value to [−Clip, Clip] before the
	// update (the tutorial's clip_gradient, 5); 0 clamps nothing.
	Clip float32
	// Loss is the loss's weighting and normalisation.
	Loss LossOptions
	// Seed seeds the dropout masks; step n uses Seed+n.
	Seed uint64

	steps uint64
}

// NewTrainer returns a Trainer with the tutorial's settings: Adam with
// learning rate 4e-4 for the decoder and 1e-4 for the encoder, gradient
// values clamped to ±5, alpha_c = 1.
func NewTrainer(enc Encoder, dec *Decoder, fineTune bool) *Trainer {
	adam := func(lr float64) *vlm.AdamW { return &vlm.AdamW{LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8} }
	return &Trainer{
		Encoder:          enc,
		Decoder:          dec,
		FineTune:         fineTune,
		DecoderOptimizer: adam(4e-4),
		EncoderOptimizer: adam(1e-4),
		Clip:             5,
		Loss:             TutorialLoss(),
	}
}

// Step trains on one batch: images [B, C, H, W] (features
// [B, h, w, Denc] without an Encoder) and their captions, each
// <start> w₁ … wₙ <end> (see [Decoder.Forward]). It returns the loss
// before the update.
func (t *Trainer) Step(images *vlm.Tensor, captions [][]int) (l Loss, err error) {
	defer vlm.Recover(&err)
	if t.Decoder == nil || t.DecoderOptimizer == nil {
		return Loss{}, vlm.Errorf(vlm.ErrConfig, "lstmcaption.Trainer: Decoder and DecoderOptimizer are required")
	}
	fineTune := t.FineTune && t.Encoder != nil
	if fineTune && t.EncoderOptimizer == nil {
		return Loss{}, vlm.Errorf(vlm.ErrConfig, "lstmcaption.Trainer: FineTune needs an EncoderOptimizer")
	}
	vlm.ZeroGrad(t.Decoder)
	if fineTune {
		vlm.ZeroGrad(t.Encoder)
	}
	tp := vlm.NewTrainingTape(t.Seed + t.steps)
	t.steps++
	feats := images
	if t.Encoder != nil {
		etp := tp
		if !fineTune {
			etp = nil
		}
		if feats, err = t.Encoder.Forward(etp, images); err != nil {
			return Loss{}, err
		}
	}
	out, err := t.Decoder.Forward(tp, feats, captions)
	if err != nil {
		return Loss{}, err
	}
	if l, err = out.Loss(tp, t.Loss); err != nil {
		return Loss{}, err
	}
	if err := tp.Backward(l.Total); err != nil {
		return Loss{}, err
	}
	if t.Clip > 0 {
		vlm.ClipGradValue(t.Decoder, t.Clip)
		if fineTune {
			vlm.ClipGradValue(t.Encoder, t.Clip)
		}
	}
	t.DecoderOptimizer.Step(t.Decoder)
	if fineTune {
		t.EncoderOptimizer.Step(t.Encoder)
	}
	return l, nil
}
