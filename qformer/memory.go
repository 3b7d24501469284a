package qformer

import (
	"github.com/govlm/vlm"
	"github.com/govlm/vlm/attention"
	"github.com/govlm/vlm/internal/workspace"
)

// Memory holds the cross-attention keys and values of a batch of images
// for every layer that has cross-attention. At BLIP-2 size these
// projections of the 257×1408 image features are half of a query pass's
// work, and they do not depend on the queries or the text: compute them
// once per image with [Model.Memory] and pass them to every pass over
// those images (the ITC and ITM passes of a training step, every step of
// caption generation). [Memory.Select] gathers the entries of another
// pairing of the same images (ITM's negatives) without projecting again.
//
// A Memory is read-only: goroutines may share one. On a tape, gradients
// flow through it to the image features and the key/value projections.
//
// The attention package has its own Memory for a MultiHead; this one
// holds every layer's keys and values as plain tensors so that batch
// entries can be gathered with gradients.
type Memory struct {
	k, v []*vlm.Tensor // per layer, [B, N, D]; nil for layers without cross-attention
	keep *vlm.Tensor   // [B, N] 0/1 image mask, nil when every token is real
	mask *attention.Mask
	b, n int
}

// Batch returns B.
func (mem *Memory) Batch() int { return mem.b }

// release recycles the keys and values of a memory that nothing uses any
// more, in nil-tape inference.
func (mem *Memory) release(tp *vlm.Tape) {
	for i := range mem.k {
		workspace.Release(tp, mem.k[i])
		workspace.Release(tp, mem.v[i])
	}
}

// Len returns N, the number of image tokens.
func (mem *Memory) Len() int { return mem.n }

// Memory projects image features image [B, N, VisionDim] (the image
// encoder's output after its final LayerNorm, LAVIS ln_vision) to the
// keys and values of every cross-attention layer. imageMask [B, N] is
// HF's encoder_attention_mask (1 = a real token) or nil when every token
// is real (LAVIS); masked tokens get finfo(float32).min added to their
// scores (invert_attention_mask).
func (m *Model) Memory(tp *vlm.Tape, image, imageMask *vlm.Tensor) (mem *Memory, err error) {
	defer vlm.Recover(&err)
	if err := vlm.CheckShape("qformer image features", image, -1, -1, m.Config.VisionDim); err != nil {
		return nil, err
	}
	if err := vlm.CheckFinite("qformer image features", image); err != nil {
		return nil, err
	}
	b, n := image.Shape[0], image.Shape[1]
	if b == 0 || n == 0 {
		return nil, vlm.Errorf(vlm.ErrShape, "qformer image features %v: want at least one image and one token", image.Shape)
	}
	if imageMask != nil {
		if err := checkMask("qformer image mask", imageMask, b, n); err != nil {
			return nil, err
		}
	}
	mem = &Memory{k: make([]*vlm.Tensor, len(m.Layers)), v: make([]*vlm.Tensor, len(m.Layers)), b: b, n: n}
	mem.setKeep(imageMask)
	for i, l := range m.Layers {
		if c := l.CrossAttention; c != nil {
			mem.k[i] = c.Attn.K.Forward(tp, image)
			mem.v[i] = c.Attn.V.Forward(tp, image)
		}
	}
	return mem, nil
}

// setKeep stores the image mask, dropping it when it keeps everything.
func (mem *Memory) setKeep(keep *vlm.Tensor) {
	if keep == nil {
		return
	}
	for _, v := range keep.Data {
		if v == 0 {
			mem.keep = keep.Clone()
			mem.mask = attention.Padding(mem.keep)
			return
		}
	}
}

// Select returns the memory of the batch entries idx, in that order;
// entries may repeat. BLIP-2's ITM pass pairs every text with its image
// and a hard-negative image: Select(tp, [0..B-1, negatives..., 0..B-1]).
// On a tape, gradients of the selected entries add back into mem.
func (mem *Memory) Select(tp *vlm.Tape, idx []int) (out *Memory, err error) {
	defer vlm.Recover(&err)
	if len(idx) == 0 {
		return nil, vlm.Errorf(vlm.ErrShape, "qformer.Memory.Select: no entries")
	}
	for _, i := range idx {
		if i < 0 || i >= mem.b {
			return nil, vlm.Errorf(vlm.ErrInput, "qformer.Memory.Select: entry %d outside batch [0, %d)", i, mem.b)
		}
	}
	return mem.sel(tp, idx), nil
}

func (mem *Memory) sel(tp *vlm.Tape, idx []int) *Memory {
	out := &Memory{k: make([]*vlm.Tensor, len(mem.k)), v: make([]*vlm.Tensor, len(mem.v)), b: len(idx), n: mem.n}
	for i := range mem.k {
		if mem.k[i] != nil {
			out.k[i] = vlm.Gather(tp, mem.k[i], 0, idx)
			out.v[i] = vlm.Gather(tp, mem.v[i], 0, idx)
		}
	}
	if mem.keep != nil {
		out.setKeep(vlm.Gather(nil, mem.keep, 0, idx))
	}
	return out
}

// cross runs the cross-attention sub-layer of l for the query rows x
// [B, Q, D] into the keys and values of layer i: LN(x + Out(Attend(Q(x),
// K, V))), post-norm as BertAttention, with HF's finfo.min image mask.
func (l *Layer) cross(tp *vlm.Tape, x *vlm.Tensor, mem *Memory, i int, probs *attention.Probs) *vlm.Tensor {
	s := l.CrossAttention
	a := s.Attn
	o := &attention.Options{Mask: mem.mask, Fill: attention.FillMin, Scale: a.Scale, Dropout: a.Dropout, Probs: probs}
	ctx := attention.Attend(tp, a.Q.Forward(tp, x), mem.k[i], mem.v[i], a.Heads, o)
	return s.Norm.Forward(tp, vlm.Add(tp, x, vlm.Dropout(tp, a.Out.Forward(tp, ctx), s.Dropout)))
}

// checkMask validates a 0/1 mask of shape [b, n].
func checkMask(name string, mask *vlm.Tensor, b, n int) error {
	if err := vlm.CheckShape(name, mask, b, n); err != nil {
		return err
	}
	for i, v := range mask.Data {
		if v != 0 && v != 1 {
			return vlm.Errorf(vlm.ErrInput, "%s holds %v at flat index %d; want 0 or 1", name, v, i)
		}
	}
	return nil
}

// Cache holds the self-attention keys and values of the positions a
// model has already processed, in every layer (LAVIS past_key_values).
// A query pass given an empty Cache stores the queries' keys and values;
// a text pass in MultimodalCausal mode given that Cache attends to them
// and appends its own: this is how BLIP-2's captioning loss reuses the
// ITC query pass (its gradient flows back through the cached keys and
// values into that pass), and how [Model.Generate] decodes one token at a
// time. Text positions continue from the cached text.
//
// The zero value is an empty cache. A Cache serves one batch, from one
// goroutine.
type Cache struct {
	layers  []attention.Cache
	keep    []float32 // [B, n] 0/1 flags of the cached positions, nil when all are 1
	b, n    int
	queries int
}

// Len returns the number of cached positions.
func (c *Cache) Len() int { return c.n }

// Queries returns how many of the cached positions are queries.
func (c *Cache) Queries() int { return c.queries }
