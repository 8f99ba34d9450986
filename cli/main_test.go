package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/daemon"
	"github.com/llmprobe/llmprobe/e2e"
	"github.com/llmprobe/llmprobe/sim"
	"github.com/llmprobe/llmprobe/sim/simtest"
)

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// daemonUnderTest is a running `llmprobe run` in this process.
type daemonUnderTest struct {
	addr string
	cfg  string // the config file, for reload tests
	sigs chan os.Signal
	done chan int
	logs *syncBuffer
}

func startDaemon(t *testing.T, configYAML string, extra ...string) *daemonUnderTest {
	t.Helper()
	d := startDaemonNoWait(t, configYAML, extra...)
	d.waitHealthy(t)
	return d
}

// startDaemonNoWait starts the daemon without waiting for it to answer
// (for web configs that need credentials).
func startDaemonNoWait(t *testing.T, configYAML string, extra ...string) *daemonUnderTest {
	t.Helper()
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "llmprobe.yaml")
	if err := os.WriteFile(cfgFile, []byte(configYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	d := &daemonUnderTest{addr: freeAddr(t), cfg: cfgFile, sigs: make(chan os.Signal, 1), done: make(chan int, 1), logs: &syncBuffer{}}
	args := append([]string{"run", "--config.file=" + cfgFile, "--web.listen-address=" + d.addr, "--no-collector.gpu", "--log.level=debug"}, extra...)
	go func() { d.done <- runWith(args, io.Discard, d.logs, d.sigs) }()
	t.Cleanup(func() {
		d.sigs <- syscall.SIGTERM
		select {
		case code := <-d.done:
			if code != 0 {
				t.Errorf("daemon exited %d", code)
			}
		case <-time.After(20 * time.Second):
			t.Error("daemon did not stop within 20s of SIGTERM")
		}
	})
	return d
}

func (d *daemonUnderTest) waitHealthy(t *testing.T) {
	t.Helper()
	waitFor(t, 10*time.Second, "daemon to listen", func() bool {
		resp, err := http.Get("http://" + d.addr + "/-/healthy")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

func (d *daemonUnderTest) get(t *testing.T, path string) string {
	t.Helper()
	resp, err := http.Get("http://" + d.addr + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// metric returns the value of the series whose name and labels are exactly
// line's prefix (as written on /metrics), or -1.
func metric(page, series string) float64 {
	sc := bufio.NewScanner(strings.NewReader(page))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if rest, ok := strings.CutPrefix(l, series+" "); ok {
			var v float64
			fmt.Sscan(rest, &v)
			return v
		}
	}
	return -1
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("targets:\n  - name: a\n    url: http://127.0.0.1:1\n    model: m\n    timeout: 5x\n"), 0o600)
	var stdout, stderr bytes.Buffer
	if code := runWith([]string{"check-config", bad}, &stdout, &stderr, nil); code != exitConfig {
		t.Fatalf("exit code %d, want %d; stderr: %s", code, exitConfig, stderr.String())
	}
	if want := bad + ":5: targets[0].timeout:"; !strings.Contains(stderr.String(), want) {
		t.Fatalf("stderr %q does not name file, line and field (%q)", stderr.String(), want)
	}
	stdout.Reset()
	stderr.Reset()
	if code := runWith([]string{"check-config", "../config.example.yaml"}, &stdout, &stderr, nil); code != 0 {
		t.Fatalf("config.example.yaml: exit %d: %s", code, stderr.String())
	}
	// The daemon refuses to start on a bad config, with the same exit code.
	if code := runWith([]string{"run", "--config.file=" + bad}, io.Discard, &stderr, nil); code != exitConfig {
		t.Fatalf("daemon on a bad config exited %d, want %d", code, exitConfig)
	}
}

// TestMeasuredLatencyMatchesSimulator checks the whole path (scheduler,
// workload, client, collector) against a simulator whose TTFT and ITL are
// known exactly. The tolerances allow for a noisy 2-core CI machine; the
// load package's benchmark holds the strict numbers.
func TestMeasuredLatencyMatchesSimulator(t *testing.T) {
	simURL := simtest.Start(t, sim.Config{TTFT: 100 * time.Millisecond, ITL: 10 * time.Millisecond, OutputTokens: 40})
	d := startDaemon(t, fmt.Sprintf(`
global: {probe_jitter: 0s}
targets:
  - {name: sim, url: %q, model: sim-model}
workloads:
  - {name: w, prompt: hello, output_tokens: {num_tokens: 40}}
probes:
  - {name: accuracy, targets: [sim], workload: w, schedule: "@every 1m", requests: 9}
`, simURL))
	var ttfts []float64
	waitFor(t, 20*time.Second, "9 probe requests", func() bool {
		var st struct {
			Probes []daemon.Status `json:"probes"`
		}
		if err := json.Unmarshal([]byte(d.get(t, "/api/v1/status")), &st); err != nil || len(st.Probes) != 1 || st.Probes[0].Last == nil {
			return false
		}
		for _, r := range st.Probes[0].Last.Records {
			if !r.Success() {
				t.Fatalf("probe request failed: %s %s", r.Result, r.Error)
			}
		}
		page := d.get(t, "/metrics")
		return metric(page, `llmprobe_time_to_first_token_seconds_count{model="sim-model",name="accuracy",phase="probe",target="sim"}`) >= 9
	})
	// Collect every record the daemon kept (the last run) plus the
	// histogram sums for the rest.
	var st struct {
		Probes []daemon.Status `json:"probes"`
	}
	json.Unmarshal([]byte(d.get(t, "/api/v1/status")), &st)
	for _, r := range st.Probes[0].Last.Records {
		d, _ := r.TTFT()
		ttfts = append(ttfts, d.Seconds())
		if r.OutputTokens != 40 || !r.UsageReported {
			t.Errorf("record has %d output tokens (usage %v), want 40 from usage", r.OutputTokens, r.UsageReported)
		}
	}
	page := d.get(t, "/metrics")
	lbl := `{model="sim-model",name="accuracy",phase="probe",target="sim"}`
	n := metric(page, "llmprobe_time_to_first_token_seconds_count"+lbl)
	meanTTFT := metric(page, "llmprobe_time_to_first_token_seconds_sum"+lbl) / n
	meanITL := metric(page, "llmprobe_inter_token_latency_seconds_sum"+lbl) / metric(page, "llmprobe_inter_token_latency_seconds_count"+lbl)
	if c := metric(page, "llmprobe_inter_token_latency_seconds_count"+lbl); c != n*39 {
		t.Errorf("ITL samples = %v, want %v (39 gaps per request)", c, n*39)
	}
	slices.Sort(ttfts)
	medTTFT := ttfts[len(ttfts)/2]
	t.Logf("TTFT median of last run %.4fs, mean over %v requests %.4fs; ITL mean %.5fs", medTTFT, n, meanTTFT, meanITL)
	if medTTFT < 0.100 || medTTFT > 0.110 {
		t.Errorf("TTFT median %.4fs, want within 10ms above 100ms", medTTFT)
	}
	if meanITL < 0.008 || meanITL > 0.012 {
		t.Errorf("ITL mean %.5fs, want 10ms ± 2ms", meanITL)
	}
	// Each request's median ITL, through /probe (mean over the run's 9
	// requests of their medians).
	adhoc := d.get(t, "/probe?target=sim&module=accuracy")
	if v := metric(adhoc, "llmprobe_probe_inter_token_latency_seconds"); v < 0.008 || v > 0.012 {
		t.Errorf("median ITL %.5fs, want 10ms ± 2ms", v)
	}
}

func TestFailuresAreMeasuredAndDaemonSurvives(t *testing.T) {
	refused := "http://" + freeAddr(t) // nothing listens there
	s500 := simtest.Start(t, sim.Config{TTFT: time.Millisecond, ITL: time.Millisecond, Faults: sim.Faults{HTTP500: 1}})
	cut := simtest.Start(t, sim.Config{TTFT: time.Millisecond, ITL: time.Millisecond, OutputTokens: 20, Faults: sim.Faults{Disconnect: 1}})
	stall := simtest.Start(t, sim.Config{TTFT: time.Millisecond, ITL: time.Millisecond, OutputTokens: 20, Faults: sim.Faults{Stall: 1}})
	d := startDaemon(t, fmt.Sprintf(`
global: {probe_jitter: 0s}
targets:
  - {name: refused, url: %q, model: sim-model}
  - {name: err500, url: %q, model: sim-model}
  - {name: cut, url: %q, model: sim-model}
  - {name: stall, url: %q, model: sim-model, timeout: 5s, idle_timeout: 300ms}
workloads:
  - {name: w, prompt: hello}
probes:
  - {name: p, targets: [refused, err500, cut, stall], workload: w, schedule: "@every 1s"}
`, refused, s500, cut, stall))
	want := map[string]string{"refused": "connection", "err500": "http_5xx", "cut": "connection", "stall": "timeout"}
	for target, result := range want {
		series := fmt.Sprintf(`llmprobe_requests_total{model="sim-model",name="p",phase="probe",result=%q,target=%q}`, result, target)
		waitFor(t, 10*time.Second, series, func() bool { return metric(d.get(t, "/metrics"), series) >= 1 })
		page := d.get(t, "/metrics")
		if v := metric(page, fmt.Sprintf(`llmprobe_probe_success{name="p",target=%q}`, target)); v != 0 {
			t.Errorf("%s: probe_success = %v, want 0", target, v)
		}
		if v := metric(page, fmt.Sprintf(`llmprobe_requests_total{model="sim-model",name="p",phase="probe",result="success",target=%q}`, target)); v != 0 {
			t.Errorf("%s: %v successes, want 0", target, v)
		}
	}
	if !strings.Contains(d.logs.String(), "probe failed") {
		t.Error("failures were not logged")
	}
}

func TestReloadKeepsOldConfigOnError(t *testing.T) {
	simURL := simtest.Start(t, sim.Config{TTFT: time.Millisecond, ITL: time.Millisecond, OutputTokens: 4})
	good := fmt.Sprintf(`
targets: [{name: a, url: %q, model: sim-model}]
workloads: [{name: w}]
probes: [{name: p, targets: [a], workload: w, schedule: "@every 1s"}]
`, simURL)
	d := startDaemon(t, good)
	waitFor(t, 10*time.Second, "a probe", func() bool {
		return metric(d.get(t, "/metrics"), `llmprobe_probe_success{name="p",target="a"}`) == 1
	})
	cfgFile := d.cfg
	os.WriteFile(cfgFile, []byte("targets: [{name: a, url: ftp://x, model: m}]\n"), 0o600)
	d.sigs <- syscall.SIGHUP
	waitFor(t, 5*time.Second, "failed reload", func() bool {
		return metric(d.get(t, "/metrics"), "llmprobe_config_last_reload_successful") == 0
	})
	if !strings.Contains(d.logs.String(), "keeping the running config") {
		t.Error("failed reload not logged")
	}
	// The old probe still runs.
	before := metric(d.get(t, "/metrics"), `llmprobe_probe_last_timestamp_seconds{name="p",target="a"}`)
	waitFor(t, 5*time.Second, "probe to run again", func() bool {
		return metric(d.get(t, "/metrics"), `llmprobe_probe_last_timestamp_seconds{name="p",target="a"}`) > before
	})
	// A good config that renames the probe replaces it; the old series go.
	os.WriteFile(cfgFile, []byte(strings.ReplaceAll(good, "name: p,", "name: q,")), 0o600)
	d.sigs <- syscall.SIGHUP
	waitFor(t, 5*time.Second, "successful reload", func() bool {
		page := d.get(t, "/metrics")
		return metric(page, "llmprobe_config_last_reload_successful") == 1 &&
			metric(page, `llmprobe_probe_success{name="p",target="a"}`) == -1 &&
			metric(page, `llmprobe_probe_success{name="q",target="a"}`) == 1
	})
}

// TestPromtoolCheckMetrics runs the real promtool over the daemon's /metrics.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool := e2e.ToolPath(t, "promtool")
	simURL := simtest.Start(t, sim.Config{TTFT: time.Millisecond, ITL: time.Millisecond, OutputTokens: 8})
	d := startDaemon(t, fmt.Sprintf(`
targets: [{name: a, url: %q, model: sim-model}]
workloads: [{name: w}]
probes: [{name: p, targets: [a], workload: w, schedule: "@every 1s", slo: {ttft: 300ms}}]
`, simURL))
	waitFor(t, 10*time.Second, "a probe", func() bool {
		return metric(d.get(t, "/metrics"), `llmprobe_probe_success{name="p",target="a"}`) == 1
	})
	page := d.get(t, "/metrics")
	last := metric(page, `llmprobe_probe_last_timestamp_seconds{name="p",target="a"}`)
	next := metric(page, `llmprobe_probe_next_run_timestamp_seconds{name="p",target="a"}`)
	if next <= last-1 || next > float64(time.Now().Unix())+2 {
		t.Errorf("next run %v, last run %v: want the next second after the last run", next, last)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(d.get(t, "/metrics"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestDemo runs the README's first command as a user would and checks its
// promise: within 15 s, /metrics shows TTFT, ITL and E2E observations.
func TestDemo(t *testing.T) {
	addr := freeAddr(t)
	sigs := make(chan os.Signal, 1)
	done := make(chan int, 1)
	var out syncBuffer
	go func() {
		done <- runWith([]string{"demo", "--web.listen-address=" + addr, "--no-collector.gpu"}, &out, io.Discard, sigs)
	}()
	start := time.Now()
	series := []string{
		`llmprobe_time_to_first_token_seconds_count{model="sim-model",name="heartbeat",phase="probe",target="demo-chat"}`,
		`llmprobe_inter_token_latency_seconds_count{model="sim-model",name="heartbeat",phase="probe",target="demo-chat"}`,
		`llmprobe_request_duration_seconds_count{model="sim-model",name="heartbeat",phase="probe",target="demo-completions"}`,
	}
	waitFor(t, 15*time.Second, "demo metrics", func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, s := range series {
			if metric(string(b), s) <= 0 {
				return false
			}
		}
		return true
	})
	t.Logf("demo metrics non-zero after %s", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(out.String(), "/metrics") {
		t.Errorf("demo did not print where /metrics is: %q", out.String())
	}
	sigs <- syscall.SIGTERM
	if code := <-done; code != 0 {
		t.Fatalf("demo exited %d", code)
	}
}
