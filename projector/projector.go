package projector

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/internal/workspace"
)

// The projector types of LLaVA's build_vision_projector
// (mm_projector_type). MLPGELU is LLaVA-1.5's mlp2x_gelu; the builder
// accepts any "mlp{N}x_gelu".
const (
	Linear   = "linear"
	MLPGELU  = "mlp2x_gelu"
	Identity = "identity"
)

var mlpType = regexp.MustCompile(`^mlp(\d+)x_gelu$`)

// Config configures a [Projector].
type Config struct {
	// Type is "linear" (LLaVA v1), "mlp{N}x_gelu" (N ≥ 1 Linear layers
	// with exact GELU between them; LLaVA-1.5 uses "mlp2x_gelu", which is
	// HF's LlavaMultiModalProjector) or "identity" (In == Out).
	Type string
	// In is the vision feature width (mm_hidden_size, 1024 for CLIP
	// ViT-L/14) and Out the language model's (hidden_size, 4096 for a 7B
	// LLaMA).
	In, Out int
}

// layers returns the number of Linear layers of c.Type, or an error.
func (c Config) layers() (int, error) {
	if c.In < 1 || c.Out < 1 {
		return 0, vlm.Errorf(vlm.ErrConfig, "projector: widths %d → %d, want positive", c.In, c.Out)
	}
	switch c.Type {
	case Linear:
		return 1, nil
	case Identity:
		if c.In != c.Out {
			return 0, vlm.Errorf(vlm.ErrConfig, "projector: identity from width %d to %d", c.In, c.Out)
		}
		return 0, nil
	}
	if m := mlpType.FindStringSubmatch(c.Type); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil && n >= 1 && n <= 64 {
			return n, nil
		}
	}
	return 0, vlm.Errorf(vlm.ErrConfig, "projector: unknown type %q (want %q, %q, \"mlp{N}x_gelu\" or %q)", c.Type, Linear, MLPGELU, Identity)
}

// Validate returns an ErrConfig error unless c describes a projector.
func (c Config) Validate() error {
	_, err := c.layers()
	return err
}

// Projector maps vision features to the language model's width, as
// LLaVA's mm_projector: Linear, then (for mlp{N}x_gelu) GELU and Linear
// N−1 times. Its keys are HF LlavaMultiModalProjector's, linear_1,
// linear_2, …; [Rename] loads original LLaVA checkpoints
// (model.mm_projector.0, .2, …).
type Projector struct {
	Config Config
	Layers []*vlm.Linear // linear_1, linear_2, …
}

// New returns a Projector with PyTorch's default Linear initialisation
// drawn from rng (nil means vlm.NewRand(0)).
func New(rng *rand.Rand, cfg Config) (*Projector, error) {
	n, err := cfg.layers()
	if err != nil {
		return nil, err
	}
	if rng == nil {
		rng = vlm.NewRand(0)
	}
	p := &Projector{Config: cfg}
	in := cfg.In
	for range n {
		p.Layers = append(p.Layers, vlm.NewLinear(rng, in, cfg.Out, true))
		in = cfg.Out
	}
	return p, nil
}

// VisitParams implements vlm.Module: linear_{k}.weight and
// linear_{k}.bias for k = 1, 2, ….
func (p *Projector) VisitParams(prefix string, visit func(string, *vlm.Param)) {
	for i, l := range p.Layers {
		l.VisitParams(fmt.Sprintf("%slinear_%d.", prefix, i+1), visit)
	}
}

// Forward maps features x [..., In] (image tokens [M, N, In]) to
// [..., Out].
func (p *Projector) Forward(tp *vlm.Tape, x *vlm.Tensor) (y *vlm.Tensor, err error) {
	defer vlm.Recover(&err)
	if x == nil || x.Rank() == 0 || x.Dim(-1) != p.Config.In {
		return nil, vlm.Errorf(vlm.ErrShape, "projector: features of shape %v, want [..., %d]", shapeOf(x), p.Config.In)
	}
	if err := vlm.CheckFinite("projector features", x); err != nil {
		return nil, err
	}
	// Without a tape the hidden activations are recycled as soon as the
	// next layer has read them (LLaVA-1.5's are 9 MB per image).
	y = x
	for i, l := range p.Layers {
		if i > 0 {
			h := y
			y = vlm.GELU(tp, h)
			workspace.Release(tp, h, x, y)
		}
		h := y
		y = l.Forward(tp, h)
		if h != x {
			workspace.Release(tp, h, x, y)
		}
	}
	return y, nil
}

func shapeOf(x *vlm.Tensor) any {
	if x == nil {
		return "nil"
	}
	return x.Shape
}

var mmIndex = regexp.MustCompile(`^(\d+)\.(weight|bias)$`)

// Rename maps a checkpoint key to a projector parameter name, for
// vlm.LoadOptions.Rename; keys of anything else map to "" (skipped), so a
// whole LLaVA checkpoint can be given:
//
//	model.mm_projector.weight, .bias            → linear_1.*   (linear)
//	model.mm_projector.{2k}.weight, .bias       → linear_{k+1}.* (mlp{N}x_gelu)
//	mm_projector.*                              → the same     (stage-1 mm_projector.bin)
//	multi_modal_projector.linear_{k}.*          → linear_{k}.* (HF llava)
//	model.multi_modal_projector.linear_{k}.*    → linear_{k}.* (HF llava ≥ 4.52)
//	linear_{k}.*                                → unchanged
func Rename(key string) string {
	for _, pre := range []string{"model.multi_modal_projector.", "multi_modal_projector."} {
		if rest, ok := strings.CutPrefix(key, pre); ok {
			return native(rest)
		}
	}
	for _, pre := range []string{"model.mm_projector.", "mm_projector."} {
		rest, ok := strings.CutPrefix(key, pre)
		if !ok {
			continue
		}
		if rest == "weight" || rest == "bias" {
			return "linear_1." + rest
		}
		m := mmIndex.FindStringSubmatch(rest)
		if m == nil {
			return ""
		}
		i, _ := strconv.Atoi(m[1])
		if i%2 != 0 {
			return ""
		}
		return fmt.Sprintf("linear_%d.%s", i/2+1, m[2])
	}
	return native(key)
}

var nativeName = regexp.MustCompile(`^linear_[1-9]\d*\.(weight|bias)$`)

func native(key string) string {
	if nativeName.MatchString(key) {
		return key
	}
	return ""
}

// mmName is the inverse of Rename for original LLaVA keys.
func (p *Projector) mmName(name string) string {
	k, rest, _ := strings.Cut(strings.TrimPrefix(name, "linear_"), ".")
	if p.Config.Type == Linear {
		return "model.mm_projector." + rest
	}
	i, _ := strconv.Atoi(k)
	return fmt.Sprintf("model.mm_projector.%d.%s", 2*(i-1), rest)
}

// SaveAdapter writes the projector alone to a safetensors file under
// original LLaVA's keys (model.mm_projector.0.weight, …), the
// mm_projector.bin that LLaVA's stage 1 saves and stage 2 loads with
// --pretrain_mm_mlp_adapter. The write is atomic.
func (p *Projector) SaveAdapter(path string) error {
	w := &vlm.Weights{Tensors: map[string]*vlm.Tensor{}, Metadata: map[string]string{"format": "pt", "mm_projector_type": p.Config.Type}}
	p.VisitParams("", func(name string, q *vlm.Param) { w.Tensors[p.mmName(name)] = q.Value })
	if len(w.Tensors) == 0 {
		return vlm.Errorf(vlm.ErrConfig, "projector: an identity projector has no weights to save to %s", path)
	}
	return vlm.WriteSafetensors(path, w, vlm.F32)
}

// LoadAdapter fills the projector strictly from a safetensors file under
// any of the names [Rename] knows: an adapter from [Projector.SaveAdapter]
// or LLaVA's stage 1, an HF llava checkpoint, or a whole LLaVA checkpoint
// (a sharded one through its .index.json), whose other keys are skipped.
func (p *Projector) LoadAdapter(path string) error {
	_, err := vlm.LoadWeights(p, path, &vlm.LoadOptions{Rename: Rename})
	return err
}
