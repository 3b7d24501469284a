package vlm_test

import (
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/encoder"
	"github.com/govlm/vlm/gating"
	"github.com/govlm/vlm/internal/kernels"
	"github.com/govlm/vlm/projector"
	"github.com/govlm/vlm/qformer"
	"github.com/govlm/vlm/resampler"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Nil-tape inference takes the storage of its outputs from recycled
// buffers (kernels.Buffer) and recycles its intermediates. These tests
// run the composites that recycle, at sizes whose tensors are pooled
// (more than 1024 values), over pools filled with NaN-poisoned buffers.

// poisonMax is the largest buffer poisoned: above the largest tensor of
// the models of reuseCases.
const poisonMax = 1 << 15

// poison hands copies NaN-filled buffers of every pooled size class up to
// poisonMax values to the pools and returns them.
func poison(copies int) [][]float32 {
	var bufs [][]float32
	for n := 1025; n <= poisonMax; {
		size := cap(kernels.Buffer(n))
		for range copies {
			b := make([]float32, size)
			for i := range b {
				b[i] = float32(math.NaN())
			}
			kernels.Recycle(b)
			bufs = append(bufs, b)
		}
		n = size + 1
	}
	return bufs
}

// sameArray reports whether a is a slice of the array b spans.
func sameArray(a, b []float32) bool {
	return cap(a) > 0 && cap(b) > 0 && &a[:cap(a)][cap(a)-1] == &b[:cap(b)][cap(b)-1]
}

// sameBits reports whether the outputs hold the same values bit for bit.
func sameBits(a, b []*vlm.Tensor) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i].Data) != len(b[i].Data) {
			return false
		}
		for j, v := range a[i].Data {
			if math.Float32bits(v) != math.Float32bits(b[i].Data[j]) {
				return false
			}
		}
	}
	return true
}

// reuseCase runs one shared model on input i (of reuseInputs) and
// returns its outputs.
type reuseCase struct {
	name string
	run  func(tp *vlm.Tape, i int) ([]*vlm.Tensor, error)
}

const reuseInputs = 3

func randInputs(seed uint64, shape ...int) []*vlm.Tensor {
	xs := make([]*vlm.Tensor, reuseInputs)
	for i := range xs {
		xs[i] = vlm.RandN(vlm.NewRand(seed+uint64(i)), 1, shape...)
	}
	return xs
}

func reuseCases(t *testing.T) []reuseCase {
	rs, err := resampler.New(vlm.NewRand(1), resampler.Config{Dim: 64, Depth: 2, Heads: 2, HeadDim: 32, Latents: 16, MaxMedia: 2, MaxFrames: 2})
	require.NoError(t, err)
	media := randInputs(10, 2, 2, 1, 24, 64)

	blk, err := gating.NewBlock(vlm.NewRand(2), gating.Config{Dim: 64, MediaDim: 48, Heads: 2, HeadDim: 32})
	require.NoError(t, err)
	blk.AttnGate.Value.Data[0], blk.FFGate.Value.Data[0] = 0.5, -0.7
	at := make([]bool, 2*24)
	at[0], at[12], at[24+5] = true, true, true
	loc, err := gating.NewLocations(2, 24, at)
	require.NoError(t, err)
	text, visual := randInputs(20, 2, 24, 64), randInputs(30, 2, 2, 16, 48)

	qf, err := qformer.New(vlm.NewRand(3), qformer.Config{
		Dim: 64, Layers: 2, Heads: 4, Hidden: 128, CrossEvery: 1, VisionDim: 48, Queries: 16,
		Vocab: 50, MaxPositions: 32, PadID: 0, DecID: 49, Eps: 1e-12, Dropout: 0.1, AttnDropout: 0.1, InitStd: 0.02,
	})
	require.NoError(t, err)
	images := randInputs(40, 2, 40, 48)
	ids, mask := qformer.Pad([][]int{{1, 5, 7, 9, 2}, {1, 6, 2}}, 0)

	vit, err := encoder.NewViT(vlm.NewRand(4), encoder.ViTConfig{ImageSize: 32, PatchSize: 8, Channels: 3, Dim: 64,
		Layers: 2, Heads: 2, Hidden: 128, Act: vlm.ActQuickGELU, Eps: 1e-5, ProjectionDim: 16})
	require.NoError(t, err)
	pixels := randInputs(50, 2, 3, 32, 32)

	proj, err := projector.New(vlm.NewRand(5), projector.Config{Type: "mlp3x_gelu", In: 48, Out: 64})
	require.NoError(t, err)
	feats := randInputs(60, 2, 24, 48)

	return []reuseCase{
		{"projector", func(tp *vlm.Tape, i int) ([]*vlm.Tensor, error) {
			y, err := proj.Forward(tp, feats[i])
			return []*vlm.Tensor{y}, err
		}},
		{"resampler", func(tp *vlm.Tape, i int) ([]*vlm.Tensor, error) {
			y, err := rs.Forward(tp, media[i])
			return []*vlm.Tensor{y}, err
		}},
		{"gating", func(tp *vlm.Tape, i int) ([]*vlm.Tensor, error) {
			mem, err := blk.Memory(tp, visual[i], nil)
			if err != nil {
				return nil, err
			}
			y, err := blk.Forward(tp, text[i], mem, loc.TextTime())
			return []*vlm.Tensor{y}, err
		}},
		{"qformer", func(tp *vlm.Tape, i int) ([]*vlm.Tensor, error) {
			q, err := qf.Forward(tp, qformer.Input{Queries: true, Image: images[i]})
			if err != nil {
				return nil, err
			}
			qt, err := qf.Forward(tp, qformer.Input{Queries: true, IDs: ids, TextMask: mask, Mode: qformer.Bidirectional, Image: images[i]})
			if err != nil {
				return nil, err
			}
			return []*vlm.Tensor{q.Query, qt.Query, qt.Text}, nil
		}},
		{"vit", func(tp *vlm.Tape, i int) ([]*vlm.Tensor, error) {
			out, err := vit.Forward(tp, pixels[i], nil)
			if err != nil {
				return nil, err
			}
			return []*vlm.Tensor{out.LastHidden, out.Pooled, out.Embeds}, nil
		}},
	}
}

func TestConcurrentInferenceReuse(t *testing.T) {
	// Many goroutines run one shared model of each kind at once; every
	// output must equal a sequential run's bit for bit, and stay so while
	// later passes recycle their intermediates (an output handed to a
	// caller is never recycled).
	cases := reuseCases(t)
	poison(2)
	want := make([][][]*vlm.Tensor, len(cases))
	for c, rc := range cases {
		for i := range reuseInputs {
			y, err := rc.run(nil, i)
			require.NoError(t, err)
			for _, o := range y {
				require.NoError(t, vlm.CheckFinite(rc.name, o))
			}
			// A recording tape never uses recycled storage: the pools
			// change no value.
			ref, err := rc.run(vlm.NewTape(), i)
			require.NoError(t, err)
			require.True(t, sameBits(ref, y), "%s input %d: nil tape and tape differ", rc.name, i)
			want[c] = append(want[c], y)
		}
	}

	type result struct {
		c, i int
		y    []*vlm.Tensor
	}
	const goroutines, rounds = 8, 6
	poison(2)
	results := make([][]result, goroutines)
	errs := make([]error, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for r := range rounds {
				c, i := (g+r)%len(cases), (g*rounds+r)%reuseInputs
				y, err := cases[c].run(nil, i)
				if err != nil {
					errs[g] = fmt.Errorf("%s: %w", cases[c].name, err)
					return
				}
				results[g] = append(results[g], result{c, i, y})
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	// More passes, over the storage the ones above recycled.
	for _, rc := range cases {
		for i := range reuseInputs {
			_, err := rc.run(nil, i)
			require.NoError(t, err)
		}
	}
	for g, rs := range results {
		require.Len(t, rs, rounds)
		for _, r := range rs {
			assert.True(t, sameBits(want[r.c][r.i], r.y), "goroutine %d: %s input %d differs from the sequential run", g, cases[r.c].name, r.i)
		}
	}
}

func TestTapeGetsFreshStorage(t *testing.T) {
	// Nothing a tape records shares storage with a recycled buffer, on
	// training and evaluation tapes alike.
	cases := reuseCases(t)
	var poisoned [][]float32
	seen := func(ys []*vlm.Tensor) bool {
		for _, y := range ys {
			for _, b := range poisoned {
				if sameArray(y.Data, b) {
					return true
				}
			}
		}
		return false
	}
	for _, rc := range cases {
		for _, tp := range []*vlm.Tape{vlm.NewTrainingTape(1), vlm.NewTape()} {
			poisoned = append(poisoned, poison(4)...)
			y, err := rc.run(tp, 0)
			require.NoError(t, err)
			rec := vlm.Recorded(tp)
			require.NotEmpty(t, rec)
			assert.False(t, seen(append(rec, y...)), "%s: a tape recorded recycled storage", rc.name)
		}
	}
	// Without a tape, outputs do come from the pools (which may drop
	// buffers, under the race detector at random): the check above can
	// fail.
	taken := false
	for try := 0; try < 5 && !taken; try++ {
		for _, rc := range cases {
			poisoned = append(poisoned, poison(4)...)
			y, err := rc.run(nil, 0)
			require.NoError(t, err)
			taken = taken || seen(y)
		}
	}
	assert.True(t, taken, "no nil-tape output came from the poisoned pools")
}
