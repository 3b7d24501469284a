// Package testutil holds what the tests of every vlm package share: the
// golden-file loader, the parity tolerance, and small helpers.
//
// Golden files are safetensors files written by the PyTorch scripts in
// testdata/gen/ (F32 values, I64 ids). The parity rule for float32 is
// |go - ref| <= 1e-4·max|ref| + 1e-5 per tensor; never loosen it to make
// a test pass.
package testutil

import (
	"math"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/govlm/vlm"
	"github.com/stretchr/testify/require"
)

// Parity tolerances: |go - ref| <= RelTol·max|ref| + AbsTol.
const (
	RelTol = 1e-4
	AbsTol = 1e-5
)

// Golden is a loaded golden file.
type Golden struct {
	t       testing.TB
	path    string
	floats  map[string]*vlm.Tensor
	ints    map[string][]int
	entries map[string]struct{}
}

// LoadGolden reads a golden safetensors file; path is relative to the
// module root (e.g. "attention/testdata/mha.safetensors").
func LoadGolden(t testing.TB, path string) *Golden {
	t.Helper()
	w, err := vlm.ReadSafetensors(filepath.Join(ModuleRoot(), path))
	require.NoError(t, err, "golden file %s (regenerate with the script in testdata/gen)", path)
	g := &Golden{t: t, path: path, floats: w.Tensors, ints: map[string][]int{}, entries: map[string]struct{}{}}
	for name := range w.Tensors {
		g.entries[name] = struct{}{}
	}
	for name, it := range w.Ints {
		g.entries[name] = struct{}{}
		d := make([]int, len(it.Data))
		for i, v := range it.Data {
			d[i] = int(v)
		}
		g.ints[name] = d
	}
	return g
}

// T returns the float tensor stored under name (a fresh copy).
func (g *Golden) T(name string) *vlm.Tensor {
	g.t.Helper()
	v, ok := g.floats[name]
	require.True(g.t, ok, "golden %s has no float tensor %q", g.path, name)
	return v.Clone()
}

// Ints returns the integer tensor stored under name, flattened.
func (g *Golden) Ints(name string) []int {
	g.t.Helper()
	v, ok := g.ints[name]
	require.True(g.t, ok, "golden %s has no integer tensor %q", g.path, name)
	return append([]int(nil), v...)
}

// Has reports whether the file holds name.
func (g *Golden) Has(name string) bool {
	_, ok := g.entries[name]
	return ok
}

// Names returns every tensor name in the file.
func (g *Golden) Names() []string {
	var out []string
	for n := range g.entries {
		out = append(out, n)
	}
	return out
}

// Close asserts |got - want| <= RelTol·max|want| + AbsTol for every value
// and logs the measured error relative to max|want|, so that parity
// headroom is visible with go test -v.
func Close(t testing.TB, name string, got, want *vlm.Tensor) {
	t.Helper()
	require.NotNil(t, got, "%s: got nil", name)
	require.Equal(t, want.Size(), got.Size(), "%s: got shape %v, want %v", name, got.Shape, want.Shape)
	scale := vlm.MaxAbs(want)
	tol := RelTol*scale + AbsTol
	d := vlm.MaxAbsDiff(got, want)
	t.Logf("parity %-40s max|go-ref| = %.3g (%.3g of max|ref| = %.3g)", name, d, d/math.Max(scale, 1e-30), scale)
	if !(d <= tol) {
		worst := 0
		for i := range got.Data {
			if math.Abs(float64(got.Data[i]-want.Data[i])) >= d {
				worst = i
				break
			}
		}
		t.Errorf("%s: max|go-ref| = %.4g > tol %.4g (at flat index %d: go %v, ref %v)", name, d, tol, worst, got.Data[worst], want.Data[worst])
	}
}

// ModuleRoot returns the directory holding go.mod.
func ModuleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// MaskString formats a 0/1 mask matrix rows×cols as lines of digits, for
// mask tests that spell out the expected matrix.
func MaskString(rows, cols int, at func(i, j int) bool) string {
	s := ""
	for i := range rows {
		for j := range cols {
			if at(i, j) {
				s += "1"
			} else {
				s += "0"
			}
		}
		s += "\n"
	}
	return s
}
