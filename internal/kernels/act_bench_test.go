package kernels

import "testing"

func BenchmarkActivations(b *testing.B) {
	x := make([]float32, 197*3072)
	y := make([]float32, len(x))
	for i := range x {
		x[i] = float32(i%1000)/100 - 5
	}
	for _, c := range []struct {
		name string
		f    func(y, x []float32)
	}{{"GELU", GELU}, {"GELUTanh", GELUTanh}, {"QuickGELU", QuickGELU}, {"Tanh", Tanh}, {"Sigmoid", Sigmoid}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				c.f(y, x)
			}
		})
	}
}

func BenchmarkErfc32(b *testing.B) {
	x := make([]float32, 4096)
	for i := range x {
		x[i] = float32(i%1000)/100 - 5
	}
	var s float32
	for b.Loop() {
		for _, v := range x {
			s += Erfc32(v)
		}
	}
	sink = s
}

func BenchmarkExp32(b *testing.B) {
	x := make([]float32, 4096)
	for i := range x {
		x[i] = float32(i%1000)/100 - 5
	}
	var s float32
	for b.Loop() {
		for _, v := range x {
			s += Exp32(v)
		}
	}
	sink = s
}

var sink float32
