//go:build !amd64 || purego

package kernels

// archGemmPaths lists the assembly implementations, none of which this
// build has; they are listed so that SetGEMM reports them as unsupported.
func archGemmPaths() []*gemmPath {
	return []*gemmPath{{name: "avx512"}, {name: "avx2"}}
}
