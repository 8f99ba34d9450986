package daemon

import (
	"log/slog"
	"sync"

	"github.com/llmprobe/llmprobe/collector"
	"github.com/llmprobe/llmprobe/config"
)

// Reloader applies a freshly loaded config to the daemon's parts; SIGHUP
// and POST /-/reload share it, one reload at a time. A config that fails
// to load or apply leaves the running one in place.
type Reloader struct {
	mu      sync.Mutex
	load    func() (*config.Config, error)
	apply   []func(*config.Config) error
	metrics *collector.ReloadMetrics
	logger  *slog.Logger
}

// NewReloader returns a Reloader that loads configs with load and hands
// them to each of apply in turn.
func NewReloader(logger *slog.Logger, m *collector.ReloadMetrics, load func() (*config.Config, error), apply ...func(*config.Config) error) *Reloader {
	return &Reloader{load: load, apply: apply, metrics: m, logger: logger}
}

// Reload loads and applies the config; the error says why it was refused.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	next, err := r.load()
	for _, apply := range r.apply {
		if err != nil {
			break
		}
		err = apply(next)
	}
	if err != nil {
		// the running config stays: a bad edit must not stop monitoring
		r.metrics.Set(false)
		r.logger.Error("config reload failed; keeping the running config", "err", err)
		return err
	}
	r.metrics.Set(true)
	r.logger.Info("config reloaded", "probes", len(next.Probes), "soaks", len(next.Soaks), "targets", len(next.Targets))
	return nil
}
