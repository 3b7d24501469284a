package lm

import (
	"fmt"
	"math/rand/v2"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/attention"
)

// PositionOffset is the number of rows at the start of the position table
// that no position uses: HF OPT's OPTLearnedPositionalEmbedding looks
// position p up in row p+2 (a leftover of fairseq's padding rows), and
// the table keeps that layout so OPT checkpoints load unchanged.
const PositionOffset = 2

// Config sizes a [Model]; the fields are those of HF's OPTConfig. Zero
// fields marked so take OPT's defaults.
type Config struct {
	Vocab        int            // V, vocab_size
	Dim          int            // D, hidden_size (= word_embed_proj_dim)
	Layers       int            // num_hidden_layers
	Heads        int            // num_attention_heads
	Hidden       int            // ffn_dim; 0 means 4·Dim
	MaxPositions int            // max_position_embeddings; the table has MaxPositions+PositionOffset rows
	Act          vlm.Activation // activation_function; "" means "relu"
	Eps          float32        // LayerNorm eps; 0 means 1e-5
	// PadID is pad_token_id (1 in OPT): the row of the token table that
	// gets no gradient (nn.Embedding's padding_idx) and the id that
	// fills padded prompts and finished samples in generation.
	PadID int
	// Untied gives the model its own lm_head instead of sharing the token
	// table (tie_word_embeddings = false).
	Untied      bool
	Dropout     float32 // dropout after the embeddings and each sub-layer (training tapes)
	AttnDropout float32 // attention_dropout (training tapes)
}

func (c Config) withDefaults() Config {
	if c.Hidden == 0 {
		c.Hidden = 4 * c.Dim
	}
	if c.Act == "" {
		c.Act = vlm.ActReLU
	}
	if c.Eps == 0 {
		c.Eps = 1e-5
	}
	return c
}

// Validate returns an ErrConfig error naming the first invalid field.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Vocab < 1:
		return vlm.Errorf(vlm.ErrConfig, "lm: Config.Vocab = %d, want >= 1", c.Vocab)
	case c.Dim < 1 || c.Heads < 1 || c.Dim%c.Heads != 0:
		return vlm.Errorf(vlm.ErrConfig, "lm: Config.Dim = %d with %d heads, want a positive multiple", c.Dim, c.Heads)
	case c.Layers < 0:
		return vlm.Errorf(vlm.ErrConfig, "lm: Config.Layers = %d, want >= 0", c.Layers)
	case c.Hidden < 1:
		return vlm.Errorf(vlm.ErrConfig, "lm: Config.Hidden = %d, want >= 1", c.Hidden)
	case c.MaxPositions < 1:
		return vlm.Errorf(vlm.ErrConfig, "lm: Config.MaxPositions = %d, want >= 1", c.MaxPositions)
	case !c.Act.Valid():
		return vlm.Errorf(vlm.ErrConfig, "lm: Config.Act = %q is not a known activation", string(c.Act))
	case !(c.Eps > 0):
		return vlm.Errorf(vlm.ErrConfig, "lm: Config.Eps = %g, want > 0", c.Eps)
	case c.PadID < 0 || c.PadID >= c.Vocab:
		return vlm.Errorf(vlm.ErrConfig, "lm: Config.PadID = %d outside the vocabulary [0, %d)", c.PadID, c.Vocab)
	}
	for _, p := range []float32{c.Dropout, c.AttnDropout} {
		if p < 0 || p >= 1 {
			return vlm.Errorf(vlm.ErrConfig, "lm: dropout %v outside [0, 1)", p)
		}
	}
	return nil
}

// Model is a decoder-only language model with HF OPTForCausalLM's
// structure and state_dict keys:
//
//	model.decoder.embed_tokens.weight          Tokens    [V, D]
//	model.decoder.embed_positions.weight       Positions [MaxPositions+2, D]
//	model.decoder.layers.{i}.*                 Layers    (attention.NewDecoderLayer: pre-norm, causal)
//	model.decoder.final_layer_norm.*           FinalNorm
//	lm_head.weight                             LMHead    [V, D], no bias; the token table when tied
//
// A forward pass is [Model.Embed] (token or given input embeddings plus
// position embeddings), [Model.Layer] for each layer, and [Model.Logits]
// (final norm and head); [Model.Forward] runs all three. The pieces are
// exported so that other blocks (Flamingo's gated cross-attention) can run
// between the layers.
//
// With a nil tape a Model is only read, so any number of goroutines may
// share one.
type Model struct {
	Config    Config
	Tokens    *vlm.Embedding
	Positions *vlm.Embedding
	Layers    []*attention.DecoderLayer
	FinalNorm *vlm.LayerNorm
	LMHead    *vlm.Linear
}

// New returns a Model with OPT's initialisation (init_std 0.02: normal
// embeddings, attention.NewDecoderLayer's PyTorch defaults for the
// layers) drawn from rng; a nil rng means vlm.NewRand(0).
func New(rng *rand.Rand, cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if rng == nil {
		rng = vlm.NewRand(0)
	}
	m := &Model{Config: cfg}
	m.Tokens = vlm.NewEmbedding(rng, cfg.Vocab, cfg.Dim, 0.02)
	m.Tokens.PaddingIdx = cfg.PadID
	m.Positions = vlm.NewEmbedding(rng, cfg.MaxPositions+PositionOffset, cfg.Dim, 0.02)
	ac := attention.Config{
		Dim: cfg.Dim, Heads: cfg.Heads, Hidden: cfg.Hidden, Act: cfg.Act, Eps: cfg.Eps,
		Dropout: cfg.Dropout, AttnDropout: cfg.AttnDropout,
	}
	for range cfg.Layers {
		l, err := attention.NewDecoderLayer(rng, ac, false)
		if err != nil {
			return nil, err
		}
		m.Layers = append(m.Layers, l)
	}
	m.FinalNorm = vlm.NewLayerNorm(cfg.Dim, cfg.Eps)
	if cfg.Untied {
		m.LMHead = &vlm.Linear{Weight: vlm.NewParam(vlm.RandN(rng, 0.02, cfg.Vocab, cfg.Dim))}
	} else {
		m.LMHead = &vlm.Linear{Weight: m.Tokens.Weight}
	}
	return m, nil
}

// VisitParams implements vlm.Module with OPTForCausalLM's keys. A tied
// head is visited as lm_head.weight too, so checkpoints that store either
// name load.
func (m *Model) VisitParams(prefix string, visit func(string, *vlm.Param)) {
	d := prefix + "model.decoder."
	m.Tokens.VisitParams(d+"embed_tokens.", visit)
	m.Positions.VisitParams(d+"embed_positions.", visit)
	for i, l := range m.Layers {
		l.VisitParams(fmt.Sprintf("%slayers.%d.", d, i), visit)
	}
	m.FinalNorm.VisitParams(d+"final_layer_norm.", visit)
	m.LMHead.VisitParams(prefix+"lm_head.", visit)
}

// Input is what a forward pass reads, as the arguments of HF's
// OPTForCausalLM.forward. Exactly one of IDs and Embeds is set.
type Input struct {
	// IDs are token ids [B][T], every row of the same length.
	IDs [][]int
	// Embeds are input embeddings [B, T, D] (inputs_embeds), as
	// projector.Splice makes them: images spliced into the text.
	Embeds *vlm.Tensor
	// Mask marks the real positions (true) and the padding (false) of the
	// cached and the new positions, [B][P+T] for a cache of P; nil means
	// every position is real.
	Mask [][]bool
	// Positions are the position ids [B][T], counted from 0 (the table
	// row is the position + PositionOffset). Nil derives them from Mask:
	// the number of real positions before each real one, and 0 on padding,
	// so that left-padded samples start at 0 after their padding, as
	// LLaVA's splice and OPT do.
	Positions [][]int
	// Cache, if non-nil, holds the keys and values of the P positions
	// already seen; the pass attends to them and appends its own.
	Cache *Cache
}

// shape returns B, T and the cache length P of in.
func (in *Input) shape() (b, t, p int) {
	if in.Embeds != nil {
		b, t = in.Embeds.Shape[0], in.Embeds.Shape[1]
	} else {
		b = len(in.IDs)
		if b > 0 {
			t = len(in.IDs[0])
		}
	}
	if in.Cache != nil {
		p = in.Cache.Len()
	}
	return b, t, p
}

// check validates in against m for a whole pass.
func (m *Model) check(in *Input) error { return m.checkLayer(in, -1) }

// checkLayer validates in against m for running decoder layer i alone, or
// for a whole pass if i < 0.
func (m *Model) checkLayer(in *Input, i int) error {
	if in == nil {
		return vlm.Errorf(vlm.ErrInput, "lm: nil input")
	}
	if (in.IDs == nil) == (in.Embeds == nil) {
		return vlm.Errorf(vlm.ErrInput, "lm: input needs exactly one of IDs and Embeds")
	}
	if in.Embeds != nil {
		if err := vlm.CheckShape("lm input embeddings", in.Embeds, -1, -1, m.Config.Dim); err != nil {
			return err
		}
		if err := vlm.CheckFinite("lm input embeddings", in.Embeds); err != nil {
			return err
		}
	}
	b, t, p := in.shape()
	if b == 0 || t == 0 {
		return vlm.Errorf(vlm.ErrShape, "lm: empty input [%d, %d]", b, t)
	}
	for i, row := range in.IDs {
		if len(row) != t {
			return vlm.Errorf(vlm.ErrShape, "lm: IDs row %d has %d tokens, row 0 has %d", i, len(row), t)
		}
		if err := m.Tokens.CheckIDs(fmt.Sprintf("lm: IDs row %d", i), row); err != nil {
			return err
		}
	}
	if in.Mask != nil {
		if len(in.Mask) != b {
			return vlm.Errorf(vlm.ErrShape, "lm: Mask has %d rows for a batch of %d", len(in.Mask), b)
		}
		for i, row := range in.Mask {
			if len(row) != p+t {
				return vlm.Errorf(vlm.ErrShape, "lm: Mask row %d has %d entries, want %d cached + %d new", i, len(row), p, t)
			}
		}
	}
	if in.Positions != nil {
		if len(in.Positions) != b {
			return vlm.Errorf(vlm.ErrShape, "lm: Positions has %d rows for a batch of %d", len(in.Positions), b)
		}
		for i, row := range in.Positions {
			if len(row) != t {
				return vlm.Errorf(vlm.ErrShape, "lm: Positions row %d has %d entries, want %d", i, len(row), t)
			}
		}
	}
	for i, row := range m.positions(in) {
		for j, pos := range row {
			if pos < 0 || pos >= m.Config.MaxPositions {
				return vlm.Errorf(vlm.ErrInput, "lm: position %d of row %d, token %d, outside [0, %d)", pos, i, j, m.Config.MaxPositions)
			}
		}
	}
	if in.Cache != nil {
		if err := in.Cache.fits(m, i); err != nil {
			return err
		}
	}
	return nil
}

// positions returns in.Positions or derives them from the mask.
func (m *Model) positions(in *Input) [][]int {
	if in.Positions != nil {
		return in.Positions
	}
	b, t, p := in.shape()
	out := make([][]int, b)
	for i := range b {
		out[i] = make([]int, t)
		n := 0
		for j := range p + t {
			real := in.Mask == nil || in.Mask[i][j]
			if j >= p && real {
				out[i][j-p] = n
			}
			if real {
				n++
			}
		}
	}
	return out
}

// EmbedTokens returns the rows of the token table for ids, [len(ids), D],
// without positions: the text embeddings that projector.Splice
// interleaves with images (it takes this method as its embedding
// function).
func (m *Model) EmbedTokens(tp *vlm.Tape, ids []int) (e *vlm.Tensor, err error) {
	defer vlm.Recover(&err)
	if err := m.Tokens.CheckIDs("lm: token ids", ids); err != nil {
		return nil, err
	}
	return m.Tokens.Forward(tp, ids), nil
}

// Embed returns the input of the first layer, h [B, T, D]: the token
// embeddings of in.IDs (or in.Embeds) plus the position embeddings, with
// dropout on training tapes.
func (m *Model) Embed(tp *vlm.Tape, in *Input) (h *vlm.Tensor, err error) {
	defer vlm.Recover(&err)
	if err := m.check(in); err != nil {
		return nil, err
	}
	return m.embed(tp, in), nil
}

func (m *Model) embed(tp *vlm.Tape, in *Input) *vlm.Tensor {
	b, t, _ := in.shape()
	d := m.Config.Dim
	x := in.Embeds
	if x == nil {
		ids := make([]int, 0, b*t)
		for _, row := range in.IDs {
			ids = append(ids, row...)
		}
		x = vlm.Reshape(tp, m.Tokens.Forward(tp, ids), b, t, d)
	}
	rows := make([]int, 0, b*t)
	for _, row := range m.positions(in) {
		for _, p := range row {
			rows = append(rows, p+PositionOffset)
		}
	}
	pos := vlm.Reshape(tp, m.Positions.Forward(tp, rows), b, t, d)
	return vlm.Dropout(tp, vlm.Add(tp, x, pos), m.Config.Dropout)
}

// Layer runs decoder layer i on h [B, T, D] with the padding of in.Mask
// and layer i's part of in.Cache, and returns [B, T, D].
func (m *Model) Layer(tp *vlm.Tape, i int, h *vlm.Tensor, in *Input) (y *vlm.Tensor, err error) {
	defer vlm.Recover(&err)
	if i < 0 || i >= len(m.Layers) {
		return nil, vlm.Errorf(vlm.ErrInput, "lm: layer %d of %d", i, len(m.Layers))
	}
	if err := m.checkLayer(in, i); err != nil {
		return nil, err
	}
	b, t, _ := in.shape()
	if err := vlm.CheckShape("lm hidden states", h, b, t, m.Config.Dim); err != nil {
		return nil, err
	}
	return m.layer(tp, i, h, in, selfOptions(in))
}

func (m *Model) layer(tp *vlm.Tape, i int, h *vlm.Tensor, in *Input, o *attention.Options) (*vlm.Tensor, error) {
	var c *attention.Cache
	if in.Cache != nil {
		c = &in.Cache.layers[i]
	}
	return m.Layers[i].Forward(tp, h, c, o, nil, nil)
}

// selfOptions returns the key-padding mask of in over [B, 1, 1, P+T], or
// nil options when nothing is padded (the layers add the causal mask).
func selfOptions(in *Input) *attention.Options {
	padded := false
	for _, row := range in.Mask {
		for _, k := range row {
			padded = padded || !k
		}
	}
	if !padded {
		return nil
	}
	tk := len(in.Mask[0])
	return &attention.Options{Mask: attention.NewMask(len(in.Mask), 1, 1, tk, func(b, _, _, j int) bool { return in.Mask[b][j] })}
}

// Logits applies the final LayerNorm and the head to h [B, T, D] and
// returns the logits [B, T, V].
func (m *Model) Logits(tp *vlm.Tape, h *vlm.Tensor) (logits *vlm.Tensor, err error) {
	defer vlm.Recover(&err)
	if err := vlm.CheckShape("lm hidden states", h, -1, -1, m.Config.Dim); err != nil {
		return nil, err
	}
	return m.logits(tp, h), nil
}

func (m *Model) logits(tp *vlm.Tape, h *vlm.Tensor) *vlm.Tensor {
	return m.LMHead.Forward(tp, m.FinalNorm.Forward(tp, h))
}

// Forward returns the logits [B, T, V] of in. Rows of padding positions
// are computed but meaningless: a padding query attends to nothing
// (attention.FillExclude) where OPT's finfo.min mask makes it attend
// uniformly.
func (m *Model) Forward(tp *vlm.Tape, in *Input) (logits *vlm.Tensor, err error) {
	defer vlm.Recover(&err)
	if err := m.check(in); err != nil {
		return nil, err
	}
	h, err := m.hidden(tp, in)
	if err != nil {
		return nil, err
	}
	return m.logits(tp, h), nil
}

// hidden runs the embeddings and every layer of a checked input.
func (m *Model) hidden(tp *vlm.Tape, in *Input) (*vlm.Tensor, error) {
	h := m.embed(tp, in)
	o := selfOptions(in)
	for i := range m.Layers {
		var err error
		if h, err = m.layer(tp, i, h, in, o); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// Loss returns the causal language-modelling loss of in against labels
// [B][T] as HF computes it: the logits at position t predict labels at
// t+1, averaged over the labels that are not vlm.IgnoreIndex (-100); the
// logits [B, T, V] come with it. Labels are aligned with the input (HF
// shifts them inside), so labels = ids trains on every token; put -100 on
// padding, images and prompts.
func (m *Model) Loss(tp *vlm.Tape, in *Input, labels [][]int) (loss, logits *vlm.Tensor, err error) {
	defer vlm.Recover(&err)
	if err := m.check(in); err != nil {
		return nil, nil, err
	}
	b, t, _ := in.shape()
	if len(labels) != b {
		return nil, nil, vlm.Errorf(vlm.ErrShape, "lm: %d label rows for a batch of %d", len(labels), b)
	}
	targets := make([]int, 0, b*t)
	for i, row := range labels {
		if len(row) != t {
			return nil, nil, vlm.Errorf(vlm.ErrShape, "lm: label row %d has %d entries, want %d", i, len(row), t)
		}
		for j, l := range row {
			if l != vlm.IgnoreIndex && (l < 0 || l >= m.Config.Vocab) {
				return nil, nil, vlm.Errorf(vlm.ErrInput, "lm: label %d of row %d, token %d, outside the vocabulary [0, %d)", l, i, j, m.Config.Vocab)
			}
		}
		targets = append(targets, row[1:]...)
		targets = append(targets, vlm.IgnoreIndex)
	}
	h, err := m.hidden(tp, in)
	if err != nil {
		return nil, nil, err
	}
	logits = m.logits(tp, h)
	loss = vlm.CrossEntropy(tp, vlm.Reshape(tp, logits, b*t, m.Config.Vocab), targets, 0)
	return loss, logits, nil
}
