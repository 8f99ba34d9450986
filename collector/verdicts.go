package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/llmprobe/llmprobe/load"
)

// Verdicts is the one family of verdicts, shared by soaks (the server's
// health: memory growth, stuck requests, restarts, preemptions) and stress
// procedures (sanity, knee, drift, ...): per configured run name, target and
// verdict name, whether it failed and its key number. Verdict names are a
// fixed set (load.Verdict), so the labels stay bounded. Set when a run ends,
// not at scrape time.
type Verdicts struct {
	failed *prometheus.GaugeVec
	value  *prometheus.GaugeVec
}

var verdictLabels = []string{"name", "target", "verdict"}

// NewVerdicts creates the verdict series and registers them with reg.
func NewVerdicts(reg prometheus.Registerer) *Verdicts {
	v := &Verdicts{
		failed: gauge("verdict_failed",
			"Whether the verdict of the last run of a soak or procedure against a target failed (1) or passed (0); undecided verdicts (no data) are absent.", verdictLabels),
		value: gauge("verdict_value",
			"The key number behind the verdict of the last run of a soak or procedure against a target, in the verdict's unit (server_memory_growth: bytes per second; stuck_requests: requests left; server_restart: restarts; preemptions: preemptions).", verdictLabels),
	}
	reg.MustRegister(v.failed, v.value)
	return v
}

// Set replaces the verdicts of a run name on a target with vs: verdicts no
// longer present, or now undecided, are deleted rather than left stale.
func (v *Verdicts) Set(name, target string, vs []load.Verdict) {
	l := prometheus.Labels{"name": name, "target": target}
	v.failed.DeletePartialMatch(l)
	v.value.DeletePartialMatch(l)
	for _, x := range vs {
		if x.Undecided || x.Name == "" {
			continue
		}
		f := 0.0
		if x.Failed {
			f = 1
		}
		v.failed.WithLabelValues(name, target, x.Name).Set(f)
		v.value.WithLabelValues(name, target, x.Name).Set(x.Value)
	}
}

// Delete removes every verdict series whose labels match (a target or a run
// that a reload removed).
func (v *Verdicts) Delete(match prometheus.Labels) {
	v.failed.DeletePartialMatch(match)
	v.value.DeletePartialMatch(match)
}
