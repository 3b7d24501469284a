package vlm_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/govlm/vlm"
)

// adapter is a module with two parameters, as a user's layer would be.
type adapter struct{ Weight, Bias *vlm.Param }

func (p *adapter) VisitParams(prefix string, visit func(string, *vlm.Param)) {
	visit(prefix+"weight", p.Weight)
	visit(prefix+"bias", p.Bias)
}

func newAdapter() *adapter {
	return &adapter{Weight: vlm.NewParam(vlm.Zeros(2, 3)), Bias: vlm.NewParam(vlm.Zeros(2))}
}

func ExampleSaveWeights() {
	dir, err := os.MkdirTemp("", "vlm-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	model := vlm.Modules{{Name: "mm_projector", Module: newAdapter()}, {Name: "vision", Module: newAdapter()}}
	vlm.Freeze(model, "vision.*")

	// Save only what was trained, under the names LLaVA uses.
	path := filepath.Join(dir, "mm_projector.safetensors")
	err = vlm.SaveWeights(model, path, &vlm.SaveOptions{TrainableOnly: true, Prefix: "model."})
	if err != nil {
		log.Fatal(err)
	}

	f, err := vlm.OpenSafetensors(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	for _, name := range f.Names() {
		info, _ := f.Info(name)
		fmt.Println(name, info.Dtype, info.Shape)
	}
	fmt.Println(f.Metadata())
	// Output:
	// model.mm_projector.bias F32 [2]
	// model.mm_projector.weight F32 [2 3]
	// map[format:pt]
}

func ExampleLoadWeights() {
	dir, err := os.MkdirTemp("", "vlm-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// A checkpoint whose names differ from the module's: a prefix, an
	// older spelling, and an integer buffer that carries no information.
	path := filepath.Join(dir, "model.safetensors")
	err = vlm.WriteSafetensors(path, &vlm.Weights{
		Tensors: map[string]*vlm.Tensor{
			"model.proj.kernel": vlm.FromData([]float32{1, 2, 3, 4, 5, 6}, 2, 3),
			"model.proj.bias":   vlm.FromData([]float32{0.5, -0.5}, 2),
			"optimizer.step":    vlm.Scalar(100),
		},
		Ints: map[string]*vlm.IntTensor{"model.position_ids": {Shape: []int{1, 3}, Data: []int64{0, 1, 2}}},
	}, vlm.F16)
	if err != nil {
		log.Fatal(err)
	}

	model := vlm.Modules{{Name: "proj", Module: newAdapter()}}

	// Loaded as it is, the file does not match: a strict load fails and
	// changes nothing; the report lists every problem.
	report, err := vlm.LoadWeights(model, path, nil)
	fmt.Println(errors.Is(err, vlm.ErrCheckpoint))
	fmt.Println("missing:", report.Missing)
	fmt.Println("unexpected:", report.Unexpected)

	report, err = vlm.LoadWeights(model, path, &vlm.LoadOptions{
		Prefix: "model.",
		Rename: strings.NewReplacer(".kernel", ".weight").Replace,
		Ignore: []string{"position_ids"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(report.Loaded)
	fmt.Println(model[0].Module.(*adapter).Weight.Value)
	// Output:
	// true
	// missing: [proj.weight proj.bias]
	// unexpected: [model.position_ids model.proj.bias model.proj.kernel optimizer.step]
	// [proj.weight proj.bias]
	// Tensor[2 3][1 2 3 4 5 6]
}

// Save a training run's weights and optimizer state, and resume it with a
// fresh model and optimizer, as after a restart.
func ExampleAdamW_SaveState() {
	dir, err := os.MkdirTemp("", "vlm-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	x, target := vlm.RandN(vlm.NewRand(2), 1, 8, 4), vlm.Zeros(8, 2)
	step := func(layer *vlm.Linear, opt *vlm.AdamW) float32 {
		vlm.ZeroGrad(layer)
		tp := vlm.NewTape()
		loss := vlm.MSE(tp, layer.Forward(tp, x), target)
		if err := tp.Backward(loss); err != nil {
			log.Fatal(err)
		}
		opt.Step(layer)
		return loss.Data[0]
	}
	layer, opt := vlm.NewLinear(vlm.NewRand(1), 4, 2, true), vlm.NewAdamW(1e-2)
	for range 10 {
		step(layer, opt)
	}
	weights, state := filepath.Join(dir, "model.safetensors"), filepath.Join(dir, "optimizer.safetensors")
	if err := vlm.SaveWeights(layer, weights, nil); err != nil {
		log.Fatal(err)
	}
	if err := opt.SaveState(layer, state); err != nil {
		log.Fatal(err)
	}

	// After a restart: the same model and optimizer, then their files.
	resumed, opt2 := vlm.NewLinear(vlm.NewRand(7), 4, 2, true), vlm.NewAdamW(1e-2)
	if _, err := vlm.LoadWeights(resumed, weights, nil); err != nil {
		log.Fatal(err)
	}
	if err := opt2.LoadState(resumed, state); err != nil {
		log.Fatal(err)
	}
	for range 5 {
		step(resumed, opt2)
		step(layer, opt)
	}
	fmt.Println("resumed run = uninterrupted run:", vlm.AllClose(resumed.Weight.Value, layer.Weight.Value, 0, 0))
	// Output:
	// resumed run = uninterrupted run: true
}
