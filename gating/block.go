package gating

import (
	"math"
	"math/rand/v2"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/attention"
	"github.com/govlm/vlm/internal/workspace"
)

// Config sizes a gated cross-attention [Block] (and each block of a
// [Stack]). Zero fields take the references' defaults.
type Config struct {
	Dim      int // D: width of the text, the language model's hidden size
	MediaDim int // Dv: width of the visual tokens (open_flamingo dim_visual); 0 means Dim (lucidrains)
	Heads    int // H; 0 means 8
	HeadDim  int // Dh; 0 means 64
	FFMult   int // feed-forward width FFMult·Dim; 0 means 4
	Mode     Mode
}

func (c *Config) defaults() {
	if c.MediaDim == 0 {
		c.MediaDim = c.Dim
	}
	if c.Heads == 0 {
		c.Heads = 8
	}
	if c.HeadDim == 0 {
		c.HeadDim = 64
	}
	if c.FFMult == 0 {
		c.FFMult = 4
	}
}

// Validate returns an ErrConfig error naming the first invalid field.
func (c Config) Validate() error {
	c.defaults()
	switch {
	case c.Dim < 1 || c.MediaDim < 1:
		return vlm.Errorf(vlm.ErrConfig, "gating: Dim %d, MediaDim %d must be positive", c.Dim, c.MediaDim)
	case c.Heads < 1 || c.HeadDim < 1 || c.FFMult < 1:
		return vlm.Errorf(vlm.ErrConfig, "gating: heads %d, head dim %d, ff mult %d must be positive", c.Heads, c.HeadDim, c.FFMult)
	case !c.Mode.valid():
		return vlm.Errorf(vlm.ErrConfig, "gating: unknown mode %v", c.Mode)
	}
	return nil
}

// eps is the LayerNorm eps of both references (PyTorch's default).
const eps = 1e-5

// CrossAttention is MaskedCrossAttention: text x [B, T, D] attends to
// visual tokens [B, M·N, Dv] through a media mask:
//
//	y = to_out(softmax(to_q(LN(x))·kᵀ/√Dh, media mask)·v),  [k; v] = to_kv(media)
//
// with no biases and no LayerNorm on the media; masked scores are
// replaced by −finfo(f32).max (attention.FillReplaceMax) and, in
// Immediate mode, text before the first <image> is zeroed. Keys
// norm.weight, norm.bias, to_q.weight [H·Dh, D], to_kv.weight
// [2·H·Dh, Dv] (keys then values), to_out.weight [D, H·Dh].
type CrossAttention struct {
	Norm *vlm.LayerNorm
	Attn *attention.MultiHead
	Mode Mode
}

// VisitParams implements vlm.Module.
func (a *CrossAttention) VisitParams(prefix string, visit func(string, *vlm.Param)) {
	a.Norm.VisitParams(prefix+"norm.", visit)
	a.Attn.VisitParams(prefix, visit)
}

// Memory is media conditioned into one [CrossAttention] (or [Block]):
// the keys and values of its M·N visual tokens, computed once and reused
// for every text pass and every generation step (open_flamingo's
// condition_vis_x), with the media mask. It is read-only; on a tape,
// gradients flow through it to the media and to to_kv.
type Memory struct {
	kv      *attention.Memory
	owner   *attention.MultiHead
	b, m, n int
	real    []bool
}

// Items returns M, the number of media slots per sample.
func (mem *Memory) Items() int { return mem.m }

// Tokens returns N, the number of visual tokens per media item.
func (mem *Memory) Tokens() int { return mem.n }

// Memory projects media [B, M, N, Dv] (M media items of N visual tokens,
// the resampler's output) to keys and values. real [B, M] row-major
// marks the media slots that hold real media, the others being padding
// (nil: all are real): text never attends to a padded slot by choice —
// a text token whose text_time points at one gets the fully masked row
// of [TextTime.Mask].
func (a *CrossAttention) Memory(tp *vlm.Tape, media *vlm.Tensor, real []bool) (mem *Memory, err error) {
	defer vlm.Recover(&err)
	if err := vlm.CheckShape("media", media, -1, -1, -1, a.Attn.KVDim()); err != nil {
		return nil, err
	}
	b, m, n := media.Shape[0], media.Shape[1], media.Shape[2]
	if b < 1 || m < 1 || n < 1 {
		return nil, vlm.Errorf(vlm.ErrShape, "gating: media shape %v has an empty axis", media.Shape)
	}
	if real != nil && len(real) != b*m {
		return nil, vlm.Errorf(vlm.ErrShape, "gating: %d media flags for [B, M] = [%d %d]", len(real), b, m)
	}
	if err := vlm.CheckFinite("media", media); err != nil {
		return nil, err
	}
	kv, err := a.Attn.Memory(tp, vlm.Reshape(tp, media, b, m*n, media.Shape[3]))
	if err != nil {
		return nil, err
	}
	return &Memory{kv: kv, owner: a.Attn, b: b, m: m, n: n, real: real}, nil
}

// Forward attends x [B, T, D] to mem and returns [B, T, D], without a
// residual. tt is the text time of x ([Locations.TextTime], or
// [Locations.Cached] when generating); nil means no media locations:
// every token attends to every media token, without a mask (lucidrains'
// media_locations=None).
func (a *CrossAttention) Forward(tp *vlm.Tape, x *vlm.Tensor, mem *Memory, tt *TextTime) (y *vlm.Tensor, err error) {
	defer vlm.Recover(&err)
	if err := a.check(x, mem, tt); err != nil {
		return nil, err
	}
	return a.forward(tp, x, mem, tt), nil
}

func (a *CrossAttention) check(x *vlm.Tensor, mem *Memory, tt *TextTime) error {
	if err := vlm.CheckShape("text", x, -1, -1, a.Attn.Dim()); err != nil {
		return err
	}
	if mem == nil || mem.owner != a.Attn {
		return vlm.Errorf(vlm.ErrInput, "gating: the media memory was not made by this cross-attention")
	}
	if mem.b != x.Shape[0] {
		return vlm.Errorf(vlm.ErrShape, "gating: media of %d samples for text %v", mem.b, x.Shape)
	}
	if tt != nil {
		if err := tt.check(x.Shape[0], x.Shape[1]); err != nil {
			return err
		}
	}
	return vlm.CheckFinite("text", x)
}

func (a *CrossAttention) forward(tp *vlm.Tape, x *vlm.Tensor, mem *Memory, tt *TextTime) *vlm.Tensor {
	o := &attention.Options{Fill: attention.FillReplaceMax}
	if tt != nil {
		o.Mask, o.KeepRows = tt.Mask(a.Mode, mem.m, mem.n, mem.real)
	}
	h := a.Norm.Forward(tp, x)
	y, err := a.Attn.Cross(tp, h, mem.kv, o)
	if err != nil {
		panic(err)
	}
	workspace.Release(tp, h, y)
	return y
}

// Block is GatedCrossAttentionBlock, the layer Flamingo inserts into a
// frozen language model:
//
//	x = x + tanh(attn_gate)·CrossAttention(x, media)
//	x = x + tanh(ff_gate)·FF(x)              FF(x) = W₂·GELU(W₁·LN(x)), on every token
//
// Both gates are scalars initialised to 0, so a new block is the
// identity: at the first training step the model is exactly the frozen
// language model. Keys attn.* ([CrossAttention]), attn_gate [1],
// ff.{0,1,3}.* (LayerNorm, Linear D→FFMult·D, Linear back, no biases,
// exact GELU), ff_gate [1].
type Block struct {
	Attn     *CrossAttention
	AttnGate *vlm.Param
	FF       *attention.FeedForward
	FFGate   *vlm.Param
}

// NewBlock returns a block with the references' initialisation: PyTorch's
// default Linear initialisation, LayerNorms at weight 1 and bias 0, both
// gates 0. A nil rng means vlm.NewRand(0) (weights to be loaded).
func NewBlock(rng *rand.Rand, c Config) (*Block, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c.defaults()
	if rng == nil {
		rng = vlm.NewRand(0)
	}
	mh, err := attention.NewMultiHead(rng, attention.Config{
		Dim: c.Dim, Heads: c.Heads, HeadDim: c.HeadDim, KVDim: c.MediaDim, NoBias: true, Names: attention.FlamingoNames,
	})
	if err != nil {
		return nil, err
	}
	return &Block{
		Attn:     &CrossAttention{Norm: vlm.NewLayerNorm(c.Dim, eps), Attn: mh, Mode: c.Mode},
		AttnGate: vlm.NewParam(vlm.Zeros(1)),
		FF: &attention.FeedForward{
			MLP: &vlm.MLP{
				FC1:   vlm.NewLinear(rng, c.Dim, c.FFMult*c.Dim, false),
				FC2:   vlm.NewLinear(rng, c.FFMult*c.Dim, c.Dim, false),
				Act:   vlm.ActGELU,
				Names: [2]string{"1", "3"},
			},
			Norm:     vlm.NewLayerNorm(c.Dim, eps),
			PreNorm:  true,
			NormName: "0.",
		},
		FFGate: vlm.NewParam(vlm.Zeros(1)),
	}, nil
}

// VisitParams implements vlm.Module.
func (b *Block) VisitParams(prefix string, visit func(string, *vlm.Param)) {
	b.Attn.VisitParams(prefix+"attn.", visit)
	visit(prefix+"attn_gate", b.AttnGate)
	b.FF.VisitParams(prefix+"ff.", visit)
	visit(prefix+"ff_gate", b.FFGate)
}

// Gates returns tanh(attn_gate) and tanh(ff_gate), the factors the two
// branches are scaled by.
func (b *Block) Gates() (attn, ff float64) {
	return math.Tanh(float64(b.AttnGate.Value.Data[0])), math.Tanh(float64(b.FFGate.Value.Data[0]))
}

// Memory conditions media [B, M, N, Dv] into the block; see
// [CrossAttention.Memory].
func (b *Block) Memory(tp *vlm.Tape, media *vlm.Tensor, real []bool) (*Memory, error) {
	return b.Attn.Memory(tp, media, real)
}

// Forward maps text x [B, T, D] to [B, T, D] given the block's media
// memory and the text time of x (nil: no media locations, every token
// sees all media; see [CrossAttention.Forward]).
func (b *Block) Forward(tp *vlm.Tape, x *vlm.Tensor, mem *Memory, tt *TextTime) (y *vlm.Tensor, err error) {
	defer vlm.Recover(&err)
	if err := b.Attn.check(x, mem, tt); err != nil {
		return nil, err
	}
	return b.forward(tp, x, mem, tt), nil
}

func (b *Block) forward(tp *vlm.Tape, x *vlm.Tensor, mem *Memory, tt *TextTime) *vlm.Tensor {
	a := b.Attn.forward(tp, x, mem, tt)
	ga := vlm.Mul(tp, a, vlm.Tanh(tp, tp.Param(b.AttnGate)))
	h := vlm.Add(tp, ga, x)
	n := b.FF.Norm.Forward(tp, h)
	f := b.FF.MLP.Forward(tp, n)
	gf := vlm.Mul(tp, f, vlm.Tanh(tp, tp.Param(b.FFGate)))
	y := vlm.Add(tp, gf, h)
	for _, t := range []*vlm.Tensor{a, ga, n, f, gf, h} {
		workspace.Release(tp, t, x, y)
	}
	return y
}
