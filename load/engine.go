package load

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/llmprobe/llmprobe/probe"
)

// Sender sends one request; *probe.Client is one. Do must not fail: every
// failure is a classified Record.
type Sender interface {
	Do(ctx context.Context, req probe.Request) *probe.Record
}

// Requests hands out the next request; *workload.Generator is one. It must
// be safe for concurrent use.
type Requests interface {
	Next() probe.Request
}

// Hooks let the caller watch a run. Every hook may be nil; they are called
// from many goroutines at once.
type Hooks struct {
	// Record sees every finished request, warmup included (rec.Phase says
	// which). interrupted: canceled because the run was stopped, which
	// says nothing of the server.
	Record func(rec *probe.Record, interrupted bool)
	// Dropped is told of every arrival the in-flight cap refused.
	Dropped func()
	// InFlight is told of every request starting (+1) and ending (-1).
	InFlight func(delta int)
	// Step sees each step when it ends.
	Step func(s *Step)
}

// errCut is the cause of the cancellation of requests still running when a
// step's drain bound expires.
var errCut = errors.New("cut at the drain bound")

// Runner runs one load run. Create it with New, then call Run once.
type Runner struct {
	send Sender
	reqs Requests
	o    Options
	h    Hooks
	sess *sessionRun // nil unless the requests are sessions (conversation.go)

	stop     chan struct{} // closed by Stop: no more arrivals
	stopOnce sync.Once
	hard     context.Context // Run's ctx: its end interrupts requests

	inflight atomic.Int64
	origin   time.Time
	shard    shardState // Options.Shard and StartAt (shard.go)

	sinkMu  sync.Mutex
	sinkErr error
	recMu   sync.Mutex
	records []*probe.Record

	// progress
	pmu                                    sync.Mutex
	prog                                   Progress
	sent, succeeded, failed, dropped, toks atomic.Int64
	// failedFirst counts failures while no request has succeeded yet.
	failedFirst atomic.Int64
}

// New returns a runner for o, with defaults applied; it fails if o is
// invalid.
func New(send Sender, reqs Requests, o Options, h Hooks) (*Runner, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &Runner{send: send, reqs: reqs, o: o, h: h, stop: make(chan struct{})}
	if err := r.initSessions(); err != nil { // conversations, shared prefixes (conversation.go)
		return nil, err
	}
	return r, nil
}

// Options returns the runner's options, defaults applied.
func (r *Runner) Options() Options { return r.o }

// Stop ends the run gracefully: no more arrivals; requests in flight drain
// within the drain bound, then Run returns a result marked interrupted. To
// cancel the requests too, cancel Run's context.
func (r *Runner) Stop() { r.stopOnce.Do(func() { close(r.stop) }) }

func (r *Runner) stopped() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

// Progress returns a snapshot of the run.
func (r *Runner) Progress() Progress {
	r.pmu.Lock()
	p := r.prog
	origin := r.origin
	r.pmu.Unlock()
	if !origin.IsZero() {
		p.Elapsed = time.Since(origin)
	}
	p.Sent = r.sent.Load()
	p.Succeeded = r.succeeded.Load()
	p.Failed = r.failed.Load()
	p.Dropped = r.dropped.Load()
	p.InFlight = r.inflight.Load()
	p.OutputToks = r.toks.Load()
	return p
}

func (r *Runner) setPhase(phase string) {
	r.pmu.Lock()
	r.prog.Phase = phase
	r.pmu.Unlock()
}

// stepSpec is what one step does.
type stepSpec struct {
	index  int
	kind   string  // StepRate or StepThroughput
	rate   float64 // StepRate
	vus    int     // StepThroughput
	warmup time.Duration
	// saturation: run the over-saturation test on the step (sweep rates).
	saturation bool
}

// stepRun is a running step.
type stepRun struct {
	spec   stepSpec
	agg    *aggregator
	ctx    context.Context
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup

	start    time.Time // first measured arrival is due (end of warmup)
	measured atomic.Int64
	lastEnd  atomic.Int64 // latest End of a measured request (UnixNano)

	halt     chan struct{}
	haltOnce sync.Once
	haltWhy  atomic.Value // string

	sat *saturationTest // nil unless spec.saturation

	conv convStep // closed loop: conversations that do not hold their user (conversation.go)

	arrivals schedule // rate steps: set by openLoop before any request starts
}

func (st *stepRun) stopStep(why string) {
	st.haltOnce.Do(func() {
		st.haltWhy.Store(why)
		close(st.halt)
	})
}

func (st *stepRun) halted() bool {
	select {
	case <-st.halt:
		return true
	default:
		return false
	}
}

// Run runs the load and returns its result. Canceling ctx stops the run at
// once: arrivals end and requests in flight are canceled (counted as
// interrupted, not as failures); the result is marked interrupted.
func (r *Runner) Run(ctx context.Context) *Result {
	r.hard = ctx
	o := &r.o
	origin := r.startClock(ctx) // now, or the shards' common start, waited for (shard.go)
	r.pmu.Lock()                // Progress reads the origin from other goroutines
	r.origin = origin
	r.pmu.Unlock()
	res := &Result{
		Name: o.Name, Target: o.Target, Model: o.Model, Kind: o.Kind, Mode: o.Mode,
		Started: r.origin, Context: r.context(),
	}
	runAgg := newAggregator(o.SLO, r.origin, uint64(o.Seed))
	var measured time.Duration
	add := func(s *Step, st *stepRun) {
		res.Steps = append(res.Steps, *s)
		runAgg.merge(st.agg)
		measured += s.End.Sub(s.Start)
		if r.h.Step != nil {
			r.h.Step(s)
		}
	}
	interrupted := func() bool { return ctx.Err() != nil || r.stopped() }

	switch o.Mode {
	case ModeRate:
		rates := r.stepRates() // a ramp is one step
		r.setSteps(len(rates))
		for i, rate := range rates {
			spec := stepSpec{index: i + 1, kind: StepRate, rate: rate}
			if i == 0 {
				spec.warmup = o.Warmup
			}
			s, st := r.runStep(ctx, spec)
			add(s, st)
			if why := r.stopAfter(s, nil); why != "" && !interrupted() {
				res.StopReason = why
				break
			}
			if interrupted() {
				break
			}
		}
	case ModeThroughput:
		r.setSteps(1)
		s, st := r.runStep(ctx, stepSpec{index: 1, kind: StepThroughput, vus: o.VUs, warmup: o.Warmup})
		add(s, st)
		if s.Stopped != "" && !interrupted() {
			res.StopReason = s.Stopped
		}
	case ModeSweep:
		r.sweep(ctx, res, add, interrupted)
	case ModeTrace:
		r.runTrace(ctx, res, add, interrupted)
	}

	res.Ended = time.Now()
	res.Summary = runAgg.summary(measured)
	res.Status = StatusCompleted
	if interrupted() {
		res.Status = StatusInterrupted
	}
	res.Passed = res.Success(o.ErrorRatio)
	if lag := res.Summary.ScheduleLag; lag.Count > 0 && lag.P99 > ms(o.LagThreshold) {
		res.ClientBottleneck = true
		res.ClientNote = fmt.Sprintf("schedule lag p99 %.1f ms exceeded %.1f ms: the client could not start requests on time, so it, not the server, limited the offered load",
			lag.P99, ms(o.LagThreshold))
	}
	r.sinkMu.Lock()
	if r.sinkErr != nil {
		res.SinkError = r.sinkErr.Error()
	}
	r.sinkMu.Unlock()
	r.closeSamples(res)
	r.recMu.Lock()
	res.Records = r.records
	r.recMu.Unlock()
	r.setPhase("done")
	return res
}

func (r *Runner) setSteps(n int) {
	r.pmu.Lock()
	r.prog.Steps = n
	r.pmu.Unlock()
}

// sweep finds the maximum throughput with MaxVUs users, then offers
// NumRates rates up to SweepHeadroom times it.
func (r *Runner) sweep(ctx context.Context, res *Result, add func(*Step, *stepRun), interrupted func() bool) {
	o := &r.o
	r.setSteps(o.NumRates + 1)
	s0, st0 := r.runStep(ctx, stepSpec{index: 0, kind: StepThroughput, vus: o.MaxVUs, warmup: o.Warmup})
	add(s0, st0)
	if interrupted() {
		return
	}
	if why := r.stopAfter(s0, nil); why != "" {
		res.StopReason = why
		return
	}
	maxRate := s0.AchievedRate
	if maxRate <= 0 {
		res.StopReason = "the throughput phase completed too few requests to estimate a rate"
		return
	}
	res.MaxThroughput = &Throughput{RequestsPerSecond: maxRate, OutputTokensPerSecond: maxRate * s0.Summary.OutputLen.Mean}

	var first *Step
	failedInRow := 0
	for i := 1; i <= o.NumRates; i++ {
		rate := maxRate * SweepHeadroom * float64(i) / float64(o.NumRates)
		s, st := r.runStep(ctx, stepSpec{index: i, kind: StepRate, rate: rate, saturation: true})
		if ctx.Err() == nil && s.Stopped == "" {
			if st.sat != nil {
				s.Saturation = st.sat.result()
				s.OverSaturated = s.Saturation.OverSaturated
			}
			r.qualify(s)
		}
		add(s, st)
		if interrupted() {
			return
		}
		if s.Qualified != nil && *s.Qualified {
			failedInRow = 0
			best := res.DetectedMax
			if best == nil || s.OfferedRate > best.RequestsPerSecond {
				res.DetectedMax = &Throughput{
					Step:                   s.Index,
					RequestsPerSecond:      s.OfferedRate,
					OutputTokensPerSecond:  s.AchievedRate * s.Summary.OutputLen.Mean,
					AchievedRequestsPerSec: s.AchievedRate,
				}
			}
		} else {
			failedInRow++
		}
		if first == nil {
			first = s
		}
		if s.OverSaturated {
			// Past this rate the queue only grows: the p99 knee.
			res.SaturationRate = s.OfferedRate
			res.StopReason = fmt.Sprintf("step %d (%.2f req/s offered) is over-saturated: %s", s.Index, s.OfferedRate, s.Saturation.Why)
			return
		}
		if why := r.stopAfter(s, first); why != "" {
			res.StopReason = why
			return
		}
		if failedInRow >= 2 && i < o.NumRates {
			res.StopReason = fmt.Sprintf("steps %d and %d both failed to qualify: past the maximum", i-1, i)
			return
		}
	}
}

// qualify decides whether a sweep rate step counts towards the detected
// max throughput.
func (r *Runner) qualify(s *Step) {
	o := &r.o
	ok := false
	sum := &s.Summary
	switch {
	case s.OverSaturated:
		s.Verdict = "over-saturated: requests in flight and TTFT grew during the step"
	case s.AchievedRate < AchievedRatio*s.ArrivalRate:
		s.Verdict = fmt.Sprintf("achieved %.2f req/s < %.0f%% of the %.2f req/s offered", s.AchievedRate, AchievedRatio*100, s.ArrivalRate)
	case o.ErrorRatio > 0 && sum.ErrorRatio > o.ErrorRatio:
		s.Verdict = fmt.Sprintf("error ratio %.3f > %.3f", sum.ErrorRatio, o.ErrorRatio)
	case o.SLO != (probe.SLO{}) && sum.SLOAttainment < o.SLOAttainment:
		s.Verdict = fmt.Sprintf("%.1f%% of requests met the SLO, < %.0f%%", sum.SLOAttainment*100, o.SLOAttainment*100)
	default:
		ok = true
	}
	s.Qualified = &ok
}

// stopAfter returns why the run should stop after step s ("" to go on).
// first is the sweep's first rate step, the latency reference.
func (r *Runner) stopAfter(s, first *Step) string {
	if s.Stopped != "" {
		return s.Stopped
	}
	if er := s.Summary.ErrorRatio; er > r.o.StopErrorRatio {
		return fmt.Sprintf("step %d error ratio %.3f exceeded stop_error_ratio %.3f", s.Index, er, r.o.StopErrorRatio)
	}
	if first != nil && first != s && first.Summary.E2E.Count > 0 && s.Summary.E2E.Count > 0 {
		if ref := first.Summary.E2E.P50; ref > 0 && s.Summary.E2E.P50 > r.o.StopLatencyFactor*ref {
			return fmt.Sprintf("step %d median latency %.0f ms exceeded %g times the first step's %.0f ms",
				s.Index, s.Summary.E2E.P50, r.o.StopLatencyFactor, ref)
		}
	}
	return ""
}

// runStep runs one step: its warmup if any, its arrivals, and the drain.
func (r *Runner) runStep(ctx context.Context, spec stepSpec) (*Step, *stepRun) {
	o := &r.o
	st := &stepRun{
		spec: spec,
		agg:  newAggregator(o.SLO, r.origin, uint64(o.Seed)+uint64(spec.index)*1000),
		halt: make(chan struct{}),
	}
	st.ctx, st.cancel = context.WithCancelCause(ctx)
	defer st.cancel(nil)

	r.pmu.Lock()
	r.prog.Step, r.prog.StepKind, r.prog.OfferedRate, r.prog.VUs = spec.index, spec.kind, spec.rate, spec.vus
	r.prog.Phase = "measure"
	if spec.warmup > 0 {
		r.prog.Phase = "warmup"
	}
	r.pmu.Unlock()

	// The step's clock starts here: warmup (if any), then the measured
	// window from st.start.
	st.start = r.stepClock().Add(spec.warmup)
	st.spec.vus = r.o.Shard.share(spec.vus) // this shard's users; the step says the run's
	if spec.saturation && o.Duration > 0 {
		st.sat = newSaturationTest(st.start, o.Duration, uint64(o.Seed)+uint64(spec.index))
	}
	monitorDone := make(chan struct{})
	defer close(monitorDone)
	go r.monitor(st, monitorDone)

	var arrivalsEnd time.Time
	if spec.kind == StepRate {
		arrivalsEnd = r.openLoop(ctx, st)
	} else {
		arrivalsEnd = r.closedLoop(ctx, st)
	}

	// Drain: wait for the step's requests, bounded.
	r.setPhase("drain")
	window := o.Duration
	done := make(chan struct{})
	go func() { st.wg.Wait(); close(done) }()
	if bound := o.drainFor(window); bound > 0 {
		t := time.NewTimer(bound)
		select {
		case <-done:
		case <-t.C:
			st.cancel(errCut)
			<-done
		}
		t.Stop()
	} else {
		<-done
	}

	s := &Step{Index: spec.index, Kind: spec.kind, OfferedRate: spec.rate, VUs: spec.vus, Start: st.start}
	if arrivalsEnd.Before(st.start) {
		arrivalsEnd = st.start
	}
	s.End = arrivalsEnd
	if le := st.lastEnd.Load(); le > 0 {
		if t := time.Unix(0, le); t.After(s.End) {
			s.End = t
		}
	}
	s.WindowS = arrivalsEnd.Sub(st.start).Seconds()
	s.DrainS = s.End.Sub(arrivalsEnd).Seconds()
	s.Summary = st.agg.summary(s.End.Sub(s.Start))
	s.ArrivalRate, s.AchievedRate = st.agg.rates()
	if spec.kind == StepRate && o.exactRate() && s.Summary.Requests+s.Summary.Dropped >= 2 {
		s.ArrivalRate = r.o.Shard.rate(spec.rate)
	}
	if why, ok := st.haltWhy.Load().(string); ok {
		s.Stopped = why
	}
	return s, st
}

// monitor stops a step whose error ratio passes stop_error_ratio, so a dead
// server is not hammered for a whole step.
func (r *Runner) monitor(st *stepRun, done <-chan struct{}) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		if time.Now().After(st.start) {
			r.pmu.Lock()
			if r.prog.Phase == "warmup" {
				r.prog.Phase = "measure"
			}
			r.pmu.Unlock()
		}
		n, failed := st.agg.counts()
		if n >= stopMinRequests && float64(failed)/float64(n) > r.o.StopErrorRatio {
			st.stopStep(fmt.Sprintf("step %d error ratio %.3f exceeded stop_error_ratio %.3f after %d requests",
				st.spec.index, float64(failed)/float64(n), r.o.StopErrorRatio, n))
			return
		}
	}
}

// openLoop issues a rate step's arrivals on schedule, each in its own
// goroutine, whatever the earlier ones are doing, and returns when the
// arrivals end.
func (r *Runner) openLoop(ctx context.Context, st *stepRun) time.Time {
	o := &r.o
	st.arrivals = r.shardSchedule(st, r.newSchedule(st))
	t0 := st.start.Add(-st.spec.warmup)
	var end time.Time
	if o.Duration > 0 {
		end = st.start.Add(o.Duration)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	wait := func(until time.Time) bool {
		if d := time.Until(until); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
				return true
			case <-ctx.Done():
			case <-r.stop:
			case <-st.halt:
			}
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-r.stop:
			return false
		case <-st.halt:
			return false
		default:
			return true
		}
	}
	for {
		a, ok := st.arrivals.next()
		if !ok {
			return time.Now() // a trace's last request is out
		}
		sched := t0.Add(a.off)
		warm := sched.Before(st.start)
		if !end.IsZero() && !sched.Before(end) {
			// the window is the step's whole duration, not up to its last arrival
			if wait(end) {
				return end
			}
			return time.Now()
		}
		if !warm && o.NumRequests > 0 && st.measured.Load() >= int64(o.NumRequests) {
			return time.Now()
		}
		var req probe.Request // before sleeping, so it adds no lag
		var sess *liveSession
		switch {
		case a.req != nil:
			req = *a.req // a trace's
		case r.sess != nil:
			sess = r.sess.start() // a session's first turn (conversation.go)
		default:
			req = r.reqs.Next()
		}
		if !wait(sched) {
			return time.Now()
		}
		if !warm {
			st.measured.Add(1)
		}
		if r.inflight.Load() >= int64(o.MaxInFlight) {
			r.drop(st, sched, warm)
			continue
		}
		if sess != nil {
			r.startSession(st, sess, sched, warm)
			continue
		}
		r.begin()
		st.wg.Add(1)
		go func() {
			defer st.wg.Done()
			rec := r.send.Do(st.ctx, req)
			rec.Scheduled = sched
			r.finish(st, rec, warm)
		}()
	}
}

// closedLoop runs a throughput step's virtual users: each sends its next
// request when the last one ends. It returns when they stop starting
// requests (the drain follows).
func (r *Runner) closedLoop(ctx context.Context, st *stepRun) time.Time {
	o := &r.o
	var end time.Time
	if o.Duration > 0 {
		end = st.start.Add(o.Duration)
	}
	var lastStart atomic.Int64
	issuing := make(chan struct{}, st.spec.vus) // one token per user that stopped issuing
	for range st.spec.vus {
		st.wg.Add(1)
		go func() {
			defer st.wg.Done()
			defer func() { issuing <- struct{}{} }()
			if r.sess != nil {
				r.sessionUser(ctx, st, end, &lastStart) // conversations (conversation.go)
				return
			}
			for {
				if ctx.Err() != nil || r.stopped() || st.halted() {
					return
				}
				now := time.Now()
				if !end.IsZero() && !now.Before(end) {
					return
				}
				warm := now.Before(st.start)
				if !warm && o.NumRequests > 0 && st.measured.Add(1) > int64(r.o.Shard.share(o.NumRequests)) {
					return
				} else if !warm && o.NumRequests == 0 {
					st.measured.Add(1)
				}
				req := r.reqs.Next()
				lastStart.Store(time.Now().UnixNano())
				r.begin()
				rec := r.send.Do(st.ctx, req)
				r.finish(st, rec, warm)
			}
		}()
	}
	// Arrivals end at the end of the window, or when every user has
	// stopped issuing (request budget spent, stop, cancel).
	var timeout <-chan time.Time
	if !end.IsZero() {
		t := time.NewTimer(time.Until(end))
		defer t.Stop()
		timeout = t.C
	}
	for stopped := 0; stopped < st.spec.vus; stopped++ {
		select {
		case <-issuing:
		case <-timeout:
			return end
		case <-ctx.Done():
			return time.Now()
		case <-r.stop:
			return time.Now()
		case <-st.halt:
			return time.Now()
		}
	}
	if ls := lastStart.Load(); ls > 0 {
		return time.Unix(0, ls)
	}
	return time.Now()
}

func (r *Runner) begin() {
	r.inflight.Add(1)
	r.sent.Add(1)
	if r.h.InFlight != nil {
		r.h.InFlight(1)
	}
}

// drop counts an arrival refused by the in-flight cap.
func (r *Runner) drop(st *stepRun, sched time.Time, warm bool) {
	r.dropped.Add(1)
	if r.h.Dropped != nil {
		r.h.Dropped()
	}
	phase := r.o.Phase
	if warm {
		phase = PhaseWarmup
	} else {
		st.agg.addDropped(sched)
		r.sampleDropped(st, sched)
	}
	r.sink(st.offered(&Entry{Step: st.spec.index, Phase: phase, Scheduled: sched, Result: ResultDropped}))
}

// unmendable reports whether a failure says the endpoint cannot serve this
// run at all, so that the run stops at its first request (a rate of 1 req/s
// would otherwise take 5 s to give up): nothing listens there, or the
// server refuses the credentials, the path or the model. Overload (429,
// 5xx), timeouts and cut streams may pass and get DeadEndpointFailures.
func unmendable(rec *probe.Record) bool {
	switch rec.HTTPStatus {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
		return true
	}
	return rec.Refused
}

// finish accounts a finished request.
func (r *Runner) finish(st *stepRun, rec *probe.Record, warm bool) {
	r.inflight.Add(-1)
	if r.h.InFlight != nil {
		r.h.InFlight(-1)
	}
	rec.Name = r.o.Name
	rec.Phase = r.o.Phase
	if warm {
		rec.Phase = PhaseWarmup
	}
	interrupted, cut := r.outcome(st, rec)
	if rec.Success() {
		r.succeeded.Add(1)
		r.toks.Add(int64(rec.OutputTokens))
	} else if !interrupted {
		r.failed.Add(1)
		if !cut && r.succeeded.Load() == 0 {
			switch n := r.failedFirst.Add(1); {
			case n == 1 && unmendable(rec):
				st.stopStep(fmt.Sprintf("the first request failed with %s: %s, which no retry mends", rec.Result, rec.Error))
			case n == DeadEndpointFailures:
				st.stopStep(fmt.Sprintf("the first %d requests all failed, the last with %s: %s", DeadEndpointFailures, rec.Result, rec.Error))
			}
		}
	}
	if r.h.Record != nil {
		r.h.Record(rec, interrupted)
	}
	r.sink(st.offered(entryOf(st.spec.index, rec, cut, interrupted)))
	if !warm {
		st.agg.add(rec, interrupted, cut)
		r.sample(st, rec, cut, interrupted)
		if st.sat != nil && !interrupted {
			st.sat.add(rec)
		}
		if !interrupted {
			end := rec.End.UnixNano()
			for {
				cur := st.lastEnd.Load()
				if end <= cur || st.lastEnd.CompareAndSwap(cur, end) {
					break
				}
			}
		}
	}
	if r.o.KeepRecords {
		r.recMu.Lock()
		r.records = append(r.records, rec)
		r.recMu.Unlock()
	}
}

func (r *Runner) sink(e *Entry) {
	if r.o.Sink == nil {
		return
	}
	r.sinkMu.Lock()
	defer r.sinkMu.Unlock()
	if r.sinkErr != nil {
		return
	}
	r.sinkErr = r.o.Sink.WriteEntry(e)
}

// context describes the run's configuration.
func (r *Runner) context() Context {
	o := &r.o
	c := Context{
		Mode:           o.Mode,
		DurationS:      o.Duration.Seconds(),
		NumRequests:    o.NumRequests,
		WarmupS:        o.Warmup.Seconds(),
		MaxInFlight:    o.MaxInFlight,
		StopErrorRatio: o.StopErrorRatio,
		ErrorRatio:     o.ErrorRatio,
		SLO:            sloSpec(o.SLO),
		LagThresholdMS: ms(o.LagThreshold),
		Seed:           o.Seed,
		Workload:       o.Workload,
		Target:         o.Target,
		Model:          o.Model,
		Kind:           o.Kind,
	}
	switch o.Mode {
	case ModeRate:
		c.Arrival, c.Burstiness, c.Rates, c.Ramp = o.Arrival, o.Burstiness, o.Rates, r.rampInfo()
	case ModeThroughput:
		c.VUs = o.VUs
	case ModeSweep:
		c.Arrival, c.Burstiness, c.MaxVUs, c.NumRates = o.Arrival, o.Burstiness, o.MaxVUs, o.NumRates
	case ModeTrace:
		c.Trace, c.Workload = o.Trace.info(), o.Trace.workload(c.Workload)
	}
	if d := o.drainFor(o.Duration); d > 0 {
		c.DrainS = d.Seconds()
		c.StepEdges = fmt.Sprintf("drained: requests in flight when a step's arrivals end are awaited up to %s, then cut and counted as failures (canceled)", d)
	} else {
		c.StepEdges = "drained: requests in flight when a step's arrivals end are awaited until they finish (each bounded by the request timeout)"
	}
	return c
}
