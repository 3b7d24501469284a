// Command caption trains Show, Attend and Tell on pictures of coloured
// shapes and shows where it looks while it writes.
//
// It draws a data set of 64×64 scenes with one or two shapes, each with
// its caption ("a red circle left of a blue square"), trains a small CNN
// encoder and the lstmcaption decoder together (the encoder fine-tunes),
// then captions held-out scenes with beam search and reports
//
//   - corpus BLEU-1 to BLEU-4 against the scenes' three paraphrases, and
//     the share of captions that match one exactly;
//   - the BLEU of always answering the most frequent training caption;
//   - how much of the attention falls inside the box of the object a
//     shape word names, when the model writes that word, compared with a
//     uniform map.
//
// It writes a picture per held-out scene with the attention behind every
// word laid over the image, and the loss curve, into -out.
//
//	go run ./examples/caption              about two minutes on two cores
//	go run ./examples/caption -steps 400   a quicker, rougher run
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
	flag.IntVar(&cfg.Steps, "steps", cfg.Steps, "training steps")
	flag.IntVar(&cfg.Batch, "batch", cfg.Batch, "scenes per training step")
	flag.IntVar(&cfg.Train, "train", cfg.Train, "training scenes")
	flag.IntVar(&cfg.Test, "test", cfg.Test, "held-out scenes")
	flag.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the scenes, the weights and dropout")
	flag.IntVar(&cfg.Beam, "beam", cfg.Beam, "beam size (1 is greedy decoding)")
	flag.BoolVar(&cfg.FineTune, "finetune", cfg.FineTune, "train the CNN encoder with the decoder (false: keep its random weights)")
	flag.StringVar(&cfg.Out, "out", cfg.Out, "directory for the pictures (empty: none)")
	flag.IntVar(&cfg.Pictures, "pictures", cfg.Pictures, "held-out scenes to draw")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if _, err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "caption:", err)
		os.Exit(1)
	}
}
