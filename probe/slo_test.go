package probe

import (
	"strings"
	"testing"
	"time"
)

// sloRec is a successful stream: first token at ttft, then chunks at the
// given gaps; tokens is its output token count (0: one per chunk).
func sloRec(ttft time.Duration, gaps []time.Duration, tokens int) *Record {
	start := time.Unix(100, 0)
	r := &Record{Start: start, Result: ResultSuccess, FirstToken: start.Add(ttft)}
	off := ttft
	r.Chunks = append(r.Chunks, off)
	for _, g := range gaps {
		off += g
		r.Chunks = append(r.Chunks, off)
	}
	r.End = start.Add(off)
	r.OutputTokens = len(r.Chunks)
	if tokens > 0 {
		r.OutputTokens = tokens
	}
	return r
}

// TestSLOCheckAtThresholds protects llmprobe_probe_success and every SLO
// figure built on SLO.Check (goodput, SLO attainment, a sweep step's
// qualification): an objective is missed only when the measured value
// exceeds it; meeting it exactly passes; a zero objective is not checked; a
// failed request never meets an SLO. ITL is judged on the request's median
// gap, TPOT as (end - first token) / (tokens - 1).
func TestSLOCheckAtThresholds(t *testing.T) {
	ms := time.Millisecond
	gaps := []time.Duration{10 * ms, 10 * ms, 30 * ms, 50 * ms} // median ITL 30 ms (upper middle), TPOT 25 ms
	for _, tc := range []struct {
		name string
		slo  SLO
		rec  *Record
		miss string // "" to pass, else part of the error
	}{
		{"no objective", SLO{}, sloRec(time.Hour, gaps, 0), ""},
		{"TTFT under", SLO{TTFT: 101 * ms}, sloRec(100*ms, gaps, 0), ""},
		{"TTFT exactly at", SLO{TTFT: 100 * ms}, sloRec(100*ms, gaps, 0), ""},
		{"TTFT 1 ns over", SLO{TTFT: 100*ms - 1}, sloRec(100*ms, gaps, 0), "TTFT"},
		{"E2E exactly at", SLO{E2E: 200 * ms}, sloRec(100*ms, gaps, 0), ""},
		{"E2E 1 ns over", SLO{E2E: 200*ms - 1}, sloRec(100*ms, gaps, 0), "E2E"},
		{"TPOT exactly at", SLO{TPOT: 25 * ms}, sloRec(100*ms, gaps, 0), ""},
		{"TPOT 1 ns over", SLO{TPOT: 25*ms - 1}, sloRec(100*ms, gaps, 0), "TPOT"},
		{"TPOT from reported tokens", SLO{TPOT: 10 * ms}, sloRec(100*ms, gaps, 11), ""},                      // 100 ms / 10
		{"TPOT miss, said to 0.1 ms", SLO{TPOT: 30 * ms}, sloRec(100*ms, gaps, 4), "TPOT 33.3ms > SLO 30ms"}, // 100 ms / 3
		{"median ITL exactly at", SLO{ITL: 30 * ms}, sloRec(100*ms, gaps, 0), ""},
		{"median ITL 1 ns over", SLO{ITL: 30*ms - 1}, sloRec(100*ms, gaps, 0), "median ITL"},
		{"median ITL miss, said to 0.1 ms", SLO{ITL: 30 * ms}, sloRec(100*ms, []time.Duration{10 * ms, 100 * ms / 3, 50 * ms}, 0), "median ITL 33.3ms > SLO 30ms"},
		{"one slow gap is not a slow median", SLO{ITL: 11 * ms}, sloRec(100*ms, []time.Duration{10 * ms, 10 * ms, 500 * ms}, 0), ""},
		{"one token: no ITL, no TPOT to miss", SLO{ITL: ms, TPOT: ms}, sloRec(100*ms, nil, 0), ""},
		{"first objective missed is named", SLO{TTFT: ms, E2E: ms}, sloRec(100*ms, gaps, 0), "TTFT"},
		{"failed request", SLO{}, &Record{Result: ResultHTTP5xx}, "request failed: http_5xx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.slo.Check(tc.rec)
			switch {
			case tc.miss == "" && err != nil:
				t.Errorf("missed: %v", err)
			case tc.miss != "" && (err == nil || !strings.Contains(err.Error(), tc.miss)):
				t.Errorf("error %v, want one naming %q", err, tc.miss)
			}
		})
	}
}

// TestRecordDerivedLatencies protects TPOT and ITL
// (llmprobe_time_per_output_token_seconds, ..._inter_token_latency_seconds)
// at their edges: TPOT needs two output tokens; a gap that delivered k
// tokens is k samples of gap/k, a chunk of one token one sample; the median
// of an even count is the upper middle sample.
func TestRecordDerivedLatencies(t *testing.T) {
	ms := time.Millisecond
	if _, ok := sloRec(100*ms, nil, 1).TPOT(); ok {
		t.Error("TPOT defined for one output token")
	}
	if d, ok := sloRec(100*ms, []time.Duration{40 * ms}, 2).TPOT(); !ok || d != 40*ms {
		t.Errorf("TPOT of two tokens 40 ms apart = %v %v, want 40ms", d, ok)
	}
	if _, ok := (&Record{OutputTokens: 5}).TPOT(); ok {
		t.Error("TPOT defined without a first token")
	}

	r := sloRec(100*ms, []time.Duration{10 * ms, 30 * ms, 8 * ms}, 0)
	r.ChunkTokens = []int32{1, 1, 3, 1}
	var got []time.Duration
	var weights []int
	r.EachITL(func(d time.Duration, k int) { got = append(got, d); weights = append(weights, k) })
	want := []time.Duration{10 * ms, 10 * ms, 8 * ms}
	wantK := []int{1, 3, 1}
	if len(got) != len(want) {
		t.Fatalf("ITL samples %v (weights %v), want %v (%v)", got, weights, want, wantK)
	}
	for i := range want {
		if got[i] != want[i] || weights[i] != wantK[i] {
			t.Errorf("ITL samples %v (weights %v), want %v (%v)", got, weights, want, wantK)
			break
		}
	}
	// samples 10, 10, 10, 10, 8: median 10
	if d, ok := r.MedianITL(); !ok || d != 10*ms {
		t.Errorf("median ITL %v %v, want 10ms", d, ok)
	}
	if d, ok := sloRec(0, []time.Duration{ms, 2 * ms, 3 * ms, 4 * ms}, 0).MedianITL(); !ok || d != 3*ms {
		t.Errorf("median of 1, 2, 3, 4 ms = %v %v, want the upper middle 3ms", d, ok)
	}
	if _, ok := sloRec(0, nil, 0).MedianITL(); ok {
		t.Error("median ITL of one chunk")
	}
}
