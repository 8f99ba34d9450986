package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/sim"
	"github.com/llmprobe/llmprobe/sim/simtest"
)

// arrivalsEnv is a working directory with a Mooncake trace of 6 requests
// (100 ms apart), a CSV one and a malformed one.
func arrivalsEnv(t *testing.T) {
	t.Helper()
	t.Chdir(t.TempDir())
	var b strings.Builder
	for i := range 6 {
		fmt.Fprintf(&b, `{"timestamp": %d, "input_length": %d, "output_length": %d, "hash_ids": [0, %d]}`+"\n", i*100, 520+i, 2+i, i+1)
	}
	writeFile(t, "trace.jsonl", []byte(b.String()))
	writeFile(t, "trace.csv", []byte("timestamp_ms,input_tokens,output_tokens\n0,10,2\n50,20,3\n"))
	writeFile(t, "bad.jsonl", []byte(b.String()+`{"timestamp": 700, "input_length": 5}`+"\n"))
}

func TestBenchArrivalsPlanned(t *testing.T) {
	arrivalsEnv(t)
	url := []string{"--url", "http://h:8000", "--model", "m"}
	vllm := []string{"--base-url", "http://h:8000", "--model", "m"}
	with := func(base []string, more ...string) []string { return append(slices.Clone(base), more...) }
	for _, tc := range []struct {
		name  string
		args  []string
		check func(t *testing.T, p planned)
	}{
		{"--burstiness mixes with llmprobe's flags: gamma", with(url, "--rates", "10", "--burstiness", "0.5"), func(t *testing.T, p planned) {
			if p.lo.Mode != load.ModeRate || p.lo.Arrival != load.ArrivalGamma || p.lo.Burstiness != 0.5 || p.ep.Kind != config.KindChat || p.lo.NumRequests != 0 {
				t.Errorf("%+v %+v", p.lo, p.ep)
			}
		}},
		{"--arrival gamma --burstiness 1 is gamma of shape 1", with(url, "--rates", "10", "--arrival", "gamma", "--burstiness", "1"), func(t *testing.T, p planned) {
			if p.lo.Arrival != load.ArrivalGamma || p.lo.Burstiness != 1 {
				t.Errorf("%+v", p.lo)
			}
		}},
		{"vLLM --request-rate --burstiness 0.25: gamma, in vLLM's result too", with(vllm, "--request-rate", "4", "--burstiness", "0.25", "--num-prompts", "20", "--result-file", "r.json", "--result-format", "vllm"), func(t *testing.T, p planned) {
			if p.lo.Arrival != load.ArrivalGamma || p.lo.Burstiness != 0.25 || p.o.extras.compat.VLLM.Burstiness != 0.25 {
				t.Errorf("%+v, vLLM burstiness %v", p.lo, p.o.extras.compat.VLLM.Burstiness)
			}
		}},
		{"sweep with gamma steps", with(url, "--mode", "sweep", "--burstiness", "4", "--duration", "10s"), func(t *testing.T, p planned) {
			if p.lo.Mode != load.ModeSweep || p.lo.Arrival != load.ArrivalGamma || p.lo.Burstiness != 4 {
				t.Errorf("%+v", p.lo)
			}
		}},
		{"a ramp with llmprobe's flags: over --duration", with(url, "--ramp-up-strategy", "linear", "--ramp-up-start-rps", "1", "--ramp-up-end-rps", "20", "--duration", "30s", "--max-in-flight", "64"), func(t *testing.T, p planned) {
			if p.lo.Mode != load.ModeRate || p.lo.Ramp == nil || *p.lo.Ramp != (load.Ramp{Strategy: "linear", StartRate: 1, EndRate: 20}) ||
				p.lo.Duration != 30*time.Second || p.lo.NumRequests != 0 || p.lo.Arrival != load.ArrivalConstant || p.lo.VUs != 0 || p.lo.MaxInFlight != 64 {
				t.Errorf("%+v", p.lo)
			}
			if d := describePlan(&p.lo); d != "rate mode, constant arrivals on a linear ramp from 1 to 20 req/s over 30s, 30s per step" {
				t.Errorf("plan %q", d)
			}
		}},
		{"a ramp with vLLM's flags: over its 1000 prompts, Poisson", with(vllm, "--ramp-up-strategy", "exponential", "--ramp-up-start-rps", "2", "--ramp-up-end-rps", "32", "--save-result"), func(t *testing.T, p planned) {
			if p.lo.Mode != load.ModeRate || p.lo.Ramp == nil || p.lo.Ramp.Strategy != "exponential" || p.lo.NumRequests != 1000 || p.lo.Duration != 0 ||
				p.lo.Arrival != load.ArrivalPoisson || p.lo.VUs != 0 || p.lo.MaxInFlight != 0 || p.ep.Kind != config.KindCompletions {
				t.Errorf("%+v %+v", p.lo, p.ep)
			}
			// vLLM's name for a ramp's result.
			if !regexpMatch(`^openai-ramp-up-exponential-2qps-32qps-m-\d{8}-\d{6}\.json$`, p.o.resultFile) {
				t.Errorf("result file %q", p.o.resultFile)
			}
			if _, err := load.New(nil, nil, p.lo, load.Hooks{}); err != nil {
				t.Errorf("the engine refuses it: %v", err)
			}
		}},
		{"a ramp with --burstiness", with(url, "--ramp-up-strategy", "linear", "--ramp-up-start-rps", "0", "--ramp-up-end-rps", "5", "--burstiness", "2"), func(t *testing.T, p planned) {
			if p.lo.Ramp == nil || p.lo.Arrival != load.ArrivalGamma || p.lo.Burstiness != 2 || p.lo.Duration != time.Minute {
				t.Errorf("%+v", p.lo)
			}
		}},
		{"a trace", with(url, "--trace", "trace.jsonl", "--trace-speed", "10", "--trace-start", "100ms", "--trace-end", "500ms", "--max-in-flight", "8", "--ignore-eos"), func(t *testing.T, p planned) {
			tr := p.lo.Trace
			if p.lo.Mode != load.ModeTrace || tr == nil || len(tr.Arrivals) != 4 || tr.Arrivals[0] != (load.TraceArrival{At: 0, Index: 1}) ||
				tr.Arrivals[3] != (load.TraceArrival{At: 30 * time.Millisecond, Index: 4}) || p.lo.Duration != 0 || p.lo.MaxInFlight != 8 || !p.ep.SupportsMinTokens {
				t.Fatalf("%+v %+v", p.lo, tr)
			}
			if r := tr.Requests.Request(4); len(r.Prompt) != 524*4 || r.MaxTokens != 6 || r.MinTokens != 6 {
				t.Errorf("request 4: %d characters, max %d min %d", len(r.Prompt), r.MaxTokens, r.MinTokens)
			}
			if d := describePlan(&p.lo); !strings.HasPrefix(d, "trace replay of trace.jsonl (mooncake): 4 of its 6 requests at 10x speed, the last at 30ms") {
				t.Errorf("plan %q", d)
			}
			if _, err := load.New(nil, nil, p.lo, load.Hooks{}); err != nil {
				t.Errorf("the engine refuses it: %v", err)
			}
		}},
		{"a trace with vLLM's flags: its default prompt count does not cut it", with(vllm, "--endpoint", "/v1/chat/completions", "--trace", "trace.csv"), func(t *testing.T, p planned) {
			if p.lo.Mode != load.ModeTrace || p.lo.NumRequests != 0 || len(p.lo.Trace.Arrivals) != 2 || p.lo.Trace.Info.Format != "csv" || p.lo.VUs != 0 {
				t.Errorf("%+v", p.lo)
			}
		}},
		{"a trace cut by --num-requests", with(url, "--trace", "trace.jsonl", "--num-requests", "3"), func(t *testing.T, p planned) {
			if p.lo.NumRequests != 3 {
				t.Errorf("%+v", p.lo)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := planArgs(t, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, p)
		})
	}
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }

func TestBenchArrivalsRefused(t *testing.T) {
	arrivalsEnv(t)
	ramp := []string{"--ramp-up-strategy", "linear", "--ramp-up-start-rps", "1", "--ramp-up-end-rps", "10"}
	url := []string{"--url", "http://h", "--model", "m"}
	args := func(more ...string) []string { return append(slices.Clone(url), more...) }
	withRamp := func(more ...string) []string { return append(args(ramp...), more...) }
	for _, tc := range []struct {
		args []string
		want string
	}{
		{args("--rates", "5", "--arrival", "gamma"), "--arrival gamma needs --burstiness, the gamma shape"},
		{args("--rates", "5", "--arrival", "poisson", "--burstiness", "0.5"), "--arrival poisson and --burstiness 0.5 both set the arrival process"},
		{args("--rates", "5", "--burstiness=-1"), `--burstiness: "-1" is not a positive number or inf`},
		{args("--rates", "5", "--burstiness", "nan"), `--burstiness: "nan" is not a positive number or inf`},
		{args("--burstiness", "0.5"), "--burstiness 0.5 spaces open-loop arrivals; a throughput run has none"},
		{args("--mode", "rate"), "rate mode needs --rates (or --request-rate, or a --ramp-up-strategy)"},
		{args("--ramp-up-strategy", "linear", "--ramp-up-end-rps", "10"), "a ramp needs all of --ramp-up-strategy, --ramp-up-start-rps and --ramp-up-end-rps"},
		{args("--ramp-up-start-rps", "1", "--ramp-up-end-rps", "10"), "a ramp needs all of"},
		{args("--ramp-up-strategy", "exponential", "--ramp-up-start-rps", "0", "--ramp-up-end-rps", "10"), "--ramp-up-start-rps: an exponential ramp cannot start at 0"},
		{args("--ramp-up-strategy", "linear", "--ramp-up-start-rps", "x", "--ramp-up-end-rps", "0"), `--ramp-up-start-rps: "x" is not a number >= 0` + "\n" + `--ramp-up-end-rps: "0" is not a positive number`},
		{withRamp("--rates", "5"), "--rates: a ramp is its own rate step"},
		{withRamp("--mode", "sweep"), "--mode: a ramp is its own rate step"},
		{withRamp("--warmup", "5s"), "--warmup: a ramp has no warmup"},
		{withRamp("--concurrency", "4", "--max-in-flight", "8"), "--concurrency 4 and --max-in-flight 8 both set the in-flight cap"},
		{withRamp("--vus", "4"), "--vus: virtual users are for throughput mode"},
		{append([]string{"--base-url", "http://h", "--model", "m", "--request-rate", "5"}, ramp...), "--request-rate: the ramp sets the rate"},
		{append([]string{"--base-url", "http://h", "--model", "m", "--max-concurrency", "5"}, ramp...), "--max-concurrency with a ramp"},
		{withRamp("--result-file", "r.json", "--result-format", "inference-benchmarker"), "--result-format inference-benchmarker: that tool's results have no ramp"},
		{withRamp("--trace", "trace.jsonl"), "--trace replays the trace's own times; it takes no --ramp-up-strategy"},
		{args("--trace-speed", "2"), "--trace-speed is for --trace"},
		{args("--trace", "trace.jsonl", "--rates", "5", "--duration", "10s"), "--rates: a trace replay's arrivals are the trace's times"},
		{args("--trace", "trace.jsonl", "--duration", "10s"), "--duration: a trace replay's arrivals are the trace's times"},
		{args("--trace", "trace.jsonl", "--input-tokens", "100"), "--input-tokens: a trace gives each request's prompt length, shared prefixes and output length"},
		{args("--trace", "trace.jsonl", "--decode-options", "num_tokens=5"), "--decode-options: a trace gives each request's"},
		{args("--trace", "trace.jsonl", "--kind", "embeddings"), "--trace replays chat or completions requests, not embeddings"},
		{args("--trace", "trace.jsonl", "--trace-speed", "0"), `--trace-speed: "0" is not a positive number`},
		{args("--trace", "trace.jsonl", "--trace-speed=-3"), `--trace-speed: "-3" is not a positive number`},
		{args("--trace", "trace.jsonl", "--trace-start", "2s", "--trace-end", "1s"), "--trace-end: 1s is not after --trace-start (2s)"},
		{args("--trace", "trace.jsonl", "--trace-end", "soon"), `--trace-end: "soon" is not a duration such as 120s`},
		{args("--trace", "trace.jsonl", "--trace-start", "10s"), "--trace-start, --trace-end: the window [10s, end) of the trace holds none of its 6 requests"},
		{args("--trace", "missing.jsonl"), "--trace: stat missing.jsonl: no such file or directory"},
		{args("--trace", "bad.jsonl"), `--trace: bad.jsonl:7: no "output_length"`},
		{args("--trace", "trace.csv", "--trace-block-tokens", "16"), "--trace-block-tokens is for mooncake traces"},
		{args("--trace", "trace.jsonl", "--trace-block-tokens", "0"), `--trace-block-tokens: "0" is not between 1 and`},
		{args("--trace", "trace.jsonl", "--trace-block-tokens", "100"), "--trace: trace.jsonl:1: input_length 520 does not fit 2 hash_ids of 100-token blocks"},
		{args("--trace", "trace.jsonl", "--result-file", "r.json", "--result-format", "gpustack"), "--result-format gpustack"},
	} {
		_, err := planArgs(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\n  error %v\n  want  %s", tc.args, err, tc.want)
		}
	}
}

// Stress shapes its steps itself: a trace or a ramp is refused by name.
func TestStressRefusesTraceAndRamp(t *testing.T) {
	arrivalsEnv(t)
	for _, args := range [][]string{
		{"--url", "http://127.0.0.1:1", "--model", "m", "--trace", "trace.jsonl"},
		{"--url", "http://127.0.0.1:1", "--model", "m", "--ramp-up-strategy", "linear", "--ramp-up-start-rps", "1", "--ramp-up-end-rps", "2"},
	} {
		var stderr bytes.Buffer
		code, _ := runStressCmd(t, nil, &stderr, args...)
		if code != exitError || !strings.Contains(stderr.String(), "--trace and --ramp-up-strategy cannot be used with stress") || strings.Contains(stderr.String(), "--rates") {
			t.Errorf("%q: exit %d, %s", args, code, stderr.String())
		}
	}
}

// bench --trace end to end against the simulator: every request of the
// trace, the result's context naming it, and its prompts' tokens as the
// trace gave them.
func TestBenchTraceAgainstSimulator(t *testing.T) {
	arrivalsEnv(t)
	url := simtest.Start(t, sim.Config{TTFT: time.Millisecond, ITL: time.Millisecond})
	var out, stderr bytes.Buffer
	code := runWith([]string{"bench", "--url", url, "--model", "sim-model", "--kind", "completions", "--trace", "trace.jsonl", "--trace-speed", "4",
		"--json", "--progress", "never", "--ignore-eos", "--timeline-file", "timeline.jsonl"}, &out, &stderr, nil)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "trace replay of trace.jsonl (mooncake): 6 of its 6 requests at 4x speed") {
		t.Errorf("plan line missing: %s", stderr.String())
	}
	var res load.Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if res.Mode != load.ModeTrace || res.Summary.Successful != 6 || res.Context.Trace == nil || res.Context.Trace.Speed != 4 || res.Context.Trace.SpanS != 0.125 {
		t.Fatalf("mode %s, %d successful, trace %+v", res.Mode, res.Summary.Successful, res.Context.Trace)
	}
	// The simulator counts 4 characters a token: the trace's input lengths
	// (520..525) exactly, and its output lengths forced by ignore_eos.
	if res.Summary.InputTokens != 520+521+522+523+524+525 || res.Summary.OutputTokens != 2+3+4+5+6+7 {
		t.Errorf("input %d, output %d tokens", res.Summary.InputTokens, res.Summary.OutputTokens)
	}
	f, err := os.Open("timeline.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var scheds []float64
	dec := json.NewDecoder(f)
	for {
		var e load.Entry
		if err := dec.Decode(&e); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		scheds = append(scheds, float64(e.Scheduled.UnixNano()))
	}
	slices.Sort(scheds)
	for i := 1; i < len(scheds); i++ {
		if gap := (scheds[i] - scheds[i-1]) / 1e6; math.Abs(gap-25) > 0.01 {
			t.Errorf("gap %d: %.3f ms, want the trace's 100 ms at 4x", i, gap)
		}
	}
}
