package qformer

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/attention"
)

// Model is a BLIP-2 / InstructBLIP Q-Former with its learned queries and
// the optional text side, stage-1 heads, LM head and language projection
// of its [Config]. Parameter names are Hugging Face's (see
// [Model.VisitParams]); LAVIS checkpoints load through [LAVISRename].
//
// A Model is read-only during inference (nil tape), so any number of
// goroutines may share one. Training (a recording tape) belongs to one
// goroutine.
type Model struct {
	Config Config

	QueryTokens *vlm.Param     // query_tokens [1, Q, D]
	Word        *vlm.Embedding // word_embeddings [V, D], padding_idx PadID; nil without text
	Position    *vlm.Embedding // position_embeddings [MaxPositions, D]; nil without text
	Norm        *vlm.LayerNorm // the embeddings LayerNorm, applied to queries and text
	Layers      []*Layer

	VisionProj *vlm.Linear // vision_projection [EmbedDim, D]; nil without EmbedDim
	TextProj   *vlm.Linear // text_projection [EmbedDim, D]
	ITMHead    *vlm.Linear // itm_head [2, D]
	Temp       *vlm.Param  // temp, a scalar (LAVIS; HF has none)

	LMHead       *LMHead     // cls.predictions; nil without Config.LMHead
	LanguageProj *vlm.Linear // language_projection [LMDim, D]; nil without LMDim
}

// Layer is one Q-Former layer: self-attention over queries and text,
// cross-attention of the query rows into the image (every CrossEvery-th
// layer), and one FFN for query rows and another for text rows, each
// post-norm (BERT). Keys: attention.*, crossattention.*,
// intermediate_query.dense.*, output_query.{dense,LayerNorm}.*,
// intermediate.dense.*, output.{dense,LayerNorm}.*.
type Layer struct {
	Attention      *attention.Sublayer
	CrossAttention *attention.Sublayer    // nil on layers without cross-attention
	QueryFFN       *attention.FeedForward // intermediate_query / output_query
	FFN            *attention.FeedForward // intermediate / output (text rows); nil without text
}

// VisitParams implements vlm.Module.
func (l *Layer) VisitParams(prefix string, visit func(string, *vlm.Param)) {
	l.Attention.VisitParams(prefix, visit)
	if l.CrossAttention != nil {
		l.CrossAttention.VisitParams(prefix, visit)
	}
	if l.FFN != nil {
		l.FFN.VisitParams(prefix, visit)
	}
	l.QueryFFN.VisitParams(prefix, visit)
}

// LMHead is BERT's masked-LM head, BertLMPredictionHead, used by the
// captioning objective: logits = Decoder(LN(GELU(Dense(h)))). Its decoder
// weight is the word embedding table (tied) and its decoder bias is the
// head's bias; each pair is one parameter visited under both names.
// Keys: transform.dense.*, transform.LayerNorm.*, bias, decoder.weight,
// decoder.bias.
type LMHead struct {
	Dense   *vlm.Linear    // [D, D]
	Norm    *vlm.LayerNorm // [D]
	Decoder *vlm.Linear    // weight = Model.Word.Weight [V, D], bias [V]
}

// VisitParams implements vlm.Module.
func (h *LMHead) VisitParams(prefix string, visit func(string, *vlm.Param)) {
	visit(prefix+"bias", h.Decoder.Bias)
	h.Dense.VisitParams(prefix+"transform.dense.", visit)
	h.Norm.VisitParams(prefix+"transform.LayerNorm.", visit)
	h.Decoder.VisitParams(prefix+"decoder.", visit)
}

// Forward maps hidden states [..., D] to logits [..., V].
func (h *LMHead) Forward(tp *vlm.Tape, x *vlm.Tensor) *vlm.Tensor {
	return h.Decoder.Forward(tp, h.Norm.Forward(tp, vlm.GELU(tp, h.Dense.Forward(tp, x))))
}

// New returns a Q-Former of configuration c with fresh weights drawn from
// rng as LAVIS initialises a stage-1 model: the BERT parts and the query
// tokens from N(0, InitStd²) with zero biases and unit LayerNorms, the
// padding row of the word embeddings zero, each query FFN a copy of its
// layer's text FFN, the heads with PyTorch's default Linear
// initialisation, temp 0.07. A nil rng means vlm.NewRand(0) (weights to be
// loaded).
func New(rng *rand.Rand, c Config) (*Model, error) {
	c = c.withDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if rng == nil {
		rng = vlm.NewRand(0)
	}
	ac := attention.Config{
		Dim: c.Dim, Heads: c.Heads, Hidden: c.Hidden, Eps: c.Eps, Act: vlm.ActGELU,
		AttnDropout: c.AttnDropout, Dropout: c.Dropout, Names: attention.BLIP2Names,
	}
	cc := ac
	cc.KVDim = c.VisionDim
	m := &Model{
		Config:      c,
		QueryTokens: vlm.NewParam(vlm.Zeros(1, c.Queries, c.Dim)),
		Norm:        vlm.NewLayerNorm(c.Dim, c.Eps),
	}
	var err error
	for i := range c.Layers {
		l := &Layer{}
		if l.Attention, err = attention.NewBERTAttention(rng, ac, "attention"); err != nil {
			return nil, err
		}
		if c.HasCross(i) {
			if l.CrossAttention, err = attention.NewBERTAttention(rng, cc, "crossattention"); err != nil {
				return nil, err
			}
		}
		if l.QueryFFN, err = attention.NewBERTFeedForward(rng, ac, "_query"); err != nil {
			return nil, err
		}
		if c.Vocab > 0 {
			if l.FFN, err = attention.NewBERTFeedForward(rng, ac, ""); err != nil {
				return nil, err
			}
		}
		m.Layers = append(m.Layers, l)
	}
	if c.Vocab > 0 {
		m.Word = &vlm.Embedding{Weight: vlm.NewParam(vlm.Zeros(c.Vocab, c.Dim)), PaddingIdx: c.PadID}
		m.Position = &vlm.Embedding{Weight: vlm.NewParam(vlm.Zeros(c.MaxPositions, c.Dim)), PaddingIdx: -1}
	}
	if c.LMHead {
		m.LMHead = &LMHead{
			Dense:   vlm.NewLinear(rng, c.Dim, c.Dim, true),
			Norm:    vlm.NewLayerNorm(c.Dim, c.Eps),
			Decoder: &vlm.Linear{Weight: m.Word.Weight, Bias: vlm.NewParam(vlm.Zeros(c.Vocab))},
		}
	}
	m.initBERT(rng)
	if m.Word != nil {
		clear(m.Word.Weight.Value.Data[c.PadID*c.Dim : (c.PadID+1)*c.Dim])
	}
	for _, l := range m.Layers {
		if l.FFN != nil {
			copyFFN(l.QueryFFN, l.FFN)
		}
	}
	if c.EmbedDim > 0 {
		m.VisionProj = vlm.NewLinear(rng, c.Dim, c.EmbedDim, true)
		m.TextProj = vlm.NewLinear(rng, c.Dim, c.EmbedDim, true)
		m.ITMHead = vlm.NewLinear(rng, c.Dim, 2, true)
		m.Temp = vlm.NewParam(vlm.Scalar(0.07))
	}
	if c.LMDim > 0 {
		m.LanguageProj = vlm.NewLinear(rng, c.Dim, c.LMDim, true)
	}
	return m, nil
}

// MustNew is [New] for tests and examples: it panics on an error.
func MustNew(rng *rand.Rand, c Config) *Model {
	m, err := New(rng, c)
	if err != nil {
		panic(err)
	}
	return m
}

func fill(t *vlm.Tensor, v float32) {
	for i := range t.Data {
		t.Data[i] = v
	}
}

// copyFFN copies the values of src into dst (LAVIS initialises each
// *_query FFN from the text FFN of its layer).
func copyFFN(dst, src *attention.FeedForward) {
	s := vlm.ParamMap(src)
	dst.VisitParams("", func(name string, p *vlm.Param) {
		copy(p.Value.Data, s[strings.ReplaceAll(name, "_query", "")].Value.Data)
	})
}

// VisitParams implements vlm.Module with the names of Hugging Face's
// Blip2ForImageTextRetrieval, Blip2ForConditionalGeneration or
// InstructBlipForConditionalGeneration (Config.Names) without their
// vision and language models, plus LAVIS's temp and cls.predictions:
//
//	query_tokens
//	embeddings.{word,position}_embeddings.weight         (BLIP2Names, with text)
//	qformer.layernorm.*                                   (BLIP2Names)
//	qformer.embeddings.{word_embeddings,position_embeddings,layernorm}.*  (InstructBLIPNames)
//	qformer.encoder.layer.{i}.attention.attention.{query,key,value}.*
//	qformer.encoder.layer.{i}.attention.output.{dense,LayerNorm}.*
//	qformer.encoder.layer.{i}.crossattention.*            (i % CrossEvery == 0)
//	qformer.encoder.layer.{i}.intermediate_query.dense.*, output_query.{dense,LayerNorm}.*
//	qformer.encoder.layer.{i}.intermediate.dense.*, output.{dense,LayerNorm}.*  (with text)
//	vision_projection.*, text_projection.*, itm_head.*, temp  (EmbedDim > 0)
//	cls.predictions.{bias,transform.*,decoder.*}          (LMHead; decoder tied)
//	language_projection.*                                 (LMDim > 0)
func (m *Model) VisitParams(prefix string, visit func(string, *vlm.Param)) {
	visit(prefix+"query_tokens", m.QueryTokens)
	if m.Config.Names == BLIP2Names && m.Word != nil {
		m.Word.VisitParams(prefix+"embeddings.word_embeddings.", visit)
		m.Position.VisitParams(prefix+"embeddings.position_embeddings.", visit)
	}
	m.QFormer().VisitParams(prefix+"qformer.", visit)
	if m.VisionProj != nil {
		m.VisionProj.VisitParams(prefix+"vision_projection.", visit)
		m.TextProj.VisitParams(prefix+"text_projection.", visit)
		m.ITMHead.VisitParams(prefix+"itm_head.", visit)
		visit(prefix+"temp", m.Temp)
	}
	if m.LMHead != nil {
		m.LMHead.VisitParams(prefix+"cls.predictions.", visit)
	}
	if m.LanguageProj != nil {
		m.LanguageProj.VisitParams(prefix+"language_projection.", visit)
	}
}

// QFormer returns the parameters of Hugging Face's Blip2QFormerModel
// (InstructBlipQFormerModel with InstructBLIPNames) under that model's
// own state_dict names, layernorm.* (embeddings.* for InstructBLIP) and
// encoder.layer.{i}.*, to load or save a stand-alone Q-Former checkpoint.
func (m *Model) QFormer() vlm.Module { return qformerView{m} }

type qformerView struct{ m *Model }

func (v qformerView) VisitParams(prefix string, visit func(string, *vlm.Param)) {
	m := v.m
	if m.Config.Names == InstructBLIPNames {
		if m.Word != nil {
			m.Word.VisitParams(prefix+"embeddings.word_embeddings.", visit)
			m.Position.VisitParams(prefix+"embeddings.position_embeddings.", visit)
		}
		m.Norm.VisitParams(prefix+"embeddings.layernorm.", visit)
	} else {
		m.Norm.VisitParams(prefix+"layernorm.", visit)
	}
	for i, l := range m.Layers {
		l.VisitParams(fmt.Sprintf("%sencoder.layer.%d.", prefix, i), visit)
	}
}

// initBERT initialises what LAVIS builds as BertLMHeadModel, and the
// query tokens, as BertPreTrainedModel._init_weights does: N(0, InitStd²)
// weights, zero biases, unit LayerNorms.
func (m *Model) initBERT(rng *rand.Rand) {
	std := m.Config.InitStd
	visit := func(name string, p *vlm.Param) {
		switch {
		case strings.HasSuffix(strings.ToLower(name), "layernorm.weight"):
			fill(p.Value, 1)
		case strings.HasSuffix(name, "bias"):
			fill(p.Value, 0)
		default:
			for i := range p.Value.Data {
				p.Value.Data[i] = float32(rng.NormFloat64()) * std
			}
		}
	}
	visit("query_tokens", m.QueryTokens)
	if m.Word != nil {
		m.Word.VisitParams("word_embeddings.", visit)
		m.Position.VisitParams("position_embeddings.", visit)
	}
	for _, l := range m.Layers {
		l.VisitParams("", visit)
	}
	if h := m.LMHead; h != nil {
		h.Dense.VisitParams("transform.dense.", visit)
		h.Norm.VisitParams("transform.LayerNorm.", visit)
		visit("bias", h.Decoder.Bias)
	}
}

// ClampTemp clamps the temperature to [lo, hi] in place, as BLIP and
// ALBEF do before every step (temp.clamp_(0.001, 0.5)). BLIP-2 does not
// clamp (its temp is a raw learnable scalar); a training loop may call
// this after each optimizer step to keep a fast-learning temperature
// positive. It does nothing on a model without ITC heads.
func (m *Model) ClampTemp(lo, hi float32) {
	if m.Temp != nil {
		t := m.Temp.Value.Data
		t[0] = min(max(t[0], lo), hi)
	}
}

// LAVISRename returns the vlm.LoadOptions.Rename function that maps the
// state_dict keys of a LAVIS checkpoint (Blip2Qformer, Blip2OPT,
// Blip2T5, Blip2VicunaInstruct, Blip2T5Instruct) to the parameter names
// of a Model with the given Names:
//
//	Qformer.bert.embeddings.LayerNorm.*   → qformer.layernorm.* (qformer.embeddings.layernorm.*)
//	Qformer.bert.embeddings.*_embeddings  → embeddings.* (qformer.embeddings.*)
//	Qformer.bert.encoder.*                → qformer.encoder.*, attention.self. → attention.attention.
//	Qformer.cls.predictions.*             → cls.predictions.*
//	vision_proj, text_proj                → vision_projection, text_projection
//	opt_proj, t5_proj, llm_proj           → language_projection
//
// query_tokens, itm_head and temp keep their names. Keys of the other
// modules of a LAVIS model (visual_encoder, ln_vision, opt_model,
// t5_model, llm_model) and the position_ids buffer map to "" and are
// skipped; any other key is kept, so a strict load reports it.
//
//	vlm.LoadWeights(m, "blip2_pretrained.safetensors", &vlm.LoadOptions{Rename: qformer.LAVISRename(qformer.BLIP2Names)})
func LAVISRename(names Names) func(key string) string {
	emb, norm := "embeddings.", "qformer.layernorm."
	if names == InstructBLIPNames {
		emb, norm = "qformer.embeddings.", "qformer.embeddings.layernorm."
	}
	return func(key string) string {
		for _, p := range []string{"visual_encoder.", "ln_vision.", "opt_model.", "t5_model.", "llm_model."} {
			if strings.HasPrefix(key, p) {
				return ""
			}
		}
		if strings.HasSuffix(key, "position_ids") {
			return ""
		}
		if rest, ok := strings.CutPrefix(key, "Qformer.bert.embeddings."); ok {
			if r, ok := strings.CutPrefix(rest, "LayerNorm."); ok {
				return norm + r
			}
			return emb + rest
		}
		if rest, ok := strings.CutPrefix(key, "Qformer.bert.encoder."); ok {
			rest = strings.Replace(rest, "attention.self.", "attention.attention.", 1)
			return "qformer.encoder." + rest
		}
		if rest, ok := strings.CutPrefix(key, "Qformer.cls."); ok {
			return "cls." + rest
		}
		for old, nu := range map[string]string{
			"vision_proj.": "vision_projection.", "text_proj.": "text_projection.",
			"opt_proj.": "language_projection.", "t5_proj.": "language_projection.", "llm_proj.": "language_projection.",
		} {
			if rest, ok := strings.CutPrefix(key, old); ok {
				return nu + rest
			}
		}
		return key
	}
}
