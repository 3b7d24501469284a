package attention

import (
	"math/rand/v2"

	"github.com/govlm/vlm"
)

// Additive is Bahdanau's additive (soft) attention as Show, Attend and
// Tell uses it, with the names of sgrvinod's tutorial:
//
//	e     = full_att(Act(encoder_att(enc) + decoder_att(h)))   [B, P]
//	alpha = softmax(e) over the P pixels
//	ctx   = Σ_p alpha_p·enc_p                                    [B, Denc]
//
// Act is ReLU in the tutorial and tanh in the paper (arctic-captions).
// encoder_att(enc) does not depend on the decoder state: compute it once
// per image with [Additive.Keys] and pass it to every decoding step.
// full_att.bias shifts every score equally, so its gradient is zero up to
// rounding.
type Additive struct {
	Encoder *vlm.Linear // encoder_att [A, Denc]
	Decoder *vlm.Linear // decoder_att [A, Hdec]
	Full    *vlm.Linear // full_att [1, A]
	Act     vlm.Activation
}

// NewAdditive returns additive attention from encDim-wide pixels and a
// decDim-wide decoder state through attDim hidden units, with PyTorch's
// default Linear initialisation (a nil rng means vlm.NewRand(0)).
func NewAdditive(rng *rand.Rand, encDim, decDim, attDim int, act vlm.Activation) (*Additive, error) {
	if encDim < 1 || decDim < 1 || attDim < 1 {
		return nil, vlm.Errorf(vlm.ErrConfig, "attention.NewAdditive: widths %d, %d, %d", encDim, decDim, attDim)
	}
	if !act.Valid() {
		return nil, vlm.Errorf(vlm.ErrConfig, "attention.NewAdditive: unknown activation %q", string(act))
	}
	if rng == nil {
		rng = vlm.NewRand(0)
	}
	return &Additive{
		Encoder: vlm.NewLinear(rng, encDim, attDim, true),
		Decoder: vlm.NewLinear(rng, decDim, attDim, true),
		Full:    vlm.NewLinear(rng, attDim, 1, true),
		Act:     act,
	}, nil
}

// VisitParams implements vlm.Module: encoder_att, decoder_att, full_att.
func (a *Additive) VisitParams(prefix string, visit func(string, *vlm.Param)) {
	a.Encoder.VisitParams(prefix+"encoder_att.", visit)
	a.Decoder.VisitParams(prefix+"decoder_att.", visit)
	a.Full.VisitParams(prefix+"full_att.", visit)
}

// Keys returns encoder_att(enc) [B, P, A] for enc [B, P, Denc].
func (a *Additive) Keys(tp *vlm.Tape, enc *vlm.Tensor) (keys *vlm.Tensor, err error) {
	defer vlm.Recover(&err)
	if err := vlm.CheckShape("encoder output", enc, -1, -1, a.Encoder.In()); err != nil {
		return nil, err
	}
	return a.Encoder.Forward(tp, enc), nil
}

// Forward attends the decoder state h [B, Hdec] over the pixels of enc
// [B, P, Denc] and returns the context [B, Denc] and the weights alpha
// [B, P]. keys is [Additive.Keys] of enc, or nil to compute it here.
func (a *Additive) Forward(tp *vlm.Tape, enc, keys, h *vlm.Tensor) (ctx, alpha *vlm.Tensor, err error) {
	defer vlm.Recover(&err)
	if err := vlm.CheckShape("encoder output", enc, -1, -1, a.Encoder.In()); err != nil {
		return nil, nil, err
	}
	b, p := enc.Shape[0], enc.Shape[1]
	if err := vlm.CheckShape("decoder state", h, b, a.Decoder.In()); err != nil {
		return nil, nil, err
	}
	if keys == nil {
		keys = a.Encoder.Forward(tp, enc)
	} else if err := vlm.CheckShape("keys", keys, b, p, a.Encoder.Out()); err != nil {
		return nil, nil, err
	}
	att2 := vlm.Reshape(tp, a.Decoder.Forward(tp, h), b, 1, -1)              // [B, 1, A]
	e := a.Full.Forward(tp, a.Act.Apply(tp, vlm.Add(tp, keys, att2)))        // [B, P, 1]
	alpha = vlm.Softmax(tp, vlm.Reshape(tp, e, b, p), nil)                   // [B, P]
	ctx = vlm.MatMul(tp, vlm.Reshape(tp, alpha, b, 1, p), enc, false, false) // [B, 1, Denc]
	return vlm.Reshape(tp, ctx, b, -1), alpha, nil
}
