package vlm_test

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/govlm/vlm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stateful is an optimizer whose state can be saved and loaded.
type stateful interface {
	vlm.Optimizer
	SaveState(m vlm.Module, path string) error
	LoadState(m vlm.Module, path string) error
}

// mlp is the two-layer model of the optimizer tests.
func mlp(seed uint64) vlm.Modules {
	rng := vlm.NewRand(seed)
	return vlm.Modules{
		{Name: "fc1", Module: vlm.NewLinear(rng, 6, 8, true)},
		{Name: "fc2", Module: vlm.NewLinear(rng, 8, 3, true)},
	}
}

// trainSteps runs n steps of MSE regression on fixed data through the
// first module of m (6 → 8), GELU and the last (8 → 3).
func trainSteps(t *testing.T, m vlm.Modules, opt vlm.Optimizer, n int) {
	t.Helper()
	rng := vlm.NewRand(99)
	x, target := vlm.RandN(rng, 1, 5, 6), vlm.RandN(rng, 1, 5, 3)
	fc1, fc2 := m[0].Module.(*vlm.Linear), m[len(m)-1].Module.(*vlm.Linear)
	for range n {
		vlm.ZeroGrad(m)
		tp := vlm.NewTape()
		y := fc2.Forward(tp, vlm.GELU(tp, fc1.Forward(tp, x)))
		require.NoError(t, tp.Backward(vlm.MSE(tp, y, target)))
		opt.Step(m)
	}
}

// sameParams reports whether a and b hold the same values bit for bit.
func sameParams(t *testing.T, a, b vlm.Module) {
	t.Helper()
	pa, pb := vlm.Params(a), vlm.Params(b)
	require.Equal(t, len(pa), len(pb))
	for i := range pa {
		require.Equal(t, pa[i].Name, pb[i].Name)
		for j, v := range pa[i].Param.Value.Data {
			if math.Float32bits(v) != math.Float32bits(pb[i].Param.Value.Data[j]) {
				t.Fatalf("%s[%d]: %v and %v differ", pa[i].Name, j, v, pb[i].Param.Value.Data[j])
			}
		}
	}
}

func optimizers() []struct {
	name string
	new  func() stateful
} {
	return []struct {
		name string
		new  func() stateful
	}{
		{"AdamW", func() stateful { return &vlm.AdamW{LR: 1e-2, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1} }},
		{"SGD momentum", func() stateful { return &vlm.SGD{LR: 0.05, Momentum: 0.9, WeightDecay: 0.01} }},
		{"SGD Nesterov", func() stateful { return &vlm.SGD{LR: 0.05, Momentum: 0.9, Nesterov: true} }},
		{"SGD plain", func() stateful { return &vlm.SGD{LR: 0.05} }},
	}
}

func TestOptimizerStateResumes(t *testing.T) {
	// Training saved after 7 steps and resumed in a fresh process (new
	// model loaded from its weights, new optimizer from its state) ends
	// where uninterrupted training ends, bit for bit.
	for _, tc := range optimizers() {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			whole := mlp(1)
			trainSteps(t, whole, tc.new(), 12)

			first, opt := mlp(1), tc.new()
			trainSteps(t, first, opt, 7)
			require.NoError(t, vlm.SaveWeights(first, filepath.Join(dir, "model.safetensors"), nil))
			require.NoError(t, opt.SaveState(first, filepath.Join(dir, "optimizer.safetensors")))

			resumed, opt2 := mlp(2), tc.new()
			_, err := vlm.LoadWeights(resumed, filepath.Join(dir, "model.safetensors"), nil)
			require.NoError(t, err)
			require.NoError(t, opt2.LoadState(resumed, filepath.Join(dir, "optimizer.safetensors")))
			trainSteps(t, resumed, opt2, 5)
			sameParams(t, whole, resumed)

			// Without the state, resuming differs (the test can fail).
			if tc.name != "SGD plain" {
				fresh := mlp(2)
				_, err := vlm.LoadWeights(fresh, filepath.Join(dir, "model.safetensors"), nil)
				require.NoError(t, err)
				trainSteps(t, fresh, tc.new(), 5)
				assert.False(t, vlm.AllClose(fresh[0].Module.(*vlm.Linear).Weight.Value, resumed[0].Module.(*vlm.Linear).Weight.Value, 0, 0))
			}
		})
	}
}

func TestOptimizerStateFile(t *testing.T) {
	// PyTorch's state keys, once per parameter, only for what was updated.
	m := mlp(1)
	vlm.Freeze(m, "fc1.*")
	opt := vlm.NewAdamW(1e-3)
	trainSteps(t, m, opt, 3)
	path := filepath.Join(t.TempDir(), "adamw.safetensors")
	require.NoError(t, opt.SaveState(m, path))
	w, err := vlm.ReadSafetensors(path)
	require.NoError(t, err)
	var names []string
	for name := range w.Tensors {
		names = append(names, name)
	}
	assert.ElementsMatch(t, []string{
		"fc2.weight.exp_avg", "fc2.weight.exp_avg_sq", "fc2.weight.step",
		"fc2.bias.exp_avg", "fc2.bias.exp_avg_sq", "fc2.bias.step",
	}, names)
	assert.Equal(t, []float32{3}, w.Tensors["fc2.weight.step"].Data)
	assert.Equal(t, []int{3, 8}, w.Tensors["fc2.weight.exp_avg"].Shape)
	assert.Equal(t, "AdamW", w.Metadata["optimizer"])
}

func TestOptimizerStateErrors(t *testing.T) {
	dir := t.TempDir()
	m := mlp(1)
	adam := vlm.NewAdamW(1e-3)
	trainSteps(t, m, adam, 2)
	good := filepath.Join(dir, "adamw.safetensors")
	require.NoError(t, adam.SaveState(m, good))
	sgd := &vlm.SGD{LR: 0.1, Momentum: 0.9}
	trainSteps(t, m, sgd, 2)
	sgdPath := filepath.Join(dir, "sgd.safetensors")
	require.NoError(t, sgd.SaveState(m, sgdPath))

	// edited writes the AdamW state of good with one change.
	edited := func(name string, edit func(w *vlm.Weights)) string {
		w, err := vlm.ReadSafetensors(good)
		require.NoError(t, err)
		edit(w)
		path := filepath.Join(dir, name)
		require.NoError(t, vlm.WriteSafetensors(path, w, vlm.F32))
		return path
	}
	truncated := filepath.Join(dir, "truncated.safetensors")
	b, err := os.ReadFile(good)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(truncated, b[:len(b)-9], 0o644))

	cases := []struct {
		name, path, want string
	}{
		{"missing file", filepath.Join(dir, "none.safetensors"), "none.safetensors"},
		{"truncated", truncated, ""},
		{"other optimizer", sgdPath, `holds "SGD" optimizer state`},
		{"plain weights", edited("weights.safetensors", func(w *vlm.Weights) { delete(w.Metadata, "optimizer") }), `holds "" optimizer state`},
		{"unknown parameter", edited("unknown.safetensors", func(w *vlm.Weights) {
			w.Tensors["fc3.weight.exp_avg"] = vlm.Zeros(3, 8)
		}), `"fc3.weight.exp_avg" is not the state of a parameter`},
		{"unknown suffix", edited("suffix.safetensors", func(w *vlm.Weights) {
			w.Tensors["fc1.bias.momentum_buffer"] = vlm.Zeros(8)
		}), `"fc1.bias.momentum_buffer" is not the state`},
		{"wrong shape", edited("shape.safetensors", func(w *vlm.Weights) {
			w.Tensors["fc1.weight.exp_avg"] = vlm.Zeros(6, 8)
		}), "fc1.weight.exp_avg has shape [6 8], want [8 6]"},
		{"incomplete", edited("incomplete.safetensors", func(w *vlm.Weights) {
			delete(w.Tensors, "fc2.bias.exp_avg_sq")
		}), "fc2.bias has 2 of its 3 state tensors"},
		{"NaN moment", edited("nan.safetensors", func(w *vlm.Weights) {
			w.Tensors["fc2.weight.exp_avg"].Data[4] = float32(math.NaN())
		}), "fc2.weight.exp_avg"},
		{"step zero", edited("step0.safetensors", func(w *vlm.Weights) {
			w.Tensors["fc1.bias.step"].Data[0] = 0
		}), "fc1.bias.step is 0, want a whole number"},
		{"fractional step", edited("step.safetensors", func(w *vlm.Weights) {
			w.Tensors["fc1.bias.step"].Data[0] = 2.5
		}), "fc1.bias.step is 2.5"},
		{"negative second moment", edited("negative.safetensors", func(w *vlm.Weights) {
			w.Tensors["fc1.weight.exp_avg_sq"].Data[0] = -1
		}), "fc1.weight.exp_avg_sq holds a negative value"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// A failed load leaves the optimizer as it was: training on
			// continues exactly as a copy that never tried.
			opt, ref := vlm.NewAdamW(1e-3), vlm.NewAdamW(1e-3)
			a, b := mlp(5), mlp(5)
			trainSteps(t, a, opt, 2)
			trainSteps(t, b, ref, 2)
			err := opt.LoadState(a, tc.path)
			require.Error(t, err)
			assert.ErrorIs(t, err, vlm.ErrCheckpoint)
			assert.Contains(t, err.Error(), tc.want)
			trainSteps(t, a, opt, 2)
			trainSteps(t, b, ref, 2)
			sameParams(t, a, b)
		})
	}
}

func TestOptimizerStateStepRange(t *testing.T) {
	// Step counts are whole float32 values: below 2^24 they round-trip,
	// beyond they are refused on saving.
	m := mlp(1)
	opt := vlm.NewAdamW(1e-3)
	trainSteps(t, m, opt, 1)
	path := filepath.Join(t.TempDir(), "adamw.safetensors")
	vlm.SetAdamWSteps(opt, 1<<24-1)
	require.NoError(t, opt.SaveState(m, path))
	w, err := vlm.ReadSafetensors(path)
	require.NoError(t, err)
	assert.Equal(t, []float32{1<<24 - 1}, w.Tensors["fc1.weight.step"].Data)
	require.NoError(t, vlm.NewAdamW(1e-3).LoadState(m, path))

	vlm.SetAdamWSteps(opt, 1<<24)
	err = opt.SaveState(m, path)
	assert.ErrorIs(t, err, vlm.ErrConfig)
	assert.ErrorContains(t, err, "step 16777216")
}

func TestOptimizerStateTied(t *testing.T) {
	// A parameter shared under two names is saved once, under the first,
	// and loads back into the same model.
	shared := vlm.NewLinear(vlm.NewRand(3), 6, 8, true)
	m := vlm.Modules{{Name: "fc1", Module: shared}, {Name: "tied", Module: shared}, {Name: "fc2", Module: vlm.NewLinear(vlm.NewRand(4), 8, 3, true)}}
	opt := &vlm.SGD{LR: 0.1, Momentum: 0.5}
	trainSteps(t, m, opt, 2)
	path := filepath.Join(t.TempDir(), "sgd.safetensors")
	require.NoError(t, opt.SaveState(m, path))
	w, err := vlm.ReadSafetensors(path)
	require.NoError(t, err)
	assert.Len(t, w.Tensors, 4)
	assert.Contains(t, w.Tensors, "fc1.weight.momentum_buffer")
	require.NoError(t, (&vlm.SGD{LR: 0.1, Momentum: 0.5}).LoadState(m, path))

	// A file with a state under each name is ambiguous.
	w.Tensors["tied.weight.momentum_buffer"] = w.Tensors["fc1.weight.momentum_buffer"]
	require.NoError(t, vlm.WriteSafetensors(path, w, vlm.F32))
	err = (&vlm.SGD{LR: 0.1, Momentum: 0.5}).LoadState(m, path)
	assert.ErrorIs(t, err, vlm.ErrCheckpoint)
	assert.ErrorContains(t, err, "fc1.weight and tied.weight are one (tied) parameter with two states")
}
