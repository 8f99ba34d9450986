package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/llmprobe/llmprobe/collector"
	"github.com/llmprobe/llmprobe/sim"
	"github.com/llmprobe/llmprobe/sim/simtest"
)

// TestSessionProbes: a probe of a conversation workload sends its requests
// as the turns of a conversation, one of a shared-prefix workload as the
// requests of its groups; each result has the run's breakdown, and the
// scheduled runs export the prefix cache's gain, removed with the probe.
func TestSessionProbes(t *testing.T) {
	url := simtest.Start(t, sim.Config{TTFT: 40 * time.Millisecond, ITL: time.Millisecond, OutputTokens: 2,
		PrefixCache: sim.PrefixCache{Enabled: true}})
	path := filepath.Join(t.TempDir(), "conversations.jsonl")
	long := strings.Repeat("The keeper logs the weather and tends the lamp all night. ", 20)
	conv := fmt.Sprintf(`[{"role": "system", "content": %q}, {"role": "user", "content": "Why?"}, {"role": "assistant", "content": "For ships."}, {"role": "user", "content": "Which ships?"}, {"role": "assistant", "content": "All of them."}, {"role": "user", "content": "Still?"}]`, long)
	if err := os.WriteFile(path, []byte(conv+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(`
targets:
  - {name: t, url: %q, model: sim-model}
  - {name: c, url: %q, model: sim-model, kind: completions}
workloads:
  - {name: conv, dataset: %q, output_tokens: 2, conversation: {think_time: 30ms}}
  - {name: groups, input_tokens: 400, output_tokens: 2, shared_prefix: {groups: 1, prefix_tokens: 320}}
probes:
  - {name: pc, targets: [t], workload: conv, schedule: "@every 1h", requests: 3}
  - {name: pg, targets: [t, c], workload: groups, schedule: "@every 1h", requests: 3}
`, url, url, path)
	reg := prometheus.NewPedanticRegistry()
	pm := collector.NewPrefixCacheMetrics(reg)
	d := New(slog.New(slog.NewTextHandler(io.Discard, nil)), collector.New(prometheus.NewRegistry(), collector.Options{}), 0)
	d.SetPrefixCacheMetrics(pm)
	defer d.Stop(time.Second)
	if err := d.Apply(loadConfig(t, yaml)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(d.Statuses()) < 3 || !allRan(d) {
		if time.Now().After(deadline) {
			t.Fatal("probes did not run")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, s := range d.Statuses() {
		last := s.Last
		if !last.Success || len(last.Records) != 3 || last.PrefixCache == nil || last.PrefixCache.TTFTGainRatio == nil {
			t.Fatalf("%s on %s: %+v", s.Probe, s.Target, last)
		}
		g := last.PrefixCache
		switch s.Probe {
		case "pc":
			if len(last.Turns) != 3 || g.Cold.Requests != 1 || g.Cold.Hits != 0 || g.Warm.Hits != 2 {
				t.Errorf("conversation probe: turns %+v, gain %+v", last.Turns, g)
			}
			for i := 1; i < 3; i++ {
				if last.Turns[i].InputLen.Mean <= last.Turns[i-1].InputLen.Mean {
					t.Errorf("turn %d's context did not grow: %+v", i+1, last.Turns)
				}
			}
			// The think time of 30 ms between turns.
			for i := 1; i < 3; i++ {
				if gap := last.Records[i].Start.Sub(last.Records[i-1].End); gap < 30*time.Millisecond {
					t.Errorf("turn %d started %v after turn %d ended, before the 30ms think time", i+1, gap, i)
				}
			}
		case "pg":
			if len(last.Turns) != 0 || g.Cold.Requests != 1 || g.Cold.Hits != 0 || g.Warm.Requests != 2 || g.Warm.Hits != 2 {
				t.Errorf("shared-prefix probe on %s: turns %+v, gain %+v", s.Target, last.Turns, g)
			}
		}
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
	// The gauge is the scheduled run's figure.
	for _, s := range d.Statuses() {
		if got, want := gainValue(t, reg, s.Target, s.Probe), *s.Last.PrefixCache.TTFTGainRatio; got != want {
			t.Errorf("%s on %s: exported gain %v, the run's %v", s.Probe, s.Target, got, want)
		}
	}

	// An ad-hoc run has the breakdown but exports nothing.
	res, _, err := d.ProbeNow(context.Background(), "pg", "t")
	if err != nil || res.PrefixCache == nil {
		t.Fatalf("ProbeNow: %+v, %v", res, err)
	}

	// Removed, a probe's gauges go.
	if err := d.Apply(loadConfig(t, strings.Split(yaml, "  - {name: pg")[0])); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(reg, "llmprobe_prefix_cache_ttft_gain_ratio"); n != 1 {
		t.Errorf("%d gain series after pg was removed, want pc's", n)
	}

	// A conversation workload on a completions target is refused at reload.
	bad := strings.Replace(yaml, "targets: [t], workload: conv", "targets: [c], workload: conv", 1)
	if err := d.Apply(loadConfig(t, bad)); err == nil || !strings.Contains(err.Error(), "only chat targets take it, not completions") {
		t.Errorf("a conversation probe of a completions target: %v", err)
	}
}

// gainValue is the exported gain of one probe on one target.
func gainValue(t *testing.T, g prometheus.Gatherer, target, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "llmprobe_prefix_cache_ttft_gain_ratio" {
			continue
		}
		for _, m := range mf.GetMetric() {
			lv := map[string]string{}
			for _, l := range m.GetLabel() {
				lv[l.GetName()] = l.GetValue()
			}
			if lv["target"] == target && lv["name"] == name {
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no gain series for %s on %s", name, target)
	return 0
}
