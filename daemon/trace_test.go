package daemon

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/sim"
	"github.com/llmprobe/llmprobe/sim/simtest"
)

// A soak in trace mode replays its trace against the target on demand:
// every request of the window at its time, archived like any soak.
func TestTraceSoak(t *testing.T) {
	url := simtest.Start(t, sim.Config{TTFT: time.Millisecond, ITL: time.Millisecond})
	dir := t.TempDir()
	var b strings.Builder
	for i := range 30 {
		fmt.Fprintf(&b, `{"timestamp": %d, "input_length": %d, "output_length": 4, "hash_ids": [0, %d]}`+"\n", i*100, 600+i, i+1)
	}
	trace := filepath.Join(dir, "trace.jsonl")
	if err := os.WriteFile(trace, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := loadConfig(t, fmt.Sprintf(`
targets:
  - {name: a, url: %q, model: sim-model}
workloads:
  - {name: replay}
soaks:
  - {name: replay, targets: [a], workload: replay, mode: trace, trace: {file: %q, speed: 10, end: 2s}}
`, url, trace))
	env := newSoakEnv(t, cfg, t.TempDir())
	defer env.soaks.Stop(time.Second)
	if _, _, err := env.soaks.RunNow("replay", ""); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	waitIdle(t, env.soaks, 10*time.Second)
	runs, err := env.arch.List()
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs %+v, %v", runs, err)
	}
	raw, err := env.arch.Result(runs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	var res load.Result
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatal(err)
	}
	// The window [0, 2s) holds 20 of the 30 requests, replayed in 0.19 s.
	if res.Mode != load.ModeTrace || res.Status != load.StatusCompleted || res.Summary.Successful != 20 || res.Context.Trace == nil ||
		res.Context.Trace.Requests != 20 || res.Context.Trace.TraceRequests != 30 || res.Context.Trace.Speed != 10 {
		t.Fatalf("result: mode %s status %s, %d successful, trace %+v", res.Mode, res.Status, res.Summary.Successful, res.Context.Trace)
	}
	// The server counted each prompt's tokens as the trace gave them (the
	// simulator estimates as the generator sizes, plus its chat template).
	if in := res.Summary.InputTokens; in < 20*600 {
		t.Errorf("input tokens %d, want the trace's 20 prompts of 600 to 619", in)
	}
	if got := counterValue(t, env.reg, "llmprobe_requests_total", map[string]string{"result": "success"}); got != 20 {
		t.Errorf("requests_total{result=success} %v, want 20", got)
	}
}
