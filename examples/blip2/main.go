// Command blip2 trains a small BLIP-2 Q-Former from scratch on pictures
// of coloured shapes and their captions, with BLIP-2's three stage-1
// objectives over a frozen image encoder, and reports what it learnt on
// held-out pictures.
//
// It draws 32×32 scenes of one or two shapes, each with three
// paraphrased captions ("a red circle left of a blue square", "there is
// a red circle left of a blue square", "a blue square right of a red
// circle"), and trains in two stages:
//
//   - stage 0: a small CNN (package encoder) learns to classify every cell
//     of its 8×8 grid as background or one of 18 colour-shape pairs, a
//     stand-in for BLIP-2's pre-trained ViT; then it is frozen, and its
//     64 image tokens (features, class probabilities, a sine code of the
//     cell's position, LayerNorm without weights as BLIP-2's ln_vision)
//     are computed once;
//   - stage 1: a 3-layer Q-Former of width 64 with 8 learned queries
//     (package qformer) trains with image-text contrastive learning (ITC),
//     image-text matching on ITC-mined hard negatives (ITM) and
//     image-grounded caption generation (ITG), the sum of the three losses,
//     as in BLIP-2's representation learning. Scenes with the same
//     canonical caption share an image id, so that they are neither
//     contrastive nor ITM negatives of each other.
//
// On a gallery of 100 held-out scenes with distinct captions it reports
// image→text and text→image retrieval R@1 by ITC similarity (chance is
// 0.01) and after re-ranking the ITC top 8 by ITM (LAVIS's protocol); the
// ITM accuracy on each image with its caption and with its most
// ITC-similar other caption (chance 0.5); and the greedy ITG captions,
// how many of them are one of the scene's captions, with a few examples.
// It writes the loss curves (loss.png) and a panel of held-out pictures
// with their generated and retrieved captions (retrieval.png) into -out.
//
// With the defaults (seed 1, AVX-512 kernels) retrieval R@1 is 0.85
// image→text and 0.83 text→image by ITC (0.87 and 0.88 re-ranked by
// ITM), ITM is right 84.5% of the time, and 43% of the greedy captions
// are exactly one of the scene's captions; the rest name the right
// objects but often the wrong relation or order. Over seeds 1, 2 and 3,
// which draw disjoint scenes, ITC R@1 is 0.85–0.87 image→text and
// 0.83–0.85 text→image, ITM accuracy 80–85% and exact captions 43–66%.
// Re-ranking by ITM helps on some seeds and hurts on others. Other kernels
// round differently (before the vector kernels, seed 1 gave 0.82 and
// 0.80). The run takes about 60 s and 75 CPU-seconds on two cores.
//
//	go run ./examples/blip2                 about a minute on 2 cores
//	go run ./examples/blip2 -steps 300 -out /tmp/blip2   a quicker, rougher run
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
)

func main() {
	cfg := defaultConfig()
	flag.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "random seed of the data and the models")
	flag.IntVar(&cfg.Train, "train", cfg.Train, "training scenes")
	flag.IntVar(&cfg.Gallery, "gallery", cfg.Gallery, "held-out scenes with distinct captions for retrieval")
	flag.IntVar(&cfg.EncoderSteps, "encoder-steps", cfg.EncoderSteps, "stage 0: training steps of the image encoder before it is frozen")
	flag.IntVar(&cfg.Steps, "steps", cfg.Steps, "stage 1: training steps of the Q-Former")
	flag.IntVar(&cfg.Batch, "batch", cfg.Batch, "image-text pairs per Q-Former step")
	flag.IntVar(&cfg.Dim, "dim", cfg.Dim, "Q-Former width (a multiple of 16: heads of 16)")
	flag.IntVar(&cfg.Layers, "layers", cfg.Layers, "Q-Former layers (each cross-attends to the image)")
	flag.IntVar(&cfg.Queries, "queries", cfg.Queries, "learned queries")
	flag.Float64Var(&cfg.LR, "lr", cfg.LR, "peak AdamW learning rate of the Q-Former")
	flag.StringVar(&cfg.Out, "out", cfg.Out, "directory for loss.png and retrieval.png (empty: none)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if _, err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "blip2:", err)
		os.Exit(1)
	}
}
