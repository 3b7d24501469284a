package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/encoder"
	"github.com/govlm/vlm/examples/internal/scene"
)

// data holds the scenes, their texts and their frozen image features.
type data struct {
	vocab          *scene.Vocab
	dec            int // id of [DEC]
	train, gallery []*scene.Scene
	// trainTexts[i] are the paraphrases of training scene i as ids
	// between <bos> ([CLS]) and <eos> ([SEP]); trainGroup[i] numbers its
	// canonical caption, so that scenes with the same caption are
	// positives of each other.
	trainTexts [][][]int
	trainGroup []int
	// single and double index the training scenes of one and of two
	// objects.
	single, double []int
	// galleryTexts[i] is the canonical caption of gallery scene i.
	galleryTexts [][]int
	// The image tokens of the frozen encoder, [n, grid², tokenWidth].
	trainFeat, galleryFeat *vlm.Tensor
}

// The picture and the frozen encoder: 32×32 scenes of one or two shapes;
// a CNN of two stages turns them into an 8×8 grid of 32 features. Each
// cell becomes an image token of those features, the probabilities of
// the stage-0 cell classifier, and 16 sine/cosine channels of the cell's
// position (a ViT's image tokens carry position embeddings; the
// Q-Former's cross-attention has none of its own).
const (
	imageSize   = 32
	grid        = 8
	posChannels = 16
	shapes      = 3 // circle, square, triangle: the generator's default
)

var (
	cnnChannels = []int{16, 32}
	classes     = 1 + len(scene.AllColors())*shapes // background + colour-shape
	tokenWidth  = cnnChannels[len(cnnChannels)-1] + classes + posChannels
)

// frozenEncoder is the image encoder of stage 1: the CNN and its cell
// classifier from stage 0, frozen.
type frozenEncoder struct {
	cnn  *encoder.CNN
	head *vlm.Linear
}

// newData draws the scenes: cfg.Train for training and a gallery of
// cfg.Gallery held-out scenes whose canonical captions are all distinct.
func newData(cfg config) (*data, error) {
	gen, err := scene.NewGenerator(scene.Config{Width: imageSize, Height: imageSize, MaxObjects: 2})
	if err != nil {
		return nil, err
	}
	// Split numbers the scenes of seed s from s on, two apart: seeds 1
	// and 3 would share all but one scene. Spread the seeds out so that
	// every -seed draws scenes of its own.
	base := cfg.Seed << 32
	d := &data{}
	d.train, _ = gen.Split(cfg.Train, 0, base)
	_, held := gen.Split(0, 20*cfg.Gallery, base)
	// In reading order, a scene has one canonical caption; otherwise a
	// gallery of distinct captions could hold one scene twice, and two
	// training scenes showing the same thing would be contrastive
	// negatives of each other.
	for _, s := range slices.Concat(d.train, held) {
		s.ReadingOrder()
	}
	seen := map[string]bool{}
	for _, s := range held {
		if c := s.Caption().Text; !seen[c] && len(d.gallery) < cfg.Gallery {
			seen[c] = true
			d.gallery = append(d.gallery, s)
		}
	}
	if len(d.gallery) < cfg.Gallery {
		return nil, fmt.Errorf("found %d held-out scenes with distinct captions, want %d", len(d.gallery), cfg.Gallery)
	}
	var corpus []string
	for _, s := range d.train {
		for _, c := range s.Captions() {
			corpus = append(corpus, c.Text)
		}
	}
	d.vocab = scene.NewVocab(corpus, 1, "[DEC]")
	d.dec = d.vocab.ID("[DEC]")
	groups := map[string]int{}
	for i, s := range d.train {
		if len(s.Objects) == 1 {
			d.single = append(d.single, i)
		} else {
			d.double = append(d.double, i)
		}
		var texts [][]int
		for _, c := range s.Captions() {
			texts = append(texts, scene.Wrap(d.vocab.Encode(c.Text)))
		}
		d.trainTexts = append(d.trainTexts, texts)
		c := s.Caption().Text
		if _, ok := groups[c]; !ok {
			groups[c] = len(groups)
		}
		d.trainGroup = append(d.trainGroup, groups[c])
	}
	for _, s := range d.gallery {
		d.galleryTexts = append(d.galleryTexts, scene.Wrap(d.vocab.Encode(s.Caption().Text)))
	}
	return d, nil
}

// draw picks a training scene, one of two objects four times in five: a
// gallery of distinct captions holds at most 18 one-object scenes (one
// per colour-shape) and the rest have two objects, while half of the
// generated scenes have one.
func (d *data) draw(rng *rand.Rand) int {
	if len(d.single) == 0 || len(d.double) > 0 && rng.IntN(5) != 0 {
		return d.double[rng.IntN(len(d.double))]
	}
	return d.single[rng.IntN(len(d.single))]
}

// cellLabels returns, for each of the grid×grid cells of a scene, the
// stage-0 target that teaches the CNN what is where: 1 + the colour-shape
// class of the object whose centre lies in the cell, IgnoreIndex for the
// other cells the object's box touches, 0 (background) elsewhere.
func cellLabels(s *scene.Scene) []int {
	cell := float64(imageSize) / grid
	labels := make([]int, grid*grid)
	for _, o := range s.Objects {
		b := o.Box()
		for gy := max(0, int(float64(b.Min.Y)/cell)); gy <= min(grid-1, int(float64(b.Max.Y-1)/cell)); gy++ {
			for gx := max(0, int(float64(b.Min.X)/cell)); gx <= min(grid-1, int(float64(b.Max.X-1)/cell)); gx++ {
				labels[gy*grid+gx] = vlm.IgnoreIndex
			}
		}
	}
	for _, o := range s.Objects {
		gx, gy := min(int(o.X/cell), grid-1), min(int(o.Y/cell), grid-1)
		labels[gy*grid+gx] = 1 + int(o.Color)*shapes + int(o.Shape)
	}
	return labels
}

// pretrainEncoder is stage 0: the CNN and a linear head learn to classify
// every grid cell (background or one of the colour-shape classes) on the
// training scenes; the head is then dropped and the CNN frozen, standing
// in for BLIP-2's frozen, pre-trained image encoder.
func pretrainEncoder(ctx context.Context, cfg config, d *data, rng *rand.Rand, w io.Writer) (*frozenEncoder, error) {
	cnn, err := encoder.NewCNN(rng, encoder.CNNConfig{InChannels: 3, Channels: cnnChannels, Eps: 1e-5})
	if err != nil {
		return nil, err
	}
	head := vlm.NewLinear(rng, cnn.Dim(), classes, true)
	model := vlm.Modules{{Name: "cnn", Module: cnn}, {Name: "head", Module: head}}
	pixels := make([]*vlm.Tensor, len(d.train))
	labels := make([][]int, len(d.train))
	for i, s := range d.train {
		pixels[i] = s.Tensor(scene.ImageNet)
		labels[i] = cellLabels(s)
	}
	opt := vlm.NewAdamW(3e-3)
	sched := vlm.CosineSchedule{Peak: 3e-3, Warmup: cfg.EncoderSteps / 10, Total: cfg.EncoderSteps}
	const batch = 32
	for step := range cfg.EncoderSteps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		idx := make([]int, batch)
		var targets []int
		x := vlm.Zeros(batch, 3, imageSize, imageSize)
		size := 3 * imageSize * imageSize
		for k := range idx {
			idx[k] = rng.IntN(len(d.train))
			copy(x.Data[k*size:], pixels[idx[k]].Data)
			// Background is most of every picture: train on a tenth of it.
			for _, l := range labels[idx[k]] {
				if l == 0 && rng.IntN(10) != 0 {
					l = vlm.IgnoreIndex
				}
				targets = append(targets, l)
			}
		}
		tp := vlm.NewTape()
		g, err := cnn.Forward(tp, x)
		if err != nil {
			return nil, err
		}
		logits := vlm.Reshape(tp, head.Forward(tp, g), batch*grid*grid, classes)
		loss := vlm.CrossEntropy(tp, logits, targets, 0)
		if err := tp.Backward(loss); err != nil {
			return nil, err
		}
		opt.LR = sched.LR(step)
		opt.Step(model)
		vlm.ZeroGrad(model)
		if (step+1)%max(cfg.EncoderSteps/4, 1) == 0 {
			fmt.Fprintf(w, "stage 0  step %4d  cell loss %.3f  accuracy on the batch's object cells %.3f\n", step+1, loss.Data[0], objectAccuracy(logits, targets))
		}
	}
	vlm.Freeze(model, "*")
	return &frozenEncoder{cnn, head}, nil
}

// objectAccuracy returns the accuracy of logits [n, C] on the rows whose
// target is an object (not background, class 0).
func objectAccuracy(logits *vlm.Tensor, targets []int) float64 {
	c := logits.Shape[1]
	right, n := 0, 0
	for i, t := range targets {
		if t > 0 {
			n++
			if argmax(logits.Data[i*c:(i+1)*c]) == t {
				right++
			}
		}
	}
	return float64(right) / float64(max(n, 1))
}

// accuracy returns the fraction of rows of logits [n, C] whose argmax is
// the target.
func accuracy(logits *vlm.Tensor, targets []int) float64 {
	c := logits.Shape[1]
	right := 0
	for i, t := range targets {
		if argmax(logits.Data[i*c:(i+1)*c]) == t {
			right++
		}
	}
	return float64(right) / float64(len(targets))
}

func argmax(xs []float32) int {
	best := 0
	for i, x := range xs {
		if x > xs[best] {
			best = i
		}
	}
	return best
}

// encode turns scenes into image tokens [n, grid², tokenWidth] and
// measures the cell classifier's accuracy on the scenes' object cells.
func (e *frozenEncoder) encode(scenes []*scene.Scene) (*vlm.Tensor, float64, error) {
	c := e.cnn.Dim()
	right, objects := 0, 0
	out := vlm.Zeros(len(scenes), grid*grid, tokenWidth)
	pos := positionCode()
	const chunk = 64
	for lo := 0; lo < len(scenes); lo += chunk {
		hi := min(lo+chunk, len(scenes))
		g, err := e.cnn.Forward(nil, scene.Batch(scenes[lo:hi], scene.ImageNet))
		if err != nil {
			return nil, 0, err
		}
		probs := vlm.Softmax(nil, e.head.Forward(nil, g), nil)
		for i := range hi - lo {
			for n, l := range cellLabels(scenes[lo+i]) {
				if l > 0 {
					objects++
					cell := i*grid*grid + n
					if argmax(probs.Data[cell*classes:(cell+1)*classes]) == l {
						right++
					}
				}
			}
			for n := range grid * grid {
				dst := out.Data[((lo+i)*grid*grid+n)*tokenWidth:]
				cell := i*grid*grid + n
				copy(dst[:c], g.Data[cell*c:])
				copy(dst[c:c+classes], probs.Data[cell*classes:])
				copy(dst[c+classes:tokenWidth], pos[n*posChannels:])
			}
		}
	}
	// A LayerNorm without weights over each token, as BLIP-2's ln_vision
	// normalises the ViT's tokens: the class evidence, a few channels near
	// 1 among many near 0, stands out.
	return (&vlm.LayerNorm{Eps: 1e-5}).Forward(nil, out), float64(right) / float64(max(objects, 1)), nil
}

// positionCode returns [grid², posChannels]: sin and cos of the cell
// centre's x and y at 4 frequencies.
func positionCode() []float32 {
	code := make([]float32, grid*grid*posChannels)
	for gy := range grid {
		for gx := range grid {
			row := code[(gy*grid+gx)*posChannels:]
			for k := range 4 {
				f := math.Pi * float64(int(1)<<k) / grid
				x, y := (float64(gx)+0.5)*f, (float64(gy)+0.5)*f
				row[4*k], row[4*k+1] = float32(math.Sin(x)), float32(math.Cos(x))
				row[4*k+2], row[4*k+3] = float32(math.Sin(y)), float32(math.Cos(y))
			}
		}
	}
	return code
}
