package vlm

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// paramList is a test Module: its parameters in order, a name visited
// twice with the same *Param being a tied weight.
type paramList []NamedParam

func (l paramList) VisitParams(prefix string, visit func(string, *Param)) {
	for _, np := range l {
		visit(prefix+np.Name, np.Param)
	}
}

// newParams builds a module with parameters of the given names and shapes,
// filled with a distinct constant each (1, 2, ...) so that a load shows.
func newParams(specs ...any) paramList {
	var l paramList
	for i := 0; i < len(specs); i += 2 {
		t := Full(float32(len(l)+1), specs[i+1].([]int)...)
		l = append(l, NamedParam{specs[i].(string), NewParam(t)})
	}
	return l
}

// values returns every parameter's data by name.
func (l paramList) values() map[string][]float32 {
	out := map[string][]float32{}
	for _, np := range l {
		out[np.Name] = append([]float32(nil), np.Value.Data...)
	}
	return out
}

// writeWeights writes the tensors to a temporary file and returns its path.
func writeWeights(t *testing.T, tensors map[string]*Tensor, ints map[string]*IntTensor) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "model.safetensors")
	require.NoError(t, WriteSafetensors(path, &Weights{Tensors: tensors, Ints: ints}, F32))
	return path
}

func TestLoadWeights(t *testing.T) {
	m := newParams("a.weight", []int{2, 3}, "a.bias", []int{3}, "b", []int{})
	path := writeWeights(t, map[string]*Tensor{
		"a.weight": FromData([]float32{1, 2, 3, 4, 5, 6}, 2, 3),
		"a.bias":   FromData([]float32{-1, -2, -3}, 3),
		"b":        Scalar(9),
	}, nil)
	report, err := LoadWeights(m, path, nil)
	require.NoError(t, err)
	assert.Equal(t, &LoadReport{Loaded: []string{"a.weight", "a.bias", "b"}}, report)
	assert.True(t, report.Complete())
	assert.Equal(t, map[string][]float32{"a.weight": {1, 2, 3, 4, 5, 6}, "a.bias": {-1, -2, -3}, "b": {9}}, m.values())

	// F16 and BF16 files load too, converted.
	for _, dtype := range []Dtype{F16, BF16} {
		p := filepath.Join(t.TempDir(), "half.safetensors")
		require.NoError(t, SaveWeights(paramList{{"b", NewParam(Scalar(0.5))}}, p, &SaveOptions{Dtype: dtype}))
		m := newParams("b", []int{})
		_, err := LoadWeights(m, p, nil)
		require.NoError(t, err)
		assert.Equal(t, []float32{0.5}, m[0].Value.Data, dtype)
	}
}

func TestLoadWeightsStrictReportsEverything(t *testing.T) {
	m := newParams(
		"embed.weight", []int{4, 2}, // loads
		"layer.0.weight", []int{2, 2}, // missing
		"layer.0.bias", []int{2}, // shape mismatch
		"layer.1.weight", []int{3, 2}, // transposed in the file
		"layer.1.bias", []int{2}, // missing
		"pos", []int{1, 4}, // integer in the file
	)
	before := m.values()
	path := writeWeights(t, map[string]*Tensor{
		"embed.weight":   Zeros(4, 2),
		"layer.0.bias":   Zeros(1, 2),
		"layer.1.weight": Zeros(2, 3),
		"head.weight":    Zeros(5), // unexpected
		"aaa":            Zeros(1), // unexpected
	}, map[string]*IntTensor{"pos": {Shape: []int{1, 4}, Data: []int64{0, 1, 2, 3}}})

	report, err := LoadWeights(m, path, nil)
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrCheckpoint)
	want := "load weights from " + path + ": checkpoint does not match the module: 2 missing, 2 unexpected, 3 mismatched\n" +
		"\tmissing    layer.0.weight\n" +
		"\tmissing    layer.1.bias\n" +
		"\tunexpected aaa\n" +
		"\tunexpected head.weight\n" +
		"\tmismatched layer.0.bias: checkpoint F32 [1 2], module float32 [2]\n" +
		"\tmismatched layer.1.weight: checkpoint F32 [2 3], module float32 [3 2]\n" +
		"\tmismatched pos: checkpoint I64 [1 4], module float32 [1 4]\n" +
		": bad checkpoint"
	assert.Equal(t, want, err.Error())
	assert.Equal(t, []string{"layer.0.weight", "layer.1.bias"}, report.Missing)
	assert.Equal(t, []string{"aaa", "head.weight"}, report.Unexpected)
	assert.Equal(t, []Mismatch{
		{Name: "layer.0.bias", Key: "layer.0.bias", Dtype: F32, Got: []int{1, 2}, Want: []int{2}},
		{Name: "layer.1.weight", Key: "layer.1.weight", Dtype: F32, Got: []int{2, 3}, Want: []int{3, 2}},
		{Name: "pos", Key: "pos", Dtype: I64, Got: []int{1, 4}, Want: []int{1, 4}},
	}, report.Mismatched)
	assert.Empty(t, report.Loaded)
	assert.Equal(t, before, m.values(), "a failed strict load changes nothing")

	// The same checkpoint loads partially: the matching parameter only.
	report, err = LoadWeights(m, path, &LoadOptions{Partial: true})
	require.NoError(t, err)
	assert.Equal(t, []string{"embed.weight"}, report.Loaded)
	assert.Len(t, report.Missing, 2)
	assert.Len(t, report.Unexpected, 2)
	assert.Len(t, report.Mismatched, 3)
	assert.False(t, report.Complete())
	after := m.values()
	assert.Equal(t, make([]float32, 8), after["embed.weight"])
	delete(after, "embed.weight")
	delete(before, "embed.weight")
	assert.Equal(t, before, after)
}

func TestLoadWeightsTied(t *testing.T) {
	shared := NewParam(Zeros(3, 2))
	m := paramList{
		{"embeddings.word_embeddings.weight", shared},
		{"cls.predictions.decoder.weight", shared},
		{"cls.predictions.bias", NewParam(Zeros(3))},
	}
	value := FromData([]float32{1, 2, 3, 4, 5, 6}, 3, 2)
	bias := FromData([]float32{7, 8, 9}, 3)
	for _, tt := range []struct {
		name    string
		present []string
		loaded  string
	}{
		{"first name", []string{"embeddings.word_embeddings.weight"}, "embeddings.word_embeddings.weight"},
		{"second name", []string{"cls.predictions.decoder.weight"}, "cls.predictions.decoder.weight"},
		{"both names", []string{"embeddings.word_embeddings.weight", "cls.predictions.decoder.weight"}, "embeddings.word_embeddings.weight"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clear(shared.Value.Data)
			tensors := map[string]*Tensor{"cls.predictions.bias": bias}
			for _, name := range tt.present {
				tensors[name] = value
			}
			report, err := LoadWeights(m, writeWeights(t, tensors, nil), nil)
			require.NoError(t, err)
			assert.Equal(t, []string{tt.loaded, "cls.predictions.bias"}, report.Loaded, "loaded once")
			assert.Equal(t, value.Data, shared.Value.Data)
		})
	}
	t.Run("neither name", func(t *testing.T) {
		report, err := LoadWeights(m, writeWeights(t, map[string]*Tensor{"cls.predictions.bias": bias}, nil), nil)
		assert.ErrorIs(t, err, ErrCheckpoint)
		assert.Equal(t, []string{"embeddings.word_embeddings.weight"}, report.Missing, "reported once")
	})
	t.Run("save keeps one copy", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "tied.safetensors")
		require.NoError(t, SaveWeights(m, path, nil))
		f, err := OpenSafetensors(path)
		require.NoError(t, err)
		defer f.Close()
		assert.Equal(t, []string{"cls.predictions.bias", "embeddings.word_embeddings.weight"}, f.Names())
		_, err = LoadWeightsFrom(m, f, nil)
		require.NoError(t, err)
	})
}

func TestLoadWeightsRename(t *testing.T) {
	// A LAVIS BLIP-2 checkpoint's Q-Former into Hugging Face names.
	m := newParams(
		"embeddings.layernorm.weight", []int{2},
		"encoder.layer.0.attention.attention.query.weight", []int{2, 2},
		"encoder.layer.0.crossattention.attention.query.weight", []int{2, 2},
	)
	q := FromData([]float32{1, 2, 3, 4}, 2, 2)
	path := writeWeights(t, map[string]*Tensor{
		"Qformer.bert.embeddings.LayerNorm.weight":                      FromData([]float32{5, 6}, 2),
		"Qformer.bert.encoder.layer.0.attention.self.query.weight":      q,
		"Qformer.bert.encoder.layer.0.crossattention.self.query.weight": q,
		"query_tokens":         Zeros(1, 32, 2),
		"visual_encoder.x":     Zeros(1),
		"Qformer.cls.whatever": Zeros(1),
	}, map[string]*IntTensor{"Qformer.bert.embeddings.position_ids": {Shape: []int{1, 2}, Data: []int64{0, 1}}})
	opts := &LoadOptions{
		Prefix: "Qformer.bert.",
		Rename: strings.NewReplacer(".self.", ".attention.", "LayerNorm", "layernorm").Replace,
		Ignore: []string{"*.position_ids"},
	}
	report, err := LoadWeights(m, path, opts)
	require.NoError(t, err)
	assert.True(t, report.Complete())
	assert.Equal(t, map[string][]float32{
		"embeddings.layernorm.weight":                           {5, 6},
		"encoder.layer.0.attention.attention.query.weight":      {1, 2, 3, 4},
		"encoder.layer.0.crossattention.attention.query.weight": {1, 2, 3, 4},
	}, m.values())

	// Without the Ignore pattern the integer buffer is unexpected, named as
	// in the file and as renamed.
	opts.Ignore = nil
	_, err = LoadWeights(m, path, opts)
	assert.ErrorIs(t, err, ErrCheckpoint)
	assert.ErrorContains(t, err, "\tunexpected Qformer.bert.embeddings.position_ids (as embeddings.position_ids)\n")

	// A rename to "" drops a key; a rename that merges two keys is an error.
	opts.Rename = func(key string) string {
		if strings.HasSuffix(key, "position_ids") {
			return ""
		}
		return strings.NewReplacer(".self.", ".attention.", "LayerNorm", "layernorm").Replace(key)
	}
	_, err = LoadWeights(m, path, opts)
	require.NoError(t, err)
	opts.Rename = func(key string) string { return "x" }
	_, err = LoadWeights(m, path, opts)
	assert.ErrorIs(t, err, ErrCheckpoint)
	assert.ErrorContains(t, err, `both name "x"`)
}

func TestLoadWeightsIgnoreModuleSide(t *testing.T) {
	// An open_flamingo-style checkpoint holds no vision encoder: ignoring
	// it on the module side keeps a strict load strict for the rest.
	m := newParams("vision_encoder.proj", []int{2}, "perceiver.latents", []int{2})
	path := writeWeights(t, map[string]*Tensor{"perceiver.latents": FromData([]float32{3, 4}, 2)}, nil)
	report, err := LoadWeights(m, path, &LoadOptions{Ignore: []string{"vision_encoder.*"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"perceiver.latents"}, report.Loaded)
	assert.Equal(t, []float32{1, 1}, m[0].Value.Data)

	_, err = LoadWeights(m, path, &LoadOptions{Ignore: []string{"[bad"}})
	assert.ErrorIs(t, err, ErrConfig)
	assert.ErrorContains(t, err, `Ignore pattern "[bad"`)
}

func TestLoadWeightsErrors(t *testing.T) {
	path := writeWeights(t, map[string]*Tensor{"a": Zeros(2)}, nil)
	_, err := LoadWeights(paramList{{"a", &Param{}}}, path, nil)
	assert.ErrorIs(t, err, ErrConfig)
	assert.ErrorContains(t, err, `parameter "a" has no value`)

	_, err = LoadWeights(paramList{{"a", NewParam(&Tensor{Shape: []int{2}, Data: make([]float32, 1)})}}, path, nil)
	assert.ErrorIs(t, err, ErrShape)

	_, err = LoadWeights(newParams("a", []int{2}), filepath.Join(t.TempDir(), "none.safetensors"), nil)
	assert.ErrorIs(t, err, ErrCheckpoint)

	// A file cut short after its header: the header checks pass, the data
	// read fails.
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	f, err := NewSafetensors(bytes.NewReader(b[:len(b)-1]), int64(len(b)))
	require.NoError(t, err)
	_, err = LoadWeightsFrom(newParams("a", []int{2}), f, nil)
	assert.ErrorIs(t, err, ErrCheckpoint)
	assert.ErrorContains(t, err, "unexpected EOF")
}

func TestLoadWeightsSharded(t *testing.T) {
	tensors := map[string]*Tensor{
		"lm.embed.weight": FromData([]float32{1, 2, 3, 4}, 2, 2),
		"lm.head.weight":  FromData([]float32{5, 6, 7, 8}, 2, 2),
		"proj.bias":       FromData([]float32{9, 10}, 2),
	}
	dir := t.TempDir()
	index := writeSharded(t, dir, tensors, "lm.embed.weight", "proj.bias")
	m := newParams("embed.weight", []int{2, 2}, "head.weight", []int{2, 2})
	report, err := LoadWeights(m, index, &LoadOptions{Prefix: "lm."})
	require.NoError(t, err)
	assert.True(t, report.Complete())
	assert.Equal(t, map[string][]float32{"embed.weight": {1, 2, 3, 4}, "head.weight": {5, 6, 7, 8}}, m.values())

	require.NoError(t, os.Remove(filepath.Join(dir, "model-00002-of-00002.safetensors")))
	_, err = LoadWeights(m, index, nil)
	assert.ErrorIs(t, err, ErrCheckpoint)
	assert.ErrorContains(t, err, `shard "model-00002-of-00002.safetensors"`)
	assert.ErrorContains(t, err, "no such file")
}

func TestSaveWeightsTrainableOnly(t *testing.T) {
	m := newParams("vision.weight", []int{2, 2}, "perceiver.latents", []int{3}, "lm.gated.attn_gate", []int{1})
	m[0].Frozen = true
	dir := t.TempDir()

	full := filepath.Join(dir, "full.safetensors")
	require.NoError(t, SaveWeights(m, full, nil))
	w, err := ReadSafetensors(full)
	require.NoError(t, err)
	assert.Len(t, w.Tensors, 3)
	assert.Equal(t, map[string]string{"format": "pt"}, w.Metadata)

	adapter := filepath.Join(dir, "adapter.safetensors")
	require.NoError(t, SaveWeights(m, adapter, &SaveOptions{
		TrainableOnly: true,
		Prefix:        "model.",
		Metadata:      map[string]string{"format": "np", "step": "100"},
	}))
	w, err = ReadSafetensors(adapter)
	require.NoError(t, err)
	assert.Equal(t, map[string]*Tensor{"model.perceiver.latents": Full(2, 3), "model.lm.gated.attn_gate": Full(3, 1)}, w.Tensors)
	assert.Equal(t, map[string]string{"format": "np", "step": "100"}, w.Metadata)

	// Loading the adapter back: strict fails on the frozen part, partial
	// loads the adapter and reports the rest missing.
	fresh := newParams("vision.weight", []int{2, 2}, "perceiver.latents", []int{3}, "lm.gated.attn_gate", []int{1})
	for _, np := range fresh {
		clear(np.Value.Data)
	}
	_, err = LoadWeights(fresh, adapter, &LoadOptions{Prefix: "model."})
	assert.ErrorIs(t, err, ErrCheckpoint)
	report, err := LoadWeights(fresh, adapter, &LoadOptions{Prefix: "model.", Partial: true})
	require.NoError(t, err)
	assert.Equal(t, []string{"vision.weight"}, report.Missing)
	assert.Equal(t, map[string][]float32{"vision.weight": {0, 0, 0, 0}, "perceiver.latents": {2, 2, 2}, "lm.gated.attn_gate": {3}}, fresh.values())

	// Nothing trainable: nothing to save, and no file.
	Freeze(m, "*")
	err = SaveWeights(m, filepath.Join(dir, "empty.safetensors"), &SaveOptions{TrainableOnly: true})
	assert.ErrorIs(t, err, ErrConfig)
	assert.NoFileExists(t, filepath.Join(dir, "empty.safetensors"))
}

func TestSaveWeightsAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	require.NoError(t, SaveWeights(newParams("a", []int{2}), path, nil))
	before, err := os.ReadFile(path)
	require.NoError(t, err)

	broken := paramList{{"a", NewParam(Zeros(2))}, {"b", NewParam(&Tensor{Shape: []int{4}, Data: make([]float32, 3)})}}
	err = SaveWeights(broken, path, nil)
	assert.ErrorIs(t, err, ErrShape)
	assert.ErrorContains(t, err, `tensor "b" has 3 values for shape [4]`)
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, before, after)
	assert.Equal(t, []string{"model.safetensors"}, dirEntries(t, dir))

	err = SaveWeights(newParams("a", []int{2}), path, &SaveOptions{Dtype: I64})
	assert.ErrorIs(t, err, ErrConfig)
}
