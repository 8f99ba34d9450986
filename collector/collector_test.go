package collector

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/llmprobe/llmprobe/probe"
)

func record(res probe.Result) *probe.Record {
	start := time.Unix(1000, 0)
	rec := &probe.Record{Target: "t1", Model: "m", Phase: "probe", Name: "hb", Start: start, Result: res}
	if res != probe.ResultSuccess {
		rec.End = start.Add(20 * time.Millisecond)
		return rec
	}
	rec.FirstToken = start.Add(100 * time.Millisecond)
	rec.FirstAnswer = rec.FirstToken
	// three chunks 10 ms apart, the last one carrying 2 tokens
	rec.Chunks = []time.Duration{100 * time.Millisecond, 110 * time.Millisecond, 130 * time.Millisecond}
	rec.ChunkTokens = []int32{1, 1, 2}
	rec.OutputTokens = 4
	rec.InputTokens = 12
	rec.CachedTokens = 3
	rec.UsageReported = true
	rec.End = start.Add(130 * time.Millisecond)
	return rec
}

func TestObserve(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := New(reg, Options{TTFTThresholds: []float64{0.3}})
	m.InitTarget("t1", "m", "probe", "hb")
	m.Observe(record(probe.ResultSuccess))
	m.Observe(record(probe.ResultHTTP5xx))
	m.ProbeDone("t1", "hb", false, 150*time.Millisecond, time.Unix(1001, 500e6))

	want := `
# HELP llmprobe_probe_success Whether the last scheduled run of a probe against a target succeeded (every request succeeded and met the probe's SLOs). Set when the probe runs, not at scrape time.
# TYPE llmprobe_probe_success gauge
llmprobe_probe_success{name="hb",target="t1"} 0
# HELP llmprobe_probe_last_timestamp_seconds Unix time the last run of a probe against a target finished; alert when it stops advancing.
# TYPE llmprobe_probe_last_timestamp_seconds gauge
llmprobe_probe_last_timestamp_seconds{name="hb",target="t1"} 1001.5
# HELP llmprobe_output_tokens_total Output tokens of successful requests: the server's usage, else the count of output chunks.
# TYPE llmprobe_output_tokens_total counter
llmprobe_output_tokens_total{model="m",name="hb",phase="probe",target="t1"} 4
# HELP llmprobe_cached_input_tokens_total Prompt tokens the server reported as served from its prefix cache (usage.prompt_tokens_details.cached_tokens). Cold probes should keep this near zero.
# TYPE llmprobe_cached_input_tokens_total counter
llmprobe_cached_input_tokens_total{model="m",name="hb",phase="probe",target="t1"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"llmprobe_probe_success", "llmprobe_probe_last_timestamp_seconds",
		"llmprobe_output_tokens_total", "llmprobe_cached_input_tokens_total"); err != nil {
		t.Fatal(err)
	}

	// Every result class exists from InitTarget; the two observed are 1.
	if n := testutil.CollectAndCount(m.requests); n != len(probe.Results) {
		t.Fatalf("requests_total has %d series, want %d", n, len(probe.Results))
	}
	for res, want := range map[probe.Result]float64{probe.ResultSuccess: 1, probe.ResultHTTP5xx: 1, probe.ResultTimeout: 0} {
		if got := testutil.ToFloat64(m.requests.WithLabelValues("t1", "m", "probe", "hb", string(res))); got != want {
			t.Errorf("requests_total{result=%s} = %v, want %v", res, got, want)
		}
	}

	// ITL: gaps 10ms (1 token) and 20ms over 2 tokens -> 3 samples of 10ms.
	h := histogramOf(t, reg, "llmprobe_inter_token_latency_seconds")
	if h.GetSampleCount() != 3 || h.GetSampleSum() < 0.0299 || h.GetSampleSum() > 0.0301 {
		t.Errorf("ITL count=%d sum=%v, want 3 samples summing to 0.03", h.GetSampleCount(), h.GetSampleSum())
	}
	// TPOT: (130-100)ms / (4-1) = 10ms, one sample.
	if h := histogramOf(t, reg, "llmprobe_time_per_output_token_seconds"); h.GetSampleCount() != 1 || h.GetSampleSum() < 0.0099 || h.GetSampleSum() > 0.0101 {
		t.Errorf("TPOT count=%d sum=%v", h.GetSampleCount(), h.GetSampleSum())
	}
	// Failures stay out of latency histograms.
	if h := histogramOf(t, reg, "llmprobe_request_duration_seconds"); h.GetSampleCount() != 1 {
		t.Errorf("E2E count = %d, want 1 (failures excluded)", h.GetSampleCount())
	}
	// The configured SLO threshold is a classic bucket boundary.
	found := false
	for _, b := range histogramOf(t, reg, "llmprobe_time_to_first_token_seconds").GetBucket() {
		found = found || b.GetUpperBound() == 0.3
	}
	if !found {
		t.Error("TTFT SLO threshold 0.3 is not a bucket boundary")
	}

	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestDeleteTarget(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := New(reg, Options{})
	m.InitTarget("t1", "m", "probe", "hb")
	m.InitTarget("t2", "m", "probe", "hb")
	m.Observe(record(probe.ResultSuccess))
	m.ProbeDone("t1", "hb", true, time.Second, time.Unix(1, 0))
	m.Delete(prometheus.Labels{"target": "t1"})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetName() == "target" && l.GetValue() == "t1" {
					t.Errorf("%s still has target t1", mf.GetName())
				}
			}
		}
	}
}

func TestMergeBuckets(t *testing.T) {
	got := mergeBuckets([]float64{1, 2, 5}, []float64{2, 3, 0.5})
	want := []float64{0.5, 1, 2, 3, 5}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

// TestObserveColdCacheHits: a cold request the server served from its prefix cache
// beyond the template's share is counted, per target, model, phase and
// name; one with only the template cached is not, and the series exists at
// zero from InitTarget so that increase() sees the first hit.
func TestObserveColdCacheHits(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := New(reg, Options{})
	m.InitTarget("t1", "m", "probe", "hb")
	m.InitTarget("t1", "m", "soak", "load")
	const series = "llmprobe_cold_cache_hits_total"
	want := func(probeHits, soakHits int) string {
		return fmt.Sprintf(`
# HELP llmprobe_cold_cache_hits_total Successful cold requests (prompts that start with a unique nonce) that the server reported as served from its prefix cache beyond the chat template's share (probe.ColdCacheHit): the nonce repeated, or the prompt does not start with it. Should stay zero.
# TYPE llmprobe_cold_cache_hits_total counter
llmprobe_cold_cache_hits_total{model="m",name="hb",phase="probe",target="t1"} %d
llmprobe_cold_cache_hits_total{model="m",name="load",phase="soak",target="t1"} %d
`, probeHits, soakHits)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want(0, 0)), series); err != nil {
		t.Fatal(err)
	}
	// As the client marks a cold request's record (probe.Client.Do).
	rec := func(phase, name string, in, cached, text int) *probe.Record {
		r := record(probe.ResultSuccess)
		r.Phase, r.Name, r.InputTokens, r.CachedTokens = phase, name, in, cached
		r.ColdCacheHit = probe.ColdCacheHit(r, text)
		return r
	}
	m.Observe(rec("probe", "hb", 80, 79, 60))   // all but the last token: a hit
	m.Observe(rec("probe", "hb", 80, 16, 60))   // the template's block only
	m.Observe(rec("soak", "load", 300, 288, 0)) // whole but the last block, text unknown
	m.Observe(rec("soak", "load", 300, 32, 0))
	failed := rec("probe", "hb", 80, 79, 60)
	failed.Result = probe.ResultTimeout
	m.Observe(failed)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want(1, 1)), series); err != nil {
		t.Fatal(err)
	}
	m.Delete(prometheus.Labels{"name": "hb"})
	if n := testutil.CollectAndCount(m.coldCacheHits); n != 1 {
		t.Errorf("%d series after deleting probe hb, want 1", n)
	}
}
