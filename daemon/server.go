package daemon

import (
	"context"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/llmprobe/llmprobe/collector"
	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/probe"
	"github.com/llmprobe/llmprobe/servermetrics"
)

// DerivedRetry is how long probes leave alone a metrics page whose URL was
// derived from the target's (no metrics_url) after it failed: many servers
// have none, and a probe every 15 s need not ask each time. Soaks still try
// it once per run.
const DerivedRetry = 5 * time.Minute

// TimeoutRetry is how long probes leave alone a configured page that timed
// out, so a hanging page does not hold every probe back by its timeout.
const TimeoutRetry = time.Minute

// ServerWatch reads the targets' own metrics pages for the probes and the
// soaks: one scraper per target, shared by both so that the page's health
// (collector.ServerMetrics) and its log lines are the target's whoever
// scraped. A page that fails is logged once when it starts failing and
// once when it recovers, never per scrape. Give the
// daemon's and the soaks' the same one (SetServerWatch); each makes a
// private one without metrics otherwise.
type ServerWatch struct {
	logger   *slog.Logger
	metrics  *collector.ServerMetrics // nil: not exported
	verdicts *collector.Verdicts      // nil: not exported

	mu      sync.Mutex
	targets map[string]*watched
}

type watched struct {
	cfg     config.Target
	scraper *servermetrics.Scraper
	state   string    // "": not scraped yet; "up"; else the failure class
	hold    time.Time // a derived page that failed, or one that timed out: probes skip it until then
}

// NewServerWatch returns a watch exporting to m and v (either may be nil).
func NewServerWatch(logger *slog.Logger, m *collector.ServerMetrics, v *collector.Verdicts) *ServerWatch {
	return &ServerWatch{logger: logger, metrics: m, verdicts: v, targets: map[string]*watched{}}
}

// scraper returns t's scraper (nil with metrics_url: none), made anew when
// t's config changed.
func (w *ServerWatch) scraper(t *config.Target) *servermetrics.Scraper {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.entry(t).scraper
}

func (w *ServerWatch) entry(t *config.Target) *watched {
	if e, ok := w.targets[t.Name]; ok && reflect.DeepEqual(&e.cfg, t) {
		return e
	}
	e := &watched{cfg: *t, scraper: t.ServerScraper()}
	if e.scraper != nil {
		name, derived := t.Name, e.scraper.Derived
		e.scraper.Observe = func(took time.Duration, err error) { w.observe(name, derived, took, err) }
		if w.metrics != nil {
			w.metrics.InitTarget(t.Name)
		}
	} else if w.metrics != nil {
		w.metrics.Delete(prometheus.Labels{"target": t.Name}) // turned off: no stale health
	}
	w.targets[t.Name] = e
	return e
}

// forProbe is t's scraper for a probe run: nil while a derived page that
// failed, or a page that timed out, is left alone.
func (w *ServerWatch) forProbe(t *config.Target) *servermetrics.Scraper {
	w.mu.Lock()
	defer w.mu.Unlock()
	e := w.entry(t)
	if time.Now().Before(e.hold) {
		return nil
	}
	return e.scraper
}

// observe records one scrape of target's page and logs a change of state.
func (w *ServerWatch) observe(target string, derived bool, took time.Duration, err error) {
	if w.metrics != nil {
		w.metrics.Observe(target, took, err)
	}
	w.mu.Lock()
	e := w.targets[target]
	if e == nil {
		w.mu.Unlock()
		return // forgotten by a reload meanwhile
	}
	prev := e.state
	if err != nil {
		e.state = servermetrics.Class(err)
		switch {
		case derived:
			e.hold = time.Now().Add(DerivedRetry)
		case e.state == servermetrics.FailTimeout:
			e.hold = time.Now().Add(TimeoutRetry)
		}
	} else {
		e.state, e.hold = "up", time.Time{}
	}
	now := e.state
	w.mu.Unlock()
	switch {
	case now == prev:
	case err != nil && prev != "" && prev != "up":
		// Still failing, for another reason (a big page that also times
		// out now and then): one line per outage, not per flap.
		w.logger.Debug("the server's metrics page fails differently", "target", target, "err", err)
	case err == nil && prev != "":
		w.logger.Info("the server's metrics page is readable again", "target", target)
	case err == nil:
		w.logger.Debug("reading the server's metrics page", "target", target)
	case derived:
		w.logger.Info("no metrics page at the URL derived from the target's: runs go on without the server's view; set metrics_url, or metrics_url: none",
			"target", target, "err", err)
	default:
		w.logger.Warn("cannot read the server's metrics page: runs go on without the server's view", "target", target, "err", err)
	}
}

// forget drops a target no longer configured, and its series.
func (w *ServerWatch) forget(target string) {
	w.mu.Lock()
	delete(w.targets, target)
	w.mu.Unlock()
	l := prometheus.Labels{"target": target}
	if w.metrics != nil {
		w.metrics.Delete(l)
	}
	if w.verdicts != nil {
		w.verdicts.Delete(l)
	}
}

// forgetRun drops the series of a probe or soak no longer configured on a
// target.
func (w *ServerWatch) forgetRun(target, name string) {
	l := prometheus.Labels{"target": target, "name": name}
	if w.metrics != nil {
		w.metrics.Delete(l)
	}
	if w.verdicts != nil {
		w.verdicts.Delete(l)
	}
}

// probeDone exports a probe run's breakdown (nil deletes the last one).
func (w *ServerWatch) probeDone(t *config.Target, name string, b *load.Breakdown) {
	if w.metrics != nil {
		w.metrics.SetBreakdown(t.Name, t.Model, "probe", name, b)
	}
}

// soakDone exports a soak run's server view: its breakdown and verdicts.
func (w *ServerWatch) soakDone(t *config.Target, soak string, res *load.Result) {
	var b *load.Breakdown
	var vs []load.Verdict
	if res.Server != nil {
		b, vs = res.Server.Breakdown, res.Server.Verdicts
	}
	if w.metrics != nil {
		w.metrics.SetBreakdown(t.Name, t.Model, PhaseSoak, soak, b)
	}
	if w.verdicts != nil {
		w.verdicts.Set(soak, t.Name, vs)
	}
}

// probeBreakdown reads s around a probe run: the snapshot before is given,
// the one after is taken now, again after a moment if the server has not
// yet counted every request (servers record a request's figures as it
// ends, not always before its last byte reaches the client).
func probeBreakdown(ctx context.Context, s *servermetrics.Scraper, before servermetrics.Snapshot, recs []*probe.Record) *load.Breakdown {
	var n int64
	var sum time.Duration
	for _, r := range recs {
		if d, ok := r.TTFT(); ok && r.Success() {
			n++
			sum += d
		}
	}
	if n == 0 {
		return nil
	}
	var w servermetrics.Window
	for try := 0; try < 3; try++ {
		if try > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(200 * time.Millisecond):
			}
		}
		after, err := s.Scrape(ctx)
		if err != nil {
			return nil
		}
		w = servermetrics.Delta(before, after)
		if h := w.Hists["ttft_seconds"]; h == nil || h.Count >= float64(n) {
			break
		}
	}
	meanMS := float64(sum) / float64(n) / float64(time.Millisecond)
	return load.BreakdownOf(n, meanMS, w)
}
