// Package web serves llmprobe's HTTP interface: /metrics, /probe (ad-hoc
// probes, blackbox style), the JSON API of probes, soaks and archived runs,
// the status page, /-/reload behind the write guard, and the health checks.
// It holds no measuring logic: the daemon runs probes and soaks, and this
// package shows and triggers them.
package web

import (
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/llmprobe/llmprobe/archive"
	"github.com/llmprobe/llmprobe/daemon"
)

// DefaultTimeoutOffset is subtracted from Prometheus's scrape timeout to
// bound an ad-hoc probe, as blackbox_exporter's --timeout-offset.
const DefaultTimeoutOffset = 500 * time.Millisecond

// Options are what the interface shows and triggers.
type Options struct {
	Logger      *slog.Logger
	Gatherer    prometheus.Gatherer
	MetricsPath string
	Daemon      *daemon.Daemon
	Soaks       *daemon.Soaks    // nil: no soak routes
	Archive     *archive.Archive // nil: no archived runs
	Reloader    *daemon.Reloader
	Guard       Guard
	// TimeoutOffset is taken off the scrape timeout of /probe.
	TimeoutOffset time.Duration
	// Shard is the daemon's --shard (I/N), shown by /api/v1/status; "":
	// not sharded.
	Shard string
}

type handler struct {
	o     Options
	sweep sweepChart // the last sweep's chart, drawn once per run
}

// New returns the interface's handler.
func New(o Options) http.Handler {
	h := &handler{o: o}
	mux := http.NewServeMux()
	opts := promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelError),
		EnableOpenMetrics: true,
	}
	if r, ok := o.Gatherer.(prometheus.Registerer); ok {
		opts.Registry = r // promhttp counts its own errors there
	}
	mux.Handle(o.MetricsPath, promhttp.HandlerFor(o.Gatherer, opts))
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "Healthy") })
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "Ready") })
	if o.Reloader != nil {
		mux.HandleFunc("/-/reload", o.Guard.Wrap(h.reload))
	}
	mux.HandleFunc("/api/v1/status", h.statusJSON)
	mux.Handle("/probe", probeHandler(o.Daemon, o.Logger, o.TimeoutOffset))
	if o.Soaks != nil {
		mux.HandleFunc("/api/v1/soaks/{name}/run", o.Guard.Wrap(h.runSoak))
		mux.HandleFunc("GET /api/v1/soaks", h.soaks)
	}
	mux.HandleFunc("GET /api/v1/runs", h.runs)
	mux.HandleFunc("GET /api/v1/runs/{id}", h.runResult)
	mux.HandleFunc("GET /api/v1/runs/{id}/timeline", h.runTimeline)
	mux.HandleFunc("GET /procedures/{id}/{$}", h.procedureFile)
	mux.HandleFunc("GET /procedures/{id}/{file}", h.procedureFile)
	mux.HandleFunc("/", h.statusPage)
	return mux
}

func (h *handler) reload(w http.ResponseWriter, _ *http.Request) {
	if err := h.o.Reloader.Reload(); err != nil {
		http.Error(w, "reload failed; the running config stays:\n"+err.Error(), http.StatusBadRequest)
		return
	}
	fmt.Fprintln(w, "reloaded")
}

// sweepChart remembers the chart of the last sweep, so that the status page
// reads and parses a run's result (megabytes with a long GPU timeline) once,
// not on every view.
type sweepChart struct {
	mu   sync.Mutex
	id   string // archive directory and run id
	svg  template.HTML
	name string
}
