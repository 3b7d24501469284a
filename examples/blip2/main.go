// Command blip2 trains a small BLIP-2 Q-Former from scratch on pictures
// of coloured shapes and their captions, with BLIP-2's three stage-1
// objectives (image-text contrastive, image-text matching, image-grounded
// captioning) over a frozen image encoder, then reports held-out
// retrieval, matching and captioning, and writes a loss chart and a panel
// of held-out images with their retrieved and generated captions.
//
//	go run ./examples/blip2                 # about two minutes on 2 cores
//	go run ./examples/blip2 -steps 300 -out /tmp/blip2
//
// See run for the stages.
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
	flag.IntVar(&cfg.Dim, "dim", cfg.Dim, "Q-Former width")
	flag.IntVar(&cfg.Layers, "layers", cfg.Layers, "Q-Former layers (cross-attention every 2nd)")
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
