package web

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/llmprobe/llmprobe/archive"
	"github.com/llmprobe/llmprobe/collector"
	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/daemon"
	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/sim"
	"github.com/llmprobe/llmprobe/sim/simtest"
)

type soakEnv struct {
	logger  *slog.Logger
	reg     *prometheus.Registry
	metrics *collector.Metrics
	daemon  *daemon.Daemon
	soaks   *daemon.Soaks
	arch    *archive.Archive
}

func newSoakEnv(t *testing.T, cfg *config.Config, dir string) *soakEnv {
	t.Helper()
	e := &soakEnv{logger: slog.New(slog.NewTextHandler(io.Discard, nil)), reg: prometheus.NewRegistry()}
	var err error
	if e.arch, err = archive.Open(dir, archive.Retention{}); err != nil {
		t.Fatal(err)
	}
	e.metrics = collector.New(e.reg, collector.Options{})
	e.daemon = daemon.New(e.logger, e.metrics, 0)
	t.Cleanup(func() { e.daemon.Stop(time.Second) })
	if e.soaks, err = daemon.NewSoaks(e.logger, e.metrics, collector.NewSoakMetrics(e.reg), e.arch, cfg); err != nil {
		t.Fatal(err)
	}
	return e
}

func soakConfig(t *testing.T, simURL, soaks string) *config.Config {
	t.Helper()
	cfg, err := config.Load([]byte(fmt.Sprintf(`
targets:
  - {name: a, url: %q, model: sim-model}
workloads:
  - {name: w, prompt: hi, output_tokens: {num_tokens: 5}}
soaks:
%s`, simURL, soaks)), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func waitIdle(t *testing.T, s *daemon.Soaks, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		busy := false
		for _, st := range s.Statuses() {
			busy = busy || st.Running
		}
		if !busy {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("soaks still running after %v", within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// counterValue sums the values of a family's series that carry labels.
func counterValue(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for k, v := range labels {
				found := false
				for _, l := range m.GetLabel() {
					found = found || (l.GetName() == k && l.GetValue() == v)
				}
				if !found {
					continue next
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

func TestSoakRunArchiveAndAPI(t *testing.T) {
	url := simtest.Start(t, sim.Config{TTFT: 5 * time.Millisecond, ITL: 2 * time.Millisecond})
	cfg := soakConfig(t, url, `
  - {name: quick, targets: [a], workload: w, mode: rate, rates: [20], duration: 300ms, warmup: 100ms}
`)
	env := newSoakEnv(t, cfg, t.TempDir())
	defer env.soaks.Stop(time.Second)
	srv := httptest.NewServer(New(Options{Logger: env.logger, Gatherer: env.reg, MetricsPath: "/metrics",
		Daemon: env.daemon, Soaks: env.soaks, Archive: env.arch, Guard: Guard{allowed: true}}))
	defer srv.Close()

	post := func(path string) (int, map[string]any) {
		resp, err := http.Post(srv.URL+path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	if code, body := post("/api/v1/soaks/quick/run"); code != http.StatusAccepted || fmt.Sprint(body["started"]) != "[a]" {
		t.Fatalf("POST run: %d %v", code, body)
	}
	if code, body := post("/api/v1/soaks/quick/run"); code != http.StatusConflict || fmt.Sprint(body["already_running"]) != "[a]" {
		t.Fatalf("second POST run: %d %v", code, body)
	}
	if code, _ := post("/api/v1/soaks/nope/run"); code != http.StatusNotFound {
		t.Fatalf("unknown soak: %d", code)
	}
	if resp, err := http.Get(srv.URL + "/api/v1/soaks/quick/run"); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET run: %v %v", resp.StatusCode, err)
	}
	waitIdle(t, env.soaks, 5*time.Second)

	resp, err := http.Get(srv.URL + "/api/v1/runs")
	if err != nil {
		t.Fatal(err)
	}
	var list struct{ Runs []archive.Run }
	_ = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if len(list.Runs) != 1 {
		t.Fatalf("runs %+v", list.Runs)
	}
	run := list.Runs[0]
	if run.Name != "quick" || run.Target != "a" || run.Status != load.StatusCompleted || !run.Passed || run.Requests < 5 || run.Requests > 7 {
		t.Errorf("run %+v", run)
	}

	resp, err = http.Get(srv.URL + "/api/v1/runs/" + run.ID)
	if err != nil {
		t.Fatal(err)
	}
	var res load.Result
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || res.ID != run.ID || res.Context.WarmupS != 0.1 {
		t.Fatalf("result %+v: %v", res, err)
	}
	resp.Body.Close()
	resp, err = http.Get(srv.URL + "/api/v1/runs/" + run.ID + "/timeline")
	if err != nil {
		t.Fatal(err)
	}
	phases := map[string]int{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var e load.Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		phases[e.Phase]++
	}
	resp.Body.Close()
	if phases["soak"] != int(run.Requests) || phases["warmup"] != 2 {
		t.Errorf("timeline phases %v, want %d soak and 2 warmup", phases, run.Requests)
	}
	if resp, _ := http.Get(srv.URL + "/api/v1/runs/nope"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown run: %d", resp.StatusCode)
	}

	// Soak traffic is labelled phase="soak"; warmup feeds no series.
	var exp bytes.Buffer
	mfs, _ := env.reg.Gather()
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "phase" && l.GetValue() != daemon.PhaseSoak {
					fmt.Fprintf(&exp, "%s has phase %q\n", mf.GetName(), l.GetValue())
				}
			}
		}
	}
	if exp.Len() > 0 {
		t.Error(exp.String())
	}
	want := `
# HELP llmprobe_soak_running Whether a soak is running against a target now (1) or not (0).
# TYPE llmprobe_soak_running gauge
llmprobe_soak_running{name="quick",target="a"} 0
`
	if err := testutil.GatherAndCompare(env.reg, strings.NewReader(want), "llmprobe_soak_running"); err != nil {
		t.Error(err)
	}
	if n := testutil.ToFloat64(env.metrics.InFlight("a")); n != 0 {
		t.Errorf("in flight %v after the soak", n)
	}
	if got := counterValue(t, env.reg, "llmprobe_requests_total", map[string]string{"phase": "soak", "result": "success"}); got != float64(run.Requests) {
		t.Errorf("requests_total{phase=soak,result=success} = %v, want %d", got, run.Requests)
	}
	if v := counterValue(t, env.reg, "llmprobe_soak_last_success_timestamp_seconds", nil); v < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("last success %v", v)
	}
}
