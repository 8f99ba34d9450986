package collector

import (
	"github.com/prometheus/client_golang/prometheus"
)

// ProcedureMetrics holds the key figures of the last stress procedure of
// each soak with mode procedure: what it found (detected max, knee,
// saturation, p99 at the soak rate, drift and growth slopes), whether it
// passed, and the previous procedure's detected max, so "capacity fell
// since the last procedure" is one comparison of two series that survive a
// daemon restart (the previous figure comes from the archive). Its verdicts
// are in the shared verdict family (llmprobe_verdict_failed). Set when a
// procedure ends, not at scrape time.
type ProcedureMetrics struct {
	passed, lastRun                              *prometheus.GaugeVec
	maxRequests, maxTokens, previousMax, kneeVUs *prometheus.GaugeVec
	saturation, soakP99                          *prometheus.GaugeVec
	p50Drift, p99Drift, vramGrowth, serverMem    *prometheus.GaugeVec
}

// ProcedureFigures is what a finished procedure found, in base units. A
// figure a procedure did not measure (its step did not run or found
// nothing) is left out: NaN-free, its series is deleted rather than set to
// a misleading zero.
type ProcedureFigures struct {
	Passed  bool
	EndedAt float64 // Unix seconds

	DetectedMaxRequests, DetectedMaxTokens *float64
	// PreviousDetectedMax is the detected max of the procedure before this
	// one (same soak, same target), when there was one.
	PreviousDetectedMax *float64
	KneeVUs             *float64
	SaturationRequests  *float64
	SoakP99Seconds      *float64
	// Slopes per second, from the validation and soak steps.
	P50DriftSecondsPerSecond, P99DriftSecondsPerSecond   *float64
	VRAMGrowthBytesPerSecond, ServerMemoryBytesPerSecond *float64
}

// NewProcedureMetrics creates the procedure series and registers them.
func NewProcedureMetrics(reg prometheus.Registerer) *ProcedureMetrics {
	m := &ProcedureMetrics{
		passed: gauge("procedure_passed",
			"Whether the last stress procedure of a soak against a target ran every step with no failed verdict (1) or not (0).", soakLabels),
		lastRun: gauge("procedure_last_run_timestamp_seconds",
			"Unix time the last stress procedure of a soak against a target ended.", soakLabels),
		maxRequests: gauge("procedure_detected_max_requests_per_second",
			"The last stress procedure's detected max throughput (its sweep step).", soakLabels),
		maxTokens: gauge("procedure_detected_max_output_tokens_per_second",
			"Output tokens per second at the last stress procedure's detected max throughput.", soakLabels),
		previousMax: gauge("procedure_previous_detected_max_requests_per_second",
			"The detected max throughput of the procedure before the last one (from the archive), to compare with procedure_detected_max_requests_per_second.", soakLabels),
		kneeVUs: gauge("procedure_knee_virtual_users",
			"Virtual users at which the last procedure's coarse ladder first saw errors or a latency jump (absent when none was found).", soakLabels),
		saturation: gauge("procedure_saturation_requests_per_second",
			"Lowest sweep rate of the last procedure that the over-saturation test flagged: in-flight requests and TTFT both rising with 95% confidence.", soakLabels),
		soakP99: gauge("procedure_soak_e2e_p99_seconds",
			"End-to-end p99 latency of the last procedure's long soak at its fraction of the detected max.", soakLabels),
		p50Drift: gauge("procedure_p50_drift_seconds_per_second",
			"Slope of the median end-to-end latency over the last procedure's validation and soak steps (the steepest of the two).", soakLabels),
		p99Drift: gauge("procedure_p99_drift_seconds_per_second",
			"Slope of the p99 end-to-end latency over the last procedure's validation and soak steps (the steepest of the two).", soakLabels),
		vramGrowth: gauge("procedure_vram_growth_bytes_per_second",
			"Slope of GPU memory used over the last procedure's soak (the local GPUs, from NVML).", soakLabels),
		serverMem: gauge("procedure_server_memory_growth_bytes_per_second",
			"Slope of the model server's resident memory over the last procedure's soak (its own metrics page).", soakLabels),
	}
	reg.MustRegister(m.all()...)
	return m
}

func (m *ProcedureMetrics) all() []prometheus.Collector {
	return []prometheus.Collector{m.passed, m.lastRun, m.maxRequests, m.maxTokens, m.previousMax, m.kneeVUs,
		m.saturation, m.soakP99, m.p50Drift, m.p99Drift, m.vramGrowth, m.serverMem}
}

// Set replaces the figures of a soak on a target with a finished
// procedure's.
func (m *ProcedureMetrics) Set(target, name string, f ProcedureFigures) {
	passed := 0.0
	if f.Passed {
		passed = 1
	}
	m.passed.WithLabelValues(target, name).Set(passed)
	m.lastRun.WithLabelValues(target, name).Set(f.EndedAt)
	for _, s := range []struct {
		v *prometheus.GaugeVec
		x *float64
	}{
		{m.maxRequests, f.DetectedMaxRequests}, {m.maxTokens, f.DetectedMaxTokens},
		{m.previousMax, f.PreviousDetectedMax}, {m.kneeVUs, f.KneeVUs},
		{m.saturation, f.SaturationRequests}, {m.soakP99, f.SoakP99Seconds},
		{m.p50Drift, f.P50DriftSecondsPerSecond}, {m.p99Drift, f.P99DriftSecondsPerSecond},
		{m.vramGrowth, f.VRAMGrowthBytesPerSecond}, {m.serverMem, f.ServerMemoryBytesPerSecond},
	} {
		if s.x == nil {
			s.v.DeleteLabelValues(target, name)
			continue
		}
		s.v.WithLabelValues(target, name).Set(*s.x)
	}
}

// Delete removes every procedure series whose labels match (a target or a
// soak that a reload removed).
func (m *ProcedureMetrics) Delete(match prometheus.Labels) {
	for _, c := range m.all() {
		c.(*prometheus.GaugeVec).DeletePartialMatch(match)
	}
}
