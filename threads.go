package vlm

import "github.com/govlm/vlm/internal/kernels"

// SetThreads sets how many goroutines one matrix product may use; n <= 0
// restores the default, runtime.GOMAXPROCS(0). It is safe to call at any
// time; products already running keep their setting.
func SetThreads(n int) { kernels.SetThreads(n) }

// Threads returns the number of goroutines one matrix product may use.
func Threads() int { return kernels.Threads() }
