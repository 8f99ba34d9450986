// Package schedule runs named jobs on cron or interval schedules with a
// small random jitter, at most one run of a job at a time, and a clean stop.
package schedule

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"
)

// Parser accepts standard five-field cron expressions and descriptors such
// as "@every 30s" and "@hourly". The config validates with the same parser.
var Parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Job is one run of a scheduled job; ctx ends when the scheduler stops or
// the job is removed.
type Job func(ctx context.Context)

// Scheduler runs jobs. The zero value is not usable; call New.
type Scheduler struct {
	cron    *cron.Cron
	jitter  time.Duration
	onSkip  func(name string)
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex
	entries map[string]*entry
}

type entry struct {
	id      cron.EntryID
	running atomic.Bool
	ctx     context.Context
	cancel  context.CancelFunc
}

// New returns a started scheduler. jitter is the largest random delay added
// before each run, so that many probes on one schedule do not fire in the
// same millisecond; onSkip is told about runs skipped because the previous
// run of the same job was still going.
func New(jitter time.Duration, onSkip func(name string)) *Scheduler {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Scheduler{
		cron:    cron.New(cron.WithParser(Parser)),
		jitter:  jitter,
		onSkip:  onSkip,
		ctx:     ctx,
		cancel:  cancel,
		entries: map[string]*entry{},
	}
	s.cron.Start()
	return s
}

// Add schedules job under name, replacing any job of that name. With
// runNow, the job also runs once right away (after the jitter), so a fresh
// daemon has measurements before the first interval has passed.
func (s *Scheduler) Add(name, spec string, runNow bool, job Job) error {
	sched, err := Parser.Parse(spec)
	if err != nil {
		return fmt.Errorf("schedule %q: %w", spec, err)
	}
	s.Remove(name)
	e := &entry{}
	e.ctx, e.cancel = context.WithCancel(s.ctx)
	run := func() { s.run(name, e, job) }
	s.mu.Lock()
	e.id = s.cron.Schedule(sched, cron.FuncJob(run))
	s.entries[name] = e
	s.mu.Unlock()
	if runNow {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); run() }()
	}
	return nil
}

// Trigger runs a job now, outside its schedule, unless it is running. It
// reports whether the run started.
func (s *Scheduler) Trigger(name string, job Job) bool {
	s.mu.Lock()
	e := s.entries[name]
	s.mu.Unlock()
	if e == nil || !e.running.CompareAndSwap(false, true) {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer e.running.Store(false)
		job(e.ctx)
	}()
	return true
}

func (s *Scheduler) run(name string, e *entry, job Job) {
	if !e.running.CompareAndSwap(false, true) {
		if s.onSkip != nil {
			s.onSkip(name)
		}
		return
	}
	defer e.running.Store(false)
	if s.jitter > 0 {
		t := time.NewTimer(rand.N(s.jitter))
		select {
		case <-t.C:
		case <-e.ctx.Done():
			t.Stop()
			return
		}
	}
	if e.ctx.Err() != nil {
		return
	}
	job(e.ctx)
}

// Remove unschedules a job and cancels its running run, if any.
func (s *Scheduler) Remove(name string) {
	s.mu.Lock()
	e, ok := s.entries[name]
	delete(s.entries, name)
	s.mu.Unlock()
	if ok {
		s.cron.Remove(e.id)
		e.cancel()
	}
}

// Next returns the next scheduled time of a job (zero if unknown).
func (s *Scheduler) Next(name string) time.Time {
	s.mu.Lock()
	e, ok := s.entries[name]
	s.mu.Unlock()
	if !ok {
		return time.Time{}
	}
	return s.cron.Entry(e.id).Next
}

// Stop stops scheduling new runs and waits up to grace for running ones to
// finish on their own; then it cancels them and waits briefly for them to
// return. It reports whether they finished within grace.
func (s *Scheduler) Stop(grace time.Duration) bool {
	cronDone := s.cron.Stop() // cron tracks the runs it started itself
	done := make(chan struct{})
	go func() { <-cronDone.Done(); s.wg.Wait(); close(done) }()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
		s.cancel()
		return true
	case <-t.C:
	}
	s.cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	return false
}
