// Command startup is a program that imports the dense adapter, run by
// TestProgramImportingDenseStarts: with a go4.org/unsafe/assume-no-moving-gc
// older than v0.0.0-20231121144256-b99613f794b6 it panics before main on
// Go 1.22 and later.
package main

import (
	"fmt"
	"os"

	"github.com/govlm/vlm"
	"github.com/govlm/vlm/dense"
)

func main() {
	d := dense.ToDense(vlm.FromData([]float32{1, 2, 3, 4, 5, 6}, 2, 3))
	t, err := dense.FromDense(d)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("started", d.Shape(), t)
}
