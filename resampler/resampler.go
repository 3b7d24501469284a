package resampler

import (
	"math/rand/v2"
	"strconv"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/attention"
	"github.com/govlm/vlm/internal/workspace"
)

// Config sizes a [Model]. Zero fields take open_flamingo's defaults.
type Config struct {
	// Dim is D, the width of the media features and of the latents
	// (open_flamingo: the vision encoder's width, 1024 for ViT-L/14).
	Dim     int
	Depth   int // layers; 0 means 6
	Heads   int // H; 0 means 8
	HeadDim int // Dh; 0 means 64 (inner width H·Dh, independent of Dim)
	Latents int // Q; 0 means 64
	FFMult  int // feed-forward width FFMult·Dim; 0 means 4
	// MaxMedia is the number of rows of the media time embedding
	// (open_flamingo max_num_media, key media_time_embs; lucidrains
	// num_media_embeds, key media_pos_emb): row m is added to every token
	// of media item m. 0 means none, as open_flamingo's released models.
	MaxMedia int
	// MaxFrames is the number of rows of open_flamingo's frame embedding
	// frame_embs: row f is added to every token of frame f. 0 means none.
	MaxFrames int
}

// Lucidrains returns the configuration of lucidrains' PerceiverResampler
// (dim, depth) with its defaults: 8 heads of 64, 64 latents, feed-forward
// ×4 and a media position embedding of num_media_embeds = 4 rows, which
// lucidrains always has. Load its checkpoints with [LucidrainsRename].
func Lucidrains(dim, depth int) Config {
	return Config{Dim: dim, Depth: depth, Heads: 8, HeadDim: 64, Latents: 64, FFMult: 4, MaxMedia: 4}
}

func (c *Config) defaults() {
	if c.Depth == 0 {
		c.Depth = 6
	}
	if c.Heads == 0 {
		c.Heads = 8
	}
	if c.HeadDim == 0 {
		c.HeadDim = 64
	}
	if c.Latents == 0 {
		c.Latents = 64
	}
	if c.FFMult == 0 {
		c.FFMult = 4
	}
}

// Validate returns an ErrConfig error naming the first invalid field.
func (c Config) Validate() error {
	c.defaults()
	switch {
	case c.Dim < 1:
		return vlm.Errorf(vlm.ErrConfig, "resampler: Dim %d < 1", c.Dim)
	case c.Depth < 1 || c.Heads < 1 || c.HeadDim < 1 || c.Latents < 1 || c.FFMult < 1:
		return vlm.Errorf(vlm.ErrConfig, "resampler: depth %d, heads %d, head dim %d, latents %d, ff mult %d must be positive",
			c.Depth, c.Heads, c.HeadDim, c.Latents, c.FFMult)
	case c.MaxMedia < 0 || c.MaxFrames < 0:
		return vlm.Errorf(vlm.ErrConfig, "resampler: MaxMedia %d, MaxFrames %d < 0", c.MaxMedia, c.MaxFrames)
	}
	return nil
}

// Model is the Perceiver resampler: Q learned latents that attend, layer
// after layer, to each media item's tokens concatenated with themselves,
// so that any number of tokens becomes Q. Keys (open_flamingo's):
//
//	latents                      [Q, D]
//	media_time_embs              [MaxMedia, 1, D]   (if MaxMedia > 0)
//	frame_embs                   [MaxFrames, D]     (if MaxFrames > 0)
//	layers.{i}.0.*               [Attention]
//	layers.{i}.1.{0,1,3}.*       feed-forward: LayerNorm, Linear D→FFMult·D, GELU, Linear back
//	norm.weight, norm.bias
//
// A Model is read-only during inference, so goroutines may share one.
type Model struct {
	Latents       *vlm.Param
	MediaTimeEmbs *vlm.Param // nil without a media time embedding
	FrameEmbs     *vlm.Param // nil without a frame embedding
	Layers        []*Layer
	Norm          *vlm.LayerNorm
}

// Layer is one resampler layer: latents = Attn(x, latents) + latents,
// then latents = FF(latents) + latents.
type Layer struct {
	Attn *Attention
	FF   *attention.FeedForward
}

// VisitParams implements vlm.Module with keys "0." (Attn) and "1." (FF).
func (l *Layer) VisitParams(prefix string, visit func(string, *vlm.Param)) {
	l.Attn.VisitParams(prefix+"0.", visit)
	l.FF.VisitParams(prefix+"1.", visit)
}

// Attention is PerceiverAttention: the latents l [B, Q, D] attend to
// concat(LN_media(x), LN_latents(l)) along the sequence, no biases, no
// mask. Keys norm_media.*, norm_latents.*, to_q.weight [H·Dh, D],
// to_kv.weight [2·H·Dh, D] (keys then values), to_out.weight [D, H·Dh].
type Attention struct {
	NormMedia, NormLatents *vlm.LayerNorm
	Attn                   *attention.MultiHead
}

// VisitParams implements vlm.Module.
func (a *Attention) VisitParams(prefix string, visit func(string, *vlm.Param)) {
	a.NormMedia.VisitParams(prefix+"norm_media.", visit)
	a.NormLatents.VisitParams(prefix+"norm_latents.", visit)
	a.Attn.VisitParams(prefix, visit)
}

// forward returns the attention output for media x [B, N, D] and latents
// [B, Q, D], without the residual.
func (a *Attention) forward(tp *vlm.Tape, x, latents *vlm.Tensor) *vlm.Tensor {
	l := a.NormLatents.Forward(tp, latents)
	media := a.NormMedia.Forward(tp, x)
	kv := vlm.Concat(tp, 1, media, l)
	workspace.Release(tp, media, kv)
	mem, err := a.Attn.Memory(tp, kv)
	if err != nil {
		panic(err)
	}
	workspace.Release(tp, kv)
	y, err := a.Attn.Cross(tp, l, mem, nil)
	if err != nil {
		panic(err)
	}
	workspace.Release(tp, l, y)
	return y
}

// eps is the LayerNorm eps of both references (PyTorch's default).
const eps = 1e-5

// newFeedForward returns the references' FeedForward(dim, mult): keys
// 0.weight, 0.bias (LayerNorm), 1.weight [mult·dim, dim], 3.weight
// [dim, mult·dim], exact GELU, no biases. As an [attention.FeedForward]
// it is pre-norm and residual; its MLP and Norm give the bare branch.
func newFeedForward(rng *rand.Rand, dim, mult int) *attention.FeedForward {
	return &attention.FeedForward{
		MLP: &vlm.MLP{
			FC1:   vlm.NewLinear(rng, dim, mult*dim, false),
			FC2:   vlm.NewLinear(rng, mult*dim, dim, false),
			Act:   vlm.ActGELU,
			Names: [2]string{"1", "3"},
		},
		Norm:     vlm.NewLayerNorm(dim, eps),
		PreNorm:  true,
		NormName: "0.",
	}
}

// New returns a resampler with the references' initialisation: latents
// and embeddings from N(0, 1) (torch.randn), PyTorch's default Linear
// initialisation, LayerNorms at weight 1, bias 0. A nil rng means
// vlm.NewRand(0) (weights to be loaded).
func New(rng *rand.Rand, c Config) (*Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c.defaults()
	if rng == nil {
		rng = vlm.NewRand(0)
	}
	m := &Model{Latents: vlm.NewParam(vlm.RandN(rng, 1, c.Latents, c.Dim)), Norm: vlm.NewLayerNorm(c.Dim, eps)}
	if c.MaxMedia > 0 {
		m.MediaTimeEmbs = vlm.NewParam(vlm.RandN(rng, 1, c.MaxMedia, 1, c.Dim))
	}
	if c.MaxFrames > 0 {
		m.FrameEmbs = vlm.NewParam(vlm.RandN(rng, 1, c.MaxFrames, c.Dim))
	}
	for range c.Depth {
		mh, err := attention.NewMultiHead(rng, attention.Config{
			Dim: c.Dim, Heads: c.Heads, HeadDim: c.HeadDim, NoBias: true, Names: attention.FlamingoNames,
		})
		if err != nil {
			return nil, err
		}
		m.Layers = append(m.Layers, &Layer{
			Attn: &Attention{NormMedia: vlm.NewLayerNorm(c.Dim, eps), NormLatents: vlm.NewLayerNorm(c.Dim, eps), Attn: mh},
			FF:   newFeedForward(rng, c.Dim, c.FFMult),
		})
	}
	return m, nil
}

// VisitParams implements vlm.Module with open_flamingo's keys.
func (m *Model) VisitParams(prefix string, visit func(string, *vlm.Param)) {
	visit(prefix+"latents", m.Latents)
	if m.MediaTimeEmbs != nil {
		visit(prefix+"media_time_embs", m.MediaTimeEmbs)
	}
	if m.FrameEmbs != nil {
		visit(prefix+"frame_embs", m.FrameEmbs)
	}
	for i, l := range m.Layers {
		l.VisitParams(prefix+"layers."+strconv.Itoa(i)+".", visit)
	}
	m.Norm.VisitParams(prefix+"norm.", visit)
}

// LucidrainsRename maps a key of lucidrains' PerceiverResampler to this
// package's (open_flamingo's) name, for vlm.LoadOptions.Rename:
// media_pos_emb (v0.1.0 on) and time_pos_emb (earlier versions) become
// media_time_embs; every other key is the same in both references.
// Within a FlamingoPaLM checkpoint set LoadOptions.Prefix to
// "perceiver_resampler.".
func LucidrainsRename(key string) string {
	if key == "media_pos_emb" || key == "time_pos_emb" {
		return "media_time_embs"
	}
	return key
}

// Dim returns D.
func (m *Model) Dim() int { return m.Latents.Value.Shape[1] }

// NumLatents returns Q.
func (m *Model) NumLatents() int { return m.Latents.Value.Shape[0] }

// Forward resamples media x to Q latents per media item. x is one of
//
//	[B, N, D]          one media item per sample (lucidrains' 3-D form)
//	[B, M, N, D]       M media items per sample (lucidrains' 4-D form)
//	[B, M, F, N, D]    M items of F frames each (open_flamingo)
//
// and the result is [B, M, Q, D] (M = 1 for 3-D input). In
// open_flamingo's order, row f of frame_embs is added to every token of
// frame f, the F frames of an item are flattened frame-major to F·N
// tokens, and row m of media_time_embs is added to every token of item m.
// Each item is resampled on its own (items never attend to each other),
// so samples with fewer media can be padded with zero items, as
// open_flamingo's evaluation does: padding changes no real item's output,
// and the gating package's media mask keeps text from choosing the padded
// items. M must not exceed MaxMedia and F not MaxFrames when the
// embedding exists.
func (m *Model) Forward(tp *vlm.Tape, x *vlm.Tensor) (y *vlm.Tensor, err error) {
	defer vlm.Recover(&err)
	if x == nil || x.Rank() < 3 || x.Rank() > 5 {
		return nil, vlm.Errorf(vlm.ErrShape, "resampler: media shape %v, want [B, N, D], [B, M, N, D] or [B, M, F, N, D]", shapeOf(x))
	}
	d := m.Dim()
	s := x.Shape
	b, media, frames, n := s[0], 1, 1, s[x.Rank()-2]
	switch x.Rank() {
	case 4:
		media = s[1]
	case 5:
		media, frames = s[1], s[2]
	}
	if err := vlm.CheckShape("media", x, append(negatives(x.Rank()-1), d)...); err != nil {
		return nil, err
	}
	if b < 1 || media < 1 || frames < 1 || n < 1 {
		return nil, vlm.Errorf(vlm.ErrShape, "resampler: media shape %v has an empty axis", s)
	}
	if m.MediaTimeEmbs != nil && media > m.MediaTimeEmbs.Value.Shape[0] {
		return nil, vlm.Errorf(vlm.ErrShape, "resampler: %d media items, but the media time embedding has %d rows", media, m.MediaTimeEmbs.Value.Shape[0])
	}
	if m.FrameEmbs != nil && frames > m.FrameEmbs.Value.Shape[0] {
		return nil, vlm.Errorf(vlm.ErrShape, "resampler: %d frames, but the frame embedding has %d rows", frames, m.FrameEmbs.Value.Shape[0])
	}
	if err := vlm.CheckFinite("media", x); err != nil {
		return nil, err
	}
	return m.forward(tp, x, b, media, frames, n), nil
}

func (m *Model) forward(tp *vlm.Tape, x *vlm.Tensor, b, media, frames, n int) *vlm.Tensor {
	d, q := m.Dim(), m.NumLatents()
	if m.FrameEmbs != nil {
		fe := vlm.Slice(tp, tp.Param(m.FrameEmbs), 0, 0, frames)
		x = vlm.Add(tp, vlm.Reshape(tp, x, b, media, frames, n, d), vlm.Reshape(tp, fe, 1, 1, frames, 1, d))
	}
	if m.MediaTimeEmbs != nil {
		te := vlm.Slice(tp, tp.Param(m.MediaTimeEmbs), 0, 0, media)
		x = vlm.Add(tp, vlm.Reshape(tp, x, b, media, frames*n, d), vlm.Reshape(tp, te, 1, media, 1, d))
	}
	x = vlm.Reshape(tp, x, b*media, frames*n, d)
	lat := vlm.Reshape(tp, tp.Param(m.Latents), 1, q, d)
	copies := make([]*vlm.Tensor, b*media)
	for i := range copies {
		copies[i] = lat
	}
	lat = vlm.Concat(tp, 0, copies...)
	for _, l := range m.Layers {
		a := l.Attn.forward(tp, x, lat)
		s := vlm.Add(tp, a, lat)
		workspace.Release(tp, a, s)
		workspace.Release(tp, lat, s)
		f, err := l.FF.Forward(tp, s)
		if err != nil {
			panic(err)
		}
		workspace.Release(tp, s, f)
		lat = f
	}
	y := m.Norm.Forward(tp, lat)
	workspace.Release(tp, lat, y)
	return vlm.Reshape(tp, y, b, media, q, d)
}

func negatives(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = -1
	}
	return s
}

func shapeOf(t *vlm.Tensor) any {
	if t == nil {
		return "nil"
	}
	return t.Shape
}
