package lstmcaption

import (
	"math"

	"github.com/govlm/vlm"
)

// ngram is an n-gram of at most four tokens; unused slots are zero.
type ngram[T comparable] struct {
	n int
	w [4]T
}

// countNgrams returns the counts of the n-grams of s.
func countNgrams[T comparable](s []T, n int) map[ngram[T]]int {
	c := map[ngram[T]]int{}
	for i := 0; i+n <= len(s); i++ {
		g := ngram[T]{n: n}
		copy(g.w[:], s[i:i+n])
		c[g]++
	}
	return c
}

// CorpusBLEU returns corpus BLEU-1 to BLEU-4 of the hypotheses against
// their references (references[i] holds the references of hypotheses[i])
// with the semantics of NLTK's corpus_bleu, which the tutorial's eval.py
// calls: BLEU-n = BP · exp(Σ_{k≤n} (1/n)·log p_k), where p_k pools the
// clipped k-gram counts of all hypotheses (each k-gram counted at most as
// often as it occurs in any one reference) over their k-gram counts,
// each hypothesis counting at least one k-gram; the brevity penalty
// BP = exp(1 − r/c) if c < r, else 1 (0 if c = 0) compares the total
// hypothesis length c with the total r of the reference lengths closest
// to each hypothesis's (the shorter on ties). As NLTK's default
// (SmoothingFunction().method0), a p_k with no match counts as the
// smallest normal float64, so the score is tiny but not 0, and a corpus
// with no unigram match scores 0.
//
// Tokens are anything comparable: words, or word ids as eval.py uses
// (without <start>, <end> and <pad>). A hypothesis without references
// is an ErrInput error.
func CorpusBLEU[T comparable](references [][][]T, hypotheses [][]T) ([4]float64, error) {
	var bleu [4]float64
	if len(references) != len(hypotheses) {
		return bleu, vlm.Errorf(vlm.ErrInput, "lstmcaption.CorpusBLEU: %d reference sets for %d hypotheses", len(references), len(hypotheses))
	}
	var num, den [4]int
	hypLen, refLen := 0, 0
	for i, hyp := range hypotheses {
		refs := references[i]
		if len(refs) == 0 {
			return bleu, vlm.Errorf(vlm.ErrInput, "lstmcaption.CorpusBLEU: hypothesis %d has no references", i)
		}
		for n := 1; n <= 4; n++ {
			counts := countNgrams(hyp, n)
			maxRef := map[ngram[T]]int{}
			for _, r := range refs {
				rc := countNgrams(r, n)
				for g := range counts {
					maxRef[g] = max(maxRef[g], rc[g])
				}
			}
			total := 0
			for g, c := range counts {
				num[n-1] += min(c, maxRef[g])
				total += c
			}
			den[n-1] += max(1, total)
		}
		hypLen += len(hyp)
		closest := len(refs[0])
		for _, r := range refs[1:] {
			d, best := abs(len(r)-len(hyp)), abs(closest-len(hyp))
			if d < best || (d == best && len(r) < closest) {
				closest = len(r)
			}
		}
		refLen += closest
	}
	if num[0] == 0 {
		return bleu, nil
	}
	bp := 1.0
	switch {
	case hypLen == 0:
		bp = 0
	case hypLen <= refLen:
		bp = math.Exp(1 - float64(refLen)/float64(hypLen))
	}
	for n := 1; n <= 4; n++ {
		s := 0.0
		for k := range n {
			p := 0x1p-1022 // sys.float_info.min
			if num[k] > 0 {
				p = float64(num[k]) / float64(den[k])
			}
			s += math.Log(p) / float64(n)
		}
		bleu[n-1] = bp * math.Exp(s)
	}
	return bleu, nil
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
