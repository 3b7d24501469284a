package encoder

import (
	"fmt"
	"math/rand/v2"

	"github.com/govlm/vlm"
)

// CNNConfig configures a [CNN].
type CNNConfig struct {
	// InChannels is the number of image channels (3 for RGB).
	InChannels int
	// Channels lists the output channels of each stage; each stage halves
	// the height and width.
	Channels []int
	// Grid, if positive, pools the last stage's output to a Grid×Grid
	// grid with [AdaptiveAvgPool2d], as the Show-Attend-Tell encoder pools
	// ResNet's output to 14×14; 0 keeps the last stage's size.
	Grid int
	// Eps is the epsilon of the per-pixel LayerNorms (1e-5).
	Eps float32
}

// DefaultCNNConfig returns three stages of 16, 32 and 64 channels: a
// 64×64 image becomes an 8×8 grid of 64 features.
func DefaultCNNConfig() CNNConfig {
	return CNNConfig{InChannels: 3, Channels: []int{16, 32, 64}, Eps: 1e-5}
}

// Validate returns an ErrConfig error naming the first invalid field.
func (c CNNConfig) Validate() error {
	switch {
	case c.InChannels < 1:
		return vlm.Errorf(vlm.ErrConfig, "CNNConfig.InChannels = %d, want >= 1", c.InChannels)
	case len(c.Channels) == 0:
		return vlm.Errorf(vlm.ErrConfig, "CNNConfig.Channels is empty, want at least one stage")
	case c.Grid < 0:
		return vlm.Errorf(vlm.ErrConfig, "CNNConfig.Grid = %d, want >= 0", c.Grid)
	case !(c.Eps > 0):
		return vlm.Errorf(vlm.ErrConfig, "CNNConfig.Eps = %g, want > 0", c.Eps)
	}
	for i, ch := range c.Channels {
		if ch < 1 {
			return vlm.Errorf(vlm.ErrConfig, "CNNConfig.Channels[%d] = %d, want >= 1", i, ch)
		}
	}
	return nil
}

// CNNStage is one stage of a [CNN]: a 3×3 convolution (stride 1, padding
// 1, with bias), a LayerNorm over the channels of each pixel, ReLU, and a
// 2×2 max pooling with stride 2. Keys: "conv.weight", "conv.bias",
// "norm.weight", "norm.bias".
type CNNStage struct {
	Conv *Conv2d
	Norm *vlm.LayerNorm
}

// VisitParams implements vlm.Module.
func (s *CNNStage) VisitParams(prefix string, visit func(string, *vlm.Param)) {
	s.Conv.VisitParams(prefix+"conv.", visit)
	s.Norm.VisitParams(prefix+"norm.", visit)
}

// Forward maps x [B, H, W, C] to [B, H/2, W/2, O].
func (s *CNNStage) Forward(tp *vlm.Tape, x *vlm.Tensor) *vlm.Tensor {
	y := vlm.ReLU(tp, s.Norm.Forward(tp, s.Conv.Forward(tp, x)))
	return MaxPool2d(tp, y, 2, 2, 0)
}

// CNN is a small trainable convolutional encoder that turns images into a
// grid of features for soft attention (Show, Attend and Tell): pixels
// [B, C, H, W] → grid [B, h, w, D], with h = H/2^S (S stages, or Grid),
// D the last stage's channels. Keys: "stages.{i}.conv.*",
// "stages.{i}.norm.*".
//
// It normalises with a LayerNorm over the channels of each pixel rather
// than BatchNorm, so it behaves the same in training and inference, keeps
// no running statistics, and works with any batch size.
type CNN struct {
	Config CNNConfig
	Stages []*CNNStage
}

// NewCNN returns a CNN with PyTorch's default initialisation drawn from
// rng.
func NewCNN(rng *rand.Rand, cfg CNNConfig) (*CNN, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Channels = append([]int(nil), cfg.Channels...)
	m := &CNN{Config: cfg}
	in := cfg.InChannels
	for _, out := range cfg.Channels {
		m.Stages = append(m.Stages, &CNNStage{
			Conv: NewConv2d(rng, in, out, 3, 1, 1, true),
			Norm: vlm.NewLayerNorm(out, cfg.Eps),
		})
		in = out
	}
	return m, nil
}

// VisitParams implements vlm.Module.
func (m *CNN) VisitParams(prefix string, visit func(string, *vlm.Param)) {
	for i, s := range m.Stages {
		s.VisitParams(fmt.Sprintf("%sstages.%d.", prefix, i), visit)
	}
}

// Dim returns D, the number of features of each grid cell.
func (m *CNN) Dim() int { return m.Config.Channels[len(m.Config.Channels)-1] }

// GridSize returns the height and width of the grid for an h×w image.
func (m *CNN) GridSize(h, w int) (gh, gw int) {
	if m.Config.Grid > 0 {
		return m.Config.Grid, m.Config.Grid
	}
	return h >> len(m.Stages), w >> len(m.Stages)
}

// Forward encodes pixels [B, C, H, W] (the layout of [Preprocessor]'s
// output) into the grid [B, h, w, D]; H and W must be at least 2^S for S
// stages. With a tape it records the backward pass of every stage.
func (m *CNN) Forward(tp *vlm.Tape, pixels *vlm.Tensor) (grid *vlm.Tensor, err error) {
	defer vlm.Recover(&err)
	if err := vlm.CheckShape("CNN pixels", pixels, -1, m.Config.InChannels, -1, -1); err != nil {
		return nil, err
	}
	if min(pixels.Shape[2], pixels.Shape[3]) < 1<<len(m.Stages) {
		return nil, vlm.Errorf(vlm.ErrShape, "CNN pixels %v: %d stages need H, W >= %d", pixels.Shape, len(m.Stages), 1<<len(m.Stages))
	}
	if err := vlm.CheckFinite("CNN pixels", pixels); err != nil {
		return nil, err
	}
	x := ChannelsLast(tp, pixels)
	for _, s := range m.Stages {
		x = s.Forward(tp, x)
	}
	if g := m.Config.Grid; g > 0 {
		x = AdaptiveAvgPool2d(tp, x, g, g)
	}
	return x, nil
}
