package daemon

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/llmprobe/llmprobe/collector"
	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/probe"
	"github.com/llmprobe/llmprobe/schedule"
	"github.com/llmprobe/llmprobe/workload"
)

// jobBase is what probe and soak jobs share: one config entry (a probe or
// a soak) against one of its targets, and the state derived from them.
type jobBase struct {
	name   string // scheduler job name: entry/target
	entry  string // the probe's or soak's name
	target config.Target
	work   config.Workload
	client *probe.Client
	gen    *workload.Generator
}

func (b *jobBase) base() *jobBase { return b }

// job is a *probeJob or a *soakJob.
type job interface {
	comparable
	base() *jobBase
}

// addJobs adds to want, through mk, a job per target of the entry named
// entry; it fails on a target or workload cfg does not have.
func addJobs[J job](want map[string]J, cfg *config.Config, kind, entry, work string, targets []string, mk func(jobBase) J) error {
	w := cfg.Workload(work)
	for _, tn := range targets {
		t := cfg.Target(tn)
		if t == nil || w == nil {
			return fmt.Errorf("%s %q: unknown target %q or workload %q", kind, entry, tn, work)
		}
		want[jobName(entry, tn)] = mk(jobBase{name: jobName(entry, tn), entry: entry, target: *t, work: *w})
	}
	return nil
}

// reconciler replaces running jobs of one kind by those of a new config;
// its funcs are what probes and soaks do differently.
type reconciler[J job] struct {
	kind    string // "probe" or "soak": its traffic's Record.Phase, and the word in errors and logs
	logger  *slog.Logger
	metrics *collector.Metrics
	sched   *schedule.Scheduler

	// same reports whether a running job's definition is unchanged.
	same func(old, j J) bool
	// stop, if set, ends a changed or removed job, already off the
	// scheduler; removed: it is not in the new config.
	stop func(old J, removed bool)
	// targetGone deletes the series of a target no longer configured.
	targetGone func(target string)
	// start starts a new or changed job (its client set, its request
	// series initialized), scheduling it.
	start func(j J) error
}

// apply makes want, built from cfg, the running jobs in place of cur
// (from prevCfg, with prevClients). Unchanged jobs stay in want
// undisturbed, in place of their new twins; changed ones are replaced;
// removed ones stop and their series are deleted. It returns the clients
// of cfg. It fails, changing nothing, if a generator cannot be built.
func (r *reconciler[J]) apply(cfg, prevCfg *config.Config, cur, want map[string]J, prevClients map[string]*probe.Client) (map[string]*probe.Client, error) {
	// Build everything that can fail before touching the running state.
	for name, j := range want {
		if old, ok := cur[name]; ok && r.same(old, j) {
			continue
		}
		b := j.base()
		gen, err := workload.NewForKind(&b.work, b.target.Kind)
		if err == nil {
			err = gen.CheckSessions() // conversations and shared prefixes suit the target's kind
		}
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", r.kind, b.entry, err)
		}
		b.gen = gen
	}
	clients := clientsFor(cfg, prevCfg, prevClients)
	for name, old := range cur {
		j, kept := want[name]
		if kept && r.same(old, j) {
			want[name] = old
			continue
		}
		r.sched.Remove(name)
		if r.stop != nil {
			r.stop(old, !kept)
		}
		if !kept {
			b := old.base()
			r.metrics.Delete(prometheus.Labels{"target": b.target.Name, "name": b.entry})
			r.logger.Info(r.kind+" removed", r.kind, b.entry, "target", b.target.Name)
		}
	}
	for tn := range prevClients {
		if cfg.Target(tn) == nil {
			r.targetGone(tn)
		}
	}
	for name, j := range want {
		if old, ok := cur[name]; ok && old == j {
			continue
		}
		b := j.base()
		b.client = clients[b.target.Name]
		r.metrics.InitTarget(b.target.Name, b.target.Model, r.kind, b.entry)
		if err := r.start(j); err != nil {
			// config validation uses the same parser, so this is a bug
			return nil, fmt.Errorf("%s %q: %w", r.kind, b.entry, err)
		}
	}
	return clients, nil
}
