package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sort"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/examples/internal/scene"
	"github.com/govlm/vlm/examples/internal/viz"
	"github.com/govlm/vlm/qformer"
)

// rerankK is how many ITC candidates ITM re-ranks (LAVIS k_test, scaled
// to the gallery).
const rerankK = 8

// evaluate measures retrieval, matching and captioning on the gallery.
func evaluate(ctx context.Context, m *qformer.Model, d *data, res *result) error {
	n := len(d.gallery)
	mem, err := m.Memory(nil, d.galleryFeat, nil)
	if err != nil {
		return err
	}
	img, err := m.ImageEmbeds(nil, mem)
	if err != nil {
		return err
	}
	ids, mask := qformer.Pad(d.galleryTexts, scene.PadID)
	txt, err := m.TextEmbeds(nil, ids, mask)
	if err != nil {
		return err
	}
	sim, err := qformer.Similarity(img, txt) // [image, text]
	if err != nil {
		return err
	}
	// itm scores pairs (image i, text j) by ITM logit of "match" + ITC
	// similarity, as LAVIS's compute_sim_matrix re-ranks.
	itm := func(images, texts []int) ([]float64, *vlm.Tensor, error) {
		sel, err := mem.Select(nil, images)
		if err != nil {
			return nil, nil, err
		}
		pid := make([][]int, len(texts))
		for k, j := range texts {
			pid[k] = ids[j]
		}
		logits, err := m.Match(nil, sel, pid, vlm.Gather(nil, mask, 0, texts))
		if err != nil {
			return nil, nil, err
		}
		scores := make([]float64, len(texts))
		for k := range texts {
			scores[k] = float64(logits.Data[2*k+1]) + float64(sim.Data[images[k]*n+texts[k]])
		}
		return scores, logits, nil
	}
	top1 := make([]int, n) // ITC top-1 text of each image
	var i2t, t2i, i2tRe, t2iRe int
	for i := range n {
		if err := ctx.Err(); err != nil {
			return err
		}
		row := sim.Data[i*n : (i+1)*n]
		top1[i] = argmax(row)
		col := make([]float32, n)
		for j := range n {
			col[j] = sim.Data[j*n+i]
		}
		if top1[i] == i {
			i2t++
		}
		if argmax(col) == i {
			t2i++
		}
		// Re-rank the top candidates of image i (texts) and of text i
		// (images) with ITM.
		cands := topK(row, rerankK)
		scores, _, err := itm(repeat(i, len(cands)), cands)
		if err != nil {
			return err
		}
		if cands[argmax64(scores)] == i {
			i2tRe++
		}
		cands = topK(col, rerankK)
		scores, _, err = itm(cands, repeat(i, len(cands)))
		if err != nil {
			return err
		}
		if cands[argmax64(scores)] == i {
			t2iRe++
		}
	}
	res.I2T, res.T2I = float64(i2t)/float64(n), float64(t2i)/float64(n)
	res.I2TRerank, res.T2IRerank = float64(i2tRe)/float64(n), float64(t2iRe)/float64(n)

	// ITM accuracy: each image with its caption and its hardest other
	// caption by ITC.
	images, texts, labels := make([]int, 0, 2*n), make([]int, 0, 2*n), make([]int, 0, 2*n)
	for i := range n {
		row := slices.Clone(sim.Data[i*n : (i+1)*n])
		row[i] = -2
		images, texts, labels = append(images, i, i), append(texts, i, argmax(row)), append(labels, 1, 0)
	}
	_, logits, err := itm(images, texts)
	if err != nil {
		return err
	}
	res.ITMAccuracy = accuracy(logits, labels)

	caps, err := m.Generate(ctx, mem, qformer.GenerateOptions{MaxLen: 20, EOS: scene.EOSID})
	if err != nil {
		return err
	}
	right := 0
	for i, s := range d.gallery {
		gen := d.vocab.Decode(caps[i])
		ok := slices.ContainsFunc(s.Captions(), func(c scene.Caption) bool { return c.Text == gen })
		if ok {
			right++
		}
		res.Samples = append(res.Samples, sample{
			Scene: s, Truth: s.Caption().Text, Generated: gen,
			Retrieved: d.vocab.Decode(d.galleryTexts[top1[i]]), RetrievedCorrectly: top1[i] == i,
		})
	}
	res.CaptionMatch = float64(right) / float64(n)
	return nil
}

// topK returns the indices of the k largest values, largest first.
func topK(xs []float32, k int) []int {
	idx := make([]int, len(xs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return xs[idx[a]] > xs[idx[b]] })
	return idx[:min(k, len(idx))]
}

func repeat(v, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func argmax64(xs []float64) int {
	best := 0
	for i, x := range xs {
		if x > xs[best] {
			best = i
		}
	}
	return best
}

func report(w io.Writer, r *result) {
	fmt.Fprintf(w, "losses, first → last tenth of stage 1: ITC %.3f → %.3f, ITM %.3f → %.3f, ITG %.3f → %.3f\n",
		r.First[0], r.Last[0], r.First[1], r.Last[1], r.First[2], r.Last[2])
	fmt.Fprintf(w, "held-out retrieval R@1 over %d: image→text %.2f, text→image %.2f (ITC); %.2f, %.2f (ITC top-%d re-ranked by ITM)\n",
		len(r.Samples), r.I2T, r.T2I, r.I2TRerank, r.T2IRerank, rerankK)
	fmt.Fprintf(w, "held-out ITM accuracy (caption vs hardest other caption): %.3f\n", r.ITMAccuracy)
	fmt.Fprintf(w, "held-out greedy captions that are one of the scene's captions: %.2f\n", r.CaptionMatch)
	for _, s := range r.Samples[:min(5, len(r.Samples))] {
		fmt.Fprintf(w, "  truth %-40q generated %q\n", s.Truth, s.Generated)
	}
	fmt.Fprintf(w, "time %.1fs\n", r.Elapsed.Seconds())
}

// writePictures writes the loss curves and a panel of held-out images
// with their generated caption and their ITC top-1 caption.
func writePictures(dir string, c *curves, r *result) error {
	var series []viz.Series
	for k, name := range []string{"ITC", "ITM", "ITG"} {
		series = append(series, viz.Series{Name: name, Y: smooth(c[k], 10)})
	}
	chart := viz.Chart{Title: "Q-Former stage-1 losses", XLabel: "step", YLabel: "loss (moving average of 10 steps)", Series: series, LogY: true}
	if err := viz.WritePNG(filepath.Join(dir, "loss.png"), chart.Render()); err != nil {
		return err
	}
	var panels []viz.Panel
	for _, s := range r.Samples[:min(12, len(r.Samples))] {
		mark := "right"
		if !s.RetrievedCorrectly {
			mark = "wrong"
		}
		panels = append(panels, viz.Panel{
			Image: s.Scene.Render(),
			Label: fmt.Sprintf("generated: %s / retrieved (%s): %s", s.Generated, mark, s.Retrieved),
		})
	}
	grid := viz.Grid(panels, viz.GridOptions{Cols: 4, Cell: 160, Title: "held-out scenes: greedy ITG caption and ITC top-1 caption"})
	return viz.WritePNG(filepath.Join(dir, "retrieval.png"), grid)
}

// smooth returns the trailing moving average of xs over k values.
func smooth(xs []float64, k int) []float64 {
	out := make([]float64, len(xs))
	var sum float64
	for i, x := range xs {
		sum += x
		if i >= k {
			sum -= xs[i-k]
		}
		out[i] = sum / float64(min(i+1, k))
	}
	return out
}
