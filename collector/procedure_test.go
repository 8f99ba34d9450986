package collector

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestProcedureMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewProcedureMetrics(reg)
	f := func(v float64) *float64 { return &v }
	m.Set("sim", "weekly", ProcedureFigures{
		Passed: true, EndedAt: 1700000000,
		DetectedMaxRequests: f(12.5), DetectedMaxTokens: f(800), PreviousDetectedMax: f(14),
		KneeVUs: f(8), SoakP99Seconds: f(0.9), P99DriftSecondsPerSecond: f(0.001),
	})
	want := `
# HELP llmprobe_procedure_detected_max_requests_per_second The last stress procedure's detected max throughput (its sweep step).
# TYPE llmprobe_procedure_detected_max_requests_per_second gauge
llmprobe_procedure_detected_max_requests_per_second{name="weekly",target="sim"} 12.5
# HELP llmprobe_procedure_knee_virtual_users Virtual users at which the last procedure's coarse ladder first saw errors or a latency jump (absent when none was found).
# TYPE llmprobe_procedure_knee_virtual_users gauge
llmprobe_procedure_knee_virtual_users{name="weekly",target="sim"} 8
# HELP llmprobe_procedure_passed Whether the last stress procedure of a soak against a target ran every step with no failed verdict (1) or not (0).
# TYPE llmprobe_procedure_passed gauge
llmprobe_procedure_passed{name="weekly",target="sim"} 1
# HELP llmprobe_procedure_previous_detected_max_requests_per_second The detected max throughput of the procedure before the last one (from the archive), to compare with procedure_detected_max_requests_per_second.
# TYPE llmprobe_procedure_previous_detected_max_requests_per_second gauge
llmprobe_procedure_previous_detected_max_requests_per_second{name="weekly",target="sim"} 14
`
	names := []string{"llmprobe_procedure_detected_max_requests_per_second", "llmprobe_procedure_knee_virtual_users",
		"llmprobe_procedure_passed", "llmprobe_procedure_previous_detected_max_requests_per_second"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
	// A later procedure that found no knee and failed: the knee series goes,
	// passed drops to 0; nothing stale stays.
	m.Set("sim", "weekly", ProcedureFigures{EndedAt: 1700600000, DetectedMaxRequests: f(10)})
	if n := testutil.CollectAndCount(m.kneeVUs); n != 0 {
		t.Errorf("knee series left after a procedure without a knee: %d", n)
	}
	if v := testutil.ToFloat64(m.passed.WithLabelValues("sim", "weekly")); v != 0 {
		t.Errorf("passed = %v after a failed procedure", v)
	}
	if v := testutil.ToFloat64(m.maxRequests.WithLabelValues("sim", "weekly")); v != 10 {
		t.Errorf("detected max = %v, want 10", v)
	}
	if probs, err := testutil.GatherAndLint(reg); err != nil || len(probs) > 0 {
		t.Errorf("lint: %v %v", err, probs)
	}
	m.Delete(prometheus.Labels{"target": "sim"})
	if n := testutil.CollectAndCount(m.passed); n != 0 {
		t.Errorf("Delete left %d series", n)
	}
}
