package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/encoder"
	"github.com/govlm/vlm/examples/internal/scene"
	"github.com/govlm/vlm/examples/internal/viz"
	"github.com/govlm/vlm/lstmcaption"
)

// config is one run of the example. The flags set the first group; the
// rest are the model and its training, tuned for the two-minute default.
type config struct {
	Steps, Batch int    // training steps, scenes per step
	Train, Test  int    // training and held-out scenes
	Seed         uint64 // scenes, weights, batches and dropout
	Beam         int    // beam size for the held-out captions
	FineTune     bool   // train the encoder too
	Out          string // directory for the pictures, "" for none
	Pictures     int    // held-out scenes drawn

	Size     int // canvas side in pixels
	Colors   []scene.Color
	Shapes   []scene.Shape // nil: every colour, and circles, squares and triangles
	Channels []int         // CNN stages; the grid is Size/2^len(Channels) on a side
	Dim      int           // decoder widths A = E = H
	Dropout  float32       // on fc's input
	LR       float64       // peak learning rate of both Adam optimizers
	Warmup   int           // steps of linear warmup before the cosine decay
	AlphaC   float32       // weight of the doubly stochastic regulariser
	Progress int           // progress lines during training
	Show     int           // held-out captions printed
}

func defaultConfig() config {
	return config{
		Steps: 1000, Batch: 32, Train: 6000, Test: 400, Seed: 1, Beam: 3, FineTune: true,
		Out: "caption-out", Pictures: 6,
		Size: 64, Channels: []int{8, 16, 32}, Dim: 96, Dropout: 0, LR: 3e-3, Warmup: 50, AlphaC: 0.1,
		Progress: 16, Show: 6,
	}
}

// report holds what a run measured.
type report struct {
	Losses, CE      []float64  // per training step
	BLEU            [4]float64 // held-out corpus BLEU-1..4 of the beam captions
	Exact           float64    // share of beam captions equal to a reference
	Baseline        [4]float64 // BLEU of always writing BaselineCaption
	BaselineCaption string     // the most frequent training caption
	Mass, Uniform   float64    // mean attention inside the named object's box, and a uniform map's
	Nouns           int        // shape words the masses average over
	Files           []string   // pictures written
}

// gridEncoder is the CNN with two coordinate channels appended to every
// grid cell, x and y from −1 to 1 (CoordConv, Liu et al. 2018): soft
// attention averages the features it looks at and forgets where they
// were, and the coordinates tell the decoder which object is left of or
// above the other. Pixels [B, 3, H, W] → [B, h, w, D+2].
type gridEncoder struct {
	cnn *encoder.CNN
}

func (e *gridEncoder) VisitParams(prefix string, visit func(string, *vlm.Param)) {
	e.cnn.VisitParams(prefix, visit)
}

// Dim returns D+2, the width of a grid cell.
func (e *gridEncoder) Dim() int { return e.cnn.Dim() + 2 }

func (e *gridEncoder) Forward(tp *vlm.Tape, pixels *vlm.Tensor) (*vlm.Tensor, error) {
	grid, err := e.cnn.Forward(tp, pixels)
	if err != nil {
		return nil, err
	}
	b, h, w := grid.Shape[0], grid.Shape[1], grid.Shape[2]
	coords := vlm.Zeros(b, h, w, 2)
	for i := range b * h * w {
		y, x := i/w%h, i%w
		coords.Data[2*i] = 2*(float32(x)+0.5)/float32(w) - 1
		coords.Data[2*i+1] = 2*(float32(y)+0.5)/float32(h) - 1
	}
	return vlm.Concat(tp, 3, grid, coords), nil
}

// model is the captioner: the encoder, the decoder and the word map.
type model struct {
	enc *gridEncoder
	dec *lstmcaption.Decoder
	wm  *lstmcaption.WordMap
}

// validate rejects settings the run cannot use.
func (c config) validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"steps", c.Steps}, {"batch", c.Batch}, {"train", c.Train}, {"test", c.Test}, {"beam", c.Beam}} {
		if f.v < 1 {
			return fmt.Errorf("-%s %d: want at least 1", f.name, f.v)
		}
	}
	if c.Pictures < 0 {
		return fmt.Errorf("-pictures %d: want 0 or more", c.Pictures)
	}
	return nil
}

func run(ctx context.Context, cfg config, w io.Writer) (*report, error) {
	start := time.Now()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	gen, err := scene.NewGenerator(scene.Config{Width: cfg.Size, Height: cfg.Size, MinObjects: 1, MaxObjects: 2, Colors: cfg.Colors, Shapes: cfg.Shapes})
	if err != nil {
		return nil, err
	}
	train, test := gen.Split(cfg.Train, cfg.Test, cfg.Seed)
	for _, s := range slices.Concat(train, test) {
		s.ReadingOrder()
	}
	var words [][]string
	for _, s := range train {
		words = append(words, s.Caption().Words)
	}
	m := &model{wm: lstmcaption.NewWordMap(words, 0)}
	rng := vlm.NewRand(cfg.Seed)
	cnn, err := encoder.NewCNN(rng, encoder.CNNConfig{InChannels: 3, Channels: cfg.Channels, Eps: 1e-5})
	if err != nil {
		return nil, err
	}
	m.enc = &gridEncoder{cnn: cnn}
	m.dec, err = lstmcaption.New(rng, lstmcaption.Config{
		EncoderDim: m.enc.Dim(), AttentionDim: cfg.Dim, EmbedDim: cfg.Dim, DecoderDim: cfg.Dim,
		VocabSize: m.wm.Len(), Dropout: cfg.Dropout,
	})
	if err != nil {
		return nil, err
	}
	gh, gw := cnn.GridSize(cfg.Size, cfg.Size)
	encParams, _ := vlm.CountParams(m.enc)
	decParams, _ := vlm.CountParams(m.dec)
	fmt.Fprintf(w, "data   %d training and %d held-out scenes, %dx%d, one or two shapes; %d words\n",
		len(train), len(test), cfg.Size, cfg.Size, m.wm.Len()-4)
	fmt.Fprintf(w, "model  CNN %v -> %dx%dx%d grid + 2 coordinates (%d parameters), decoder A=E=H=%d (%d parameters)\n",
		cfg.Channels, gh, gw, cnn.Dim(), encParams, cfg.Dim, decParams)
	mode := "fine-tuning the encoder"
	if !cfg.FineTune {
		mode = "encoder frozen"
	}
	fmt.Fprintf(w, "train  %d steps of %d scenes, Adam %g (warmup, cosine decay), loss = cross-entropy + %g x attention regulariser, %s\n",
		cfg.Steps, cfg.Batch, cfg.LR, cfg.AlphaC, mode)

	rep := &report{}
	if err := m.train(ctx, cfg, train, rep, w); err != nil {
		return nil, err
	}
	caps, err := m.caption(ctx, test, cfg.Beam)
	if err != nil {
		return nil, err
	}
	if err := rep.score(m, train, test, caps, gh, gw); err != nil {
		return nil, err
	}
	rep.print(w, cfg, m, test, caps)
	if cfg.Out != "" {
		if err := rep.draw(cfg, m, test, caps); err != nil {
			return nil, err
		}
		fmt.Fprintf(w, "wrote  %d attention pictures and the loss curve: %s ... %s\n", len(rep.Files)-1, rep.Files[0], rep.Files[len(rep.Files)-1])
	}
	fmt.Fprintf(w, "done in %s\n", time.Since(start).Round(time.Second))
	return rep, nil
}

// train runs cfg.Steps steps of the tutorial's training step over
// shuffled epochs of the training scenes, printing progress lines.
func (m *model) train(ctx context.Context, cfg config, train []*scene.Scene, rep *report, w io.Writer) error {
	adam := func() *vlm.AdamW { return &vlm.AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8} }
	tr := lstmcaption.NewTrainer(m.enc, m.dec, cfg.FineTune)
	decOpt, encOpt := adam(), adam()
	tr.DecoderOptimizer, tr.EncoderOptimizer = decOpt, encOpt
	tr.Loss.AlphaC = cfg.AlphaC
	tr.Seed = cfg.Seed
	sched := vlm.CosineSchedule{Peak: cfg.LR, Min: cfg.LR / 20, Warmup: cfg.Warmup, Total: cfg.Steps}
	rng := vlm.NewRand(cfg.Seed + 1)
	captions := make([][]int, len(train))
	for i, s := range train {
		captions[i], _ = m.wm.Encode(s.Caption().Words, 0)
	}
	var order []int
	every := max(1, cfg.Steps/max(1, cfg.Progress))
	start, last := time.Now(), 0
	for step := range cfg.Steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		for len(order) < cfg.Batch {
			order = append(order, rng.Perm(len(train))...)
		}
		idx := order[:cfg.Batch]
		order = order[cfg.Batch:]
		batch, caps := make([]*scene.Scene, len(idx)), make([][]int, len(idx))
		for i, j := range idx {
			batch[i], caps[i] = train[j], captions[j]
		}
		lr := sched.LR(step)
		decOpt.LR, encOpt.LR = lr, lr
		l, err := tr.Step(scene.Batch(batch, scene.ImageNet), caps)
		if err != nil {
			return err
		}
		rep.Losses = append(rep.Losses, float64(l.Total.Data[0]))
		rep.CE = append(rep.CE, float64(l.CE.Data[0]))
		if done := step + 1; done%every == 0 || done == cfg.Steps {
			el := time.Since(start)
			rate := float64(done) / el.Seconds()
			eta := time.Duration(float64(cfg.Steps-done) / rate * float64(time.Second))
			fmt.Fprintf(w, "step %5d/%d  loss %.3f  cross-entropy %.3f  %.1f steps/s  ETA %s\n",
				done, cfg.Steps, mean(rep.Losses[last:]), mean(rep.CE[last:]), rate, eta.Round(time.Second))
			last = done
		}
	}
	return nil
}

func mean(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s / float64(max(1, len(x)))
}

// caption returns the beam-search captions of the scenes, encoding them
// in batches.
func (m *model) caption(ctx context.Context, scenes []*scene.Scene, beam int) ([]lstmcaption.Caption, error) {
	const batch = 50
	var caps []lstmcaption.Caption
	for i := 0; i < len(scenes); i += batch {
		feats, err := m.enc.Forward(nil, scene.Batch(scenes[i:min(i+batch, len(scenes))], scene.ImageNet))
		if err != nil {
			return nil, err
		}
		c, err := m.dec.Beam(ctx, feats, beam, m.wm.DecodeOptions(20))
		if err != nil {
			return nil, err
		}
		caps = append(caps, c...)
	}
	return caps, nil
}

// score fills the held-out metrics: BLEU and exact match against the
// three paraphrases of each scene, the most-frequent-caption baseline,
// and the attention mass on the object each shape word names.
func (rep *report) score(m *model, train, test []*scene.Scene, caps []lstmcaption.Caption, gh, gw int) error {
	refs := make([][][]string, len(test))
	hyps := make([][]string, len(test))
	exact := 0
	for i, s := range test {
		hyps[i] = m.wm.Decode(caps[i].IDs)
		text := strings.Join(hyps[i], " ")
		for _, c := range s.Captions() {
			refs[i] = append(refs[i], c.Words)
			if c.Text == text {
				exact++
			}
		}
	}
	var err error
	if rep.BLEU, err = lstmcaption.CorpusBLEU(refs, hyps); err != nil {
		return err
	}
	rep.Exact = float64(exact) / float64(len(test))

	count := map[string]int{}
	for _, s := range train {
		count[s.Caption().Text]++
	}
	for text, n := range count {
		if b := rep.BaselineCaption; n > count[b] || (n == count[b] && text < b) {
			rep.BaselineCaption = text
		}
	}
	base := make([][]string, len(test))
	for i := range base {
		base[i] = strings.Fields(rep.BaselineCaption)
	}
	if rep.Baseline, err = lstmcaption.CorpusBLEU(refs, base); err != nil {
		return err
	}

	uniform := vlm.Full(1/float32(gh*gw), gh, gw)
	for i, s := range test {
		for pos := 1; pos < len(caps[i].IDs); pos++ {
			k := named(s, m.wm.Word(caps[i].IDs[pos-1]), m.wm.Word(caps[i].IDs[pos]))
			if k < 0 {
				continue
			}
			rep.Mass += s.BoxMass(k, caps[i].Map(pos))
			rep.Uniform += s.BoxMass(k, uniform)
			rep.Nouns++
		}
	}
	rep.Mass /= float64(max(1, rep.Nouns))
	rep.Uniform /= float64(max(1, rep.Nouns))
	return nil
}

// named returns the index of the object of s that the words "colour
// shape" name, or -1 if they name none.
func named(s *scene.Scene, colour, shape string) int {
	for k, o := range s.Objects {
		if o.Color.String() == colour && o.Shape.String() == shape {
			return k
		}
	}
	return -1
}

func (rep *report) print(w io.Writer, cfg config, m *model, test []*scene.Scene, caps []lstmcaption.Caption) {
	decoding := fmt.Sprintf("beam search, k=%d", cfg.Beam)
	if cfg.Beam == 1 {
		decoding = "greedy decoding"
	}
	fmt.Fprintf(w, "\nheld-out captions (%d scenes, %s)\n", len(test), decoding)
	fmt.Fprintf(w, "  BLEU-1 %.3f  BLEU-2 %.3f  BLEU-3 %.3f  BLEU-4 %.3f  exact match %.1f%%\n",
		rep.BLEU[0], rep.BLEU[1], rep.BLEU[2], rep.BLEU[3], 100*rep.Exact)
	fmt.Fprintf(w, "  baseline, always %q: BLEU-1 %.3f  BLEU-4 %.3f\n", rep.BaselineCaption, rep.Baseline[0], rep.Baseline[3])
	fmt.Fprintf(w, "  attention inside the named object's box when its shape word is written: %.3f, uniform %.3f (%.1fx, %d words)\n",
		rep.Mass, rep.Uniform, rep.Mass/rep.Uniform, rep.Nouns)
	for i := range min(cfg.Show, len(test)) {
		text, mark := strings.Join(m.wm.Decode(caps[i].IDs), " "), ""
		for _, c := range test[i].Captions() {
			if c.Text == text {
				mark = "  (exact)"
			}
		}
		fmt.Fprintf(w, "  truth %-44s model %s%s\n", test[i].Caption().Text, text, mark)
	}
}

// draw writes one picture per drawn scene — the image, then the
// attention behind every word over it — and the loss curve.
func (rep *report) draw(cfg config, m *model, test []*scene.Scene, caps []lstmcaption.Caption) error {
	for i := range min(cfg.Pictures, len(test)) {
		img := test[i].Render()
		panels := []viz.Panel{{Image: img, Label: "input"}}
		for pos, id := range caps[i].IDs {
			panels = append(panels, viz.Panel{Image: viz.Overlay(img, caps[i].Map(pos), viz.Magma, 0.6), Label: m.wm.Word(id)})
		}
		title := fmt.Sprintf("%s   (truth: %s)", strings.Join(m.wm.Decode(caps[i].IDs), " "), test[i].Caption().Text)
		path := filepath.Join(cfg.Out, fmt.Sprintf("attention-%02d.png", i))
		if err := viz.WritePNG(path, viz.Grid(panels, viz.GridOptions{Cell: 128, Title: title})); err != nil {
			return err
		}
		rep.Files = append(rep.Files, path)
	}
	chart := viz.Chart{
		Title: "training loss", XLabel: "step", LogY: true,
		Series: []viz.Series{{Name: "loss (cross-entropy + alpha_c * attention regulariser)", Y: rep.Losses}, {Name: "cross-entropy", Y: rep.CE}},
	}
	path := filepath.Join(cfg.Out, "loss.png")
	if err := viz.WritePNG(path, chart.Render()); err != nil {
		return err
	}
	rep.Files = append(rep.Files, path)
	return nil
}
