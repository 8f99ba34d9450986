//go:build race

package load_test

// lagBound is the schedule lag p99 (ms) the trace replay must keep: the
// race detector slows the client several times over, so under it the
// replay is checked for shape, with a bound it keeps there.
const lagBound = 50.0
