package daemon

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/llmprobe/llmprobe/archive"
	"github.com/llmprobe/llmprobe/collector"
	"github.com/llmprobe/llmprobe/probe/probetest"
)

// TestServersClosingKeepAliveConnections: probes every second and a soak
// against servers that close keep-alive connections on their own schedule
// see no failure at all, and the retries that hid the closes are counted.
func TestServersClosingKeepAliveConnections(t *testing.T) {
	servers := map[string]*probetest.ConnServer{
		// closes after every response, without a Connection: close
		"each": {After: func(int) bool { return true }},
		// llama-server's shape: says timeout=1, closes idle after 1s
		"idle": {Idle: time.Second, Header: "Keep-Alive: timeout=1, max=100"},
		// closes after 3 responses, unannounced
		"three": {After: func(n int) bool { return n >= 3 }},
		// reads the second request on a connection, then drops it
		"drop": {OnRequest: func(n, _ int) bool { return n > 1 }, DropAfter: 50 * time.Millisecond},
	}
	var targets strings.Builder
	names := []string{"each", "idle", "three", "drop"}
	for _, name := range names {
		s := servers[name]
		s.TTFT, s.ITL, s.Chunks = 5*time.Millisecond, time.Millisecond, 3
		fmt.Fprintf(&targets, "  - {name: %s, url: %q, model: m}\n", name, s.Start(t))
	}
	cfg := loadConfig(t, fmt.Sprintf(`
targets:
%s
workloads: [{name: w, prompt: hi, output_tokens: {num_tokens: 3}}]
probes:
  - {name: p, targets: [each, idle, three, drop], workload: w, schedule: "@every 1s", requests: 2}
soaks:
  - {name: s, targets: [each, idle, three, drop], workload: w, mode: rate, rates: [40], duration: 1500ms}
`, targets.String()))

	reg := prometheus.NewRegistry()
	m := collector.New(reg, collector.Options{})
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	d := New(logger, m, 0)
	defer d.Stop(time.Second)
	arch, err := archive.Open(t.TempDir(), archive.Retention{})
	if err != nil {
		t.Fatal(err)
	}
	soaks, err := NewSoaks(logger, m, collector.NewSoakMetrics(reg), arch, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer soaks.Stop(time.Second)
	if err := d.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if _, _, err := soaks.RunNow("s", name); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(3500 * time.Millisecond) // three or four probe runs
	waitIdle(t, soaks, 10*time.Second)

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	type key struct{ target, phase, result string }
	requests := map[key]float64{}
	retries := map[string]float64{}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			l := labels(mt)
			switch mf.GetName() {
			case "llmprobe_requests_total":
				requests[key{l["target"], l["phase"], l["result"]}] += mt.GetCounter().GetValue()
			case "llmprobe_connection_retries_total":
				retries[l["target"]] += mt.GetCounter().GetValue()
			}
		}
	}
	for _, name := range names {
		for _, phase := range []string{"probe", "soak"} {
			if ok := requests[key{name, phase, "success"}]; ok < 4 {
				t.Errorf("%s %s: %v successful requests, want several", name, phase, ok)
			}
		}
		for k, v := range requests {
			if k.target == name && k.result != "success" && v > 0 {
				t.Errorf("%s %s: %v requests ended %s against a healthy server", name, k.phase, v, k.result)
			}
		}
	}
	if retries["drop"] == 0 {
		t.Error("no connection retries counted for the server that drops every reused connection")
	}
}

func labels(m *dto.Metric) map[string]string {
	l := map[string]string{}
	for _, p := range m.GetLabel() {
		l[p.GetName()] = p.GetValue()
	}
	return l
}
