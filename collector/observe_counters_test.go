package collector

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/llmprobe/llmprobe/probe"
)

// TestObserveOptionalCounters protects llmprobe_retries_total,
// llmprobe_connection_retries_total, llmprobe_cached_input_tokens_total,
// llmprobe_reasoning_tokens_total and the ITL histogram: each adds exactly
// what the record says, and a record that says nothing (no retry, no cached
// or reasoning tokens, a one-chunk answer with no gap) creates no series, so
// that a target never retried has no retries series and a one-token answer
// adds no ITL sample.
func TestObserveOptionalCounters(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(r *probe.Record)
		want map[string]float64 // counter: value; absent: no series
		itl  int                // ITL series expected (0 or 1)
	}{
		{name: "nothing to count", edit: func(r *probe.Record) {
			r.CachedTokens = 0
			r.Chunks, r.ChunkTokens = r.Chunks[:1], nil
		}, want: map[string]float64{}},
		{name: "one of each", edit: func(r *probe.Record) {
			r.Retries, r.ConnRetries, r.CachedTokens, r.ReasoningTokens = 1, 1, 1, 1
		}, want: map[string]float64{"retries": 1, "conn": 1, "cached": 1, "reasoning": 1}, itl: 1},
		{name: "several of each", edit: func(r *probe.Record) {
			r.Retries, r.ConnRetries, r.CachedTokens, r.ReasoningTokens = 2, 3, 5, 7
		}, want: map[string]float64{"retries": 2, "conn": 3, "cached": 5, "reasoning": 7}, itl: 1},
		{name: "a failed request's retries count, its tokens do not", edit: func(r *probe.Record) {
			r.Result = probe.ResultHTTP429
			r.Retries, r.ConnRetries, r.CachedTokens, r.ReasoningTokens = 1, 2, 5, 7
		}, want: map[string]float64{"retries": 1, "conn": 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewPedanticRegistry()
			m := New(reg, Options{}) // no InitTarget: series come from Observe alone
			r := record(probe.ResultSuccess)
			tc.edit(r)
			m.Observe(r)
			for key, vec := range map[string]*prometheus.CounterVec{
				"retries": m.retries, "conn": m.connRetries, "cached": m.cachedTokens, "reasoning": m.reasoningTokens,
			} {
				want, ok := tc.want[key]
				n := testutil.CollectAndCount(vec)
				switch {
				case !ok && n != 0:
					t.Errorf("%s: %d series, want none", key, n)
				case ok && n != 1:
					t.Errorf("%s: %d series, want 1", key, n)
				case ok:
					if got := testutil.ToFloat64(vec.WithLabelValues("t1", "m", "probe", "hb")); got != want {
						t.Errorf("%s = %v, want %v", key, got, want)
					}
				}
			}
			if n := testutil.CollectAndCount(m.itl); n != tc.itl {
				t.Errorf("ITL histogram: %d series, want %d", n, tc.itl)
			}
		})
	}
}
