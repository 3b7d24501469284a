package main

import (
	"context"
	"fmt"
	"sync"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/encoder"
	"github.com/govlm/vlm/gating"
	"github.com/govlm/vlm/internal/kernels"
	"github.com/govlm/vlm/lm"
	"github.com/govlm/vlm/lstmcaption"
	"github.com/govlm/vlm/projector"
	"github.com/govlm/vlm/qformer"
	"github.com/govlm/vlm/resampler"
)

// block is one unit of work timed in Go and in PyTorch
// (testdata/gen/bench_torch.py knows the same names). The sizes and FLOP
// counts are those of the packages' Go benchmarks.
type block struct {
	name  string
	iters int     // timed calls per round
	flops float64 // floating-point operations of one call
	// setup builds the block and returns one call of it. It runs once
	// per thread count, so that a block with state (a growing KV cache)
	// starts over as PyTorch's server for that thread count does.
	setup func() (func() error, error)
}

func blocks() []block {
	bs := []block{}
	for _, s := range [][3]int{{1024, 1024, 1024}, {32, 768, 768}, {257, 1408, 768}, {32, 768, 3072}} {
		m, k, n := s[0], s[1], s[2]
		flops := 2 * float64(m*k*n)
		bs = append(bs, block{
			name:  fmt.Sprintf("gemm/%dx%dx%d", m, k, n),
			iters: max(5, int(2e9/flops)),
			flops: flops,
			setup: func() (func() error, error) { return gemm(m, k, n), nil },
		})
	}
	c := qformer.BLIP2()
	return append(bs,
		block{"qformer/B=1", 5, qformerForwardFLOPs(c, 1), func() (func() error, error) { return qformerForward(1), nil }},
		block{"qformer/B=8", 1, qformerForwardFLOPs(c, 8), func() (func() error, error) { return qformerForward(8), nil }},
		block{"qformer-train/B=1", 2, 3 * qformerForwardFLOPs(c, 1), func() (func() error, error) { return qformerTrain(), nil }},
		block{"resampler", 5, resamplerFLOPs(), resamplerForward},
		block{"resampler-train", 2, 3 * resamplerFLOPs(), resamplerTrain},
		block{"gated", 20, gatedFLOPs(), gatedForward},
		block{"gated-train", 10, 3 * gatedFLOPs(), gatedTrain},
		block{"vit-b16", 3, vitFLOPs(encoder.ViTB16Config()), vitForward},
		block{"sat-greedy", 5, satFLOPs(), satGreedy},
		block{"lm-token", 20, lmTokenFLOPs(lmPrompt + 53), lmToken},
		block{"llava-projector", 3, projectorFLOPs(), projectorForward},
	)
}

// gemm is C = A·B for row-major A [m, k], B [k, n], as torch.mm.
func gemm(m, k, n int) func() error {
	rng := vlm.NewRand(1)
	a, b := vlm.RandN(rng, 1, m, k), vlm.RandN(rng, 1, k, n)
	c := make([]float32, m*n)
	return func() error {
		kernels.Sgemm(false, false, m, n, k, 1, a.Data, k, b.Data, n, 0, c, n)
		return nil
	}
}

// blip2 is the BLIP-2 Q-Former shared by the qformer blocks; building it
// takes seconds.
var blip2 = sync.OnceValue(func() *qformer.Model { return qformer.MustNew(vlm.NewRand(1), qformer.BLIP2()) })

const imageTokens = 257

func qformerForward(b int) func() error {
	m := blip2()
	image := vlm.RandN(vlm.NewRand(2), 1, b, imageTokens, m.Config.VisionDim)
	return func() error {
		_, err := m.Forward(nil, qformer.Input{Queries: true, Image: image})
		return err
	}
}

func qformerTrain() func() error {
	m := blip2()
	image := vlm.RandN(vlm.NewRand(2), 1, 1, imageTokens, m.Config.VisionDim)
	return func() error {
		vlm.ZeroGrad(m)
		tp := vlm.NewTape()
		out, err := m.Forward(tp, qformer.Input{Queries: true, Image: image})
		if err != nil {
			return err
		}
		return tp.Backward(vlm.Sum(tp, out.Query))
	}
}

// qformerForwardFLOPs counts the query pass of b images over 257 image
// tokens: the image key and value projections of the cross-attention
// layers, then Q, K, V, O, q·kᵀ, p·v and the FFN of every layer and the
// cross-attention of every other layer (qformer/bench_test.go).
func qformerForwardFLOPs(c qformer.Config, b int) float64 {
	d, h := float64(c.Dim), float64(c.Hidden)
	r, q, n := float64(b*c.Queries), float64(c.Queries), float64(imageTokens)
	f := 0.0
	for i := range c.Layers {
		f += 8*r*d*d + 4*r*q*d + 4*r*d*h
		if c.HasCross(i) {
			f += 4*r*d*d + 4*r*n*d + 4*float64(b)*n*float64(c.VisionDim)*d
		}
	}
	return f
}

// OpenFlamingo's resampler and gated block: dim 1024, 8 heads of 64,
// feed-forward ×4.
const flamDim, flamInner, flamFF = 1024, 512, 4096

func resamplerForward() (func() error, error) {
	m, err := resampler.New(vlm.NewRand(1), resampler.Config{Dim: flamDim, Depth: 6, Latents: 64})
	if err != nil {
		return nil, err
	}
	x := vlm.RandN(vlm.NewRand(2), 1, 1, 1, 1, imageTokens, flamDim)
	return func() error {
		_, err := m.Forward(nil, x)
		return err
	}, nil
}

// resamplerTrain is resamplerForward on a recording tape, then the
// backward pass of sum(y ⊙ r) for a fixed random r, with the gradients
// zeroed first.
func resamplerTrain() (func() error, error) {
	m, err := resampler.New(vlm.NewRand(1), resampler.Config{Dim: flamDim, Depth: 6, Latents: 64})
	if err != nil {
		return nil, err
	}
	x := vlm.RandN(vlm.NewRand(2), 1, 1, 1, 1, imageTokens, flamDim)
	r := vlm.RandN(vlm.NewRand(3), 1, 1, 1, 64, flamDim)
	return func() error {
		vlm.ZeroGrad(m)
		tp := vlm.NewTape()
		y, err := m.Forward(tp, x)
		if err != nil {
			return err
		}
		return tp.Backward(vlm.Sum(tp, vlm.Mul(tp, y, r)))
	}, nil
}

func resamplerFLOPs() float64 {
	const q, d, kv = 64, flamDim, imageTokens + 64
	return 6 * float64(2*q*d*flamInner+2*kv*d*2*flamInner+4*q*kv*flamInner+2*q*flamInner*d+4*q*d*flamFF)
}

const gatedText, gatedVisual = 128, 64

// gated is the gated block of the benchmarks, with both gates at 0.5, and
// its inputs: text x [1, 1, T, D] whose first token is an image, and
// visual tokens media [1, 1, 1, N, D].
type gated struct {
	blk      *gating.Block
	tt       *gating.TextTime
	x, media *vlm.Tensor
}

func newGated() (*gated, error) {
	blk, err := gating.NewBlock(vlm.NewRand(1), gating.Config{Dim: flamDim})
	if err != nil {
		return nil, err
	}
	blk.AttnGate.Value.Data[0], blk.FFGate.Value.Data[0] = 0.5, 0.5
	at := make([]bool, gatedText)
	at[0] = true
	loc, err := gating.NewLocations(1, gatedText, at)
	if err != nil {
		return nil, err
	}
	return &gated{
		blk:   blk,
		tt:    loc.TextTime(),
		x:     vlm.RandN(vlm.NewRand(2), 1, 1, gatedText, flamDim),
		media: vlm.RandN(vlm.NewRand(3), 1, 1, 1, gatedVisual, flamDim),
	}, nil
}

// forward conditions the media and runs the block on tp.
func (g *gated) forward(tp *vlm.Tape) (*vlm.Tensor, error) {
	mem, err := g.blk.Memory(tp, g.media, nil)
	if err != nil {
		return nil, err
	}
	return g.blk.Forward(tp, g.x, mem, g.tt)
}

func gatedForward() (func() error, error) {
	g, err := newGated()
	if err != nil {
		return nil, err
	}
	return func() error {
		_, err := g.forward(nil)
		return err
	}, nil
}

// gatedTrain is gatedForward on a recording tape, then the backward pass
// of sum(y ⊙ r) for a fixed random r, with the gradients zeroed first.
func gatedTrain() (func() error, error) {
	g, err := newGated()
	if err != nil {
		return nil, err
	}
	r := vlm.RandN(vlm.NewRand(4), 1, 1, gatedText, flamDim)
	return func() error {
		vlm.ZeroGrad(g.blk)
		tp := vlm.NewTape()
		y, err := g.forward(tp)
		if err != nil {
			return err
		}
		return tp.Backward(vlm.Sum(tp, vlm.Mul(tp, y, r)))
	}, nil
}

func gatedFLOPs() float64 {
	const t, d, n = gatedText, flamDim, gatedVisual
	return float64(2*t*d*flamInner + 4*t*n*flamInner + 2*t*flamInner*d + 4*t*d*flamFF + 4*n*d*flamInner)
}

func vitForward() (func() error, error) {
	m, err := encoder.NewViT(vlm.NewRand(1), encoder.ViTB16Config())
	if err != nil {
		return nil, err
	}
	pixels := vlm.RandN(vlm.NewRand(2), 1, 1, 3, 224, 224)
	return func() error {
		_, err := m.Forward(nil, pixels, nil)
		return err
	}, nil
}

// vitFLOPs counts patch embedding, projections, q·kᵀ, p·v, the MLP and
// the final projection of one image (encoder/vit_bench_test.go).
func vitFLOPs(c encoder.ViTConfig) float64 {
	n, t, d := c.Patches(), c.Patches()+1, c.Dim
	perLayer := 4*t*d*d + 2*t*t*d + 2*t*d*c.Hidden
	return 2 * float64(n*d*c.Channels*c.PatchSize*c.PatchSize+c.Layers*perLayer+d*c.ProjectionDim)
}

// Show-Attend-Tell at the tutorial's size: 14×14×2048 features, A = E =
// H = 512, vocabulary 10000, 20 greedy steps.
const satSteps, satPixels, satEnc, satDim, satVocab = 20, 196, 2048, 512, 10000

func satGreedy() (func() error, error) {
	d, err := lstmcaption.New(vlm.NewRand(1), lstmcaption.TutorialConfig(satVocab))
	if err != nil {
		return nil, err
	}
	enc := vlm.RandN(vlm.NewRand(2), 1, 1, 14, 14, satEnc)
	// The last id plays <end>; the random model never picks it.
	opts := lstmcaption.DecodeOptions{Start: 0, End: satVocab - 1, MaxLen: satSteps}
	return func() error {
		caps, err := d.Greedy(context.Background(), enc, opts)
		if err == nil && len(caps[0].IDs) != satSteps {
			err = fmt.Errorf("decoded %d words, want %d", len(caps[0].IDs), satSteps)
		}
		return err
	}, nil
}

func satFLOPs() float64 {
	const p, denc, dim, vocab = satPixels, satEnc, satDim, satVocab
	once := 2.0 * (p*denc*dim + 2*denc*dim)
	step := 2.0 * (dim*dim + p*dim + p*denc + dim*denc + (dim+denc+dim)*4*dim + dim*vocab)
	return once + satSteps*step
}

// The lm package's benchmark model, OPT-like: width 512, 8 layers of 8
// heads, FFN 2048, vocabulary 8192 (about 30M parameters).
var lmCfg = lm.Config{Vocab: 8192, Dim: 512, Heads: 8, Layers: 8, MaxPositions: 512}

const lmPrompt = 128

var lmModel = sync.OnceValues(func() (*lm.Model, error) { return lm.New(vlm.NewRand(1), lmCfg) })

// lmToken decodes one token (id 7) per call over a KV cache that a
// 128-token prompt filled and every call extends: the context grows from
// 129 positions by one per call, to 233 in 5 rounds of 20 timed calls and
// a warm-up call each (its FLOP count is at 181, the middle).
func lmToken() (func() error, error) {
	m, err := lmModel()
	if err != nil {
		return nil, err
	}
	ids := make([]int, lmPrompt)
	rng := vlm.NewRand(2)
	for i := range ids {
		ids[i] = rng.IntN(lmCfg.Vocab)
	}
	c := m.NewCache()
	if _, err := m.Forward(nil, &lm.Input{IDs: [][]int{ids}, Cache: c}); err != nil {
		return nil, err
	}
	return func() error {
		_, err := m.Forward(nil, &lm.Input{IDs: [][]int{{7}}, Positions: [][]int{{c.Len()}}, Cache: c})
		return err
	}, nil
}

// lmTokenFLOPs counts one token at context length ctx: projections, FFN,
// head, and q·kᵀ and p·v over ctx keys (lm/bench_test.go).
func lmTokenFLOPs(ctx int) float64 {
	d, f := float64(lmCfg.Dim), float64(4*lmCfg.Dim)
	perLayer := 2*(4*d*d+2*d*f) + 4*float64(ctx)*d
	return float64(lmCfg.Layers)*perLayer + 2*d*float64(lmCfg.Vocab)
}

// LLaVA-1.5's mlp2x_gelu projector on one image: 576 CLIP ViT-L/14-336
// patch tokens, 1024 → 4096 → 4096.
const projTokens, projIn, projOut = 576, 1024, 4096

func projectorForward() (func() error, error) {
	p, err := projector.New(vlm.NewRand(1), projector.Config{Type: projector.MLPGELU, In: projIn, Out: projOut})
	if err != nil {
		return nil, err
	}
	x := vlm.RandN(vlm.NewRand(2), 1, 1, projTokens, projIn)
	return func() error {
		_, err := p.Forward(nil, x)
		return err
	}, nil
}

func projectorFLOPs() float64 { return 2.0 * projTokens * (projIn*projOut + projOut*projOut) }
