package lstmcaption_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/lstmcaption"
)

func ExampleNew() {
	// The tutorial's decoder for a 1000-word map, ready for its weights.
	d, err := lstmcaption.New(nil, lstmcaption.TutorialConfig(1000))
	if err != nil {
		panic(err)
	}
	total, _ := vlm.CountParams(d)
	fmt.Println(total, "parameters")
	for _, np := range vlm.Params(d)[6:11] {
		fmt.Println(np.Name, np.Value.Shape)
	}
	// Output:
	// 11781609 parameters
	// embedding.weight [1000 512]
	// decode_step.weight_ih [2048 2560]
	// decode_step.weight_hh [2048 512]
	// decode_step.bias_ih [2048]
	// decode_step.bias_hh [2048]
}

func ExampleCorpusBLEU() {
	refs := [][][]string{
		{strings.Fields("a red circle left of a blue square"), strings.Fields("a blue square right of a red circle")},
		{strings.Fields("a green triangle")},
	}
	hyps := [][]string{strings.Fields("a blue square right of a red circle"), strings.Fields("a green circle")}
	bleu, err := lstmcaption.CorpusBLEU(refs, hyps)
	if err != nil {
		panic(err)
	}
	fmt.Printf("BLEU-1 %.3f  BLEU-2 %.3f  BLEU-4 %.3f\n", bleu[0], bleu[1], bleu[3])
	// Output:
	// BLEU-1 0.909  BLEU-2 0.899  BLEU-4 0.872
}

func ExampleWordMap() {
	captions := [][]string{strings.Fields("a red circle"), strings.Fields("a blue circle")}
	wm := lstmcaption.NewWordMap(captions, 0)
	ids, _ := wm.Encode(strings.Fields("a green circle"), 5)
	fmt.Println(ids)
	fmt.Println(wm.Decode(ids))
	js, _ := wm.MarshalJSON()
	fmt.Println(string(js))
	// Output:
	// [6 1 5 3 7 0 0]
	// [a <unk> circle]
	// {"a": 1, "red": 2, "circle": 3, "blue": 4, "<unk>": 5, "<start>": 6, "<end>": 7, "<pad>": 0}
}

// dots returns n images [n, 3, 4, 4] of faint noise with one red or
// blue dot each, and their captions.
func dots(rng *rand.Rand, n int) (*vlm.Tensor, [][]string) {
	x := vlm.RandN(rng, 0.1, n, 3, 4, 4)
	caps := make([][]string, n)
	for i := range n {
		colour, ch := "red", 0
		if rng.IntN(2) == 1 {
			colour, ch = "blue", 2
		}
		x.Data[(i*3+ch)*16+rng.IntN(16)] += 3
		caps[i] = []string{"a", colour, "dot"}
	}
	return x, caps
}

func ExampleTrainer() {
	rng := vlm.NewRand(1)
	_, all := dots(vlm.NewRand(2), 32)
	wm := lstmcaption.NewWordMap(all, 0)
	enc := &pixelEncoder{proj: vlm.NewLinear(rng, 3, 8, true)} // [B, 3, 4, 4] → [B, 4, 4, 8]
	dec, err := lstmcaption.New(rng, lstmcaption.Config{EncoderDim: 8, AttentionDim: 8, EmbedDim: 8, DecoderDim: 16, VocabSize: wm.Len()})
	if err != nil {
		panic(err)
	}
	tr := lstmcaption.NewTrainer(enc, dec, true)
	tr.DecoderOptimizer = &vlm.AdamW{LR: 1e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
	tr.EncoderOptimizer = &vlm.AdamW{LR: 1e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
	for range 300 {
		x, words := dots(rng, 8)
		caps := make([][]int, len(words))
		for i, w := range words {
			caps[i], _ = wm.Encode(w, 0)
		}
		if _, err := tr.Step(x, caps); err != nil {
			panic(err)
		}
	}

	x, want := dots(rng, 4)
	feats, _ := enc.Forward(nil, x)
	out, err := dec.Beam(context.Background(), feats, 3, wm.DecodeOptions(10))
	if err != nil {
		panic(err)
	}
	for i, c := range out {
		fmt.Printf("%q (truth %q)\n", strings.Join(wm.Decode(c.IDs), " "), strings.Join(want[i], " "))
	}
	// Output:
	// "a red dot" (truth "a red dot")
	// "a blue dot" (truth "a blue dot")
	// "a blue dot" (truth "a blue dot")
	// "a red dot" (truth "a red dot")
}
