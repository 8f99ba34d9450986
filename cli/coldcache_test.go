package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/sim"
	"github.com/llmprobe/llmprobe/sim/simtest"
)

// TestProbeDebugColdCacheHit: /probe?debug=true says when a cold probe's
// request was served from the server's prefix cache (a server that caches
// every prompt), and says nothing for a cold probe against the simulator's
// prefix cache (only the template's block cached) or for a warm probe.
func TestProbeDebugColdCacheHit(t *testing.T) {
	caching := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req struct{ Messages []struct{ Content string } }
		_ = json.Unmarshal(body, &req)
		prompt := 20 // a template header
		for _, m := range req.Messages {
			prompt += (len(m.Content) + 3) / 4
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "data: %s\n\ndata: %s\n\ndata: %s\n\ndata: [DONE]\n\n",
			`{"choices":[{"index":0,"delta":{"content":"Hi"}}]}`,
			`{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
			fmt.Sprintf(`{"choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":1,"prompt_tokens_details":{"cached_tokens":%d}}}`, prompt, prompt-1))
	}))
	t.Cleanup(caching.Close)
	simURL := simtest.Start(t, sim.Config{TTFT: time.Millisecond, ITL: time.Millisecond, OutputTokens: 2, PrefixCache: sim.PrefixCache{Enabled: true}})
	d := startDaemon(t, fmt.Sprintf(`
global: {probe_jitter: 0s}
targets:
  - {name: cache, url: %q, model: sim-model}
  - {name: sim, url: %q, model: sim-model}
workloads:
  - {name: cold}
  - {name: warm, prefix_cache: warm}
probes:
  - {name: pc, targets: [cache, sim], workload: cold, schedule: "@every 1h"}
  - {name: pw, targets: [cache], workload: warm, schedule: "@every 1h"}
`, caching.URL, simURL))

	const line = "cold request served from the server's prefix cache: cached_tokens="
	dbg := d.get(t, "/probe?target=cache&module=pc&debug=true")
	if !strings.Contains(dbg, "result=success") || !strings.Contains(dbg, line) {
		t.Errorf("cold probe of a server that caches every prompt: debug output lacks %q:\n%s", line, dbg)
	}
	for _, q := range []string{"target=sim&module=pc", "target=sim&module=pc", "target=cache&module=pw"} {
		if dbg := d.get(t, "/probe?"+q+"&debug=true"); !strings.Contains(dbg, "result=success") || strings.Contains(dbg, line) {
			t.Errorf("/probe?%s&debug=true:\n%s", q, dbg)
		}
	}
	// The counter is exported from the start, labelled as requests are.
	if v := metric(d.get(t, "/metrics"), `llmprobe_cold_cache_hits_total{model="sim-model",name="pc",phase="probe",target="sim"}`); v != 0 {
		t.Errorf("llmprobe_cold_cache_hits_total for the simulator = %v, want 0", v)
	}
}
