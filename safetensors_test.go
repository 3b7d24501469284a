package vlm

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rawSafetensors assembles a file from a header and a buffer, unchecked.
func rawSafetensors(header string, buf []byte) []byte {
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(out, header...), buf...)
}

// openBytes parses a file held in memory.
func openBytes(t *testing.T, b []byte) *Safetensors {
	t.Helper()
	f, err := NewSafetensors(bytes.NewReader(b), int64(len(b)))
	require.NoError(t, err)
	return f
}

func encode(t *testing.T, w *Weights, dtype Dtype) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, EncodeSafetensors(&b, w, dtype))
	return b.Bytes()
}

func f32s(n int, f func(i int) float32) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

func TestSafetensorsRoundTrip(t *testing.T) {
	// Values exactly representable in F16 and BF16 (8 significant bits,
	// within F16's range), specials included.
	exact := []float32{0, float32(math.Copysign(0, -1)), 1, -2, 0.5, 0.375, -96, 1.0 / 1024, 0x1p-14, 0x1p-24 * 64,
		float32(math.Inf(1)), float32(math.Inf(-1))}
	rng := NewRand(1)
	for _, dtype := range []Dtype{F32, F16, BF16, ""} {
		t.Run(string(dtype), func(t *testing.T) {
			w := &Weights{
				Tensors: map[string]*Tensor{
					"exact":          FromData(exact, 3, 4),
					"b.scalar":       Scalar(-0.25),
					"a.empty":        Zeros(0, 3),
					"layer.0.weight": FromData(f32s(6, func(i int) float32 { return float32(i) - 2.5 }), 2, 1, 3),
				},
				Ints: map[string]*IntTensor{
					"embeddings.position_ids": {Shape: []int{1, 4}, Data: []int64{0, 1, 2, math.MaxInt64}},
					"neg":                     {Shape: []int{2}, Data: []int64{-1, math.MinInt64}},
				},
				Metadata: map[string]string{"format": "pt", "note": `quotes " and <html> & ünïcode`},
			}
			if dtype == F32 || dtype == "" {
				w.Tensors["random"] = RandN(rng, 1, 5, 7)
			}
			path := filepath.Join(t.TempDir(), "w.safetensors")
			require.NoError(t, WriteSafetensors(path, w, dtype))
			got, err := ReadSafetensors(path)
			require.NoError(t, err)
			assert.Equal(t, w.Metadata, got.Metadata)
			require.Len(t, got.Tensors, len(w.Tensors))
			for name, want := range w.Tensors {
				require.Contains(t, got.Tensors, name)
				assert.Equal(t, want.Shape, got.Tensors[name].Shape, name)
				for i, v := range want.Data {
					sameFloat(t, v, got.Tensors[name].Data[i], name)
				}
			}
			assert.Equal(t, w.Ints, got.Ints)

			f, err := OpenSafetensors(path)
			require.NoError(t, err)
			defer f.Close()
			wantDtype := dtype
			if dtype == "" {
				wantDtype = F32
			}
			info, ok := f.Info("exact")
			require.True(t, ok)
			assert.Equal(t, TensorInfo{Dtype: wantDtype, Shape: []int{3, 4}}, info)
			info, _ = f.Info("neg")
			assert.Equal(t, TensorInfo{Dtype: I64, Shape: []int{2}}, info)
			_, ok = f.Info("nope")
			assert.False(t, ok)

			// The file and EncodeSafetensors agree byte for byte.
			file, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, encode(t, w, dtype), file)
		})
	}
}

func TestSafetensorsLayout(t *testing.T) {
	w := &Weights{
		Tensors:  map[string]*Tensor{"b": FromData([]float32{1}, 1), "a": FromData([]float32{2, 3, 4}, 3)},
		Ints:     map[string]*IntTensor{"c": {Shape: []int{1}, Data: []int64{7}}},
		Metadata: map[string]string{"z": "1", "format": "pt"},
	}
	b := encode(t, w, F16)
	n := binary.LittleEndian.Uint64(b)
	header := string(b[8 : 8+n])
	assert.Zero(t, (8+n)%8, "buffer starts 8-byte aligned")
	// Metadata first, keys sorted; the I64 tensor leads the buffer (largest
	// element), then the F16 tensors by name; padding is spaces.
	want := `{"__metadata__":{"format":"pt","z":"1"},` +
		`"a":{"dtype":"F16","shape":[3],"data_offsets":[8,14]},` +
		`"b":{"dtype":"F16","shape":[1],"data_offsets":[14,16]},` +
		`"c":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}`
	assert.Equal(t, want, strings.TrimRight(header, " "))
	assert.Equal(t, strings.Repeat(" ", len(header)-len(want)), header[len(want):])
	assert.Less(t, len(header)-len(want), 8)
	assert.True(t, json.Valid([]byte(header)))
	assert.Equal(t, []byte{7, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x40, 0x00, 0x42, 0x00, 0x44, 0x00, 0x3c}, b[8+n:])

	// No metadata, no tensors: the smallest file.
	assert.Equal(t, rawSafetensors("{}      ", nil), encode(t, &Weights{}, F32))
}

func TestSafetensorsWriterRounds(t *testing.T) {
	src := []float32{1 + 0x1p-11, 1 + 3*0x1p-11, 1 + 0x1p-8, 1 + 3*0x1p-8, 0.1, -1e-8, 70000, float32(math.NaN())}
	for _, tt := range []struct {
		dtype  Dtype
		narrow func(float32) float32
	}{
		{F16, func(v float32) float32 { return f16ToF32(f32ToF16(v)) }},
		{BF16, func(v float32) float32 { return bf16ToF32(f32ToBF16(v)) }},
	} {
		f := openBytes(t, encode(t, &Weights{Tensors: map[string]*Tensor{"x": FromData(src, len(src))}}, tt.dtype))
		got, err := f.Tensor("x")
		require.NoError(t, err)
		for i, v := range src {
			sameFloat(t, tt.narrow(v), got.Data[i], string(tt.dtype))
		}
	}
	// Spot values: ties go to even, overflow to infinity.
	f := openBytes(t, encode(t, &Weights{Tensors: map[string]*Tensor{"x": FromData(src[:4], 4)}}, F16))
	got, err := f.Tensor("x")
	require.NoError(t, err)
	assert.Equal(t, []float32{1, 1 + 4*0x1p-11, 1 + 0x1p-8, 1 + 3*0x1p-8}, got.Data)
}

func TestGoldenSafetensors(t *testing.T) {
	f, err := OpenSafetensors("testdata/safetensors/golden.safetensors")
	require.NoError(t, err)
	defer f.Close()
	assert.Equal(t, map[string]string{"format": "pt", "source": "testdata/gen/safetensors_golden.py"}, f.Metadata())
	assert.Equal(t, []string{"bf16", "bf16_as_f32", "f16", "f16_as_f32", "f32", "f64", "ids", "ids32", "src", "src_to_bf16", "src_to_f16"}, f.Names())

	read := func(name string) *Tensor {
		x, err := f.Tensor(name)
		require.NoError(t, err, name)
		return x
	}
	// Decoding F16 and BF16 gives PyTorch's .float(), bit for bit.
	for _, pair := range [][2]string{{"f16", "f16_as_f32"}, {"bf16", "bf16_as_f32"}} {
		got, want := read(pair[0]), read(pair[1])
		require.Equal(t, want.Shape, got.Shape)
		for i := range want.Data {
			sameFloat(t, want.Data[i], got.Data[i], pair[0])
		}
	}
	f16 := read("f16").Data
	assert.Equal(t, []float32{0, 1, -2, 0.5, 65504, -65504, 0x1p-14, 0x1p-24, 1023 * 0x1p-24, -0x1p-24},
		[]float32{f16[0], f16[2], f16[3], f16[4], f16[5], f16[6], f16[7], f16[8], f16[9], f16[10]})
	assert.True(t, math.Signbit(float64(f16[1])))
	assert.True(t, math.IsInf(float64(f16[11]), 1) && math.IsInf(float64(f16[12]), -1) && math.IsNaN(float64(f16[13])))

	// Narrowing gives PyTorch's .half() and .bfloat16().
	src := read("src").Data
	toF16, toBF16 := read("src_to_f16").Data, read("src_to_bf16").Data
	for i, v := range src {
		sameFloat(t, toF16[i], f16ToF32(f32ToF16(v)), "half")
		sameFloat(t, toBF16[i], bf16ToF32(f32ToBF16(v)), "bfloat16")
	}

	f32 := read("f32")
	assert.Equal(t, []int{3, 4}, f32.Shape)
	assert.Equal(t, float32(1.5409961), f32.Data[0], "torch.randn(3, 4) with seed 0")
	f64 := read("f64")
	assert.Equal(t, []int{2, 3}, f64.Shape)

	ids, err := f.Ints("ids")
	require.NoError(t, err)
	assert.Equal(t, &IntTensor{Shape: []int{1, 6}, Data: []int64{0, 1, 2, 3, 4, 5}}, ids)
	ids32, err := f.Ints("ids32")
	require.NoError(t, err)
	assert.Equal(t, &IntTensor{Shape: []int{2, 2}, Data: []int64{-1, 2, math.MaxInt32, math.MinInt32}}, ids32)

	_, err = f.Ints("f32")
	assert.ErrorIs(t, err, ErrCheckpoint)
	assert.ErrorContains(t, err, `"f32" is F32`)
	_, err = f.Tensor("ids")
	assert.ErrorIs(t, err, ErrCheckpoint)
	assert.ErrorContains(t, err, `"ids" is I64`)

	w, err := ReadSafetensors("testdata/safetensors/golden.safetensors")
	require.NoError(t, err)
	assert.Len(t, w.Tensors, 9)
	assert.Len(t, w.Ints, 2)
}

// hostileCases are files that must be rejected with ErrCheckpoint and a
// message that says what is wrong. They seed the fuzzer too.
var hostileCases = []struct {
	name string
	file []byte
	msg  string
}{
	{"empty", nil, "shorter than the 8-byte header length"},
	{"short", []byte{1, 0, 0}, "shorter than the 8-byte header length"},
	{"header past end", append(binary.LittleEndian.AppendUint64(nil, 100), "{}"...), "header length 100 exceeds the 2 bytes"},
	{"absurd header", binary.LittleEndian.AppendUint64(nil, 1<<62), "exceeds the limit"},
	{"max uint64 header", binary.LittleEndian.AppendUint64(nil, math.MaxUint64), "exceeds the limit"},
	{"not json", rawSafetensors("hello!!!", nil), "not a JSON object"},
	{"json array", rawSafetensors("[]      ", nil), "not a JSON object"},
	{"truncated json", rawSafetensors(`{"a":{"dtype":"F32",`, nil), "bad JSON"},
	{"trailing json", rawSafetensors(`{}{}`, nil), "data after the JSON object"},
	{"zero-length header", rawSafetensors("", nil), "not a JSON object"},
	{"duplicate key", rawSafetensors(`{"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[],"data_offsets":[4,8]}}`, make([]byte, 8)), `duplicate key "a"`},
	{"duplicate metadata key", rawSafetensors(`{"__metadata__":{"k":"1","k":"2"}}`, nil), `duplicate key "k"`},
	{"metadata not strings", rawSafetensors(`{"__metadata__":{"k":1}}`, nil), `value of "k" is 1, not a string`},
	{"entry not object", rawSafetensors(`{"a":3}`, nil), `tensor "a"`},
	{"no dtype", rawSafetensors(`{"a":{"shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)), `tensor "a": no dtype`},
	{"no shape", rawSafetensors(`{"a":{"dtype":"F32","data_offsets":[0,4]}}`, make([]byte, 4)), `tensor "a": no shape`},
	{"one offset", rawSafetensors(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}`, make([]byte, 4)), `tensor "a": data_offsets must be [begin, end]`},
	{"negative dim", rawSafetensors(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, make([]byte, 4)), `tensor "a": shape [-1]: axis size -1 out of range`},
	{"float dim", rawSafetensors(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, make([]byte, 4)), `tensor "a"`},
	{"huge dim", rawSafetensors(`{"a":{"dtype":"F32","shape":[1e30],"data_offsets":[0,4]}}`, make([]byte, 4)), `tensor "a"`},
	{"shape overflow", rawSafetensors(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`, nil), `tensor "a": shape [4294967296 4294967296]: size overflows`},
	{"shape overflow past zero", rawSafetensors(`{"a":{"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}}`, nil), "size overflows"},
	{"wrapping product", rawSafetensors(`{"a":{"dtype":"U8","shape":[4294967296,4294967297],"data_offsets":[0,1]}}`, make([]byte, 1)), "size overflows"},
	{"end before begin", rawSafetensors(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}`, make([]byte, 4)), `tensor "a": data_offsets [4, 0] outside the 4-byte buffer`},
	{"negative begin", rawSafetensors(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}`, make([]byte, 4)), `data_offsets [-4, 0] outside`},
	{"end past buffer", rawSafetensors(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 4)), `tensor "a": data_offsets [0, 8] outside the 4-byte buffer`},
	{"wrong byte count", rawSafetensors(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, make([]byte, 4)), `tensor "a": data_offsets [0, 4] hold 4 bytes, F32 [2] needs 8`},
	{"wrong byte count bf16", rawSafetensors(`{"a":{"dtype":"BF16","shape":[3],"data_offsets":[0,8]}}`, make([]byte, 8)), `BF16 [3] needs 6`},
	{"overlap", rawSafetensors(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, make([]byte, 8)), `tensor "b": data_offsets [4, 8] overlap those of "a"`},
	{"same range", rawSafetensors(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)), `overlap those of`},
	{"gap", rawSafetensors(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, make([]byte, 8)), `tensor "a": data_offsets [4, 8] leave bytes [0, 4) of the buffer unused`},
	{"trailing bytes", rawSafetensors(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 6)), "tensors end at byte 4 of a 6-byte buffer"},
}

func TestSafetensorsHostile(t *testing.T) {
	for _, tt := range hostileCases {
		t.Run(tt.name, func(t *testing.T) {
			f, err := NewSafetensors(bytes.NewReader(tt.file), int64(len(tt.file)))
			assert.Nil(t, f)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrCheckpoint)
			var e *Error
			assert.ErrorAs(t, err, &e)
			assert.ErrorContains(t, err, tt.msg)
		})
	}
}

func TestSafetensorsConcurrentReads(t *testing.T) {
	f, err := OpenSafetensors("testdata/safetensors/golden.safetensors")
	require.NoError(t, err)
	defer f.Close()
	want, err := f.Tensor("f32")
	require.NoError(t, err)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 20 {
				got, err := f.Tensor("f32")
				assert.NoError(t, err)
				assert.Equal(t, want, got)
				_, ok := f.Info("ids")
				assert.True(t, ok)
			}
		})
	}
	wg.Wait()
}

func TestSafetensorsTruncatedReader(t *testing.T) {
	// The reader claims more bytes than it has: the header parses, the
	// data read fails cleanly.
	b := encode(t, &Weights{Tensors: map[string]*Tensor{"a": Zeros(4)}}, F32)
	f, err := NewSafetensors(bytes.NewReader(b[:len(b)-3]), int64(len(b)))
	require.NoError(t, err)
	_, err = f.Tensor("a")
	assert.ErrorIs(t, err, ErrCheckpoint)
	assert.ErrorContains(t, err, "reading bytes [0, 16) of the buffer: unexpected EOF")

	_, err = f.Tensor("b")
	assert.ErrorContains(t, err, `no tensor "b"`)
	require.NoError(t, f.Close())
}

func TestSafetensorsOtherDtypes(t *testing.T) {
	// Dtypes this package does not convert are listed and skipped, and an
	// error only when asked for; unknown ones have their ranges checked.
	header := `{"__metadata__":null,"mask":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]},` +
		`"q":{"dtype":"F4_NEW","shape":[4],"data_offsets":[3,5]},` +
		`"x":{"dtype":"F32","shape":[],"data_offsets":[5,9]}}`
	buf := []byte{1, 0, 1, 0xff, 0xff, 0, 0, 0x80, 0x3f}
	b := rawSafetensors(header+"   ", buf)
	f := openBytes(t, b)
	assert.Equal(t, []string{"mask", "q", "x"}, f.Names())
	assert.Empty(t, f.Metadata())
	info, _ := f.Info("q")
	assert.Equal(t, TensorInfo{Dtype: "F4_NEW", Shape: []int{4}}, info)
	x, err := f.Tensor("x")
	require.NoError(t, err)
	assert.Equal(t, Scalar(1), x)
	_, err = f.Tensor("mask")
	assert.ErrorIs(t, err, ErrCheckpoint)
	assert.ErrorContains(t, err, `tensor "mask" is BOOL, not F32, F16, BF16 or F64`)

	path := filepath.Join(t.TempDir(), "other.safetensors")
	require.NoError(t, os.WriteFile(path, b, 0o644))
	_, err = ReadSafetensors(path)
	assert.ErrorIs(t, err, ErrCheckpoint)
	assert.ErrorContains(t, err, `"mask" is BOOL`)
}

func TestOpenSafetensorsMissingFile(t *testing.T) {
	_, err := OpenSafetensors(filepath.Join(t.TempDir(), "nope.safetensors"))
	assert.ErrorIs(t, err, ErrCheckpoint)
	assert.ErrorContains(t, err, "no such file")
	_, err = ReadSafetensors(filepath.Join(t.TempDir(), "nope.safetensors"))
	assert.ErrorIs(t, err, ErrCheckpoint)
}

// writeSharded writes a two-shard checkpoint of w's tensors into dir, a
// and b in the first shard and the rest in the second, and returns the
// index path.
func writeSharded(t *testing.T, dir string, tensors map[string]*Tensor, first ...string) string {
	t.Helper()
	shards := [2]*Weights{{Tensors: map[string]*Tensor{}}, {Tensors: map[string]*Tensor{}}}
	names := [2]string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}
	weightMap := map[string]string{}
	for name, x := range tensors {
		i := 1
		for _, f := range first {
			if f == name {
				i = 0
			}
		}
		shards[i].Tensors[name] = x
		weightMap[name] = names[i]
	}
	for i, w := range shards {
		require.NoError(t, WriteSafetensors(filepath.Join(dir, names[i]), w, F32))
	}
	index, err := json.Marshal(map[string]any{"metadata": map[string]any{"total_size": 1234, "format": "pt"}, "weight_map": weightMap})
	require.NoError(t, err)
	path := filepath.Join(dir, "model.safetensors.index.json")
	require.NoError(t, os.WriteFile(path, index, 0o644))
	return path
}

func TestShardedSafetensors(t *testing.T) {
	dir := t.TempDir()
	tensors := map[string]*Tensor{
		"a":      FromData([]float32{1, 2}, 2),
		"b.w":    FromData([]float32{3, 4, 5, 6}, 2, 2),
		"c.bias": Scalar(7),
	}
	index := writeSharded(t, dir, tensors, "a")
	f, err := OpenSafetensors(index)
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b.w", "c.bias"}, f.Names())
	assert.Equal(t, map[string]string{"total_size": "1234", "format": "pt"}, f.Metadata())
	for name, want := range tensors {
		got, err := f.Tensor(name)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	require.NoError(t, f.Close())
	_, err = f.Tensor("a")
	assert.ErrorContains(t, err, "after Close")

	w, err := ReadSafetensors(index)
	require.NoError(t, err)
	assert.Equal(t, tensors, w.Tensors)

	// A tensor in a shard but not in the weight map is not listed.
	extra := filepath.Join(dir, "model-00001-of-00002.safetensors")
	require.NoError(t, WriteSafetensors(extra, &Weights{Tensors: map[string]*Tensor{"a": tensors["a"], "stray": Zeros(1)}}, F32))
	f, err = OpenSafetensors(index)
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b.w", "c.bias"}, f.Names())
	require.NoError(t, f.Close())
}

func TestShardedSafetensorsErrors(t *testing.T) {
	dir := t.TempDir()
	index := writeSharded(t, dir, map[string]*Tensor{"a": Zeros(2), "b": Zeros(3)}, "a")
	n := 0
	writeIndex := func(s string) string {
		n++
		p := filepath.Join(dir, fmt.Sprintf("bad%d.safetensors.index.json", n))
		require.NoError(t, os.WriteFile(p, []byte(s), 0o644))
		return p
	}
	tests := []struct {
		name, index, msg string
	}{
		{"missing shard", writeIndex(`{"weight_map":{"a":"model-00001-of-00002.safetensors","z":"model-00009-of-00009.safetensors"}}`),
			`shard "model-00009-of-00009.safetensors": open safetensors: open ` + filepath.Join(dir, "model-00009-of-00009.safetensors") + ": no such file or directory"},
		{"tensor not in shard", writeIndex(`{"weight_map":{"a":"model-00002-of-00002.safetensors"}}`),
			`weight_map puts "a" in model-00002-of-00002.safetensors, which does not hold it`},
		{"escaping path", writeIndex(`{"weight_map":{"a":"../model.safetensors"}}`),
			`weight_map["a"] = "../model.safetensors" is not a file name beside the index`},
		{"absolute path", writeIndex(`{"weight_map":{"a":"/etc/passwd"}}`), "is not a file name beside the index"},
		{"no weight map", writeIndex(`{"metadata":{}}`), "no weight_map"},
		{"duplicate key", writeIndex(`{"weight_map":{"a":"x","a":"y"}}`), `duplicate key "a"`},
		{"bad value", writeIndex(`{"weight_map":{"a":1}}`), `weight_map["a"] is 1, not a file name`},
		{"not json", writeIndex(`weights`), "not a JSON object"},
		{"no index", filepath.Join(dir, "none.index.json"), "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := OpenSafetensors(tt.index)
			assert.ErrorIs(t, err, ErrCheckpoint)
			assert.ErrorContains(t, err, tt.msg)
		})
	}

	// A corrupt shard is reported with its file name.
	shard := filepath.Join(dir, "model-00002-of-00002.safetensors")
	require.NoError(t, os.WriteFile(shard, []byte("garbage!"), 0o644))
	_, err := OpenSafetensors(index)
	assert.ErrorIs(t, err, ErrCheckpoint)
	assert.ErrorContains(t, err, "safetensors "+shard+": header length")
}

func TestWriteSafetensorsInvalid(t *testing.T) {
	ok := FromData([]float32{1}, 1)
	tests := []struct {
		name  string
		w     *Weights
		dtype Dtype
		kind  error
		msg   string
	}{
		{"nil weights", nil, F32, ErrInput, "nil weights"},
		{"bad dtype", &Weights{}, F64, ErrConfig, `dtype "F64", want F32, F16 or BF16`},
		{"nil tensor", &Weights{Tensors: map[string]*Tensor{"a": nil}}, F32, ErrInput, `tensor "a" is nil`},
		{"nil int tensor", &Weights{Ints: map[string]*IntTensor{"a": nil}}, F32, ErrInput, `integer tensor "a" is nil`},
		{"data too short", &Weights{Tensors: map[string]*Tensor{"a": {Shape: []int{2, 3}, Data: make([]float32, 5)}}}, F32, ErrShape,
			`tensor "a" has 5 values for shape [2 3] (6)`},
		{"int data too long", &Weights{Ints: map[string]*IntTensor{"i": {Shape: []int{1}, Data: make([]int64, 2)}}}, F32, ErrShape, `tensor "i" has 2 values`},
		{"negative dim", &Weights{Tensors: map[string]*Tensor{"a": {Shape: []int{-1}}}}, F32, ErrShape, `tensor "a" has bad shape [-1]`},
		{"empty name", &Weights{Tensors: map[string]*Tensor{"": ok}}, F32, ErrInput, `bad tensor name ""`},
		{"metadata name", &Weights{Tensors: map[string]*Tensor{"__metadata__": ok}}, F32, ErrInput, `bad tensor name "__metadata__"`},
		{"name in both", &Weights{Tensors: map[string]*Tensor{"a": ok}, Ints: map[string]*IntTensor{"a": {Shape: []int{}, Data: []int64{1}}}}, F32, ErrInput,
			`"a" is both a float and an integer tensor`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := EncodeSafetensors(&bytes.Buffer{}, tt.w, tt.dtype)
			assert.ErrorIs(t, err, tt.kind)
			assert.ErrorContains(t, err, tt.msg)
		})
	}
}

// failWriter fails after n bytes.
type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		return w.n, errors.New("disk full")
	}
	w.n -= len(p)
	return len(p), nil
}

func TestEncodeSafetensorsWriteError(t *testing.T) {
	w := &Weights{Tensors: map[string]*Tensor{"a": Zeros(1 << 20)}}
	err := EncodeSafetensors(&failWriter{n: 1000}, w, F32)
	assert.ErrorIs(t, err, ErrCheckpoint)
	assert.ErrorContains(t, err, "disk full")
}

// dirEntries lists the names in dir.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteSafetensorsAtomic(t *testing.T) {
	good := &Weights{Tensors: map[string]*Tensor{"a": FromData([]float32{1, 2}, 2)}}
	bad := &Weights{Tensors: map[string]*Tensor{"a": Zeros(2), "b": {Shape: []int{3}, Data: make([]float32, 2)}}}

	t.Run("invalid tensor keeps the old file", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "model.safetensors")
		require.NoError(t, WriteSafetensors(path, good, F32))
		before, err := os.ReadFile(path)
		require.NoError(t, err)
		err = WriteSafetensors(path, bad, F32)
		assert.ErrorIs(t, err, ErrShape)
		after, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, before, after)
		assert.Equal(t, []string{"model.safetensors"}, dirEntries(t, dir))
	})

	t.Run("failed rename removes the temporary file", func(t *testing.T) {
		// The target is a non-empty directory: everything is written and
		// synced, then the rename fails.
		dir := t.TempDir()
		target := filepath.Join(dir, "model.safetensors")
		require.NoError(t, os.MkdirAll(filepath.Join(target, "keep"), 0o755))
		err := WriteSafetensors(target, good, F32)
		assert.ErrorIs(t, err, ErrCheckpoint)
		assert.Equal(t, []string{"model.safetensors"}, dirEntries(t, dir))
		assert.Equal(t, []string{"keep"}, dirEntries(t, target))
	})

	t.Run("unwritable directory", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root writes to read-only directories")
		}
		dir := t.TempDir()
		path := filepath.Join(dir, "model.safetensors")
		require.NoError(t, WriteSafetensors(path, good, F32))
		require.NoError(t, os.Chmod(dir, 0o555))
		defer os.Chmod(dir, 0o755)
		err := WriteSafetensors(path, &Weights{Tensors: map[string]*Tensor{"b": Zeros(3)}}, F32)
		assert.ErrorIs(t, err, ErrCheckpoint)
		got, err := ReadSafetensors(path)
		require.NoError(t, err)
		assert.Equal(t, good.Tensors, got.Tensors)
		assert.Equal(t, []string{"model.safetensors"}, dirEntries(t, dir))
	})

	t.Run("missing directory", func(t *testing.T) {
		err := WriteSafetensors(filepath.Join(t.TempDir(), "no", "model.safetensors"), good, F32)
		assert.ErrorIs(t, err, ErrCheckpoint)
	})

	t.Run("replaces the old file", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "model.safetensors")
		require.NoError(t, os.WriteFile(path, []byte("old"), 0o600))
		require.NoError(t, WriteSafetensors(path, good, BF16))
		got, err := ReadSafetensors(path)
		require.NoError(t, err)
		assert.Equal(t, good.Tensors, got.Tensors)
		st, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o644), st.Mode().Perm())
		assert.Equal(t, []string{"model.safetensors"}, dirEntries(t, dir))
	})
}

func FuzzReadSafetensors(f *testing.F) {
	for _, tt := range hostileCases {
		f.Add(tt.file)
	}
	golden, err := os.ReadFile("testdata/safetensors/golden.safetensors")
	require.NoError(f, err)
	f.Add(golden)
	var b bytes.Buffer
	require.NoError(f, EncodeSafetensors(&b, &Weights{
		Tensors:  map[string]*Tensor{"w": FromData([]float32{1, -2, 3.5, 0}, 2, 2), "s": Scalar(1), "e": Zeros(0)},
		Ints:     map[string]*IntTensor{"ids": {Shape: []int{3}, Data: []int64{0, 1, 2}}},
		Metadata: map[string]string{"format": "pt"},
	}, F16))
	f.Add(b.Bytes())

	f.Fuzz(func(t *testing.T, data []byte) {
		sf, err := NewSafetensors(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, ErrCheckpoint) {
				t.Fatalf("error %v is not an ErrCheckpoint *Error", err)
			}
			return
		}
		floats := &Weights{Tensors: map[string]*Tensor{}}
		for _, name := range sf.Names() {
			info, ok := sf.Info(name)
			if !ok {
				t.Fatalf("listed %q has no info", name)
			}
			var size int
			switch {
			case info.Dtype.isFloat():
				x, err := sf.Tensor(name)
				if err != nil {
					t.Fatalf("%q: %v", name, err)
				}
				size = len(x.Data)
				if info.Dtype == F32 {
					floats.Tensors[name] = x
				}
			case info.Dtype.isInt():
				x, err := sf.Ints(name)
				if err != nil {
					t.Fatalf("%q: %v", name, err)
				}
				size = len(x.Data)
			default:
				if _, err := sf.Tensor(name); !errors.Is(err, ErrCheckpoint) {
					t.Fatalf("%q of dtype %s: got %v", name, info.Dtype, err)
				}
				continue
			}
			if size != shapeCount(info.Shape) {
				t.Fatalf("%q: %d values for shape %v", name, size, info.Shape)
			}
		}
		// F32 tensors survive a write and a read bit for bit.
		var out bytes.Buffer
		if err := EncodeSafetensors(&out, floats, F32); err != nil {
			t.Fatal(err)
		}
		again := openBytes(t, out.Bytes())
		for name, want := range floats.Tensors {
			got, err := again.Tensor(name)
			if err != nil {
				t.Fatal(err)
			}
			for i := range want.Data {
				if math.Float32bits(want.Data[i]) != math.Float32bits(got.Data[i]) {
					t.Fatalf("%q[%d]: %v became %v", name, i, want.Data[i], got.Data[i])
				}
			}
		}
	})
}
