// Package daemon runs the configured probes on their schedules and applies
// new configs without disturbing what did not change.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/llmprobe/llmprobe/collector"
	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/probe"
	"github.com/llmprobe/llmprobe/schedule"
	"github.com/llmprobe/llmprobe/servermetrics"
)

// Daemon owns the scheduler, the clients and the probes' last results.
type Daemon struct {
	logger  *slog.Logger
	metrics *collector.Metrics
	sched   *schedule.Scheduler
	server  atomic.Pointer[ServerWatch]
	// prefixCache exports probes' prefix-cache gain (conversation.go).
	prefixCache atomic.Pointer[collector.PrefixCacheMetrics]

	mu      sync.RWMutex
	cfg     *config.Config
	jobs    map[string]*probeJob // by job name
	clients map[string]*probe.Client
}

// probeJob is one probe against one target: the unit of scheduling, so a
// slow target cannot make a probe skip its other targets.
type probeJob struct {
	jobBase
	probe config.Probe
	slo   probe.SLO
	mu    sync.Mutex
	last  *ProbeResult
}

// ProbeResult is the outcome of the last run of one probe on one target.
type ProbeResult struct {
	Probe    string          `json:"probe"`
	Target   string          `json:"target"`
	Model    string          `json:"model"`
	Time     time.Time       `json:"time"`
	Duration time.Duration   `json:"duration_ns"`
	Success  bool            `json:"success"`
	Reason   string          `json:"reason,omitempty"`
	Records  []*probe.Record `json:"records"`
	// Turns and PrefixCache: a run of conversations or shared prefixes
	// (conversation.go), by turn and cold against warm.
	Turns       []load.TurnSummary    `json:"turns,omitempty"`
	PrefixCache *load.PrefixCacheGain `json:"prefix_cache,omitempty"`
}

// New returns a daemon with nothing scheduled; call Apply.
func New(logger *slog.Logger, metrics *collector.Metrics, jitter time.Duration) *Daemon {
	d := &Daemon{
		logger:  logger,
		metrics: metrics,
		jobs:    map[string]*probeJob{},
		clients: map[string]*probe.Client{},
	}
	d.sched = schedule.New(jitter, func(name string) {
		logger.Warn("skipped a scheduled run: the previous one is still going", "job", name)
		metrics.SkippedRun(jobProbe(name))
	})
	d.server.Store(NewServerWatch(logger, nil, nil))
	return d
}

// SetServerWatch makes probes read the targets' metrics pages through w
// (share it with the soaks', so a page's health is one per target), whose
// metrics it exports. Unset, a private watch without metrics is used.
func (d *Daemon) SetServerWatch(w *ServerWatch) { d.server.Store(w) }

func jobName(probeName, target string) string { return probeName + "/" + target }
func jobProbe(job string) string {
	p, _, _ := strings.Cut(job, "/")
	return p
}

// Apply makes cfg the running config. Jobs whose probe, target and workload
// are unchanged keep running undisturbed (their schedule, their in-flight
// run); changed ones are replaced; removed ones stop and their series are
// deleted. Apply fails, changing nothing, if a workload cannot be built.
func (d *Daemon) Apply(cfg *config.Config) error {
	want := map[string]*probeJob{}
	for _, p := range cfg.Probes {
		if err := addJobs(want, cfg, "probe", p.Name, p.Workload, p.Targets, func(b jobBase) *probeJob {
			return &probeJob{jobBase: b, probe: p, slo: p.SLO.Probe()}
		}); err != nil {
			return err
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	r := &reconciler[*probeJob]{
		kind: "probe", logger: d.logger, metrics: d.metrics, sched: d.sched,
		same: sameJob,
		stop: func(old *probeJob, removed bool) {
			d.prefixCache.Load().Delete(prometheus.Labels{"target": old.target.Name, "name": old.probe.Name})
			if removed {
				d.server.Load().forgetRun(old.target.Name, old.probe.Name)
			}
		},
		targetGone: func(tn string) {
			d.metrics.Delete(prometheus.Labels{"target": tn})
			d.prefixCache.Load().Delete(prometheus.Labels{"target": tn})
			d.server.Load().forget(tn)
		},
		start: func(j *probeJob) error {
			return d.sched.Add(j.name, j.probe.Schedule, true, func(ctx context.Context) { d.run(ctx, j) })
		},
	}
	clients, err := r.apply(cfg, d.cfg, d.jobs, want, d.clients)
	if err != nil {
		return err
	}
	d.jobs = want
	d.clients = clients
	d.cfg = cfg
	return nil
}

// clientsFor returns a client per target of cfg. Clients are per target,
// kept while the target is unchanged (their connections stay warm) and
// replaced when it changes; the replaced ones' idle connections are closed.
// Call it only when the rest of the new config is applied too.
func clientsFor(cfg, prevCfg *config.Config, prev map[string]*probe.Client) map[string]*probe.Client {
	clients := make(map[string]*probe.Client, len(cfg.Targets))
	for i := range cfg.Targets {
		t := &cfg.Targets[i]
		if c, ok := prev[t.Name]; ok && prevCfg != nil && reflect.DeepEqual(prevCfg.Target(t.Name), t) {
			clients[t.Name] = c
			continue
		}
		clients[t.Name] = probe.NewClient(t.Endpoint())
	}
	for tn, c := range prev {
		if clients[tn] != c {
			c.CloseIdle()
		}
	}
	return clients
}

// sameJob reports whether a job's definition is unchanged. Generators and
// clients are derived state and not compared.
func sameJob(a, b *probeJob) bool {
	// The probe's target list is not part of a job: adding a target to a
	// probe must not restart the probe's other targets.
	pa, pb := a.probe, b.probe
	pa.Targets, pb.Targets = nil, nil
	return reflect.DeepEqual(pa, pb) && reflect.DeepEqual(a.target, b.target) && reflect.DeepEqual(a.work, b.work)
}

func (d *Daemon) run(ctx context.Context, j *probeJob) {
	res := d.runOnce(ctx, j, false)
	if ctx.Err() != nil && !res.Success {
		return // stopped or replaced: not a measurement of the server
	}
	d.metrics.ProbeDone(res.Target, res.Probe, res.Success, res.Duration, res.Time)
	if next := d.sched.Next(j.name); !next.IsZero() {
		d.metrics.ProbeNext(res.Target, res.Probe, next)
	}
	if res.Success {
		d.logger.Debug("probe succeeded", "probe", res.Probe, "target", res.Target, "took", res.Duration)
	} else {
		d.logger.Warn("probe failed", "probe", res.Probe, "target", res.Target, "reason", res.Reason)
	}
}

// runOnce runs a probe's requests against its target. A scheduled run
// (adhoc false) feeds the metrics and becomes the job's last result; an
// ad-hoc run (/probe) does neither, so scrape-driven probes cannot skew the
// scheduled series.
func (d *Daemon) runOnce(ctx context.Context, j *probeJob, adhoc bool) *ProbeResult {
	// The server's page is read before and after a scheduled run (an
	// ad-hoc one feeds no metrics) for the gap between its TTFT and ours.
	var page *servermetrics.Scraper
	var before servermetrics.Snapshot
	if !adhoc {
		if page = d.server.Load().forProbe(&j.target); page != nil {
			var err error
			if before, err = page.Scrape(ctx); err != nil {
				page = nil // logged and counted by the watch
			}
		}
	}
	start := time.Now()
	res := &ProbeResult{Probe: j.probe.Name, Target: j.target.Name, Model: j.target.Model, Success: true}
	n := max(j.probe.Requests, 1)
	inflight := d.metrics.InFlight(j.target.Name)
	sess, err := newProbeSessions(j.gen) // conversations, shared prefixes
	if err != nil {
		res.Success, res.Reason, n = false, err.Error(), 0
	}
	for range n {
		if ctx.Err() != nil {
			res.Success, res.Reason = false, "canceled"
			break
		}
		var req probe.Request
		if sess == nil {
			req = j.gen.Next()
		} else if req, err = sess.next(ctx); err != nil {
			res.Success, res.Reason = false, err.Error()
			if ctx.Err() != nil {
				res.Reason = "canceled"
			}
			break
		}
		observe := func(rec *probe.Record) {
			rec.Phase, rec.Name = "probe", j.probe.Name
			if !adhoc && (ctx.Err() == nil || rec.Success()) {
				d.metrics.Observe(rec)
			}
		}
		inflight.Inc()
		// A refused attempt that is retried is still a measured failure.
		rec := j.client.DoWithRetry(ctx, req, probe.DefaultProbeRetry, observe)
		inflight.Dec()
		observe(rec)
		res.Records = append(res.Records, rec)
		if sess != nil {
			sess.done(rec)
		}
		if err := j.slo.Check(rec); err != nil && res.Success {
			res.Success = false
			res.Reason = err.Error()
			if rec.Error != "" && !strings.Contains(res.Reason, rec.Error) {
				res.Reason += ": " + rec.Error
			}
		}
	}
	res.Time = time.Now()
	res.Duration = res.Time.Sub(start)
	if sess != nil {
		res.Turns, res.PrefixCache = sess.breakdown()
		if g, ok := cacheGain(res.PrefixCache); ok && !adhoc && ctx.Err() == nil {
			d.prefixCache.Load().Set(j.target.Name, j.target.Model, "probe", j.probe.Name, g)
		}
	}
	if page != nil && ctx.Err() == nil {
		d.server.Load().probeDone(&j.target, j.probe.Name, probeBreakdown(ctx, page, before, res.Records))
	}
	if !adhoc {
		j.mu.Lock()
		j.last = res
		j.mu.Unlock()
	}
	return res
}

// ErrUnknown is returned by ProbeNow for a probe or target that is not
// configured; callers answer 400, never probing an arbitrary address.
var ErrUnknown = errors.New("unknown probe or target")

// ProbeNow runs a configured probe against one of the configured targets
// at once (for /probe). With probeName empty, the target's only probe is
// used. The client is returned for debug output.
func (d *Daemon) ProbeNow(ctx context.Context, probeName, target string) (*ProbeResult, *probe.Client, error) {
	d.mu.RLock()
	var j *probeJob
	if probeName != "" {
		j = d.jobs[jobName(probeName, target)]
	} else {
		for _, cand := range d.jobs {
			if cand.target.Name == target {
				if j != nil {
					d.mu.RUnlock()
					return nil, nil, fmt.Errorf("%w: target %q has several probes; name one with module=", ErrUnknown, target)
				}
				j = cand
			}
		}
	}
	d.mu.RUnlock()
	if j == nil {
		return nil, nil, fmt.Errorf("%w: no probe %q for target %q", ErrUnknown, probeName, target)
	}
	return d.runOnce(ctx, j, true), j.client, nil
}

// Status is a snapshot of every probe job, for the status page.
type Status struct {
	Probe  string       `json:"probe"`
	Target string       `json:"target"`
	Model  string       `json:"model"`
	Next   time.Time    `json:"next"`
	Last   *ProbeResult `json:"last,omitempty"`
}

// Statuses returns every job's status, sorted by probe then target.
func (d *Daemon) Statuses() []Status {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]Status, 0, len(d.jobs))
	for name, j := range d.jobs {
		j.mu.Lock()
		out = append(out, Status{Probe: j.probe.Name, Target: j.target.Name, Model: j.target.Model, Next: d.sched.Next(name), Last: j.last})
		j.mu.Unlock()
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Probe != out[b].Probe {
			return out[a].Probe < out[b].Probe
		}
		return out[a].Target < out[b].Target
	})
	return out
}

// Config returns the running config.
func (d *Daemon) Config() *config.Config {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.cfg
}

// Stop stops the scheduler, giving running probes grace to finish.
func (d *Daemon) Stop(grace time.Duration) {
	if !d.sched.Stop(grace) {
		d.logger.Warn("probes still running after the shutdown grace period were canceled", "grace", grace)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.clients {
		c.CloseIdle()
	}
}
