package resampler_test

import (
	"fmt"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/resampler"
)

func ExampleModel_Forward() {
	// Two samples, each three media items (videos) of two frames of ten
	// 32-wide tokens, become 8 latents per item.
	m, err := resampler.New(vlm.NewRand(1), resampler.Config{
		Dim: 32, Depth: 2, Heads: 4, HeadDim: 8, Latents: 8, MaxMedia: 4, MaxFrames: 2,
	})
	if err != nil {
		panic(err)
	}
	x := vlm.RandN(vlm.NewRand(2), 1, 2, 3, 2, 10, 32)
	y, err := m.Forward(nil, x)
	fmt.Println(y.Shape, err)

	// One image per sample, lucidrains' 3-D form.
	y, err = m.Forward(nil, vlm.RandN(vlm.NewRand(3), 1, 2, 50, 32))
	fmt.Println(y.Shape, err)
	total, trainable := vlm.CountParams(m)
	fmt.Println(total, trainable)
	// Output:
	// [2 3 8 32] <nil>
	// [2 1 8 32] <nil>
	// 25472 25472
}

func ExampleLucidrainsRename() {
	// A lucidrains FlamingoPaLM checkpoint loads with
	//
	//	vlm.LoadWeights(m, path, &vlm.LoadOptions{
	//		Prefix: "perceiver_resampler.",
	//		Rename: resampler.LucidrainsRename,
	//	})
	//
	// into resampler.New(rng, resampler.Lucidrains(dim, depth)).
	for _, key := range []string{"media_pos_emb", "time_pos_emb", "layers.0.0.to_kv.weight", "layers.0.1.3.weight"} {
		fmt.Printf("%-24s -> %s\n", key, resampler.LucidrainsRename(key))
	}
	// Output:
	// media_pos_emb            -> media_time_embs
	// time_pos_emb             -> media_time_embs
	// layers.0.0.to_kv.weight  -> layers.0.0.to_kv.weight
	// layers.0.1.3.weight      -> layers.0.1.3.weight
}
