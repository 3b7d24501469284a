package lstmcaption

import "github.com/govlm/vlm"

// Config sizes a [Decoder] and selects the paper's variants. The zero
// value of every variant field is the tutorial's choice, so a Config
// holding only sizes loads the tutorial's checkpoints.
type Config struct {
	// EncoderDim is Denc, the width of each grid cell of the encoder
	// output (2048 for the tutorial's ResNet-101).
	EncoderDim int
	// AttentionDim is A, the hidden width of the attention MLP.
	AttentionDim int
	// EmbedDim is E, the width of the word embeddings.
	EmbedDim int
	// DecoderDim is H, the width of the LSTM state.
	DecoderDim int
	// VocabSize is V, the number of words of the word map.
	VocabSize int
	// Dropout is the probability of the dropout on fc's input, active
	// only on training tapes (0.5 in the tutorial).
	Dropout float32

	// AttentionAct is the non-linearity of the attention MLP: ReLU in
	// the tutorial (the default, "" means ReLU), tanh in the paper.
	AttentionAct vlm.Activation
	// ScalarGate makes f_beta a scalar gate β = σ(f_beta(h)), f_beta:
	// H → 1, as the paper (§4.2.1); the tutorial gates every channel,
	// f_beta: H → Denc.
	ScalarGate bool
	// DeepOutput predicts words with the paper's deep output layer,
	// p(y_t) ∝ exp(L_o·tanh(E·y_{t−1} + L_h·h_t + L_z·ẑ_t)) (eq. 7):
	// fc becomes L_o [V, E] and logit_h (L_h [E, H]) and logit_z
	// (L_z [E, Denc]) are added. The tutorial predicts fc(h_t).
	DeepOutput bool
	// TanhInit applies tanh to init_h and init_c, as the paper's
	// f_init MLPs; the tutorial's initial state is linear.
	TanhInit bool
}

// TutorialConfig returns the sizes of the tutorial's train.py (A = E =
// H = 512, dropout 0.5, ResNet-101 features of 2048 channels) for a
// word map of the given size, with the tutorial's ReLU attention and
// vector gate.
func TutorialConfig(vocabSize int) Config {
	return Config{
		EncoderDim:   2048,
		AttentionDim: 512,
		EmbedDim:     512,
		DecoderDim:   512,
		VocabSize:    vocabSize,
		Dropout:      0.5,
	}
}

// Paper returns c with every variant of the paper switched on: tanh
// attention, a scalar gate, the deep output layer and a tanh initial
// state.
func (c Config) Paper() Config {
	c.AttentionAct = vlm.ActTanh
	c.ScalarGate = true
	c.DeepOutput = true
	c.TanhInit = true
	return c
}

// Validate returns an ErrConfig error naming the first invalid field.
func (c Config) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{
		{"EncoderDim", c.EncoderDim}, {"AttentionDim", c.AttentionDim}, {"EmbedDim", c.EmbedDim},
		{"DecoderDim", c.DecoderDim}, {"VocabSize", c.VocabSize},
	} {
		if f.v < 1 {
			return vlm.Errorf(vlm.ErrConfig, "lstmcaption.Config.%s = %d, want >= 1", f.name, f.v)
		}
	}
	if !(c.Dropout >= 0 && c.Dropout < 1) {
		return vlm.Errorf(vlm.ErrConfig, "lstmcaption.Config.Dropout = %g, want in [0, 1)", c.Dropout)
	}
	if c.AttentionAct != "" && !c.AttentionAct.Valid() {
		return vlm.Errorf(vlm.ErrConfig, "lstmcaption.Config.AttentionAct = %q, want an activation such as %q or %q", string(c.AttentionAct), string(vlm.ActReLU), string(vlm.ActTanh))
	}
	return nil
}

// act returns the attention activation with its default.
func (c Config) act() vlm.Activation {
	if c.AttentionAct == "" {
		return vlm.ActReLU
	}
	return c.AttentionAct
}
