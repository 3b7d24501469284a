package vlm

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// The safetensors format (https://huggingface.co/docs/safetensors):
//
//	8 bytes     N, the header length, little-endian uint64
//	N bytes     JSON header: {"name": {"dtype": "F32", "shape": [2, 3],
//	            "data_offsets": [begin, end]}, ..., "__metadata__": {"k": "v"}}
//	rest        the byte buffer; tensor "name" is buffer[begin:end], row-major,
//	            little-endian
//
// A sharded checkpoint is a JSON index, model.safetensors.index.json:
//
//	{"metadata": {"total_size": 123}, "weight_map": {"name": "model-00001-of-00002.safetensors", ...}}
//
// The reader is as strict about the layout as the reference implementation:
// the header must be at most maxHeaderLen bytes, every key unique, every
// tensor's byte range exactly dtype size × prod(shape), and the ranges,
// sorted, must tile the buffer with no gap or overlap. It is more lenient in
// one way: a tensor of a dtype it does not know is listed, not refused.

// Dtype is the element type of a tensor in a safetensors file, spelled as
// in its header ("F32", "BF16", ...).
type Dtype string

// The element types this package converts. Files may hold others (BOOL,
// U8, F8_E4M3, ...): they can be listed with [Safetensors.Info] but not
// read.
const (
	F64  Dtype = "F64"  // IEEE 754 binary64, read as float32
	F32  Dtype = "F32"  // IEEE 754 binary32
	F16  Dtype = "F16"  // IEEE 754 binary16, read as float32 exactly
	BF16 Dtype = "BF16" // bfloat16 (top half of a binary32), read as float32 exactly
	I64  Dtype = "I64"  // int64, read with [Safetensors.Ints]
	I32  Dtype = "I32"  // int32, read with [Safetensors.Ints] as int64
)

// dtypeSizes holds the element size in bytes of the dtypes whose byte
// counts the reader checks. Others are accepted with their ranges checked
// for overlap only.
var dtypeSizes = map[Dtype]int64{
	F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4,
	"BOOL": 1, "U8": 1, "I8": 1, "I16": 2, "U16": 2, "U32": 4, "U64": 8,
	"F8_E4M3": 1, "F8_E5M2": 1,
}

func (d Dtype) isFloat() bool { return d == F64 || d == F32 || d == F16 || d == BF16 }
func (d Dtype) isInt() bool   { return d == I64 || d == I32 }

const (
	maxHeaderLen = 100_000_000 // bytes, as the reference reader
	metadataKey  = "__metadata__"
	chunkLen     = 1 << 20 // bytes converted per read or write call
)

// TensorInfo describes one tensor of a safetensors file without reading
// its data.
type TensorInfo struct {
	Dtype Dtype
	Shape []int
}

// IntTensor is a dense row-major integer tensor, the form in which
// integer buffers of a checkpoint (position_ids, token ids) are read and
// written. Data holds prod(Shape) values.
type IntTensor struct {
	Shape []int
	Data  []int64
}

// Weights is a set of named tensors with string metadata, the whole
// content of a safetensors file in memory. Names must be unique across
// Tensors and Ints.
type Weights struct {
	Tensors  map[string]*Tensor    // float tensors
	Ints     map[string]*IntTensor // integer tensors
	Metadata map[string]string     // the header's "__metadata__"; may be nil
}

// Safetensors is an open safetensors checkpoint, a single file or a
// sharded one: its header is parsed and validated, and tensor data is read
// and converted on demand, one tensor at a time. Its methods other than
// Close may be called from several goroutines at once.
//
//	f, err := vlm.OpenSafetensors("model.safetensors")
//	if err != nil { ... }
//	defer f.Close()
//	w, err := f.Tensor("vision_model.embeddings.patch_embedding.weight")
type Safetensors struct {
	name     string // file or index path, for error messages
	entries  map[string]entry
	names    []string // sorted
	metadata map[string]string
	shards   []shard
}

type entry struct {
	TensorInfo
	shard      int
	begin, end int64 // byte range in the shard's buffer
}

type shard struct {
	name  string      // file name, for error messages
	r     io.ReaderAt // the file
	size  int64       // of the file, in bytes
	base  int64       // offset of the buffer: 8 + header length
	close func() error
}

// OpenSafetensors opens the safetensors checkpoint at path. A path ending
// in ".json" is read as the index of a sharded checkpoint
// (model.safetensors.index.json): its shards, named relative to the
// index's directory, are opened and their headers checked against the
// index at once. Close the result to release the files.
func OpenSafetensors(path string) (*Safetensors, error) {
	if strings.HasSuffix(path, ".json") {
		return openIndex(path)
	}
	sh, err := openShard(path)
	if err != nil {
		return nil, err
	}
	f, err := parseShard(sh, 0)
	if err != nil {
		sh.close()
		return nil, err
	}
	return f, nil
}

// NewSafetensors reads the header of the size-byte safetensors file that
// r holds (a bytes.Reader, an *os.File, a memory map). Tensor data is read
// from r when asked for, so r must stay valid while the result is used.
func NewSafetensors(r io.ReaderAt, size int64) (*Safetensors, error) {
	return parseShard(shard{name: "reader", r: r, size: size, close: func() error { return nil }}, 0)
}

func openShard(path string) (shard, error) {
	file, err := os.Open(path)
	if err != nil {
		return shard{}, Errorf(ErrCheckpoint, "open safetensors: %w", err)
	}
	st, err := file.Stat()
	if err != nil {
		file.Close()
		return shard{}, Errorf(ErrCheckpoint, "open safetensors: %w", err)
	}
	return shard{name: path, r: file, size: st.Size(), close: file.Close}, nil
}

// parseShard reads and validates the header of sh, which becomes shard
// number idx of the result.
func parseShard(sh shard, idx int) (*Safetensors, error) {
	size := sh.size
	bad := func(format string, args ...any) error {
		return Errorf(ErrCheckpoint, "safetensors %s: %s", sh.name, fmt.Sprintf(format, args...))
	}
	if size < 8 {
		return nil, bad("%d bytes, shorter than the 8-byte header length", size)
	}
	var lenBuf [8]byte
	if err := readFull(sh.r, lenBuf[:], 0); err != nil {
		return nil, bad("reading the header length: %v", err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > maxHeaderLen {
		return nil, bad("header length %d exceeds the limit of %d bytes", n, maxHeaderLen)
	}
	if n > uint64(size-8) {
		return nil, bad("header length %d exceeds the %d bytes that follow it", n, size-8)
	}
	header := make([]byte, n)
	if err := readFull(sh.r, header, 8); err != nil {
		return nil, bad("reading the %d-byte header: %v", n, err)
	}
	sh.base = 8 + int64(n)
	bufLen := size - sh.base

	f := &Safetensors{name: sh.name, entries: map[string]entry{}, shards: []shard{sh}}
	err := decodeObject(header, func(key string, raw json.RawMessage) error {
		if key == metadataKey {
			if string(raw) == "null" {
				return nil
			}
			m, err := decodeStrings(raw)
			if err != nil {
				return fmt.Errorf("%s: %v", metadataKey, err)
			}
			f.metadata = m
			return nil
		}
		e, err := decodeEntry(raw, bufLen)
		if err != nil {
			return fmt.Errorf("tensor %q: %v", key, err)
		}
		e.shard = idx
		f.entries[key] = e
		f.names = append(f.names, key)
		return nil
	})
	if err != nil {
		return nil, bad("header: %v", err)
	}
	if err := checkTiling(f.entries, f.names, bufLen); err != nil {
		return nil, bad("%v", err)
	}
	slices.Sort(f.names)
	return f, nil
}

// decodeObject calls fn for every member of the JSON object data, in
// order, and fails on anything else, on trailing data and on duplicate
// keys (which encoding/json would silently merge).
func decodeObject(data []byte, fn func(key string, raw json.RawMessage) error) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return fmt.Errorf("not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("bad JSON: %v", err)
		}
		key, ok := tok.(string)
		if !ok {
			return fmt.Errorf("bad JSON: key %v", tok)
		}
		if seen[key] {
			return fmt.Errorf("duplicate key %q", key)
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("bad JSON after key %q: %v", key, err)
		}
		if err := fn(key, raw); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("bad JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("data after the JSON object")
	}
	return nil
}

// decodeStrings decodes a JSON object of strings.
func decodeStrings(raw json.RawMessage) (map[string]string, error) {
	m := map[string]string{}
	err := decodeObject(raw, func(k string, v json.RawMessage) error {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("value of %q is %s, not a string", k, v)
		}
		m[k] = s
		return nil
	})
	return m, err
}

// decodeEntry decodes and checks one tensor entry of a header whose
// buffer holds bufLen bytes.
func decodeEntry(raw json.RawMessage, bufLen int64) (entry, error) {
	var v struct {
		Dtype   *string  `json:"dtype"`
		Shape   *[]int64 `json:"shape"`
		Offsets *[]int64 `json:"data_offsets"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return entry{}, err
	}
	switch {
	case v.Dtype == nil || *v.Dtype == "":
		return entry{}, fmt.Errorf("no dtype")
	case v.Shape == nil:
		return entry{}, fmt.Errorf("no shape")
	case v.Offsets == nil || len(*v.Offsets) != 2:
		return entry{}, fmt.Errorf("data_offsets must be [begin, end]")
	}
	e := entry{TensorInfo: TensorInfo{Dtype: Dtype(*v.Dtype), Shape: make([]int, len(*v.Shape))}}
	// count is prod(shape); nominal, the product of the non-zero sizes,
	// must leave room for a byte count of 8-byte elements.
	count, nominal := int64(1), int64(1)
	for i, d := range *v.Shape {
		if d < 0 || int64(int(d)) != d {
			return entry{}, fmt.Errorf("shape %v: axis size %d out of range", *v.Shape, d)
		}
		if d != 0 {
			if nominal > math.MaxInt64/8/d {
				return entry{}, fmt.Errorf("shape %v: size overflows", *v.Shape)
			}
			nominal *= d
		}
		count *= d
		e.Shape[i] = int(d)
	}
	e.begin, e.end = (*v.Offsets)[0], (*v.Offsets)[1]
	if e.begin < 0 || e.end < e.begin || e.end > bufLen {
		return entry{}, fmt.Errorf("data_offsets [%d, %d] outside the %d-byte buffer", e.begin, e.end, bufLen)
	}
	if size, ok := dtypeSizes[e.Dtype]; ok && e.end-e.begin != count*size {
		return entry{}, fmt.Errorf("data_offsets [%d, %d] hold %d bytes, %s %v needs %d",
			e.begin, e.end, e.end-e.begin, e.Dtype, e.Shape, count*size)
	}
	return e, nil
}

// checkTiling checks that the byte ranges of the entries, sorted, cover
// the buffer exactly: no overlap, no gap, no trailing bytes.
func checkTiling(entries map[string]entry, names []string, bufLen int64) error {
	order := slices.Clone(names)
	slices.SortFunc(order, func(a, b string) int {
		ea, eb := entries[a], entries[b]
		return cmp.Or(cmp.Compare(ea.begin, eb.begin), cmp.Compare(ea.end, eb.end))
	})
	pos, prev := int64(0), ""
	for _, name := range order {
		e := entries[name]
		switch {
		case e.begin < pos:
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] overlap those of %q", name, e.begin, e.end, prev)
		case e.begin > pos:
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] leave bytes [%d, %d) of the buffer unused", name, e.begin, e.end, pos, e.begin)
		}
		pos, prev = e.end, name
	}
	if pos != bufLen {
		return fmt.Errorf("tensors end at byte %d of a %d-byte buffer", pos, bufLen)
	}
	return nil
}

// openIndex opens a sharded checkpoint from its JSON index.
func openIndex(path string) (_ *Safetensors, err error) {
	bad := func(format string, args ...any) error {
		return Errorf(ErrCheckpoint, "safetensors index %s: %s", path, fmt.Sprintf(format, args...))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Errorf(ErrCheckpoint, "open safetensors index: %w", err)
	}
	f := &Safetensors{name: path, entries: map[string]entry{}}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	shardOf := map[string]string{} // tensor name -> shard file
	var files []string             // shard files in order of first use
	haveMap := false
	err = decodeObject(data, func(key string, raw json.RawMessage) error {
		switch key {
		case "metadata":
			f.metadata = map[string]string{}
			if string(raw) == "null" {
				return nil
			}
			return decodeObject(raw, func(k string, v json.RawMessage) error {
				var s string
				if json.Unmarshal(v, &s) != nil {
					s = string(v) // a number or other JSON value, as text
				}
				f.metadata[k] = s
				return nil
			})
		case "weight_map":
			haveMap = true
			return decodeObject(raw, func(name string, v json.RawMessage) error {
				var file string
				if err := json.Unmarshal(v, &file); err != nil {
					return fmt.Errorf("weight_map[%q] is %s, not a file name", name, v)
				}
				if !filepath.IsLocal(file) {
					return fmt.Errorf("weight_map[%q] = %q is not a file name beside the index", name, file)
				}
				if !slices.Contains(files, file) {
					files = append(files, file)
				}
				shardOf[name] = file
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return nil, bad("%v", err)
	}
	if !haveMap {
		return nil, bad("no weight_map")
	}
	dir := filepath.Dir(path)
	for i, file := range files {
		sh, err := openShard(filepath.Join(dir, file))
		if err != nil {
			return nil, bad("shard %q: %v", file, err)
		}
		part, err := parseShard(sh, i)
		if err != nil {
			sh.close()
			return nil, err
		}
		f.shards = append(f.shards, part.shards[0])
		for name, e := range part.entries {
			if shardOf[name] == file {
				f.entries[name] = e
			}
		}
	}
	for name, file := range shardOf {
		if _, ok := f.entries[name]; !ok {
			return nil, bad("weight_map puts %q in %s, which does not hold it", name, file)
		}
		f.names = append(f.names, name)
	}
	slices.Sort(f.names)
	return f, nil
}

// Close releases the files of f. Close is a no-op for a [Safetensors]
// made by [NewSafetensors].
func (f *Safetensors) Close() error {
	var first error
	for _, sh := range f.shards {
		if err := sh.close(); err != nil && first == nil {
			first = Errorf(ErrCheckpoint, "close %s: %v", sh.name, err)
		}
	}
	f.shards = nil
	return first
}

// Names returns the names of the tensors of f, sorted.
func (f *Safetensors) Names() []string { return slices.Clone(f.names) }

// Info returns the dtype and shape of the named tensor, and whether f
// holds it.
func (f *Safetensors) Info(name string) (TensorInfo, bool) {
	e, ok := f.entries[name]
	if !ok {
		return TensorInfo{}, false
	}
	return TensorInfo{Dtype: e.Dtype, Shape: slices.Clone(e.Shape)}, true
}

// Metadata returns a copy of the string metadata of f: the header's
// "__metadata__" for a single file, the index's "metadata" for a sharded
// checkpoint (non-string values as their JSON text, e.g. "total_size":
// "123").
func (f *Safetensors) Metadata() map[string]string {
	if f.metadata == nil {
		return map[string]string{}
	}
	return maps.Clone(f.metadata)
}

// Tensor reads the named F32, F16, BF16 or F64 tensor as float32. F16 and
// BF16 convert exactly; F64 rounds to nearest.
func (f *Safetensors) Tensor(name string) (*Tensor, error) {
	e, err := f.lookup(name)
	if err != nil {
		return nil, err
	}
	t := &Tensor{Shape: slices.Clone(e.Shape), Data: make([]float32, shapeCount(e.Shape))}
	if err := f.readFloats(name, e, t.Data); err != nil {
		return nil, err
	}
	return t, nil
}

// Ints reads the named I64 or I32 tensor.
func (f *Safetensors) Ints(name string) (*IntTensor, error) {
	e, err := f.lookup(name)
	if err != nil {
		return nil, err
	}
	if !e.Dtype.isInt() {
		return nil, Errorf(ErrCheckpoint, "safetensors %s: tensor %q is %s, not I64 or I32", f.shards[e.shard].name, name, e.Dtype)
	}
	t := &IntTensor{Shape: slices.Clone(e.Shape), Data: make([]int64, shapeCount(e.Shape))}
	size := dtypeSizes[e.Dtype]
	err = f.readChunks(e, size, func(src []byte, at int) {
		dst := t.Data[at : at+len(src)/int(size)]
		if e.Dtype == I64 {
			for i := range dst {
				dst[i] = int64(binary.LittleEndian.Uint64(src[8*i:]))
			}
			return
		}
		for i := range dst {
			dst[i] = int64(int32(binary.LittleEndian.Uint32(src[4*i:])))
		}
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

func (f *Safetensors) lookup(name string) (entry, error) {
	e, ok := f.entries[name]
	if !ok {
		return entry{}, Errorf(ErrCheckpoint, "safetensors %s: no tensor %q", f.name, name)
	}
	if f.shards == nil {
		return entry{}, Errorf(ErrCheckpoint, "safetensors %s: read of %q after Close", f.name, name)
	}
	return e, nil
}

// readFloats reads the float tensor e into dst, which holds its values.
func (f *Safetensors) readFloats(name string, e entry, dst []float32) error {
	if !e.Dtype.isFloat() {
		return Errorf(ErrCheckpoint, "safetensors %s: tensor %q is %s, not F32, F16, BF16 or F64", f.shards[e.shard].name, name, e.Dtype)
	}
	size := dtypeSizes[e.Dtype]
	return f.readChunks(e, size, func(src []byte, at int) {
		d := dst[at : at+len(src)/int(size)]
		switch e.Dtype {
		case F32:
			for i := range d {
				d[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
			}
		case F16:
			for i := range d {
				d[i] = f16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
			}
		case BF16:
			for i := range d {
				d[i] = bf16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
			}
		case F64:
			for i := range d {
				d[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(src[8*i:])))
			}
		}
	})
}

// readChunks reads the bytes of e in pieces of at most chunkLen bytes and
// passes each to convert with the index of its first element.
func (f *Safetensors) readChunks(e entry, size int64, convert func(src []byte, at int)) error {
	sh := f.shards[e.shard]
	n := e.end - e.begin
	buf := make([]byte, min(n, chunkLen/size*size))
	for off := int64(0); off < n; off += int64(len(buf)) {
		piece := buf[:min(int64(len(buf)), n-off)]
		if err := readFull(sh.r, piece, sh.base+e.begin+off); err != nil {
			return Errorf(ErrCheckpoint, "safetensors %s: reading bytes [%d, %d) of the buffer: %v", sh.name, e.begin+off, e.begin+off+int64(len(piece)), err)
		}
		convert(piece, int(off/size))
	}
	return nil
}

// readFull fills p from r at off; an io.EOF that comes with a full p is
// not an error.
func readFull(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

func shapeCount(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// ReadSafetensors reads every tensor of the safetensors checkpoint at path
// (a file or, for a path ending in ".json", a sharded checkpoint's index):
// float tensors (F32, F16, BF16, F64) into Tensors as float32, integer
// tensors (I64, I32) into Ints. A tensor of any other dtype is an error;
// use [OpenSafetensors] to read some tensors of such a file.
//
//	w, err := vlm.ReadSafetensors("projector.safetensors")
//	if err != nil { ... }
//	fmt.Println(w.Tensors["model.mm_projector.0.weight"].Shape)
func ReadSafetensors(path string) (*Weights, error) {
	f, err := OpenSafetensors(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	w := &Weights{Tensors: map[string]*Tensor{}, Ints: map[string]*IntTensor{}, Metadata: f.Metadata()}
	for _, name := range f.names {
		if f.entries[name].Dtype.isInt() {
			if w.Ints[name], err = f.Ints(name); err != nil {
				return nil, err
			}
			continue
		}
		if w.Tensors[name], err = f.Tensor(name); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// WriteSafetensors writes w to a safetensors file at path, atomically:
// the data goes to a temporary file in the same directory, which is
// synced and then renamed over path, so that a crash or an error never
// leaves a partly written file at path, and a failed write removes its
// temporary file. The file gets mode 0644.
//
// dtype is the element type of the float tensors: F32 (or ""), or F16 or
// BF16 for a file half the size, rounded to nearest even. Integer tensors
// are written as I64. See [EncodeSafetensors] for the layout.
//
//	err := vlm.WriteSafetensors("out.safetensors", &vlm.Weights{
//		Tensors:  map[string]*vlm.Tensor{"proj.weight": w},
//		Metadata: map[string]string{"format": "pt"},
//	}, vlm.F32)
func WriteSafetensors(path string, w *Weights, dtype Dtype) error {
	l, err := newLayout(w, dtype)
	if err != nil {
		return err
	}
	return writeAtomic(path, l.write)
}

// EncodeSafetensors writes w in the safetensors format to out. dtype is
// as for [WriteSafetensors]. The header lists "__metadata__" (if w has
// metadata) and then the tensors sorted by name, and is padded with spaces
// to a multiple of 8 bytes; the buffer holds the tensors by decreasing
// element size and then by name, so that every tensor is aligned to its
// element size, as the reference writer does.
func EncodeSafetensors(out io.Writer, w *Weights, dtype Dtype) error {
	l, err := newLayout(w, dtype)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(out, chunkLen)
	if err := l.write(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return Errorf(ErrCheckpoint, "write safetensors: %w", err)
	}
	return nil
}

// layout is a checked Weights with its header built.
type layout struct {
	w      *Weights
	dtype  Dtype // of the float tensors
	order  []string
	header []byte // padded
}

func newLayout(w *Weights, dtype Dtype) (*layout, error) {
	if dtype == "" {
		dtype = F32
	}
	if dtype != F32 && dtype != F16 && dtype != BF16 {
		return nil, Errorf(ErrConfig, "write safetensors: dtype %q, want F32, F16 or BF16", dtype)
	}
	if w == nil {
		return nil, Errorf(ErrInput, "write safetensors: nil weights")
	}
	l := &layout{w: w, dtype: dtype}
	infos := map[string]TensorInfo{}
	for name, t := range w.Tensors {
		if t == nil {
			return nil, Errorf(ErrInput, "write safetensors: tensor %q is nil", name)
		}
		if err := checkWritable(name, t.Shape, len(t.Data)); err != nil {
			return nil, err
		}
		infos[name] = TensorInfo{Dtype: dtype, Shape: t.Shape}
	}
	for name, t := range w.Ints {
		if t == nil {
			return nil, Errorf(ErrInput, "write safetensors: integer tensor %q is nil", name)
		}
		if _, dup := infos[name]; dup {
			return nil, Errorf(ErrInput, "write safetensors: %q is both a float and an integer tensor", name)
		}
		if err := checkWritable(name, t.Shape, len(t.Data)); err != nil {
			return nil, err
		}
		infos[name] = TensorInfo{Dtype: I64, Shape: t.Shape}
	}
	for name := range infos {
		l.order = append(l.order, name)
	}
	slices.SortFunc(l.order, func(a, b string) int {
		sa, sb := dtypeSizes[infos[a].Dtype], dtypeSizes[infos[b].Dtype]
		return cmp.Or(cmp.Compare(sb, sa), strings.Compare(a, b))
	})
	offsets := map[string][2]int64{}
	pos := int64(0)
	for _, name := range l.order {
		n := int64(shapeCount(infos[name].Shape)) * dtypeSizes[infos[name].Dtype]
		offsets[name] = [2]int64{pos, pos + n}
		pos += n
	}

	var h bytes.Buffer
	h.WriteByte('{')
	if len(w.Metadata) > 0 {
		writeJSONString(&h, metadataKey)
		h.WriteString(":{")
		for i, k := range sortedKeys(w.Metadata) {
			if i > 0 {
				h.WriteByte(',')
			}
			writeJSONString(&h, k)
			h.WriteByte(':')
			writeJSONString(&h, w.Metadata[k])
		}
		h.WriteByte('}')
	}
	for _, name := range sortedKeys(infos) {
		if h.Len() > 1 {
			h.WriteByte(',')
		}
		writeJSONString(&h, name)
		info, off := infos[name], offsets[name]
		shape := strings.ReplaceAll(fmt.Sprint(info.Shape), " ", ",")
		fmt.Fprintf(&h, `:{"dtype":"%s","shape":%s,"data_offsets":[%d,%d]}`, info.Dtype, shape, off[0], off[1])
	}
	h.WriteByte('}')
	for h.Len()%8 != 0 {
		h.WriteByte(' ')
	}
	l.header = h.Bytes()
	return l, nil
}

func checkWritable(name string, shape []int, n int) error {
	if name == "" || name == metadataKey {
		return Errorf(ErrInput, "write safetensors: bad tensor name %q", name)
	}
	count := 1
	for _, d := range shape {
		if d < 0 || d != 0 && count > math.MaxInt32/d {
			return Errorf(ErrShape, "write safetensors: tensor %q has bad shape %v", name, shape)
		}
		count *= d
	}
	if count != n {
		return Errorf(ErrShape, "write safetensors: tensor %q has %d values for shape %v (%d)", name, n, shape, count)
	}
	return nil
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	// Encoding a string cannot fail; Encode appends a newline.
	enc.Encode(s)
	b.Truncate(b.Len() - 1)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// write writes the file: header length, header, buffer.
func (l *layout) write(out io.Writer) error {
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(l.header)))
	if _, err := out.Write(lenBuf[:]); err != nil {
		return Errorf(ErrCheckpoint, "write safetensors: %w", err)
	}
	if _, err := out.Write(l.header); err != nil {
		return Errorf(ErrCheckpoint, "write safetensors: %w", err)
	}
	buf := make([]byte, 0, chunkLen)
	for _, name := range l.order {
		if t, ok := l.w.Ints[name]; ok {
			for data := t.Data; len(data) > 0; {
				k := min(len(data), chunkLen/8)
				buf = buf[:0]
				for _, v := range data[:k] {
					buf = binary.LittleEndian.AppendUint64(buf, uint64(v))
				}
				if _, err := out.Write(buf); err != nil {
					return Errorf(ErrCheckpoint, "write safetensors: tensor %q: %v", name, err)
				}
				data = data[k:]
			}
			continue
		}
		for data := l.w.Tensors[name].Data; len(data) > 0; {
			k := min(len(data), chunkLen/4)
			buf = buf[:0]
			switch l.dtype {
			case F32:
				for _, v := range data[:k] {
					buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
				}
			case F16:
				for _, v := range data[:k] {
					buf = binary.LittleEndian.AppendUint16(buf, f32ToF16(v))
				}
			case BF16:
				for _, v := range data[:k] {
					buf = binary.LittleEndian.AppendUint16(buf, f32ToBF16(v))
				}
			}
			if _, err := out.Write(buf); err != nil {
				return Errorf(ErrCheckpoint, "write safetensors: tensor %q: %v", name, err)
			}
			data = data[k:]
		}
	}
	return nil
}

// writeAtomic writes a file at path through a temporary file in the same
// directory that is synced and renamed over path; on any error the
// temporary file is removed and path is left as it was.
func writeAtomic(path string, write func(io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return Errorf(ErrCheckpoint, "write %s: %v", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, chunkLen)
	if err := write(bw); err != nil {
		return err
	}
	fail := func(err error) error { return Errorf(ErrCheckpoint, "write %s: %v", path, err) }
	if err := bw.Flush(); err != nil {
		return fail(err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fail(err)
	}
	// Make the rename itself durable where the platform can sync a
	// directory; the new file is complete either way.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
