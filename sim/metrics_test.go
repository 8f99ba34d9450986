package sim_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/servermetrics"
	"github.com/llmprobe/llmprobe/sim"
)

// vllmNames are the vocabulary's names a vLLM page must give: the vLLM
// rows' and the generic ones'.
func vllmNames() []string {
	var names []string
	for _, r := range servermetrics.Table {
		if (r.Server == servermetrics.VLLM || r.Server == servermetrics.Generic) && !slices.Contains(names, r.Name) {
			names = append(names, r.Name)
		}
	}
	return names
}

func scrape(t *testing.T, url string) servermetrics.Snapshot {
	t.Helper()
	sc := servermetrics.Scraper{URL: url + "/metrics"} // the server detected, as for an unknown target
	snap, err := sc.Scrape(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if snap.Server != servermetrics.VLLM {
		t.Fatalf("page read as server %q, want vllm", snap.Server)
	}
	for _, name := range vllmNames() {
		_, v := snap.Values[name]
		_, h := snap.Hists[name]
		if !v && !h {
			t.Errorf("vocabulary name %s missing from the page", name)
		}
	}
	return snap
}

func fetch(t *testing.T, url string) map[string]float64 {
	t.Helper()
	sc := servermetrics.Scraper{URL: url + "/metrics"}
	fams, err := sc.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, m := range fams["vllm:request_success_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "finished_reason" {
				out[l.GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	return out
}

// until polls cond until it holds, failing the test after 10 s.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// loadRequest is one request of the load test and what the server counts
// of it.
type loadRequest struct {
	path, body string
	prompt     int // prompt tokens
	tokens     int // output tokens (0: pooling)
	events     int // output chunks
	reason     string
}

func TestMetricsUnderLoad(t *testing.T) {
	const ttft, itl = 20 * time.Millisecond, time.Millisecond
	// Prompt tokens are ceil(characters/4); TokensPerChunk 2 makes chunks
	// (events) fewer than tokens, as batched decoding does.
	reqs := []loadRequest{
		{"/v1/chat/completions", `{"messages":[{"role":"user","content":"` + strings.Repeat("a", 40) + `"}],"max_tokens":4,"stream":true}`, 10, 4, 2, "length"},
		{"/v1/completions", `{"prompt":"` + strings.Repeat("b", 80) + `"}`, 20, 5, 3, "stop"},
		{"/v1/embeddings", `{"input":"` + strings.Repeat("c", 12) + `"}`, 3, 0, 0, "stop"},
		{"/v1/rerank", `{"query":"qqqq","documents":["dddd","eeeeeeee"]}`, 2 + 3, 0, 0, "stop"},
		{"/v1/chat/completions", `{"messages":[{"role":"user","content":"` + strings.Repeat("f", 20) + `"}],"max_tokens":3}`, 5, 3, 2, "length"},
		{"/v1/completions", `{"prompt":"` + strings.Repeat("g", 16) + `","stream":true}`, 4, 5, 3, "stop"},
	}
	const kvCapacity = 1000
	s := sim.New(sim.Config{TTFT: ttft, ITL: itl, OutputTokens: 5, TokensPerChunk: 2, MaxConcurrency: 2, KVCacheTokens: kvCapacity})
	release := sim.HoldDecoding(s)
	ts := httptest.NewServer(s)
	t.Cleanup(func() { s.Close(); ts.Close() })
	before := scrape(t, ts.URL)

	// One at a time, each admitted before the next is sent, so that the
	// first two hold the slots and the other four wait, in order.
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Go(func() {
			resp, err := http.Post(ts.URL+r.path, "application/json", strings.NewReader(r.body))
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != 200 {
				t.Errorf("request %d: status %d, %v: %s", i, resp.StatusCode, err, body)
			}
		})
		until(t, "request admitted", func() bool {
			st := s.Stats()
			return st.InFlight+st.Queued == int64(i+1)
		})
	}
	held := scrape(t, ts.URL)
	wantHeld := map[string]float64{
		"requests_running":      2,
		"requests_waiting":      4,
		"kv_cache_usage_ratio":  float64(reqs[0].prompt+reqs[1].prompt) / kvCapacity, // no token generated yet
		"prompt_tokens_total":   0,                                                   // no prefill done yet
		"resident_memory_bytes": sim.BaseResidentMemoryBytes,
	}
	for name, want := range wantHeld {
		if got := held.Values[name]; got != want {
			t.Errorf("while held: %s = %v, want %v", name, got, want)
		}
	}

	release()
	wg.Wait()
	after := scrape(t, ts.URL)
	d := servermetrics.Delta(before, after)
	if len(d.Resets) > 0 {
		t.Errorf("resets %v without a restart", d.Resets)
	}
	var prompt, tokens, events, gen, pooling int
	reasons := map[string]float64{}
	for _, r := range reqs {
		prompt += r.prompt
		tokens += r.tokens
		events += r.events
		reasons[r.reason]++
		if r.tokens > 0 {
			gen++
		} else {
			pooling++
		}
	}
	wantIncrease := map[string]float64{
		"prompt_tokens_total":        float64(prompt),
		"generation_tokens_total":    float64(tokens),
		"prefix_cache_queries_total": 0,
		"prefix_cache_hits_total":    0,
		"preemptions_total":          0,
	}
	for name, want := range wantIncrease {
		if got, ok := d.Increase[name]; !ok || got != want {
			t.Errorf("increase of %s = %v (%v), want %v", name, got, ok, want)
		}
	}
	for _, name := range []string{"requests_running", "requests_waiting", "kv_cache_usage_ratio"} {
		if got := d.Gauges[name]; got != 0 {
			t.Errorf("after the drain: %s = %v, want 0", name, got)
		}
	}
	wantCount := map[string]int{
		"ttft_seconds":         gen,
		"itl_seconds":          events - gen, // one per gap between a request's chunks
		"tpot_seconds":         gen,
		"decode_time_seconds":  gen,
		"queue_time_seconds":   len(reqs),
		"prefill_time_seconds": len(reqs),
		"e2e_latency_seconds":  len(reqs),
	}
	for name, want := range wantCount {
		if h := d.Hists[name]; h == nil || h.Count != float64(want) {
			t.Errorf("%s: %+v, want %d observations", name, h, want)
		}
	}
	// Delays are never early: each prefill takes at least TTFT, and the
	// four that waited queued for at least one TTFT.
	if h := d.Hists["prefill_time_seconds"]; h != nil && h.Sum < float64(len(reqs))*ttft.Seconds() {
		t.Errorf("prefill time sum %v s, want at least %d × %v", h.Sum, len(reqs), ttft)
	}
	if h := d.Hists["queue_time_seconds"]; h != nil && h.Sum < 4*ttft.Seconds() {
		t.Errorf("queue time sum %v s, want at least 4 × %v", h.Sum, ttft)
	}
	if got := fetch(t, ts.URL); got["stop"] != reasons["stop"] || got["length"] != reasons["length"] || got["abort"] != 0 || got["error"] != 0 {
		t.Errorf("request_success_total by finished_reason %v, want %v", got, reasons)
	}
}

func TestMetricsRestartIsAReset(t *testing.T) {
	const leak = 100
	s := sim.New(sim.Config{TTFT: time.Millisecond, ITL: time.Millisecond, OutputTokens: 3, MaxConcurrency: 2,
		Faults: sim.Faults{LeakBytesPerRequest: leak, LeakSlotEvery: 2}})
	ts := httptest.NewServer(s)
	t.Cleanup(func() { s.Close(); ts.Close() })
	post := func() {
		t.Helper()
		resp, err := http.Post(ts.URL+"/v1/completions", "application/json", strings.NewReader(`{"prompt":"hello"}`))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	post()
	post() // the second to complete keeps its slot
	before := scrape(t, ts.URL)
	if before.Values["requests_running"] != 1 || before.Values["resident_memory_bytes"] != sim.BaseResidentMemoryBytes+2*leak {
		t.Fatalf("before the restart: %v", before.Values)
	}
	s.Restart()
	post() // the first of the restarted server: it frees its slot
	after := scrape(t, ts.URL)
	d := servermetrics.Delta(before, after)
	// Every counter and histogram that had counted something went back
	// from two requests to one: a reset each; those still at 0 are not.
	// The sums of seconds (prefill_seconds_total, ...) are left out: one
	// slow request may take longer than two quick ones did.
	var want []string
	for name, v := range before.Values {
		if servermetrics.Names()[name] == servermetrics.Counter && v > 0 && !strings.HasSuffix(name, "_seconds_total") {
			want = append(want, name)
		}
	}
	for name, h := range before.Hists {
		if h.Count > 0 {
			want = append(want, name)
		}
	}
	for _, name := range want {
		if !slices.Contains(d.Resets, name) {
			t.Errorf("resets %v, want %s among them", d.Resets, name)
		}
	}
	for _, name := range []string{"preemptions_total", "prefix_cache_hits_total", "prefix_cache_queries_total"} {
		if slices.Contains(d.Resets, name) {
			t.Errorf("resets %v: %s stayed at 0, no reset to see", d.Resets, name)
		}
	}
	if d.Increase["generation_tokens_total"] != 3 || d.Hists["e2e_latency_seconds"].Count != 1 {
		t.Errorf("after the restart: increase %v", d.Increase)
	}
	// The leaked slot and memory are gone; the new request leaked again.
	if d.Gauges["requests_running"] != 0 || d.Gauges["resident_memory_bytes"] != sim.BaseResidentMemoryBytes+leak {
		t.Errorf("after the restart and one request: %v", d.Gauges)
	}
	if st := s.Stats(); st.Restarts != 1 || st.Completed != 3 {
		t.Errorf("stats %+v, want 1 restart and 3 completed across it", st)
	}
}
