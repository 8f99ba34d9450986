package collector

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// SoakMetrics holds the series of soaks: whether one is running, when it
// last succeeded, the arrivals its in-flight cap dropped, and what its last
// sweep found. Like the probe gauges they are set when a soak runs, not at
// scrape time. Per-request series of soak traffic live in Metrics, under
// phase="soak".
type SoakMetrics struct {
	running      *prometheus.GaugeVec
	lastSuccess  *prometheus.GaugeVec
	lastRun      *prometheus.GaugeVec
	lastDuration *prometheus.GaugeVec
	dropped      *prometheus.CounterVec
	maxRequests  *prometheus.GaugeVec
	maxTokens    *prometheus.GaugeVec
	stepOffered  *prometheus.GaugeVec
	stepAchieved *prometheus.GaugeVec
	stepTTFT     *prometheus.GaugeVec
	stepErrors   *prometheus.GaugeVec
	stepDrain    *prometheus.GaugeVec
}

// SweepStep is what a sweep's rate step measured, for the step gauges.
type SweepStep struct {
	Step           int
	OfferedRate    float64 // requests/s
	AchievedRate   float64 // requests/s
	TTFTP99Seconds float64
	ErrorRatio     float64
	DrainSeconds   float64
}

var (
	soakLabels = []string{"target", "name"}
	stepLabels = []string{"target", "name", "step"}
)

func gauge(name, help string, labels []string) *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help}, labels)
}

// NewSoakMetrics creates the soak series and registers them with reg.
func NewSoakMetrics(reg prometheus.Registerer) *SoakMetrics {
	m := &SoakMetrics{
		running: gauge("soak_running",
			"Whether a soak is running against a target now (1) or not (0).", soakLabels),
		lastSuccess: gauge("soak_last_success_timestamp_seconds",
			"Unix time the last successful run of a soak against a target ended: it completed, stayed within its error ratio and, for a sweep, found a max throughput. Alert when it stops advancing.", soakLabels),
		lastRun: gauge("soak_last_run_timestamp_seconds",
			"Unix time the last run of a soak against a target ended, successful or not.", soakLabels),
		lastDuration: gauge("soak_last_run_duration_seconds",
			"How long the last run of a soak against a target took, warmup and drains included.", soakLabels),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "dropped_arrivals_total",
			Help: "Open-loop arrivals not sent because max_in_flight requests were already in flight; they count as failures of their run.",
		}, soakLabels),
		maxRequests: gauge("detected_max_throughput_requests_per_second",
			"The last sweep's detected max throughput: the highest offered rate at which achieved >= 95% of offered, errors stayed within the error ratio and the SLOs held (0: no step qualified).", soakLabels),
		maxTokens: gauge("detected_max_throughput_output_tokens_per_second",
			"Output tokens per second achieved at the last sweep's detected max throughput.", soakLabels),
		stepOffered: gauge("sweep_step_offered_requests_per_second",
			"Rate offered by each step of the last sweep.", stepLabels),
		stepAchieved: gauge("sweep_step_achieved_requests_per_second",
			"Rate of successful completions over the middle 80% of each step of the last sweep.", stepLabels),
		stepTTFT: gauge("sweep_step_time_to_first_token_p99_seconds",
			"99th percentile time to first token of each step of the last sweep (successful requests).", stepLabels),
		stepErrors: gauge("sweep_step_error_ratio",
			"Failed / offered requests of each step of the last sweep, dropped arrivals included.", stepLabels),
		stepDrain: gauge("sweep_step_drain_seconds",
			"Time from the last arrival of each step of the last sweep to the end of its last request (or its cut).", stepLabels),
	}
	reg.MustRegister(m.running, m.lastSuccess, m.lastRun, m.lastDuration, m.dropped, m.maxRequests, m.maxTokens,
		m.stepOffered, m.stepAchieved, m.stepTTFT, m.stepErrors, m.stepDrain)
	return m
}

// InitSoak creates a soak's running gauge and dropped counter at zero, so
// alerts and rate() work before its first run.
func (m *SoakMetrics) InitSoak(target, name string) {
	m.running.WithLabelValues(target, name).Set(0)
	m.dropped.WithLabelValues(target, name)
}

// SetRunning sets the running gauge.
func (m *SoakMetrics) SetRunning(target, name string, running bool) {
	v := 0.0
	if running {
		v = 1
	}
	m.running.WithLabelValues(target, name).Set(v)
}

// Dropped returns the dropped-arrivals counter of a soak on a target.
func (m *SoakMetrics) Dropped(target, name string) prometheus.Counter {
	return m.dropped.WithLabelValues(target, name)
}

// RunDone records the end of a soak run.
func (m *SoakMetrics) RunDone(target, name string, success bool, took time.Duration, at time.Time) {
	ts := float64(at.UnixNano()) / 1e9
	m.lastRun.WithLabelValues(target, name).Set(ts)
	m.lastDuration.WithLabelValues(target, name).Set(took.Seconds())
	if success {
		m.lastSuccess.WithLabelValues(target, name).Set(ts)
	}
}

// SetSweep replaces the step gauges of a soak on a target with a finished
// sweep's steps (so a shorter sweep leaves no stale steps) and sets its
// detected max throughput (zeros when no step qualified).
func (m *SoakMetrics) SetSweep(target, name string, steps []SweepStep, maxRequests, maxTokens float64) {
	l := prometheus.Labels{"target": target, "name": name}
	for _, v := range []*prometheus.GaugeVec{m.stepOffered, m.stepAchieved, m.stepTTFT, m.stepErrors, m.stepDrain} {
		v.DeletePartialMatch(l)
	}
	for _, s := range steps {
		step := strconv.Itoa(s.Step)
		m.stepOffered.WithLabelValues(target, name, step).Set(s.OfferedRate)
		m.stepAchieved.WithLabelValues(target, name, step).Set(s.AchievedRate)
		m.stepTTFT.WithLabelValues(target, name, step).Set(s.TTFTP99Seconds)
		m.stepErrors.WithLabelValues(target, name, step).Set(s.ErrorRatio)
		m.stepDrain.WithLabelValues(target, name, step).Set(s.DrainSeconds)
	}
	m.maxRequests.WithLabelValues(target, name).Set(maxRequests)
	m.maxTokens.WithLabelValues(target, name).Set(maxTokens)
}

// Delete removes every soak series whose labels match (a target or a soak
// that a reload removed).
func (m *SoakMetrics) Delete(match prometheus.Labels) {
	for _, v := range []interface {
		DeletePartialMatch(prometheus.Labels) int
	}{m.running, m.lastSuccess, m.lastRun, m.lastDuration, m.dropped, m.maxRequests, m.maxTokens,
		m.stepOffered, m.stepAchieved, m.stepTTFT, m.stepErrors, m.stepDrain} {
		v.DeletePartialMatch(match)
	}
}
