package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/sim"
	"github.com/llmprobe/llmprobe/sim/simtest"
)

func post(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = fmt.Fprint(&b, resp.Status)
	buf := make([]byte, 4096)
	n, _ := resp.Body.Read(buf)
	return resp.StatusCode, string(buf[:n])
}

// probeConfig needs LLMPROBE_TEST_KEY set.
func probeConfig(simURL string) string {
	return fmt.Sprintf(`
global: {probe_jitter: 0s}
targets:
  - {name: a, url: %q, model: sim-model, api_key_env: LLMPROBE_TEST_KEY}
  - {name: b, url: %q, model: sim-model}
workloads: [{name: w}]
probes:
  - {name: p, targets: [a, b], workload: w, schedule: "@every 1h", slo: {ttft: 5s}}
  - {name: q, targets: [b], workload: w, schedule: "@every 1h"}
`, simURL, simURL)
}

// countingListener accepts and counts connections: a /probe that is
// refused must make none.
func countingListener(t *testing.T) (addr string, conns *atomic.Int32) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	conns = new(atomic.Int32)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			c.Close()
		}
	}()
	return l.Addr().String(), conns
}

func TestProbeEndpoint(t *testing.T) {
	const canary = "sk-canary-7f3e9b1d"
	keyFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(keyFile, []byte(canary+"\n"), 0o600)
	simURL := simtest.Start(t, sim.Config{TTFT: 20 * time.Millisecond, ITL: time.Millisecond, OutputTokens: 8})
	cfg := strings.Replace(probeConfig(simURL), "api_key_env: LLMPROBE_TEST_KEY", "api_key_file: "+keyFile, 1)
	d := startDaemon(t, cfg)
	other, conns := countingListener(t)

	waitFor(t, 10*time.Second, "the scheduled runs", func() bool {
		page := d.get(t, "/metrics")
		return metric(page, `llmprobe_probe_success{name="p",target="a"}`) == 1 && metric(page, `llmprobe_probe_success{name="q",target="b"}`) == 1
	})
	page := d.get(t, "/probe?target=a&module=p")
	for series, want := range map[string]float64{
		"llmprobe_probe_success":         1,
		"llmprobe_probe_output_tokens":   8,
		"llmprobe_probe_requests":        1,
		"llmprobe_probe_failed_requests": 0,
	} {
		if got := metric(page, series); got != want {
			t.Errorf("%s = %v, want %v\n%s", series, got, want, page)
		}
	}
	if v := metric(page, "llmprobe_probe_time_to_first_token_seconds"); v < 0.02 || v > 0.5 {
		t.Errorf("TTFT %v, want about 20ms", v)
	}
	// The only probe of a target may be left out; an ambiguous one may not.
	if got := metric(d.get(t, "/probe?target=a"), "llmprobe_probe_success"); got != 1 {
		t.Errorf("probe without module: success %v", got)
	}
	for _, q := range []string{"target=b", "target=http://" + other + "/", "target=" + other, "target=zzz&module=p", "module=p", "target=a&module=q", "target=a&module=http://" + other} {
		resp, err := http.Get("http://" + d.addr + "/probe?" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("/probe?%s: status %d, want 400", q, resp.StatusCode)
		}
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("refused /probe requests made %d connections", n)
	}
	dbg := d.get(t, "/probe?target=a&module=p&debug=true")
	if !strings.Contains(dbg, "Authorization: Bearer <secret>") || !strings.Contains(dbg, "result=success") {
		t.Errorf("debug output lacks the request or result:\n%s", dbg)
	}
	for _, body := range []string{dbg, page, d.get(t, "/metrics"), d.get(t, "/"), d.get(t, "/api/v1/status"), d.logs.String()} {
		if strings.Contains(body, canary) {
			t.Fatal("the API key leaked into a page or the logs")
		}
	}
	// Ad-hoc probes do not feed the scheduled series.
	if v := metric(d.get(t, "/metrics"), `llmprobe_requests_total{model="sim-model",name="p",phase="probe",result="success",target="a"}`); v != 1 {
		t.Errorf("scheduled success count for a = %v, want 1 (only the scheduled run)", v)
	}
}

func TestReloadEndpointNeedsAuthOrOptIn(t *testing.T) {
	t.Setenv("LLMPROBE_TEST_KEY", "k")
	simURL := simtest.Start(t, sim.Config{TTFT: time.Millisecond, ITL: time.Millisecond, OutputTokens: 2})
	d := startDaemon(t, probeConfig(simURL))
	if code, body := post(t, "http://"+d.addr+"/-/reload"); code != http.StatusForbidden {
		t.Fatalf("unauthenticated reload: %d %s, want 403", code, body)
	}

	open := startDaemon(t, probeConfig(simURL), "--web.enable-unauthenticated-writes")
	if resp, err := http.Get("http://" + open.addr + "/-/reload"); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET /-/reload: %v %v, want 405", resp.StatusCode, err)
	}
	if code, body := post(t, "http://"+open.addr+"/-/reload"); code != http.StatusOK {
		t.Fatalf("reload: %d %s", code, body)
	}
	os.WriteFile(open.cfg, []byte("targets: [{name: a, url: ftp://x, model: m}]\n"), 0o600)
	if code, body := post(t, "http://"+open.addr+"/-/reload"); code != http.StatusBadRequest || !strings.Contains(body, "targets[0].url") {
		t.Fatalf("bad reload: %d %s, want 400 naming the field", code, body)
	}
	if v := metric(open.get(t, "/metrics"), "llmprobe_config_last_reload_successful"); v != 0 {
		t.Fatalf("reload gauge %v after a failed reload", v)
	}
}

func TestReloadEndpointWithBasicAuth(t *testing.T) {
	t.Setenv("LLMPROBE_TEST_KEY", "k")
	simURL := simtest.Start(t, sim.Config{TTFT: time.Millisecond, ITL: time.Millisecond, OutputTokens: 2})
	webCfg := filepath.Join(t.TempDir(), "web.yml")
	// bcrypt of "pw" (cost 4, to keep the test fast)
	os.WriteFile(webCfg, []byte("basic_auth_users:\n  admin: $2a$04$cULaIcUPThbLtT43J0hRPe.hKDERiDghILQXnPmBIQnhjlRJnIXTS\n"), 0o600)
	d := startDaemonNoWait(t, probeConfig(simURL), "--web.config.file="+webCfg)
	waitFor(t, 10*time.Second, "daemon", func() bool {
		req, _ := http.NewRequest(http.MethodGet, "http://"+d.addr+"/-/healthy", nil)
		req.SetBasicAuth("admin", "pw")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	if code, _ := post(t, "http://"+d.addr+"/-/reload"); code != http.StatusUnauthorized {
		t.Fatalf("reload without credentials: %d, want 401", code)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+d.addr+"/-/reload", nil)
	req.SetBasicAuth("admin", "pw")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("authenticated reload: %d", resp.StatusCode)
	}
}

func TestStatusPage(t *testing.T) {
	t.Setenv("LLMPROBE_TEST_KEY", "k")
	simURL := simtest.Start(t, sim.Config{TTFT: time.Millisecond, ITL: time.Millisecond, OutputTokens: 2})
	d := startDaemon(t, probeConfig(simURL))
	waitFor(t, 10*time.Second, "probes", func() bool {
		return metric(d.get(t, "/metrics"), `llmprobe_probe_success{name="q",target="b"}`) == 1
	})
	page := d.get(t, "/")
	for _, want := range []string{`data-target="a"`, `data-target="b"`, "success", "sim-model"} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	// No external assets (no CDN): nothing is loaded from anywhere.
	for _, asset := range []string{"<script", "<link", `src="`, "@import", "url("} {
		if strings.Contains(page, asset) {
			t.Errorf("status page loads an asset (%s)", asset)
		}
	}
}

// TestStatusPageInChromium renders the status page in a real headless
// browser and checks that it shows every target.
func TestStatusPageInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium not found: scripts/install-tools.sh installs it")
		}
		t.Skip("chromium not installed; scripts/install-tools.sh installs it")
	}
	t.Setenv("LLMPROBE_TEST_KEY", "k")
	simURL := simtest.Start(t, sim.Config{TTFT: 5 * time.Millisecond, ITL: 2 * time.Millisecond, OutputTokens: 8, MaxConcurrency: 2})
	d := startSweepDaemon(t, simURL)
	dir := t.TempDir()
	shot := filepath.Join(dir, "status.png")
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + filepath.Join(dir, "profile"), "--window-size=1200,700"}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	dom, err := exec.CommandContext(ctx, chromium, append(args, "--dump-dom", "http://"+d.addr+"/")...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	for _, want := range []string{`<tr class="target" data-target="a">`, `<tr class="target" data-target="b">`, `<span class="ok">success</span>`,
		`<tr class="soak" data-soak="sweep" data-target="b">`, `<svg id="sweep-chart"`, `class="step"`} {
		if !strings.Contains(string(dom), want) {
			t.Errorf("rendered page lacks %s", want)
		}
	}
	if out, err := exec.CommandContext(ctx, chromium, append(args, "--screenshot="+shot, "http://"+d.addr+"/")...).CombinedOutput(); err != nil {
		t.Fatalf("chromium --screenshot: %v\n%s", err, out)
	}
	if fi, err := os.Stat(shot); err != nil || fi.Size() < 5000 {
		t.Fatalf("screenshot missing or blank: %v", err)
	}
	if p := os.Getenv("LLMPROBE_SCREENSHOT"); p != "" {
		b, _ := os.ReadFile(shot)
		os.WriteFile(p, b, 0o644)
	}
}

// startSweepDaemon runs the probe config plus a short sweep soak on target
// b, starts the sweep and waits for it and the probes to finish.
func startSweepDaemon(t *testing.T, simURL string) *daemonUnderTest {
	t.Helper()
	cfg := probeConfig(simURL) + fmt.Sprintf(`
global: {probe_jitter: 0s, data_dir: %q}
soaks:
  - {name: sweep, targets: [b], workload: w, mode: sweep, max_vus: 2, num_rates: 3, duration: 1s, seed: 1}
`, t.TempDir())
	cfg = strings.Replace(cfg, "global: {probe_jitter: 0s}\n", "", 1)
	d := startDaemon(t, cfg, "--web.enable-unauthenticated-writes")
	if code, body := post(t, "http://"+d.addr+"/api/v1/soaks/sweep/run"); code != http.StatusAccepted {
		t.Fatalf("starting the sweep: %d %s", code, body)
	}
	waitFor(t, 60*time.Second, "the sweep and the probes", func() bool {
		page := d.get(t, "/metrics")
		return metric(page, `llmprobe_soak_running{name="sweep",target="b"}`) == 0 &&
			metric(page, `llmprobe_soak_last_run_timestamp_seconds{name="sweep",target="b"}`) > 0 &&
			metric(page, `llmprobe_probe_success{name="q",target="b"}`) == 1
	})
	return d
}

func TestStatusPageShowsSoaks(t *testing.T) {
	t.Setenv("LLMPROBE_TEST_KEY", "k")
	simURL := simtest.Start(t, sim.Config{TTFT: 5 * time.Millisecond, ITL: 2 * time.Millisecond, OutputTokens: 8, MaxConcurrency: 2})
	d := startSweepDaemon(t, simURL)
	page := d.get(t, "/")
	for _, want := range []string{`data-soak="sweep"`, `<svg id="sweep-chart"`, `href="/api/v1/runs/`, "/timeline"} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	if n := strings.Count(page, `class="step"`); n < 2 {
		t.Errorf("sweep chart has %d points", n)
	}
}

// TestProbeEndpointHonoursScrapeTimeout: a target slower than Prometheus's
// scrape timeout gives a failed probe in time, not a failed scrape.
func TestProbeEndpointHonoursScrapeTimeout(t *testing.T) {
	t.Setenv("LLMPROBE_TEST_KEY", "k")
	slow := simtest.Start(t, sim.Config{TTFT: 10 * time.Second, ITL: time.Millisecond, OutputTokens: 2})
	d := startDaemon(t, probeConfig(slow))
	req, _ := http.NewRequest(http.MethodGet, "http://"+d.addr+"/probe?target=a&module=p", nil)
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "2")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if took := time.Since(start); took > 1900*time.Millisecond {
		t.Errorf("probe answered after %s, past the 2s scrape timeout", took)
	}
	if v := metric(string(b), "llmprobe_probe_success"); v != 0 {
		t.Errorf("probe_success = %v, want 0\n%s", v, b)
	}
}
