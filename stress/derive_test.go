package stress

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/probe"
)

// Tests of what the runner derives and says: each step's options, its
// outcome's numbers and words, the procedure's numbers, saving and
// resuming. Runs are synthetic results, nothing is sent.

// steady is a completed run of o: every step served its rate (or 4 req/s
// a user), 650 ms median latency, half a percent failed.
func steady(o load.Options) *load.Result {
	now := time.Unix(1e6, 0)
	res := &load.Result{Mode: o.Mode, Status: load.StatusCompleted, Started: now, Ended: now.Add(o.Warmup + o.Duration),
		Context: load.Context{Mode: o.Mode, VUs: o.VUs, MaxVUs: o.MaxVUs}}
	stepOf := func(i int, rate float64) load.Step {
		st := load.Step{Index: i, OfferedRate: rate, AchievedRate: rate, Start: now.Add(o.Warmup), End: now.Add(o.Warmup + o.Duration)}
		s := &st.Summary
		s.Requests, s.Successful, s.Failed, s.ErrorRatio = 200, 199, 1, 0.005
		s.E2E = load.Dist{Count: 199, P50: 650, P95: 700, P99: 800}
		s.TTFT = load.Dist{Count: 199, P50: 20, P99: 40}
		s.RequestThroughput, s.OutputThroughput = rate, 64*rate
		s.Errors = map[string]int64{"http_5xx": 1}
		return st
	}
	switch o.Mode {
	case load.ModeRate:
		for i, r := range o.Rates {
			res.Steps = append(res.Steps, stepOf(i+1, r))
		}
	default:
		res.Steps = append(res.Steps, stepOf(1, 4*float64(max(o.VUs, o.MaxVUs))))
	}
	res.Summary = res.Steps[0].Summary
	return res
}

// recorder is a Runner that records each run's options and answers with
// steady results, or with what answer returns for that step.
type recorder struct {
	mu     sync.Mutex
	calls  []call
	answer func(ctx context.Context, step string, o load.Options) (*load.Result, string, error)
}

func (r *recorder) run(ctx context.Context, step string, o load.Options) (*load.Result, string, error) {
	r.mu.Lock()
	r.calls = append(r.calls, call{step, o})
	r.mu.Unlock()
	if r.answer != nil {
		return r.answer(ctx, step, o)
	}
	return steady(o), "", nil
}

func (r *recorder) steps() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s []string
	for _, c := range r.calls {
		s = append(s, c.step)
	}
	return s
}

// stepRunner is a runner of one procedure with plan, for one step at a
// time.
func stepRunner(plan Plan, run Runner, log *strings.Builder) *runner {
	c := Config{Base: base(), Run: run}
	if log != nil {
		c.Log = log
	}
	return &runner{c: c, p: &Procedure{Plan: plan.WithDefaults()}}
}

func TestInFlightAndSLOSpec(t *testing.T) {
	if got := inFlight(&load.Options{}); got != load.DefaultMaxInFlight {
		t.Errorf("no cap: %d, want %d", got, load.DefaultMaxInFlight)
	}
	if got := inFlight(&load.Options{MaxInFlight: 3}); got != 3 {
		t.Errorf("cap 3: %d", got)
	}
	if s := sloSpec(load.Options{}); s != nil {
		t.Errorf("no objective: %+v", s)
	}
	for _, tc := range []struct {
		slo  probe.SLO
		want load.SLOSpec
	}{
		{probe.SLO{TTFT: 500 * time.Millisecond}, load.SLOSpec{TTFT: 500}},
		{probe.SLO{ITL: 50 * time.Millisecond}, load.SLOSpec{ITL: 50}},
		{probe.SLO{TPOT: 40 * time.Millisecond}, load.SLOSpec{TPOT: 40}},
		{probe.SLO{E2E: 2 * time.Second}, load.SLOSpec{E2E: 2000}},
	} {
		if s := sloSpec(load.Options{SLO: tc.slo}); s == nil || *s != tc.want {
			t.Errorf("%+v: %+v, want %+v", tc.slo, s, tc.want)
		}
	}
}

// The sanity check lasts until MinSanityRequests were sent at its rate,
// however small the scale, but never longer than unscaled.
func TestSanityDurationFloor(t *testing.T) {
	for _, tc := range []struct {
		rate float64
		want time.Duration
	}{
		{2, 2500 * time.Millisecond},
		{0.5, 10 * time.Second},
		{0.1, 30 * time.Second},
	} {
		rec := &recorder{}
		r := stepRunner(Plan{Scale: 0.01, SanityRate: tc.rate}, rec.run, nil)
		r.step(context.Background(), StepSanity)
		if o := rec.calls[0].o; o.Duration != tc.want || o.Warmup != 100*time.Millisecond || o.Rates[0] != tc.rate {
			t.Errorf("%g req/s: %s after %s, want %s", tc.rate, o.Duration, o.Warmup, tc.want)
		}
	}
}

func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		o    load.Options
		want string
	}{
		{load.Options{Mode: load.ModeRate, Rates: []float64{1, 2.5}, Duration: 30 * time.Second}, "1.00, 2.50 req/s, 30s per step"},
		{load.Options{Mode: load.ModeThroughput, VUs: 16, Duration: time.Minute, Warmup: 10 * time.Second}, "16 users, 1m0s per step after 10s warmup"},
		{load.Options{Mode: load.ModeSweep, MaxVUs: 32, NumRates: 10, Duration: 2 * time.Minute, Warmup: time.Millisecond}, "sweep with 32 users then 10 rates, 2m0s per step after 1ms warmup"},
	} {
		if got := describe(&tc.o); got != tc.want {
			t.Errorf("%q, want %q", got, tc.want)
		}
	}
}

func TestLaunchSaysWhenARunWasNotArchived(t *testing.T) {
	var log strings.Builder
	rec := &recorder{answer: func(_ context.Context, step string, o load.Options) (*load.Result, string, error) {
		if step == StepSanity {
			return steady(o), "", errors.New("archive: disk full")
		}
		return steady(o), "run-1", nil
	}}
	r := stepRunner(Plan{Scale: 0.01, Ladder: []int{4}, LadderMax: 4}, rec.run, &log)
	if o := r.step(context.Background(), StepSanity); o.Status != OutcomePassed || len(o.Results) != 1 || len(o.RunIDs) != 0 {
		t.Errorf("sanity: %+v", o)
	}
	if o := r.step(context.Background(), StepCoarse); len(o.RunIDs) != 1 {
		t.Errorf("coarse: %+v", o)
	}
	if got := log.String(); strings.Count(got, "not archived") != 1 || !strings.Contains(got, "stress: sanity: the run was not archived: archive: disk full\n") {
		t.Errorf("log:\n%s", got)
	}
}

func TestCoarseSaysWhatEachRungDid(t *testing.T) {
	var log strings.Builder
	rec := &recorder{}
	r := stepRunner(Plan{Scale: 0.01, Ladder: []int{4, 8}, LadderMax: 8}, rec.run, &log)
	o := r.step(context.Background(), StepCoarse)
	if o.Status != OutcomePassed || len(o.Results) != 2 {
		t.Fatalf("%+v", o)
	}
	want := "no knee up to 8 users (the ladder's max): no rung had more than 1 % errors or a latency jump (median latency up more than 50 % while throughput grew less than 50 % of the users added)"
	if o.Why != want || o.Verdicts[0].Summary != want || o.Verdicts[0].Value != 0 {
		t.Errorf("why %q, verdict %+v", o.Why, o.Verdicts[0])
	}
	if !strings.Contains(log.String(), "stress: coarse: 8 users: 32.00 req/s, median latency 650 ms, 0.5 % errors\n") {
		t.Errorf("log:\n%s", log.String())
	}
}

func TestSweepOutcomeWords(t *testing.T) {
	for _, tc := range []struct {
		stop, sat, why string
	}{
		{"", "no rate over-saturated up to 4.00 req/s", "detected max 4.00 req/s (256 output tokens/s) with 32 users in its throughput phase"},
		{"all 2 rates ran", "no rate over-saturated up to 4.00 req/s", "detected max 4.00 req/s (256 output tokens/s) with 32 users in its throughput phase; all 2 rates ran"},
	} {
		rec := &recorder{answer: func(_ context.Context, _ string, o load.Options) (*load.Result, string, error) {
			res := steady(o)
			res.Steps[0].OfferedRate = 0 // the throughput phase
			res.Steps = append(res.Steps, load.Step{Index: 1, OfferedRate: 2}, load.Step{Index: 2, OfferedRate: 4})
			res.DetectedMax = &load.Throughput{RequestsPerSecond: 4, OutputTokensPerSecond: 256}
			res.StopReason = tc.stop
			return res, "", nil
		}}
		r := stepRunner(Plan{Scale: 0.01}, rec.run, nil)
		o := r.step(context.Background(), StepSweep)
		if o.Status != OutcomePassed || o.Why != tc.why || o.Verdicts[0].Summary != tc.sat || o.Verdicts[0].Value != 0 {
			t.Errorf("stop %q: %s: why %q, verdict %+v", tc.stop, o.Status, o.Why, o.Verdicts)
		}
		// no knee ran: the plan's last rung, not doubled
		if sw := rec.calls[0].o; sw.MaxVUs != 32 || sw.NumRates != 10 {
			t.Errorf("sweep %+v", sw)
		}
	}
}

func TestFineOutcome(t *testing.T) {
	rec := &recorder{}
	r := stepRunner(Plan{Scale: 0.01, MaxRPS: 10, Fractions: []float64{0.1, 0.5}}, rec.run, nil)
	o := r.step(context.Background(), StepFine)
	want := "10 % (1.00 req/s): 1.00 served, p95 700 ms, p99 800 ms, 0.5 % errors, 64 tok/s; 50 % (5.00 req/s): 5.00 served, p95 700 ms, p99 800 ms, 0.5 % errors, 320 tok/s"
	if o.Status != OutcomePassed || o.Why != want {
		t.Errorf("%s: %q, want %q", o.Status, o.Why, want)
	}
	if f := rec.calls[0].o; f.Rates[0] != 1 || f.Rates[1] != 5 || f.Mode != load.ModeRate || f.Duration != 3*time.Second {
		t.Errorf("fine options %+v", f)
	}
}

// A fine step that stopped early fails without stopping the procedure; the
// procedure completes but does not pass.
func TestPassedNeedsEveryStepPassed(t *testing.T) {
	rec := &recorder{answer: func(_ context.Context, _ string, o load.Options) (*load.Result, string, error) {
		res := steady(o)
		res.Steps, res.StopReason = res.Steps[:2], "the error ratio"
		return res, "", nil
	}}
	p, err := Run(context.Background(), Config{Plan: Plan{Scale: 0.01, MaxRPS: 10, Steps: []string{StepFine}}, Base: base(), Run: rec.run})
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != StatusCompleted || p.Passed || p.Steps[0].Status != OutcomeFailed || !strings.Contains(p.Steps[0].Why, "stopped after 2 of 5 rates: the error ratio") {
		t.Errorf("%s passed %v: %+v", p.Status, p.Passed, p.Steps[0])
	}
}

func TestSoakOutcome(t *testing.T) {
	// Without a max the soak cannot run.
	rec := &recorder{}
	r := stepRunner(Plan{Scale: 0.01}, rec.run, nil)
	if o := r.step(context.Background(), StepSoak); o.Status != OutcomeFailed || !strings.Contains(o.Why, "needs the detected max") || len(rec.calls) != 0 {
		t.Errorf("soak without a max: %+v, %d runs", o, len(rec.calls))
	}

	for _, tc := range []struct {
		name   string
		steps  bool    // the result has its step (the measured start)
		offset float64 // the first window's offset from the start used
	}{
		{"from the step's start", true, -1},
		{"from the run's start", false, 5},
	} {
		rec := &recorder{answer: func(_ context.Context, _ string, o load.Options) (*load.Result, string, error) {
			sink := o.Sink.(*seriesSink)
			// one steady success a second
			for at := sink.origin; at.Before(sink.origin.Add(o.Duration)); at = at.Add(time.Second) {
				_ = o.Sink.WriteEntry(&load.Entry{Phase: o.Phase, Start: at.Add(-500 * time.Millisecond), End: at.Add(100 * time.Millisecond), E2EMS: 600, TTFTMS: 20, Result: "success"})
			}
			res := steady(o)
			res.Started, res.Ended = sink.origin.Add(-5*time.Second), sink.origin.Add(o.Duration)
			res.Summary.RequestThroughput = 7.4
			res.Steps[0].Start = sink.origin.Add(time.Second)
			if !tc.steps {
				res.Steps = nil
			}
			return res, "", nil
		}}
		r := stepRunner(Plan{Scale: 0.01, MaxRPS: 10}, rec.run, nil)
		o := r.step(context.Background(), StepSoak)
		want := "7.50 req/s (75 % of the plan's max, 10.00 req/s) for 36s: p50 650 ms, p99 800 ms, 0.5 % errors, 7.40 req/s served"
		if o.Status != OutcomePassed || o.Why != want {
			t.Errorf("%s: %s %q, want %q", tc.name, o.Status, o.Why, want)
		}
		if len(o.Series) != MinWindows || o.Series[0].OffsetS != tc.offset || o.Series[0].WidthS != 3.6 {
			t.Errorf("%s: series %+v", tc.name, o.Series[:1])
		}
		if s := rec.calls[0].o; s.Rates[0] != 7.5 || s.Warmup != 100*time.Millisecond {
			t.Errorf("%s: soak options %+v", tc.name, s)
		}
	}
}

// A canceled context interrupts a step only when its run did not finish:
// the runner gave no result, or the step failed for it.
func TestCanceledStepInterrupted(t *testing.T) {
	for _, tc := range []struct {
		name   string
		steps  []string
		answer func(step string, o load.Options) (*load.Result, string, error)
		status string
	}{
		{"the run completed", []string{StepSanity, StepCoarse}, func(_ string, o load.Options) (*load.Result, string, error) { return steady(o), "run-1", nil }, OutcomePassed},
		{"the run completed, not archived", []string{StepSanity, StepCoarse}, func(_ string, o load.Options) (*load.Result, string, error) {
			return steady(o), "", errors.New("archive: canceled")
		}, OutcomePassed},
		{"no run", []string{StepSanity, StepCoarse}, func(string, load.Options) (*load.Result, string, error) { return nil, "", context.Canceled }, OutcomeInterrupted},
		// the first rung ran, the second did not
		{"no second rung", []string{StepCoarse, StepSweep}, func(_ string, o load.Options) (*load.Result, string, error) {
			if o.VUs == 8 {
				return nil, "", context.Canceled
			}
			return steady(o), "", nil
		}, OutcomeInterrupted},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		rec := &recorder{answer: func(_ context.Context, step string, o load.Options) (*load.Result, string, error) {
			if step != StepCoarse || o.VUs == 8 {
				cancel()
			}
			return tc.answer(step, o)
		}}
		p, err := Run(ctx, Config{Plan: Plan{Scale: 0.01, Steps: tc.steps, Ladder: []int{4, 8}, LadderMax: 8}, Base: base(), Run: rec.run})
		if err != nil {
			t.Fatal(err)
		}
		if p.Status != StatusInterrupted || len(p.Steps) != 1 || p.Steps[0].Status != tc.status {
			t.Errorf("%s: %s, steps %+v", tc.name, p.Status, p.Steps)
		}
		if got := rec.steps(); got[len(got)-1] != tc.steps[0] {
			t.Errorf("%s: ran %v", tc.name, got)
		}
	}
}

func TestRunReturnsTheFirstSaveOrReportError(t *testing.T) {
	// The report fails every time: the procedure runs to its end and
	// returns the first failure.
	n := 0
	p, err := Run(context.Background(), Config{Plan: Plan{Scale: 0.01, Steps: []string{StepSanity}}, Base: base(), Run: (&recorder{}).run,
		Report: func(*Procedure, string) error { n++; return errors.New("report " + string(rune('0'+n))) }})
	if p == nil || p.Status != StatusCompleted || err == nil || err.Error() != "report: report 1" || n != 2 {
		t.Errorf("%v after %d reports", err, n)
	}

	// The procedure's directory turns into a file after the first save:
	// every later save fails.
	dir := t.TempDir()
	p, err = Run(context.Background(), Config{Plan: Plan{Scale: 0.01, Steps: []string{StepSanity}}, Base: base(), Run: (&recorder{}).run, Store: &Store{Dir: dir},
		Report: func(_ *Procedure, d string) error {
			if fi, err := os.Stat(d); err == nil && fi.IsDir() {
				if err := os.RemoveAll(d); err != nil {
					return err
				}
				return os.WriteFile(d, nil, 0o644)
			}
			return nil
		}})
	if p == nil || p.Status != StatusCompleted || err == nil || !strings.Contains(err.Error(), "procedure store") {
		t.Errorf("a directory that became a file: %v", err)
	}
}

func TestCollectNumbers(t *testing.T) {
	withP99 := func(p99 float64) []*load.Result {
		r := &load.Result{}
		r.Summary.E2E.P99 = p99
		return []*load.Result{r}
	}
	r := &runner{p: &Procedure{Steps: []StepOutcome{
		{Step: StepCoarse}, // no rung ran
		{Step: StepValidation, Results: withP99(100), Verdicts: []load.Verdict{
			{Name: VerdictVRAMGrowth, Value: 1},
		}},
		{Step: StepSoak, Results: withP99(200), Verdicts: []load.Verdict{
			{Name: VerdictVRAMGrowth, Value: 5},
			{Name: load.VerdictServerMemoryGrowth, Value: 2, Unit: "bytes/s"},
		}},
	}}}
	r.collect()
	n := r.p.Numbers
	if n.P99AtSoakMS != 200 || n.VRAMGrowthPerMin != 5 || n.ServerMemPerMin != 120 || n.KneeFound {
		t.Errorf("numbers %+v", n)
	}
	if len(r.p.Verdicts) != 3 || r.p.Verdicts[0].Step != 1 || r.p.Verdicts[2].Step != 2 {
		t.Errorf("verdicts %+v", r.p.Verdicts)
	}
	// Without a soak there is no p99 at the soak's rate.
	r.p.Steps = r.p.Steps[:2]
	r.collect()
	if n := r.p.Numbers; n.P99AtSoakMS != 0 || n.VRAMGrowthPerMin != 1 {
		t.Errorf("validation only: %+v", n)
	}
}

func TestKneeUsersAndMaxWithoutResults(t *testing.T) {
	r := stepRunner(Plan{}, (&recorder{}).run, nil)
	r.p.Steps = []StepOutcome{{Step: StepCoarse}, {Step: StepSweep}} // both failed before a run
	if users, why := r.kneeUsers(); users != 32 || !strings.Contains(why, "the plan's last ladder rung") {
		t.Errorf("knee users %d (%s)", users, why)
	}
	if top, why := r.maxRPS(); top != 0 || why != "" {
		t.Errorf("max %v (%q), want none", top, why)
	}
	r.p.Plan.MaxRPS = 7
	if top, why := r.maxRPS(); top != 7 || why != "the plan's max" {
		t.Errorf("max %v (%q), want the plan's 7", top, why)
	}
}

func TestResumeRerunsWhatDidNotFinish(t *testing.T) {
	// Interrupted before its first step ended: everything runs.
	rec := &recorder{}
	p := &Procedure{ID: "x", Target: "sim:8000", Model: "m", Status: StatusInterrupted, Plan: Plan{Scale: 0.01, Steps: []string{StepSanity, StepCoarse}, Ladder: []int{4}, LadderMax: 4}}
	q, err := Resume(context.Background(), Config{Base: base(), Run: rec.run}, p)
	if err != nil || q.Status != StatusCompleted || strings.Join(rec.steps(), ",") != "sanity,coarse" {
		t.Errorf("no step ended: %v %+v, ran %v", err, q, rec.steps())
	}

	// Interrupted between steps: the steps that ended are kept.
	rec = &recorder{}
	p = &Procedure{ID: "x", Target: "sim:8000", Model: "m", Status: StatusInterrupted, Plan: Plan{Scale: 0.01, Steps: []string{StepSanity, StepCoarse}, Ladder: []int{4}, LadderMax: 4},
		Steps: []StepOutcome{{Step: StepSanity, Status: OutcomePassed, Results: []*load.Result{steady(load.Options{Mode: load.ModeRate, Rates: []float64{1}})}}}}
	if _, err := Resume(context.Background(), Config{Base: base(), Run: rec.run}, p); err != nil || strings.Join(rec.steps(), ",") != "coarse" {
		t.Errorf("between steps: %v, ran %v", err, rec.steps())
	}

	// A failed step runs again.
	m := &model{slots: 8, service: 650 * time.Millisecond, errStep: StepSweep}
	p, _ = Run(context.Background(), Config{Plan: Plan{Scale: 0.01, Steps: []string{StepSanity, StepCoarse, StepSweep, StepFine}}, Base: base(), Run: m.run})
	if p.Status != StatusFailed || len(p.Steps) != 3 {
		t.Fatalf("%s, %d steps", p.Status, len(p.Steps))
	}
	rec = &recorder{answer: (&model{slots: 8, service: 650 * time.Millisecond}).run}
	q, err = Resume(context.Background(), Config{Base: base(), Run: rec.run}, p)
	if err != nil || q.Status != StatusCompleted || strings.Join(rec.steps(), ",") != "sweep,fine" {
		t.Errorf("after a failed sweep: %v %s, ran %v", err, q.Status, rec.steps())
	}
}
