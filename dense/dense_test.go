package dense_test

import (
	"math"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/dense"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorgonia.org/tensor"
)

func TestToDenseSharesMemory(t *testing.T) {
	x := vlm.FromData([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	d := dense.ToDense(x)
	assert.Equal(t, tensor.Float32, d.Dtype())
	assert.Equal(t, tensor.Shape{2, 3}, d.Shape())
	require.NoError(t, d.SetAt(float32(-5), 1, 1))
	assert.Equal(t, float32(-5), x.At(1, 1))
	x.Set(7, 0, 2)
	v, err := d.At(0, 2)
	require.NoError(t, err)
	assert.Equal(t, float32(7), v)

	// A gorgonia transpose is a view; materialising it leaves x alone.
	require.NoError(t, d.T())
	assert.Equal(t, tensor.Shape{3, 2}, d.Shape())
	assert.Equal(t, []int{2, 3}, x.Shape)
}

func TestFromDenseSharesMemory(t *testing.T) {
	backing := []float32{1, 2, 3, 4, 5, 6}
	d := tensor.New(tensor.WithShape(2, 3), tensor.WithBacking(backing))
	x, err := dense.FromDense(d)
	require.NoError(t, err)
	assert.Equal(t, []int{2, 3}, x.Shape)
	assert.Same(t, &backing[0], &x.Data[0])
	x.Set(10, 1, 0)
	v, err := d.At(1, 0)
	require.NoError(t, err)
	assert.Equal(t, float32(10), v)
	require.NoError(t, d.SetAt(float32(20), 0, 1))
	assert.Equal(t, float32(20), x.At(0, 1))

	// A slice of whole rows is contiguous: shared too.
	rows, err := d.Slice(tensor.S(1))
	require.NoError(t, err)
	x, err = dense.FromDense(rows.(*tensor.Dense))
	require.NoError(t, err)
	assert.Equal(t, vlm.FromData([]float32{10, 5, 6}, 3), x)
	assert.Same(t, &backing[3], &x.Data[0])
	assert.Len(t, x.Data[:cap(x.Data)], 3, "the result cannot grow into d's memory")

	// A scalar is shared as a rank-0 tensor.
	s := tensor.New(tensor.FromScalar(float32(3)))
	x, err = dense.FromDense(s)
	require.NoError(t, err)
	assert.Equal(t, vlm.Scalar(3), x)
}

func TestFromDenseCopies(t *testing.T) {
	transposed := func() *tensor.Dense {
		d := tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float32{1, 2, 3, 4, 5, 6}))
		if err := d.T(); err != nil {
			panic(err)
		}
		return d
	}
	column := func() *tensor.Dense {
		d := tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float32{1, 2, 3, 4, 5, 6}))
		v, err := d.Slice(nil, tensor.S(1))
		if err != nil {
			panic(err)
		}
		return v.(*tensor.Dense)
	}
	permuted := func() *tensor.Dense {
		d := tensor.New(tensor.WithShape(2, 3, 2), tensor.WithBacking(tensor.Range(tensor.Float32, 0, 12)))
		if err := d.T(2, 0, 1); err != nil {
			panic(err)
		}
		return d
	}
	tests := []struct {
		name string
		d    *tensor.Dense
		want *vlm.Tensor
	}{
		{"transposed", transposed(), vlm.FromData([]float32{1, 4, 2, 5, 3, 6}, 3, 2)},
		{"column slice", column(), vlm.FromData([]float32{2, 5}, 2)},
		{"permuted 3-d", permuted(), vlm.FromData([]float32{0, 2, 4, 6, 8, 10, 1, 3, 5, 7, 9, 11}, 2, 2, 3)},
		{"column-major", tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float32{1, 2, 3, 4, 5, 6}), tensor.AsFortran(nil)),
			vlm.FromData([]float32{1, 3, 5, 2, 4, 6}, 2, 3)},
		{"float64", tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float64{0.5, -1, 1e-3, 1e300, -1e-300, 1 + 1e-12})),
			vlm.FromData([]float32{0.5, -1, 1e-3, float32(math.Inf(1)), float32(math.Copysign(0, -1)), 1}, 2, 3)},
		{"float64 scalar", tensor.New(tensor.FromScalar(2.5)), vlm.Scalar(2.5)},
		{"float64 empty", tensor.New(tensor.Of(tensor.Float64), tensor.WithShape(0, 2)), vlm.Zeros(0, 2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, err := dense.FromDense(tt.d)
			require.NoError(t, err)
			assert.Equal(t, tt.want, x)
			if len(x.Data) == 0 {
				return
			}
			// The copy is independent of d.
			before := tt.d.Clone().(*tensor.Dense)
			x.Data[0] = 99
			assert.True(t, before.Eq(tt.d), "d changed through the copy")
		})
	}
}

func TestFromDenseManuallyManagedIsCopied(t *testing.T) {
	buf := []float32{1, 2, 3, 4}
	d := tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(2, 2), tensor.FromMemory(uintptr(unsafe.Pointer(&buf[0])), 16))
	require.True(t, d.IsManuallyManaged())
	x, err := dense.FromDense(d)
	require.NoError(t, err)
	assert.Equal(t, vlm.FromData([]float32{1, 2, 3, 4}, 2, 2), x)
	assert.NotSame(t, &buf[0], &x.Data[0])
	runtime.KeepAlive(buf)
}

// deviceEngine allocates memory that it declares inaccessible to Go, as a
// GPU engine does.
type deviceEngine struct{ tensor.StdEng }

func (deviceEngine) AllocAccessible() bool { return false }

func TestFromDenseErrors(t *testing.T) {
	masked := tensor.New(tensor.WithShape(2), tensor.WithBacking([]float32{1, 2}, []bool{false, true}))
	device := tensor.New(tensor.WithEngine(deviceEngine{}), tensor.Of(tensor.Float32), tensor.WithShape(2))
	for _, tt := range []struct {
		name string
		d    *tensor.Dense
		msg  string
	}{
		{"nil", nil, "nil *tensor.Dense"},
		{"int", tensor.New(tensor.WithShape(2), tensor.WithBacking([]int{1, 2})), "dtype int, want float32 or float64"},
		{"bool", tensor.New(tensor.WithShape(1), tensor.WithBacking([]bool{true})), "dtype bool"},
		{"masked", masked, "masked tensor of shape (2)"},
		{"device memory", device, "tensor of shape (2) is in memory Go cannot access"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			x, err := dense.FromDense(tt.d)
			assert.Nil(t, x)
			assert.ErrorIs(t, err, vlm.ErrInput)
			assert.ErrorContains(t, err, tt.msg)
		})
	}
}

func TestRoundTrip(t *testing.T) {
	for _, x := range []*vlm.Tensor{vlm.Scalar(4), vlm.Zeros(0, 3), vlm.FromData([]float32{1, 2}, 2), vlm.Full(1.5, 2, 1, 3)} {
		d := dense.ToDense(x)
		y, err := dense.FromDense(d)
		require.NoError(t, err)
		assert.Equal(t, x, y)
		if len(x.Data) > 0 {
			assert.Same(t, &x.Data[0], &y.Data[0])
		}
	}
}

func TestToDenseBadTensor(t *testing.T) {
	defer func() {
		e, ok := recover().(*vlm.Error)
		require.True(t, ok, "panics with a *vlm.Error")
		assert.ErrorIs(t, e, vlm.ErrShape)
	}()
	dense.ToDense(&vlm.Tensor{Shape: []int{2, 2}, Data: make([]float32, 3)})
}

// TestProgramImportingDenseStarts builds and runs a program that imports
// this package with the module's go.mod as it is, to prove that the
// assume-no-moving-gc pin reaches programs and they start. (This test
// binary starting proves it for the test build too.)
func TestProgramImportingDenseStarts(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	cmd := exec.Command(goTool, "run", "-mod=readonly", "./testdata/startup")
	// Drop the variables with which old versions of the package could be
	// told to skip their check.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ASSUME_NO_MOVING_GC_UNSAFE") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go run ./testdata/startup:\n%s", out)
	assert.Equal(t, "started (2, 3) Tensor[2 3][1 2 3 4 5 6]\n", string(out))
}
