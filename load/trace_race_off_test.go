//go:build !race

package load_test

// lagBound is the schedule lag p99 (ms) the trace replay must keep: the
// issue's 5 ms at 10x speed.
const lagBound = 5.0
