package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/examples/internal/scene"
	"github.com/govlm/vlm/qformer"
)

// config sets the size of a run.
type config struct {
	Seed         uint64
	Train        int // training scenes
	Gallery      int // held-out scenes with distinct captions (retrieval gallery)
	EncoderSteps int // stage 0: steps of the CNN's cell-classification training
	Steps        int // stage 1: Q-Former steps
	Batch        int // image-text pairs per Q-Former step
	Dim          int // Q-Former width (heads of 16)
	Layers       int // Q-Former layers, each with cross-attention
	Queries      int
	LR           float64
	Out          string // directory for the pictures; "" writes none
}

func defaultConfig() config {
	return config{
		Seed: 1, Train: 6000, Gallery: 100, EncoderSteps: 500, Steps: 700, Batch: 32,
		Dim: 64, Layers: 3, Queries: 8, LR: 5e-3, Out: "blip2-out",
	}
}

// validate rejects settings the run cannot use, before any training.
func (c config) validate() error {
	for _, f := range []struct {
		name   string
		v, min int
	}{
		{"train", c.Train, 1}, {"gallery", c.Gallery, 2}, {"encoder-steps", c.EncoderSteps, 0},
		{"steps", c.Steps, 1}, {"batch", c.Batch, 2}, {"layers", c.Layers, 1}, {"queries", c.Queries, 1},
	} {
		if f.v < f.min {
			return fmt.Errorf("-%s %d: want at least %d", f.name, f.v, f.min)
		}
	}
	if c.Dim < 16 || c.Dim%16 != 0 {
		return fmt.Errorf("-dim %d: want a positive multiple of 16", c.Dim)
	}
	if !(c.LR > 0) {
		return fmt.Errorf("-lr %g: want a positive learning rate", c.LR)
	}
	return nil
}

// result is what a run measured on the held-out gallery.
type result struct {
	// First and Last are the ITC, ITM and ITG losses averaged over the
	// first and the last tenth of the Q-Former's steps.
	First, Last [3]float64
	// Retrieval R@1 by ITC similarity, and after re-ranking the ITC top
	// candidates by ITM logit + ITC similarity (LAVIS's protocol).
	I2T, T2I, I2TRerank, T2IRerank float64
	// ITMAccuracy is the accuracy of ITM on every gallery image paired
	// with its caption and with its most ITC-similar other caption.
	ITMAccuracy float64
	// CaptionMatch is the fraction of gallery images whose greedy
	// caption is one of the scene's own captions.
	CaptionMatch float64
	EncoderAcc   float64 // stage-0 classifier's accuracy on the gallery's object cells
	Samples      []sample
	Elapsed      time.Duration
}

// sample is one held-out image with its generated caption and its top
// retrieved caption.
type sample struct {
	Scene              *scene.Scene
	Truth, Generated   string
	Retrieved          string
	RetrievedCorrectly bool
}

// qformerConfig is the small Q-Former trained here: BLIP-2's layer
// (post-norm BERT self-attention, cross-attention of the queries, query
// and text FFNs) at width cfg.Dim, with heads of 16, FFN width cfg.Dim
// and fresh weights from N(0, 0.05²) rather than BERT's. BLIP-2
// cross-attends every 2nd of its 12 layers; with 3 layers every layer
// does, so that the captioning decoder, which sees the image only through
// the queries' self-attention keys and values, reads queries that have
// looked at the image more than once.
func qformerConfig(cfg config, d *data) qformer.Config {
	return qformer.Config{
		Dim: cfg.Dim, Layers: cfg.Layers, Heads: cfg.Dim / 16, Hidden: cfg.Dim, CrossEvery: 1,
		VisionDim: tokenWidth, Queries: cfg.Queries,
		Vocab: d.vocab.Len(), MaxPositions: 32, PadID: scene.PadID, DecID: d.dec,
		EmbedDim: cfg.Dim, LMHead: true, Eps: 1e-12, InitStd: 0.05,
	}
}

// run builds the data, pre-trains and freezes the image encoder (stage
// 0), trains the Q-Former with ITC + ITM + ITG (stage 1), evaluates on the
// held-out gallery and writes the pictures. Progress goes to w.
func run(ctx context.Context, cfg config, w io.Writer) (*result, error) {
	start := time.Now()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	res := &result{}
	rng := vlm.NewRand(cfg.Seed)
	d, err := newData(cfg)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "data: %d training scenes, %d held-out scenes with distinct captions, %d words\n", len(d.train), len(d.gallery), d.vocab.Len())

	enc, err := pretrainEncoder(ctx, cfg, d, rng, w)
	if err != nil {
		return nil, err
	}
	if d.trainFeat, _, err = enc.encode(d.train); err != nil {
		return nil, err
	}
	if d.galleryFeat, res.EncoderAcc, err = enc.encode(d.gallery); err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "frozen encoder: %d image tokens of width %d per picture; held-out object-cell accuracy %.3f (%.1fs)\n",
		d.trainFeat.Shape[1], d.trainFeat.Shape[2], res.EncoderAcc, time.Since(start).Seconds())

	m, curves, err := train(ctx, cfg, d, rng, w)
	if err != nil {
		return nil, err
	}
	res.First, res.Last = curves.mean(0, cfg.Steps/10), curves.mean(cfg.Steps-cfg.Steps/10, cfg.Steps)
	if err := evaluate(ctx, m, d, res); err != nil {
		return nil, err
	}
	res.Elapsed = time.Since(start)
	report(w, res)
	if cfg.Out != "" {
		if err := writePictures(cfg.Out, curves, res); err != nil {
			return nil, err
		}
		fmt.Fprintf(w, "wrote %s/loss.png and %s/retrieval.png\n", cfg.Out, cfg.Out)
	}
	return res, nil
}

// curves holds the per-step losses ITC, ITM, ITG.
type curves [3][]float64

func (c *curves) mean(lo, hi int) [3]float64 {
	var out [3]float64
	if hi <= lo {
		return out
	}
	for k := range c {
		for _, v := range c[k][lo:hi] {
			out[k] += v / float64(hi-lo)
		}
	}
	return out
}

// train is stage 1: BLIP-2's representation learning. Each step draws a
// batch of scenes with one of their captions at random; scenes that
// share a canonical caption count as the same image (LAVIS image_id), so
// that they are neither contrastive nor ITM negatives of each other.
func train(ctx context.Context, cfg config, d *data, rng *rand.Rand, w io.Writer) (*qformer.Model, *curves, error) {
	m, err := qformer.New(vlm.NewRand(cfg.Seed+1), qformerConfig(cfg, d))
	if err != nil {
		return nil, nil, err
	}
	total, _ := vlm.CountParams(m)
	fmt.Fprintf(w, "stage 1: Q-Former of %d layers, width %d, %d queries, %d parameters; ITC + ITM + ITG, batch %d, %d steps\n",
		cfg.Layers, cfg.Dim, cfg.Queries, total, cfg.Batch, cfg.Steps)
	opt := vlm.NewAdamW(cfg.LR)
	opt.WeightDecay = 0.05
	sched := vlm.CosineSchedule{Peak: cfg.LR, Min: cfg.LR / 10, Warmup: cfg.Steps / 20, Total: cfg.Steps}
	negatives := vlm.NewRand(cfg.Seed + 2)
	c := &curves{}
	n, width := d.trainFeat.Shape[1], d.trainFeat.Shape[2]
	t0 := time.Now()
	for step := range cfg.Steps {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		idx := make([]int, cfg.Batch)
		texts := make([][]int, cfg.Batch)
		groups := make([]int, cfg.Batch)
		for k := range idx {
			idx[k] = d.draw(rng)
			para := d.trainTexts[idx[k]]
			// The canonical caption half of the time, else a paraphrase.
			texts[k] = para[0]
			if rng.IntN(2) == 0 {
				texts[k] = para[1+rng.IntN(len(para)-1)]
			}
			groups[k] = d.trainGroup[idx[k]]
		}
		ids, mask := qformer.Pad(texts, scene.PadID)
		image := vlm.Gather(nil, d.trainFeat, 0, idx).Reshape(cfg.Batch, n, width)
		tp := vlm.NewTape()
		l, err := m.Loss(tp, qformer.Batch{Image: image, IDs: ids, TextMask: mask, ImageIDs: groups}, &qformer.LossOptions{Rand: negatives})
		if err != nil {
			return nil, nil, err
		}
		if err := tp.Backward(l.Total); err != nil {
			return nil, nil, err
		}
		vlm.ClipGradNorm(m, 1)
		opt.LR = sched.LR(step)
		opt.Step(m)
		vlm.ZeroGrad(m)
		m.ClampTemp(0.001, 0.5)
		for k, v := range []*vlm.Tensor{l.ITC, l.ITM, l.ITG} {
			c[k] = append(c[k], float64(v.Data[0]))
		}
		if (step+1)%max(cfg.Steps/10, 1) == 0 {
			a := c.mean(max(0, step+1-cfg.Steps/10), step+1)
			fmt.Fprintf(w, "stage 1  step %4d  ITC %.3f  ITM %.3f  ITG %.3f  temp %.3f  (%.0f ms/step)\n",
				step+1, a[0], a[1], a[2], m.Temp.Value.Data[0], float64(time.Since(t0).Milliseconds())/float64(step+1))
		}
	}
	return m, c, nil
}
