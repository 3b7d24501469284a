package qformer_test

import (
	"context"
	"fmt"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/qformer"
)

// small is a Q-Former small enough for examples: 2 layers of width 32, 4
// queries, 12-wide image features, a vocabulary of 20 with [DEC] = 19.
func small() qformer.Config {
	return qformer.Config{
		Dim: 32, Layers: 2, Heads: 4, Hidden: 64, CrossEvery: 2, VisionDim: 12, Queries: 4,
		Vocab: 20, MaxPositions: 16, PadID: 0, DecID: 19, EmbedDim: 16, LMHead: true,
		Eps: 1e-12, InitStd: 0.02,
	}
}

func ExampleMask() {
	// Two queries and three text tokens, the last one padding.
	text := vlm.FromData([]float32{1, 1, 0}, 1, 3)
	for _, mode := range []qformer.Mode{qformer.Unimodal, qformer.Bidirectional, qformer.MultimodalCausal} {
		m, _ := qformer.Mask(mode, 2, text)
		fmt.Printf("%v\n%v", mode, m)
	}
	// Output:
	// Unimodal
	// 11000
	// 11000
	// 00110
	// 00110
	// 00110
	// Bidirectional
	// 11110
	// 11110
	// 11110
	// 11110
	// 11110
	// MultimodalCausal
	// 11000
	// 11000
	// 11100
	// 11110
	// 11110
}

func ExampleConfig_ParamCount() {
	fmt.Println("BLIP-2 stage 1:          ", qformer.BLIP2().ParamCount())
	fmt.Println("BLIP-2 OPT-2.7B stage 2: ", qformer.BLIP2Stage2(2560).ParamCount())
	fmt.Println("InstructBLIP Vicuna-7B:  ", qformer.InstructBLIP(4096).ParamCount())
	// Output:
	// BLIP-2 stage 1:           186702654
	// BLIP-2 OPT-2.7B stage 2:  107130880
	// InstructBLIP Vicuna-7B:   188834560
}

func ExampleModel_Forward() {
	m := qformer.MustNew(vlm.NewRand(1), small())
	image := vlm.RandN(vlm.NewRand(2), 1, 2, 9, 12) // [B, N, VisionDim] image features
	mem, _ := m.Memory(nil, image, nil)             // cross-attention keys and values, once per image

	// Queries only: BLIP-2's visual tokens for a language model.
	q, _ := m.Forward(nil, qformer.Input{Queries: true, Memory: mem})
	// Queries and text in one bidirectional pass (ITM, InstructBLIP).
	ids, mask := qformer.Pad([][]int{{1, 5, 6, 2}, {1, 7, 2}}, 0)
	j, _ := m.Forward(nil, qformer.Input{Queries: true, Memory: mem, IDs: ids, TextMask: mask, Mode: qformer.Bidirectional})
	fmt.Println(q.Query.Shape, j.Query.Shape, j.Text.Shape, j.Hidden(nil).Shape)
	// Output:
	// [2 4 32] [2 4 32] [2 4 32] [2 8 32]
}

func ExampleModel_Loss() {
	// A few AdamW steps on the three stage-1 losses of two pairs.
	m := qformer.MustNew(vlm.NewRand(1), small())
	ids, mask := qformer.Pad([][]int{{1, 5, 6, 2}, {1, 7, 2}}, 0)
	batch := qformer.Batch{Image: vlm.RandN(vlm.NewRand(2), 1, 2, 9, 12), IDs: ids, TextMask: mask}
	opt := vlm.NewAdamW(1e-3)
	rng := vlm.NewRand(3)
	var first, last *qformer.Losses
	for step := range 30 {
		tp := vlm.NewTape()
		l, err := m.Loss(tp, batch, &qformer.LossOptions{Rand: rng})
		if err != nil {
			panic(err)
		}
		if err := tp.Backward(l.Total); err != nil {
			panic(err)
		}
		opt.Step(m)
		vlm.ZeroGrad(m)
		if step == 0 {
			first = l
		}
		last = l
	}
	fmt.Println("ITC fell:", last.ITC.Data[0] < first.ITC.Data[0])
	fmt.Println("ITM fell:", last.ITM.Data[0] < first.ITM.Data[0])
	fmt.Println("ITG fell:", last.ITG.Data[0] < first.ITG.Data[0])
	// Output:
	// ITC fell: true
	// ITM fell: true
	// ITG fell: true
}

func ExampleModel_Generate() {
	m := qformer.MustNew(vlm.NewRand(1), small())
	mem, _ := m.Memory(nil, vlm.RandN(vlm.NewRand(2), 1, 3, 9, 12), nil)
	caps, _ := m.Generate(context.Background(), mem, qformer.GenerateOptions{MaxLen: 5, MinLen: 5, EOS: 2})
	fmt.Println(len(caps), len(caps[0]))
	// Output: 3 5
}

func ExampleModel_Project() {
	// InstructBLIP: the queries read the image together with the
	// instruction, and only their outputs go on to the language model.
	c := small()
	c.Names, c.EmbedDim, c.LMHead, c.LMDim = qformer.InstructBLIPNames, 0, false, 48
	m := qformer.MustNew(vlm.NewRand(1), c)
	instruction, mask := qformer.Pad([][]int{{1, 8, 9, 10, 2}}, 0)
	out, _ := m.Forward(nil, qformer.Input{
		Queries: true, Image: vlm.RandN(vlm.NewRand(2), 1, 1, 9, 12),
		IDs: instruction, TextMask: mask, Mode: qformer.Bidirectional,
	})
	prompt, _ := m.Project(nil, out.Query)
	fmt.Println(prompt.Shape, vlm.ParamNames(m.QFormer())[:3])
	// Output:
	// [1 4 48] [embeddings.layernorm.bias embeddings.layernorm.weight embeddings.position_embeddings.weight]
}

func ExampleLAVISRename() {
	rename := qformer.LAVISRename(qformer.BLIP2Names)
	for _, key := range []string{
		"Qformer.bert.embeddings.LayerNorm.weight",
		"Qformer.bert.encoder.layer.0.crossattention.self.key.weight",
		"Qformer.cls.predictions.decoder.weight",
		"vision_proj.weight",
		"opt_proj.bias",
		"ln_vision.weight",
	} {
		fmt.Printf("%q\n", rename(key))
	}
	// Output:
	// "qformer.layernorm.weight"
	// "qformer.encoder.layer.0.crossattention.attention.key.weight"
	// "cls.predictions.decoder.weight"
	// "vision_projection.weight"
	// "language_projection.bias"
	// ""
}
