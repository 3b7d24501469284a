package lstmcaption_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/internal/testutil"
	"github.com/govlm/vlm/lstmcaption"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The captions testdata/gen/lstmcaption.py builds WORDMAP_test.json from
// with the tutorial's code (min_word_freq 1).
var wordMapCaptions = [][]string{
	{"a", "red", "circle"},
	{"a", "blue", "café", "left", "of", "a", "red", "circle"},
	{"there", "is", "a", "blue", "café"},
	{"a", `"quoted"`, "word", `"quoted"`},
}

const wordMapGolden = "lstmcaption/testdata/WORDMAP_test.json"

func TestWordMapMatchesTutorial(t *testing.T) {
	m := lstmcaption.NewWordMap(wordMapCaptions, 1)
	want, err := os.ReadFile(filepath.Join(testutil.ModuleRoot(), wordMapGolden))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "WORDMAP.json")
	require.NoError(t, m.Save(path))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got), "byte for byte what json.dump writes")
	// Through encoding/json the text is re-compacted but means the same.
	viaJSON, err := json.Marshal(m)
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(viaJSON))

	loaded, err := lstmcaption.LoadWordMap(filepath.Join(testutil.ModuleRoot(), wordMapGolden))
	require.NoError(t, err)
	assert.Equal(t, m, loaded)
	assert.Equal(t, 10, m.Len())
	assert.Equal(t, []int{0, 7, 8, 9}, []int{m.Pad(), m.Unk(), m.Start(), m.End()})
	assert.Equal(t, 5, m.ID("café"))
	assert.Equal(t, m.Unk(), m.ID("left"), "once is not more than min_word_freq 1")
	assert.Equal(t, "<unk>", m.Word(99))
	assert.Equal(t, lstmcaption.DecodeOptions{Start: 8, End: 9, MaxLen: 20}, m.DecodeOptions(20))
}

func TestWordMapEncodeDecode(t *testing.T) {
	m := lstmcaption.NewWordMap(wordMapCaptions, 0)
	ids, err := m.Encode([]string{"a", "red", "dog"}, 0)
	require.NoError(t, err)
	assert.Equal(t, []int{m.Start(), 1, 2, m.Unk(), m.End()}, ids)
	padded, err := m.Encode([]string{"a", "red", "dog"}, 5)
	require.NoError(t, err)
	assert.Equal(t, append(ids, m.Pad(), m.Pad()), padded, "max_len+2 ids, as create_input_files")
	assert.Equal(t, []string{"a", "red", "<unk>"}, m.Decode(padded))
	assert.Equal(t, []string{"a"}, m.Decode([]int{1, m.End(), 2}), "stops at <end>")
	_, err = m.Encode([]string{"a", "b", "c"}, 2)
	assert.ErrorIs(t, err, vlm.ErrInput)
}

func TestWordMapSpecialWords(t *testing.T) {
	m := lstmcaption.NewWordMap([][]string{{"<end>", "x", "<pad>"}}, 0)
	assert.Equal(t, 5, m.Len(), "<pad> x <unk> <start> <end>")
	assert.Equal(t, 1, m.ID("x"))
}

func TestWordMapSaveLoad(t *testing.T) {
	m := lstmcaption.NewWordMap(wordMapCaptions, 0)
	path := filepath.Join(t.TempDir(), "WORDMAP.json")
	require.NoError(t, m.Save(path))
	back, err := lstmcaption.LoadWordMap(path)
	require.NoError(t, err)
	assert.Equal(t, m, back)
	assert.ErrorIs(t, m.Save(filepath.Join(t.TempDir(), "missing", "x.json")), vlm.ErrInput)
}

func TestWordMapLoadErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name, json string
	}{
		{"not JSON", `{"a": `},
		{"not an object of ids", `["a"]`},
		{"id gap", `{"<pad>": 0, "<unk>": 1, "<start>": 2, "<end>": 4}`},
		{"duplicate id", `{"<pad>": 0, "<unk>": 1, "<start>": 2, "<end>": 3, "x": 3}`},
		{"negative id", `{"<pad>": -1, "<unk>": 1, "<start>": 2, "<end>": 3}`},
		{"no <start>", `{"<pad>": 0, "<unk>": 1, "x": 2, "<end>": 3}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, "m.json")
			require.NoError(t, os.WriteFile(path, []byte(c.json), 0o644))
			_, err := lstmcaption.LoadWordMap(path)
			assert.ErrorIs(t, err, vlm.ErrInput)
		})
	}
	_, err := lstmcaption.LoadWordMap(filepath.Join(dir, "absent.json"))
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.ErrorIs(t, err, vlm.ErrInput)
}
