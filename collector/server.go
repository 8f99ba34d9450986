package collector

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/servermetrics"
)

// ServerMetrics holds what llmprobe exports about the model servers' own
// metrics pages. It never re-exports the servers' series (Prometheus
// scrapes those directly); it exports the scraper's health and what needs
// both sides: the gap between the client's and the server's TTFT, and the
// share of the client's TTFT the server spent queueing, over the last probe
// run or soak. Set when llmprobe scrapes a page or a run ends, not at
// scrape time.
type ServerMetrics struct {
	up         *prometheus.GaugeVec
	duration   *prometheus.GaugeVec
	failures   *prometheus.CounterVec
	ttftGap    *prometheus.GaugeVec
	queueShare *prometheus.GaugeVec
}

var (
	serverLabels = []string{"target"}
	// bothLabels are those of the request series: a probe or a soak on a target.
	bothLabels = reqLabels
)

// NewServerMetrics creates the server series and registers them with reg.
func NewServerMetrics(reg prometheus.Registerer) *ServerMetrics {
	m := &ServerMetrics{
		up: gauge("server_metrics_up",
			"Whether the last scrape of the target's own metrics page (metrics_url) succeeded (1) or not (0); absent until the first scrape and with metrics_url: none. llmprobe scrapes it during soaks and around probe runs, not when Prometheus scrapes llmprobe.", serverLabels),
		duration: gauge("server_metrics_scrape_duration_seconds",
			"How long the last scrape of the target's metrics page took, failed or not.", serverLabels),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "server_metrics_scrape_failures_total",
			Help: "Failed scrapes of the target's metrics page, by reason: http (a status other than 200), not_exposition (HTML, JSON...), too_large (past metrics_max_bytes), timeout, parse, connection.",
		}, []string{"target", "reason"}),
		ttftGap: gauge("server_ttft_gap_seconds",
			"Client mean TTFT minus the server's own mean TTFT (its histogram's delta) over the last probe run or soak: network, proxies and the client. The server's figure counts every client's requests in that window.", bothLabels),
		queueShare: gauge("server_queue_time_share",
			"Server's mean queue time over the client's mean TTFT, over the last probe run or soak (0-1): how much of the wait for the first token was spent queued on the server.", bothLabels),
	}
	reg.MustRegister(m.up, m.duration, m.failures, m.ttftGap, m.queueShare)
	return m
}

// InitTarget creates a target's failure counters at zero for every
// reason, so rate() works before the first failure.
func (m *ServerMetrics) InitTarget(target string) {
	for _, r := range servermetrics.FailureClasses {
		m.failures.WithLabelValues(target, r)
	}
}

// Observe records one scrape of a target's page: err nil is a success.
func (m *ServerMetrics) Observe(target string, took time.Duration, err error) {
	m.duration.WithLabelValues(target).Set(took.Seconds())
	if err != nil {
		m.up.WithLabelValues(target).Set(0)
		m.failures.WithLabelValues(target, servermetrics.Class(err)).Inc()
		return
	}
	m.up.WithLabelValues(target).Set(1)
}

// SetBreakdown sets the TTFT gap and queue share of a probe or soak from
// its breakdown; nil (no server TTFT for that run) deletes them rather than
// leave the previous run's figures standing.
func (m *ServerMetrics) SetBreakdown(target, model, phase, name string, b *load.Breakdown) {
	l := prometheus.Labels{"target": target, "model": model, "phase": phase, "name": name}
	if b == nil {
		m.ttftGap.Delete(l)
		m.queueShare.Delete(l)
		return
	}
	m.ttftGap.With(l).Set(b.OtherMS / 1000)
	if b.HasQueueTime {
		m.queueShare.With(l).Set(b.QueueShare)
	} else {
		m.queueShare.Delete(l) // the page has no queue time histogram
	}
}

// Delete removes every server series whose labels match (a target, or a
// probe or soak, that a reload removed).
func (m *ServerMetrics) Delete(match prometheus.Labels) {
	for _, v := range []interface {
		DeletePartialMatch(prometheus.Labels) int
	}{m.up, m.duration, m.failures, m.ttftGap, m.queueShare} {
		v.DeletePartialMatch(match)
	}
}
