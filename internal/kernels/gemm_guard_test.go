//go:build linux

package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// guarded returns a copy of s in memory that an inaccessible page follows
// (atEnd) or precedes, so that any access outside s faults.
func guarded(t *testing.T, s []float32, atEnd bool) []float32 {
	t.Helper()
	if len(s) == 0 {
		return s
	}
	page := unix.Getpagesize()
	size := (len(s)*4+page-1)/page*page + 2*page
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	require.NoError(t, err)
	t.Cleanup(func() { _ = unix.Munmap(mem) })
	require.NoError(t, unix.Mprotect(mem[:page], unix.PROT_NONE))
	require.NoError(t, unix.Mprotect(mem[size-page:], unix.PROT_NONE))
	off := page
	if atEnd {
		off = size - page - len(s)*4
	}
	g := unsafe.Slice((*float32)(unsafe.Pointer(&mem[off])), len(s))
	copy(g, s)
	return g
}

// TestSgemmGuardPages runs products whose operands sit right against
// inaccessible pages: a read or write outside a matrix crashes the test.
func TestSgemmGuardPages(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	shapes := [][3]int{
		{1, 1, 1}, {1, 37, 19}, {37, 1, 19}, {3, 5, 7}, {13, 31, 17}, {15, 33, 40},
		{29, 47, 300}, {5, 100, 70}, {100, 9, 70}, {2, 3, 1}, {31, 200, 65}, {130, 70, 50},
	}
	prev := GEMM()
	defer func() { require.NoError(t, SetGEMM(prev)) }()
	for _, s := range shapes {
		for _, tr := range transposes {
			for _, pad := range []int{0, 3} {
				for _, beta := range []float32{0, 1} {
					tc := gemmCase{tr[0], tr[1], s[0], s[1], s[2], pad, 1, beta}
					r := tc.ref(rng)
					for _, atEnd := range []bool{true, false} {
						g := *r
						g.a, g.b = guarded(t, r.a, atEnd), guarded(t, r.b, atEnd)
						for _, p := range gemmPaths {
							if !p.ok {
								continue
							}
							require.NoError(t, SetGEMM(p.name))
							tc.verifyInto(t, &g, guarded(t, r.c0, atEnd), fmt.Sprintf("%s/guard-end=%v", p.name, atEnd))
						}
					}
				}
			}
		}
	}
}
