package qformer

import (
	"context"

	"github.com/govlm/vlm"
)

// ImageEmbeds returns the contrastive image features of the images of
// mem, normalize(vision_projection(query outputs)) [B, Q, EmbedDim] (HF
// Blip2ForImageTextRetrieval image_embeds, LAVIS image_feats).
func (m *Model) ImageEmbeds(tp *vlm.Tape, mem *Memory) (emb *vlm.Tensor, err error) {
	defer vlm.Recover(&err)
	if m.VisionProj == nil {
		return nil, vlm.Errorf(vlm.ErrConfig, "qformer.ImageEmbeds: no vision_projection (Config.EmbedDim 0)")
	}
	out, err := m.Forward(tp, Input{Queries: true, Memory: mem})
	if err != nil {
		return nil, err
	}
	return m.imageFeatures(tp, out.Query), nil
}

// TextEmbeds returns the contrastive text features of texts ids [B][T]
// ([CLS] first) with padding mask [B, T] (nil: none),
// normalize(text_projection(output at [CLS])) [B, EmbedDim] from a text
// pass (HF text_embeds, LAVIS text_feat).
func (m *Model) TextEmbeds(tp *vlm.Tape, ids [][]int, mask *vlm.Tensor) (emb *vlm.Tensor, err error) {
	defer vlm.Recover(&err)
	if m.TextProj == nil {
		return nil, vlm.Errorf(vlm.ErrConfig, "qformer.TextEmbeds: no text_projection (Config.EmbedDim 0)")
	}
	out, err := m.Forward(tp, Input{IDs: ids, TextMask: mask})
	if err != nil {
		return nil, err
	}
	return m.textFeatures(tp, out.Text), nil
}

// Similarity returns the ITC retrieval score of every image against
// every text, sim[i, j] = max over queries q of img[i, q]·txt[j], for
// image features img [Bi, Q, E] and text features txt [Bt, E] from
// [Model.ImageEmbeds] and [Model.TextEmbeds]: a cosine, without
// temperature (LAVIS Blip2ITM match_head="itc", compute_sim_matrix; HF
// retrieval with use_image_text_matching_head=False). The result is
// [Bi, Bt].
func Similarity(img, txt *vlm.Tensor) (sim *vlm.Tensor, err error) {
	defer vlm.Recover(&err)
	if err := vlm.CheckShape("qformer.Similarity image features", img, -1, -1, -1); err != nil {
		return nil, err
	}
	if err := vlm.CheckShape("qformer.Similarity text features", txt, -1, img.Shape[2]); err != nil {
		return nil, err
	}
	bi, q, e := img.Shape[0], img.Shape[1], img.Shape[2]
	s := vlm.MatMul(nil, img.Reshape(bi*q, e), txt, false, true)
	sim, _ = vlm.MaxAxis(nil, s.Reshape(bi, q, txt.Shape[0]), 1)
	return sim, nil
}

// Match returns the image-text matching logits [B, 2] (column 1: the
// pair matches) of image b of mem with text b of ids [B][T] and padding
// mask [B, T] (nil: none): one Bidirectional pass of queries and text,
// itm_head on the query outputs, mean over queries (LAVIS Blip2ITM
// match_head="itm"; HF Blip2ForImageTextRetrieval logits_per_image).
func (m *Model) Match(tp *vlm.Tape, mem *Memory, ids [][]int, mask *vlm.Tensor) (logits *vlm.Tensor, err error) {
	defer vlm.Recover(&err)
	if m.ITMHead == nil {
		return nil, vlm.Errorf(vlm.ErrConfig, "qformer.Match: no itm_head (Config.EmbedDim 0)")
	}
	out, err := m.Forward(tp, Input{Queries: true, Memory: mem, IDs: ids, TextMask: mask, Mode: Bidirectional})
	if err != nil {
		return nil, err
	}
	return vlm.MeanAxis(tp, m.ITMHead.Forward(tp, out.Query), 1), nil
}

// Project maps query outputs query [B, Q, D] into the language model,
// language_projection(query) [B, Q, LMDim] (HF
// Blip2ForConditionalGeneration / InstructBlipForConditionalGeneration;
// LAVIS opt_proj, t5_proj, llm_proj): the soft visual prompt placed
// before the text embeddings.
func (m *Model) Project(tp *vlm.Tape, query *vlm.Tensor) (y *vlm.Tensor, err error) {
	defer vlm.Recover(&err)
	if m.LanguageProj == nil {
		return nil, vlm.Errorf(vlm.ErrConfig, "qformer.Project: no language_projection (Config.LMDim 0)")
	}
	if err := vlm.CheckShape("qformer.Project query outputs", query, -1, -1, m.Config.Dim); err != nil {
		return nil, err
	}
	return m.LanguageProj.Forward(tp, query), nil
}

// GenerateOptions tunes [Model.Generate].
type GenerateOptions struct {
	// MaxLen is the largest number of tokens generated after [DEC]
	// (LAVIS max_length 30 counts [DEC]); 0 means 29.
	MaxLen int
	// MinLen is the number of tokens generated before EOS may be chosen
	// (LAVIS min_length 10 counts [DEC]); 0 allows EOS at once.
	MinLen int
	// EOS ends a caption ([SEP] for the BERT tokenizer); it is not
	// returned.
	EOS int
}

// Generate captions the images of mem greedily through the captioning
// (ITG) decoder: one query pass fills a [Cache], then each step feeds the
// last token (Config.DecID first) in MultimodalCausal mode over the
// cached keys and values and takes the most likely next token. It
// returns the tokens of each caption without [DEC] and EOS. LAVIS
// decodes with beam search (3 beams); this is the greedy decoder.
func (m *Model) Generate(ctx context.Context, mem *Memory, o GenerateOptions) (caps [][]int, err error) {
	defer vlm.Recover(&err)
	c := m.Config
	if m.LMHead == nil {
		return nil, vlm.Errorf(vlm.ErrConfig, "qformer.Generate: no LM head (Config.LMHead)")
	}
	if o.MaxLen == 0 {
		o.MaxLen = 29
	}
	if o.MaxLen < 1 || o.MaxLen > c.MaxPositions || o.MinLen < 0 || o.EOS < 0 || o.EOS >= c.Vocab {
		return nil, vlm.Errorf(vlm.ErrConfig, "qformer.Generate: MaxLen %d (want 1 to %d positions), MinLen %d, EOS %d (vocabulary %d)", o.MaxLen, c.MaxPositions, o.MinLen, o.EOS, c.Vocab)
	}
	cache := &Cache{}
	if _, err := m.Forward(nil, Input{Queries: true, Memory: mem, Cache: cache}); err != nil {
		return nil, err
	}
	b := mem.b
	caps = make([][]int, b)
	done := make([]bool, b)
	ids := make([][]int, b)
	for i := range ids {
		ids[i] = []int{c.DecID}
	}
	for step := range o.MaxLen {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		out, err := m.Forward(nil, Input{IDs: ids, Mode: MultimodalCausal, Cache: cache})
		if err != nil {
			return nil, err
		}
		logits := m.LMHead.Forward(nil, out.Text) // [B, 1, V]
		left := 0
		for i := range b {
			row := logits.Data[i*c.Vocab : (i+1)*c.Vocab]
			best := -1
			for j, v := range row {
				if (j != o.EOS || step >= o.MinLen) && (best < 0 || v > row[best]) {
					best = j
				}
			}
			ids[i][0] = best
			if done[i] {
				continue
			}
			if best == o.EOS {
				done[i] = true
				continue
			}
			caps[i] = append(caps[i], best)
			left++
		}
		if left == 0 {
			break
		}
	}
	return caps, nil
}
