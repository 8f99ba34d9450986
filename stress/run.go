package stress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/llmprobe/llmprobe/load"
)

// Config is what a procedure runs with.
type Config struct {
	// Plan is the procedure's plan; zero fields take DefaultPlan's values.
	// Resume ignores it: a procedure keeps the plan it started with.
	Plan Plan
	// Base holds what every step's runs share: target, model, kind,
	// workload, SLO, max_in_flight, error ratios, seed, drain, labels.
	// The procedure sets each run's mode, rates, users, durations and
	// warmup; Base must not ask for a number of requests (steps are
	// timed). Name labels the runs ("stress" when empty); each run's
	// Phase is its step's name.
	Base load.Options
	// Run runs and archives one load run; required.
	Run Runner
	// Store, when set, keeps procedure.json, saved after every step.
	Store *Store
	// Report, when set, is called after every save with the procedure and
	// its directory ("" without a Store), so an interrupted procedure
	// leaves a complete partial report; its error is returned by Run but
	// does not stop the procedure.
	Report func(p *Procedure, dir string) error
	// Log receives a line per run started and per step finished; nil:
	// silent.
	Log io.Writer
	// Name is the procedure's name (a daemon soak's); Started its start
	// (default: now).
	Name    string
	Started time.Time
}

// Run runs a new procedure and returns it: completed, failed (StopReason)
// or interrupted when ctx was canceled (resumable). The error is a setup
// error (the procedure did not start: nil procedure), or the first failure
// to save or report it (the procedure ran).
func Run(ctx context.Context, c Config) (*Procedure, error) {
	plan := c.Plan.WithDefaults()
	if err := check(&c, plan); err != nil {
		return nil, err
	}
	started := c.Started
	if started.IsZero() {
		started = time.Now()
	}
	p := &Procedure{
		Name: c.Name, Target: c.Base.Target, Model: c.Base.Model, Kind: c.Base.Kind,
		Status: StatusRunning, Started: started, Plan: plan, Workload: c.Base.Workload,
		SLO: sloSpec(c.Base), Steps: []StepOutcome{}, Verdicts: []load.Verdict{},
	}
	if c.Store != nil {
		if err := c.Store.Create(p); err != nil {
			return nil, err
		}
	} else {
		p.ID = NewID(started, p.Target)
	}
	return (&runner{c: c, p: p}).run(ctx)
}

// Resume continues procedure p (read from the Store) after its last
// completed step: an interrupted step, or the step whose failure stopped
// it, runs again; the earlier steps' results are reused for what the next
// steps derive from them. A completed procedure has nothing to resume.
func Resume(ctx context.Context, c Config, p *Procedure) (*Procedure, error) {
	if p.Status == StatusCompleted {
		return nil, fmt.Errorf("procedure %s is completed: nothing to resume", p.ID)
	}
	if c.Base.Target != p.Target || c.Base.Model != p.Model {
		return nil, fmt.Errorf("procedure %s ran against %s (model %s), not %s (model %s): resume it against the same server",
			p.ID, p.Target, p.Model, c.Base.Target, c.Base.Model)
	}
	p.Plan = p.Plan.WithDefaults()
	if err := check(&c, p.Plan); err != nil {
		return nil, err
	}
	// Drop what is to run again: the interrupted step, or the one whose
	// failure stopped the procedure.
	if n := len(p.Steps); n > 0 && (p.Steps[n-1].Status == OutcomeInterrupted || p.Status == StatusFailed) {
		p.Steps = p.Steps[:n-1]
	}
	p.Status, p.StopReason, p.Ended, p.Passed = StatusRunning, "", time.Time{}, false
	r := &runner{c: c, p: p}
	r.collect()
	return r.run(ctx)
}

func check(c *Config, plan Plan) error {
	if c.Run == nil {
		return errors.New("stress: no runner")
	}
	if c.Base.NumRequests > 0 {
		return errors.New("the procedure's steps are timed: a number of requests per step cannot be used")
	}
	return plan.Validate(inFlight(&c.Base))
}

func inFlight(o *load.Options) int {
	if o.MaxInFlight > 0 {
		return o.MaxInFlight
	}
	return load.DefaultMaxInFlight
}

func sloSpec(o load.Options) *load.SLOSpec {
	s := o.SLO
	if s.TTFT == 0 && s.ITL == 0 && s.TPOT == 0 && s.E2E == 0 {
		return nil
	}
	return &load.SLOSpec{TTFT: ms(s.TTFT), ITL: ms(s.ITL), TPOT: ms(s.TPOT), E2E: ms(s.E2E)}
}

// runner runs one procedure.
type runner struct {
	c   Config
	p   *Procedure
	err error // the first failure to save or report
}

func (r *runner) logf(format string, a ...any) {
	if r.c.Log != nil {
		fmt.Fprintf(r.c.Log, "stress: "+format+"\n", a...)
	}
}

func (r *runner) run(ctx context.Context) (*Procedure, error) {
	p := r.p
	r.save()
	done := map[string]bool{}
	for _, o := range p.Steps {
		done[o.Step] = true
	}
	for _, step := range p.Plan.Steps {
		if done[step] {
			continue
		}
		if ctx.Err() != nil {
			p.Status = StatusInterrupted
			break
		}
		o := r.step(ctx, step)
		p.Steps = append(p.Steps, *o)
		r.collect()
		r.logf("%s %s: %s", step, o.Status, o.Why)
		for _, v := range o.Verdicts {
			if !strings.Contains(o.Why, v.Summary) { // not said already
				r.logf("  %s%s: %s", v.Name, verdictWord(v), v.Summary)
			}
		}
		if o.Status == OutcomeInterrupted {
			p.Status = StatusInterrupted
			break
		}
		if o.Status == OutcomeFailed && stops(step, o) {
			p.Status, p.StopReason = StatusFailed, fmt.Sprintf("%s failed: %s", step, o.Why)
			break
		}
		if step != p.Plan.Steps[len(p.Plan.Steps)-1] {
			r.save() // the last step's save is the procedure's end below
		}
	}
	if p.Status == StatusRunning {
		p.Status = StatusCompleted
	}
	p.Ended = time.Now()
	p.Passed = p.Status == StatusCompleted && !slices.ContainsFunc(p.Verdicts, func(v load.Verdict) bool { return v.Failed }) &&
		!slices.ContainsFunc(p.Steps, func(o StepOutcome) bool { return o.Status != OutcomePassed && o.Status != OutcomeSkipped })
	r.save()
	return p, r.err
}

func verdictWord(v load.Verdict) string {
	switch {
	case v.Failed:
		return " FAILED"
	case v.Undecided:
		return " (undecided)"
	}
	return ""
}

// stops reports whether a failed step stops the procedure: when later
// steps cannot be derived from it (the sanity check, the ladder, the
// sweep), or when it could not run at all. A validation or soak that ran
// and found drift or growth does not: its verdicts say so, and the steps
// after it still tell something.
func stops(step string, o *StepOutcome) bool {
	switch step {
	case StepValidation, StepSoak, StepFine:
		return len(o.Results) == 0 || o.Results[len(o.Results)-1].Summary.Successful == 0
	}
	return true
}

// save stores the procedure and rebuilds its report.
func (r *runner) save() {
	dir := ""
	if s := r.c.Store; s != nil {
		dir = s.ProcedureDir(r.p.ID)
		if err := s.Save(r.p); err != nil && r.err == nil {
			r.err = err
			r.logf("cannot save the procedure: %v", err)
		}
	}
	if r.c.Report != nil {
		if err := r.c.Report(r.p, dir); err != nil && r.err == nil {
			r.err = fmt.Errorf("report: %w", err)
			r.logf("cannot write the report: %v", err)
		}
	}
}

// collect rebuilds the procedure's verdicts and numbers from its steps.
func (r *runner) collect() {
	p := r.p
	p.Verdicts = []load.Verdict{}
	for i := range p.Steps {
		for j := range p.Steps[i].Verdicts {
			p.Steps[i].Verdicts[j].Step = i
			p.Verdicts = append(p.Verdicts, p.Steps[i].Verdicts[j])
		}
	}
	n := Numbers{}
	if o := p.outcome(StepCoarse); o != nil && len(o.Results) > 0 {
		if k := findKneeFrom(r.p.sanitySummary(), o.Results); k.found {
			n.KneeVUs, n.KneeFound = k.vus, true
		}
	}
	if o := p.outcome(StepSweep); o != nil && len(o.Results) > 0 {
		res := o.Results[0]
		if m := res.DetectedMax; m != nil {
			n.DetectedMaxRPS, n.DetectedMaxTokensPerS = m.RequestsPerSecond, m.OutputTokensPerSecond
		}
		n.SaturationRPS = res.SaturationRate
	}
	for _, step := range []string{StepValidation, StepSoak} { // the soak's, when it ran, win
		o := p.outcome(step)
		if o == nil || len(o.Results) == 0 {
			continue
		}
		if step == StepSoak {
			n.P99AtSoakMS = o.Results[0].Summary.E2E.P99
		}
		for _, v := range o.Verdicts {
			switch {
			case v.Name == VerdictLatencyDrift && !v.Undecided:
				_, p50, p99 := driftVerdict(o.Series)
				n.P50DriftMSPerMin, n.P99DriftMSPerMin = p50.line.Slope, p99.line.Slope
			case v.Name == VerdictVRAMGrowth && !v.Undecided:
				n.VRAMGrowthPerMin = v.Value
			case v.Name == load.VerdictServerMemoryGrowth && !v.Undecided:
				n.ServerMemPerMin = v.Value
				if v.Unit == "bytes/s" {
					n.ServerMemPerMin = v.Value * 60
				}
			}
		}
	}
	p.Numbers = n
}

// outcome returns the last outcome of step, nil if it did not run.
func (p *Procedure) outcome(step string) *StepOutcome {
	for i := len(p.Steps) - 1; i >= 0; i-- {
		if p.Steps[i].Step == step {
			return &p.Steps[i]
		}
	}
	return nil
}

// sanitySummary is the sanity check's summary, the baseline of the knee's
// errors (nil: it did not run).
func (p *Procedure) sanitySummary() *load.Summary {
	if o := p.outcome(StepSanity); o != nil && len(o.Results) > 0 && o.Results[0] != nil {
		return &o.Results[0].Summary
	}
	return nil
}

// Outcome returns the outcome of step, nil if it did not run.
func (p *Procedure) Outcome(step string) *StepOutcome { return p.outcome(step) }

// sanityLatency is the sanity check's median end-to-end latency, the unit
// of a scaled procedure's floors (0: no sanity check ran).
func (r *runner) sanityLatency() time.Duration {
	o := r.p.outcome(StepSanity)
	if o == nil || len(o.Results) == 0 {
		return 0
	}
	return time.Duration(o.Results[0].Summary.E2E.P50 * float64(time.Millisecond))
}

// stepDuration and warmup are a step's scaled durations with their floors,
// to the millisecond (a floor of latencies is no more precise than that).
func (r *runner) stepDuration(d time.Duration) time.Duration {
	return r.p.Plan.scaled(d, MinStepLatencies*r.sanityLatency()).Round(time.Millisecond)
}

func (r *runner) warmup(d time.Duration) time.Duration {
	return r.p.Plan.scaled(d, MinWarmupLatencies*r.sanityLatency()).Round(time.Millisecond)
}

// ladderCap is the most users the ladder may reach.
func (r *runner) ladderCap() int { return min(r.p.Plan.LadderMax, inFlight(&r.c.Base)) }

// kneeUsers is the validation's users: the knee's, else the last rung the
// ladder ran, else (no ladder ran) the plan's last rung.
func (r *runner) kneeUsers() (int, string) {
	if o := r.p.outcome(StepCoarse); o != nil && len(o.Results) > 0 {
		if k := findKneeFrom(r.p.sanitySummary(), o.Results); k.found {
			return k.vus, "the knee's users"
		}
		return o.Results[len(o.Results)-1].Context.VUs, "the ladder's last rung, no knee found"
	}
	l := r.p.Plan.Ladder
	return l[len(l)-1], "the plan's last ladder rung, the coarse step did not run"
}

// maxRPS is the detected max the fine rates and the soak take fractions
// of: the sweep's, else the plan's MaxRPS, else the sweep's throughput
// phase (no rate qualified).
func (r *runner) maxRPS() (float64, string) {
	if o := r.p.outcome(StepSweep); o != nil && len(o.Results) > 0 {
		res := o.Results[0]
		if m := res.DetectedMax; m != nil {
			return m.RequestsPerSecond, "the sweep's detected max"
		}
	}
	if m := r.p.Plan.MaxRPS; m > 0 {
		return m, "the plan's max"
	}
	return 0, ""
}

// base returns the step's options before its shape.
func (r *runner) base(step string) load.Options {
	o := r.c.Base
	if o.Name == "" {
		o.Name = "stress"
	}
	o.Phase = step
	o.Rates, o.VUs, o.MaxVUs, o.NumRates, o.NumRequests = nil, 0, 0, 0, 0
	o.Warmup, o.Sink = 0, nil
	return o
}

// launch runs one load run of a step.
func (r *runner) launch(ctx context.Context, step string, o load.Options, out *StepOutcome) (*load.Result, error) {
	r.logf("%s: %s", step, describe(&o))
	res, id, err := r.c.Run(ctx, step, o)
	if res == nil {
		if err == nil {
			err = errors.New("the runner returned no result")
		}
		return nil, err
	}
	if err != nil {
		r.logf("%s: the run was not archived: %v", step, err)
	}
	out.Results = append(out.Results, res)
	if id != "" {
		out.RunIDs = append(out.RunIDs, id)
	}
	return res, nil
}

func describe(o *load.Options) string {
	var b strings.Builder
	switch o.Mode {
	case load.ModeRate:
		rates := make([]string, len(o.Rates))
		for i, v := range o.Rates {
			rates[i] = fmt.Sprintf("%.2f", v)
		}
		fmt.Fprintf(&b, "%s req/s", strings.Join(rates, ", "))
	case load.ModeThroughput:
		fmt.Fprintf(&b, "%d users", o.VUs)
	case load.ModeSweep:
		fmt.Fprintf(&b, "sweep with %d users then %d rates", o.MaxVUs, o.NumRates)
	}
	fmt.Fprintf(&b, ", %s per step", o.Duration)
	if o.Warmup > 0 {
		fmt.Fprintf(&b, " after %s warmup", o.Warmup)
	}
	return b.String()
}

// step runs one step and judges it.
func (r *runner) step(ctx context.Context, step string) *StepOutcome {
	out := &StepOutcome{Step: step, Started: time.Now()}
	defer func() { out.Ended = time.Now() }()
	fail := func(format string, a ...any) *StepOutcome {
		out.Status, out.Why = OutcomeFailed, fmt.Sprintf(format, a...)
		return out
	}
	interrupted := func(res *load.Result, err error) bool {
		if (res != nil && res.Status == load.StatusInterrupted) || (ctx.Err() != nil && (res == nil || err != nil)) {
			out.Status, out.Why = OutcomeInterrupted, "interrupted; resume the procedure to run this step again"
			return true
		}
		return false
	}
	var err error
	switch step {
	case StepSanity:
		err = r.sanity(ctx, out)
	case StepCoarse:
		err = r.coarse(ctx, out)
	case StepSweep:
		err = r.sweep(ctx, out)
	case StepFine:
		err = r.fine(ctx, out)
	case StepValidation:
		err = r.overTime(ctx, out, false)
	case StepSoak:
		err = r.overTime(ctx, out, true)
	default:
		err = fmt.Errorf("unknown step %q", step)
	}
	var last *load.Result
	if n := len(out.Results); n > 0 {
		last = out.Results[n-1]
	}
	switch {
	case interrupted(last, err):
	case err != nil:
		fail("%v", err)
	case out.Status == "":
		out.Status = OutcomePassed
		if slices.ContainsFunc(out.Verdicts, func(v load.Verdict) bool { return v.Failed }) {
			out.Status = OutcomeFailed
		}
	}
	return out
}

// errNoSuccess is a run in which nothing succeeded.
func errNoSuccess(what string, res *load.Result) error {
	return fmt.Errorf("no request succeeded %s%s", what, failureHint(&res.Summary))
}

func (r *runner) sanity(ctx context.Context, out *StepOutcome) error {
	pl := &r.p.Plan
	o := r.base(StepSanity)
	o.Mode, o.Rates = load.ModeRate, []float64{pl.SanityRate}
	o.Duration = pl.scaled(pl.SanityDuration, time.Duration(MinSanityRequests/pl.SanityRate*float64(time.Second)))
	o.Warmup = pl.scaled(pl.SanityWarmup, 0)
	res, err := r.launch(ctx, StepSanity, o, out)
	if err != nil || res.Status == load.StatusInterrupted {
		return err
	}
	v := sanityVerdict(res, r.c.Base.SLO.TTFT)
	out.Verdicts = append(out.Verdicts, v)
	if v.Failed {
		out.Status, out.Why = OutcomeFailed, "the server is not serving well even at "+fmt.Sprintf("%g req/s: %s", pl.SanityRate, v.Summary)
		return nil
	}
	out.Why = fmt.Sprintf("%g req/s for %s: %s", pl.SanityRate, o.Duration, v.Summary)
	return nil
}

func (r *runner) coarse(ctx context.Context, out *StepOutcome) error {
	pl := &r.p.Plan
	rungs := slices.Clone(pl.Ladder)
	limit := r.ladderCap()
	var k knee
	for i := 0; ; i++ {
		if i == len(rungs) {
			last := rungs[len(rungs)-1]
			if last >= limit {
				break
			}
			rungs = append(rungs, min(2*last, limit)) // no knee yet: double
		}
		o := r.base(StepCoarse)
		o.Mode, o.VUs = load.ModeThroughput, rungs[i]
		o.Duration = r.stepDuration(pl.CoarseDuration)
		res, err := r.launch(ctx, StepCoarse, o, out)
		if err != nil {
			return fmt.Errorf("%d users: %w", rungs[i], err)
		}
		if res.Status == load.StatusInterrupted {
			return nil
		}
		r.logf("%s: %d users: %.2f req/s, median latency %.0f ms, %.1f %% errors", StepCoarse, rungs[i], rungThroughput(res), res.Summary.E2E.P50, 100*res.Summary.ErrorRatio)
		if res.Summary.Successful == 0 {
			return errNoSuccess(fmt.Sprintf("at %d users", rungs[i]), res)
		}
		if k = findKneeFrom(r.p.sanitySummary(), out.Results); k.found {
			break // the rung past the knee: no need to go higher
		}
	}
	v := load.Verdict{Name: VerdictKnee, Unit: "users"}
	if k.found {
		v.Value, v.Summary = float64(k.vus), fmt.Sprintf("knee at %d users: %s", k.vus, k.why)
	} else {
		last := rungs[len(rungs)-1]
		v.Summary = fmt.Sprintf("no knee up to %d users (the ladder's max): no rung had more than %.0f %% errors or a latency jump (median latency up more than %.0f %% while throughput grew less than %.0f %% of the users added)",
			last, 100*KneeErrorRatio, 100*KneeLatencyRise, 100*KneeScaling)
	}
	out.Verdicts = append(out.Verdicts, v)
	out.Why = v.Summary
	return nil
}

func (r *runner) sweep(ctx context.Context, out *StepOutcome) error {
	pl := &r.p.Plan
	// Past the knee, so the throughput phase finds the max.
	users, why := r.kneeUsers()
	if o := r.p.outcome(StepCoarse); o != nil && findKneeFrom(r.p.sanitySummary(), o.Results).found {
		users, why = 2*users, "twice the knee's users"
	}
	users = min(users, r.ladderCap())
	o := r.base(StepSweep)
	o.Mode, o.MaxVUs, o.NumRates = load.ModeSweep, users, pl.SweepRates
	o.Duration, o.Warmup = r.stepDuration(pl.SweepDuration), r.warmup(pl.SweepWarmup)
	if o.ErrorRatio == 0 {
		o.ErrorRatio = KneeErrorRatio // a rate that fails requests is not sustainable
	}
	r.logf("%s: %d users (%s)", StepSweep, users, why)
	res, err := r.launch(ctx, StepSweep, o, out)
	if err != nil || res.Status == load.StatusInterrupted {
		return err
	}
	sat := load.Verdict{Name: VerdictSaturation, Unit: "req/s", Value: res.SaturationRate}
	if res.SaturationRate > 0 {
		for _, s := range res.Steps {
			if s.OverSaturated && s.Saturation != nil {
				sat.Summary = fmt.Sprintf("over-saturated at %.2f req/s (sweep step %d), the p99 knee: %s", s.OfferedRate, s.Index, s.Saturation.Why)
			}
		}
	} else {
		top := 0.0
		for _, s := range res.Steps {
			top = max(top, s.OfferedRate)
		}
		sat.Summary = fmt.Sprintf("no rate over-saturated up to %.2f req/s", top)
	}
	out.Verdicts = append(out.Verdicts, sat)
	m := res.DetectedMax
	if m == nil {
		stop := res.StopReason
		if stop == "" {
			stop = "no rate achieved 95 % of its offered rate within the error ratio and the SLO"
		}
		if res.Summary.Successful == 0 {
			return errNoSuccess("in the sweep", res)
		}
		return fmt.Errorf("no detected max: %s", stop)
	}
	out.Why = fmt.Sprintf("detected max %.2f req/s (%.0f output tokens/s) with %d users in its throughput phase", m.RequestsPerSecond, m.OutputTokensPerSecond, users)
	if res.StopReason != "" {
		out.Why += "; " + res.StopReason
	}
	return nil
}

func (r *runner) fine(ctx context.Context, out *StepOutcome) error {
	pl := &r.p.Plan
	top, why := r.maxRPS()
	if top <= 0 {
		return errors.New("needs the detected max: run the sweep step, or give the max (--max-rps)")
	}
	o := r.base(StepFine)
	o.Mode = load.ModeRate
	for _, f := range pl.Fractions {
		o.Rates = append(o.Rates, f*top)
	}
	o.Duration = r.stepDuration(pl.FineDuration)
	r.logf("%s: fractions of %.2f req/s (%s)", StepFine, top, why)
	res, err := r.launch(ctx, StepFine, o, out)
	if err != nil || res.Status == load.StatusInterrupted {
		return err
	}
	var parts []string
	for i, s := range res.Steps {
		sum := &s.Summary
		parts = append(parts, fmt.Sprintf("%.0f %% (%.2f req/s): %.2f served, p95 %.0f ms, p99 %.0f ms, %.1f %% errors, %.0f tok/s",
			100*pl.Fractions[i], s.OfferedRate, s.AchievedRate, sum.E2E.P95, sum.E2E.P99, 100*sum.ErrorRatio, sum.OutputThroughput))
		if sum.Successful == 0 {
			return errNoSuccess(fmt.Sprintf("at %.2f req/s", s.OfferedRate), res)
		}
	}
	out.Why = strings.Join(parts, "; ")
	if len(res.Steps) < len(o.Rates) {
		return fmt.Errorf("stopped after %d of %d rates: %s (%s)", len(res.Steps), len(o.Rates), res.StopReason, out.Why)
	}
	return nil
}

// overTime runs the validation (closed loop at the knee's users) or the
// soak (open loop at SoakFraction of the max) and judges their series.
func (r *runner) overTime(ctx context.Context, out *StepOutcome, soak bool) error {
	pl := &r.p.Plan
	step := StepValidation
	if soak {
		step = StepSoak
	}
	o := r.base(step)
	var shape string
	if soak {
		top, why := r.maxRPS()
		if top <= 0 {
			return errors.New("needs the detected max: run the sweep step, or give the max (--max-rps)")
		}
		o.Mode, o.Rates = load.ModeRate, []float64{pl.SoakFraction * top}
		o.Duration = r.stepDuration(pl.SoakDuration)
		shape = fmt.Sprintf("%.2f req/s (%.0f %% of %s, %.2f req/s)", o.Rates[0], 100*pl.SoakFraction, why, top)
	} else {
		users, why := r.kneeUsers()
		o.Mode, o.VUs = load.ModeThroughput, users
		o.Duration = r.stepDuration(pl.ValidationDuration)
		shape = fmt.Sprintf("%d users (%s)", users, why)
	}
	o.Warmup = r.warmup(pl.DriftWarmup)
	sink := newSeriesSink(time.Now().Add(o.Warmup), o.Duration)
	o.Sink = sink
	res, err := r.launch(ctx, step, o, out)
	if err != nil || res.Status == load.StatusInterrupted {
		return err
	}
	if res.Summary.Successful == 0 {
		return errNoSuccess("at "+shape, res)
	}
	start, end := res.Started, res.Ended
	if len(res.Steps) > 0 {
		start, end = res.Steps[0].Start, res.Steps[0].End
	}
	out.Series = sink.windows(start)
	drift, _, _ := driftVerdict(out.Series)
	out.Verdicts = append(out.Verdicts, drift, errorAccumulationVerdict(out.Series))
	if soak {
		out.Verdicts = append(out.Verdicts, queueGrowthVerdict(out.Series))
	}
	out.Verdicts = append(out.Verdicts, vramVerdict(res.GPU, start, end))
	if res.Server != nil {
		out.Verdicts = append(out.Verdicts, res.Server.Verdicts...) // the server's own health checks
	}
	sum := &res.Summary
	out.Why = fmt.Sprintf("%s for %s: p50 %.0f ms, p99 %.0f ms, %.1f %% errors, %.2f req/s served", shape, o.Duration, sum.E2E.P50, sum.E2E.P99, 100*sum.ErrorRatio, sum.RequestThroughput)
	var failed []string
	for _, v := range out.Verdicts {
		if v.Failed {
			failed = append(failed, v.Name)
		}
	}
	if len(failed) > 0 {
		out.Why += "; failed: " + strings.Join(failed, ", ")
	}
	return nil
}
