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
