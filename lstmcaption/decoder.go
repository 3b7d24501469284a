package lstmcaption

import (
	"math/rand/v2"
	"sort"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/attention"
)

// Decoder is the tutorial's DecoderWithAttention: soft attention over
// the encoder grid, a gate on the attended context, an LSTM cell fed
// with the previous word's embedding and the gated context, and a
// linear layer to the vocabulary. Its parameters carry the tutorial's
// state_dict keys:
//
//	attention.encoder_att.{weight,bias}   [A, Denc], [A]
//	attention.decoder_att.{weight,bias}   [A, H], [A]
//	attention.full_att.{weight,bias}      [1, A], [1]
//	embedding.weight                      [V, E]
//	decode_step.{weight_ih,weight_hh}     [4H, E+Denc], [4H, H]
//	decode_step.{bias_ih,bias_hh}         [4H], [4H]
//	init_h.{weight,bias}, init_c.*        [H, Denc], [H]
//	f_beta.{weight,bias}                  [Denc, H], [Denc]   ([1, H], [1] with ScalarGate)
//	fc.{weight,bias}                      [V, H], [V]         ([V, E] with DeepOutput)
//	logit_h.{weight,bias}                 [E, H], [E]         (DeepOutput only)
//	logit_z.{weight,bias}                 [E, Denc], [E]      (DeepOutput only)
//
// A Decoder is read-only during inference (nil tape), so any number of
// goroutines may decode with one Decoder at once.
type Decoder struct {
	Config     Config
	Attention  *attention.Additive // soft attention over the grid: attention.*
	Embedding  *vlm.Embedding      // word embeddings, no padding index: embedding.*
	DecodeStep *LSTMCell           // the LSTM cell: decode_step.*
	InitH      *vlm.Linear         // initial state from the mean pixel: init_h.*
	InitC      *vlm.Linear         // initial cell from the mean pixel: init_c.*
	FBeta      *vlm.Linear         // gate on the context: f_beta.*
	FC         *vlm.Linear         // to the vocabulary (L_o with DeepOutput): fc.*
	LogitH     *vlm.Linear         // L_h of the deep output layer, or nil: logit_h.*
	LogitZ     *vlm.Linear         // L_z of the deep output layer, or nil: logit_z.*
}

// New returns a decoder with the tutorial's initialisation
// (init_weights): embedding and fc weights from U(−0.1, 0.1), fc bias 0,
// every other layer PyTorch's default. A nil rng means vlm.NewRand(0).
func New(rng *rand.Rand, cfg Config) (*Decoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if rng == nil {
		rng = vlm.NewRand(0)
	}
	att, err := attention.NewAdditive(rng, cfg.EncoderDim, cfg.DecoderDim, cfg.AttentionDim, cfg.act())
	if err != nil {
		return nil, err
	}
	d := &Decoder{
		Config:     cfg,
		Attention:  att,
		Embedding:  &vlm.Embedding{Weight: vlm.NewParam(vlm.Uniform(rng, -0.1, 0.1, cfg.VocabSize, cfg.EmbedDim)), PaddingIdx: -1},
		DecodeStep: NewLSTMCell(rng, cfg.EmbedDim+cfg.EncoderDim, cfg.DecoderDim),
		InitH:      vlm.NewLinear(rng, cfg.EncoderDim, cfg.DecoderDim, true),
		InitC:      vlm.NewLinear(rng, cfg.EncoderDim, cfg.DecoderDim, true),
	}
	gate := cfg.EncoderDim
	if cfg.ScalarGate {
		gate = 1
	}
	d.FBeta = vlm.NewLinear(rng, cfg.DecoderDim, gate, true)
	out := cfg.DecoderDim
	if cfg.DeepOutput {
		out = cfg.EmbedDim
		d.LogitH = vlm.NewLinear(rng, cfg.DecoderDim, cfg.EmbedDim, true)
		d.LogitZ = vlm.NewLinear(rng, cfg.EncoderDim, cfg.EmbedDim, true)
	}
	d.FC = &vlm.Linear{Weight: vlm.NewParam(vlm.Uniform(rng, -0.1, 0.1, cfg.VocabSize, out)), Bias: vlm.NewParam(vlm.Zeros(cfg.VocabSize))}
	return d, nil
}

// VisitParams implements vlm.Module with the tutorial's state_dict keys,
// in its order.
func (d *Decoder) VisitParams(prefix string, visit func(string, *vlm.Param)) {
	d.Attention.VisitParams(prefix+"attention.", visit)
	d.Embedding.VisitParams(prefix+"embedding.", visit)
	d.DecodeStep.VisitParams(prefix+"decode_step.", visit)
	d.InitH.VisitParams(prefix+"init_h.", visit)
	d.InitC.VisitParams(prefix+"init_c.", visit)
	d.FBeta.VisitParams(prefix+"f_beta.", visit)
	d.FC.VisitParams(prefix+"fc.", visit)
	if d.LogitH != nil {
		d.LogitH.VisitParams(prefix+"logit_h.", visit)
		d.LogitZ.VisitParams(prefix+"logit_z.", visit)
	}
}

// features validates the encoder output enc [B, h, w, Denc] or
// [B, P, Denc] and returns it as [B, P, Denc] with the grid's height and
// width (h, w, or 1, P for a rank-3 input).
func (d *Decoder) features(tp *vlm.Tape, enc *vlm.Tensor) (x *vlm.Tensor, gh, gw int, err error) {
	if enc == nil || (enc.Rank() != 3 && enc.Rank() != 4) {
		var shape any = "nil"
		if enc != nil {
			shape = enc.Shape
		}
		return nil, 0, 0, vlm.Errorf(vlm.ErrShape, "lstmcaption: encoder output has shape %v, want [B, h, w, %d] or [B, P, %d]", shape, d.Config.EncoderDim, d.Config.EncoderDim)
	}
	want := make([]int, enc.Rank())
	for i := range want {
		want[i] = -1
	}
	want[len(want)-1] = d.Config.EncoderDim
	if err := vlm.CheckShape("lstmcaption: encoder output", enc, want...); err != nil {
		return nil, 0, 0, err
	}
	if enc.Shape[0] < 1 || enc.Size() == 0 {
		return nil, 0, 0, vlm.Errorf(vlm.ErrShape, "lstmcaption: encoder output has shape %v, want a non-empty batch and grid", enc.Shape)
	}
	if err := vlm.CheckFinite("lstmcaption: encoder output", enc); err != nil {
		return nil, 0, 0, err
	}
	gh, gw = 1, enc.Shape[1]
	if enc.Rank() == 4 {
		gh, gw = enc.Shape[1], enc.Shape[2]
	}
	return vlm.Reshape(tp, enc, enc.Shape[0], gh*gw, d.Config.EncoderDim), gh, gw, nil
}

// initState returns init_h and init_c of the mean pixel of x [B, P, Denc].
func (d *Decoder) initState(tp *vlm.Tape, x *vlm.Tensor) (h, c *vlm.Tensor) {
	mean := vlm.MeanAxis(tp, x, 1)
	h, c = d.InitH.Forward(tp, mean), d.InitC.Forward(tp, mean)
	if d.Config.TanhInit {
		h, c = vlm.Tanh(tp, h), vlm.Tanh(tp, c)
	}
	return h, c
}

// step runs one decoding step for the rows of x [b, P, Denc] with their
// attention keys [b, P, A], state h, c [b, H] and input words (len b),
// and returns the logits [b, V], the attention weights [b, P] and the
// new state.
func (d *Decoder) step(tp *vlm.Tape, x, keys, h, c *vlm.Tensor, words []int) (logits, alpha, h2, c2 *vlm.Tensor) {
	emb := d.Embedding.Forward(tp, words)
	awe, alpha, err := d.Attention.Forward(tp, x, keys, h)
	if err != nil {
		panic(err)
	}
	awe = vlm.Mul(tp, vlm.Sigmoid(tp, d.FBeta.Forward(tp, h)), awe)
	h2, c2 = d.DecodeStep.Forward(tp, vlm.Concat(tp, 1, emb, awe), h, c)
	out := h2
	if d.Config.DeepOutput {
		out = vlm.Tanh(tp, vlm.Add(tp, vlm.Add(tp, emb, d.LogitH.Forward(tp, h2)), d.LogitZ.Forward(tp, awe)))
	}
	return d.FC.Forward(tp, vlm.Dropout(tp, out, d.Config.Dropout)), alpha, h2, c2
}

// Output is the result of [Decoder.Forward], row i being the caption
// SortIndex[i] of the input: the rows are sorted by decreasing caption
// length, as the tutorial returns them.
type Output struct {
	// Predictions [B, T, V] are the logits of every step, T the longest
	// decode length; row i is zero from step DecodeLengths[i] on.
	Predictions *vlm.Tensor
	// Alphas [B, T, P] are the attention weights of every step, zero
	// where Predictions is.
	Alphas *vlm.Tensor
	// Captions are the input captions in the sorted order.
	Captions [][]int
	// DecodeLengths are the caption lengths minus one: the number of
	// words each caption predicts (every word after <start>).
	DecodeLengths []int
	// SortIndex maps the sorted rows to the input rows.
	SortIndex []int
}

// Forward runs the decoder with teacher forcing, as the tutorial's
// DecoderWithAttention.forward. enc [B, h, w, Denc] (or [B, P, Denc]) is
// the encoder output; captions holds B word-id sequences
// <start> w₁ … wₙ <end>, each of its own length (no padding; a padded
// tutorial caption is encoded_captions[i][:caplens[i]]).
//
// The captions are sorted by decreasing length (a stable sort, so equal
// lengths keep their input order), and at step t only the B_t captions
// longer than t+1 are decoded: the batch shrinks as captions end. Step t
// feeds word t of every caption and predicts word t+1. Dropout on fc's
// input is active only on a training tape.
func (d *Decoder) Forward(tp *vlm.Tape, enc *vlm.Tensor, captions [][]int) (out *Output, err error) {
	defer vlm.Recover(&err)
	x, _, _, err := d.features(tp, enc)
	if err != nil {
		return nil, err
	}
	b := x.Shape[0]
	if len(captions) != b {
		return nil, vlm.Errorf(vlm.ErrShape, "lstmcaption.Decoder.Forward: %d captions for a batch of %d images", len(captions), b)
	}
	for i, c := range captions {
		if len(c) < 2 {
			return nil, vlm.Errorf(vlm.ErrInput, "lstmcaption.Decoder.Forward: caption %d has %d ids, want at least <start> and <end>", i, len(c))
		}
		if err := d.Embedding.CheckIDs("lstmcaption.Decoder.Forward: caption", c); err != nil {
			return nil, err
		}
	}
	order := make([]int, b)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return len(captions[order[i]]) > len(captions[order[j]]) })
	out = &Output{SortIndex: order, Captions: make([][]int, b), DecodeLengths: make([]int, b)}
	for i, o := range order {
		out.Captions[i] = captions[o]
		out.DecodeLengths[i] = len(captions[o]) - 1
	}
	if !sort.IntsAreSorted(order) {
		x = vlm.Gather(tp, x, 0, order)
	}
	keys, err := d.Attention.Keys(tp, x)
	if err != nil {
		return nil, err
	}
	h, c := d.initState(tp, x)
	steps := out.DecodeLengths[0]
	preds, alphas := make([]*vlm.Tensor, steps), make([]*vlm.Tensor, steps)
	words := make([]int, b)
	for t := range steps {
		bt := 0
		for bt < b && out.DecodeLengths[bt] > t {
			bt++
		}
		if bt < x.Shape[0] {
			x, keys = vlm.Slice(tp, x, 0, 0, bt), vlm.Slice(tp, keys, 0, 0, bt)
		}
		if bt < h.Shape[0] {
			h, c = vlm.Slice(tp, h, 0, 0, bt), vlm.Slice(tp, c, 0, 0, bt)
		}
		for i := range bt {
			words[i] = out.Captions[i][t]
		}
		var logits, alpha *vlm.Tensor
		logits, alpha, h, c = d.step(tp, x, keys, h, c, words[:bt])
		preds[t], alphas[t] = padRows(tp, logits, b), padRows(tp, alpha, b)
	}
	out.Predictions = vlm.Concat(tp, 1, preds...)
	out.Alphas = vlm.Concat(tp, 1, alphas...)
	return out, nil
}

// padRows returns x [n, D] followed by zero rows up to [b, 1, D].
func padRows(tp *vlm.Tape, x *vlm.Tensor, b int) *vlm.Tensor {
	n, w := x.Shape[0], x.Shape[1]
	if n < b {
		x = vlm.Concat(tp, 0, x, vlm.Zeros(b-n, w))
	}
	return vlm.Reshape(tp, x, b, 1, w)
}
