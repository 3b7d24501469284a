package lstmcaption

import (
	"context"

	"github.com/govlm/vlm"
)

// DefaultMaxLen is the number of tokens a caption may reach when
// DecodeOptions.MaxLen is 0.
const DefaultMaxLen = 50

// DecodeOptions configures [Decoder.Greedy] and [Decoder.Beam].
type DecodeOptions struct {
	// Start and End are the ids of <start> and <end> ([WordMap.Start],
	// [WordMap.End]).
	Start, End int
	// MaxLen is the most tokens a caption gets, <end> included; 0 means
	// DefaultMaxLen. The tutorial's beam search stops after 51 steps
	// (`if step > 50: break` with step counted from 1): MaxLen 51
	// reproduces it.
	MaxLen int
}

func (d *Decoder) checkDecode(o *DecodeOptions) error {
	v := d.Config.VocabSize
	switch {
	case o.Start < 0 || o.Start >= v:
		return vlm.Errorf(vlm.ErrConfig, "lstmcaption.DecodeOptions.Start = %d, outside the vocabulary [0, %d)", o.Start, v)
	case o.End < 0 || o.End >= v:
		return vlm.Errorf(vlm.ErrConfig, "lstmcaption.DecodeOptions.End = %d, outside the vocabulary [0, %d)", o.End, v)
	case o.Start == o.End:
		return vlm.Errorf(vlm.ErrConfig, "lstmcaption.DecodeOptions: Start and End are both %d", o.Start)
	case o.MaxLen < 0:
		return vlm.Errorf(vlm.ErrConfig, "lstmcaption.DecodeOptions.MaxLen = %d, want >= 0", o.MaxLen)
	}
	if o.MaxLen == 0 {
		o.MaxLen = DefaultMaxLen
	}
	return nil
}

// Caption is a generated caption with the attention behind each word.
type Caption struct {
	// IDs are the generated word ids, without <start>; the last one is
	// <end> when the caption is Complete.
	IDs []int
	// Alphas [n, h, w] holds, for each of the n ids, the attention
	// weights over the encoder grid at the step that produced it ([n, 1,
	// P] for encoder output given as [B, P, Denc]).
	Alphas *vlm.Tensor
	// Score is the sum of the log-probabilities of IDs, accumulated in
	// float32 as the tutorial does; beam search ranks by it, with no
	// length penalty.
	Score float32
	// Complete reports whether the caption ended with <end> within
	// MaxLen tokens.
	Complete bool
}

// Map returns the attention map [h, w] of word i, sharing Alphas' data.
func (c *Caption) Map(i int) *vlm.Tensor {
	h, w := c.Alphas.Shape[1], c.Alphas.Shape[2]
	return vlm.FromData(c.Alphas.Data[i*h*w:(i+1)*h*w], h, w)
}

// hyp is a partial caption: its ids, the attention of each, its score.
type hyp struct {
	ids    []int
	alphas []float32
	score  float32
}

// extend returns h followed by word w, produced with attention alpha and
// cumulative score s.
func (h *hyp) extend(w int, alpha []float32, s float32) hyp {
	return hyp{
		ids:    append(append(make([]int, 0, len(h.ids)+1), h.ids...), w),
		alphas: append(append(make([]float32, 0, len(h.alphas)+len(alpha)), h.alphas...), alpha...),
		score:  s,
	}
}

func (h *hyp) caption(gh, gw int, complete bool) Caption {
	return Caption{IDs: h.ids, Alphas: vlm.FromData(h.alphas, len(h.ids), gh, gw), Score: h.score, Complete: complete}
}

// Greedy captions every image of enc [B, h, w, Denc] (or [B, P, Denc])
// by taking the most likely word at each step (the first on ties) until
// <end> or MaxLen tokens, all images in one batch that shrinks as
// captions end. It returns one caption per image, or ctx's error if ctx
// is done first.
func (d *Decoder) Greedy(ctx context.Context, enc *vlm.Tensor, opts DecodeOptions) (caps []Caption, err error) {
	return d.Beam(ctx, enc, 1, opts)
}

// Beam captions every image of enc [B, h, w, Denc] (or [B, P, Denc])
// with the tutorial's beam search (caption.py,
// caption_image_beam_search) of k beams per image: each beam's score is
// its cumulative log-probability with no length penalty; at each step
// the k′ best extensions of the live beams are kept (from the first beam
// only at the first step, where all are equal), where k′ is k minus the
// captions completed so far, and those ending in <end> are set aside.
// An image is done when k captions are complete or after MaxLen tokens;
// its caption is the complete one with the highest score (the first on
// ties) or, if none completed (the tutorial fails there, issue #142),
// the best live beam.
//
// The beam index of a flat candidate index is computed with integer
// division (the tutorial's `/` is a true division on PyTorch ≥ 1.5,
// issue #175). All images decode in one batch of their live beams, the
// attention keys computed once per image. Beam with k = 1 is greedy
// decoding. It returns one caption per image, or ctx's error if ctx is
// done first.
func (d *Decoder) Beam(ctx context.Context, enc *vlm.Tensor, k int, opts DecodeOptions) (caps []Caption, err error) {
	defer vlm.Recover(&err)
	if err := d.checkDecode(&opts); err != nil {
		return nil, err
	}
	v := d.Config.VocabSize
	if k < 1 || k > v {
		return nil, vlm.Errorf(vlm.ErrConfig, "lstmcaption.Decoder.Beam: beam size %d, want 1 to the vocabulary size %d", k, v)
	}
	x, gh, gw, err := d.features(nil, enc)
	if err != nil {
		return nil, err
	}
	b, p := x.Shape[0], x.Shape[1]
	keys, err := d.Attention.Keys(nil, x)
	if err != nil {
		return nil, err
	}
	h, c := d.initState(nil, x)
	// Row r of the batch is beam live[img][j] of image rowImg[r]; the rows
	// of one image are contiguous and in the order of its beams.
	live := make([][]hyp, b)
	done := make([][]hyp, b)
	rowImg := make([]int, b)
	words := make([]int, b)
	for i := range b {
		live[i] = []hyp{{}}
		rowImg[i], words[i] = i, opts.Start
	}
	xr, kr := x, keys
	for step := 1; len(rowImg) > 0; step++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		logits, alpha, h2, c2 := d.step(nil, xr, kr, h, c, words)
		logp := vlm.LogSoftmax(nil, logits).Data
		var prev, nextImg, nextWords []int
		r0 := 0
		for _, img := range uniq(rowImg) {
			s := len(live[img])
			cum := logp[r0*v : (r0+s)*v]
			for j := range s {
				row := cum[j*v : (j+1)*v]
				for w := range row {
					row[w] += live[img][j].score
				}
			}
			var kept []hyp
			for _, idx := range topK(cum, k-len(done[img])) {
				j, w := idx/v, idx%v
				hy := live[img][j].extend(w, alpha.Data[(r0+j)*p:(r0+j+1)*p], cum[idx])
				if w == opts.End {
					done[img] = append(done[img], hy)
					continue
				}
				kept = append(kept, hy)
				prev, nextImg, nextWords = append(prev, r0+j), append(nextImg, img), append(nextWords, w)
			}
			live[img] = kept
			r0 += s
		}
		if step >= opts.MaxLen {
			break
		}
		if len(nextImg) == 0 {
			rowImg = nil
			break
		}
		h, c = vlm.Gather(nil, h2, 0, prev), vlm.Gather(nil, c2, 0, prev)
		if !equalInts(nextImg, rowImg) {
			xr, kr = vlm.Gather(nil, x, 0, nextImg), vlm.Gather(nil, keys, 0, nextImg)
		}
		rowImg, words = nextImg, nextWords
	}
	caps = make([]Caption, b)
	for i := range b {
		if len(done[i]) == 0 {
			caps[i] = live[i][0].caption(gh, gw, false)
			continue
		}
		best := 0
		for j, hy := range done[i] {
			if hy.score > done[i][best].score {
				best = j
			}
		}
		caps[i] = done[i][best].caption(gh, gw, true)
	}
	return caps, nil
}

// topK returns the indices of the n largest values of x, largest first,
// the lower index first among equal values.
func topK(x []float32, n int) []int {
	top := make([]int, 0, n+1)
	for i, v := range x {
		if len(top) == n && !(v > x[top[n-1]]) {
			continue
		}
		j := len(top)
		for j > 0 && v > x[top[j-1]] {
			j--
		}
		top = append(top, 0)
		copy(top[j+1:], top[j:])
		top[j] = i
		if len(top) > n {
			top = top[:n]
		}
	}
	return top
}

// uniq returns the distinct values of a sorted slice in order.
func uniq(s []int) []int {
	var out []int
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
