package sim

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// epoch is the simulated engine between two restarts: its decode slots, its
// metrics and what it leaked. A restart replaces it, so that the requests
// of the old one unwind against their own epoch and never touch the new
// one's accounting.
type epoch struct {
	start time.Time
	lim   *limiter
	m     *engineMetrics

	cut     chan struct{} // closed when the epoch ends (restart or Close)
	cutOnce sync.Once
	// ctx ends with the epoch too: the send clock's sleepers wake on it
	// (context.AfterFunc) instead of selecting on cut at every chunk.
	ctx       context.Context
	cancelCtx context.CancelFunc

	running, waiting atomic.Int64 // requests holding a slot (leaked ones included), queued
	kvTokens         atomic.Int64 // prompt and generated tokens of the running requests
	leaked           atomic.Int64 // bytes leaked by Faults.LeakBytesPerRequest
	completed        atomic.Int64 // requests answered in full, for Faults.LeakSlotEvery
}

func (s *Server) newEpoch(start time.Time) *epoch {
	ep := &epoch{start: start, lim: newLimiter(s.cfg.MaxConcurrency, s.cfg.MaxQueue), cut: make(chan struct{})}
	ep.ctx, ep.cancelCtx = context.WithCancel(context.Background())
	ep.m = newEngineMetrics(s.cfg.Model, ep, s.cfg.KVCacheTokens)
	return ep
}

// end cuts every request of the epoch short.
func (ep *epoch) end() {
	ep.cutOnce.Do(func() {
		close(ep.cut)
		ep.cancelCtx()
	})
}

// epoch returns the current epoch.
func (s *Server) epoch() *epoch { return s.ep.Load() }

// Restart simulates a restart of the server now, as Faults.RestartEvery
// does: queued and in-flight requests have their connections closed, the
// counters and histograms on /metrics start again from zero, leaked memory
// and decode slots are freed, the prefix cache is emptied and the clock of
// Faults.SlowdownPerMinute starts again. Stats keeps counting across
// restarts. It does nothing after Close.
func (s *Server) Restart() {
	s.epochMu.Lock()
	if s.closed() {
		s.epochMu.Unlock()
		return
	}
	old := s.ep.Load()
	if s.cache != nil {
		s.cache.clear()
	}
	s.ep.Store(s.newEpoch(time.Now()))
	s.st.restarts.Add(1)
	s.epochMu.Unlock()
	old.end()
}

// scheduleRestart arms the next Faults.RestartEvery restart, unless closed.
func (s *Server) scheduleRestart() {
	s.epochMu.Lock()
	defer s.epochMu.Unlock()
	if s.closed() {
		return
	}
	s.restartTimer = time.AfterFunc(s.cfg.Faults.RestartEvery, func() {
		s.Restart()
		s.scheduleRestart()
	})
}

// serveMetrics answers GET /metrics with the current epoch's registry and
// the simulator's own metrics.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	promhttp.HandlerFor(prometheus.Gatherers{s.epoch().m.reg, s.ownReg}, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}

// slowdown is the factor Faults.SlowdownPerMinute puts on TTFT and ITL
// for a request that gets its slot now.
func (s *Server) slowdown(ep *epoch) float64 {
	if s.cfg.Faults.SlowdownPerMinute == 0 {
		return 1
	}
	return 1 + s.cfg.Faults.SlowdownPerMinute*time.Since(ep.start).Minutes()
}

// maxSlowedDelay caps a slowed-down delay, far beyond any run, so that a
// huge factor cannot overflow a time.Duration.
const maxSlowedDelay = 1000 * time.Hour

func scaleDelay(d time.Duration, f float64) time.Duration {
	if f == 1 {
		return d
	}
	if v := float64(d) * f; v < float64(maxSlowedDelay) {
		return time.Duration(v)
	}
	return maxSlowedDelay
}

// job is one accepted request's life in the simulated engine, from
// acceptance to its end, and what the engine's metrics record of it. Only
// its request's goroutine uses it.
type job struct {
	s         *Server
	ep        *epoch
	pooling   bool
	prompt    int
	arrival   time.Time
	scheduled time.Time // got a decode slot
	first     time.Time // first output token (pooling: the answer)
	last      time.Time // latest output token
	tokens    int       // output tokens generated
	queued    bool      // counted in waiting
	slot      bool      // holds a decode slot, counted in running
}

// accept starts the job of a request that got past admission, and leaks
// Faults.LeakBytesPerRequest for it.
func (s *Server) accept(ep *epoch, arrival time.Time, prompt int, pooling bool) *job {
	if n := s.cfg.Faults.LeakBytesPerRequest; n > 0 {
		ep.leaked.Add(n)
	}
	return &job{s: s, ep: ep, pooling: pooling, prompt: prompt, arrival: arrival}
}

// enqueue counts the job as waiting for a slot, until dequeue.
func (j *job) enqueue() {
	j.queued = true
	j.ep.waiting.Add(1)
}

func (j *job) dequeue() {
	if j.queued {
		j.queued = false
		j.ep.waiting.Add(-1)
	}
}

// schedule counts the job as running: it holds a decode slot and its
// prompt's KV cache.
func (j *job) schedule() {
	j.dequeue()
	j.slot = true
	j.scheduled = time.Now()
	j.ep.kvTokens.Add(int64(j.prompt))
	j.ep.running.Add(1)
}

// hold waits while a test holds decoding (see export_test.go); false when
// the request ended meanwhile.
func (j *job) hold(r *http.Request) bool {
	if j.s.hold == nil {
		return true
	}
	select {
	case <-j.s.hold:
		return true
	case <-r.Context().Done():
	case <-j.ep.cut:
	}
	return false
}

// emit records n output tokens generated now: the first token's TTFT and
// the prompt's prefill, or the gap since the previous output event.
func (j *job) emit(n int) {
	now := time.Now()
	m := j.ep.m
	if j.tokens == 0 {
		j.first = now
		m.ttft.Observe(now.Sub(j.arrival).Seconds())
		m.promptTokens.Add(float64(j.prompt))
	} else {
		m.itl.Observe(now.Sub(j.last).Seconds())
	}
	j.last = now
	j.tokens += n
	m.generationTokens.Add(float64(n))
	j.ep.kvTokens.Add(int64(n))
}

// answered records a pooling request's answer ready now: its prefill done.
func (j *job) answered() {
	j.first = time.Now()
	j.ep.m.promptTokens.Add(float64(j.prompt))
}

// end counts how the job ended (finishReasons) and frees its slot and KV
// tokens, unless Faults.LeakSlotEvery makes it keep them. A job answered in
// full ("stop", "length") observes the per-request histograms.
func (j *job) end(reason string) {
	j.dequeue()
	ep, m := j.ep, j.ep.m
	m.success[reason].Inc()
	full := reason == "stop" || reason == "length"
	if full {
		now := time.Now()
		m.e2e.Observe(now.Sub(j.arrival).Seconds())
		m.queue.Observe(j.scheduled.Sub(j.arrival).Seconds())
		m.prefill.Observe(j.first.Sub(j.scheduled).Seconds())
		if !j.pooling {
			decode := j.last.Sub(j.first).Seconds()
			m.decode.Observe(decode)
			tpot := 0.0
			if j.tokens > 1 {
				tpot = decode / float64(j.tokens-1)
			}
			m.tpot.Observe(tpot)
		}
	}
	if !j.slot {
		return
	}
	j.slot = false
	if every := int64(j.s.cfg.Faults.LeakSlotEvery); full && every > 0 && ep.completed.Add(1)%every == 0 {
		return // the slot, its running count and its KV tokens are lost
	}
	ep.kvTokens.Add(-int64(j.prompt + j.tokens))
	ep.running.Add(-1)
	ep.lim.release()
}
