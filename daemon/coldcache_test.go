package daemon

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/llmprobe/llmprobe/collector"
	"github.com/llmprobe/llmprobe/sim"
	"github.com/llmprobe/llmprobe/sim/simtest"
)

// TestColdProbesCountCacheHits: a server whose prefix cache serves every
// prompt but its last token (what llama-server reported for repeated
// nonces) is counted in llmprobe_cold_cache_hits_total for a cold probe,
// never for a warm one, whose prompts are cached on purpose.
func TestColdProbesCountCacheHits(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: {\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}\n\n")
		fmt.Fprint(w, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":80,\"completion_tokens\":1,\"prompt_tokens_details\":{\"cached_tokens\":79}}}\n\ndata: [DONE]\n\n")
	}))
	defer srv.Close()
	reg := prometheus.NewRegistry()
	m := collector.New(reg, collector.Options{})
	d := New(slog.New(slog.NewTextHandler(io.Discard, nil)), m, 0)
	defer d.Stop(time.Second)
	cfg := loadConfig(t, fmt.Sprintf(`
targets: [{name: t, url: %q, model: m}]
workloads:
  - {name: cold, input_tokens: 200}
  - {name: warm, input_tokens: 200, prefix_cache: warm}
probes:
  - {name: c, targets: [t], workload: cold, schedule: "@every 1h", requests: 3}
  - {name: w, targets: [t], workload: warm, schedule: "@every 1h", requests: 3}
`, srv.URL))
	if err := d.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	hits := func(name string) float64 {
		return testutil.ToFloat64(m.ColdCacheHits("t", "m", "probe", name))
	}
	deadline := time.Now().Add(5 * time.Second)
	for hits("c") < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := hits("c"); got != 3 {
		t.Errorf("cold probe: %v cold cache hits, want 3", got)
	}
	if got := hits("w"); got != 0 {
		t.Errorf("warm probe: %v cold cache hits, want 0", got)
	}
}

// TestColdProbesStayColdAcrossProbesAndRestarts is the field report as a
// test: two cold probes of one workload on one target, then a daemon
// restarted with the same config, against a server with a prefix cache
// (the simulator's, in 16-token blocks behind a 20-token template). Each
// request's cached tokens stay within the template's block, no cold cache
// hit is counted, while a warm probe of the same workload is served from
// the cache.
func TestColdProbesStayColdAcrossProbesAndRestarts(t *testing.T) {
	url := simtest.Start(t, sim.Config{TTFT: 20 * time.Millisecond, ITL: time.Millisecond, OutputTokens: 2,
		PrefixCache: sim.PrefixCache{Enabled: true}})
	cfg := loadConfig(t, fmt.Sprintf(`
targets: [{name: t, url: %q, model: sim-model}]
workloads:
  - {name: cold, input_tokens: 300, seed: 7}
  - {name: warm, input_tokens: 300, seed: 7, prefix_cache: warm}
probes:
  - {name: a, targets: [t], workload: cold, schedule: "@every 1h", requests: 4}
  - {name: b, targets: [t], workload: cold, schedule: "@every 1h", requests: 4}
  - {name: w, targets: [t], workload: warm, schedule: "@every 1h", requests: 4}
`, url))
	type totals struct{ in, cached, hits float64 }
	run := func() map[string]totals {
		reg := prometheus.NewRegistry()
		m := collector.New(reg, collector.Options{})
		d := New(slog.New(slog.NewTextHandler(io.Discard, nil)), m, 0)
		if err := d.Apply(cfg); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for len(d.Statuses()) < 3 || !allRan(d) {
			if time.Now().After(deadline) {
				t.Fatal("probes did not run")
			}
			time.Sleep(20 * time.Millisecond)
		}
		d.Stop(time.Second)
		out := map[string]totals{}
		for _, p := range []string{"a", "b", "w"} {
			out[p] = totals{
				in:     counterValue(t, reg, "llmprobe_input_tokens_total", map[string]string{"name": p}),
				cached: counterValue(t, reg, "llmprobe_cached_input_tokens_total", map[string]string{"name": p}),
				hits:   testutil.ToFloat64(m.ColdCacheHits("t", "sim-model", "probe", p)),
			}
		}
		return out
	}
	first, restarted := run(), run()
	for _, got := range []map[string]totals{first, restarted} {
		for _, p := range []string{"a", "b"} {
			// 4 requests, each at most the template's one 16-token block
			if g := got[p]; g.in < 1000 || g.cached > 4*16 || g.hits != 0 {
				t.Errorf("cold probe %s: %v of %v input tokens cached, %v cold hits; want at most 64 cached, 0 hits", p, g.cached, g.in, g.hits)
			}
		}
		if g := got["w"]; g.cached < 0.5*g.in {
			t.Errorf("warm probe: %v of %v input tokens cached; the simulator's cache is not working", g.cached, g.in)
		}
	}
}

func allRan(d *Daemon) bool {
	for _, s := range d.Statuses() {
		if s.Last == nil {
			return false
		}
	}
	return true
}
