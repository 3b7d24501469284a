package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/attention"
	"github.com/govlm/vlm/encoder"
	"github.com/govlm/vlm/examples/internal/scene"
	"github.com/govlm/vlm/examples/internal/viz"
	"github.com/govlm/vlm/lm"
	"github.com/govlm/vlm/projector"
)

// config is one run of the example. The flags set the first group; the
// rest are the model and its training, tuned for the two-minute default.
type config struct {
	Steps       [4]int // training steps of the vision pretraining and stages 0, 1, 2
	Batch       int    // samples per step of stages 0, 1 and 2
	Train, Test int    // training and held-out scenes
	Seed        uint64 // scenes, weights and batches
	Out         string // directory for the pictures and the adapter, "" for none
	Pictures    int    // held-out questions drawn
	SkipAlign   bool   // skip stage 1, to see what feature alignment brings

	VisionBatch   int        // scenes per step of the vision pretraining
	Size          int        // canvas side in pixels
	Channels      []int      // CNN stages
	Grid          int        // if positive, the CNN's grid is pooled to Grid×Grid image tokens
	Dim           int        // language model width D
	Layers, Heads int        // language model depth and heads
	Hidden        int        // language model FFN width
	LR            [4]float64 // peak learning rates: vision, stages 0, 1 and 2
	Warmup        int        // steps of linear warmup before the cosine decay
	Turns         int        // questions per document (stage 0) and conversation (stage 2)
	Context       int        // tokens per row of the stage-0 text
	Progress      int        // progress lines per stage
	Show          int        // held-out answers printed
}

func defaultConfig() config {
	return config{
		Steps: [4]int{800, 800, 800, 800}, Batch: 32, Train: 3000, Test: 300, Seed: 1, Out: "llava-out", Pictures: 12,
		VisionBatch: 16, Size: 48, Channels: []int{8, 16, 32, 64}, Dim: 64, Layers: 2, Heads: 4, Hidden: 128,
		LR: [4]float64{1e-2, 3e-3, 1e-2, 3e-3}, Warmup: 20, Turns: 2, Context: 40, Progress: 3, Show: 8,
	}
}

// Stage indices of result.Loss.
const (
	vision = iota
	text
	align
	tune
)

var stageNames = [...]string{"vision", "stage 0 text", "stage 1 align", "stage 2 tune"}

// result holds what a run measured.
type result struct {
	Loss          [4][]float64 // training loss per step of the vision pretraining and stages 0, 1, 2
	VisionObjects float64      // held-out objects whose image token the encoder classifies right (chance 1/19)
	VisionScenes  float64      // held-out scenes whose every image token it classifies right
	Chance        score        // expected accuracy of a uniformly random answer of the question's type
	Prior         score        // accuracy of each question type's most frequent training answer
	Reading       float64      // accuracy of the stage-0 language model reading the true caption
	Acc           [3]score     // held-out answer accuracy after stages 0, 1 and 2
	Captions      [3]float64   // share of held-out captions naming exactly the picture's objects, after stages 0, 1 and 2
	Caption       [3][]string  // the held-out captions after stages 0, 1 and 2
	Elapsed       time.Duration
	Files         []string // files written
}

// score is an accuracy over the held-out questions, overall and per
// question type (scene.QAKind).
type score struct {
	All  float64
	Kind [5]float64
}

// scoreOf averages per-question credits (1 for right) into a score.
func scoreOf(d *data, credit func(i int, q question) float64) score {
	var sum, count [5]float64
	for i, q := range d.testQ {
		sum[q.Kind] += credit(i, q)
		count[q.Kind]++
	}
	var sc score
	var all, n float64
	for k := range sum {
		if count[k] > 0 {
			sc.Kind[k] = sum[k] / count[k]
		}
		all += sum[k]
		n += count[k]
	}
	sc.All = all / n
	return sc
}

// model is the tiny LLaVA: the vision encoder (with the head that
// pretrains it), the projector and the language model.
type model struct {
	cnn   *encoder.CNN
	head  *vlm.Linear // each image token's colour-shape pair or background, for pretraining only
	proj  *projector.Projector
	lm    *lm.Model
	vocab *scene.Vocab
	dot   int // id of ".", between a caption (or the image) and a question
}

// question is a question about scene Scene of its split.
type question struct {
	Scene int
	scene.QA
}

// data are the scenes and their texts.
type data struct {
	train, test []*scene.Scene
	trainQA     [][]scene.QA // per training scene
	testQ       []question   // every held-out question
	trainF      *vlm.Tensor  // frozen image features [S, N, C]
	testF       *vlm.Tensor
}

func run(ctx context.Context, cfg config, w io.Writer) (*result, error) {
	start := time.Now()
	d, vocab, err := newData(cfg)
	if err != nil {
		return nil, err
	}
	m, err := newModel(cfg, vocab)
	if err != nil {
		return nil, err
	}
	nCNN, _ := vlm.CountParams(m.cnn)
	nProj, _ := vlm.CountParams(m.proj)
	nLM, _ := vlm.CountParams(m.lm)
	gh, gw := m.cnn.GridSize(cfg.Size, cfg.Size)
	fmt.Fprintf(w, "data   %d training and %d held-out scenes, %dx%d, one or two shapes; %d held-out questions; %d words\n",
		len(d.train), len(d.test), cfg.Size, cfg.Size, len(d.testQ), m.vocab.Len())
	fmt.Fprintf(w, "model  CNN %v -> %d image tokens of %d (%d parameters), projector %s %d -> %d (%d), OPT-style LM %d layers of %d (%d)\n",
		cfg.Channels, gh*gw, m.cnn.Dim(), nCNN, projector.MLPGELU, m.cnn.Dim(), cfg.Dim, nProj, cfg.Layers, cfg.Dim, nLM)
	res := &result{}
	res.Chance, res.Prior = baselines(d)
	if err := m.pretrainVision(ctx, cfg, d, res, w); err != nil {
		return nil, err
	}
	answers, err := m.stages(ctx, cfg, d, res, w)
	if err != nil {
		return nil, err
	}
	m.report(w, cfg, d, res, answers)
	if cfg.Out != "" {
		files, err := m.pictures(cfg, d, res, answers[2])
		if err != nil {
			return nil, err
		}
		res.Files = append(res.Files, files...)
		fmt.Fprintf(w, "\nwrote  %s\n", strings.Join(res.Files, ", "))
	}
	res.Elapsed = time.Since(start)
	fmt.Fprintf(w, "done in %s\n", res.Elapsed.Round(time.Second))
	return res, nil
}

// newData draws the scenes and their questions, and builds the
// vocabulary of the training texts.
func newData(cfg config) (*data, *scene.Vocab, error) {
	gen, err := scene.NewGenerator(scene.Config{Width: cfg.Size, Height: cfg.Size, MinObjects: 1, MaxObjects: 2})
	if err != nil {
		return nil, nil, err
	}
	d := &data{}
	d.train, d.test = gen.Split(cfg.Train, cfg.Test, cfg.Seed)
	var texts []string
	for _, s := range d.train {
		qa := s.QA()
		d.trainQA = append(d.trainQA, qa)
		for _, c := range s.Captions() {
			texts = append(texts, c.Text)
		}
		for _, q := range qa {
			texts = append(texts, q.Question, q.Answer)
		}
	}
	for i, s := range d.test {
		for _, q := range s.QA() {
			d.testQ = append(d.testQ, question{i, q})
		}
	}
	return d, scene.NewVocab(texts, 1, "."), nil
}

// pretrainVision trains the vision encoder, freezes it for good and
// computes the image tokens of every scene once.
func (m *model) pretrainVision(ctx context.Context, cfg config, d *data, res *result, w io.Writer) error {
	fmt.Fprintf(w, "\nvision: the CNN learns which colour-shape pair each image token shows (%d steps)\n", cfg.Steps[vision])
	var err error
	if res.Loss[vision], err = m.train(ctx, cfg, w, vision, vlm.Modules{{Name: "cnn", Module: m.cnn}, {Name: "head", Module: m.head}},
		func(tp *vlm.Tape, rng *rand.Rand) (*vlm.Tensor, error) {
			return m.visionLoss(tp, rng, pick(rng, d.train, cfg.VisionBatch))
		}); err != nil {
		return err
	}
	if res.VisionObjects, res.VisionScenes, err = m.visionAccuracy(d.test); err != nil {
		return err
	}
	fmt.Fprintf(w, "  held-out objects whose image token names them: %.1f%%; scenes with every token right: %.1f%%\n", 100*res.VisionObjects, 100*res.VisionScenes)
	vlm.Freeze(m.cnn, "*")
	if d.trainF, err = m.features(d.train); err != nil {
		return err
	}
	d.testF, err = m.features(d.test)
	return err
}

// stages runs stages 0, 1 and 2, evaluating after each, and returns the
// held-out answers after each.
func (m *model) stages(ctx context.Context, cfg config, d *data, res *result, w io.Writer) ([][]int, error) {
	// Stage 0: the language model alone, on text.
	fmt.Fprintf(w, "\nstage 0: the language model learns the scenes' language from text: caption . question ? answer (%d steps)\n", cfg.Steps[text])
	var err error
	if res.Loss[text], err = m.train(ctx, cfg, w, text, m.lm, func(tp *vlm.Tape, rng *rand.Rand) (*vlm.Tensor, error) { return m.textLoss(tp, rng, d, cfg) }); err != nil {
		return nil, err
	}
	if res.Reading, err = m.reading(ctx, d); err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "  held-out accuracy reading the true caption instead of the picture: %.1f%%\n", 100*res.Reading)
	answers := make([][]int, 3)
	if answers[0], err = m.evaluate(ctx, d, res, 0, w); err != nil {
		return nil, err
	}

	// Stage 1: feature alignment, only the projector trains.
	if err := projector.Pretrain.Apply(m.cnn, m.proj, m.lm); err != nil {
		return nil, err
	}
	all := vlm.Modules{{Module: m.proj}, {Module: m.lm}}
	if cfg.SkipAlign {
		fmt.Fprintf(w, "\nstage 1 (%s): skipped\n", projector.Pretrain)
	} else {
		fmt.Fprintf(w, "\nstage 1 (%s): only the projector trains, image -> caption (%d steps)\n", projector.Pretrain, cfg.Steps[align])
		if res.Loss[align], err = m.train(ctx, cfg, w, align, all, func(tp *vlm.Tape, rng *rand.Rand) (*vlm.Tensor, error) { return m.alignLoss(tp, rng, d, cfg) }); err != nil {
			return nil, err
		}
	}
	if answers[1], err = m.evaluate(ctx, d, res, 1, w); err != nil {
		return nil, err
	}
	if cfg.Out != "" {
		if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
			return nil, err
		}
		path := filepath.Join(cfg.Out, "mm_projector.safetensors")
		if err := m.proj.SaveAdapter(path); err != nil {
			return nil, err
		}
		res.Files = append(res.Files, path)
	}

	// Stage 2: visual instruction tuning, projector and language model.
	if err := projector.Finetune.Apply(m.cnn, m.proj, m.lm); err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "\nstage 2 (%s): projector and language model train, image + question -> answer (%d steps)\n", projector.Finetune, cfg.Steps[tune])
	if res.Loss[tune], err = m.train(ctx, cfg, w, tune, all, func(tp *vlm.Tape, rng *rand.Rand) (*vlm.Tensor, error) { return m.tuneLoss(tp, rng, d, cfg) }); err != nil {
		return nil, err
	}
	if answers[2], err = m.evaluate(ctx, d, res, 2, w); err != nil {
		return nil, err
	}
	return answers, nil
}

// report prints the accuracy table and a few held-out questions.
func (m *model) report(w io.Writer, cfg config, d *data, res *result, answers [][]int) {
	fmt.Fprintf(w, "\nheld-out answer accuracy (%d questions)\n", len(d.testQ))
	fmt.Fprintf(w, "  %-28s", "")
	for k := range 5 {
		fmt.Fprintf(w, "%9s", scene.QAKind(k))
	}
	fmt.Fprintf(w, "%9s\n", "all")
	for _, row := range []struct {
		name string
		sc   score
	}{
		{"a random answer of its type", res.Chance}, {"its most frequent answer", res.Prior},
		{"after stage 0", res.Acc[0]}, {"after stage 1", res.Acc[1]}, {"after stage 2", res.Acc[2]},
	} {
		fmt.Fprintf(w, "  %-28s", row.name)
		for _, a := range row.sc.Kind {
			fmt.Fprintf(w, "%8.1f%%", 100*a)
		}
		fmt.Fprintf(w, "%8.1f%%\n", 100*row.sc.All)
	}
	show := min(cfg.Show, len(d.testQ))
	if show > 0 {
		fmt.Fprintf(w, "\nheld-out pictures: truth, stage-1 caption; question, truth, answers after stages 0 / 1 / 2\n")
	}
	for k := range show {
		i := k * len(d.testQ) / show
		q := d.testQ[i]
		fmt.Fprintf(w, "  %-44s stage 1: %s\n", d.test[q.Scene].Caption().Text, res.Caption[1][q.Scene])
		fmt.Fprintf(w, "      %-48s %-8s %s / %s / %s\n", q.Question, q.Answer,
			m.vocab.Word(answers[0][i]), m.vocab.Word(answers[1][i]), m.vocab.Word(answers[2][i]))
	}
}

func newModel(cfg config, vocab *scene.Vocab) (*model, error) {
	rng := vlm.NewRand(cfg.Seed)
	m := &model{vocab: vocab, dot: vocab.ID(".")}
	var err error
	if m.cnn, err = encoder.NewCNN(rng, encoder.CNNConfig{InChannels: 3, Channels: cfg.Channels, Grid: cfg.Grid, Eps: 1e-5}); err != nil {
		return nil, err
	}
	m.head = vlm.NewLinear(rng, m.cnn.Dim(), background+1, true)
	if m.proj, err = projector.New(rng, projector.Config{Type: projector.MLPGELU, In: m.cnn.Dim(), Out: cfg.Dim}); err != nil {
		return nil, err
	}
	m.lm, err = lm.New(rng, lm.Config{Vocab: vocab.Len(), Dim: cfg.Dim, Heads: cfg.Heads, Layers: cfg.Layers, Hidden: cfg.Hidden, MaxPositions: 64, PadID: scene.PadID})
	return m, err
}

// shapes are the shapes of the scenes.
var shapes = []scene.Shape{scene.Circle, scene.Square, scene.Triangle}

// pairs returns the indices of a scene's colour-shape pairs among the 18.
func pairs(s *scene.Scene) []int {
	var out []int
	for _, o := range s.Objects {
		for k, sh := range shapes {
			if sh == o.Shape {
				out = append(out, int(o.Color)*len(shapes)+k)
			}
		}
	}
	return out
}

// pick returns n scenes drawn at random.
func pick(rng *rand.Rand, scenes []*scene.Scene, n int) []*scene.Scene {
	out := make([]*scene.Scene, n)
	for i := range out {
		out[i] = scenes[rng.IntN(len(scenes))]
	}
	return out
}

// gridTokens returns the encoder's image tokens [B, N, C] for scenes.
func (m *model) gridTokens(tp *vlm.Tape, scenes []*scene.Scene) (*vlm.Tensor, error) {
	g, err := m.cnn.Forward(tp, scene.Batch(scenes, scene.ImageNet))
	if err != nil {
		return nil, err
	}
	return vlm.Reshape(tp, g, len(scenes), g.Shape[1]*g.Shape[2], g.Shape[3]), nil
}

// background is the class of a grid cell that no object covers, after
// the 18 colour-shape pairs.
var background = len(shapes) * 6

// cellClasses returns the class of every cell of a g×g grid over s: the
// pair of the object whose centre lies in the cell, or background.
func cellClasses(s *scene.Scene, g int) []int {
	out := make([]int, g*g)
	for i := range out {
		out[i] = background
	}
	for k, o := range s.Objects {
		i := min(int(o.Y*float64(g)/float64(s.Height)), g-1)
		j := min(int(o.X*float64(g)/float64(s.Width)), g-1)
		out[i*g+j] = pairs(s)[k]
	}
	return out
}

// side returns the side of the image-token grid of s.
func (m *model) side(s *scene.Scene) int {
	g, _ := m.cnn.GridSize(s.Height, s.Width)
	return g
}

// visionLogits scores the classes of every image token, [B·N, 19].
func (m *model) visionLogits(tp *vlm.Tape, scenes []*scene.Scene) (*vlm.Tensor, error) {
	tok, err := m.gridTokens(tp, scenes)
	if err != nil {
		return nil, err
	}
	return m.head.Forward(tp, vlm.Reshape(tp, tok, -1, tok.Shape[2])), nil
}

// visionLoss is the cross-entropy of every cell's class: the encoder
// learns what is where, as a stand-in for CLIP's pretraining.
func (m *model) visionLoss(tp *vlm.Tape, rng *rand.Rand, scenes []*scene.Scene) (*vlm.Tensor, error) {
	logits, err := m.visionLogits(tp, scenes)
	if err != nil {
		return nil, err
	}
	var targets []int
	for _, s := range scenes {
		for _, c := range cellClasses(s, m.side(s)) {
			if c == background && rng.IntN(4) != 0 {
				c = vlm.IgnoreIndex // most cells are empty: learn from a quarter of them
			}
			targets = append(targets, c)
		}
	}
	return vlm.CrossEntropy(tp, logits, targets, 0), nil
}

// visionAccuracy returns the share of held-out objects whose image token
// (the one holding the object's centre) gets the object's colour-shape
// pair, and the share of scenes whose every token is right.
func (m *model) visionAccuracy(scenes []*scene.Scene) (objects, whole float64, err error) {
	var objRight, objCount, sceneRight int
	for lo := 0; lo < len(scenes); lo += 100 {
		chunk := scenes[lo:min(lo+100, len(scenes))]
		logits, err := m.visionLogits(nil, chunk)
		if err != nil {
			return 0, 0, err
		}
		n, cells := logits.Shape[1], logits.Shape[0]/len(chunk)
		for i, s := range chunk {
			all := true
			for c, want := range cellClasses(s, m.side(s)) {
				row := logits.Data[(i*cells+c)*n : (i*cells+c+1)*n]
				ok := true
				for _, v := range row {
					ok = ok && v <= row[want]
				}
				all = all && ok
				if want != background {
					objCount++
					if ok {
						objRight++
					}
				}
			}
			if all {
				sceneRight++
			}
		}
	}
	return float64(objRight) / float64(objCount), float64(sceneRight) / float64(len(scenes)), nil
}

// features returns the frozen encoder's image tokens of every scene.
func (m *model) features(scenes []*scene.Scene) (*vlm.Tensor, error) {
	var parts []*vlm.Tensor
	for lo := 0; lo < len(scenes); lo += 100 {
		t, err := m.gridTokens(nil, scenes[lo:min(lo+100, len(scenes))])
		if err != nil {
			return nil, err
		}
		parts = append(parts, t)
	}
	return vlm.Concat(nil, 0, parts...), nil
}

// train runs cfg.Steps[stage] steps of AdamW with warmup and cosine decay on the
// trainable parameters of mods, printing progress, and returns the loss
// of every step. Each stage draws its batches from its own generator, so
// that skipping one leaves the others' batches unchanged.
func (m *model) train(ctx context.Context, cfg config, w io.Writer, stage int, mods vlm.Module, loss func(*vlm.Tape, *rand.Rand) (*vlm.Tensor, error)) ([]float64, error) {
	rng := vlm.NewRand(cfg.Seed + 100 + uint64(stage))
	opt := vlm.NewAdamW(cfg.LR[stage])
	steps := cfg.Steps[stage]
	sched := vlm.CosineSchedule{Peak: cfg.LR[stage], Min: cfg.LR[stage] / 20, Warmup: cfg.Warmup, Total: steps}
	losses := make([]float64, 0, steps)
	t0 := time.Now()
	report := 1 // the next progress line
	for step := range steps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		tp := vlm.NewTape()
		l, err := loss(tp, rng)
		if err != nil {
			return nil, err
		}
		if err := tp.Backward(l); err != nil {
			return nil, err
		}
		vlm.ClipGradNorm(mods, 1)
		opt.LR = sched.LR(step)
		opt.Step(mods)
		vlm.ZeroGrad(mods)
		losses = append(losses, float64(l.Data[0]))
		if (step+1)*max(cfg.Progress, 1) >= report*steps {
			report++
			recent := losses[max(0, len(losses)-steps/max(cfg.Progress, 1)):]
			mean := 0.0
			for _, v := range recent {
				mean += v / float64(len(recent))
			}
			fmt.Fprintf(w, "  %-13s step %4d/%d  loss %.3f  %.1f steps/s\n", stageNames[stage], step+1, steps, mean, float64(step+1)/time.Since(t0).Seconds())
		}
	}
	return losses, nil
}

// words returns the ids of text.
func (m *model) words(text string) []int { return m.vocab.Encode(text) }

// turns returns up to k distinct questions of training scene i, in a
// random order.
func turns(rng *rand.Rand, d *data, i, k int) []scene.QA {
	qa := d.trainQA[i]
	out := make([]scene.QA, 0, k)
	for _, j := range rng.Perm(len(qa))[:min(k, len(qa))] {
		out = append(out, qa[j])
	}
	return out
}

// textLoss is stage 0's loss, language-model pretraining: documents
// "<bos> caption . question ? answer . question ? answer <eos>" packed
// one after another into rows of cfg.Context tokens from a random offset
// (so that any text may sit at any position, as in real pretraining),
// every token a target.
func (m *model) textLoss(tp *vlm.Tape, rng *rand.Rand, d *data, cfg config) (*vlm.Tensor, error) {
	rows := make([][]int, cfg.Batch)
	for i := range rows {
		var seq []int
		for len(seq) < 2*cfg.Context {
			k := rng.IntN(len(d.train))
			caps := d.train[k].Captions()
			seq = append(seq, scene.BOSID)
			seq = append(seq, m.words(caps[rng.IntN(len(caps))].Text)...)
			for _, qa := range turns(rng, d, k, cfg.Turns) {
				seq = append(append(seq, m.dot), m.words(qa.Question)...)
				seq = append(seq, m.vocab.ID(qa.Answer))
			}
			seq = append(seq, scene.EOSID)
		}
		off := rng.IntN(cfg.Context)
		rows[i] = seq[off : off+cfg.Context]
	}
	loss, _, err := m.lm.Loss(tp, &lm.Input{IDs: rows}, rows)
	return loss, err
}

// multimodalLoss splices the projected features feats [B, N, C] into
// ids at their placeholder and returns the language model's loss on
// labels.
func (m *model) multimodalLoss(tp *vlm.Tape, feats *vlm.Tensor, ids, labels [][]int) (*vlm.Tensor, error) {
	f, err := m.proj.Forward(tp, feats)
	if err != nil {
		return nil, err
	}
	images, err := projector.Unbind(tp, f)
	if err != nil {
		return nil, err
	}
	samples := make([]projector.Sample, len(ids))
	for i := range ids {
		samples[i] = projector.Sample{IDs: ids[i], Images: images[i : i+1], Labels: labels[i]}
	}
	b, err := projector.Splice(tp, m.lm.EmbedTokens, samples, nil)
	if err != nil {
		return nil, err
	}
	loss, _, err := m.lm.Loss(tp, &lm.Input{Embeds: b.Embeds, Mask: b.Mask, Positions: b.Positions}, b.Labels)
	return loss, err
}

// alignLoss is stage 1's loss on LLaVA's "plain" template,
// "<bos> <image> caption <eos>", the caption the target.
func (m *model) alignLoss(tp *vlm.Tape, rng *rand.Rand, d *data, cfg config) (*vlm.Tensor, error) {
	idx := make([]int, cfg.Batch)
	ids := make([][]int, cfg.Batch)
	labels := make([][]int, cfg.Batch)
	for i := range idx {
		idx[i] = rng.IntN(len(d.train))
		caps := d.train[idx[i]].Captions()
		seq := append([]int{scene.BOSID, projector.ImageToken}, m.words(caps[rng.IntN(len(caps))].Text)...)
		ids[i] = append(seq, scene.EOSID)
		labels[i] = projector.PromptLabels(ids[i], 2)
	}
	return m.multimodalLoss(tp, vlm.Gather(nil, d.trainF, 0, idx), ids, labels)
}

// tuneLoss is stage 2's loss on conversations "<bos> <image> . question
// ? answer . question ? answer ... <eos>" (LLaVA's "<image>\n" and
// turns), only the answers and <eos> targets, as LLaVA trains only on
// the assistant's replies.
func (m *model) tuneLoss(tp *vlm.Tape, rng *rand.Rand, d *data, cfg config) (*vlm.Tensor, error) {
	idx := make([]int, cfg.Batch)
	ids := make([][]int, cfg.Batch)
	labels := make([][]int, cfg.Batch)
	for i := range idx {
		idx[i] = rng.IntN(len(d.train))
		seq := []int{scene.BOSID, projector.ImageToken}
		for _, qa := range turns(rng, d, idx[i], cfg.Turns) {
			seq = append(append(seq, m.dot), m.words(qa.Question)...)
			labels[i] = append(labels[i], ignore(len(seq)-len(labels[i]))...)
			seq = append(seq, m.vocab.ID(qa.Answer))
			labels[i] = append(labels[i], m.vocab.ID(qa.Answer))
		}
		ids[i] = append(seq, scene.EOSID)
		labels[i] = append(labels[i], scene.EOSID)
	}
	return m.multimodalLoss(tp, vlm.Gather(nil, d.trainF, 0, idx), ids, labels)
}

// ignore returns n labels -100.
func ignore(n int) []int {
	l := make([]int, n)
	for i := range l {
		l[i] = vlm.IgnoreIndex
	}
	return l
}

// prompt returns the ids of "<bos> <image> . question ?".
func (m *model) prompt(question string) []int {
	return append([]int{scene.BOSID, projector.ImageToken, m.dot}, m.words(question)...)
}

// answers generates, greedily, the first answer token of every held-out
// question, in left-padded batches.
func (m *model) answers(ctx context.Context, d *data) ([]int, error) {
	out := make([]int, 0, len(d.testQ))
	const batch = 128
	for lo := 0; lo < len(d.testQ); lo += batch {
		qs := d.testQ[lo:min(lo+batch, len(d.testQ))]
		idx := make([]int, len(qs))
		for i, q := range qs {
			idx[i] = q.Scene
		}
		f, err := m.proj.Forward(nil, vlm.Gather(nil, d.testF, 0, idx))
		if err != nil {
			return nil, err
		}
		images, err := projector.Unbind(nil, f)
		if err != nil {
			return nil, err
		}
		samples := make([]projector.Sample, len(qs))
		for i, q := range qs {
			samples[i] = projector.Sample{IDs: m.prompt(q.Question), Images: images[i : i+1]}
		}
		b, err := projector.Splice(nil, m.lm.EmbedTokens, samples, &projector.SpliceOptions{Side: attention.Left})
		if err != nil {
			return nil, err
		}
		gen, err := m.lm.Generate(ctx, &lm.Input{Embeds: b.Embeds, Mask: b.Mask, Positions: b.Positions}, &lm.GenerateOptions{MaxNewTokens: 1})
		if err != nil {
			return nil, err
		}
		for _, g := range gen {
			out = append(out, g[0])
		}
	}
	return out, nil
}

// reading returns the held-out accuracy of the language model given the
// true caption instead of the picture: "<bos> caption . question ?".
func (m *model) reading(ctx context.Context, d *data) (float64, error) {
	right := 0
	const batch = 128
	for lo := 0; lo < len(d.testQ); lo += batch {
		qs := d.testQ[lo:min(lo+batch, len(d.testQ))]
		prompts := make([][]int, len(qs))
		for i, q := range qs {
			p := append([]int{scene.BOSID}, m.words(d.test[q.Scene].Caption().Text)...)
			prompts[i] = append(append(p, m.dot), m.words(q.Question)...)
		}
		gen, err := m.lm.Generate(ctx, lm.LeftPad(prompts, scene.PadID), &lm.GenerateOptions{MaxNewTokens: 1})
		if err != nil {
			return 0, err
		}
		for i, g := range gen {
			if g[0] == m.vocab.ID(qs[i].Answer) {
				right++
			}
		}
	}
	return float64(right) / float64(len(d.testQ)), nil
}

// evaluate measures the held-out accuracy after stage s (0, 1, 2), prints
// it and returns the answers.
func (m *model) evaluate(ctx context.Context, d *data, res *result, s int, w io.Writer) ([]int, error) {
	ans, err := m.answers(ctx, d)
	if err != nil {
		return nil, err
	}
	res.Acc[s] = scoreOf(d, func(i int, q question) float64 { return b2f(ans[i] == m.vocab.ID(q.Answer)) })
	caps, err := m.captions(ctx, d)
	if err != nil {
		return nil, err
	}
	named := 0
	for i, c := range caps {
		if objectsNamed(c) == objectsNamed(d.test[i].Caption().Text) {
			named++
		}
	}
	res.Captions[s] = float64(named) / float64(len(caps))
	res.Caption[s] = caps
	fmt.Fprintf(w, "  held-out after stage %d: answers right %.1f%%, captions naming exactly the picture's objects %.1f%%\n", s, 100*res.Acc[s].All, 100*res.Captions[s])
	return ans, nil
}

// objectsNamed returns the colour-shape pairs a caption names, sorted
// and joined: "blue square, red circle".
func objectsNamed(caption string) string {
	words := strings.Fields(caption)
	var names []string
	for i := 0; i+1 < len(words); i++ {
		for _, c := range scene.AllColors() {
			for _, sh := range shapes {
				if words[i] == c.String() && words[i+1] == sh.String() {
					names = append(names, words[i]+" "+words[i+1])
				}
			}
		}
	}
	slices.Sort(names)
	return strings.Join(slices.Compact(names), ", ")
}

// captions generates a caption for every held-out picture, greedily,
// from the prompt "<bos> <image>" of stage 1.
func (m *model) captions(ctx context.Context, d *data) ([]string, error) {
	out := make([]string, 0, len(d.test))
	const batch = 128
	for lo := 0; lo < len(d.test); lo += batch {
		n := min(batch, len(d.test)-lo)
		f, err := m.proj.Forward(nil, vlm.Slice(nil, d.testF, 0, lo, lo+n))
		if err != nil {
			return nil, err
		}
		images, err := projector.Unbind(nil, f)
		if err != nil {
			return nil, err
		}
		samples := make([]projector.Sample, n)
		for i := range samples {
			samples[i] = projector.Sample{IDs: []int{scene.BOSID, projector.ImageToken}, Images: images[i : i+1]}
		}
		b, err := projector.Splice(nil, m.lm.EmbedTokens, samples, &projector.SpliceOptions{Side: attention.Left})
		if err != nil {
			return nil, err
		}
		gen, err := m.lm.Generate(ctx, &lm.Input{Embeds: b.Embeds, Mask: b.Mask, Positions: b.Positions},
			&lm.GenerateOptions{MaxNewTokens: 16, Stop: []int{scene.EOSID}})
		if err != nil {
			return nil, err
		}
		for _, g := range gen {
			out = append(out, m.vocab.Decode(g))
		}
	}
	return out, nil
}

// baselines returns the held-out accuracy of answering every question with
// a uniformly random answer of its type (chance) and with its type's most
// frequent training answer.
func baselines(d *data) (chance, prior score) {
	var freq [5]map[string]int
	for k := range freq {
		freq[k] = map[string]int{}
	}
	for _, qa := range d.trainQA {
		for _, q := range qa {
			freq[q.Kind][q.Answer]++
		}
	}
	var best [5]string
	for k, f := range freq {
		for a, n := range f {
			if n > f[best[k]] || n == f[best[k]] && a < best[k] {
				best[k] = a
			}
		}
	}
	chance = scoreOf(d, func(_ int, q question) float64 { return 1 / float64(max(len(freq[q.Kind]), 1)) })
	prior = scoreOf(d, func(_ int, q question) float64 { return b2f(q.Answer == best[q.Kind]) })
	return chance, prior
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// pictures writes the loss curves and a grid of held-out pictures with a
// question each and the answers of the final model.
func (m *model) pictures(cfg config, d *data, res *result, answers []int) ([]string, error) {
	var series []viz.Series
	off := 0
	for s, l := range res.Loss {
		x := make([]float64, len(l))
		for i := range x {
			x[i] = float64(off + i)
		}
		off += len(l)
		series = append(series, viz.Series{Name: stageNames[s], X: x, Y: smooth(l, 10)})
	}
	chart := viz.Chart{Title: "tiny LLaVA: training loss per stage", XLabel: "step", YLabel: "loss", Series: series, LogY: true}
	lossPath := filepath.Join(cfg.Out, "loss.png")
	if err := viz.WritePNG(lossPath, chart.Render()); err != nil {
		return nil, err
	}
	n := min(cfg.Pictures, len(d.testQ))
	var panels []viz.Panel
	for k := range n {
		i := k * len(d.testQ) / n
		q := d.testQ[i]
		verdict := "right"
		if answers[i] != m.vocab.ID(q.Answer) {
			verdict = "wrong, truth " + q.Answer
		}
		panels = append(panels, viz.Panel{
			Image: d.test[q.Scene].Render(),
			Label: fmt.Sprintf("%s -> %s (%s)", q.Question, m.vocab.Word(answers[i]), verdict),
		})
	}
	title := fmt.Sprintf("held-out questions after stage 2 (accuracy %.1f%%)", 100*res.Acc[2].All)
	gridPath := filepath.Join(cfg.Out, "answers.png")
	if err := viz.WritePNG(gridPath, viz.Grid(panels, viz.GridOptions{Cols: 4, Cell: 128, Title: title})); err != nil {
		return nil, err
	}
	return []string{lossPath, gridPath}, nil
}

// smooth returns the running mean of the last k values at every step.
func smooth(v []float64, k int) []float64 {
	out := make([]float64, len(v))
	var sum float64
	for i, x := range v {
		sum += x
		if i >= k {
			sum -= v[i-k]
		}
		out[i] = sum / float64(min(i+1, k))
	}
	return out
}
