package main

import (
	"math"
	"testing"
)

func TestCompare(t *testing.T) {
	const ms = int64(1e6)
	sv := []sendTrace{
		// port 1: two requests on one keep-alive connection
		{Port: 1, Arrival: 10 * ms, Due: []int64{110 * ms, 120 * ms}, Sent: []int64{111 * ms, 121 * ms}},
		{Port: 1, Arrival: 200 * ms, Due: []int64{300 * ms, 310 * ms}, Sent: []int64{300 * ms, 312 * ms}},
		{Port: 2, Arrival: 5 * ms, Due: []int64{105 * ms}, Sent: []int64{105 * ms}},
	}
	cl := []clientTrace{
		{Port: 1, Start: 200*ms - 500_000, End: 320 * ms, Arrivals: []int64{302 * ms, 313 * ms}},
		{Port: 1, Start: 9 * ms, End: 130 * ms, Arrivals: []int64{112 * ms, 122 * ms}},
		{Port: 2, Start: 4 * ms, End: 106 * ms, Arrivals: []int64{105 * ms, 106 * ms}}, // chunk count differs
		{Port: 3, Start: 0, End: 500 * ms, Arrivals: []int64{100 * ms}},                // no trace
	}
	c := compare(cl, sv)
	if c.Matched != 2 || c.Unmatched != 2 {
		t.Fatalf("matched %d, unmatched %d; want 2 and 2", c.Matched, c.Unmatched)
	}
	// TTFT: 302-300 and 112-111; ITL: (11-12) and (10-10).
	if got := quantile(c.TTFT, 0.5); got != 1 {
		t.Errorf("TTFT error p50 %v, want 1", got)
	}
	if got := quantile(c.TTFT, 1); got != 2 {
		t.Errorf("TTFT error max %v, want 2", got)
	}
	if got := quantile(c.ITL, 0); got != -1 {
		t.Errorf("ITL error min %v, want -1", got)
	}
	if len(c.Lag) != 5 || quantile(c.Lag, 1) != 2 {
		t.Errorf("lags %v, want 5 with a max of 2", c.Lag)
	}
}

func TestQuantile(t *testing.T) {
	if !math.IsNaN(quantile(nil, 0.5)) {
		t.Error("quantile of nothing is not NaN")
	}
	xs := []float64{5, 1, 4, 2, 3}
	for q, want := range map[float64]float64{0: 1, 0.5: 3, 0.99: 5, 1: 5} {
		if got := quantile(xs, q); got != want {
			t.Errorf("q%v = %v, want %v", q, got, want)
		}
	}
}

func TestSampledSplitsParity(t *testing.T) {
	// Ephemeral ports come with one parity: the sample must not depend on it.
	odd, even := 0, 0
	for p := 32768; p < 42768; p += 2 {
		if sampled(p, 10) {
			even++
		}
		if sampled(p+1, 10) {
			odd++
		}
	}
	if odd < 300 || even < 300 {
		t.Errorf("sampled %d even and %d odd ports of 5000 each, want about 500", even, odd)
	}
	if !sampled(12345, 1) {
		t.Error("every=1 must keep every port")
	}
}
