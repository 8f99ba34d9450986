package cli

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/daemon"
	"github.com/llmprobe/llmprobe/sim"
	"github.com/llmprobe/llmprobe/sim/simtest"
)

// shardConfig is one config for two daemons: a probe of every target, a
// probe of one target of each shard (model-0 hashes to 0, model-1 to 1 of
// 2) and a soak of model-1 only.
const shardConfig = `
global: {probe_jitter: 0s}
targets:
%s
workloads:
  - {name: w, prompt: hello, output_tokens: {num_tokens: 2}}
probes:
  - {name: all, targets: [%s], workload: w, schedule: "@every 1s"}
  - {name: zero, targets: [model-0], workload: w, schedule: "@every 1s"}
soaks:
  - {name: one, targets: [model-1], workload: w, mode: throughput, vus: 1, duration: 1s}
`

func shardYAML(url string, names []string) string {
	var ts []string
	for _, n := range names {
		ts = append(ts, fmt.Sprintf("  - {name: %s, url: %q, model: sim-model}", n, url))
	}
	return fmt.Sprintf(shardConfig, strings.Join(ts, "\n"), strings.Join(names, ", "))
}

// probedTargets returns the daemon's shard and, per target, the probes that
// have run against it, from /api/v1/status.
func probedTargets(t *testing.T, d *daemonUnderTest) (string, map[string][]string) {
	t.Helper()
	var st struct {
		Shard  string          `json:"shard"`
		Probes []daemon.Status `json:"probes"`
	}
	if err := json.Unmarshal([]byte(d.get(t, "/api/v1/status")), &st); err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, p := range st.Probes {
		if p.Last != nil {
			out[p.Target] = append(out[p.Target], p.Probe)
		}
	}
	return st.Shard, out
}

// TestShardedDaemonsSplitTargets protects the daemon's --shard: two
// daemons with --shard 0/2 and 1/2 over one config probe every target
// exactly once between them, each the targets whose name hashes to its
// index (Prometheus' hashmod); a probe or soak with none of a shard's
// targets is not there at all, /api/v1/status names the shard, the log says
// what was left to the other, and a reload applies the shard to the new
// config.
func TestShardedDaemonsSplitTargets(t *testing.T) {
	url := simtest.Start(t, sim.Config{TTFT: time.Millisecond, ITL: time.Millisecond, OutputTokens: 2})
	names := []string{"model-0", "model-1", "model-2", "model-3", "model-4", "model-5"}
	want := func(names []string, i int) []string {
		var own []string
		for _, n := range names {
			if config.HashMod(n, 2) == uint64(i) {
				own = append(own, n)
			}
		}
		return own
	}
	if len(want(names, 0)) == 0 || len(want(names, 1)) == 0 || config.HashMod("model-0", 2) != 0 || config.HashMod("model-1", 2) != 1 {
		t.Fatal("the test's names do not split over two shards as the config assumes")
	}
	ds := []*daemonUnderTest{
		startDaemon(t, shardYAML(url, names), "--shard=0/2"),
		startDaemon(t, shardYAML(url, names), "--shard=1/2"),
	}
	check := func(names []string) {
		t.Helper()
		owner := map[string]int{}
		for i, d := range ds {
			own := want(names, i)
			var probed map[string][]string
			var shard string
			waitFor(t, 15*time.Second, fmt.Sprintf("daemon %d to probe its %d targets", i, len(own)), func() bool {
				shard, probed = probedTargets(t, d)
				return len(probed) >= len(own) // more fails below, by name
			})
			if shard != fmt.Sprintf("%d/2", i) {
				t.Errorf("daemon %d: /api/v1/status shard %q", i, shard)
			}
			if got := slices.Sorted(maps.Keys(probed)); !slices.Equal(got, own) {
				t.Errorf("daemon %d probed %v, want its shard's %v", i, got, own)
			}
			for tg, probes := range probed {
				if prev, dup := owner[tg]; dup {
					t.Errorf("target %s probed by daemons %d and %d", tg, prev, i)
				}
				owner[tg] = i
				if tg == "model-0" && !slices.Contains(probes, "zero") {
					t.Errorf("daemon %d: model-0 probed by %v, not by probe zero", i, probes)
				}
			}
			page := d.get(t, "/metrics")
			for _, n := range names {
				has := strings.Contains(page, `target="`+n+`"`)
				if has != slices.Contains(own, n) {
					t.Errorf("daemon %d exports series of %s: %v, want %v", i, n, has, !has)
				}
			}
			// The soak of model-1 exists on shard 1 only.
			if has := strings.Contains(page, `llmprobe_soak_running{name="one"`); has != (i == 1) {
				t.Errorf("daemon %d exports soak one: %v", i, has)
			}
		}
		if len(owner) != len(names) {
			t.Errorf("%d of %d targets probed", len(owner), len(names))
		}
	}
	check(names)
	for i, d := range ds {
		other := strings.Join(want(names, 1-i), ",")
		if l := d.logs.String(); !strings.Contains(l, "other_shards="+other) {
			t.Errorf("daemon %d: no log line naming the other shard's targets %s:\n%s", i, other, tail(l, 2000))
		}
	}
	if l := ds[0].logs.String(); !strings.Contains(l, "dropped_soaks=one") {
		t.Error("daemon 0 does not log that soak one (model-1 only) was dropped")
	}
	if l := ds[1].logs.String(); !strings.Contains(l, "dropped_probes=zero") {
		t.Error("daemon 1 does not log that probe zero (model-0 only) was dropped")
	}

	// A reload with two more targets, one of each shard.
	more := append(slices.Clone(names), "model-6", "model-8")
	if config.HashMod("model-6", 2) == config.HashMod("model-8", 2) {
		t.Fatal("the new targets do not split")
	}
	for _, d := range ds {
		if err := os.WriteFile(d.cfg, []byte(shardYAML(url, more)), 0o600); err != nil {
			t.Fatal(err)
		}
		d.sigs <- syscall.SIGHUP
	}
	check(more)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
