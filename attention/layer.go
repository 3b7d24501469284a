package attention

import (
	"math/rand/v2"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/internal/workspace"
)

// Sublayer is a residual attention sub-layer around a [MultiHead]:
//
//	post-norm (BERT, Q-Former):  y = LN(x + Dropout(Attn(x)))
//	pre-norm  (CLIP, GPT, OPT):  y = x + Dropout(Attn(LN(x)))
//
// In cross-attention only the queries x are normalised, never the
// context. HF BERT's BertAttention (self + output) is a post-norm
// Sublayer with AttnName "attention." and NormName
// "attention.output.LayerNorm.".
type Sublayer struct {
	Attn    *MultiHead
	Norm    *vlm.LayerNorm
	PreNorm bool
	// Dropout is the hidden dropout of training tapes.
	Dropout float32
	// AttnName and NormName are the key prefixes of Attn and Norm.
	AttnName, NormName string
}

// VisitParams implements vlm.Module.
func (s *Sublayer) VisitParams(prefix string, visit func(string, *vlm.Param)) {
	s.Attn.VisitParams(prefix+s.AttnName, visit)
	s.Norm.VisitParams(prefix+s.NormName, visit)
}

// Self runs self-attention on x [B, T, D] and returns [B, T, D]; cache
// and o are as in [MultiHead.Self].
func (s *Sublayer) Self(tp *vlm.Tape, x *vlm.Tensor, cache *Cache, o *Options) (y *vlm.Tensor, err error) {
	defer vlm.Recover(&err)
	if err := s.Attn.checkSelf(x, cache, o); err != nil {
		return nil, err
	}
	return s.self(tp, x, cache, o), nil
}

func (s *Sublayer) self(tp *vlm.Tape, x *vlm.Tensor, cache *Cache, o *Options) *vlm.Tensor {
	return s.residual(tp, x, func(h *vlm.Tensor) *vlm.Tensor { return s.Attn.self(tp, h, cache, o) })
}

// Cross attends x [B, Tq, D] to mem (from [Sublayer.Memory]) and returns
// [B, Tq, D]; o is as in [MultiHead.Cross].
func (s *Sublayer) Cross(tp *vlm.Tape, x *vlm.Tensor, mem *Memory, o *Options) (y *vlm.Tensor, err error) {
	defer vlm.Recover(&err)
	if err := s.Attn.checkCross(x, mem, o); err != nil {
		return nil, err
	}
	return s.cross(tp, x, mem, o), nil
}

func (s *Sublayer) cross(tp *vlm.Tape, x *vlm.Tensor, mem *Memory, o *Options) *vlm.Tensor {
	return s.residual(tp, x, func(h *vlm.Tensor) *vlm.Tensor { return s.Attn.cross(tp, h, mem, o) })
}

// Memory projects the context ctx [B, Tk, KVDim] to keys and values once,
// for any number of [Sublayer.Cross] calls.
func (s *Sublayer) Memory(tp *vlm.Tape, ctx *vlm.Tensor) (*Memory, error) {
	return s.Attn.Memory(tp, ctx)
}

func (s *Sublayer) residual(tp *vlm.Tape, x *vlm.Tensor, f func(*vlm.Tensor) *vlm.Tensor) *vlm.Tensor {
	return residual(tp, x, s.Norm, s.PreNorm, s.Dropout, f)
}

func residual(tp *vlm.Tape, x *vlm.Tensor, ln *vlm.LayerNorm, pre bool, p float32, f func(*vlm.Tensor) *vlm.Tensor) *vlm.Tensor {
	if pre {
		h := ln.Forward(tp, x)
		a := f(h)
		y := vlm.Add(tp, x, vlm.Dropout(tp, a, p))
		workspace.Release(tp, h, x, a, y)
		workspace.Release(tp, a, x, y)
		return y
	}
	a := f(x)
	s := vlm.Add(tp, x, vlm.Dropout(tp, a, p))
	y := ln.Forward(tp, s)
	workspace.Release(tp, a, x, y)
	workspace.Release(tp, s, x, y)
	return y
}

// FeedForward is the residual feed-forward sub-layer of a transformer
// layer, post-norm y = LN(x + Dropout(MLP(x))) or pre-norm
// y = x + Dropout(MLP(LN(x))). The MLP's keys are its Names (HF BERT:
// "intermediate.dense", "output.dense"; CLIP: "mlp.fc1", "mlp.fc2"; OPT:
// "fc1", "fc2"); the norm's key prefix is NormName.
type FeedForward struct {
	MLP      *vlm.MLP
	Norm     *vlm.LayerNorm
	PreNorm  bool
	Dropout  float32
	NormName string
}

// VisitParams implements vlm.Module.
func (f *FeedForward) VisitParams(prefix string, visit func(string, *vlm.Param)) {
	f.MLP.VisitParams(prefix, visit)
	f.Norm.VisitParams(prefix+f.NormName, visit)
}

// Forward maps x [B, T, D] to [B, T, D].
func (f *FeedForward) Forward(tp *vlm.Tape, x *vlm.Tensor) (y *vlm.Tensor, err error) {
	defer vlm.Recover(&err)
	if err := vlm.CheckShape("input", x, -1, -1, f.MLP.FC1.In()); err != nil {
		return nil, err
	}
	return f.forward(tp, x), nil
}

func (f *FeedForward) forward(tp *vlm.Tape, x *vlm.Tensor) *vlm.Tensor {
	return residual(tp, x, f.Norm, f.PreNorm, f.Dropout, func(h *vlm.Tensor) *vlm.Tensor { return f.MLP.Forward(tp, h) })
}

// EncoderLayer is a transformer encoder layer: self-attention then
// feed-forward, each residual, post-norm (BERT, [NewBERTLayer]) or
// pre-norm (CLIP, [NewCLIPLayer]). Its children carry their full keys
// (AttnName, MLP.Names, ...), so the layer adds no prefix of its own.
type EncoderLayer struct {
	Attn *Sublayer
	FFN  *FeedForward
}

// VisitParams implements vlm.Module.
func (l *EncoderLayer) VisitParams(prefix string, visit func(string, *vlm.Param)) {
	l.Attn.VisitParams(prefix, visit)
	l.FFN.VisitParams(prefix, visit)
}

// Forward maps x [B, T, D] to [B, T, D]. o (nil for none) holds the
// self-attention mask over [B, H, T, T], the fill policy and a
// probability trace.
func (l *EncoderLayer) Forward(tp *vlm.Tape, x *vlm.Tensor, o *Options) (y *vlm.Tensor, err error) {
	defer vlm.Recover(&err)
	if err := l.Attn.Attn.checkSelf(x, nil, o); err != nil {
		return nil, err
	}
	h := l.Attn.self(tp, x, nil, o)
	y = l.FFN.forward(tp, h)
	workspace.Release(tp, h, x, y)
	return y, nil
}

// DecoderLayer is a transformer decoder layer: causal self-attention, an
// optional cross-attention (nil Cross for a decoder-only LM), then
// feed-forward, each residual. [NewDecoderLayer] builds it with HF OPT's
// names and pre-norm; BART/Whisper-style cross-attention is encoder_attn.
type DecoderLayer struct {
	Self  *Sublayer
	Cross *Sublayer
	FFN   *FeedForward
}

// VisitParams implements vlm.Module.
func (l *DecoderLayer) VisitParams(prefix string, visit func(string, *vlm.Param)) {
	l.Self.VisitParams(prefix, visit)
	if l.Cross != nil {
		l.Cross.VisitParams(prefix, visit)
	}
	l.FFN.VisitParams(prefix, visit)
}

// Forward maps x [B, T, D] to [B, T, D]. Self-attention is causal; with a
// cache, x holds the T positions after the cache.Len() cached ones and the
// cache is extended ([MultiHead.Self]). self may add a key-padding mask
// over [B, 1, 1, cache.Len()+T] (left padding), a fill policy and a
// probability trace; its Causal is implied. mem and cross are the
// cross-attention memory ([DecoderLayer.Memory]) and options; mem must be
// nil exactly when the layer has no cross-attention.
func (l *DecoderLayer) Forward(tp *vlm.Tape, x *vlm.Tensor, cache *Cache, self *Options, mem *Memory, cross *Options) (y *vlm.Tensor, err error) {
	defer vlm.Recover(&err)
	var so Options
	if self != nil {
		so = *self
	}
	so.Causal = true
	if err := l.Self.Attn.checkSelf(x, cache, &so); err != nil {
		return nil, err
	}
	if (mem == nil) != (l.Cross == nil) {
		return nil, vlm.Errorf(vlm.ErrInput, "attention.DecoderLayer: memory given %v, layer has cross-attention %v", mem != nil, l.Cross != nil)
	}
	if l.Cross != nil {
		if err := l.Cross.Attn.checkCross(x, mem, cross); err != nil {
			return nil, err
		}
	}
	h := l.Self.self(tp, x, cache, &so)
	if l.Cross != nil {
		c := l.Cross.cross(tp, h, mem, cross)
		workspace.Release(tp, h, x, c)
		h = c
	}
	y = l.FFN.forward(tp, h)
	workspace.Release(tp, h, x, y)
	return y, nil
}

// Memory projects the encoder output (or media) ctx [B, Tk, KVDim] to the
// cross-attention keys and values, once for all decoding steps.
func (l *DecoderLayer) Memory(tp *vlm.Tape, ctx *vlm.Tensor) (*Memory, error) {
	if l.Cross == nil {
		return nil, vlm.Errorf(vlm.ErrConfig, "attention.DecoderLayer.Memory: the layer has no cross-attention")
	}
	return l.Cross.Memory(tp, ctx)
}

// The layer constructors below take a nil rng as vlm.NewRand(0), like
// [NewMultiHead].

// layerDefaults fills the zero FFN fields of c.
func layerDefaults(c Config, act vlm.Activation, eps float32, names Names) Config {
	if c.Act == "" {
		c.Act = act
	}
	if c.Eps == 0 {
		c.Eps = eps
	}
	if c.Hidden == 0 {
		c.Hidden = 4 * c.Dim
	}
	if c.Names == (Names{}) {
		c.Names = names
	}
	return c
}

func newSublayer(rng *rand.Rand, c Config, pre bool, attnName, normName string) (*Sublayer, error) {
	m, err := NewMultiHead(rng, c)
	if err != nil {
		return nil, err
	}
	return &Sublayer{Attn: m, Norm: vlm.NewLayerNorm(c.Dim, c.Eps), PreNorm: pre, Dropout: c.Dropout, AttnName: attnName, NormName: normName}, nil
}

func newFeedForward(rng *rand.Rand, c Config, pre bool, fc1, fc2, norm string) (*FeedForward, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if rng == nil {
		rng = vlm.NewRand(0)
	}
	mlp := vlm.NewMLP(rng, c.Dim, c.Hidden, c.Act)
	mlp.Names = [2]string{fc1, fc2}
	return &FeedForward{MLP: mlp, Norm: vlm.NewLayerNorm(c.Dim, c.Eps), PreNorm: pre, Dropout: c.Dropout, NormName: norm}, nil
}

// NewBERTAttention returns HF BERT's post-norm attention sub-layer (self
// + output) under the module name name ("attention", or "crossattention"
// with c.KVDim set for the Q-Former's cross-attention): keys
// name.self.{query,key,value}, name.output.dense, name.output.LayerNorm.
// Defaults: c.Names BERTNames (BLIP2Names for HF BLIP-2), Eps 1e-12.
func NewBERTAttention(rng *rand.Rand, c Config, name string) (*Sublayer, error) {
	c = layerDefaults(c, vlm.ActGELU, 1e-12, BERTNames)
	return newSublayer(rng, c, false, name+".", name+".output.LayerNorm.")
}

// NewBERTFeedForward returns HF BERT's post-norm feed-forward sub-layer
// with keys intermediate{suffix}.dense, output{suffix}.dense and
// output{suffix}.LayerNorm; the Q-Former's query rows use suffix
// "_query". Defaults: Act "gelu", Eps 1e-12, Hidden 4·Dim.
func NewBERTFeedForward(rng *rand.Rand, c Config, suffix string) (*FeedForward, error) {
	c = layerDefaults(c, vlm.ActGELU, 1e-12, BERTNames)
	return newFeedForward(rng, c, false, "intermediate"+suffix+".dense", "output"+suffix+".dense", "output"+suffix+".LayerNorm.")
}

// NewBERTLayer returns a post-norm BERT encoder layer (BertLayer without
// cross-attention): [NewBERTAttention] "attention" then
// [NewBERTFeedForward] "". c.KVDim is ignored.
func NewBERTLayer(rng *rand.Rand, c Config) (*EncoderLayer, error) {
	c.KVDim = 0
	a, err := NewBERTAttention(rng, c, "attention")
	if err != nil {
		return nil, err
	}
	f, err := NewBERTFeedForward(rng, c, "")
	if err != nil {
		return nil, err
	}
	return &EncoderLayer{Attn: a, FFN: f}, nil
}

// NewCLIPLayer returns HF CLIP's pre-norm encoder layer: keys
// layer_norm1, self_attn.{q,k,v,out}_proj, layer_norm2, mlp.fc1,
// mlp.fc2. Defaults: Act "quick_gelu", Eps 1e-5, Hidden 4·Dim; c.KVDim
// is ignored.
func NewCLIPLayer(rng *rand.Rand, c Config) (*EncoderLayer, error) {
	c = layerDefaults(c, vlm.ActQuickGELU, 1e-5, CLIPNames)
	c.KVDim = 0
	a, err := newSublayer(rng, c, true, "self_attn.", "layer_norm1.")
	if err != nil {
		return nil, err
	}
	f, err := newFeedForward(rng, c, true, "mlp.fc1", "mlp.fc2", "layer_norm2.")
	if err != nil {
		return nil, err
	}
	return &EncoderLayer{Attn: a, FFN: f}, nil
}

// NewDecoderLayer returns a pre-norm decoder layer with HF OPT's keys
// self_attn.{q,k,v,out}_proj, self_attn_layer_norm, fc1, fc2,
// final_layer_norm and, if cross, the cross-attention of HF BART and
// Whisper, encoder_attn.{q,k,v,out}_proj and encoder_attn_layer_norm,
// from c.KVDim-wide memory. Defaults: Act "relu" (OPT), Eps 1e-5, Hidden
// 4·Dim. For post-norm (BART, OPT-350m) clear the sub-layers' PreNorm.
func NewDecoderLayer(rng *rand.Rand, c Config, cross bool) (*DecoderLayer, error) {
	c = layerDefaults(c, vlm.ActReLU, 1e-5, CLIPNames)
	sc := c
	sc.KVDim = 0
	s, err := newSublayer(rng, sc, true, "self_attn.", "self_attn_layer_norm.")
	if err != nil {
		return nil, err
	}
	l := &DecoderLayer{Self: s}
	if cross {
		if l.Cross, err = newSublayer(rng, c, true, "encoder_attn.", "encoder_attn_layer_norm."); err != nil {
			return nil, err
		}
	}
	if l.FFN, err = newFeedForward(rng, c, true, "fc1", "fc2", "final_layer_norm."); err != nil {
		return nil, err
	}
	return l, nil
}
