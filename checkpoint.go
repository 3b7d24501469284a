package vlm

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
)

// LoadOptions says how [LoadWeights] matches checkpoint keys to parameter
// names. The zero value (and nil) is a strict load of a checkpoint whose
// keys are the parameter names.
//
// Each checkpoint key goes through Prefix, then Rename, then Ignore; the
// name that comes out is looked up among the parameters.
//
//	// The Q-Former of a LAVIS BLIP-2 checkpoint into a Hugging Face-named Q-Former.
//	opts := &vlm.LoadOptions{
//		Prefix: "Qformer.bert.",
//		Rename: strings.NewReplacer("attention.self.", "attention.attention.").Replace,
//		Ignore: []string{"*.position_ids"},
//	}
type LoadOptions struct {
	// Partial accepts a checkpoint that does not match the module: a
	// parameter with no key, or with a key of another shape or a
	// non-float dtype, keeps its value; an unexpected key is skipped; the
	// report lists them all. Without Partial any of these is an error
	// that lists them all, and nothing is loaded.
	Partial bool

	// Prefix keeps only the checkpoint keys that start with it, and strips
	// it from them. Other keys are skipped and not reported.
	Prefix string

	// Rename, if set, maps a checkpoint key (Prefix stripped) to a
	// parameter name; strings.NewReplacer(old, new, ...).Replace renames
	// by substrings, a closure over a map renames whole keys. A key
	// renamed to "" is skipped.
	Rename func(key string) string

	// Ignore lists path.Match patterns, in which '*' also matches dots. A
	// renamed checkpoint key or a parameter name that matches one is left
	// out: neither loaded nor reported. "*.position_ids" skips the integer
	// buffers of older transformers checkpoints; "vision_encoder.*" leaves
	// a module's vision encoder alone.
	Ignore []string
}

// LoadReport tells what [LoadWeights] matched.
type LoadReport struct {
	Loaded     []string   // parameters filled from the checkpoint, in visiting order
	Missing    []string   // parameters with no key in the checkpoint
	Unexpected []string   // checkpoint keys, as in the file, that name no parameter
	Mismatched []Mismatch // keys whose shape or dtype does not fit their parameter
}

// Complete reports whether every parameter was loaded and every key used.
func (r *LoadReport) Complete() bool {
	return len(r.Missing) == 0 && len(r.Unexpected) == 0 && len(r.Mismatched) == 0
}

// Mismatch is a checkpoint tensor that cannot fill the parameter its key
// names: its shape differs, or its dtype is not a float type.
type Mismatch struct {
	Name  string // parameter name
	Key   string // checkpoint key, as in the file
	Dtype Dtype  // checkpoint dtype
	Got   []int  // checkpoint shape
	Want  []int  // parameter shape
}

// String formats the mismatch for an error message.
func (mm Mismatch) String() string {
	s := mm.Name
	if mm.Key != mm.Name {
		s += fmt.Sprintf(" (checkpoint key %s)", mm.Key)
	}
	return fmt.Sprintf("%s: checkpoint %s %v, module float32 %v", s, mm.Dtype, mm.Got, mm.Want)
}

// LoadWeights fills the parameters of m from the safetensors checkpoint
// at path, a single file or a sharded checkpoint's index (a path ending in
// ".json"). Values are converted to float32 and copied into the existing
// Param.Value of each parameter, whose shape must match exactly.
//
// A strict load (opts nil or opts.Partial false) fails with an
// ErrCheckpoint error listing every missing parameter, unexpected key and
// mismatched shape at once, and then changes nothing. Parameters shared
// under several names (tied weights) load once, from whichever of their
// names the checkpoint holds, and are missing only if it holds none.
//
// The report is returned with a nil error and, when the checkpoint does
// not match, with the strict error too. An error while reading tensor
// data (a truncated file) may leave m partly loaded.
//
//	report, err := vlm.LoadWeights(model, "model.safetensors", nil)
func LoadWeights(m Module, path string, opts *LoadOptions) (*LoadReport, error) {
	f, err := OpenSafetensors(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return LoadWeightsFrom(m, f, opts)
}

// LoadWeightsFrom is [LoadWeights] from an open checkpoint, for instance
// one made with [NewSafetensors] over a memory map or a byte slice.
//
//	f, err := vlm.NewSafetensors(bytes.NewReader(b), int64(len(b)))
//	...
//	report, err := vlm.LoadWeightsFrom(model, f, &vlm.LoadOptions{Partial: true})
func LoadWeightsFrom(m Module, f *Safetensors, opts *LoadOptions) (*LoadReport, error) {
	if opts == nil {
		opts = &LoadOptions{}
	}
	for _, p := range opts.Ignore {
		if _, err := path.Match(p, ""); err != nil {
			return nil, Errorf(ErrConfig, "load weights: Ignore pattern %q: %v", p, err)
		}
	}
	ignored := func(name string) bool {
		for _, p := range opts.Ignore {
			if ok, _ := path.Match(p, name); ok {
				return true
			}
		}
		return false
	}

	// Checkpoint side: parameter name -> checkpoint key.
	keyOf := map[string]string{}
	for _, key := range f.names {
		name, ok := strings.CutPrefix(key, opts.Prefix)
		if !ok {
			continue
		}
		if opts.Rename != nil {
			name = opts.Rename(name)
		}
		if name == "" || ignored(name) {
			continue
		}
		if other, dup := keyOf[name]; dup {
			return nil, Errorf(ErrCheckpoint, "load weights from %s: keys %q and %q both name %q", f.name, other, key, name)
		}
		keyOf[name] = key
	}

	// Module side: each distinct parameter with its names.
	var order []*Param
	namesOf := map[*Param][]string{}
	var nilValue string
	m.VisitParams("", func(name string, p *Param) {
		if p.Value == nil && nilValue == "" {
			nilValue = name
		}
		if ignored(name) || slices.Contains(namesOf[p], name) {
			return
		}
		if _, seen := namesOf[p]; !seen {
			order = append(order, p)
		}
		namesOf[p] = append(namesOf[p], name)
	})
	if nilValue != "" {
		return nil, Errorf(ErrConfig, "load weights: parameter %q has no value", nilValue)
	}

	type job struct {
		name, key string
		e         entry
		p         *Param
	}
	var jobs []job
	used := map[string]bool{}
	report := &LoadReport{}
	for _, p := range order {
		names := namesOf[p]
		found := ""
		for _, name := range names {
			if _, ok := keyOf[name]; ok {
				used[name] = true
				if found == "" {
					found = name
				}
			}
		}
		if found == "" {
			report.Missing = append(report.Missing, names[0])
			continue
		}
		key := keyOf[found]
		e := f.entries[key]
		if !e.Dtype.isFloat() || !slices.Equal(e.Shape, p.Value.Shape) {
			report.Mismatched = append(report.Mismatched, Mismatch{
				Name: found, Key: key, Dtype: e.Dtype,
				Got: slices.Clone(e.Shape), Want: slices.Clone(p.Value.Shape),
			})
			continue
		}
		if len(p.Value.Data) != shapeCount(p.Value.Shape) {
			return nil, Errorf(ErrShape, "load weights: parameter %q has %d values for shape %v", found, len(p.Value.Data), p.Value.Shape)
		}
		jobs = append(jobs, job{found, key, e, p})
	}
	for name, key := range keyOf {
		if !used[name] {
			report.Unexpected = append(report.Unexpected, key)
		}
	}
	slices.Sort(report.Unexpected)
	if !opts.Partial && !report.Complete() {
		return report, mismatchError(f.name, report, opts)
	}
	for _, j := range jobs {
		if err := f.readFloats(j.key, j.e, j.p.Value.Data); err != nil {
			return report, err
		}
		report.Loaded = append(report.Loaded, j.name)
	}
	return report, nil
}

// mismatchError lists every problem of a strict load, one per line.
func mismatchError(source string, r *LoadReport, opts *LoadOptions) error {
	var b strings.Builder
	fmt.Fprintf(&b, "load weights from %s: checkpoint does not match the module: %d missing, %d unexpected, %d mismatched",
		source, len(r.Missing), len(r.Unexpected), len(r.Mismatched))
	for _, name := range r.Missing {
		fmt.Fprintf(&b, "\n\tmissing    %s", name)
	}
	for _, key := range r.Unexpected {
		fmt.Fprintf(&b, "\n\tunexpected %s", key)
		if name := renamed(key, opts); name != key {
			fmt.Fprintf(&b, " (as %s)", name)
		}
	}
	for _, mm := range r.Mismatched {
		fmt.Fprintf(&b, "\n\tmismatched %v", mm)
	}
	return Errorf(ErrCheckpoint, "%s\n", b.String())
}

func renamed(key string, opts *LoadOptions) string {
	name := strings.TrimPrefix(key, opts.Prefix)
	if opts.Rename != nil {
		name = opts.Rename(name)
	}
	return name
}

// SaveOptions says what [SaveWeights] writes. The zero value (and nil)
// saves every parameter as F32 under its own name.
type SaveOptions struct {
	// TrainableOnly saves only the parameters that are not frozen, as
	// adapter-only checkpoints do (open_flamingo, LLaVA's projector
	// pretraining); load them back with LoadOptions.Partial.
	TrainableOnly bool

	// Prefix is prepended to every parameter name.
	Prefix string

	// Dtype is the element type of the file: F32 (or ""), F16 or BF16.
	Dtype Dtype

	// Metadata is stored in the header's "__metadata__". "format": "pt"
	// is added unless Metadata sets "format", because Hugging Face
	// transformers refuses safetensors files without it.
	Metadata map[string]string
}

// SaveWeights writes the parameters of m to a safetensors file at path,
// atomically (see [WriteSafetensors]). A parameter shared under several
// names (tied weights) is saved once, under the first name visited, as
// Hugging Face transformers saves tied weights; [LoadWeights] fills every
// name from it. Saving nothing (TrainableOnly on a fully frozen module)
// is an ErrConfig error.
//
//	err := vlm.SaveWeights(model, "adapter.safetensors", &vlm.SaveOptions{TrainableOnly: true})
func SaveWeights(m Module, path string, opts *SaveOptions) error {
	if opts == nil {
		opts = &SaveOptions{}
	}
	w := &Weights{Tensors: map[string]*Tensor{}, Metadata: maps.Clone(opts.Metadata)}
	if w.Metadata == nil {
		w.Metadata = map[string]string{}
	}
	if _, ok := w.Metadata["format"]; !ok {
		w.Metadata["format"] = "pt"
	}
	seen := map[*Param]bool{}
	m.VisitParams("", func(name string, p *Param) {
		if seen[p] || opts.TrainableOnly && p.Frozen {
			return
		}
		seen[p] = true
		w.Tensors[opts.Prefix+name] = p.Value
	})
	if len(w.Tensors) == 0 {
		return Errorf(ErrConfig, "save weights to %s: no parameters to save", path)
	}
	return WriteSafetensors(path, w, opts.Dtype)
}
