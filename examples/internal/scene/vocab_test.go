package scene

import (
	"testing"

	"github.com/govlm/vlm"
	"github.com/stretchr/testify/assert"
)

func TestTokenize(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"a red circle", []string{"a", "red", "circle"}},
		{"  What colour is the Circle?  ", []string{"what", "colour", "is", "the", "circle", "?"}},
		{"<image>describe it.<|endofchunk|>", []string{"<image>", "describe", "it", ".", "<|endofchunk|>"}},
		{"a < b, c>d", []string{"a", "<", "b", ",", "c", ">", "d"}},
		{"two-tone", []string{"two", "-", "tone"}},
		{"", nil},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			assert.Equal(t, tt.want, Tokenize(tt.in))
		})
	}
}

func TestVocab(t *testing.T) {
	texts := []string{"a red circle", "a blue circle", "a red square ?", "rare"}
	v := NewVocab(texts, 2, "<image>", "<pad>")
	want := []string{"<pad>", "<bos>", "<eos>", "<unk>", "<image>", "a", "circle", "red"}
	assert.Equal(t, len(want), v.Len())
	for id, w := range want {
		assert.Equal(t, w, v.Word(id))
		assert.Equal(t, id, v.ID(w))
	}
	assert.Equal(t, UnkID, v.ID("blue"), "below the minimum frequency")
	assert.Equal(t, UnkToken, v.Word(99))
	assert.Equal(t, UnkToken, v.Word(-1))

	ids := v.Encode("<image> A red circle")
	assert.Equal(t, []int{4, 5, 7, 6}, ids)
	assert.Equal(t, "<image> a red circle", v.Decode(ids))
	assert.Equal(t, "a <unk> circle", v.Decode([]int{BOSID, 5, UnkID, 6, EOSID, 7, PadID}))
	assert.Equal(t, []int{BOSID, 5, 6, EOSID}, Wrap([]int{5, 6}))
}

func TestVocabRoundTripsSceneTexts(t *testing.T) {
	g, err := NewGenerator(Config{VarySize: true, Shapes: AllShapes()})
	if err != nil {
		t.Fatal(err)
	}
	train, _ := g.Split(50, 0, 1)
	var texts []string
	for _, s := range train {
		for _, c := range s.Captions() {
			texts = append(texts, c.Text)
		}
		for _, qa := range s.QA() {
			texts = append(texts, qa.Question, qa.Answer)
		}
	}
	v := NewVocab(texts, 1)
	for _, text := range texts {
		assert.Equal(t, text, v.Decode(v.Encode(text)))
	}
}

func TestPadBatch(t *testing.T) {
	seqs := [][]int{{1, 2, 3}, {4}, {}}
	tests := []struct {
		name   string
		length int
		fill   int
		want   []int
	}{
		{"longest", 0, PadID, []int{1, 2, 3, 4, 0, 0, 0, 0, 0}},
		{"cut", 2, PadID, []int{1, 2, 4, 0, 0, 0}},
		{"ignore index", 4, vlm.IgnoreIndex, []int{1, 2, 3, -100, 4, -100, -100, -100, -100, -100, -100, -100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, PadBatch(seqs, tt.length, tt.fill))
		})
	}
}
