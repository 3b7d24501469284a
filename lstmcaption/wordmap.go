package lstmcaption

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/govlm/vlm"
)

// The special tokens of the tutorial's word map.
const (
	PadToken   = "<pad>"
	UnkToken   = "<unk>"
	StartToken = "<start>"
	EndToken   = "<end>"
)

// WordMap is the tutorial's word-level vocabulary (create_input_files in
// utils.py): <pad> is 0, the corpus words are 1 … n in order of first
// occurrence, then come <unk>, <start> and <end>. Its JSON form is the
// tutorial's WORDMAP_*.json, an object from word to id. A WordMap is
// read-only after construction.
type WordMap struct {
	words []string
	ids   map[string]int
}

// NewWordMap builds the word map of tokenised captions, keeping the
// words that occur more than minFreq times (the tutorial's
// min_word_freq, 5 for COCO) in order of first occurrence. Words spelt
// like a special token are not added twice.
func NewWordMap(captions [][]string, minFreq int) *WordMap {
	freq := map[string]int{}
	var order []string
	for _, c := range captions {
		for _, w := range c {
			if freq[w] == 0 {
				order = append(order, w)
			}
			freq[w]++
		}
	}
	m := &WordMap{words: []string{PadToken}, ids: map[string]int{PadToken: 0}}
	add := func(w string) {
		if _, ok := m.ids[w]; !ok {
			m.ids[w] = len(m.words)
			m.words = append(m.words, w)
		}
	}
	for _, w := range order {
		if freq[w] > minFreq && w != UnkToken && w != StartToken && w != EndToken {
			add(w)
		}
	}
	add(UnkToken)
	add(StartToken)
	add(EndToken)
	return m
}

// Len returns the number of ids, the decoder's VocabSize.
func (m *WordMap) Len() int { return len(m.words) }

// ID returns the id of word, or that of <unk>.
func (m *WordMap) ID(word string) int {
	if id, ok := m.ids[word]; ok {
		return id
	}
	return m.ids[UnkToken]
}

// Word returns the word of id, or <unk> for an id out of range.
func (m *WordMap) Word(id int) string {
	if id < 0 || id >= len(m.words) {
		return UnkToken
	}
	return m.words[id]
}

// Pad returns the id of <pad>.
func (m *WordMap) Pad() int { return m.ids[PadToken] }

// Unk returns the id of <unk>.
func (m *WordMap) Unk() int { return m.ids[UnkToken] }

// Start returns the id of <start>.
func (m *WordMap) Start() int { return m.ids[StartToken] }

// End returns the id of <end>.
func (m *WordMap) End() int { return m.ids[EndToken] }

// DecodeOptions returns decoding options with this map's <start> and
// <end> and the given maximum length (0 for DefaultMaxLen).
func (m *WordMap) DecodeOptions(maxLen int) DecodeOptions {
	return DecodeOptions{Start: m.Start(), End: m.End(), MaxLen: maxLen}
}

// Encode returns <start> w₁ … wₙ <end> for the words, unknown words as
// <unk>. With maxLen > 0 the result is padded with <pad> to maxLen+2
// ids, as the tutorial stores captions (max_len 100), and more than
// maxLen words is an ErrInput error (the tutorial skips such captions).
// The caption length the tutorial stores alongside (caplens) is n+2.
func (m *WordMap) Encode(words []string, maxLen int) ([]int, error) {
	if maxLen > 0 && len(words) > maxLen {
		return nil, vlm.Errorf(vlm.ErrInput, "lstmcaption.WordMap.Encode: %d words, more than maxLen %d", len(words), maxLen)
	}
	ids := make([]int, 0, max(len(words), maxLen)+2)
	ids = append(ids, m.Start())
	for _, w := range words {
		ids = append(ids, m.ID(w))
	}
	ids = append(ids, m.End())
	for len(ids) < maxLen+2 {
		ids = append(ids, m.Pad())
	}
	return ids, nil
}

// Decode returns the words of ids, leaving out <start> and <pad> and
// stopping at the first <end>.
func (m *WordMap) Decode(ids []int) []string {
	words := make([]string, 0, len(ids))
	for _, id := range ids {
		switch id {
		case m.End():
			return words
		case m.Start(), m.Pad():
			continue
		}
		words = append(words, m.Word(id))
	}
	return words
}

// MarshalJSON writes the map as the tutorial's json.dump does: the words
// in id order with <pad> last, separators ", " and ": ", non-ASCII
// characters escaped.
func (m *WordMap) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i := range m.words {
		id := (i + 1) % len(m.words)
		if i > 0 {
			b.WriteString(", ")
		}
		writeASCIIString(&b, m.words[id])
		b.WriteString(": ")
		b.WriteString(strconv.Itoa(id))
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// writeASCIIString writes s as a JSON string the way Python's json.dumps
// does with ensure_ascii: printable ASCII as is, everything else escaped.
func writeASCIIString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r >= ' ' && r <= '~':
			b.WriteRune(r)
		case r > 0xffff:
			r -= 0x10000
			fmt.Fprintf(b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
		default:
			fmt.Fprintf(b, `\u%04x`, r)
		}
	}
	b.WriteByte('"')
}

// UnmarshalJSON reads a word map written by the tutorial (or by
// MarshalJSON): the ids must be 0 … n−1, each used once, and the four
// special tokens must be present.
func (m *WordMap) UnmarshalJSON(data []byte) error {
	var ids map[string]int
	if err := json.Unmarshal(data, &ids); err != nil {
		return vlm.Errorf(vlm.ErrInput, "lstmcaption.WordMap: %w", err)
	}
	words := make([]string, len(ids))
	seen := make([]bool, len(ids))
	for w, id := range ids {
		if id < 0 || id >= len(ids) || seen[id] {
			return vlm.Errorf(vlm.ErrInput, "lstmcaption.WordMap: word %q has id %d; the %d ids must be 0 to %d, each used once", w, id, len(ids), len(ids)-1)
		}
		seen[id], words[id] = true, w
	}
	for _, s := range []string{PadToken, UnkToken, StartToken, EndToken} {
		if _, ok := ids[s]; !ok {
			return vlm.Errorf(vlm.ErrInput, "lstmcaption.WordMap: no %s token", s)
		}
	}
	m.words, m.ids = words, ids
	return nil
}

// LoadWordMap reads a word map JSON file such as the tutorial's
// WORDMAP_coco_5_cap_per_img_5_min_word_freq.json.
func LoadWordMap(path string) (*WordMap, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, vlm.Errorf(vlm.ErrInput, "lstmcaption.LoadWordMap: %w", err)
	}
	m := &WordMap{}
	if err := m.UnmarshalJSON(data); err != nil {
		return nil, err
	}
	return m, nil
}

// Save writes the map as JSON to path, atomically: a temporary file in
// the same directory is written, synced and renamed over path.
func (m *WordMap) Save(path string) (err error) {
	data, _ := m.MarshalJSON()
	f, err := os.CreateTemp(filepath.Dir(path), ".wordmap-*")
	if err != nil {
		return vlm.Errorf(vlm.ErrInput, "lstmcaption.WordMap.Save: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err == nil {
		if err = f.Sync(); err == nil {
			err = f.Chmod(0o644)
		}
	}
	if err != nil {
		return vlm.Errorf(vlm.ErrInput, "lstmcaption.WordMap.Save: %w", err)
	}
	if err = f.Close(); err != nil {
		return vlm.Errorf(vlm.ErrInput, "lstmcaption.WordMap.Save: %w", err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return vlm.Errorf(vlm.ErrInput, "lstmcaption.WordMap.Save: %w", err)
	}
	return nil
}
