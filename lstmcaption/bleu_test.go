package lstmcaption_test

import (
	"math"
	"strings"
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/lstmcaption"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func words(s string) []string { return strings.Fields(s) }

// tiny is NLTK's score for a precision with no match: its logarithm is
// that of the smallest normal float64.
const tiny = 0x1p-1022

// geo returns the geometric mean of ps, through logarithms as BLEU
// computes it (products of tiny underflow).
func geo(ps ...float64) float64 {
	s := 0.0
	for _, p := range ps {
		s += math.Log(p) / float64(len(ps))
	}
	return math.Exp(s)
}

func TestCorpusBLEUHandComputed(t *testing.T) {
	for _, c := range []struct {
		name string
		refs [][]string
		hyp  string
		want [4]float64
	}{
		{"identical", [][]string{words("a red circle left of a blue square")}, "a red circle left of a blue square", [4]float64{1, 1, 1, 1}},
		{
			// p1 = 3/3, p2 = 2/2, p3 = 1/1, no 4-gram (counts as 1, 0 matches);
			// c = 3 < r = 5: BP = exp(1 - 5/3).
			"short hypothesis", [][]string{words("a b c d e")}, "a b c",
			[4]float64{math.Exp(1 - 5.0/3), math.Exp(1 - 5.0/3), math.Exp(1 - 5.0/3), math.Exp(1-5.0/3) * geo(1, 1, 1, tiny)},
		},
		{
			// "the" clipped to its count in the best reference (2 of 4);
			// bigrams: "the the" ×3, matched once by ref 2.
			"clipping", [][]string{words("the cat"), words("the the cat")}, "the the the the",
			[4]float64{0.5, geo(0.5, 1.0/3), geo(0.5, 1.0/3, tiny), geo(0.5, 1.0/3, tiny, tiny)},
		},
		{
			// Closest reference lengths 2 and 4 tie for a hypothesis of 3:
			// the shorter counts, so no brevity penalty.
			"closest reference tie", [][]string{words("x y z w"), words("a b")}, "a b c",
			[4]float64{2.0 / 3, geo(2.0/3, 0.5), geo(2.0/3, 0.5, tiny), geo(2.0/3, 0.5, tiny, tiny)},
		},
		{"no unigram match", [][]string{words("a b")}, "c d", [4]float64{}},
		{"empty hypothesis", [][]string{words("a b")}, "", [4]float64{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := lstmcaption.CorpusBLEU([][][]string{c.refs}, [][]string{words(c.hyp)})
			require.NoError(t, err)
			for n, want := range c.want {
				if want == 0 {
					assert.Zero(t, got[n], "BLEU-%d", n+1)
					continue
				}
				assert.InEpsilon(t, want, got[n], 1e-12, "BLEU-%d", n+1)
			}
		})
	}
}

func TestCorpusBLEUIsCorpusLevel(t *testing.T) {
	// Counts pool over the corpus before dividing: (3 + 0) / (3 + 2)
	// unigrams, not the mean of per-sentence precisions 1 and 0.
	refs := [][][]int{{{1, 2, 3}}, {{4, 5}}}
	hyps := [][]int{{1, 2, 3}, {6, 7}}
	got, err := lstmcaption.CorpusBLEU(refs, hyps)
	require.NoError(t, err)
	assert.InDelta(t, 0.6, got[0], 1e-15)
}

func TestCorpusBLEUErrors(t *testing.T) {
	_, err := lstmcaption.CorpusBLEU([][][]int{{{1}}}, [][]int{{1}, {2}})
	assert.ErrorIs(t, err, vlm.ErrInput)
	_, err = lstmcaption.CorpusBLEU([][][]int{{}}, [][]int{{1}})
	assert.ErrorIs(t, err, vlm.ErrInput)
}
