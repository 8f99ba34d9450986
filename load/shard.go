package load

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/llmprobe/llmprobe/probe"
)

// One run over several processes (bench --shard I/N on N machines, merged
// by llmprobe merge, merge.go). Every shard draws the run's whole open-loop
// schedule from the shared seed and sends the arrivals whose index,
// counted over the run (warmup included), is I modulo N, so that the union
// of the shards' arrivals is exactly the schedule one process would have
// sent: constant spacing, Poisson and gamma draws, ramps and traces alike.
// The price is that a shard's own gaps are sums of N of the run's, not
// independent draws; the union's exactness matters more. Requests follow
// the arrivals: shard I takes every N-th request of the workload's
// sequence from its I-th, so the shards together send one process's
// requests. Closed-loop users, and a closed loop's request budget, are
// split as evenly as they go (the first n mod N shards get one more).
//
// The shards start on a common wall-clock time (Options.StartAt): each
// waits for it, and its first step's clock starts exactly then, so the
// first step's schedules line up to the nanosecond (as far as the
// machines' clocks agree). A later step starts when the shard's previous
// step has drained, as in one process, so the shards' later steps may
// start apart by the difference of their drains (the merge says by how
// much). Each shard caps its own requests in flight at MaxInFlight.

// shardState is a runner's part in a sharded run.
type shardState struct {
	// arrivals counts the run's arrivals so far, every shard's, within
	// the steps' windows; only openLoop's goroutine (one step at a time)
	// touches it.
	arrivals int
	// first: the first step's clock is the common start.
	first bool
}

func (s Shard) sharded() bool { return s.Count > 1 }

// share is the shard's part of n users or requests.
func (s Shard) share(n int) int {
	if !s.sharded() {
		return n
	}
	k := n / s.Count
	if s.Index < n%s.Count {
		k++
	}
	return k
}

// rate is the shard's part of an offered rate.
func (s Shard) rate(r float64) float64 {
	if !s.sharded() {
		return r
	}
	return r / float64(s.Count)
}

// checkShard validates Shard and StartAt.
func (o *Options) checkShard() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	sh := o.Shard
	if sh == (Shard{}) {
		return nil
	}
	if sh.Count < 1 || sh.Index < 0 || sh.Index >= sh.Count {
		bad("shard %d/%d: want I/N with 0 <= I < N", sh.Index, sh.Count)
		return errs
	}
	if !sh.sharded() {
		return nil
	}
	switch {
	case o.Mode == ModeSweep:
		bad("a sweep is not run in shards: its rates come from its throughput phase, which no shard measures alone (run the throughput phase sharded, then the rates in rate mode)")
	case o.Mode == ModeThroughput && o.VUs < sh.Count:
		bad("%d virtual users cannot be split over %d shards", o.VUs, sh.Count)
	}
	if o.NumRequests > 0 && o.NumRequests < sh.Count {
		bad("%d requests per step cannot be split over %d shards", o.NumRequests, sh.Count)
	}
	if o.StartAt.IsZero() {
		bad("the shards of a run start together: give them a start time")
	}
	return errs
}

// startClock returns the run's origin: now, or the common start, waited
// for (an interrupt ends the wait). A sharded run's requests are the
// shard's from here.
func (r *Runner) startClock(ctx context.Context) time.Time {
	o := &r.o
	if o.Shard.sharded() {
		r.reqs = &shardRequests{inner: r.reqs, shard: o.Shard}
	}
	if o.StartAt.IsZero() {
		return time.Now()
	}
	d := time.Until(o.StartAt)
	if d < -lateStart {
		// Too late to catch up: the run starts now, on its own clock, and
		// its start says so (the merge refuses it).
		return time.Now()
	}
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		case <-r.stop:
		}
	}
	// A shard up a little late keeps the common clock: its first arrivals
	// go out at once, and their lag says so.
	r.shard.first = true
	return o.StartAt
}

// lateStart is how late past StartAt a run may begin and still keep it.
const lateStart = time.Second

// stepClock is when a step's clock starts (its warmup, then its window):
// the common start for the run's first step, else now.
func (r *Runner) stepClock() time.Time {
	if r.shard.first {
		r.shard.first = false
		return r.o.StartAt
	}
	return time.Now()
}

// shardSchedule keeps the shard's arrivals of a step's schedule.
func (r *Runner) shardSchedule(st *stepRun, s schedule) schedule {
	if !r.o.Shard.sharded() {
		return s
	}
	return &shardedSchedule{inner: s, r: r, st: st}
}

// shardedSchedule hands out the arrivals of the run's schedule that
// belong to the shard. It counts every shard's arrivals within the step's
// window (and its request budget) alike, so that every shard agrees on
// the index of each arrival, in this step and the next.
type shardedSchedule struct {
	inner    schedule
	r        *Runner
	st       *stepRun
	measured int // the step's measured arrivals, every shard's
}

func (s *shardedSchedule) next() (arrival, bool) {
	o := &s.r.o
	for {
		a, ok := s.inner.next()
		if !ok {
			return a, false
		}
		warm := a.off < s.st.spec.warmup
		if o.Duration > 0 && a.off >= s.st.spec.warmup+o.Duration {
			return a, true // past the window: openLoop ends the step on it
		}
		if !warm {
			if o.NumRequests > 0 && s.measured >= o.NumRequests {
				return a, false // the step's requests are all out, every shard's together
			}
			s.measured++
		}
		seq := s.r.shard.arrivals
		s.r.shard.arrivals++
		if seq%o.Shard.Count == o.Shard.Index {
			return a, true
		}
	}
}

// shardRequests hands out every Count-th request of the workload's
// sequence, from the Index-th.
type shardRequests struct {
	inner   Requests
	shard   Shard
	mu      sync.Mutex
	started bool
}

func (s *shardRequests) Next() probe.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	skip := s.shard.Count - 1
	if !s.started {
		skip, s.started = s.shard.Index, true
	}
	for range skip {
		s.inner.Next()
	}
	return s.inner.Next()
}

// sample hands a measured request to Options.Samples.
func (r *Runner) sample(st *stepRun, rec *probe.Record, cut, interrupted bool) {
	if r.o.Samples != nil {
		r.o.Samples.Request(st.spec.index, rec, cut, interrupted)
	}
}

// sampleDropped hands a measured dropped arrival to Options.Samples.
func (r *Runner) sampleDropped(st *stepRun, sched time.Time) {
	if r.o.Samples != nil {
		r.o.Samples.Dropped(st.spec.index, sched)
	}
}

// closeSamples ends Options.Samples; its error is the result's sink error
// unless the timeline had one first.
func (r *Runner) closeSamples(res *Result) {
	if r.o.Samples == nil {
		return
	}
	if err := r.o.Samples.Close(res); err != nil && res.SinkError == "" {
		res.SinkError = err.Error()
	}
}
