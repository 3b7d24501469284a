package scene

import (
	"slices"
	"strings"
	"unicode"
)

// The fixed special tokens and their ids.
const (
	PadToken = "<pad>"
	BOSToken = "<bos>"
	EOSToken = "<eos>"
	UnkToken = "<unk>"

	PadID = 0
	BOSID = 1
	EOSID = 2
	UnkID = 3
)

// Tokenize lower-cases text and splits it into words: runs of letters and
// digits, single punctuation marks, and special tokens written in angle
// brackets such as "<image>", which stay whole.
func Tokenize(text string) []string {
	var words []string
	rs := []rune(strings.ToLower(text))
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case unicode.IsSpace(r):
			i++
		case r == '<':
			if j := slices.Index(rs[i:], '>'); j > 0 && !slices.ContainsFunc(rs[i:i+j], unicode.IsSpace) {
				words = append(words, string(rs[i:i+j+1]))
				i += j + 1
				continue
			}
			words = append(words, "<")
			i++
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			j := i
			for j < len(rs) && (unicode.IsLetter(rs[j]) || unicode.IsDigit(rs[j])) {
				j++
			}
			words = append(words, string(rs[i:j]))
			i = j
		default:
			words = append(words, string(r))
			i++
		}
	}
	return words
}

// Vocab maps words to ids. Ids 0 to 3 are <pad>, <bos>, <eos> and <unk>,
// then come the extra special tokens, then the corpus words. A Vocab is
// read-only after construction.
type Vocab struct {
	words []string
	ids   map[string]int
}

// NewVocab builds a vocabulary from the words of texts that occur at
// least minFreq times, in order of decreasing frequency and then
// alphabetically, after the fixed specials and the given extra specials
// (e.g. "<image>", "<|endofchunk|>").
func NewVocab(texts []string, minFreq int, specials ...string) *Vocab {
	v := &Vocab{ids: map[string]int{}}
	for _, w := range append([]string{PadToken, BOSToken, EOSToken, UnkToken}, specials...) {
		v.add(w)
	}
	freq := map[string]int{}
	for _, t := range texts {
		for _, w := range Tokenize(t) {
			freq[w]++
		}
	}
	var corpus []string
	for w, n := range freq {
		if _, special := v.ids[w]; !special && n >= minFreq {
			corpus = append(corpus, w)
		}
	}
	slices.SortFunc(corpus, func(a, b string) int {
		if freq[a] != freq[b] {
			return freq[b] - freq[a]
		}
		return strings.Compare(a, b)
	})
	for _, w := range corpus {
		v.add(w)
	}
	return v
}

func (v *Vocab) add(w string) {
	if _, ok := v.ids[w]; !ok {
		v.ids[w] = len(v.words)
		v.words = append(v.words, w)
	}
}

// Len returns the number of ids.
func (v *Vocab) Len() int { return len(v.words) }

// ID returns the id of word, or [UnkID].
func (v *Vocab) ID(word string) int {
	if id, ok := v.ids[word]; ok {
		return id
	}
	return UnkID
}

// Word returns the word of id, or [UnkToken] for an id out of range.
func (v *Vocab) Word(id int) string {
	if id < 0 || id >= len(v.words) {
		return UnkToken
	}
	return v.words[id]
}

// Encode returns the ids of the words of text, without <bos> or <eos>.
func (v *Vocab) Encode(text string) []int {
	words := Tokenize(text)
	ids := make([]int, len(words))
	for i, w := range words {
		ids[i] = v.ID(w)
	}
	return ids
}

// Decode returns the words of ids joined by spaces. It skips <pad> and
// <bos> and stops at the first <eos>.
func (v *Vocab) Decode(ids []int) string {
	var words []string
	for _, id := range ids {
		if id == EOSID {
			break
		}
		if id != PadID && id != BOSID {
			words = append(words, v.Word(id))
		}
	}
	return strings.Join(words, " ")
}

// Wrap returns ids between <bos> and <eos>, in a new slice.
func Wrap(ids []int) []int {
	out := make([]int, 0, len(ids)+2)
	out = append(out, BOSID)
	out = append(out, ids...)
	return append(out, EOSID)
}

// PadBatch lays seqs out as one row-major [len(seqs), length] slice,
// cutting longer sequences and filling shorter ones with fill ([PadID]
// for inputs, [vlm.IgnoreIndex] for targets). A length of 0 or less means
// the longest sequence's length.
func PadBatch(seqs [][]int, length, fill int) []int {
	if length <= 0 {
		for _, s := range seqs {
			length = max(length, len(s))
		}
	}
	out := make([]int, len(seqs)*length)
	for i, s := range seqs {
		row := out[i*length : (i+1)*length]
		n := copy(row, s)
		for j := n; j < length; j++ {
			row[j] = fill
		}
	}
	return out
}
