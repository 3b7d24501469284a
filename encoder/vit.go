package encoder

import (
	"fmt"
	"math/rand/v2"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/attention"
	"github.com/govlm/vlm/internal/workspace"
)

// ViTConfig sizes a [ViT] (transformers' CLIPVisionConfig).
type ViTConfig struct {
	ImageSize int // side of the square input image (224, 336)
	PatchSize int // P (14, 16, 32)
	Channels  int // image channels (3)
	Dim       int // D, hidden_size
	Layers    int // num_hidden_layers
	Heads     int // num_attention_heads
	Hidden    int // intermediate_size of the MLP
	// Act is the MLP activation: vlm.ActQuickGELU for OpenAI's CLIP
	// weights, vlm.ActGELU for models trained with nn.GELU.
	Act vlm.Activation
	Eps float32 // layer_norm_eps (1e-5)
	// ProjectionDim is the width of visual_projection (CLIPModel,
	// CLIPVisionModelWithProjection); 0 builds no projection
	// (CLIPVisionModel).
	ProjectionDim int
}

// ViTB16Config returns CLIP ViT-B/16 (openai/clip-vit-base-patch16):
// 224 px, 196 patches, 768 wide, 12 layers of 12 heads, projection 512.
func ViTB16Config() ViTConfig {
	return ViTConfig{ImageSize: 224, PatchSize: 16, Channels: 3, Dim: 768, Layers: 12, Heads: 12, Hidden: 3072,
		Act: vlm.ActQuickGELU, Eps: 1e-5, ProjectionDim: 512}
}

// ViTB32Config returns CLIP ViT-B/32 (openai/clip-vit-base-patch32):
// ViT-B/16 with 32-pixel patches (49 patches).
func ViTB32Config() ViTConfig {
	c := ViTB16Config()
	c.PatchSize = 32
	return c
}

// ViTL14Config returns CLIP ViT-L/14 (openai/clip-vit-large-patch14): 224
// px, 256 patches, 1024 wide, 24 layers of 16 heads, projection 768.
func ViTL14Config() ViTConfig {
	return ViTConfig{ImageSize: 224, PatchSize: 14, Channels: 3, Dim: 1024, Layers: 24, Heads: 16, Hidden: 4096,
		Act: vlm.ActQuickGELU, Eps: 1e-5, ProjectionDim: 768}
}

// ViTL14At336Config returns CLIP ViT-L/14-336
// (openai/clip-vit-large-patch14-336, LLaVA-1.5's vision tower): ViT-L/14
// at 336 px, 576 patches.
func ViTL14At336Config() ViTConfig {
	c := ViTL14Config()
	c.ImageSize = 336
	return c
}

// Patches returns N, the number of patches of an image.
func (c ViTConfig) Patches() int { return (c.ImageSize / c.PatchSize) * (c.ImageSize / c.PatchSize) }

// Validate returns an ErrConfig error naming the first invalid field.
func (c ViTConfig) Validate() error {
	switch {
	case c.PatchSize < 1 || c.ImageSize < c.PatchSize || c.ImageSize%c.PatchSize != 0:
		return vlm.Errorf(vlm.ErrConfig, "ViTConfig: image size %d is not a positive multiple of patch size %d", c.ImageSize, c.PatchSize)
	case c.Channels < 1 || c.Dim < 1 || c.Layers < 0 || c.Hidden < 1 || c.ProjectionDim < 0:
		return vlm.Errorf(vlm.ErrConfig, "ViTConfig: channels %d, dim %d, layers %d, hidden %d, projection %d", c.Channels, c.Dim, c.Layers, c.Hidden, c.ProjectionDim)
	case c.Heads < 1 || c.Dim%c.Heads != 0:
		return vlm.Errorf(vlm.ErrConfig, "ViTConfig: dim %d is not a multiple of %d heads", c.Dim, c.Heads)
	case !c.Act.Valid():
		return vlm.Errorf(vlm.ErrConfig, "ViTConfig: unknown activation %q", string(c.Act))
	case !(c.Eps > 0):
		return vlm.Errorf(vlm.ErrConfig, "ViTConfig: LayerNorm eps %g, want > 0", c.Eps)
	}
	return nil
}

// ViT is the vision transformer of CLIP with transformers'
// CLIPVisionModelWithProjection structure and checkpoint keys, so a
// Hugging Face checkpoint loads with vlm.LoadWeights:
//
//	vision_model.embeddings.class_embedding              [D]
//	vision_model.embeddings.patch_embedding.weight       [D, 3, P, P]  (no bias)
//	vision_model.embeddings.position_embedding.weight    [N+1, D]
//	vision_model.pre_layrnorm.{weight,bias}              (sic)
//	vision_model.encoder.layers.{i}.layer_norm1, self_attn.{q,k,v,out}_proj, layer_norm2, mlp.fc1, mlp.fc2
//	vision_model.post_layernorm.{weight,bias}
//	visual_projection.weight                             [ProjectionDim, D]  (no bias; optional)
//
// The forward pass: patch features of pixels [B, 3, S, S], the class
// embedding prepended, position embeddings added, pre_layrnorm, pre-norm
// encoder layers; the pooled output is post_layernorm of the CLS token
// (the last hidden state itself is not normalised) and the image
// embedding its projection. OpenAI and open_clip checkpoints (visual.*)
// load with [LoadOpenAIWeights].
type ViT struct {
	Config            ViTConfig
	ClassEmbedding    *vlm.Param // [D]
	PatchEmbedding    *Conv2d    // [D, C, P, P], stride P, no bias
	PositionEmbedding *vlm.Param // [N+1, D]
	PreNorm           *vlm.LayerNorm
	Layers            []*attention.EncoderLayer
	PostNorm          *vlm.LayerNorm
	Projection        *vlm.Linear // nil without ProjectionDim
}

// NewViT returns a ViT with random weights drawn from rng (a nil rng
// means vlm.NewRand(0), for weights to be loaded): embeddings N(0, 1),
// PyTorch's default Linear and Conv2d initialisation, LayerNorms 1 and 0.
func NewViT(rng *rand.Rand, cfg ViTConfig) (*ViT, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if rng == nil {
		rng = vlm.NewRand(0)
	}
	m := &ViT{
		Config:            cfg,
		ClassEmbedding:    vlm.NewParam(vlm.RandN(rng, 1, cfg.Dim)),
		PatchEmbedding:    NewConv2d(rng, cfg.Channels, cfg.Dim, cfg.PatchSize, cfg.PatchSize, 0, false),
		PositionEmbedding: vlm.NewParam(vlm.RandN(rng, 1, cfg.Patches()+1, cfg.Dim)),
		PreNorm:           vlm.NewLayerNorm(cfg.Dim, cfg.Eps),
		PostNorm:          vlm.NewLayerNorm(cfg.Dim, cfg.Eps),
	}
	for range cfg.Layers {
		l, err := attention.NewCLIPLayer(rng, attention.Config{Dim: cfg.Dim, Heads: cfg.Heads, Hidden: cfg.Hidden, Act: cfg.Act, Eps: cfg.Eps})
		if err != nil {
			return nil, err
		}
		m.Layers = append(m.Layers, l)
	}
	if cfg.ProjectionDim > 0 {
		m.Projection = vlm.NewLinear(rng, cfg.Dim, cfg.ProjectionDim, false)
	}
	return m, nil
}

// VisitParams implements vlm.Module with Hugging Face's keys.
func (m *ViT) VisitParams(prefix string, visit func(string, *vlm.Param)) {
	p := prefix + "vision_model."
	visit(p+"embeddings.class_embedding", m.ClassEmbedding)
	m.PatchEmbedding.VisitParams(p+"embeddings.patch_embedding.", visit)
	visit(p+"embeddings.position_embedding.weight", m.PositionEmbedding)
	m.PreNorm.VisitParams(p+"pre_layrnorm.", visit)
	for i, l := range m.Layers {
		l.VisitParams(fmt.Sprintf("%sencoder.layers.%d.", p, i), visit)
	}
	m.PostNorm.VisitParams(p+"post_layernorm.", visit)
	if m.Projection != nil {
		m.Projection.VisitParams(prefix+"visual_projection.", visit)
	}
}

// ViTOutput is what [ViT.Forward] returns.
type ViTOutput struct {
	// LastHidden is the output of the last layer [B, N+1, D], CLS first,
	// not normalised (last_hidden_state).
	LastHidden *vlm.Tensor
	// Pooled is post_layernorm of the CLS token [B, D] (pooler_output).
	Pooled *vlm.Tensor
	// Embeds is the projected pooled output [B, ProjectionDim]
	// (image_embeds, before L2 normalisation), nil without a projection.
	Embeds *vlm.Tensor
	// Hidden, if ViTOptions.Hidden, holds the L+1 hidden states [B, N+1, D]:
	// Hidden[0] the embeddings after pre_layrnorm, Hidden[i] the output of
	// layer i (output_hidden_states=True), so Hidden[L] is LastHidden.
	Hidden []*vlm.Tensor
}

// ViTOptions asks [ViT.Forward] for more outputs; nil asks for none.
type ViTOptions struct {
	// Hidden returns every hidden state in ViTOutput.Hidden
	// (output_hidden_states=True).
	Hidden bool
}

// Forward encodes pixels [B, C, S, S] (a [Preprocessor]'s output at the
// config's ImageSize). With a tape it records the backward pass.
func (m *ViT) Forward(tp *vlm.Tape, pixels *vlm.Tensor, o *ViTOptions) (out *ViTOutput, err error) {
	defer vlm.Recover(&err)
	if err := m.check(pixels); err != nil {
		return nil, err
	}
	hidden := o != nil && o.Hidden
	out = &ViTOutput{}
	x := m.embed(tp, pixels)
	if hidden {
		out.Hidden = append(out.Hidden, x)
	}
	for _, l := range m.Layers {
		prev := x
		if x, err = l.Forward(tp, x, nil); err != nil {
			return nil, err
		}
		if hidden {
			out.Hidden = append(out.Hidden, x)
		} else {
			workspace.Release(tp, prev, x)
		}
	}
	out.LastHidden = x
	b, d := x.Shape[0], x.Shape[2]
	out.Pooled = m.PostNorm.Forward(tp, vlm.Reshape(tp, vlm.Slice(tp, x, 1, 0, 1), b, d))
	if m.Projection != nil {
		out.Embeds = m.Projection.Forward(tp, out.Pooled)
	}
	return out, nil
}

// Features returns one hidden state of pixels [B, C, S, S]:
// hidden_states[layer] with negative layers counting from the end (-1 is
// the last hidden state), [B, N+1, D], or [B, N, D] with the CLS token
// dropped. It runs only the layers it needs. LLaVA's vision features
// (mm_vision_select_layer = -2, mm_vision_select_feature = "patch") are
// Features(tp, pixels, -2, true).
func (m *ViT) Features(tp *vlm.Tape, pixels *vlm.Tensor, layer int, dropCLS bool) (feats *vlm.Tensor, err error) {
	defer vlm.Recover(&err)
	n := len(m.Layers)
	if layer < 0 {
		layer += n + 1
	}
	if layer < 0 || layer > n {
		return nil, vlm.Errorf(vlm.ErrConfig, "ViT.Features: layer %d of %d hidden states", layer, n+1)
	}
	if err := m.check(pixels); err != nil {
		return nil, err
	}
	x := m.embed(tp, pixels)
	for _, l := range m.Layers[:layer] {
		if x, err = l.Forward(tp, x, nil); err != nil {
			return nil, err
		}
	}
	if dropCLS {
		x = vlm.Slice(tp, x, 1, 1, x.Shape[1])
	}
	return x, nil
}

func (m *ViT) check(pixels *vlm.Tensor) error {
	c := m.Config
	if err := vlm.CheckShape("ViT pixels", pixels, -1, c.Channels, c.ImageSize, c.ImageSize); err != nil {
		return err
	}
	return vlm.CheckFinite("ViT pixels", pixels)
}

// embed returns pre_layrnorm(cat(CLS, patches) + positions) [B, N+1, D].
func (m *ViT) embed(tp *vlm.Tape, pixels *vlm.Tensor) *vlm.Tensor {
	b, d := pixels.Shape[0], m.Config.Dim
	patches := m.PatchEmbedding.Patchify(tp, pixels)                   // [B, N, D]
	cls := vlm.Add(tp, vlm.Zeros(b, 1, d), tp.Param(m.ClassEmbedding)) // [B, 1, D]
	x := vlm.Add(tp, vlm.Concat(tp, 1, cls, patches), tp.Param(m.PositionEmbedding))
	return m.PreNorm.Forward(tp, x)
}
