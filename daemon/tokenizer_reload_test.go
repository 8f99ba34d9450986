package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/llmprobe/llmprobe/collector"
	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/sim"
)

// requestsTotal sums llmprobe_requests_total.
func requestsTotal(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() == "llmprobe_requests_total" {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

// A reload whose workload names a tokenizer.json on which the tokenizer
// library calls log.Fatal is refused, naming the file, and the running
// probes go on, in this process: the test binary is the daemon, so a
// tokenizer read in-process would have ended it.
func TestReloadRefusesATokenizerTheLibraryDiesOn(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, addr, err := sim.Listen(ctx, "127.0.0.1:0", sim.Config{TTFT: time.Millisecond, ITL: time.Millisecond, OutputTokens: 2})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good, err := os.ReadFile("../tokenizer/testdata/bpe-tokenizer.json")
	if err != nil {
		t.Fatal(err)
	}
	// OnlySecond truncation of a single text ends in log.Fatal in
	// github.com/sugarme/tokenizer's TruncateEncodings ("Truncation error:
	// Second sequence not provided"); the tokenizer package's tests show
	// that it ends the process that reads the file.
	var m map[string]any
	if err := json.Unmarshal(good, &m); err != nil {
		t.Fatal(err)
	}
	m["truncation"] = map[string]any{"direction": "Right", "max_length": 1, "strategy": "OnlySecond", "stride": 0}
	bad, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	goodPath, badPath, swapPath := filepath.Join(dir, "good.json"), filepath.Join(dir, "bad.json"), filepath.Join(dir, "swap.json")
	for p, b := range map[string][]byte{goodPath: good, badPath: bad, swapPath: good} {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfgWith := func(tokenizer string) string {
		return fmt.Sprintf(`
targets:
  - {name: a, url: "http://%s", model: sim-model}
workloads: [{name: w, input_tokens: 16, tokenizer: %q, output_tokens: 2}]
probes:
  - {name: p, targets: [a], workload: w, schedule: "@every 1s"}
`, addr, tokenizer)
	}

	reg := prometheus.NewRegistry()
	d := New(slog.New(slog.NewTextHandler(io.Discard, nil)), collector.New(reg, collector.Options{}), 0)
	defer d.Stop(time.Second)
	if err := d.Apply(loadConfig(t, cfgWith(goodPath))); err != nil {
		t.Fatal(err)
	}
	running := d.jobs["p/a"]
	waitRequests := func(min float64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for requestsTotal(t, reg) < min {
			if time.Now().After(deadline) {
				t.Fatalf("%v requests, want at least %v", requestsTotal(t, reg), min)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitRequests(1)

	// A reload as the daemon does one: the config is loaded (and so
	// validated), then applied. Validation refuses the bad file.
	_, err = config.Load([]byte(cfgWith(badPath)), "test.yaml")
	if err == nil || !strings.Contains(err.Error(), badPath+": not a usable tokenizer.json: the tokenizer library crashed on it: Truncation error: Second sequence not provided") {
		t.Fatalf("reload with %s: %v, want it refused naming the file and quoting the library", badPath, err)
	}

	// A file that turns bad between validation and Apply is refused by
	// Apply, which changes nothing.
	next := loadConfig(t, cfgWith(swapPath))
	if err := os.WriteFile(swapPath, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.Apply(next); err == nil || !strings.Contains(err.Error(), swapPath+": not a usable tokenizer.json") {
		t.Fatalf("Apply with %s turned bad: %v, want it refused naming the file", swapPath, err)
	}
	if d.jobs["p/a"] != running || len(d.jobs) != 1 {
		t.Fatalf("jobs after refused reloads: %v, want the running p/a only", d.jobs)
	}
	if d.Config().Workloads[0].Tokenizer != goodPath {
		t.Fatalf("running config's tokenizer is %s", d.Config().Workloads[0].Tokenizer)
	}
	// The old probe keeps running.
	waitRequests(requestsTotal(t, reg) + 2)
}
