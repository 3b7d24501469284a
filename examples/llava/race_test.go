//go:build race

package main

// raceEnabled shrinks the example's test run under the race detector,
// which makes training ten times slower.
const raceEnabled = true
