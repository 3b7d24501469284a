package lstmcaption_test

import (
	"context"
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/lstmcaption"
)

// BenchmarkGreedy decodes 20 words greedily for one image at the
// tutorial's published size: 14×14×2048 ResNet-101 features, A = E = H =
// 512, a vocabulary of 10000. testdata/gen/lstmcaption.py bench times
// PyTorch on the same sizes.
func BenchmarkGreedy(b *testing.B) {
	const steps, p, denc, dim, vocab = 20, 196, 2048, 512, 10000
	d, err := lstmcaption.New(vlm.NewRand(1), lstmcaption.TutorialConfig(vocab))
	if err != nil {
		b.Fatal(err)
	}
	enc := vlm.RandN(vlm.NewRand(2), 1, 1, 14, 14, denc)
	// The last id plays <end>; the random model never picks it, so every
	// decode runs all 20 steps.
	opts := lstmcaption.DecodeOptions{Start: 0, End: vocab - 1, MaxLen: steps}
	once := 2.0 * (p*denc*dim + 2*denc*dim)              // encoder_att, init_h, init_c
	step := 2.0 * (dim*dim + p*dim + p*denc + dim*denc + // decoder_att, full_att, context, f_beta
		(dim+denc+dim)*4*dim + dim*vocab) // LSTM cell, fc
	b.ReportAllocs()
	for b.Loop() {
		caps, err := d.Greedy(context.Background(), enc, opts)
		if err != nil {
			b.Fatal(err)
		}
		if n := len(caps[0].IDs); n != steps {
			b.Fatalf("decoded %d words, want %d", n, steps)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N), "ms/decode")
	b.ReportMetric((once+steps*step)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
