package stress

import (
	"testing"

	"github.com/llmprobe/llmprobe/load"
)

// counted is a rung of n requests, f of them failed.
func counted(vus int, rps, p50 float64, f, n int64) *load.Result {
	r := rung(vus, rps, p50, float64(f)/float64(n))
	r.Summary.Requests = n
	return r
}

// With the sanity check as the baseline, errors make the knee only when
// they rise significantly: background failures at every load do not, nor
// do two random ones in a short rung, and the latency rule is untouched.
func TestFindKneeFromBaseline(t *testing.T) {
	sanity := func(f, n int64) *load.Summary {
		return &load.Summary{Requests: n, ErrorRatio: float64(f) / float64(n)}
	}
	for _, tc := range []struct {
		name  string
		base  *load.Summary
		rungs []*load.Result
		vus   int // 0: no knee
	}{
		// The demo's case: 2 random 500s of 22 after a clean sanity check
		// of 5 requests (z 0.7).
		{"two random failures", sanity(0, 5), []*load.Result{counted(4, 10, 400, 2, 22), counted(8, 20, 400, 0, 44)}, 0},
		// The same rung without a baseline: over 1 %, the knee.
		{"no baseline", nil, []*load.Result{counted(4, 10, 400, 2, 22)}, 4},
		// 2 % failing at every load: never significantly more.
		{"steady background", sanity(1, 50), []*load.Result{
			counted(4, 10, 400, 4, 200), counted(8, 20, 400, 5, 220), counted(16, 40, 400, 4, 210)}, 0},
		// Overload: clean until 16 users, then 15 % (z far above 1.96).
		{"errors rise", sanity(0, 30), []*load.Result{
			counted(4, 10, 400, 0, 200), counted(8, 20, 400, 1, 400), counted(16, 38, 420, 60, 400)}, 16},
		// A rise of errors that is significant but stays under 1 %: not a knee.
		{"significant but under 1 %", sanity(0, 1000), []*load.Result{counted(4, 10, 400, 9, 1000)}, 0},
		// The latency jump needs no baseline.
		{"latency jump", sanity(0, 30), []*load.Result{counted(8, 20, 400, 0, 200), counted(16, 21, 900, 0, 200)}, 16},
	} {
		k := findKneeFrom(tc.base, tc.rungs)
		got := 0
		if k.found {
			got = k.vus
		}
		if got != tc.vus {
			t.Errorf("%s: knee at %d users (%s), want %d", tc.name, got, k.why, tc.vus)
		}
	}
}

func TestErrorsAbove(t *testing.T) {
	for _, tc := range []struct {
		f, n, bf, bn float64
		want         bool
	}{
		{2, 22, 0, 5, false},      // z 0.7
		{60, 400, 1, 630, true},   // 15 % against 0.2 %
		{4, 200, 1, 50, false},    // the same 2 %
		{0, 0, 0, 10, false},      // nothing sent
		{1, 10, 0, 0, true},       // no baseline: the threshold decides
		{0, 100, 0, 100, false},   // none on either side
		{5, 100, 0, 100000, true}, // 5 % against a large clean baseline
	} {
		if got := errorsAbove(tc.f, tc.n, tc.bf, tc.bn); got != tc.want {
			t.Errorf("errorsAbove(%v of %v, %v of %v) = %v, want %v", tc.f, tc.n, tc.bf, tc.bn, got, tc.want)
		}
	}
}
