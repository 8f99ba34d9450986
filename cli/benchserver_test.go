package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/probe"
	"github.com/llmprobe/llmprobe/sim"
)

// TestBenchServerBlock: bench reads the simulator's metrics page at the
// derived URL; the table has a Server block and the result its view.
func TestBenchServerBlock(t *testing.T) {
	url := benchSim(t, sim.Config{TTFT: 20 * time.Millisecond, ITL: 2 * time.Millisecond, MaxConcurrency: 2})
	result := filepath.Join(t.TempDir(), "result.json")
	code, out, errOut := bench(t, nil, "--url", url, "--model", sim.DefaultModel, "--num-requests", "20", "--concurrency", "6",
		"--decode-options", "num_tokens=4", "--metrics-interval", "100ms", "--result-file", result, "--progress", "never")
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"---------Server (its metrics page, vllm)----------",
		"Max requests waiting:",
		"Max KV cache usage (%):",
		"Mean client TTFT (ms):",
		"Mean server TTFT (ms):",
		"Mean server queue time (ms):",
		"Queue share of client TTFT (%):",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	b, err := os.ReadFile(result)
	if err != nil {
		t.Fatal(err)
	}
	var res load.Result
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if res.Server == nil || res.Server.Timeline == nil || len(res.Server.Verdicts) != 4 || res.Steps[0].Server == nil ||
		res.Steps[0].Server.Breakdown == nil || res.Steps[0].Server.Breakdown.QueueShare <= 0.3 || res.Steps[0].Server.RequestsWaiting.Max < 3 {
		t.Errorf("server view %+v", res.Server)
	}
	if strings.Contains(out, "Warning:") || strings.Contains(out, "Server metrics:") {
		t.Errorf("warnings or notes:\n%s", out)
	}

	// --metrics-url none: no block, no view
	code, out, errOut = bench(t, nil, "--url", url, "--model", sim.DefaultModel, "--num-requests", "2", "--metrics-url", "none", "--progress", "never")
	if code != exitOK || strings.Contains(out, "Server (") || strings.Contains(out, "Server metrics") {
		t.Errorf("exit %d with --metrics-url none:\n%s%s", code, out, errOut)
	}
}

// TestBenchWithoutMetricsPage: a server without a page is benchmarked as
// ever; the table says why there is no server view.
func TestBenchWithoutMetricsPage(t *testing.T) {
	url := benchSim(t, sim.Config{TTFT: 5 * time.Millisecond, ITL: time.Millisecond})
	code, out, errOut := bench(t, nil, "--url", url, "--model", sim.DefaultModel, "--num-requests", "3",
		"--metrics-url", strings.TrimSuffix(url, "/v1")+"/nothing-here", "--progress", "never")
	if code != exitOK || !strings.Contains(out, "Server metrics: the metrics page could not be read (") || !strings.Contains(out, "/nothing-here: HTTP 404") {
		t.Errorf("exit %d:\n%s%s", code, out, errOut)
	}
	if strings.Contains(out, "Server (") {
		t.Errorf("a server block without a page:\n%s", out)
	}
}

func TestBenchServerScraperFlags(t *testing.T) {
	ep := probe.Endpoint{URL: "http://h:8000/v1", APIKey: "k"}
	for _, tc := range []struct {
		url, server string
		every       time.Duration
		want        string // error, or the scraper's URL
	}{
		{"", "auto", time.Second, "http://h:8000/metrics"},
		{"http://h:8000/metrics", "sglang", time.Second, "http://h:8000/metrics"},
		{"http://h:8000/metrics?token=x", "auto", time.Second, "--metrics-url: URL must not have a query"},
		{"none", "auto", time.Second, ""},
		{"none", "auto", 0, ""},
		{"", "triton", time.Second, `--server: invalid server "triton"`},
		{"ftp://h/metrics", "auto", time.Second, "--metrics-url: invalid URL: must start with http:// or https://"},
		{"", "auto", 10 * time.Millisecond, "--metrics-interval: 10ms is below the minimum of 100ms"},
		{"", "auto", 0, "--metrics-interval: must be positive"},
	} {
		o := &benchOptions{metricsURL: tc.url, server: tc.server, metricsEvery: tc.every}
		s, err := o.serverScraper(ep)
		switch {
		case strings.HasPrefix(tc.want, "--"):
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%+v: error %v, want %q", tc, err, tc.want)
			}
		case tc.want == "":
			if s != nil || err != nil {
				t.Errorf("%+v: %+v %v", tc, s, err)
			}
		case err != nil || s == nil || s.URL != tc.want || s.Key != "k":
			t.Errorf("%+v: %+v %v", tc, s, err)
		}
	}
}
