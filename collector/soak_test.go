package collector

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestSoakMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewSoakMetrics(reg)
	m.InitSoak("t1", "nightly")
	m.SetRunning("t1", "nightly", true)
	m.Dropped("t1", "nightly").Add(3)
	m.SetSweep("t1", "nightly", []SweepStep{
		{Step: 1, OfferedRate: 2, AchievedRate: 2, TTFTP99Seconds: 0.1, ErrorRatio: 0, DrainSeconds: 0.2},
		{Step: 2, OfferedRate: 4, AchievedRate: 3.5, TTFTP99Seconds: 0.4, ErrorRatio: 0.01, DrainSeconds: 0.9},
	}, 2, 160)
	// a later, shorter sweep replaces every step
	m.SetSweep("t1", "nightly", []SweepStep{{Step: 1, OfferedRate: 3, AchievedRate: 3, TTFTP99Seconds: 0.2, DrainSeconds: 0.3}}, 3, 240)
	m.RunDone("t1", "nightly", true, 90*time.Second, time.Unix(2000, 0))
	m.SetRunning("t1", "nightly", false)

	want := `
# HELP llmprobe_soak_running Whether a soak is running against a target now (1) or not (0).
# TYPE llmprobe_soak_running gauge
llmprobe_soak_running{name="nightly",target="t1"} 0
# HELP llmprobe_soak_last_success_timestamp_seconds Unix time the last successful run of a soak against a target ended: it completed, stayed within its error ratio and, for a sweep, found a max throughput. Alert when it stops advancing.
# TYPE llmprobe_soak_last_success_timestamp_seconds gauge
llmprobe_soak_last_success_timestamp_seconds{name="nightly",target="t1"} 2000
# HELP llmprobe_dropped_arrivals_total Open-loop arrivals not sent because max_in_flight requests were already in flight; they count as failures of their run.
# TYPE llmprobe_dropped_arrivals_total counter
llmprobe_dropped_arrivals_total{name="nightly",target="t1"} 3
# HELP llmprobe_detected_max_throughput_requests_per_second The last sweep's detected max throughput: the highest offered rate at which achieved >= 95% of offered, errors stayed within the error ratio and the SLOs held (0: no step qualified).
# TYPE llmprobe_detected_max_throughput_requests_per_second gauge
llmprobe_detected_max_throughput_requests_per_second{name="nightly",target="t1"} 3
# HELP llmprobe_sweep_step_offered_requests_per_second Rate offered by each step of the last sweep.
# TYPE llmprobe_sweep_step_offered_requests_per_second gauge
llmprobe_sweep_step_offered_requests_per_second{name="nightly",step="1",target="t1"} 3
# HELP llmprobe_sweep_step_time_to_first_token_p99_seconds 99th percentile time to first token of each step of the last sweep (successful requests).
# TYPE llmprobe_sweep_step_time_to_first_token_p99_seconds gauge
llmprobe_sweep_step_time_to_first_token_p99_seconds{name="nightly",step="1",target="t1"} 0.2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"llmprobe_soak_running", "llmprobe_soak_last_success_timestamp_seconds", "llmprobe_dropped_arrivals_total",
		"llmprobe_detected_max_throughput_requests_per_second", "llmprobe_sweep_step_offered_requests_per_second",
		"llmprobe_sweep_step_time_to_first_token_p99_seconds"); err != nil {
		t.Fatal(err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}

	m.Delete(prometheus.Labels{"name": "nightly"})
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 0 {
		t.Errorf("%d series left after Delete", n)
	}
}
