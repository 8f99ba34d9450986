package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/llmprobe/llmprobe/archive"
	"github.com/llmprobe/llmprobe/collector"
	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/sim"
)

// syncBuffer is a log destination safe for the daemon's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(substr string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range strings.Split(s.b.String(), "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return out
}

// serverEnv is a daemon and soaks sharing one ServerWatch, exporting to reg.
type serverEnv struct {
	reg   *prometheus.Registry
	d     *Daemon
	soaks *Soaks
	arch  *archive.Archive
	log   *syncBuffer
}

func newServerEnv(t *testing.T, cfgYAML string) *serverEnv {
	t.Helper()
	e := &serverEnv{reg: prometheus.NewRegistry(), log: &syncBuffer{}}
	logger := slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m := collector.New(e.reg, collector.Options{})
	watch := NewServerWatch(logger, collector.NewServerMetrics(e.reg), collector.NewVerdicts(e.reg))
	cfg := loadConfig(t, cfgYAML)
	var err error
	if e.arch, err = archive.Open(t.TempDir(), archive.Retention{}); err != nil {
		t.Fatal(err)
	}
	e.d = New(logger, m, 0)
	e.d.SetServerWatch(watch)
	if err := e.d.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	if e.soaks, err = NewSoaks(logger, m, collector.NewSoakMetrics(e.reg), e.arch, cfg); err != nil {
		t.Fatal(err)
	}
	e.soaks.SetServerWatch(watch)
	t.Cleanup(func() { e.soaks.Stop(time.Second); e.d.Stop(time.Second) })
	return e
}

func (e *serverEnv) value(t *testing.T, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue next
				}
			}
			return m.GetGauge().GetValue() + m.GetCounter().GetValue(), true
		}
	}
	return 0, false
}

func (e *serverEnv) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runSoak runs the soak name now and waits for its archived result.
func (e *serverEnv) runSoak(t *testing.T, name string) *load.Result {
	t.Helper()
	if _, _, err := e.soaks.RunNow(name, ""); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, e.soaks, 20*time.Second)
	for _, st := range e.soaks.Statuses() {
		if st.Soak == name && st.Last != nil {
			b, err := e.arch.Result(st.Last.ID)
			if err != nil {
				t.Fatal(err)
			}
			res, err := decodeResult(b)
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
	}
	t.Fatalf("no result of soak %s", name)
	return nil
}

const serverConfig = `
targets:
  - {name: a, url: %q, model: sim-model, metrics_interval: 100ms%s}
workloads:
  - {name: w, prompt: hi, output_tokens: {num_tokens: 5}}
probes:
  - {name: heartbeat, targets: [a], workload: w, schedule: "@every 1h", requests: 3}
soaks:
  - {name: steady, targets: [a], workload: w, mode: rate, rates: [20], duration: 1500ms}
`

// TestServerViewOfProbesAndSoaks: a probe run exports the gap between the
// client's and the server's TTFT and the queue share; a soak its verdicts.
func TestServerViewOfProbesAndSoaks(t *testing.T) {
	srv := httptest.NewServer(sim.New(sim.Config{TTFT: 20 * time.Millisecond, ITL: 2 * time.Millisecond}))
	defer srv.Close()
	e := newServerEnv(t, fmt.Sprintf(serverConfig, srv.URL+"/v1", ""))
	probeLabels := map[string]string{"target": "a", "phase": "probe", "name": "heartbeat", "model": "sim-model"}
	e.waitFor(t, "the probe's TTFT gap", func() bool { _, ok := e.value(t, "llmprobe_server_ttft_gap_seconds", probeLabels); return ok })
	gap, _ := e.value(t, "llmprobe_server_ttft_gap_seconds", probeLabels)
	if gap < -0.001 || gap > 0.015 {
		t.Errorf("client - server TTFT over loopback is %v s", gap)
	}
	if share, ok := e.value(t, "llmprobe_server_queue_time_share", probeLabels); !ok || share > 0.01 {
		t.Errorf("queue share %v %v: nothing queued", share, ok)
	}
	if up, ok := e.value(t, "llmprobe_server_metrics_up", map[string]string{"target": "a"}); !ok || up != 1 {
		t.Errorf("up %v %v", up, ok)
	}

	res := e.runSoak(t, "steady")
	if res.Server == nil || res.Server.Timeline == nil || len(res.Server.Timeline.Points) < 10 || res.Server.Breakdown == nil {
		t.Fatalf("soak's server view %+v", res.Server)
	}
	for _, v := range []string{load.VerdictServerMemoryGrowth, load.VerdictStuckRequests, load.VerdictServerRestart, load.VerdictPreemptions} {
		f, ok := e.value(t, "llmprobe_verdict_failed", map[string]string{"name": "steady", "target": "a", "verdict": v})
		if !ok || f != 0 {
			t.Errorf("verdict %s: failed %v, exported %v", v, f, ok)
		}
	}
	if _, ok := e.value(t, "llmprobe_server_ttft_gap_seconds", map[string]string{"phase": "soak", "name": "steady"}); !ok {
		t.Error("no soak TTFT gap")
	}

	// a reload without the soak and the target deletes their series
	if err := e.soaks.Apply(loadConfig(t, "workloads: [{name: w, prompt: hi}]\n")); err != nil {
		t.Fatal(err)
	}
	if err := e.d.Apply(loadConfig(t, "workloads: [{name: w, prompt: hi}]\n")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"llmprobe_verdict_failed", "llmprobe_server_ttft_gap_seconds", "llmprobe_server_metrics_up", "llmprobe_server_metrics_scrape_failures_total"} {
		if n := testutil.CollectAndCount(e.reg, name); n != 0 {
			t.Errorf("%s: %d series left after the target went away", name, n)
		}
	}
}

// TestBrokenMetricsPages: a target whose metrics page is missing, an HTML
// page, a gigabyte or a hang is probed and soaked as ever; only
// llmprobe_server_metrics_up says 0, and one log line says why.
func TestBrokenMetricsPages(t *testing.T) {
	api := sim.New(sim.Config{TTFT: 5 * time.Millisecond, ITL: time.Millisecond})
	for _, tc := range []struct {
		name, page, reason, log string
		configured              bool
		probeScrapes            int64 // scrapes by the four probe runs
	}{
		// a derived page is left alone after its failure (DerivedRetry)
		{"404 at the derived URL", "404", "http", "level=INFO msg=\"no metrics page at the URL derived from the target's", false, 1},
		// a configured one is read before and after each probe run
		{"an HTML page", "html", "not_exposition", "level=WARN msg=\"cannot read the server's metrics page", true, 4},
		{"a gigabyte", "huge", "too_large", "level=WARN msg=\"cannot read the server's metrics page", true, 4},
		// but not after a timeout, for a while (TimeoutRetry)
		{"a hang", "hang", "timeout", "level=WARN msg=\"cannot read the server's metrics page", true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stop := make(chan struct{})
			var hits atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !strings.HasPrefix(r.URL.Path, "/metrics") {
					api.ServeHTTP(w, r)
					return
				}
				hits.Add(1)
				switch tc.page {
				case "404":
					http.NotFound(w, r)
				case "html":
					w.Header().Set("Content-Type", "text/html")
					fmt.Fprint(w, "<html><body>sign in</body></html>")
				case "huge":
					w.Header().Set("Content-Type", "text/plain; version=0.0.4")
					line := []byte(strings.Repeat("x", 1023) + "\n")
					for range 1 << 20 { // 1 GiB, unless the reader stops first
						if _, err := w.Write(line); err != nil {
							return
						}
					}
				case "hang":
					select {
					case <-r.Context().Done():
					case <-stop:
					}
				}
			}))
			defer srv.Close()
			defer close(stop)
			extra := ""
			if tc.configured {
				extra = ", metrics_url: " + srv.URL + "/metrics"
			}
			if tc.page == "hang" {
				extra += ", metrics_timeout: 300ms"
			}
			e := newServerEnv(t, fmt.Sprintf(serverConfig, srv.URL, extra))
			up := map[string]string{"target": "a"}
			e.waitFor(t, "the first probe", func() bool { _, ok := e.value(t, "llmprobe_probe_success", up); return ok })
			j := e.d.jobs["heartbeat/a"]
			for range 3 { // more probe runs: still one log line
				if res := e.d.runOnce(context.Background(), j, false); !res.Success {
					t.Fatalf("probe failed: %s", res.Reason)
				}
			}
			if n := hits.Load(); n != tc.probeScrapes {
				t.Errorf("the probes scraped the page %d times, want %d", n, tc.probeScrapes)
			}
			res := e.runSoak(t, "steady")
			if !res.Passed || res.Summary.Failed != 0 {
				t.Errorf("soak: passed %v, %d failed", res.Passed, res.Summary.Failed)
			}
			if res.Server == nil || res.Server.Note == "" || len(res.Server.Verdicts) != 0 {
				t.Errorf("soak's server view %+v", res.Server)
			}
			if v, ok := e.value(t, "llmprobe_server_metrics_up", up); !ok || v != 0 {
				t.Errorf("up %v (exported %v)", v, ok)
			}
			if v, _ := e.value(t, "llmprobe_server_metrics_scrape_failures_total", map[string]string{"target": "a", "reason": tc.reason}); v < 1 {
				t.Errorf("no failure of reason %s", tc.reason)
			}
			if v, ok := e.value(t, "llmprobe_probe_success", up); !ok || v != 1 {
				t.Errorf("probe_success %v", v)
			}
			if _, ok := e.value(t, "llmprobe_server_ttft_gap_seconds", nil); ok {
				t.Error("a TTFT gap without the server's TTFT")
			}
			lines := e.log.lines("runs go on without the server's view")
			if d := e.log.lines("fails differently"); len(d) > 0 {
				t.Logf("reasons that changed during the outage (debug):\n%s", strings.Join(d, "\n"))
			}
			if len(lines) != 1 || !strings.Contains(lines[0], tc.log) || !strings.Contains(lines[0], "target=a") {
				t.Errorf("log lines about the page:\n%s", strings.Join(lines, "\n"))
			}
			if errs := e.log.lines("level=ERROR"); len(errs) > 0 {
				t.Errorf("errors logged:\n%s", strings.Join(errs, "\n"))
			}
		})
	}
}

func decodeResult(b []byte) (*load.Result, error) {
	res := &load.Result{}
	return res, json.Unmarshal(b, res)
}
