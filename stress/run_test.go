package stress

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/load"
)

// model is a fake server for the engine's logic: slots decode slots, each
// request served in service; its runner makes results (and timeline
// entries for the sink) from that model without sending anything, so a
// whole procedure runs in milliseconds.
type model struct {
	slots   int
	service time.Duration
	// drift adds this much latency per minute of a step (validation, soak).
	drift time.Duration
	// failStep makes the runner's results for that step fail every
	// request; errStep makes the runner return an error.
	failStep, errStep string
	// cancelAt cancels the procedure's context during that step.
	cancelAt string
	cancel   context.CancelFunc

	mu    sync.Mutex
	calls []call
}

type call struct {
	step string
	o    load.Options
}

func (m *model) capacity() float64 { return float64(m.slots) / m.service.Seconds() }

func (m *model) run(ctx context.Context, step string, o load.Options) (*load.Result, string, error) {
	m.mu.Lock()
	m.calls = append(m.calls, call{step, o})
	n := len(m.calls)
	m.mu.Unlock()
	if step == m.errStep {
		return nil, "", errors.New("archive: disk full")
	}
	now := time.Now()
	res := &load.Result{Mode: o.Mode, Status: load.StatusCompleted, Started: now, Context: load.Context{Mode: o.Mode, VUs: o.VUs, MaxVUs: o.MaxVUs}}
	lat := func(users float64) float64 { // ms, with queueing past the slots
		return float64(m.service.Milliseconds()) * max(1, users/float64(m.slots))
	}
	stepOf := func(i int, rate float64, vus int) load.Step {
		var served, p50 float64
		if vus > 0 {
			served, p50 = math.Min(float64(vus), float64(m.slots))/m.service.Seconds(), lat(float64(vus))
		} else {
			served, p50 = math.Min(rate, m.capacity()), lat(rate*m.service.Seconds())
		}
		st := load.Step{Index: i, OfferedRate: rate, VUs: vus, ArrivalRate: rate, AchievedRate: served, Start: now.Add(o.Warmup), End: now.Add(o.Warmup + o.Duration)}
		st.Summary.Successful, st.Summary.Requests = 100, 100
		st.Summary.E2E = load.Dist{Count: 100, P50: p50, P95: p50, P99: p50}
		st.Summary.TTFT = load.Dist{Count: 100, P50: 20, P99: 20}
		if step == m.failStep {
			st.Summary.Successful, st.Summary.Failed, st.Summary.ErrorRatio = 0, 100, 1
			st.Summary.Errors = map[string]int64{"http_4xx": 100}
			st.Summary.ErrorMessages = map[string][]string{"http_4xx": {"HTTP 404: model not found"}}
		}
		return st
	}
	switch o.Mode {
	case load.ModeRate:
		for i, r := range o.Rates {
			res.Steps = append(res.Steps, stepOf(i+1, r, 0))
		}
	case load.ModeThroughput:
		res.Steps = append(res.Steps, stepOf(1, 0, o.VUs))
	case load.ModeSweep:
		s0 := stepOf(0, 0, o.MaxVUs)
		res.Steps = append(res.Steps, s0)
		res.MaxThroughput = &load.Throughput{RequestsPerSecond: s0.AchievedRate}
		for i := 1; i <= o.NumRates; i++ {
			r := s0.AchievedRate * load.SweepHeadroom * float64(i) / float64(o.NumRates)
			st := stepOf(i, r, 0)
			if r > m.capacity() {
				st.OverSaturated = true
				st.Saturation = &load.Saturation{OverSaturated: true, Why: "over-saturated: the queue grew"}
				res.SaturationRate = r
				res.Steps = append(res.Steps, st)
				break
			}
			res.Steps = append(res.Steps, st)
			res.DetectedMax = &load.Throughput{Step: i, RequestsPerSecond: r, OutputTokensPerSecond: 64 * r}
		}
	}
	res.Summary = res.Steps[0].Summary
	if o.Sink != nil { // a steady timeline, latency drifting by m.drift per minute
		start := now.Add(o.Warmup)
		every := 50 * time.Millisecond
		for at := start; at.Before(start.Add(o.Duration)); at = at.Add(every) {
			e2e := m.service + time.Duration(float64(m.drift)*at.Sub(start).Minutes())
			_ = o.Sink.WriteEntry(&load.Entry{Phase: o.Phase, Start: at.Add(-e2e), End: at, E2EMS: float64(e2e) / 1e6, TTFTMS: 20, Result: "success"})
		}
	}
	if step == m.cancelAt {
		m.cancel()
		res.Status = load.StatusInterrupted
	}
	res.Ended = now.Add(o.Warmup + o.Duration)
	return res, "run-" + string(rune('a'+n-1)), nil
}

func (m *model) stepCalls(step string) []load.Options {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []load.Options
	for _, c := range m.calls {
		if c.step == step {
			out = append(out, c.o)
		}
	}
	return out
}

func base() load.Options {
	return load.Options{Target: "sim:8000", Model: "m", Kind: "chat", MaxInFlight: 512}
}

// Each step derives from the earlier ones: the ladder stops at its knee,
// the sweep has twice the knee's users, the fine rates are the fractions of
// the detected max, the validation has the knee's users, the soak 75 % of
// the max; a scaled procedure's steps last at least five sanity latencies.
func TestProcedureDerivesEachStep(t *testing.T) {
	m := &model{slots: 8, service: 650 * time.Millisecond}
	dir := t.TempDir()
	var reports []string
	p, err := Run(context.Background(), Config{
		Plan: Plan{Scale: 0.01, Ladder: []int{4, 8, 16, 32, 64}}, Base: base(), Run: m.run, Store: &Store{Dir: dir},
		Report: func(p *Procedure, d string) error {
			reports = append(reports, d)
			if _, err := os.Stat(filepath.Join(d, FileName)); err != nil {
				t.Errorf("report before the procedure was saved: %v", err)
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != StatusCompleted || !p.Passed {
		t.Fatalf("status %s passed %v: %s %+v", p.Status, p.Passed, p.StopReason, p.Steps)
	}
	coarse := m.stepCalls(StepCoarse)
	var users []int
	for _, o := range coarse {
		users = append(users, o.VUs)
	}
	if !slices.Equal(users, []int{4, 8, 16}) {
		t.Errorf("ladder ran %v: want it to stop at the knee, 16", users)
	}
	if n := p.Numbers; !n.KneeFound || n.KneeVUs != 16 {
		t.Errorf("numbers %+v", n)
	}
	if v := p.Steps[2].Verdicts; len(v) != 1 || v[0].Name != VerdictSaturation || v[0].Value != p.Numbers.SaturationRPS || !strings.Contains(v[0].Summary, "the p99 knee") {
		t.Errorf("sweep verdicts %+v", v)
	}
	if sw := m.stepCalls(StepSweep); len(sw) != 1 || sw[0].MaxVUs != 32 || sw[0].NumRates != 10 || sw[0].ErrorRatio != KneeErrorRatio {
		t.Errorf("sweep %+v", sw)
	}
	top := p.Numbers.DetectedMaxRPS
	if top <= 0 || p.Numbers.SaturationRPS <= top {
		t.Fatalf("numbers %+v", p.Numbers)
	}
	fine := m.stepCalls(StepFine)
	if len(fine) != 1 || len(fine[0].Rates) != 5 {
		t.Fatalf("fine %+v", fine)
	}
	for i, f := range DefaultPlan().Fractions {
		if math.Abs(fine[0].Rates[i]-f*top) > 1e-9 {
			t.Errorf("fine rate %d: %.3f, want %.3f", i, fine[0].Rates[i], f*top)
		}
	}
	if v := m.stepCalls(StepValidation); len(v) != 1 || v[0].VUs != 16 || v[0].Mode != load.ModeThroughput {
		t.Errorf("validation %+v", v)
	}
	soak := m.stepCalls(StepSoak)
	if len(soak) != 1 || math.Abs(soak[0].Rates[0]-0.75*top) > 1e-9 {
		t.Errorf("soak %+v", soak)
	}
	// Durations: 0.01 of the plan's, at least 5 × 650 ms a step and 2 ×
	// 650 ms a warmup, the sanity check at least 5 requests.
	for _, tc := range []struct {
		o              load.Options
		dur, warm      time.Duration
		phase, context string
	}{
		{m.stepCalls(StepSanity)[0], 5 * time.Second, 100 * time.Millisecond, StepSanity, "sanity"},
		{coarse[0], 3250 * time.Millisecond, 0, StepCoarse, "coarse"},
		{m.stepCalls(StepSweep)[0], 3250 * time.Millisecond, 1300 * time.Millisecond, StepSweep, "sweep"},
		{fine[0], 3250 * time.Millisecond, 0, StepFine, "fine"},
		{m.stepCalls(StepValidation)[0], 6 * time.Second, 1300 * time.Millisecond, StepValidation, "validation"},
		{soak[0], 36 * time.Second, 1300 * time.Millisecond, StepSoak, "soak"},
	} {
		if tc.o.Duration != tc.dur || tc.o.Warmup != tc.warm || tc.o.Phase != tc.phase || tc.o.Name != "stress" || tc.o.Target != "sim:8000" {
			t.Errorf("%s: duration %s warmup %s phase %s name %s, want %s %s", tc.context, tc.o.Duration, tc.o.Warmup, tc.o.Phase, tc.o.Name, tc.dur, tc.warm)
		}
	}
	for _, s := range []string{StepValidation, StepSoak} {
		o := p.Outcome(s)
		if len(o.Series) != MinWindows {
			t.Errorf("%s: %d windows", s, len(o.Series))
		}
		if i := slices.IndexFunc(o.Verdicts, func(v load.Verdict) bool { return v.Name == VerdictLatencyDrift }); i < 0 || o.Verdicts[i].Failed {
			t.Errorf("%s: drift verdict %+v", s, o.Verdicts)
		}
	}
	if !slices.ContainsFunc(p.Outcome(StepSoak).Verdicts, func(v load.Verdict) bool { return v.Name == VerdictQueueGrowth }) {
		t.Errorf("the soak has no queue growth verdict")
	}
	// One save (and report) before the first step and after each.
	if len(reports) != 1+len(Steps) || reports[0] != filepath.Join(dir, "procedures", p.ID) {
		t.Errorf("reports %v", reports)
	}
	stored, err := (&Store{Dir: dir}).Load(p.ID)
	if err != nil || stored.Status != StatusCompleted || len(stored.Steps) != len(Steps) || stored.Numbers != p.Numbers {
		t.Fatalf("stored %+v, %v", stored, err)
	}
	if len(p.Steps[1].RunIDs) != 3 || p.Steps[1].RunIDs[0] != "run-b" {
		t.Errorf("coarse run IDs %v", p.Steps[1].RunIDs)
	}
	for i, v := range p.Verdicts {
		if p.Steps[v.Step].Step == "" || !slices.ContainsFunc(p.Steps[v.Step].Verdicts, func(w load.Verdict) bool { return w.Name == v.Name }) {
			t.Errorf("verdict %d (%s) names step %d, which lacks it", i, v.Name, v.Step)
		}
	}
}

// A drifting server fails the validation's and the soak's drift verdicts;
// the procedure runs to its end but does not pass.
func TestProcedureDriftFails(t *testing.T) {
	m := &model{slots: 8, service: 650 * time.Millisecond, drift: 2 * time.Second}
	var log strings.Builder
	p, err := Run(context.Background(), Config{Plan: Plan{Scale: 0.01}, Base: base(), Run: m.run, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(log.String())
	if !strings.Contains(log.String(), "latency_drift FAILED: median and p99 latency drift upwards") {
		t.Errorf("the log does not say the verdict failed")
	}
	if p.Status != StatusCompleted || p.Passed {
		t.Fatalf("status %s passed %v", p.Status, p.Passed)
	}
	for _, s := range []string{StepValidation, StepSoak} {
		o := p.Outcome(s)
		if o.Status != OutcomeFailed || !strings.Contains(o.Why, "failed: latency_drift") {
			t.Errorf("%s: %s %s", s, o.Status, o.Why)
		}
	}
	// 2 s per minute of drift over the soak.
	if d := p.Numbers.P50DriftMSPerMin; math.Abs(d-2000) > 100 {
		t.Errorf("p50 drift %.0f ms/min, want 2000", d)
	}
}

// A sanity check that nothing passes stops the procedure there, saying why.
func TestProcedureStopsAtAFailedSanityCheck(t *testing.T) {
	m := &model{slots: 8, service: 650 * time.Millisecond, failStep: StepSanity}
	p, err := Run(context.Background(), Config{Plan: Plan{Scale: 0.01}, Base: base(), Run: m.run})
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != StatusFailed || p.Passed || len(p.Steps) != 1 || len(m.calls) != 1 {
		t.Fatalf("status %s, %d steps, %d runs", p.Status, len(p.Steps), len(m.calls))
	}
	if !strings.Contains(p.StopReason, "sanity failed") || !strings.Contains(p.StopReason, "HTTP 404: model not found") {
		t.Errorf("stop reason %q", p.StopReason)
	}
	if v := p.Verdicts; len(v) != 1 || v[0].Name != VerdictSanity || !v[0].Failed {
		t.Errorf("verdicts %+v", v)
	}
}

// A runner that cannot run stops the procedure with its error.
func TestProcedureRunnerError(t *testing.T) {
	m := &model{slots: 8, service: 650 * time.Millisecond, errStep: StepSweep}
	p, _ := Run(context.Background(), Config{Plan: Plan{Scale: 0.01}, Base: base(), Run: m.run})
	if p.Status != StatusFailed || !strings.Contains(p.StopReason, "sweep failed: archive: disk full") {
		t.Fatalf("status %s: %s", p.Status, p.StopReason)
	}
}

// Without a knee the ladder doubles up to its max, bounded by the runs'
// max_in_flight.
func TestLadderExtendsToItsMax(t *testing.T) {
	m := &model{slots: 10000, service: 100 * time.Millisecond}
	o := base()
	o.MaxInFlight = 100
	p, err := Run(context.Background(), Config{Plan: Plan{Scale: 0.01, Steps: []string{StepCoarse}}, Base: o, Run: m.run})
	if err != nil {
		t.Fatal(err)
	}
	var users []int
	for _, c := range m.stepCalls(StepCoarse) {
		users = append(users, c.VUs)
	}
	if !slices.Equal(users, []int{4, 8, 16, 32, 64, 100}) {
		t.Errorf("ladder %v", users)
	}
	if p.Numbers.KneeFound || !strings.Contains(p.Steps[0].Why, "no knee up to 100 users") {
		t.Errorf("%+v: %s", p.Numbers, p.Steps[0].Why)
	}
}

// Steps that need the max fail without one; with the plan's MaxRPS the
// soak runs alone, and the validation without a ladder takes its last rung.
func TestStepsOnTheirOwn(t *testing.T) {
	m := &model{slots: 8, service: 650 * time.Millisecond}
	p, _ := Run(context.Background(), Config{Plan: Plan{Scale: 0.01, Steps: []string{StepFine}}, Base: base(), Run: m.run})
	if p.Status != StatusFailed || !strings.Contains(p.StopReason, "needs the detected max") {
		t.Errorf("fine alone: %s %s", p.Status, p.StopReason)
	}
	m = &model{slots: 8, service: 650 * time.Millisecond}
	p, _ = Run(context.Background(), Config{Plan: Plan{Scale: 0.01, Steps: []string{StepValidation, StepSoak}, MaxRPS: 10, Ladder: []int{12}}, Base: base(), Run: m.run})
	if p.Status != StatusCompleted {
		t.Fatalf("%s %s", p.Status, p.StopReason)
	}
	if v := m.stepCalls(StepValidation); v[0].VUs != 12 || v[0].Duration != 6*time.Second {
		t.Errorf("validation %+v", v[0])
	}
	if s := m.stepCalls(StepSoak); s[0].Rates[0] != 7.5 {
		t.Errorf("soak %+v", s[0])
	}
}

// Ctrl-C during a step leaves an interrupted procedure on disk; resuming it
// runs that step again and the rest, reusing the earlier steps' results.
func TestInterruptAndResume(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	m := &model{slots: 8, service: 650 * time.Millisecond, cancelAt: StepFine, cancel: cancel}
	store := &Store{Dir: dir}
	p, err := Run(ctx, Config{Plan: Plan{Scale: 0.01}, Base: base(), Run: m.run, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != StatusInterrupted || p.Passed || len(p.Steps) != 4 || p.Steps[3].Status != OutcomeInterrupted {
		t.Fatalf("status %s, steps %+v", p.Status, p.Steps)
	}
	stored, err := store.Load(p.ID)
	if err != nil || stored.Status != StatusInterrupted || len(stored.Steps[3].Results) != 1 {
		t.Fatalf("stored %+v, %v", stored, err)
	}
	if _, err := Resume(context.Background(), Config{Base: load.Options{Target: "other:1", Model: "m"}, Run: m.run}, stored); err == nil || !strings.Contains(err.Error(), "resume it against the same server") {
		t.Errorf("resume against another target: %v", err)
	}

	m2 := &model{slots: 8, service: 650 * time.Millisecond}
	q, err := Resume(context.Background(), Config{Plan: Plan{Scale: 1}, Base: base(), Run: m2.run, Store: store}, stored)
	if err != nil {
		t.Fatal(err)
	}
	if q.Status != StatusCompleted || !q.Passed || q.ID != p.ID {
		t.Fatalf("resumed: %s %v %s", q.Status, q.Passed, q.ID)
	}
	var steps []string
	for _, c := range m2.calls {
		steps = append(steps, c.step)
	}
	if !slices.Equal(steps, []string{StepFine, StepValidation, StepSoak}) {
		t.Errorf("resumed runs %v", steps)
	}
	// the stored plan (scale 0.01), not the new one, and the earlier max
	if f := m2.stepCalls(StepFine)[0]; f.Duration != 3250*time.Millisecond || f.Rates[4] != 0.9*p.Numbers.DetectedMaxRPS {
		t.Errorf("fine after resume %+v (max %.2f)", f, p.Numbers.DetectedMaxRPS)
	}
	if len(q.Steps) != len(Steps) || q.Numbers.KneeVUs != 16 {
		t.Errorf("resumed steps %d numbers %+v", len(q.Steps), q.Numbers)
	}
	if _, err := Resume(context.Background(), Config{Base: base(), Run: m2.run}, q); err == nil {
		t.Errorf("resuming a completed procedure")
	}
}

func TestStoreRejectsPathTricks(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	for _, id := range []string{"../x", ".hidden", "a/b", ""} {
		if _, err := s.Load(id); err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("Load(%q): %v", id, err)
		}
	}
	if _, err := s.Load("20260101T000000Z_x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing procedure: %v", err)
	}
	// Two procedures started in the same second get their own directories.
	at := time.Unix(1e9, 0)
	a, b := &Procedure{Started: at, Target: "h:1"}, &Procedure{Started: at, Target: "h:1"}
	if err := s.Create(a); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(b); err != nil {
		t.Fatal(err)
	}
	if a.ID == b.ID || !strings.HasSuffix(b.ID, "_2") || a.ID != "20010909T014640Z_h-1" {
		t.Errorf("ids %q %q", a.ID, b.ID)
	}
}
