package daemon

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/llmprobe/llmprobe/collector"
	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/sim"
	"github.com/llmprobe/llmprobe/sim/simtest"
	"github.com/llmprobe/llmprobe/stress"
)

// procedureSoak is a procedure of about five seconds (2250 s scaled by
// 0.002, plus floors and drains) against a simulator of 4
// slots: every step runs, each derived from the last.
const procedureSoak = `  - name: weekly
    targets: [a]
    workload: w
    mode: procedure
    max_in_flight: 64
    procedure:
      scale: 0.002
      sanity_rate: 5
      ladder: [2, 4, 8]
      ladder_max: 16
      sweep_rates: 3
      fractions: [0.5]
      soak_duration: 10m
`

func TestProcedureSoakRunsExportsAndReports(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two short stress procedures")
	}
	url := simtest.Start(t, sim.Config{TTFT: 5 * time.Millisecond, ITL: 2 * time.Millisecond, OutputTokens: 10, MaxConcurrency: 4})
	dir := t.TempDir()
	e := newSoakEnv(t, soakConfig(t, url, procedureSoak), dir)
	defer e.soaks.Stop(time.Second)
	aw := map[string]string{"target": "a", "name": "weekly"}
	figures := collector.NewProcedureMetrics(e.reg)
	verdicts := collector.NewVerdicts(e.reg)
	e.soaks.SetProcedureSink(&ProcedureSink{Figures: figures, Verdicts: verdicts})

	run := func() SoakStatus {
		t.Helper()
		if started, _, err := e.soaks.RunNow("weekly", ""); err != nil || len(started) != 1 {
			t.Fatalf("RunNow: %v %v", started, err)
		}
		time.Sleep(50 * time.Millisecond)
		waitIdle(t, e.soaks, 2*time.Minute)
		return e.soaks.Statuses()[0]
	}
	st := run()
	if st.Report == "" || st.Last == nil || st.Last.Mode != "procedure" {
		t.Fatalf("status after the procedure: %+v", st)
	}
	p, err := (&stress.Store{Dir: dir}).Load(st.Report)
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != stress.StatusCompleted || len(p.Steps) != len(stress.Steps) {
		t.Fatalf("procedure %s: %s after %d steps (%s)", p.ID, p.Status, len(p.Steps), p.StopReason)
	}
	for _, name := range []string{"report.html", "throughput-vs-p99.png"} {
		if _, err := os.Stat(filepath.Join(dir, "procedures", p.ID, name)); err != nil {
			t.Errorf("the procedure's %s: %v", name, err)
		}
	}
	// Every step's runs are archived like any soak run's.
	runs, err := e.arch.List()
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, r := range runs {
		ids[r.ID] = true
	}
	for _, o := range p.Steps {
		for _, id := range o.RunIDs {
			if !ids[id] {
				t.Errorf("step %s: run %s not in the archive", o.Step, id)
			}
		}
	}

	// The exported figures are the procedure's own numbers.
	want := p.Numbers.DetectedMaxRPS
	if want <= 0 {
		t.Fatalf("no detected max: %+v", p.Numbers)
	}
	if got := counterValue(t, e.reg, "llmprobe_procedure_detected_max_requests_per_second", aw); got != want {
		t.Errorf("llmprobe_procedure_detected_max_requests_per_second = %v, want %v", got, want)
	}
	passed := 0.0
	if p.Passed {
		passed = 1
	}
	if got := counterValue(t, e.reg, "llmprobe_procedure_passed", aw); got != passed {
		t.Errorf("llmprobe_procedure_passed = %v, want %v", got, passed)
	}
	if n := gatherCount(t, e.reg, "llmprobe_procedure_previous_detected_max_requests_per_second"); n != 0 {
		t.Errorf("a first procedure exports a previous detected max (%d series)", n)
	}
	decided := 0
	for _, v := range byName(p.Verdicts) {
		if !v.Undecided {
			decided++
		}
	}
	if n := gatherCount(t, e.reg, "llmprobe_verdict_failed"); n != decided || n == 0 {
		t.Errorf("%d llmprobe_verdict_failed series for %d decided verdict names", n, decided)
	}

	// The second procedure compares with the first.
	st2 := run()
	if st2.Report == st.Report {
		t.Fatalf("the second procedure reused the first's ID %s", st.Report)
	}
	if got := counterValue(t, e.reg, "llmprobe_procedure_previous_detected_max_requests_per_second", aw); got != want {
		t.Errorf("previous detected max = %v, want the first procedure's %v", got, want)
	}

	// A restarted daemon shows the last procedure at once.
	e.soaks.Stop(time.Second)
	again := newSoakEnv(t, soakConfig(t, url, procedureSoak), dir)
	defer again.soaks.Stop(time.Second)
	again.soaks.SetProcedureSink(&ProcedureSink{Figures: collector.NewProcedureMetrics(again.reg), Verdicts: collector.NewVerdicts(again.reg)})
	if st := again.soaks.Statuses()[0]; st.Report != st2.Report {
		t.Errorf("after a restart the status links %q, want %q", st.Report, st2.Report)
	}
	if got := counterValue(t, again.reg, "llmprobe_procedure_previous_detected_max_requests_per_second", aw); got != want {
		t.Errorf("after a restart previous detected max = %v, want %v", got, want)
	}
}

func gatherCount(t *testing.T, g prometheus.Gatherer, name string) int {
	t.Helper()
	n, err := testutil.GatherAndCount(g, name)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestVerdictsByName(t *testing.T) {
	vs := []load.Verdict{
		{Name: "latency_drift", Value: 1},
		{Name: "sanity", Value: 0},
		{Name: "latency_drift", Failed: true, Value: 5},
		{Name: "latency_drift", Value: 2},
		{Name: "vram_growth", Undecided: true},
		{Name: "vram_growth", Value: 3},
		{Name: "stuck_requests", Undecided: true},
	}
	got := byName(vs)
	want := []load.Verdict{
		{Name: "latency_drift", Failed: true, Value: 5},
		{Name: "sanity", Value: 0},
		{Name: "vram_growth", Value: 3},
		{Name: "stuck_requests", Undecided: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("byName =\n%+v\nwant\n%+v", got, want)
	}
}
