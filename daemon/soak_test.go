package daemon

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/llmprobe/llmprobe/archive"
	"github.com/llmprobe/llmprobe/collector"
	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/sim"
	"github.com/llmprobe/llmprobe/sim/simtest"
)

type soakEnv struct {
	reg   *prometheus.Registry
	soaks *Soaks
	arch  *archive.Archive
	dir   string
	url   string
}

func newSoakEnv(t *testing.T, cfg *config.Config, dir string) *soakEnv {
	t.Helper()
	reg := prometheus.NewRegistry()
	arch, err := archive.Open(dir, archive.Retention{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSoaks(slog.New(slog.NewTextHandler(io.Discard, nil)), collector.New(reg, collector.Options{}),
		collector.NewSoakMetrics(reg), arch, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &soakEnv{reg: reg, soaks: s, arch: arch, dir: dir}
}

func soakConfig(t *testing.T, simURL, soaks string) *config.Config {
	return loadConfig(t, fmt.Sprintf(`
targets:
  - {name: a, url: %q, model: sim-model}
workloads:
  - {name: w, prompt: hi, output_tokens: {num_tokens: 5}}
soaks:
%s`, simURL, soaks))
}

func waitIdle(t *testing.T, s *Soaks, within time.Duration) {
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

func TestSoaksScheduledSweepOneAtATime(t *testing.T) {
	url := simtest.Start(t, sim.Config{TTFT: 5 * time.Millisecond, ITL: 2 * time.Millisecond, MaxConcurrency: 2})
	cfg := soakConfig(t, url, `
  - {name: sweep, targets: [a], workload: w, schedule: "@every 1s", mode: sweep, max_vus: 4, num_rates: 2, duration: 300ms}
  - {name: other, targets: [a], workload: w, mode: throughput, vus: 2, duration: 300ms}
`)
	env := newSoakEnv(t, cfg, t.TempDir())
	defer env.soaks.Stop(time.Second)
	if _, _, err := env.soaks.RunNow("other", ""); err != nil {
		t.Fatal(err)
	}
	// the scheduled sweep fires within a second or two
	deadline := time.Now().Add(8 * time.Second)
	var runs []archive.Run
	for {
		runs, _ = env.arch.List()
		sweeps := 0
		for _, r := range runs {
			if r.Name == "sweep" {
				sweeps++
			}
		}
		if sweeps >= 1 && len(runs) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("runs %+v", runs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	env.soaks.Stop(2 * time.Second)
	runs, _ = env.arch.List()
	// one soak at a time per target: no two runs overlap
	for i := range runs {
		for k := i + 1; k < len(runs); k++ {
			a, b := runs[i], runs[k]
			if a.Started.Before(b.Ended) && b.Started.Before(a.Ended) {
				t.Errorf("runs overlap on one target: %s [%v, %v] and %s [%v, %v]", a.ID, a.Started, a.Ended, b.ID, b.Started, b.Ended)
			}
		}
	}
	if got := counterValue(t, env.reg, "llmprobe_sweep_step_offered_requests_per_second", map[string]string{"step": "2"}); got <= 0 {
		t.Errorf("no step gauge for step 2 (%v)", got)
	}
	if got := counterValue(t, env.reg, "llmprobe_detected_max_throughput_requests_per_second", nil); got <= 0 {
		t.Errorf("detected max %v", got)
	}
}

// Stop ends a running soak, gives its requests the grace period, and
// archives a complete result marked interrupted.
func TestStopArchivesInterruptedResult(t *testing.T) {
	url := simtest.Start(t, sim.Config{TTFT: 5 * time.Millisecond, ITL: 20 * time.Millisecond, OutputTokens: 10})
	cfg := soakConfig(t, url, `
  - {name: long, targets: [a], workload: w, mode: rate, rates: [20], duration: 1h}
`)
	cfg.Workloads[0].OutputTokens.NumTokens = 10 // 200 ms a request
	env := newSoakEnv(t, cfg, t.TempDir())
	if _, _, err := env.soaks.RunNow("long", "a"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	env.soaks.Stop(100 * time.Millisecond)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Stop took %v", took)
	}
	runs, err := env.arch.List()
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs %+v: %v", runs, err)
	}
	if r := runs[0]; r.Status != load.StatusInterrupted || r.Passed || r.Requests == 0 {
		t.Errorf("run %+v", r)
	}
	if _, _, err := env.soaks.RunNow("long", "a"); err == nil {
		t.Error("a soak started after Stop")
	}
}

const killChildEnv = "LLMPROBE_TEST_SOAK_CHILD_DIR"

// Killing the daemon in the middle of a soak leaves no partial result:
// the listing is empty and clean, and the next Open removes the leftovers.
func TestKillMidSoakLeavesNoPartialResult(t *testing.T) {
	if dir := os.Getenv(killChildEnv); dir != "" {
		killChild(t, dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillMidSoakLeavesNoPartialResult$", "-test.v")
	cmd.Env = append(os.Environ(), killChildEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	ready := false
	for sc.Scan() {
		if strings.Contains(sc.Text(), "SOAKING") {
			ready = true
			break
		}
	}
	if !ready {
		_ = cmd.Process.Kill()
		t.Fatal("the child never started soaking")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	var names []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		names = append(names, e.Name())
		if !strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("kill left %s, not a temporary file", e.Name())
		}
	}
	if len(names) == 0 {
		t.Error("the child wrote no timeline: the test proves nothing")
	}
	a, err := archive.Open(dir, archive.Retention{})
	if err != nil {
		t.Fatal(err)
	}
	if runs, err := a.List(); err != nil || len(runs) != 0 {
		t.Errorf("listing after kill: %+v %v", runs, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("Open left %d files", len(ents))
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*.json")); len(m) != 0 {
		t.Errorf("result files %v", m)
	}
}

func killChild(t *testing.T, dir string) {
	url := simtest.Start(t, sim.Config{TTFT: time.Millisecond, ITL: time.Millisecond})
	cfg := soakConfig(t, url, `
  - {name: long, targets: [a], workload: w, mode: rate, rates: [200], duration: 1h}
`)
	env := newSoakEnv(t, cfg, dir)
	if _, _, err := env.soaks.RunNow("long", ""); err != nil {
		t.Fatal(err)
	}
	// wait until timeline entries reach the disk (past the write buffer)
	for {
		if m, _ := filepath.Glob(filepath.Join(dir, ".tmp-*")); len(m) == 1 {
			if fi, err := os.Stat(m[0]); err == nil && fi.Size() > 0 {
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println("SOAKING")
	time.Sleep(time.Minute) // killed here
}
