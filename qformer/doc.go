// Package qformer is the Querying Transformer of BLIP-2 (Li et al. 2023,
// arXiv:2301.12597) and InstructBLIP (Dai et al. 2023): a BERT-style
// transformer whose Q learned queries read a frozen image encoder through
// cross-attention and share self-attention with text, trained with three
// objectives whose masks differ, then used to hand Q visual tokens to a
// language model. It matches LAVIS and Hugging Face transformers to
// float32 precision, forward and backward (testdata/gen/qformer.py writes
// the golden files from a plain-torch re-implementation).
//
// # Model and names
//
// [New] builds a [Model] from a [Config]; [BLIP2] is the published stage-1
// configuration (12 layers of width 768, 12 heads, FFN 3072, 32 queries,
// cross-attention every 2nd layer into 1408-wide EVA ViT-g features, the
// BERT text side with [DEC], ITC/ITM heads, LM head: 186,702,654
// parameters, see [Config.ParamCount]); [BLIP2Stage2] and [InstructBLIP]
// are the Q-Formers that feed OPT/Flan-T5 and Vicuna. Every layer is
//
//	self-attention over all rows           attention.attention.*, attention.output.*
//	cross-attention of the query rows      crossattention.* (layers 0, 2, 4, ...)
//	query FFN for query rows               intermediate_query.*, output_query.*
//	text FFN for text rows                 intermediate.*, output.*
//
// each post-norm (LayerNorm eps 1e-12, exact GELU). Queries and text go
// through the embeddings LayerNorm first; text has word and position
// embeddings (positions count text tokens only).
//
// Parameter names are Hugging Face's ([Model.VisitParams]): those of
// Blip2ForImageTextRetrieval and Blip2ForConditionalGeneration with
// [BLIP2Names], of InstructBlipForConditionalGeneration with
// [InstructBLIPNames], without their vision and language models, plus
// LAVIS's temp and cls.predictions (HF has neither). [Model.QFormer] is
// the stand-alone Blip2QFormerModel / InstructBlipQFormerModel.
// [LAVISRename] maps LAVIS checkpoints (Qformer.bert.*, attention.self,
// vision_proj, opt_proj, ...) onto these names and skips the keys of
// LAVIS's vision and language models:
//
//	m, _ := qformer.New(nil, qformer.BLIP2Stage2(2560))
//	_, err := vlm.LoadWeights(m, "blip2-opt-2.7b.safetensors.index.json",
//		&vlm.LoadOptions{Ignore: []string{"vision_model.*", "language_model.*"}})
//	_, err = vlm.LoadWeights(stage1, "blip2_pretrained.safetensors",
//		&vlm.LoadOptions{Rename: qformer.LAVISRename(qformer.BLIP2Names)})
//
// The LM head's decoder is tied to the word embeddings (one parameter
// visited under both names, gradients summed), and the embeddings'
// padding row [PAD] gets no gradient from the lookup (nn.Embedding
// padding_idx), only from the tied decoder. A Go program has no BERT
// tokenizer: it passes token ids (bert-base-uncased's [CLS] = [CLSID],
// [SEP] = [SEPID], [PAD] = [PadID], and BLIP-2's [DEC] = [DECID]) or
// its own vocabulary with a matching Config.
//
// # Passes and masks
//
// [Model.Forward] runs queries only, text only, or queries followed by
// text, under a [Mode], one per pre-training objective (paper Fig. 2; Q=2,
// T=3, the last token padding; 1 = may attend):
//
//	Unimodal (ITC)   Bidirectional (ITM)   MultimodalCausal (ITG)
//	11000            11110                 11000
//	11000            11110                 11000
//	00110            11110                 11100
//	00110            11110                 11110
//	00110            11110                 11110
//
// [Mask] returns these matrices. Masked self-attention scores get −10000
// added, as in LAVIS and HF; padded image tokens (Input.ImageMask, HF's
// encoder_attention_mask) get finfo(float32).min. Only query rows
// cross-attend and use the query FFN; text rows use the text FFN and see
// the image only through the queries. [Output] splits the last hidden
// state into query and text rows. InstructBLIP is a Bidirectional pass of
// queries and instruction whose query rows go on ([Model.Project]).
//
// # Memory and cache
//
// At BLIP-2 size the key/value projections of the 257×1408 image features
// are half of a query pass's work and depend only on the image.
// [Model.Memory] computes them once per image for every cross-attention
// layer; every pass over those images reuses them, and [Memory.Select]
// gathers them for another pairing of the same images (the ITM pass of
// a training step pairs each text with a negative image) with gradients
// flowing back. The attention package has its own Memory for one module;
// this one holds plain tensors so that entries can be gathered.
//
// A [Cache] keeps the self-attention keys and values of processed
// positions (LAVIS past_key_values): the captioning loss runs the text
// once over the cached keys and values of the ITC query pass, with
// gradients flowing back into that pass, and [Model.Generate] decodes
// greedily one token at a time.
//
// # Stage-1 losses
//
// [Model.Loss] computes ITC, ITM and ITG as LAVIS's Blip2Qformer.forward
// does on one machine:
//
//   - ITC: vision_projection of every query output and text_projection of
//     the [CLS] output, L2-normalised; the similarity of an image and a
//     text is the maximum over queries, divided by the learnable
//     temperature temp; cross-entropy in both directions with label
//     smoothing 0.1. LAVIS gathers the other side of each product across
//     GPUs under no_grad, so image features get gradient only from
//     image→text and text features only from text→image; this holds on
//     one machine too, and Loss reproduces it. With Batch.ImageIDs, pairs
//     of one image are positives of each other (soft targets).
//   - ITM: for every text a negative image and for every image a
//     negative text, drawn from the softmax of the ITC similarities with
//     the positives set to −10000 (torch.multinomial in LAVIS; here
//     LossOptions.Rand, or LossOptions.Negatives to inject them); one
//     Bidirectional pass over the 3B pairs; itm_head averaged over the
//     query outputs; cross-entropy without smoothing.
//   - ITG: [DEC] replaces [CLS]; the text runs in MultimodalCausal mode
//     over the cached query keys and values; the tied LM head predicts
//     each next token, padding ignored, label smoothing 0.1.
//
// temp is a raw learnable scalar, 0.07 at first, not clamped in BLIP-2;
// [Model.ClampTemp] offers BLIP's clamp to [0.001, 0.5] for training loops
// that want it.
//
// # Retrieval and generation
//
// [Model.ImageEmbeds], [Model.TextEmbeds] and [Similarity] give ITC
// retrieval scores (cosines, no temperature); [Model.Match] gives ITM
// logits, with which LAVIS re-ranks the top ITC candidates.
// [Model.Generate] captions greedily through the ITG decoder (LAVIS uses
// beam search).
//
// # Differences from the references
//
// Dropout is active only on vlm.NewTrainingTape tapes (model.train());
// other tapes are model.eval() with autograd. Everything is float32, as
// LAVIS runs the Q-Former; LAVIS's fp16 EVA ViT belongs to the image
// encoder. LAVIS cannot take a batch of one (its squeeze() drops the
// batch axis); this package can, and then the only ITM negative of a
// pair is the pair itself, as softmax over one entry gives.
//
// # Errors, tapes and concurrency
//
// Constructors and Model methods validate their inputs and return errors
// wrapping vlm.ErrConfig, vlm.ErrShape or vlm.ErrInput. With a nil tape a
// Model is only read, so goroutines may share it; a Cache serves one
// batch from one goroutine.
package qformer
