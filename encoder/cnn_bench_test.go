package encoder

import (
	"math/rand/v2"
	"testing"

	"github.com/govlm/vlm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// quadrants returns n images [n, 3, size, size] of noise with one bright
// square of side size/4 in a random quadrant, and the quadrant (0-3).
func quadrants(rng *rand.Rand, n, size int) (*vlm.Tensor, []int) {
	x := vlm.RandN(rng, 0.3, n, 3, size, size)
	labels := make([]int, n)
	s := size / 4
	for i := range n {
		q := rng.IntN(4)
		labels[i] = q
		y0 := (q/2)*size/2 + rng.IntN(size/2-s+1)
		x0 := (q%2)*size/2 + rng.IntN(size/2-s+1)
		for c := range 3 {
			for y := y0; y < y0+s; y++ {
				for xx := x0; xx < x0+s; xx++ {
					x.Data[((i*3+c)*size+y)*size+xx] += 1.5
				}
			}
		}
	}
	return x, labels
}

// classifier is a CNN with a linear head over the flattened grid: the
// smallest model that shows the CNN learns where things are.
type classifier struct {
	cnn  *CNN
	head *vlm.Linear
}

func (c *classifier) VisitParams(prefix string, visit func(string, *vlm.Param)) {
	c.cnn.VisitParams(prefix+"cnn.", visit)
	c.head.VisitParams(prefix+"head.", visit)
}

func (c *classifier) loss(tp *vlm.Tape, x *vlm.Tensor, labels []int) (*vlm.Tensor, error) {
	grid, err := c.cnn.Forward(tp, x)
	if err != nil {
		return nil, err
	}
	flat := vlm.Reshape(tp, grid, grid.Dim(0), -1)
	return vlm.CrossEntropy(tp, c.head.Forward(tp, flat), labels, 0), nil
}

func newClassifier(t testing.TB, rng *rand.Rand, cfg CNNConfig, size int) *classifier {
	cnn, err := NewCNN(rng, cfg)
	require.NoError(t, err)
	gh, gw := cnn.GridSize(size, size)
	return &classifier{cnn: cnn, head: vlm.NewLinear(rng, gh*gw*cnn.Dim(), 4, true)}
}

func (c *classifier) step(t testing.TB, opt vlm.Optimizer, x *vlm.Tensor, labels []int) float32 {
	vlm.ZeroGrad(c)
	tp := vlm.NewTape()
	loss, err := c.loss(tp, x, labels)
	require.NoError(t, err)
	require.NoError(t, tp.Backward(loss))
	opt.Step(c)
	return loss.Data[0]
}

func TestCNNLearnsQuadrants(t *testing.T) {
	rng := vlm.NewRand(7)
	m := newClassifier(t, rng, CNNConfig{InChannels: 3, Channels: []int{8, 16}, Eps: 1e-5}, 16)
	opt := vlm.NewAdamW(3e-3)
	x, labels := quadrants(rng, 16, 16)
	first := m.step(t, opt, x, labels)
	var last float32
	for range 25 {
		last = m.step(t, opt, x, labels)
	}
	assert.Less(t, last, first/4, "loss %.3f -> %.3f", first, last)
}

// BenchmarkCNNTrainStep measures one AdamW training step of the default
// CNN (16-32-64 channels, 8×8 grid) with a linear head on a batch of 32
// 64×64 images; images/s is the training throughput.
func BenchmarkCNNTrainStep(b *testing.B) {
	const batch, size = 32, 64
	rng := vlm.NewRand(1)
	cfg := DefaultCNNConfig()
	m := newClassifier(b, rng, cfg, size)
	opt := vlm.NewAdamW(1e-3)
	x, labels := quadrants(rng, batch, size)
	// The convolutions' multiply-adds, ×2 for FLOPs, ×3 for forward and
	// backward.
	var flops float64
	in, side := cfg.InChannels, size
	for _, out := range cfg.Channels {
		flops += 3 * 2 * float64(batch*side*side*out*in*9)
		in, side = out, side/2
	}
	b.ReportAllocs()
	for b.Loop() {
		m.step(b, opt, x, labels)
	}
	sec := b.Elapsed().Seconds()
	b.ReportMetric(batch*float64(b.N)/sec, "images/s")
	b.ReportMetric(flops*float64(b.N)/sec/1e9, "GFLOP/s")
}
