package collector

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/servermetrics"
)

func TestServerMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewServerMetrics(reg)
	m.InitTarget("a")
	m.Observe("a", 20*time.Millisecond, nil)
	m.Observe("a", 5*time.Second, &servermetrics.Error{URL: "http://h/metrics", Class: servermetrics.FailTimeout, Reason: "timed out after 5s"})
	m.Observe("b", 30*time.Millisecond, nil)
	m.Observe("b", 10*time.Millisecond, errors.New("dial tcp: connection refused")) // not an *Error: connection
	m.Observe("b", 10*time.Millisecond, nil)
	m.SetBreakdown("a", "m", "soak", "nightly", &load.Breakdown{ClientTTFTMS: 400, ServerTTFTMS: 380, OtherMS: 20, QueueMS: 300, QueueShare: 0.75, HasQueueTime: true})
	m.SetBreakdown("a", "m", "probe", "heartbeat", &load.Breakdown{ClientTTFTMS: 60, ServerTTFTMS: 50, OtherMS: 10, HasQueueTime: true})
	// a TGI-like page: no TTFT histogram, so the breakdown goes away
	m.SetBreakdown("b", "m", "probe", "heartbeat", &load.Breakdown{OtherMS: 5})
	m.SetBreakdown("b", "m", "probe", "heartbeat", nil)

	want := `
# HELP llmprobe_server_metrics_scrape_duration_seconds How long the last scrape of the target's metrics page took, failed or not.
# TYPE llmprobe_server_metrics_scrape_duration_seconds gauge
llmprobe_server_metrics_scrape_duration_seconds{target="a"} 5
llmprobe_server_metrics_scrape_duration_seconds{target="b"} 0.01
# HELP llmprobe_server_metrics_scrape_failures_total Failed scrapes of the target's metrics page, by reason: http (a status other than 200), not_exposition (HTML, JSON...), too_large (past metrics_max_bytes), timeout, parse, connection.
# TYPE llmprobe_server_metrics_scrape_failures_total counter
llmprobe_server_metrics_scrape_failures_total{reason="connection",target="a"} 0
llmprobe_server_metrics_scrape_failures_total{reason="connection",target="b"} 1
llmprobe_server_metrics_scrape_failures_total{reason="http",target="a"} 0
llmprobe_server_metrics_scrape_failures_total{reason="not_exposition",target="a"} 0
llmprobe_server_metrics_scrape_failures_total{reason="parse",target="a"} 0
llmprobe_server_metrics_scrape_failures_total{reason="timeout",target="a"} 1
llmprobe_server_metrics_scrape_failures_total{reason="too_large",target="a"} 0
# HELP llmprobe_server_metrics_up Whether the last scrape of the target's own metrics page (metrics_url) succeeded (1) or not (0); absent until the first scrape and with metrics_url: none. llmprobe scrapes it during soaks and around probe runs, not when Prometheus scrapes llmprobe.
# TYPE llmprobe_server_metrics_up gauge
llmprobe_server_metrics_up{target="a"} 0
llmprobe_server_metrics_up{target="b"} 1
# HELP llmprobe_server_queue_time_share Server's mean queue time over the client's mean TTFT, over the last probe run or soak (0-1): how much of the wait for the first token was spent queued on the server.
# TYPE llmprobe_server_queue_time_share gauge
llmprobe_server_queue_time_share{model="m",name="heartbeat",phase="probe",target="a"} 0
llmprobe_server_queue_time_share{model="m",name="nightly",phase="soak",target="a"} 0.75
# HELP llmprobe_server_ttft_gap_seconds Client mean TTFT minus the server's own mean TTFT (its histogram's delta) over the last probe run or soak: network, proxies and the client. The server's figure counts every client's requests in that window.
# TYPE llmprobe_server_ttft_gap_seconds gauge
llmprobe_server_ttft_gap_seconds{model="m",name="heartbeat",phase="probe",target="a"} 0.01
llmprobe_server_ttft_gap_seconds{model="m",name="nightly",phase="soak",target="a"} 0.02
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
	m.Delete(prometheus.Labels{"target": "a", "name": "nightly"})
	if n := testutil.CollectAndCount(m.ttftGap); n != 1 {
		t.Errorf("%d gap series after deleting the soak, want the probe's", n)
	}
	m.Delete(prometheus.Labels{"target": "a"})
	m.Delete(prometheus.Labels{"target": "b"})
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 0 {
		t.Errorf("%d series left (%v)", n, err)
	}
}
