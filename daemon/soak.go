package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/llmprobe/llmprobe/archive"
	"github.com/llmprobe/llmprobe/collector"
	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/probe"
	"github.com/llmprobe/llmprobe/schedule"
)

// PhaseSoak labels soak traffic (Record.Phase), so that it never lands in
// the probes' series.
const PhaseSoak = "soak"

// Soaks runs the configured soaks: on their cron schedules or when asked
// through the API, one at a time per target, each run archived. Soak
// requests feed the shared request metrics under phase="soak" (warmup
// requests feed nothing) and the soak gauges of collector.SoakMetrics.
//
// Soaks use their own connection pools, apart from the probes', so that a
// soak saturating a target's connections cannot delay its probes.
type Soaks struct {
	logger  *slog.Logger
	metrics *collector.Metrics
	sm      *collector.SoakMetrics
	arch    *archive.Archive
	sched   *schedule.Scheduler

	ctx    context.Context // ends manual runs at Stop
	cancel context.CancelFunc
	wg     sync.WaitGroup // every run, scheduled or manual

	mu       sync.Mutex
	stopping bool
	cfg      *config.Config
	jobs     map[string]*soakJob // by job name: soak/target
	clients  map[string]*probe.Client
	targets  map[string]chan struct{} // one soak at a time per target

	gpu      load.GPUSampler // nil: no GPU timeline
	gpuEvery time.Duration

	server atomic.Pointer[ServerWatch]

	procSink *ProcedureSink // under mu; nil: procedures export nothing

	prefixCache atomic.Pointer[collector.PrefixCacheMetrics] // nil: not exported
}

// SetPrefixCacheMetrics makes soaks with conversations or shared prefixes
// export their prefix-cache gain when a run ends (phase soak).
func (s *Soaks) SetPrefixCacheMetrics(m *collector.PrefixCacheMetrics) { s.prefixCache.Store(m) }

// SetProcedureSink makes procedure soaks export their figures and verdicts
// there, starting with each one's last stored procedure. Call it before any
// soak runs.
func (s *Soaks) SetProcedureSink(p *ProcedureSink) {
	s.mu.Lock()
	s.procSink = p
	var jobs []*soakJob
	for _, j := range s.jobs {
		if j.soak.Mode == config.ModeProcedure {
			jobs = append(jobs, j)
		}
	}
	s.mu.Unlock()
	for _, j := range jobs {
		s.restoreProcedure(j)
	}
}

// SetServerWatch makes soaks read the targets' metrics pages through w
// (share it with the daemon's), whose metrics and verdicts it exports.
// Unset, a private watch without metrics is used.
func (s *Soaks) SetServerWatch(w *ServerWatch) { s.server.Store(w) }

// SetGPU makes every soak sample the GPUs every interval into its result.
func (s *Soaks) SetGPU(g load.GPUSampler, every time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gpu, s.gpuEvery = g, every
}

// soakJob is one soak against one target.
type soakJob struct {
	jobBase
	soak config.Soak

	ctx    context.Context // manual runs; canceled when the job goes away
	cancel context.CancelFunc

	running atomic.Bool
	runner  *load.Runner // under Soaks.mu
	last    *archive.Run // under Soaks.mu
	report  string       // under Soaks.mu: the last procedure's ID, whose report the status page links
}

// NewSoaks returns a soak runner for cfg; arch receives every finished
// run. Call Stop to end it.
func NewSoaks(logger *slog.Logger, metrics *collector.Metrics, sm *collector.SoakMetrics, arch *archive.Archive, cfg *config.Config) (*Soaks, error) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Soaks{
		logger:  logger,
		metrics: metrics,
		sm:      sm,
		arch:    arch,
		ctx:     ctx,
		cancel:  cancel,
		jobs:    map[string]*soakJob{},
		clients: map[string]*probe.Client{},
		targets: map[string]chan struct{}{},
	}
	s.server.Store(NewServerWatch(logger, nil, nil))
	// Soaks fire on their cron line exactly: they are few and heavy, and a
	// jitter would only blur when they ran.
	s.sched = schedule.New(0, func(name string) {
		logger.Warn("skipped a scheduled soak: the previous run is still going", "job", name)
		metrics.SkippedRun(jobProbe(name))
	})
	if err := s.Apply(cfg); err != nil {
		s.sched.Stop(0)
		cancel()
		return nil, err
	}
	return s, nil
}

func sameSoak(a, b *soakJob) bool {
	return reflect.DeepEqual(a.soak, b.soak) && reflect.DeepEqual(a.target, b.target) && reflect.DeepEqual(a.work, b.work)
}

// Apply makes cfg's soaks the running ones. Unchanged soak jobs keep
// running undisturbed; a changed or removed job's run is canceled (its
// partial result archived, marked interrupted); removed jobs' series are
// deleted. Apply fails, changing nothing, if a workload cannot be built.
func (s *Soaks) Apply(cfg *config.Config) error {
	want := map[string]*soakJob{}
	for _, sk := range cfg.Soaks {
		if err := addJobs(want, cfg, "soak", sk.Name, sk.Workload, sk.Targets, func(b jobBase) *soakJob {
			return &soakJob{jobBase: b, soak: sk}
		}); err != nil {
			return err
		}
	}
	// Procedure jobs show their last stored procedure once s.mu is
	// released (deferred calls run last in, first out).
	var restore []*soakJob
	defer func() {
		for _, j := range restore {
			s.restoreProcedure(j)
		}
	}()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return errors.New("soaks are stopping")
	}
	r := &reconciler[*soakJob]{
		kind: PhaseSoak, logger: s.logger, metrics: s.metrics, sched: s.sched,
		same: sameSoak,
		stop: func(old *soakJob, removed bool) {
			old.cancel()
			if removed {
				s.sm.Delete(prometheus.Labels{"target": old.target.Name, "name": old.soak.Name})
				s.prefixCache.Load().Delete(prometheus.Labels{"target": old.target.Name, "name": old.soak.Name})
				s.server.Load().forgetRun(old.target.Name, old.soak.Name)
			}
		},
		targetGone: func(tn string) {
			s.sm.Delete(prometheus.Labels{"target": tn})
			s.prefixCache.Load().Delete(prometheus.Labels{"target": tn})
			s.server.Load().forget(tn)
		},
		start: func(j *soakJob) error {
			j.ctx, j.cancel = context.WithCancel(s.ctx)
			s.sm.InitSoak(j.target.Name, j.soak.Name)
			if j.soak.Mode == config.ModeProcedure {
				restore = append(restore, j)
			}
			if j.soak.Schedule == "" {
				return nil // started by hand only
			}
			return s.sched.Add(j.name, j.soak.Schedule, false, func(ctx context.Context) { s.scheduled(ctx, j) })
		},
	}
	clients, err := r.apply(cfg, s.cfg, s.jobs, want, s.clients)
	if err != nil {
		return err
	}
	s.jobs = want
	s.clients = clients
	s.cfg = cfg
	return nil
}

// begin registers a run unless the soaks are stopping or the job runs.
func (s *Soaks) begin(j *soakJob) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping || !j.running.CompareAndSwap(false, true) {
		return false
	}
	s.wg.Add(1)
	return true
}

func (s *Soaks) scheduled(ctx context.Context, j *soakJob) {
	if !s.begin(j) {
		if !s.isStopping() {
			s.logger.Warn("skipped a scheduled soak: it is already running", "soak", j.soak.Name, "target", j.target.Name)
			s.metrics.SkippedRun(j.soak.Name)
		}
		return
	}
	defer s.wg.Done()
	defer j.running.Store(false)
	s.run(ctx, j, "schedule")
}

func (s *Soaks) isStopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopping
}

// ErrUnknownSoak is returned by RunNow for a soak (or target) not in the
// running config.
var ErrUnknownSoak = errors.New("unknown soak")

// RunNow starts the soak name now against each of its targets (or only
// target, if not empty) that is not already running it. It returns the
// targets started and those already running.
func (s *Soaks) RunNow(name, target string) (started, running []string, err error) {
	s.mu.Lock()
	var jobs []*soakJob
	for _, j := range s.jobs {
		if j.soak.Name == name && (target == "" || j.target.Name == target) {
			jobs = append(jobs, j)
		}
	}
	stopping := s.stopping
	s.mu.Unlock()
	if len(jobs) == 0 {
		return nil, nil, fmt.Errorf("%w %q", ErrUnknownSoak, name)
	}
	if stopping {
		return nil, nil, errors.New("shutting down")
	}
	sort.Slice(jobs, func(a, b int) bool { return jobs[a].target.Name < jobs[b].target.Name })
	for _, j := range jobs {
		if !s.begin(j) {
			running = append(running, j.target.Name)
			continue
		}
		started = append(started, j.target.Name)
		go func() {
			defer s.wg.Done()
			defer j.running.Store(false)
			s.run(j.ctx, j, "api")
		}()
	}
	return started, running, nil
}

// targetSem returns the semaphore that keeps soaks on a target one at a
// time.
func (s *Soaks) targetSem(target string) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	sem, ok := s.targets[target]
	if !ok {
		sem = make(chan struct{}, 1)
		s.targets[target] = sem
	}
	return sem
}

// run runs a soak job once and archives the result. The caller holds
// j.running and a s.wg count.
func (s *Soaks) run(ctx context.Context, j *soakJob, trigger string) {
	log := s.logger.With("soak", j.soak.Name, "target", j.target.Name)
	sem := s.targetSem(j.target.Name)
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	defer func() { <-sem }()
	if ctx.Err() != nil || s.isStopping() {
		return
	}

	if j.soak.Mode == config.ModeProcedure {
		s.runProcedure(ctx, j, trigger, log, func(ctx context.Context, o load.Options) (*load.Result, error) {
			res, err := s.runLoad(ctx, j, o, log, nil, nil)
			if res != nil {
				s.server.Load().soakDone(&j.target, j.soak.Name, res)
			}
			return res, err
		})
		return
	}

	o := j.soak.LoadOptions(&j.target, &j.work, PhaseSoak)
	if err := withTraceRequests(j, &o); err != nil {
		log.Error("invalid soak", "err", err) // config validation should prevent it
		return
	}
	started := time.Now()
	watch := s.server.Load()
	res, err := s.runLoad(ctx, j, o, log,
		func() {
			s.sm.SetRunning(j.target.Name, j.soak.Name, true)
			log.Info("soak started", "mode", o.Mode, "trigger", trigger)
		},
		func() { s.sm.SetRunning(j.target.Name, j.soak.Name, false) })
	switch {
	case res == nil:
		log.Error("invalid soak", "err", err) // config validation should prevent it
		return
	case err != nil:
		log.Error("cannot archive the soak's result", "err", err)
	}
	s.sm.RunDone(j.target.Name, j.soak.Name, res.Passed, res.Ended.Sub(started), res.Ended)
	watch.soakDone(&j.target, j.soak.Name, res)
	if g, ok := cacheGain(res.Summary.PrefixCache); ok && res.Status == load.StatusCompleted {
		s.prefixCache.Load().Set(j.target.Name, j.target.Model, PhaseSoak, j.soak.Name, g)
	}
	if res.Mode == load.ModeSweep && res.Status == load.StatusCompleted {
		var steps []collector.SweepStep
		for _, st := range res.Steps {
			if st.Kind != load.StepRate {
				continue
			}
			steps = append(steps, collector.SweepStep{
				Step: st.Index, OfferedRate: st.OfferedRate, AchievedRate: st.AchievedRate,
				TTFTP99Seconds: st.Summary.TTFT.P99 / 1000, ErrorRatio: st.Summary.ErrorRatio, DrainSeconds: st.DrainS,
			})
		}
		var maxReq, maxTok float64
		if m := res.DetectedMax; m != nil {
			maxReq, maxTok = m.RequestsPerSecond, m.OutputTokensPerSecond
		}
		s.sm.SetSweep(j.target.Name, j.soak.Name, steps, maxReq, maxTok)
	}
	last := &archive.Run{
		ID: res.ID, Name: res.Name, Target: res.Target, Model: res.Model, Mode: res.Mode,
		Status: res.Status, Passed: res.Passed, StopReason: res.StopReason, Started: res.Started, Ended: res.Ended,
		Requests: res.Summary.Requests, Successful: res.Summary.Successful, ErrorRatio: res.Summary.ErrorRatio,
		RequestThroughput: res.Summary.RequestThroughput, OutputThroughput: res.Summary.OutputThroughput,
	}
	if res.DetectedMax != nil {
		v := res.DetectedMax.RequestsPerSecond
		last.DetectedMax = &v
	}
	s.mu.Lock()
	j.last = last
	s.mu.Unlock()

	attrs := []any{"status", res.Status, "passed", res.Passed, "requests", res.Summary.Requests,
		"error_ratio", res.Summary.ErrorRatio, "took", res.Ended.Sub(started).Round(time.Millisecond), "id", res.ID}
	if res.DetectedMax != nil {
		attrs = append(attrs, "detected_max_rps", res.DetectedMax.RequestsPerSecond)
	}
	if res.StopReason != "" {
		attrs = append(attrs, "stop_reason", res.StopReason)
	}
	if res.ClientBottleneck {
		log.Warn("the client was the bottleneck of this soak", "note", res.ClientNote)
	}
	if sv := res.Server; sv != nil {
		if sv.Note != "" {
			attrs = append(attrs, "server_note", sv.Note)
		}
		for _, v := range sv.Verdicts {
			if v.Failed {
				log.Warn("the server failed a health check during the soak", "verdict", v.Name, "summary", v.Summary)
			}
		}
	}
	if res.Passed {
		log.Info("soak finished", attrs...)
	} else {
		log.Warn("soak finished without passing", attrs...)
	}
}

// runLoad runs one load run of job j with options o and archives it: its
// requests feed the request metrics (under o.Phase), its runner is
// reachable by Stop and the status page while it runs, the target's metrics
// page is scraped beside it. began and ended, if set, are called as the run
// starts and once it has returned.
func (s *Soaks) runLoad(ctx context.Context, j *soakJob, o load.Options, log *slog.Logger, began, ended func()) (*load.Result, error) {
	inflight := s.metrics.InFlight(j.target.Name)
	dropped := s.sm.Dropped(j.target.Name, j.soak.Name)
	defer func() {
		s.mu.Lock()
		j.runner = nil
		s.mu.Unlock()
	}()
	watch := s.server.Load()
	return archive.RunJob(ctx, s.arch, &archive.Job{
		Started: time.Now(), Send: j.client, Requests: j.gen, Options: o,
		// The server's own page, every metrics_interval: a derived one
		// that is missing is tried once per run, and the result says so.
		Server: watch.scraper(&j.target), ServerEvery: j.target.MetricsEvery(),
		Hooks: load.Hooks{
			Record: func(rec *probe.Record, interrupted bool) {
				// Warmup requests feed nothing; requests canceled because the
				// soak was stopped say nothing of the server.
				if rec.Phase == load.PhaseWarmup || interrupted {
					return
				}
				s.metrics.Observe(rec)
			},
			Dropped:  dropped.Inc,
			InFlight: func(d int) { inflight.Add(float64(d)) },
		},
		Unarchived: func(err error) bool {
			log.Error("cannot archive the soak; running it anyway", "err", err)
			return true
		},
		Start: func(runner *load.Runner) (load.GPUSampler, time.Duration, func()) {
			s.mu.Lock()
			j.runner = runner
			stopping := s.stopping
			s.mu.Unlock()
			if stopping {
				runner.Stop()
			}
			if began != nil {
				began()
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.gpu, s.gpuEvery, ended
		},
	})
}

// Stop ends the soaks: arrivals stop at once, requests in flight get grace
// to finish, then they are canceled; every run's result (marked
// interrupted) is archived before Stop returns, unless writing it takes
// more than a few seconds.
func (s *Soaks) Stop(grace time.Duration) {
	s.mu.Lock()
	s.stopping = true
	for _, j := range s.jobs {
		if j.runner != nil {
			j.runner.Stop()
		}
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	schedDone := make(chan struct{})
	go func() { s.sched.Stop(grace); close(schedDone) }() // cancels scheduled runs after grace
	t := time.NewTimer(grace)
	select {
	case <-done:
	case <-t.C:
		s.logger.Warn("soaks still running after the shutdown grace period were canceled", "grace", grace)
	}
	t.Stop()
	s.cancel()
	<-schedDone
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.logger.Error("soak results were still being written at shutdown")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.clients {
		c.CloseIdle()
	}
}

// SoakStatus is a soak job's state, for the API.
type SoakStatus struct {
	Soak     string         `json:"soak"`
	Target   string         `json:"target"`
	Mode     string         `json:"mode"`
	Schedule string         `json:"schedule,omitempty"`
	Next     time.Time      `json:"next,omitzero"`
	Running  bool           `json:"running"`
	Progress *load.Progress `json:"progress,omitempty"`
	Last     *archive.Run   `json:"last,omitempty"`
	// Report is the ID of the procedure whose report is served at
	// /procedures/ID/ (procedure mode).
	Report string `json:"report,omitempty"`
}

// Statuses returns every soak job's state, sorted by soak then target.
func (s *Soaks) Statuses() []SoakStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SoakStatus, 0, len(s.jobs))
	for name, j := range s.jobs {
		st := SoakStatus{Soak: j.soak.Name, Target: j.target.Name, Mode: j.soak.Mode, Schedule: j.soak.Schedule,
			Running: j.running.Load(), Last: j.last, Report: j.report}
		if j.soak.Schedule != "" {
			st.Next = s.sched.Next(name)
		}
		if j.runner != nil {
			p := j.runner.Progress()
			st.Progress = &p
		}
		out = append(out, st)
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Soak != out[b].Soak {
			return out[a].Soak < out[b].Soak
		}
		return out[a].Target < out[b].Target
	})
	return out
}
