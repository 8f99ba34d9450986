package collector

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/llmprobe/llmprobe/load"
)

func TestVerdictsSetReplaces(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	v := NewVerdicts(reg)
	v.Set("nightly", "t1", []load.Verdict{
		{Name: "server_memory_growth", Failed: true, Value: 1024},
		{Name: "stuck_requests", Value: 0},
		{Name: "preemptions", Undecided: true},
	})
	v.Set("nightly", "t2", []load.Verdict{{Name: "server_restart", Failed: true, Value: 2}})
	// the next run of nightly on t1 no longer has server_memory_growth, and
	// its stuck_requests failed
	v.Set("nightly", "t1", []load.Verdict{{Name: "stuck_requests", Failed: true, Value: 3}})

	want := `
# HELP llmprobe_verdict_failed Whether the verdict of the last run of a soak or procedure against a target failed (1) or passed (0); undecided verdicts (no data) are absent.
# TYPE llmprobe_verdict_failed gauge
llmprobe_verdict_failed{name="nightly",target="t1",verdict="stuck_requests"} 1
llmprobe_verdict_failed{name="nightly",target="t2",verdict="server_restart"} 1
# HELP llmprobe_verdict_value The key number behind the verdict of the last run of a soak or procedure against a target, in the verdict's unit (server_memory_growth: bytes per second; stuck_requests: requests left; server_restart: restarts; preemptions: preemptions).
# TYPE llmprobe_verdict_value gauge
llmprobe_verdict_value{name="nightly",target="t1",verdict="stuck_requests"} 3
llmprobe_verdict_value{name="nightly",target="t2",verdict="server_restart"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
	v.Delete(prometheus.Labels{"target": "t1"})
	if n := testutil.CollectAndCount(v.failed); n != 1 {
		t.Errorf("%d failed series after deleting t1, want 1 (t2's)", n)
	}
	v.Set("nightly", "t2", nil)
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 0 {
		t.Errorf("%d series left after an empty Set, want 0 (%v)", n, err)
	}
}
