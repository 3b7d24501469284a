package projector

import (
	"github.com/govlm/vlm"
	"github.com/govlm/vlm/attention"
)

// ImageToken is LLaVA's IMAGE_TOKEN_INDEX, the id that stands for an
// image in input_ids; it never reaches the embedding table.
const ImageToken = -200

// EmbedFunc returns the language model's token embeddings of ids,
// [len(ids), D] (HF embed_tokens, without positions). lm.Model's
// EmbedTokens method is one.
type EmbedFunc func(tp *vlm.Tape, ids []int) (*vlm.Tensor, error)

// Sample is one unpadded multimodal sequence.
type Sample struct {
	// IDs are the token ids with a placeholder where each image goes.
	IDs []int
	// Images are the projected features of the sample's images, [N_i, D]
	// each, in placeholder order ([Unbind] splits a [M, N, D] batch).
	Images []*vlm.Tensor
	// Labels, aligned with IDs, are the training targets, -100
	// (vlm.IgnoreIndex) where no loss is wanted (the prompt:
	// [PromptLabels]); a placeholder's own label is dropped with it. Nil
	// for inference; a batch has labels on every sample or on none.
	Labels []int
}

// SpliceOptions configure [Splice]. The zero value is LLaVA's training
// layout: placeholder ImageToken, right padding, no truncation.
type SpliceOptions struct {
	// Side is where padding goes: attention.Right for training,
	// attention.Left for generation (the last position of every row is
	// then the sample's last token).
	Side attention.Side
	// Placeholder is the id that marks an image; 0 means [ImageToken].
	Placeholder int
	// Expanded takes HF transformers' form, in which the processor has
	// already repeated the placeholder once per feature row: the
	// placeholder positions are filled with the rows of the sample's
	// images in order (masked_scatter) instead of each placeholder
	// growing into a whole image.
	Expanded bool
	// MaxLen, if positive, truncates each spliced sample to MaxLen
	// positions (LLaVA's tokenizer_model_max_length).
	MaxLen int
}

// Batch is a padded batch of spliced sequences, the input of the language
// model (lm.Input's Embeds, Mask and Positions; Labels for its loss).
type Batch struct {
	Embeds    *vlm.Tensor // [B, T, D], zeros on padding
	Mask      [][]bool    // [B][T], true on real positions
	Positions [][]int     // [B][T], 0..len−1 on real positions, 0 on padding
	Labels    [][]int     // [B][T], -100 on images, padding and ignored tokens; nil without labels
}

// Splice builds the language model's input from token ids with image
// placeholders and the images' projected features, as LLaVA's
// prepare_inputs_labels_for_multimodal: each sample's text is embedded
// with embed, each placeholder is replaced by all N_i rows of its image
// (the sequence grows by N_i − 1), image rows get label -100, the samples
// are padded with zero vectors to the longest, and position ids count
// 0..len−1 over each sample's real positions (after the padding, with
// left padding).
//
// Errors name the sample whose placeholders and images do not match in
// number (or, Expanded, in rows), whose labels do not match its ids, or
// whose features are not [N, D] of the embeddings' width. On a tape,
// gradients flow to the images (and so to the projector) and to the
// embedding table through embed.
func Splice(tp *vlm.Tape, embed EmbedFunc, samples []Sample, o *SpliceOptions) (b *Batch, err error) {
	defer vlm.Recover(&err)
	var opt SpliceOptions
	if o != nil {
		opt = *o
	}
	if opt.Placeholder == 0 {
		opt.Placeholder = ImageToken
	}
	if err := checkSplice(embed, samples, &opt); err != nil {
		return nil, err
	}
	var text []int
	for _, s := range samples {
		for _, id := range s.IDs {
			if id != opt.Placeholder {
				text = append(text, id)
			}
		}
	}
	d := -1
	for _, s := range samples {
		for _, im := range s.Images {
			d = im.Shape[1]
		}
	}
	var textEmb *vlm.Tensor
	if len(text) > 0 {
		if textEmb, err = embed(tp, text); err != nil {
			return nil, err
		}
		if d < 0 {
			d = textEmb.Dim(-1)
		}
		if err := vlm.CheckShape("projector: text embeddings", textEmb, len(text), d); err != nil {
			return nil, vlm.Errorf(vlm.ErrShape, "%v (the images are %d wide)", err, d)
		}
	}
	seqs := make([]*vlm.Tensor, len(samples))
	labels := make([][]int, len(samples))
	off := 0
	for i, s := range samples {
		seqs[i], labels[i], off = splice(tp, s, textEmb, off, &opt)
		if opt.MaxLen > 0 && seqs[i].Shape[0] > opt.MaxLen {
			seqs[i] = vlm.Slice(tp, seqs[i], 0, 0, opt.MaxLen)
			labels[i] = labels[i][:opt.MaxLen]
		}
	}
	return pad(tp, seqs, labels, samples[0].Labels != nil, d, opt.Side), nil
}

func checkSplice(embed EmbedFunc, samples []Sample, o *SpliceOptions) error {
	if embed == nil {
		return vlm.Errorf(vlm.ErrConfig, "projector.Splice: no embedding function")
	}
	if len(samples) == 0 {
		return vlm.Errorf(vlm.ErrInput, "projector.Splice: no samples")
	}
	if o.Side != attention.Right && o.Side != attention.Left {
		return vlm.Errorf(vlm.ErrConfig, "projector.Splice: unknown padding side %d", o.Side)
	}
	if o.MaxLen < 0 {
		return vlm.Errorf(vlm.ErrConfig, "projector.Splice: MaxLen = %d, want >= 0", o.MaxLen)
	}
	d := -1
	for i, s := range samples {
		if len(s.IDs) == 0 {
			return vlm.Errorf(vlm.ErrInput, "projector.Splice: sample %d has no tokens", i)
		}
		if (s.Labels == nil) != (samples[0].Labels == nil) {
			return vlm.Errorf(vlm.ErrInput, "projector.Splice: sample %d has labels %v but sample 0 %v; give labels to every sample or to none", i, s.Labels != nil, samples[0].Labels != nil)
		}
		if s.Labels != nil && len(s.Labels) != len(s.IDs) {
			return vlm.Errorf(vlm.ErrShape, "projector.Splice: sample %d has %d labels for %d ids", i, len(s.Labels), len(s.IDs))
		}
		slots := 0
		for _, id := range s.IDs {
			if id == o.Placeholder {
				slots++
			}
		}
		rows := 0
		for k, im := range s.Images {
			if err := vlm.CheckShape("projector.Splice: image features", im, -1, d); err != nil {
				return vlm.Errorf(vlm.ErrShape, "projector.Splice: sample %d, image %d: %v", i, k, err)
			}
			if err := vlm.CheckFinite("projector.Splice: image features", im); err != nil {
				return vlm.Errorf(vlm.ErrInput, "projector.Splice: sample %d, image %d: %v", i, k, err)
			}
			d = im.Shape[1]
			rows += im.Shape[0]
		}
		switch {
		case o.Expanded && slots != rows:
			return vlm.Errorf(vlm.ErrInput, "projector.Splice: sample %d has %d image tokens but its %d images have %d feature rows", i, slots, len(s.Images), rows)
		case !o.Expanded && slots != len(s.Images):
			return vlm.Errorf(vlm.ErrInput, "projector.Splice: sample %d has %d image placeholders but %d images", i, slots, len(s.Images))
		}
	}
	return nil
}

// splice returns sample s's sequence [L, D] and labels; its text
// embeddings start at row off of textEmb, and the next sample's at the
// returned offset.
func splice(tp *vlm.Tape, s Sample, textEmb *vlm.Tensor, off int, o *SpliceOptions) (*vlm.Tensor, []int, int) {
	var pieces []*vlm.Tensor
	var labels []int
	var rows *vlm.Tensor // Expanded: the rows of all images, filled in order
	if o.Expanded && len(s.Images) > 0 {
		rows = vlm.Concat(tp, 0, s.Images...)
	}
	next, used := 0, 0
	for j := 0; j < len(s.IDs); {
		k := j
		if s.IDs[j] != o.Placeholder {
			for k < len(s.IDs) && s.IDs[k] != o.Placeholder {
				k++
			}
			pieces = append(pieces, vlm.Slice(tp, textEmb, 0, off, off+k-j))
			off += k - j
			if s.Labels != nil {
				labels = append(labels, s.Labels[j:k]...)
			} else {
				labels = append(labels, ignore(k-j)...)
			}
			j = k
			continue
		}
		if o.Expanded {
			for k < len(s.IDs) && s.IDs[k] == o.Placeholder {
				k++
			}
			pieces = append(pieces, vlm.Slice(tp, rows, 0, used, used+k-j))
			used += k - j
			labels = append(labels, ignore(k-j)...)
		} else {
			im := s.Images[next]
			next++
			pieces = append(pieces, im)
			labels = append(labels, ignore(im.Shape[0])...)
			k++
		}
		j = k
	}
	return vlm.Concat(tp, 0, pieces...), labels, off
}

func ignore(n int) []int {
	l := make([]int, n)
	for i := range l {
		l[i] = vlm.IgnoreIndex
	}
	return l
}

// pad stacks the sequences [L_i, D] into a batch padded on side.
func pad(tp *vlm.Tape, seqs []*vlm.Tensor, labels [][]int, withLabels bool, d int, side attention.Side) *Batch {
	t := 0
	for _, s := range seqs {
		t = max(t, s.Shape[0])
	}
	b := &Batch{Mask: make([][]bool, len(seqs)), Positions: make([][]int, len(seqs))}
	if withLabels {
		b.Labels = make([][]int, len(seqs))
	}
	rows := make([]*vlm.Tensor, len(seqs))
	for i, s := range seqs {
		n := s.Shape[0]
		start := 0
		if side == attention.Left {
			start = t - n
		}
		if n < t {
			z := vlm.Zeros(t-n, d)
			if side == attention.Left {
				s = vlm.Concat(tp, 0, z, s)
			} else {
				s = vlm.Concat(tp, 0, s, z)
			}
		}
		rows[i] = vlm.Reshape(tp, s, 1, t, d)
		b.Mask[i] = make([]bool, t)
		b.Positions[i] = make([]int, t)
		for j := range n {
			b.Mask[i][start+j] = true
			b.Positions[i][start+j] = j
		}
		if withLabels {
			b.Labels[i] = ignore(t)
			copy(b.Labels[i][start:], labels[i])
		}
	}
	b.Embeds = vlm.Concat(tp, 0, rows...)
	return b
}

// PromptLabels returns LLaVA's labels for ids whose first n tokens are
// the prompt: the ids, with -100 on the prompt so that only the answer is
// learnt. (Image placeholders are dropped by [Splice] whatever their
// label.)
func PromptLabels(ids []int, n int) []int {
	l := append([]int(nil), ids...)
	for i := range min(n, len(l)) {
		l[i] = vlm.IgnoreIndex
	}
	return l
}

// Unbind splits projected features x [M, N, D] into the M images
// [N, D] that [Sample].Images holds (torch.unbind(0)); gradients flow
// back into x.
func Unbind(tp *vlm.Tape, x *vlm.Tensor) (images []*vlm.Tensor, err error) {
	defer vlm.Recover(&err)
	if err := vlm.CheckShape("projector.Unbind features", x, -1, -1, -1); err != nil {
		return nil, err
	}
	m, n, d := x.Shape[0], x.Shape[1], x.Shape[2]
	images = make([]*vlm.Tensor, m)
	for i := range m {
		images[i] = vlm.Reshape(tp, vlm.Slice(tp, x, 0, i, i+1), n, d)
	}
	return images, nil
}
