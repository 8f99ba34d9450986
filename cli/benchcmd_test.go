package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/llmprobe/llmprobe/archive"
	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/probe"
	"github.com/llmprobe/llmprobe/sim"
	"github.com/llmprobe/llmprobe/sim/simtest"
)

// bench parses args as `llmprobe bench` flags and runs it.
func bench(t *testing.T, sigs chan os.Signal, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	app := kingpin.New("llmprobe", "")
	app.Terminate(nil)
	var errOut bytes.Buffer
	app.UsageWriter(&errOut)
	app.ErrorWriter(&errOut)
	cmd := app.Command("bench", "")
	o := addBenchFlags(cmd)
	if _, err := app.Parse(append([]string{"bench"}, args...)); err != nil {
		t.Fatalf("flags %v: %v", args, err)
	}
	var out bytes.Buffer
	g := &globals{stdout: &out, stderr: &errOut, sigs: sigs}
	code = runBench(slog.New(slog.NewTextHandler(io.Discard, nil)), g, o)
	return code, out.String(), errOut.String()
}

func benchSim(t *testing.T, cfg sim.Config) string {
	return simtest.Start(t, cfg) + "/v1"
}

func TestBenchThroughputTable(t *testing.T) {
	url := benchSim(t, sim.Config{TTFT: 5 * time.Millisecond, ITL: 2 * time.Millisecond})
	dir := t.TempDir()
	result := filepath.Join(dir, "result.json")
	timeline := filepath.Join(dir, "timeline.jsonl")
	code, out, errOut := bench(t, nil, "--url", url, "--model", sim.DefaultModel, "--num-requests", "12", "--concurrency", "3",
		"--decode-options", "num_tokens=8,max_tokens=10,min_tokens=6,variance=1", "--goodput", "ttft:1000,tpot:500",
		"--result-file", result, "--timeline-file", timeline, "--data-dir", filepath.Join(dir, "data"), "--progress", "never")
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"============ Serving Benchmark Result ============",
		"Successful requests:                     12",
		"Request goodput (req/s):",
		"Peak output token throughput (tok/s):",
		"---------------Time to First Token----------------",
		"-----Time per Output Token (excl. 1st token)------",
		"P99 ITL (ms):",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	var res load.Result
	b, err := os.ReadFile(result)
	if err != nil || json.Unmarshal(b, &res) != nil {
		t.Fatalf("result file: %v", err)
	}
	if res.Summary.Successful != 12 || res.Summary.PeakConcurrent > 3 || res.Context.VUs != 3 || res.Context.Workload.Output.NumTokens != 8 {
		t.Errorf("result %+v", res.Summary)
	}
	if d := res.Summary.OutputLen; d.Min < 6 || d.Max > 10 {
		t.Errorf("output lengths %+v outside the decode options", d)
	}
	tl, _ := os.ReadFile(timeline)
	if n := strings.Count(string(tl), "\n"); n != 12 {
		t.Errorf("%d timeline lines", n)
	}
	a, _ := archive.Open(filepath.Join(dir, "data"), archive.Retention{})
	if runs, _ := a.List(); len(runs) != 1 || runs[0].Successful != 12 {
		t.Errorf("archive %+v", runs)
	}
}

func TestBenchRateJSON(t *testing.T) {
	url := benchSim(t, sim.Config{TTFT: 5 * time.Millisecond, ITL: 2 * time.Millisecond, OutputTokens: 4})
	code, out, errOut := bench(t, nil, "--url", url, "--model", sim.DefaultModel, "--rates", "20,40", "--duration", "300ms",
		"--json", "--kind", "completions", "--progress", "always")
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	var res load.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("stdout is not a JSON result: %v\n%s", err, out)
	}
	if res.Mode != load.ModeRate || len(res.Steps) != 2 || res.Steps[1].OfferedRate != 40 || res.Kind != "completions" {
		t.Errorf("result %+v", res)
	}
	if n := res.Steps[0].Summary.Requests; n < 5 || n > 7 {
		t.Errorf("20 req/s for 300ms sent %d", n)
	}
	if !strings.Contains(errOut, "[step ") {
		t.Errorf("no progress on stderr: %q", errOut)
	}
}

// Ctrl-C stops the run, prints and saves what was measured so far.
func TestBenchInterrupt(t *testing.T) {
	url := benchSim(t, sim.Config{TTFT: 5 * time.Millisecond, ITL: 5 * time.Millisecond, OutputTokens: 10})
	result := filepath.Join(t.TempDir(), "r.json")
	sigs := make(chan os.Signal, 1)
	time.AfterFunc(700*time.Millisecond, func() { sigs <- syscall.SIGINT })
	start := time.Now()
	code, out, errOut := bench(t, sigs, "--url", url, "--model", sim.DefaultModel, "--concurrency", "2", "--duration", "1h",
		"--result-file", result)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Ctrl-C took %v to stop", took)
	}
	if code != exitInterrupted {
		t.Errorf("exit %d, want %d", code, exitInterrupted)
	}
	if !strings.Contains(out, "Serving Benchmark Result") || !strings.Contains(out, "Interrupted") || !strings.Contains(errOut, "interrupted") {
		t.Errorf("output:\n%s\n%s", out, errOut)
	}
	var res load.Result
	b, _ := os.ReadFile(result)
	if err := json.Unmarshal(b, &res); err != nil || res.Status != load.StatusInterrupted || res.Summary.Successful == 0 {
		t.Errorf("saved result %v: %+v", err, res.Summary)
	}
}

func TestBenchPlanErrors(t *testing.T) {
	for _, tc := range []struct {
		o    benchOptions
		want string
	}{
		{benchOptions{url: "ftp://x", rates: []string{"1"}}, "--url"},
		{benchOptions{url: "http://x", rates: []string{"1,-2"}}, "--rates"},
		{benchOptions{url: "http://x", goodput: []string{"ttft=5"}}, "--goodput"},
		{benchOptions{url: "http://x", decodeOptions: "num_tokens=x"}, "--decode-options"},
		{benchOptions{url: "http://x", duration: "soon"}, "--duration"},
		{benchOptions{url: "http://x", prompt: "a", inputTokens: 5}, "at most one"},
		{benchOptions{url: "http://x", mode: load.ModeSweep, rates: []string{"1"}}, "rate mode"},
	} {
		_, _, _, err := benchPlan(&tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.o, err, tc.want)
		}
	}
	lo, ep, _, err := benchPlan(&benchOptions{url: "http://u:p@h:8000/v1", model: "m", kind: "chat", rates: []string{"1", "2,3"},
		concurrency: 7, goodput: []string{"ttft:200 tpot:50"}, ignoreEOS: true, arrival: load.ArrivalPoisson})
	if err != nil {
		t.Fatal(err)
	}
	if lo.Mode != load.ModeRate || len(lo.Rates) != 3 || lo.MaxInFlight != 7 || lo.SLO != (probe.SLO{TTFT: 200 * time.Millisecond, TPOT: 50 * time.Millisecond}) ||
		lo.Target != "h:8000" || !ep.SupportsMinTokens || lo.Duration != time.Minute {
		t.Errorf("plan %+v %+v", lo, ep)
	}
	if redactURL("http://u:p@h:8000/v1") != "http://u:xxxxx@h:8000/v1" {
		t.Errorf("redact %s", redactURL("http://u:p@h:8000/v1"))
	}
}

// vLLM's --save-result: our result in --result-dir under vLLM's file name,
// and with --result-format vllm its JSON beside it, holding the chosen
// metrics and percentiles.
func TestBenchSaveResultVLLM(t *testing.T) {
	url := strings.TrimSuffix(benchSim(t, sim.Config{TTFT: 2 * time.Millisecond, ITL: time.Millisecond, OutputTokens: 64}), "/v1")
	dir := filepath.Join(t.TempDir(), "res")
	code, _, errOut := bench(t, nil, "--base-url", url, "--endpoint", "/v1/chat/completions", "--model", sim.DefaultModel,
		"--num-prompts", "6", "--max-concurrency", "2", "--random-input-len", "16", "--random-output-len", "4",
		"--save-result", "--result-dir", dir, "--result-format", "vllm", "--percentile-metrics", "ttft,e2el", "--metric-percentiles", "50,90",
		"--progress", "never")
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	ours, _ := filepath.Glob(filepath.Join(dir, "openai-chat-infqps-concurrency2-"+sim.DefaultModel+"-*.json"))
	var primary, vl string
	for _, f := range ours {
		if strings.HasSuffix(f, ".vllm.json") {
			vl = f
		} else {
			primary = f
		}
	}
	if primary == "" || vl == "" {
		t.Fatalf("files in %s: %v", dir, ours)
	}
	var res load.Result
	if b, err := os.ReadFile(primary); err != nil || json.Unmarshal(b, &res) != nil {
		t.Fatalf("%s: %v", primary, err)
	}
	// --random-output-len 4 is sent as max_tokens (and, vLLM's ignore_eos
	// for random datasets, min_tokens): the simulator's 64 tokens are cut to 4.
	if res.Summary.Successful != 6 || res.Context.VUs != 2 || res.Summary.OutputLen.Max != 4 || res.Kind != "chat" {
		t.Errorf("result %+v", res.Summary)
	}
	var v map[string]any
	if b, err := os.ReadFile(vl); err != nil || json.Unmarshal(b, &v) != nil {
		t.Fatalf("%s: %v", vl, err)
	}
	if v["completed"] != 6.0 || v["num_prompts"] != 6.0 || v["max_concurrency"] != 2.0 || v["request_rate"] != "inf" || v["p90_ttft_ms"] == nil ||
		v["p50_e2el_ms"] == nil || v["p99_ttft_ms"] != nil || v["mean_itl_ms"] != nil {
		t.Errorf("vLLM result %v", v)
	}
}
