package kernels

import (
	"runtime"
	"sync/atomic"
)

var maxThreads atomic.Int64

// SetThreads sets how many goroutines a kernel may use at once; n <= 0
// restores the default, runtime.GOMAXPROCS(0).
func SetThreads(n int) { maxThreads.Store(int64(n)) }

// Threads returns the number of goroutines a kernel may use.
func Threads() int {
	if n := maxThreads.Load(); n > 0 {
		return int(n)
	}
	return runtime.GOMAXPROCS(0)
}
