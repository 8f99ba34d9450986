package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/llmprobe/llmprobe/probe"
)

// AdHocProbe is what /probe answers for one ad-hoc run, in a registry of
// its own as blackbox_exporter builds one per probe. The names carry a
// probe_ prefix apart from the scheduled series' (they are one run's means,
// not histograms), so the two never clash in one Prometheus.
type AdHocProbe struct {
	Success, Duration, Requests, Failed, Status     prometheus.Gauge
	TTFT, ITL, TPOT, E2E, OutputTokens, InputTokens prometheus.Gauge
}

// NewAdHocProbe creates the gauges of one ad-hoc run and registers them
// with reg.
func NewAdHocProbe(reg prometheus.Registerer) *AdHocProbe {
	g := func(name, help string) prometheus.Gauge {
		x := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help})
		reg.MustRegister(x)
		return x
	}
	return &AdHocProbe{
		Success:      g("probe_success", "Whether every request of the probe succeeded and met its SLOs."),
		Duration:     g("probe_duration_seconds", "How long the probe took."),
		Requests:     g("probe_requests", "Requests the probe sent."),
		Failed:       g("probe_failed_requests", "Requests of the probe that failed."),
		Status:       g("probe_http_status_code", "HTTP status of the last request (0: none received)."),
		TTFT:         g("probe_time_to_first_token_seconds", "Mean TTFT of the probe's successful requests."),
		ITL:          g("probe_inter_token_latency_seconds", "Mean of the successful requests' median inter-token latency."),
		TPOT:         g("probe_time_per_output_token_seconds", "Mean TPOT of the probe's successful requests."),
		E2E:          g("probe_request_duration_seconds", "Mean end-to-end latency of the probe's successful requests."),
		OutputTokens: g("probe_output_tokens", "Mean output tokens of the probe's successful requests."),
		InputTokens:  g("probe_input_tokens", "Mean input tokens of the probe's successful requests."),
	}
}

// Set fills the gauges from one run's records.
func (m *AdHocProbe) Set(recs []*probe.Record, success bool, took float64) {
	var ttft, itl, tpot, e2e, outTok, inTok, ok float64
	status := 0.0
	for _, rec := range recs {
		status = float64(rec.HTTPStatus)
		if !rec.Success() {
			continue
		}
		ok++
		if d, has := rec.TTFT(); has {
			ttft += d.Seconds()
		}
		if d, has := rec.MedianITL(); has {
			itl += d.Seconds()
		}
		if d, has := rec.TPOT(); has {
			tpot += d.Seconds()
		}
		e2e += rec.E2E().Seconds()
		outTok += float64(rec.OutputTokens)
		inTok += float64(rec.InputTokens)
	}
	if ok > 0 {
		ttft, itl, tpot, e2e, outTok, inTok = ttft/ok, itl/ok, tpot/ok, e2e/ok, outTok/ok, inTok/ok
	}
	s := 0.0
	if success {
		s = 1
	}
	m.Success.Set(s)
	m.Duration.Set(took)
	m.Requests.Set(float64(len(recs)))
	m.Failed.Set(float64(len(recs)) - ok)
	m.Status.Set(status)
	m.TTFT.Set(ttft)
	m.ITL.Set(itl)
	m.TPOT.Set(tpot)
	m.E2E.Set(e2e)
	m.OutputTokens.Set(outTok)
	m.InputTokens.Set(inTok)
}

// ReloadMetrics follow Prometheus's own convention for config reloads.
type ReloadMetrics struct {
	ok, at prometheus.Gauge
}

// NewReloadMetrics creates the reload gauges and registers them with reg.
func NewReloadMetrics(reg prometheus.Registerer) *ReloadMetrics {
	m := &ReloadMetrics{
		ok: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "config_last_reload_successful",
			Help: "Whether the last configuration reload attempt was successful.",
		}),
		at: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "config_last_reload_success_timestamp_seconds",
			Help: "Timestamp of the last successful configuration reload.",
		}),
	}
	reg.MustRegister(m.ok, m.at)
	return m
}

// Set records the outcome of a reload attempt.
func (m *ReloadMetrics) Set(ok bool) {
	if ok {
		m.ok.Set(1)
		m.at.SetToCurrentTime()
	} else {
		m.ok.Set(0)
	}
}
