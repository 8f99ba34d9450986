package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/alerts"
	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/dashboards"
	"github.com/llmprobe/llmprobe/sim"
)

// The end-to-end test runs the simulator, the llmprobe daemon (built from
// this checkout) and a real Prometheus scraping it every second with native
// histograms on and the rule file loaded. Then every dashboard query, every
// dashboard variable and every rule expression is evaluated through
// Prometheus's HTTP API: a query that errors fails the test, and so does a
// query that returns no data (naming the dashboard, panel and query).
//
// No GPU is needed: the daemon runs with --no-collector.gpu, and a second
// scrape target serves the GPU collector's golden exposition (two mock GPUs,
// gpu/testdata/two_gpus.prom), so the GPU panels are checked against the
// collector's real metric and label names.
//
// Two daemons run over the one config, with --shard 0/2 and 1/2: each
// probes the targets whose name hashes to its index, so every target's
// series come from exactly one of them, and no panel or rule may count a
// target twice (checkShards).

const (
	testTarget = "sim"
	// otherTarget hashes to the other shard than testTarget, so that both
	// daemons have a target to probe.
	otherTarget = "sim-b"
	testModel   = "sim-model"
	testProbe   = "heartbeat"
	testSoak    = "sweep"
	// testProcedure is a soak in procedure mode, run twice so that the
	// "previous procedure" series exist too.
	testProcedure = "stress"
)

// daemonConfig probes the simulator every second and defines a short sweep
// (started through the API, not on a schedule, so that it runs once).
const daemonConfig = `
global: {probe_jitter: 0s, data_dir: %[1]q}
targets:
  - {name: sim, url: %[2]q, model: sim-model, supports_min_tokens: true, metrics_interval: 200ms}
  - {name: sim-b, url: %[3]q, model: sim-model, supports_min_tokens: true, metrics_interval: 200ms}
workloads:
  - {name: short, prompt: "Say hello.", output_tokens: {num_tokens: 16}}
probes:
  - {name: heartbeat, targets: [sim, sim-b], workload: short, schedule: "@every 1s", requests: 2,
     slo: {ttft: 500ms, itl: 50ms, e2e: 5s}}
soaks:
  - {name: sweep, targets: [sim], workload: short, mode: sweep, max_vus: 2, num_rates: 3,
     duration: 2s, max_in_flight: 64, seed: 1, slo: {ttft: 500ms}}
  - {name: stress, targets: [sim], workload: short, mode: procedure, max_in_flight: 64, seed: 1,
     procedure: {scale: 0.01, ladder: [1, 2, 4], ladder_max: 8, sweep_rates: 8, fractions: [0.5], soak_duration: 10m}}
`

const prometheusConfig = `
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: llmprobe
    scrape_native_histograms: true
    always_scrape_classic_histograms: true
    static_configs:
      - targets: [%q, %q]
  - job_name: llmprobe-gpu-host
    static_configs:
      - targets: [%q]
`

// gpuFixture is the GPU collector's golden exposition of two mock GPUs.
var gpuFixture = filepath.Join("..", "gpu", "testdata", "two_gpus.prom")

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// logBuffer collects a child process's output for the failure message.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// process runs a binary for the test's lifetime and stops it with SIGTERM.
func process(t *testing.T, name string, args ...string) *logBuffer {
	t.Helper()
	logs := &logBuffer{}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("%s did not stop within 15s of SIGTERM", filepath.Base(name))
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(name), tail(logs.String(), 4000))
		}
	})
	return logs
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

var client = &http.Client{Timeout: 10 * time.Second}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := client.Get(u)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// sample returns the value of the first sample of a metric family on an
// exposition page whose labels contain every one of the given pairs; ok is
// false when there is none.
func sample(page, name string, labels ...string) (float64, bool) {
	sc := bufio.NewScanner(strings.NewReader(page))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := sc.Text()
		rest, ok := strings.CutPrefix(l, name)
		if !ok || rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		match := true
		for _, lv := range labels {
			match = match && strings.Contains(rest, lv)
		}
		if !match {
			continue
		}
		f := strings.Fields(rest[strings.LastIndexByte(rest, '}')+1:])
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		return v, err == nil
	}
	return 0, false
}

// buildDaemon builds llmprobe from this checkout.
func buildDaemon(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the daemon with")
	}
	bin := filepath.Join(t.TempDir(), "llmprobe")
	cmd := exec.Command(goBin, "build", "-o", bin, ".")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// apiResult is the part of a Prometheus API answer the test reads.
type apiResult struct {
	Status    string   `json:"status"`
	ErrorType string   `json:"errorType"`
	Error     string   `json:"error"`
	Warnings  []string `json:"warnings"`
	Infos     []string `json:"infos"`
	Data      struct {
		ResultType string            `json:"resultType"`
		Result     []json.RawMessage `json:"result"`
	} `json:"data"`
}

// promQuery evaluates an instant query at ts.
func promQuery(promURL, expr string, ts time.Time) (apiResult, error) {
	var r apiResult
	form := url.Values{"query": {expr}, "time": {strconv.FormatFloat(float64(ts.UnixMilli())/1000, 'f', 3, 64)}}
	resp, err := client.PostForm(promURL+"/api/v1/query", form)
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return r, fmt.Errorf("HTTP %d: %w", resp.StatusCode, err)
	}
	if r.Status != "success" {
		return r, fmt.Errorf("%s: %s", r.ErrorType, r.Error)
	}
	return r, nil
}

func (r apiResult) empty() bool {
	return r.Data.ResultType != "scalar" && r.Data.ResultType != "string" && len(r.Data.Result) == 0
}

func TestDashboardsAndAlertsAgainstPrometheus(t *testing.T) {
	prometheus := ToolPath(t, "prometheus")
	promtool := ToolPath(t, "promtool")
	start := time.Now()
	bin := buildDaemon(t)
	t.Logf("built the daemon in %s", time.Since(start).Round(time.Millisecond))

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	_, simAddr, err := sim.Listen(ctx, "127.0.0.1:0", sim.Config{
		Model: testModel, TTFT: 20 * time.Millisecond, ITL: 2 * time.Millisecond, OutputTokens: 16, Seed: 1,
		// Two slots: the procedure's ladder finds its knee and its sweep
		// over-saturates, so every procedure panel has data.
		MaxConcurrency: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The other shard's target has a simulator of its own, so that its
	// probes take none of the two slots the procedure measures.
	_, otherAddr, err := sim.Listen(ctx, "127.0.0.1:0", sim.Config{
		Model: testModel, TTFT: 20 * time.Millisecond, ITL: 2 * time.Millisecond, OutputTokens: 16, Seed: 2,
	})
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	// Two daemons, --shard 0/2 and 1/2, over one config (each its own data
	// directory, as on two machines).
	if config.HashMod(testTarget, 2) == config.HashMod(otherTarget, 2) {
		t.Fatalf("%s and %s hash to one shard: the second daemon would probe nothing", testTarget, otherTarget)
	}
	var daemonAddrs [2]string
	for i := range daemonAddrs {
		cfg := fmt.Sprintf(daemonConfig, filepath.Join(dir, fmt.Sprintf("data-%d", i)), "http://"+simAddr.String(), "http://"+otherAddr.String())
		f := filepath.Join(dir, fmt.Sprintf("llmprobe-%d.yaml", i))
		if err := os.WriteFile(f, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		daemonAddrs[i] = freeAddr(t)
		process(t, bin, "run", "--config.file="+f, "--web.listen-address="+daemonAddrs[i], fmt.Sprintf("--shard=%d/2", i),
			"--no-collector.gpu", "--web.enable-unauthenticated-writes", "--log.level=info")
	}
	for _, a := range daemonAddrs {
		waitFor(t, 15*time.Second, "the daemons to listen", func() bool {
			code, _ := get(t, "http://"+a+"/-/healthy")
			return code == 200
		})
	}
	// The soaks' target is the test target's: they run on its shard's daemon.
	daemonAddr := daemonAddrs[config.HashMod(testTarget, 2)]
	daemonURL := "http://" + daemonAddr

	// Prometheus, scraping the daemon every second with the rules loaded.
	rulesFile, err := filepath.Abs(filepath.Join("..", "alerts", "llmprobe.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	promCfg := filepath.Join(dir, "prometheus.yml")
	gpuPage, err := os.ReadFile(gpuFixture)
	if err != nil {
		t.Fatalf("the GPU collector's golden exposition, served in place of a GPU host: %v", err)
	}
	gpuHost := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = w.Write(gpuPage)
	}))
	t.Cleanup(gpuHost.Close)
	if err := os.WriteFile(promCfg, []byte(fmt.Sprintf(prometheusConfig, rulesFile, daemonAddrs[0], daemonAddrs[1], strings.TrimPrefix(gpuHost.URL, "http://"))), 0o600); err != nil {
		t.Fatal(err)
	}
	promAddr := freeAddr(t)
	promURL := "http://" + promAddr
	process(t, prometheus, "--config.file="+promCfg, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	waitFor(t, 30*time.Second, "Prometheus to be ready", func() bool {
		code, _ := get(t, promURL+"/-/ready")
		return code == 200
	})

	// The sweep. The daemon exports each configured soak's running gauge
	// from the start.
	_, page := get(t, daemonURL+"/metrics")
	if _, ok := sample(page, "llmprobe_soak_running", `name="sweep"`); !ok {
		t.Fatal("the daemon exports no llmprobe_soak_running for the configured soak")
	}
	runSoak(t, daemonURL, testSoak)
	waitFor(t, 60*time.Second, "the sweep to finish", func() bool {
		_, page := get(t, daemonURL+"/metrics")
		running, _ := sample(page, "llmprobe_soak_running", `name="sweep"`)
		last, ok := sample(page, "llmprobe_soak_last_run_timestamp_seconds", `name="sweep"`)
		return running == 0 && ok && last > 0
	})
	_, page = get(t, daemonURL+"/metrics")
	if v, ok := sample(page, "llmprobe_soak_last_success_timestamp_seconds", `name="sweep"`); !ok || v <= 0 {
		t.Errorf("the sweep did not succeed (llmprobe_soak_last_success_timestamp_seconds %v); its run: %s", v, lastRun(t, daemonURL))
	}

	// The procedure, twice: the second compares with the first.
	for i := range 2 {
		runSoak(t, daemonURL, testProcedure)
		waitFor(t, 90*time.Second, fmt.Sprintf("procedure %d to finish", i+1), func() bool {
			_, page := get(t, daemonURL+"/metrics")
			running, _ := sample(page, "llmprobe_soak_running", `name="stress"`)
			n, _ := sample(page, "llmprobe_procedure_previous_detected_max_requests_per_second", `name="stress"`)
			_, ok := sample(page, "llmprobe_procedure_last_run_timestamp_seconds", `name="stress"`)
			return running == 0 && ok && (i == 0 || n > 0)
		})
	}
	_, page = get(t, daemonURL+"/metrics")
	if v, ok := sample(page, "llmprobe_procedure_passed", `name="stress"`); !ok || v != 1 {
		t.Errorf("the procedure did not pass (llmprobe_procedure_passed %v)", v)
	}
	for _, m := range []string{"llmprobe_procedure_knee_virtual_users", "llmprobe_procedure_saturation_requests_per_second"} {
		if _, ok := sample(page, m, `name="stress"`); !ok {
			t.Errorf("the procedure found no %s against two slots", m)
		}
	}
	if code, body := get(t, daemonURL+"/"); code != 200 || !strings.Contains(body, `href="/procedures/`) {
		t.Errorf("the status page links no procedure report (HTTP %d)", code)
	} else {
		link := body[strings.Index(body, `href="/procedures/`)+len(`href="`):]
		link = link[:strings.IndexByte(link, '"')]
		if code, report := get(t, daemonURL+link); code != 200 || !strings.Contains(report, "<svg") {
			t.Errorf("GET %s: HTTP %d, no chart in it", link, code)
		}
	}

	// Enough probes and scrapes for rate() over the test's interval, and the
	// sweep's last gauges scraped.
	waitFor(t, 30*time.Second, "probe data in Prometheus", func() bool {
		r, err := promQuery(promURL, `sum(llmprobe_time_to_first_token_seconds_count{phase="probe"})`, time.Now())
		if err != nil || r.empty() {
			return false
		}
		var v struct {
			Value [2]any `json:"value"`
		}
		_ = json.Unmarshal(r.Data.Result[0], &v)
		n, _ := strconv.ParseFloat(fmt.Sprint(v.Value[1]), 64)
		return n >= 10
	})
	time.Sleep(3 * time.Second)
	at := time.Now()

	// The daemon's exposition passes promtool's linter.
	_, page = get(t, daemonURL+"/metrics")
	lint := exec.Command(promtool, "check", "metrics")
	lint.Stdin = strings.NewReader(page)
	if out, err := lint.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics on the daemon's /metrics: %v\n%s", err, out)
	}
	if _, ok := sample(page, "llmprobe_gpu_up"); ok {
		t.Error("llmprobe_gpu_up exported with --no-collector.gpu")
	}

	t.Run("shards", func(t *testing.T) {
		checkShards(t, promURL, at, daemonAddrs[:])
	})
	t.Run("panels", func(t *testing.T) {
		checkPanels(t, promURL, at)
	})
	t.Run("variables", func(t *testing.T) {
		checkVariables(t, promURL)
	})
	t.Run("rules", func(t *testing.T) {
		checkRules(t, promURL, at)
	})
	t.Logf("end-to-end run took %s", time.Since(start).Round(time.Millisecond))
}

// checkShards checks the split of the two daemons: every target's series
// come from exactly one of them, the one its name hashes to, so no
// aggregation over instances (every panel and rule sums or takes the max by
// target) can count a target twice; and each daemon's /api/v1/status names
// its shard.
func checkShards(t *testing.T, promURL string, at time.Time, daemons []string) {
	for i, a := range daemons {
		_, body := get(t, "http://"+a+"/api/v1/status")
		var st struct {
			Shard string `json:"shard"`
		}
		if err := json.Unmarshal([]byte(body), &st); err != nil || st.Shard != fmt.Sprintf("%d/2", i) {
			t.Errorf("daemon %d: /api/v1/status shard %q (%v)", i, st.Shard, err)
		}
	}
	r, err := promQuery(promURL, `group by (target, instance) ({__name__=~"llmprobe_.+", target!=""})`, at)
	if err != nil {
		t.Fatal(err)
	}
	from := map[string][]string{} // target -> instances
	for _, raw := range r.Data.Result {
		var s struct {
			Metric map[string]string `json:"metric"`
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		from[s.Metric["target"]] = append(from[s.Metric["target"]], s.Metric["instance"])
	}
	for _, tg := range []string{testTarget, otherTarget} {
		want := daemons[config.HashMod(tg, 2)]
		if got := from[tg]; len(got) != 1 || got[0] != want {
			t.Errorf("target %s: series from %v, want only from its shard's daemon %s", tg, got, want)
		}
	}
	if len(from) != 2 {
		var got []string
		for tg := range from {
			got = append(got, tg)
		}
		t.Errorf("series of targets %v, want %s and %s", got, testTarget, otherTarget)
	}
}

// twice returns the first series of a query's result that two daemons
// both returned (the same labels but instance), "" when none did.
func twice(r apiResult) string {
	seen := map[string]string{}
	for _, raw := range r.Data.Result {
		var s struct {
			Metric map[string]string `json:"metric"`
		}
		if json.Unmarshal(raw, &s) != nil {
			continue
		}
		inst, ok := s.Metric["instance"]
		if !ok || s.Metric["job"] != "llmprobe" {
			continue // aggregated away, or not a daemon's (the GPU host)
		}
		delete(s.Metric, "instance")
		b, _ := json.Marshal(s.Metric) // sorted keys
		if prev, dup := seen[string(b)]; dup && prev != inst {
			return string(b)
		}
		seen[string(b)] = inst
	}
	return ""
}

// runSoak starts a soak through the API.
func runSoak(t *testing.T, daemonURL, name string) {
	t.Helper()
	resp, err := client.Post(daemonURL+"/api/v1/soaks/"+name+"/run", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("starting soak %s: HTTP %d: %s", name, resp.StatusCode, b)
	}
}

// checkPanels evaluates every panel query twice: with every variable at
// its default (All, i.e. ".*") and with the real label values selected.
func checkPanels(t *testing.T, promURL string, at time.Time) {
	// $__rate_interval as Grafana would compute it for a 15 s scrape
	// interval (4 scrapes): wide enough that the sweep, which ended seconds
	// ago, is inside every window.
	all := dashboards.Defaults()
	all["__rate_interval"] = "1m"
	real := maps(all, map[string]string{"target": testTarget, "model": testModel, "probe": testProbe, "soak": testSoak})
	// Procedure panels, with a soak selected, show the procedure soak.
	realProcedure := maps(real, map[string]string{"soak": testProcedure})
	passes := []struct {
		name string
		vars map[string]string
	}{{"All", all}, {"selected", real}}

	withData := map[dashboards.Need]int{}
	for _, q := range dashboards.Queries() {
		for _, pass := range passes {
			vars := pass.vars
			if q.Needs == dashboards.NeedProcedure && pass.name == "selected" {
				vars = realProcedure
			}
			expr, err := dashboards.Substitute(q.Expr, vars)
			if err != nil {
				t.Errorf("%s: %v", q, err)
				continue
			}
			r, err := promQuery(promURL, expr, at)
			switch {
			case err != nil:
				t.Errorf("%s (%s): query failed: %v\n%s", q, pass.name, err, expr)
			case len(r.Warnings) > 0:
				t.Errorf("%s (%s): warnings %v\n%s", q, pass.name, r.Warnings, expr)
			case r.empty():
				t.Errorf("%s (%s): no data (its data comes from the %s)\n%s", q, pass.name, q.Needs, expr)
			default:
				if dup := twice(r); dup != "" {
					t.Errorf("%s (%s): %s comes from both daemons\n%s", q, pass.name, dup, expr)
				}
				if pass.name == "All" {
					withData[q.Needs]++
				}
			}
		}
	}
	t.Logf("panel queries with data: %d from the probes, %d from the sweep, %d from the GPU fixture, %d from the procedures, %d from the server's metrics page",
		withData[dashboards.NeedProbes], withData[dashboards.NeedSoak], withData[dashboards.NeedGPU],
		withData[dashboards.NeedProcedure], withData[dashboards.NeedServerMetrics])
}

// lastRun returns the daemon's newest archived run, for a failure message.
func lastRun(t *testing.T, daemonURL string) string {
	_, body := get(t, daemonURL+"/api/v1/runs")
	return tail(body, 2000)
}

func maps(base, over map[string]string) map[string]string {
	m := map[string]string{}
	for k, v := range base {
		m[k] = v
	}
	for k, v := range over {
		m[k] = v
	}
	return m
}

// checkVariables runs each label_values() variable as Grafana does, through
// the label values API.
func checkVariables(t *testing.T, promURL string) {
	vqs, err := dashboards.VariableQueries()
	if err != nil {
		t.Fatal(err)
	}
	vars := dashboards.Defaults()
	for _, v := range vqs {
		match, err := dashboards.Substitute(v.Match, vars)
		if err != nil {
			t.Fatal(err)
		}
		_, body := get(t, promURL+"/api/v1/label/"+v.Label+"/values?"+url.Values{"match[]": {match}}.Encode())
		var r struct {
			Status string   `json:"status"`
			Error  string   `json:"error"`
			Data   []string `json:"data"`
		}
		if err := json.Unmarshal([]byte(body), &r); err != nil || r.Status != "success" {
			t.Errorf("%s: variable %s: label_values(%s, %s): %v %s", v.Dashboard, v.Variable, match, v.Label, err, r.Error)
			continue
		}
		if len(r.Data) == 0 {
			t.Errorf("%s: variable %s: label_values(%s, %s) has no values", v.Dashboard, v.Variable, match, v.Label)
		}
	}
}

// checkRules evaluates every rule expression, checks that Prometheus
// evaluates every rule without error, and that nothing fires against a
// healthy simulator.
func checkRules(t *testing.T, promURL string, at time.Time) {
	rules, err := alerts.All()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		res, err := promQuery(promURL, r.Expr, at)
		switch {
		case err != nil:
			t.Errorf("rule %s: %v", r.Name(), err)
		case len(res.Warnings) > 0:
			t.Errorf("rule %s: warnings %v", r.Name(), res.Warnings)
		case r.Record != "" && res.empty():
			t.Errorf("recording rule %s: no data", r.Record)
		case r.Alert != "" && !res.empty():
			t.Errorf("alert %s: expression true against a healthy simulator: %d series", r.Alert, len(res.Data.Result))
		}
	}

	// Prometheus's own evaluation of the loaded rule file.
	_, body := get(t, promURL+"/api/v1/rules")
	var rs struct {
		Data struct {
			Groups []struct {
				Name  string `json:"name"`
				Rules []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
					State     string `json:"state"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &rs); err != nil {
		t.Fatal(err)
	}
	loaded := 0
	for _, g := range rs.Data.Groups {
		for _, r := range g.Rules {
			loaded++
			if r.Health != "ok" {
				t.Errorf("Prometheus evaluates rule %s/%s: health %q: %s", g.Name, r.Name, r.Health, r.LastError)
			}
			if r.State != "" && r.State != "inactive" {
				t.Errorf("alert %s is %s against a healthy simulator", r.Name, r.State)
			}
		}
	}
	if loaded != len(rules) {
		t.Errorf("Prometheus loaded %d rules, the rule file has %d", loaded, len(rules))
	}
	if !slices.ContainsFunc(rules, func(r alerts.Rule) bool { return r.Alert != "" }) {
		t.Error("no alerts in the rule file")
	}
}
