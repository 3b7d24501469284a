package qformer

import "github.com/govlm/vlm"

// Token ids of bert-base-uncased with BLIP-2's added [DEC] token, the
// Q-Former tokenizer of LAVIS (Blip2Base.init_tokenizer) and of the
// Hugging Face processors. A Go program has no BERT tokenizer: it passes
// token ids, [CLS] first, [SEP] last, [PAD] after.
const (
	PadID = 0     // [PAD], the embeddings' padding_idx
	CLSID = 101   // [CLS], first token of every text; its output is the text feature
	SEPID = 102   // [SEP], end of text; also the end of a generated caption
	DECID = 30522 // [DEC], replaces [CLS] as the first token of the captioning (ITG) decoder
)

// Names selects where the text embeddings and the embeddings LayerNorm
// sit in the Hugging Face checkpoint; the layers are named alike in both.
type Names int

const (
	// BLIP2Names are those of Blip2ForImageTextRetrieval and
	// Blip2ForConditionalGeneration: embeddings.word_embeddings,
	// embeddings.position_embeddings (outside the Q-Former) and
	// qformer.layernorm.
	BLIP2Names Names = iota
	// InstructBLIPNames are those of InstructBlipForConditionalGeneration:
	// qformer.embeddings.{word_embeddings,position_embeddings,layernorm}.
	InstructBLIPNames
)

// Config sizes a Q-Former and says which of its optional parts exist.
// The presets [BLIP2], [BLIP2Stage2] and [InstructBLIP] give the published
// configurations; smaller ones are for tests and examples.
type Config struct {
	Dim        int // D, hidden_size (768)
	Layers     int // num_hidden_layers (12)
	Heads      int // num_attention_heads (12); must divide Dim
	Hidden     int // intermediate_size of both FFNs (3072)
	CrossEvery int // cross_attention_frequency: layers 0, CrossEvery, 2·CrossEvery, ... cross-attend (2)
	VisionDim  int // W, width of the image features, encoder_hidden_size (1408 for EVA ViT-g)
	Queries    int // Q, num_query_tokens (32)

	// Vocab is the size of the word embeddings (30523 = bert-base-uncased
	// + [DEC]). 0 means no text side: no word and position embeddings and
	// no text FFN, as the stage-2 models (Blip2ForConditionalGeneration,
	// LAVIS Blip2OPT/Blip2T5) have; only queries flow.
	Vocab        int
	MaxPositions int // max_position_embeddings (512); text tokens only, queries take none
	PadID        int // pad_token_id: padding_idx of the word embeddings, ignored ITG labels
	DecID        int // bos_token_id of the ITG decoder ([DEC]); used with LMHead

	// EmbedDim is the width of the image-text contrastive features (256).
	// A positive EmbedDim adds the stage-1 heads vision_projection,
	// text_projection, itm_head and the temperature temp; 0 leaves them
	// out.
	EmbedDim int
	// LMHead adds BERT's LM head cls.predictions (dense, GELU, LayerNorm,
	// decoder tied to the word embeddings) for the captioning loss (ITG)
	// and generation. LAVIS stage 1 has it; Hugging Face has none.
	LMHead bool
	// LMDim is the output width of language_projection, the linear map of
	// the query outputs into a language model (2560 for OPT-2.7B, 4096 for
	// Vicuna-7B); 0 leaves it out.
	LMDim int

	Names       Names
	Eps         float32 // LayerNorm eps; 0 means 1e-12
	Dropout     float32 // hidden_dropout_prob (0.1), active on training tapes only
	AttnDropout float32 // attention_probs_dropout_prob (0.1), training tapes only
	InitStd     float32 // initializer_range of fresh weights; 0 means 0.02
}

// withDefaults fills the zero fields that have defaults.
func (c Config) withDefaults() Config {
	if c.Eps == 0 {
		c.Eps = 1e-12
	}
	if c.InitStd == 0 {
		c.InitStd = 0.02
	}
	return c
}

// BLIP2 returns the Q-Former of BLIP-2 stage 1 (LAVIS Blip2Qformer with
// EVA ViT-g): 12 layers of width 768 with 12 heads and FFN 3072,
// cross-attention into 1408-wide image features every 2nd layer, 32
// queries, the BERT text side with [DEC] (30523 words, 512 positions),
// the ITC/ITM heads (256) and the tied LM head. See [Config.ParamCount]
// for its size.
func BLIP2() Config {
	return Config{
		Dim: 768, Layers: 12, Heads: 12, Hidden: 3072, CrossEvery: 2, VisionDim: 1408, Queries: 32,
		Vocab: 30523, MaxPositions: 512, PadID: PadID, DecID: DECID,
		EmbedDim: 256, LMHead: true,
		Eps: 1e-12, Dropout: 0.1, AttnDropout: 0.1, InitStd: 0.02,
	}
}

// BLIP2Stage2 returns the Q-Former of Blip2ForConditionalGeneration (HF)
// or LAVIS Blip2OPT/Blip2T5: the layers of [BLIP2] without text side and
// heads, and language_projection to lmDim (2560 for OPT-2.7B, 4096 for
// OPT-6.7B, 2048 for Flan-T5-XL).
func BLIP2Stage2(lmDim int) Config {
	c := BLIP2()
	c.Vocab, c.MaxPositions, c.DecID, c.EmbedDim, c.LMHead, c.LMDim = 0, 0, 0, 0, false, lmDim
	return c
}

// InstructBLIP returns the Q-Former of InstructBlipForConditionalGeneration
// (LAVIS Blip2VicunaInstruct/Blip2T5Instruct): the layers and text side
// of [BLIP2] with InstructBLIPNames, no stage-1 heads, and
// language_projection to lmDim (4096 for Vicuna-7B, 5120 for Vicuna-13B,
// 2048 for Flan-T5-XL).
func InstructBLIP(lmDim int) Config {
	c := BLIP2()
	c.EmbedDim, c.LMHead, c.LMDim, c.Names = 0, false, lmDim, InstructBLIPNames
	return c
}

// HasCross reports whether layer i has cross-attention (i % CrossEvery == 0).
func (c Config) HasCross(i int) bool { return i%c.CrossEvery == 0 }

// Validate returns an ErrConfig error naming the first invalid field,
// after filling the zero fields that have defaults.
func (c Config) Validate() error {
	c = c.withDefaults()
	bad := func(format string, args ...any) error { return vlm.Errorf(vlm.ErrConfig, "qformer: "+format, args...) }
	switch {
	case c.Dim < 1 || c.Heads < 1 || c.Dim%c.Heads != 0:
		return bad("Dim %d with %d Heads: want Heads >= 1 dividing Dim", c.Dim, c.Heads)
	case c.Layers < 1 || c.Hidden < 1 || c.CrossEvery < 1 || c.VisionDim < 1 || c.Queries < 1:
		return bad("Layers %d, Hidden %d, CrossEvery %d, VisionDim %d, Queries %d: want all >= 1", c.Layers, c.Hidden, c.CrossEvery, c.VisionDim, c.Queries)
	case c.Vocab < 0 || c.EmbedDim < 0 || c.LMDim < 0:
		return bad("Vocab %d, EmbedDim %d, LMDim %d: want >= 0", c.Vocab, c.EmbedDim, c.LMDim)
	case c.Vocab > 0 && (c.MaxPositions < 1 || c.PadID < 0 || c.PadID >= c.Vocab):
		return bad("text side with MaxPositions %d, PadID %d: want MaxPositions >= 1 and PadID in [0, %d)", c.MaxPositions, c.PadID, c.Vocab)
	case c.Vocab == 0 && (c.EmbedDim > 0 || c.LMHead):
		return bad("ITC/ITM heads (EmbedDim %d) and LMHead %v need the text side (Vocab > 0)", c.EmbedDim, c.LMHead)
	case c.LMHead && (c.DecID < 0 || c.DecID >= c.Vocab || c.DecID == c.PadID):
		return bad("LMHead with DecID %d: want an id in [0, %d) other than PadID %d", c.DecID, c.Vocab, c.PadID)
	case c.Names != BLIP2Names && c.Names != InstructBLIPNames:
		return bad("unknown Names %d", int(c.Names))
	case !(c.Eps > 0) || !(c.InitStd > 0):
		return bad("Eps %g, InitStd %g: want > 0", c.Eps, c.InitStd)
	case c.Dropout < 0 || c.Dropout >= 1 || c.AttnDropout < 0 || c.AttnDropout >= 1:
		return bad("Dropout %g, AttnDropout %g: want [0, 1)", c.Dropout, c.AttnDropout)
	}
	return nil
}

// ParamCount returns the number of scalar parameters of a model of this
// configuration, tied weights counted once, without building it (it
// equals vlm.CountParams of [New]'s model). For [BLIP2] it is 186,702,654:
//
//	12 self-attention blocks (4 × 768² + 4 × 768 + LayerNorm)        28,366,848
//	 6 cross-attention blocks (queries 768², keys/values 1408 × 768)  20,081,664
//	24 FFNs, 12 for queries and 12 for text (2 × 768 × 3072 + ...)  113,375,232
//	word (30523 × 768) and position (512 × 768) embeddings, LayerNorm 23,836,416
//	32 query tokens                                                       24,576
//	LM head (dense, LayerNorm, bias 30523; decoder tied to the words)    622,651
//	vision/text projections to 256, ITM head, temperature                395,267
//
// The BLIP-2 paper rounds it to 188M. A count that also includes BERT's
// pooler (768² + 768; LAVIS builds the Q-Former with
// add_pooling_layer=False and HF has none) gives 187.3M.
func (c Config) ParamCount() int {
	d, h := c.Dim, c.Hidden
	lin := func(in, out int) int { return in*out + out }
	ln := 2 * d
	self := 4*lin(d, d) + ln
	cross := 2*lin(d, d) + 2*lin(c.VisionDim, d) + ln
	ffn := lin(d, h) + lin(h, d) + ln
	n := c.Queries*d + ln
	for i := range c.Layers {
		n += self + ffn
		if c.HasCross(i) {
			n += cross
		}
		if c.Vocab > 0 {
			n += ffn
		}
	}
	if c.Vocab > 0 {
		n += (c.Vocab + c.MaxPositions) * d
	}
	if c.EmbedDim > 0 {
		n += 2*lin(d, c.EmbedDim) + lin(d, 2) + 1
	}
	if c.LMHead {
		n += lin(d, d) + ln + c.Vocab
	}
	if c.LMDim > 0 {
		n += lin(d, c.LMDim)
	}
	return n
}
