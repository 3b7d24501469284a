// Command flamingo trains a tiny Flamingo on synthetic shape scenes and
// shows its gates opening and its few-shot prompts beating zero-shot.
//
//	go run ./examples/flamingo [-steps 1200] [-seed 1] [-out flamingo-out]
//
// Everything is built in-process, in four stages:
//
//  1. Vision: the encoder package's CNN (32×32 pixels → 4×4 tokens of 64
//     features, plus a fixed 2-D Fourier code of the grid cell) is pretrained on
//     a dense task — name the colour and shape of the object covering each
//     grid cell — and frozen, standing in for Flamingo's contrastively
//     pretrained NFNet. Its tokens are computed once per scene.
//  2. Language: a two-layer OPT-style decoder (the lm package) is
//     pretrained on text alone: episodes in OpenFlamingo's format
//     "<image> text <|endofchunk|>" ×3 whose texts describe random scenes in
//     one of three styles per episode — a caption ("a red circle left of a
//     blue square"), the colours ("red blue") or the shapes ("circle
//     square") — and frozen. It learns the format and to keep an episode's
//     style; it cannot know what is in the pictures.
//  3. Flamingo: a Perceiver resampler (16 tokens → 8 latents) and a gated
//     cross-attention block before each LM layer (open_flamingo's
//     placement, immediate-image masks) are trained on the same episodes
//     with the pictures, the LM and the vision encoder frozen (gating's
//     FrozenLM recipe). The gates start at tanh(0) = 0, so step 0 is the
//     language model alone; being single scalars that must open before
//     their blocks matter, they get 20× the learning rate (no weight
//     decay). gates.png shows tanh(attn_gate) and tanh(ff_gate) per layer
//     during training, loss.png both training losses.
//  4. Evaluation on held-out scenes: zero-shot ("<image>" and the query
//     picture) against few-shot (two pictures with their texts in the
//     episode's style, then the query picture), greedy decoding with a KV
//     cache and cached media, scored by exact match and word F1 against
//     the query's text in the episode's style. A zero-shot prompt does not
//     say which style is wanted; the shots do, as the shots of Flamingo's
//     few-shot prompts specify the task. fewshot.png shows prompts and
//     answers.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/examples/internal/scene"
	"github.com/govlm/vlm/examples/internal/viz"
	"github.com/govlm/vlm/gating"
	"github.com/govlm/vlm/lm"
	"github.com/govlm/vlm/resampler"
)

// config sizes a run; defaultConfig takes about two minutes on two cores.
type config struct {
	Seed        uint64
	Out         string // directory for the pictures; "" writes none
	VisionSteps int
	LMSteps     int
	Steps       int // Flamingo training steps
	Batch       int // episodes (vision: scenes ×2) per step
	TrainScenes int
	TestScenes  int
	Eval        int     // held-out episodes per style
	Dim         int     // width of the language model (the vision tokens are 64 wide)
	LR          float64 // peak learning rate of the Flamingo stage
	GateLRMult  float64 // the gates' learning rate is GateLRMult·LR
}

func defaultConfig() config {
	return config{Seed: 1, Out: "flamingo-out", VisionSteps: 400, LMSteps: 200, Steps: 1200, Batch: 16,
		TrainScenes: 3000, TestScenes: 300, Eval: 40, Dim: 64, LR: 5e-3, GateLRMult: 20}
}

// result is what a run measured.
type result struct {
	LMLoss, Loss []float64   // per step, language pretraining and Flamingo training
	Gates        [][]float64 // per logged step: tanh(attn_gate), tanh(ff_gate) of each block
	GateSteps    []float64
	VisionAcc    float64
	Zero, Few    score
}

// score is the quality of greedy answers to held-out prompts, against
// the query's text in the episode's style.
type score struct {
	Exact float64 // the answer is the text
	F1    float64 // word-level F1 of the answer and the text (SQuAD's)
}

func main() {
	cfg := defaultConfig()
	flag.IntVar(&cfg.Steps, "steps", cfg.Steps, "Flamingo training steps")
	flag.IntVar(&cfg.LMSteps, "lm-steps", cfg.LMSteps, "language-model pretraining steps")
	flag.IntVar(&cfg.VisionSteps, "vision-steps", cfg.VisionSteps, "vision-encoder pretraining steps")
	flag.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "random seed")
	flag.StringVar(&cfg.Out, "out", cfg.Out, "directory for the pictures")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if _, err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "flamingo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config, w io.Writer) (*result, error) {
	start := time.Now()
	res := &result{}
	c, err := newCorpus(cfg.TrainScenes, cfg.TestScenes, cfg.Seed)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "%d training and %d held-out scenes, vocabulary of %d words\n", len(c.train.items), len(c.test.items), c.vocab.Len())

	// 1. Vision encoder, pretrained and frozen.
	vis, err := newVision(cfg.Seed + 10)
	if err != nil {
		return nil, err
	}
	if res.VisionAcc, err = pretrainVision(ctx, vis, c.train, c.test, cfg.VisionSteps, 2*cfg.Batch, cfg.Seed+11, w); err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "vision encoder: %.1f%% of held-out objects named; frozen\n", 100*res.VisionAcc)
	for _, d := range []*dataset{c.train, c.test} {
		if err := encodeAll(vis, d); err != nil {
			return nil, err
		}
	}

	// 2. Language model, pretrained on text and frozen.
	model, err := lm.New(vlm.NewRand(cfg.Seed+20), lm.Config{
		Vocab: c.vocab.Len(), Dim: cfg.Dim, Layers: 2, Heads: 4, MaxPositions: 64, PadID: scene.PadID,
	})
	if err != nil {
		return nil, err
	}
	if res.LMLoss, err = pretrainLM(ctx, model, c, cfg, w); err != nil {
		return nil, err
	}

	// 3. Resampler and gated blocks on image-text episodes.
	rs, err := resampler.New(vlm.NewRand(cfg.Seed+30), resampler.Config{Dim: vis.cnn.Dim(), Depth: 2, Heads: 4, HeadDim: 16, Latents: 8})
	if err != nil {
		return nil, err
	}
	gated, err := gating.NewStack(vlm.NewRand(cfg.Seed+31), gating.Config{Dim: cfg.Dim, MediaDim: vis.cnn.Dim(), Heads: 4, HeadDim: 16}, len(model.Layers), 1, gating.Before)
	if err != nil {
		return nil, err
	}
	f := &flamingo{vision: vis, resampler: rs, lm: model, gated: gated, image: c.image}
	if err := f.parts().Freeze(gating.FrozenLM); err != nil {
		return nil, err
	}
	fmt.Fprintln(w, "parameters    total  trainable")
	for _, n := range f.parts().Count() {
		fmt.Fprintf(w, "  %-10s %7d %9d\n", n.Name, n.Total, n.Trainable)
	}
	if err := train(ctx, f, c, cfg, res, w); err != nil {
		return nil, err
	}

	// 4. Zero- and few-shot answers on held-out scenes.
	examples, err := evaluate(f, c, cfg, res)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "held-out, %d prompts: exact match zero-shot %.1f%%, few-shot %.1f%%; word F1 zero-shot %.1f%%, few-shot %.1f%%\n",
		cfg.Eval*int(numStyles), 100*res.Zero.Exact, 100*res.Few.Exact, 100*res.Zero.F1, 100*res.Few.F1)
	attn, ff := gated.Gates()
	fmt.Fprintf(w, "gates after training: tanh(attn_gate) %s, tanh(ff_gate) %s\n", floats(attn), floats(ff))
	if cfg.Out != "" {
		if err := pictures(cfg.Out, res, gated, examples); err != nil {
			return nil, err
		}
		fmt.Fprintf(w, "wrote %s\n", filepath.Join(cfg.Out, "{gates,loss,fewshot}.png"))
	}
	fmt.Fprintf(w, "done in %.0fs\n", time.Since(start).Seconds())
	return res, nil
}

// pretrainLM trains m on the text of random training episodes.
func pretrainLM(ctx context.Context, m *lm.Model, c *corpus, cfg config, w io.Writer) ([]float64, error) {
	rng := vlm.NewRand(cfg.Seed + 21)
	opt := vlm.NewAdamW(3e-3)
	sched := vlm.CosineSchedule{Peak: 3e-3, Min: 3e-4, Warmup: cfg.LMSteps / 10, Total: cfg.LMSteps}
	var losses []float64
	for step := range cfg.LMSteps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		eps := make([]episode, cfg.Batch)
		for i := range eps {
			eps[i] = randomEpisode(rng, c.train, 3)
		}
		ids, _, _ := c.batch(c.train, eps)
		labels := make([][]int, len(ids))
		for i, row := range ids {
			labels[i] = make([]int, len(row))
			for j, id := range row {
				labels[i][j] = id
				if id == c.image || id == scene.PadID {
					labels[i][j] = vlm.IgnoreIndex
				}
			}
		}
		tp := vlm.NewTape()
		loss, _, err := m.Loss(tp, &lm.Input{IDs: ids}, labels)
		if err != nil {
			return nil, err
		}
		if err := tp.Backward(loss); err != nil {
			return nil, err
		}
		opt.LR = sched.LR(step)
		opt.Step(m)
		vlm.ZeroGrad(m)
		losses = append(losses, float64(loss.Data[0]))
		if step%50 == 0 || step == cfg.LMSteps-1 {
			fmt.Fprintf(w, "language   step %4d  loss %.3f\n", step, loss.Data[0])
		}
	}
	return losses, nil
}

// train trains the resampler and the gated blocks of f on image-text
// episodes, logging the gates.
func train(ctx context.Context, f *flamingo, c *corpus, cfg config, res *result, w io.Writer) error {
	rng := vlm.NewRand(cfg.Seed + 32)
	// The gates are scalars that must open before their blocks matter;
	// they get GateLRMult times the learning rate and no weight decay.
	isGate := func(name string) bool { return strings.HasSuffix(name, "_gate") }
	gates, rest := filtered{f, isGate}, filtered{f, func(n string) bool { return !isGate(n) }}
	opt, optGates := vlm.NewAdamW(cfg.LR), vlm.NewAdamW(cfg.LR*cfg.GateLRMult)
	optGates.WeightDecay = 0
	sched := vlm.CosineSchedule{Peak: cfg.LR, Min: cfg.LR / 10, Warmup: cfg.Steps / 10, Total: cfg.Steps}
	logGates := func(step int) {
		attn, ff := f.gated.Gates()
		res.Gates = append(res.Gates, append(attn, ff...))
		res.GateSteps = append(res.GateSteps, float64(step))
	}
	for step := range cfg.Steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if step%5 == 0 {
			logGates(step)
		}
		eps := make([]episode, cfg.Batch)
		for i := range eps {
			eps[i] = randomEpisode(rng, c.train, 3)
		}
		ids, targets, feats := c.batch(c.train, eps)
		tp := vlm.NewTape()
		logits, err := f.logits(tp, ids, feats)
		if err != nil {
			return err
		}
		loss := vlm.CrossEntropy(tp, vlm.Reshape(tp, logits, len(targets), c.vocab.Len()), targets, 0)
		if err := tp.Backward(loss); err != nil {
			return err
		}
		opt.LR, optGates.LR = sched.LR(step), sched.LR(step)*cfg.GateLRMult
		opt.Step(rest)
		optGates.Step(gates)
		vlm.ZeroGrad(f)
		res.Loss = append(res.Loss, float64(loss.Data[0]))
		if step%50 == 0 || step == cfg.Steps-1 {
			attn, ff := f.gated.Gates()
			fmt.Fprintf(w, "flamingo   step %4d  loss %.3f  tanh(attn_gate) %s  tanh(ff_gate) %s\n", step, loss.Data[0], floats(attn), floats(ff))
		}
	}
	logGates(cfg.Steps)
	return nil
}

// example is one held-out prompt with its answers, for the picture.
type example struct {
	shots     [2]item
	query     item
	style     style
	zero, few string
}

// evaluate answers cfg.Eval held-out episodes per style zero-shot and
// few-shot and returns two examples per style.
func evaluate(f *flamingo, c *corpus, cfg config, res *result) ([]example, error) {
	rng := vlm.NewRand(cfg.Seed + 40)
	var examples []example
	n := 0
	for st := range numStyles {
		for k := range cfg.Eval {
			e := randomEpisode(rng, c.test, 3)
			e.style = st
			query := c.test.items[e.items[2]]
			want := query.text(st)
			var answers [2]string
			for i, shots := range []episode{{items: e.items[2:], style: st}, e} {
				out, err := f.generate(c.ids(c.test, shots, true), gather(c.test.feats, []episode{shots}), c.chunk, 12)
				if err != nil {
					return nil, err
				}
				answers[i] = c.vocab.Decode(out)
				sc := &res.Zero
				if i == 1 {
					sc = &res.Few
				}
				if answers[i] == want {
					sc.Exact++
				}
				sc.F1 += f1(strings.Fields(answers[i]), strings.Fields(want))
			}
			n++
			if k < 2 {
				examples = append(examples, example{
					shots: [2]item{c.test.items[e.items[0]], c.test.items[e.items[1]]},
					query: query, style: st, zero: answers[0], few: answers[1],
				})
			}
		}
	}
	for _, sc := range []*score{&res.Zero, &res.Few} {
		sc.Exact /= float64(n)
		sc.F1 /= float64(n)
	}
	return examples, nil
}

// f1 is the harmonic mean of the precision and the recall of the words
// of got against want, counted as multisets.
func f1(got, want []string) float64 {
	count := map[string]int{}
	for _, w := range want {
		count[w]++
	}
	common := 0
	for _, g := range got {
		if count[g] > 0 {
			count[g]--
			common++
		}
	}
	if common == 0 {
		return 0
	}
	p, r := float64(common)/float64(len(got)), float64(common)/float64(len(want))
	return 2 * p * r / (p + r)
}

// pictures writes gates.png, loss.png and fewshot.png into dir.
func pictures(dir string, res *result, gated *gating.Stack, examples []example) error {
	layers := gated.Layers()
	var series []viz.Series
	for j, name := range []string{"attn", "ff"} {
		for k, l := range layers {
			s := viz.Series{Name: fmt.Sprintf("tanh(%s_gate) layer %d", name, l), X: res.GateSteps}
			for _, g := range res.Gates {
				s.Y = append(s.Y, g[j*len(layers)+k])
			}
			series = append(series, s)
		}
	}
	gates := viz.Chart{Title: "Gates opening: tanh of each gated block's gates", XLabel: "training step", YLabel: "tanh(gate)", Series: series}
	if err := viz.WritePNG(filepath.Join(dir, "gates.png"), gates.Render()); err != nil {
		return err
	}
	loss := viz.Chart{Title: "Training loss", XLabel: "step", YLabel: "cross-entropy", LogY: true, Series: []viz.Series{
		{Name: "language model (text only)", Y: res.LMLoss},
		{Name: "Flamingo (resampler + gated blocks)", Y: res.Loss},
	}}
	if err := viz.WritePNG(filepath.Join(dir, "loss.png"), loss.Render()); err != nil {
		return err
	}
	var panels []viz.Panel
	for _, ex := range examples {
		panels = append(panels,
			viz.Panel{Image: ex.shots[0].scene.Render(), Label: ex.shots[0].text(ex.style)},
			viz.Panel{Image: ex.shots[1].scene.Render(), Label: ex.shots[1].text(ex.style)},
			viz.Panel{Image: ex.query.scene.Render(), Label: "? (" + ex.query.text(ex.style) + ")"},
			viz.Panel{Label: "0-shot: " + ex.zero + " / 2-shot: " + ex.few},
		)
	}
	grid := viz.Grid(panels, viz.GridOptions{Cols: 4, Cell: 128, Title: "Two shots, then the query: zero-shot sees only the query"})
	return viz.WritePNG(filepath.Join(dir, "fewshot.png"), grid)
}

// filtered is the parameters of m whose names keep accepts.
type filtered struct {
	m    vlm.Module
	keep func(string) bool
}

func (f filtered) VisitParams(prefix string, visit func(string, *vlm.Param)) {
	f.m.VisitParams(prefix, func(name string, p *vlm.Param) {
		if f.keep(name) {
			visit(name, p)
		}
	})
}

func floats(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.3f", x)
	}
	return "[" + strings.Join(parts, " ") + "]"
}
