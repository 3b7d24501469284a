package qformer

import (
	"math/rand/v2"

	"github.com/govlm/vlm"
)

// Objectives selects BLIP-2's stage-1 losses.
type Objectives uint8

// The stage-1 objectives.
const (
	ITC Objectives = 1 << iota // image-text contrastive learning
	ITM                        // image-text matching with hard negatives
	ITG                        // image-grounded text generation (captioning)

	AllObjectives = ITC | ITM | ITG
)

// LabelSmoothing is the label smoothing of the ITC and ITG
// cross-entropies in LAVIS; ITM has none.
const LabelSmoothing = 0.1

// Batch is a batch of image-text pairs for [Model.Loss].
type Batch struct {
	// Image [B, N, VisionDim] are the image features (after ln_vision);
	// ImageMask [B, N] marks real tokens (nil: all, as LAVIS).
	Image, ImageMask *vlm.Tensor
	// IDs are the texts, [CLS] first, padded with PadID to one length T
	// (at least 2 for ITG); TextMask [B, T] marks real tokens (nil: no
	// padding).
	IDs      [][]int
	TextMask *vlm.Tensor
	// ImageIDs, if non-nil, holds one id per pair; pairs with equal ids
	// are positives of each other (LAVIS image_id, COCO fine-tuning, or
	// several captions of one image): ITC takes the soft targets
	// 0.9·pos/|pos| + 0.1/B, and ITM never draws a positive as a negative.
	ImageIDs []int
}

// LossOptions tunes [Model.Loss]. The zero value (and nil) computes all
// three losses with negatives drawn from vlm.NewRand(0).
type LossOptions struct {
	// Objectives are the losses to compute (0 means AllObjectives).
	Objectives Objectives
	// Rand draws the ITM hard negatives; nil means a generator seeded
	// with 0 for this call. A training loop passes one generator.
	Rand *rand.Rand
	// Negatives, if set, picks the ITM hard negatives instead of Rand
	// (for tests against a reference that sampled its own): given the
	// sampling weights t2i [B, B] (row b: over the images, for text b)
	// and i2t [B, B] (row b: over the texts, for image b), it returns the
	// negative image of each text and the negative text of each image.
	Negatives func(t2i, i2t *vlm.Tensor) (images, texts []int)
}

// Losses are the results of [Model.Loss]. The loss tensors are scalars
// on the tape; a loss that was not asked for is nil.
type Losses struct {
	Total, ITC, ITM, ITG *vlm.Tensor
	// SimI2T [B, B] and SimT2I [B, B] are the temperature-scaled
	// similarities (row: image, resp. text), before the negatives'
	// diagonal fill; nil without ITC and ITM.
	SimI2T, SimT2I *vlm.Tensor
	// NegImages[b] is the negative image of text b, NegTexts[b] the
	// negative text of image b; ITMLogits [3B, 2] are the logits of the
	// pairs (text b, image b), (text b, NegImages[b]), (NegTexts[b],
	// image b), whose labels are 1, 0, 0.
	NegImages, NegTexts []int
	ITMLogits           *vlm.Tensor
}

// Loss computes BLIP-2's stage-1 losses as LAVIS's Blip2Qformer.forward
// does on one machine, and returns them with their sum:
//
//	ITC  a query pass (cached) and a text pass; image features
//	     normalize(vision_projection(queries)) [B, Q, E], text features
//	     normalize(text_projection([CLS])) [B, E]; sim_i2t = max over
//	     queries of image·text / temp and sim_t2i likewise, where the
//	     other side of each product is a constant (LAVIS gathers it across
//	     GPUs under no_grad, also on one GPU); mean of the two
//	     cross-entropies with label smoothing 0.1.
//	ITM  a negative image per text and a negative text per image drawn
//	     from softmax(sim) with the positive pairs set to −10000; one
//	     Bidirectional pass over the 3B pairs (positives, text with
//	     negative image, negative text with image) reusing the image
//	     memory; itm_head on the query outputs, mean over queries,
//	     cross-entropy without smoothing.
//	ITG  the texts with [DEC] in place of [CLS], one MultimodalCausal
//	     text pass over the query pass's cached keys and values, the LM
//	     head, next-token cross-entropy with label smoothing 0.1, padding
//	     ignored.
//
// With a tape, Backward on Total trains the Q-Former (and the image
// features, if they are watched).
func (m *Model) Loss(tp *vlm.Tape, batch Batch, o *LossOptions) (l *Losses, err error) {
	defer vlm.Recover(&err)
	var opts LossOptions
	if o != nil {
		opts = *o
	}
	obj := opts.Objectives
	if obj == 0 {
		obj = AllObjectives
	}
	if obj&^AllObjectives != 0 {
		return nil, vlm.Errorf(vlm.ErrConfig, "qformer.Loss: unknown objectives %#x", uint8(obj))
	}
	if obj&(ITC|ITM) != 0 && m.VisionProj == nil {
		return nil, vlm.Errorf(vlm.ErrConfig, "qformer.Loss: ITC and ITM need the stage-1 heads (Config.EmbedDim > 0)")
	}
	if obj&ITG != 0 && m.LMHead == nil {
		return nil, vlm.Errorf(vlm.ErrConfig, "qformer.Loss: ITG needs the LM head (Config.LMHead)")
	}
	text := Input{IDs: batch.IDs, TextMask: batch.TextMask}
	p, err := m.prepare(&text)
	if err != nil {
		return nil, err
	}
	if obj&ITG != 0 && p.t < 2 {
		return nil, vlm.Errorf(vlm.ErrShape, "qformer.Loss: ITG needs texts of at least 2 tokens, got %d", p.t)
	}
	if batch.ImageIDs != nil && len(batch.ImageIDs) != p.b {
		return nil, vlm.Errorf(vlm.ErrShape, "qformer.Loss: %d image ids for %d pairs", len(batch.ImageIDs), p.b)
	}
	mem, err := m.Memory(tp, batch.Image, batch.ImageMask)
	if err != nil {
		return nil, err
	}
	if mem.b != p.b {
		return nil, vlm.Errorf(vlm.ErrShape, "qformer.Loss: %d images for %d texts", mem.b, p.b)
	}

	l = &Losses{}
	var cache *Cache
	if obj&ITG != 0 {
		cache = &Cache{}
	}
	query := m.forward(tp, &Input{Queries: true, Cache: cache}, pass{b: p.b, mem: mem})
	if obj&(ITC|ITM) != 0 {
		txtOut := m.forward(tp, &text, p)
		img, txt := m.imageFeatures(tp, query.Query), m.textFeatures(tp, txtOut.Text)
		l.SimI2T, l.SimT2I = m.similarities(tp, img, txt, img.Clone(), txt.Clone())
	}
	if obj&ITC != 0 {
		l.ITC = itcLoss(tp, l.SimI2T, l.SimT2I, batch.ImageIDs)
		l.Total = l.ITC
	}
	if obj&ITM != 0 {
		if err := m.itm(tp, l, batch, p, mem, opts); err != nil {
			return nil, err
		}
		l.Total = sum(tp, l.Total, l.ITM)
	}
	if obj&ITG != 0 {
		l.ITG = m.itg(tp, batch, p, cache)
		l.Total = sum(tp, l.Total, l.ITG)
	}
	return l, nil
}

func sum(tp *vlm.Tape, a, b *vlm.Tensor) *vlm.Tensor {
	if a == nil {
		return b
	}
	return vlm.Add(tp, a, b)
}

// imageFeatures returns normalize(vision_projection(q)) [B, Q, E].
func (m *Model) imageFeatures(tp *vlm.Tape, q *vlm.Tensor) *vlm.Tensor {
	return vlm.Normalize(tp, m.VisionProj.Forward(tp, q), 1e-12)
}

// textFeatures returns normalize(text_projection(text[:, 0])) [B, E].
func (m *Model) textFeatures(tp *vlm.Tape, text *vlm.Tensor) *vlm.Tensor {
	cls := vlm.Reshape(tp, vlm.Slice(tp, text, 1, 0, 1), text.Shape[0], text.Shape[2])
	return vlm.Normalize(tp, m.TextProj.Forward(tp, cls), 1e-12)
}

// similarities returns sim_i2t and sim_t2i [B, B] divided by temp, from
// image features img [B, Q, E] and text features txt [B, E], each against
// the gathered features of the other side, imgAll [B, Q, E] and txtAll
// [B, E], which get no gradient (LAVIS concat_all_gather runs under
// no_grad; on one machine they are copies of img and txt).
func (m *Model) similarities(tp *vlm.Tape, img, txt, imgAll, txtAll *vlm.Tensor) (i2t, t2i *vlm.Tensor) {
	b, q, e := img.Shape[0], img.Shape[1], img.Shape[2]
	flat := vlm.Reshape(tp, img, b*q, e)
	qt := vlm.MatMul(tp, flat, txtAll, false, true) // [B·Q, B]: image i, query, text j
	i2t, _ = vlm.MaxAxis(tp, vlm.Reshape(tp, qt, b, q, b), 1)
	tq := vlm.MatMul(tp, txt, imgAll.Reshape(b*q, e), false, true) // [B, B·Q]: text j, image i, query
	t2i, _ = vlm.MaxAxis(tp, vlm.Reshape(tp, tq, b, b, q), 2)
	temp := tp.Param(m.Temp)
	return vlm.Div(tp, i2t, temp), vlm.Div(tp, t2i, temp)
}

// itcLoss is the mean of the two cross-entropies of the similarity
// matrices, with hard targets (label smoothing 0.1) or, with image ids,
// LAVIS's soft targets.
func itcLoss(tp *vlm.Tape, i2t, t2i *vlm.Tensor, imageIDs []int) *vlm.Tensor {
	b := i2t.Shape[0]
	var li2t, lt2i *vlm.Tensor
	if imageIDs == nil {
		targets := make([]int, b)
		for i := range targets {
			targets[i] = i
		}
		li2t = vlm.CrossEntropy(tp, i2t, targets, LabelSmoothing)
		lt2i = vlm.CrossEntropy(tp, t2i, targets, LabelSmoothing)
	} else {
		soft := vlm.Zeros(b, b)
		for i := range b {
			n := 0
			for j := range b {
				if imageIDs[i] == imageIDs[j] {
					n++
				}
			}
			for j := range b {
				v := float32(0)
				if imageIDs[i] == imageIDs[j] {
					v = 1 / float32(n)
				}
				soft.Data[i*b+j] = 0.9*v + 0.1/float32(b)
			}
		}
		li2t = vlm.SoftCrossEntropy(tp, i2t, soft)
		lt2i = vlm.SoftCrossEntropy(tp, t2i, soft)
	}
	return vlm.Scale(tp, vlm.Add(tp, li2t, lt2i), 0.5)
}

// negativeWeights returns softmax over the rows of sim with the positive
// pairs (the diagonal, or equal image ids) set to −10000, without
// gradient.
func negativeWeights(sim *vlm.Tensor, imageIDs []int) *vlm.Tensor {
	b := sim.Shape[0]
	s := sim.Clone()
	for i := range b {
		for j := range b {
			if i == j || imageIDs != nil && imageIDs[i] == imageIDs[j] {
				s.Data[i*b+j] = -10000
			}
		}
	}
	return vlm.Softmax(nil, s, nil)
}

// sample draws an index with probability w[i] / Σw (torch.multinomial
// with one sample).
func sample(rng *rand.Rand, w []float32) int {
	var total float64
	for _, v := range w {
		total += float64(v)
	}
	u := rng.Float64() * total
	for i, v := range w {
		u -= float64(v)
		if u < 0 && v > 0 {
			return i
		}
	}
	for i := len(w) - 1; i >= 0; i-- {
		if w[i] > 0 {
			return i
		}
	}
	return len(w) - 1
}

func (m *Model) itm(tp *vlm.Tape, l *Losses, batch Batch, p pass, mem *Memory, o LossOptions) error {
	b := p.b
	wt2i, wi2t := negativeWeights(l.SimT2I, batch.ImageIDs), negativeWeights(l.SimI2T, batch.ImageIDs)
	if o.Negatives != nil {
		l.NegImages, l.NegTexts = o.Negatives(wt2i, wi2t)
		for _, neg := range [][]int{l.NegImages, l.NegTexts} {
			if len(neg) != b {
				return vlm.Errorf(vlm.ErrShape, "qformer.Loss: Negatives returned %d indices for %d pairs", len(neg), b)
			}
			for _, i := range neg {
				if i < 0 || i >= b {
					return vlm.Errorf(vlm.ErrInput, "qformer.Loss: negative %d outside batch [0, %d)", i, b)
				}
			}
		}
	} else {
		rng := o.Rand
		if rng == nil {
			rng = vlm.NewRand(0)
		}
		l.NegImages, l.NegTexts = make([]int, b), make([]int, b)
		for i := range b {
			l.NegImages[i] = sample(rng, wt2i.Data[i*b:(i+1)*b])
		}
		for i := range b {
			l.NegTexts[i] = sample(rng, wi2t.Data[i*b:(i+1)*b])
		}
	}
	// Pairs: (text, image), (text, negative image), (negative text, image).
	texts := make([]int, 0, 3*b)
	images := make([]int, 0, 3*b)
	for i := range b {
		texts, images = append(texts, i), append(images, i)
	}
	texts, images = append(texts, texts...), append(images, l.NegImages...)
	texts, images = append(texts, l.NegTexts...), append(images, images[:b]...)
	ids := make([][]int, len(texts))
	for k, j := range texts {
		ids[k] = batch.IDs[j]
	}
	var mask *vlm.Tensor
	if batch.TextMask != nil {
		mask = vlm.Gather(nil, batch.TextMask, 0, texts)
	}
	in := Input{Queries: true, IDs: ids, TextMask: mask, Mode: Bidirectional}
	flat := make([]int, 0, 3*b*p.t)
	for _, s := range ids {
		flat = append(flat, s...)
	}
	out := m.forward(tp, &in, pass{b: 3 * b, t: p.t, ids: flat, mem: mem.sel(tp, images)})
	l.ITMLogits = vlm.MeanAxis(tp, m.ITMHead.Forward(tp, out.Query), 1)
	labels := make([]int, 3*b)
	for i := range b {
		labels[i] = 1
	}
	l.ITM = vlm.CrossEntropy(tp, l.ITMLogits, labels, 0)
	return nil
}

func (m *Model) itg(tp *vlm.Tape, batch Batch, p pass, cache *Cache) *vlm.Tensor {
	c := m.Config
	b, t := p.b, p.t
	dec := make([]int, len(p.ids))
	copy(dec, p.ids)
	labels := make([]int, 0, b*(t-1))
	for i := range b {
		dec[i*t] = c.DecID
		for _, id := range dec[i*t+1 : (i+1)*t] {
			if id == c.PadID {
				id = vlm.IgnoreIndex
			}
			labels = append(labels, id)
		}
	}
	in := Input{TextMask: batch.TextMask, Mode: MultimodalCausal, Cache: cache}
	out := m.forward(tp, &in, pass{b: b, t: t, ids: dec})
	h := vlm.Slice(tp, out.Text, 1, 0, t-1)
	logits := m.LMHead.Forward(tp, h)
	return vlm.CrossEntropy(tp, vlm.Reshape(tp, logits, b*(t-1), c.Vocab), labels, LabelSmoothing)
}
