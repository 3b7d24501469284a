package main

import (
	"context"
	"fmt"
	"image"
	"io"
	"math"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/encoder"
	"github.com/govlm/vlm/examples/internal/scene"
)

// vision is the frozen vision encoder: the encoder package's CNN, whose
// h×w grid of D features becomes N = h·w visual tokens, plus a fixed 2-D
// Fourier code of each token's grid cell. Flamingo's encoders (NFNet,
// CLIP ViT) know where things are; the Perceiver resampler that reads
// their tokens has no positions of its own.
type vision struct {
	cnn    *encoder.CNN
	gh, gw int
	pos    *vlm.Tensor // [N, D], fixed
}

func newVision(seed uint64) (*vision, error) {
	cnn, err := encoder.NewCNN(vlm.NewRand(seed), encoder.CNNConfig{InChannels: 3, Channels: []int{16, 32, 64}, Eps: 1e-5})
	if err != nil {
		return nil, err
	}
	v := &vision{cnn: cnn}
	v.gh, v.gw = cnn.GridSize(32, 32)
	d := cnn.Dim()
	v.pos = vlm.Zeros(v.gh*v.gw, d)
	// A 2-D Fourier code: a quarter of the features are sin(r·f), one cos(r·f)
	// of the row r, and the same of the column, at the d/4 frequencies
	// f = π(k+1)/(2·grid), which tell the few cells of a small grid apart.
	g := float64(2 * max(v.gh, v.gw))
	for r := range v.gh {
		for c := range v.gw {
			row := v.pos.Data[(r*v.gw+c)*d:]
			for k := range d / 4 {
				f := math.Pi * float64(k+1) / g
				row[k], row[d/4+k] = float32(math.Sin(float64(r)*f)), float32(math.Cos(float64(r)*f))
				row[d/2+k], row[3*d/4+k] = float32(math.Sin(float64(c)*f)), float32(math.Cos(float64(c)*f))
			}
		}
	}
	return v, nil
}

func (v *vision) VisitParams(prefix string, visit func(string, *vlm.Param)) {
	v.cnn.VisitParams(prefix+"cnn.", visit)
}

// forward encodes pixels [B, 3, H, W] to tokens [B, N, D].
func (v *vision) forward(tp *vlm.Tape, pixels *vlm.Tensor) (*vlm.Tensor, error) {
	grid, err := v.cnn.Forward(tp, pixels)
	if err != nil {
		return nil, err
	}
	return vlm.Add(tp, vlm.Reshape(tp, grid, pixels.Shape[0], v.gh*v.gw, v.cnn.Dim()), v.pos), nil
}

func items2scenes(items []item) []*scene.Scene {
	out := make([]*scene.Scene, len(items))
	for i, it := range items {
		out[i] = it.scene
	}
	return out
}

// cellLabels returns, for each grid cell of the items, the colour and the
// shape (classes +1; 0 for none) of the object whose box covers most of
// the cell, if it covers at least a quarter of it.
func (v *vision) cellLabels(items []item) (colours, shapes []int) {
	n := v.gh * v.gw
	colours, shapes = make([]int, len(items)*n), make([]int, len(items)*n)
	for i, it := range items {
		best := make([]int, n)
		for _, o := range it.scene.Objects {
			for k, area := range v.coverage(it.scene, o) {
				if 4*area >= v.cellArea(it.scene) && area > best[k] {
					best[k] = area
					colours[i*n+k], shapes[i*n+k] = int(o.Color)+1, int(o.Shape)+1
				}
			}
		}
	}
	return colours, shapes
}

// coverage returns how many pixels of o's box fall in each grid cell.
func (v *vision) coverage(s *scene.Scene, o scene.Object) []int {
	cw, ch := s.Width/v.gw, s.Height/v.gh
	out := make([]int, v.gh*v.gw)
	for k := range out {
		r := image.Rect(k%v.gw*cw, k/v.gw*ch, (k%v.gw+1)*cw, (k/v.gw+1)*ch).Intersect(o.Box())
		out[k] = r.Dx() * r.Dy()
	}
	return out
}

func (v *vision) cellArea(s *scene.Scene) int { return s.Width / v.gw * (s.Height / v.gh) }

// pretrainVision trains v's CNN for steps steps of batch scenes on a
// dense task standing in for Flamingo's contrastive pretraining: a linear
// head on each token names the colour and the shape of the object centred
// in its grid cell, or none. It returns the fraction of held-out objects
// whose colour and shape the head names.
func pretrainVision(ctx context.Context, v *vision, train, test *dataset, steps, batch int, seed uint64, w io.Writer) (float64, error) {
	const colours, shapes = 7, 4
	head := vlm.NewLinear(vlm.NewRand(seed), v.cnn.Dim(), colours+shapes, true)
	model := vlm.Modules{{Name: "vision", Module: v}, {Name: "head", Module: head}}
	opt := vlm.NewAdamW(3e-3)
	sched := vlm.CosineSchedule{Peak: 3e-3, Min: 3e-4, Warmup: steps / 10, Total: steps}
	rng := vlm.NewRand(seed + 1)
	logits := func(tp *vlm.Tape, items []item) (*vlm.Tensor, error) {
		tok, err := v.forward(tp, scene.Batch(items2scenes(items), scene.ImageNet))
		if err != nil {
			return nil, err
		}
		return head.Forward(tp, vlm.Reshape(tp, tok, -1, v.cnn.Dim())), nil
	}
	for step := range steps {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		items := make([]item, batch)
		for i := range items {
			items[i] = train.items[rng.IntN(len(train.items))]
		}
		tp := vlm.NewTape()
		y, err := logits(tp, items)
		if err != nil {
			return 0, err
		}
		cl, sl := v.cellLabels(items)
		loss := vlm.Add(tp,
			vlm.CrossEntropy(tp, vlm.Slice(tp, y, 1, 0, colours), cl, 0),
			vlm.CrossEntropy(tp, vlm.Slice(tp, y, 1, colours, colours+shapes), sl, 0))
		if err := tp.Backward(loss); err != nil {
			return 0, err
		}
		opt.LR = sched.LR(step)
		opt.Step(model)
		vlm.ZeroGrad(model)
		if step%50 == 0 || step == steps-1 {
			fmt.Fprintf(w, "vision     step %4d  loss %.3f\n", step, loss.Data[0])
		}
	}
	right, total := 0, 0
	for lo := 0; lo < len(test.items); lo += 64 {
		items := test.items[lo:min(lo+64, len(test.items))]
		y, err := logits(nil, items)
		if err != nil {
			return 0, err
		}
		for i, it := range items {
			for _, o := range it.scene.Objects {
				k := argmaxInt(v.coverage(it.scene, o))
				row := y.Data[(i*v.gh*v.gw+k)*(colours+shapes):]
				total++
				if argmax(row[:colours]) == int(o.Color)+1 && argmax(row[colours:colours+shapes]) == int(o.Shape)+1 {
					right++
				}
			}
		}
	}
	return float64(right) / float64(total), nil
}

// encodeAll stores the frozen encoder's tokens of every item of d in
// d.feats [len(items), N, D].
func encodeAll(v *vision, d *dataset) error {
	var parts []*vlm.Tensor
	for lo := 0; lo < len(d.items); lo += 64 {
		tok, err := v.forward(nil, scene.Batch(items2scenes(d.items[lo:min(lo+64, len(d.items))]), scene.ImageNet))
		if err != nil {
			return err
		}
		parts = append(parts, tok)
	}
	d.feats = vlm.Concat(nil, 0, parts...)
	return nil
}

func argmaxInt(xs []int) int {
	best := 0
	for i, x := range xs {
		if x > xs[best] {
			best = i
		}
	}
	return best
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
