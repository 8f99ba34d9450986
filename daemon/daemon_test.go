package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/llmprobe/llmprobe/collector"
	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/sim"
)

func loadConfig(t *testing.T, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Load([]byte(yaml), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestApplyKeepsUnchangedJobsAndDropsRemoved(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, addr, err := sim.Listen(ctx, "127.0.0.1:0", sim.Config{TTFT: time.Millisecond, ITL: time.Millisecond, OutputTokens: 3})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m := collector.New(reg, collector.Options{})
	d := New(slog.New(slog.NewTextHandler(io.Discard, nil)), m, 0)
	defer d.Stop(time.Second)

	base := fmt.Sprintf(`
targets:
  - {name: a, url: "http://%[1]s", model: sim-model}
  - {name: b, url: "http://%[1]s", model: sim-model}
workloads: [{name: w, prompt: hi}]
probes:
  - {name: p, targets: [a, b], workload: w, schedule: "@every 1h"}
`, addr)
	if err := d.Apply(loadConfig(t, base)); err != nil {
		t.Fatal(err)
	}
	waitSeries := func(want int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for testutil.CollectAndCount(reg, "llmprobe_probe_success") != want {
			if time.Now().After(deadline) {
				t.Fatalf("probe_success has %d series, want %d", testutil.CollectAndCount(reg, "llmprobe_probe_success"), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitSeries(2)
	jobA, jobB := d.jobs["p/a"], d.jobs["p/b"]

	// Changing target b only replaces p/b; removing nothing keeps p/a as is.
	changed := strings.Replace(base, `{name: b, url: "http://`+addr.String()+`", model: sim-model}`,
		`{name: b, url: "http://`+addr.String()+`", model: sim-model, timeout: 5s}`, 1)
	if err := d.Apply(loadConfig(t, changed)); err != nil {
		t.Fatal(err)
	}
	if d.jobs["p/a"] != jobA {
		t.Error("unchanged job p/a was replaced")
	}
	if d.jobs["p/b"] == jobB {
		t.Error("changed job p/b was kept")
	}

	// Dropping target b from the probe deletes its series.
	dropped := strings.Replace(changed, "targets: [a, b]", "targets: [a]", 1)
	if err := d.Apply(loadConfig(t, dropped)); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.jobs["p/b"]; ok {
		t.Error("removed job p/b still scheduled")
	}
	waitSeries(1)
	st := d.Statuses()
	if len(st) != 1 || st[0].Target != "a" || st[0].Last == nil || !st[0].Last.Success {
		t.Fatalf("statuses = %+v", st)
	}
}
