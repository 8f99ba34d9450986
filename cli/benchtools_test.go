package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/sim"
	"github.com/llmprobe/llmprobe/sim/simtest"
)

const (
	exampleTools  = "../testdata/tools.json"
	exampleSchema = "../testdata/answer.schema.json"
)

func TestBenchToolFlagsRefused(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte("[\n  {\"type\": \"function\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tool-choice", "required"}, "--tool-choice: only used with --tools"},
		{[]string{"--tools", exampleTools, "--tool-choice", "get_date"}, `--tool-choice: function "get_date" is not one of the tools (get_weather, get_time)`},
		{[]string{"--tools", exampleTools, "--kind", "completions"}, "--tools is only sent with --kind chat or vision"},
		{[]string{"--json-schema", exampleSchema, "--kind", "embeddings"}, "--json-schema is only sent with --kind chat or vision"},
		{[]string{"--tools", "nope.json"}, `--tools: cannot read "nope.json": no such file or directory`},
		{[]string{"--tools", bad}, `--tools: "` + bad + `": invalid JSON at line 3, column 1: unexpected end of file`},
	} {
		code, _, errOut := bench(t, nil, append([]string{"--url", "http://127.0.0.1:1", "--model", "m", "--progress", "never"}, tc.args...)...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, errOut, tc.want)
		}
	}
}

// TestBenchToolCalls: bench with --tools against the simulator: valid
// calls succeed, with TTFT measured on the tool-call deltas; a share of
// unknown functions is invalid_output, counted with the failures.
func TestBenchToolCalls(t *testing.T) {
	for _, tc := range []struct {
		name    string
		faults  sim.Faults
		args    []string
		invalid bool // some requests are invalid_output
	}{
		{"calls", sim.Faults{}, []string{"--tools", exampleTools, "--tool-choice", "required"}, false},
		{"structured", sim.Faults{}, []string{"--json-schema", exampleSchema}, false},
		{"unknown functions", sim.Faults{ToolCallUnknown: 0.5}, []string{"--tools", exampleTools}, true},
		{"schema violations", sim.Faults{ToolCallSchema: 0.5}, []string{"--json-schema", exampleSchema}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := benchSim(t, sim.Config{TTFT: 5 * time.Millisecond, ITL: time.Millisecond, Seed: 5, Faults: tc.faults})
			result := filepath.Join(t.TempDir(), "result.json")
			args := append([]string{"--url", url, "--model", sim.DefaultModel, "--num-requests", "20", "--concurrency", "2",
				"--result-file", result, "--progress", "never"}, tc.args...)
			code, out, errOut := bench(t, nil, args...)
			if code != exitOK {
				t.Fatalf("exit %d\n%s%s", code, out, errOut)
			}
			b, err := os.ReadFile(result)
			if err != nil {
				t.Fatal(err)
			}
			var res load.Result
			if err := json.Unmarshal(b, &res); err != nil {
				t.Fatal(err)
			}
			s := res.Summary
			bad := s.Errors["invalid_output"]
			if s.Successful+s.Failed != 20 || s.Failed != bad || (bad > 0) != tc.invalid || (tc.invalid && s.Successful == 0) {
				t.Fatalf("%d successful, %d failed, errors %v", s.Successful, s.Failed, s.Errors)
			}
			if s.TTFT.Count != s.Successful || s.TTFT.P50 < 5 {
				t.Errorf("TTFT over %d requests, median %v ms, want one per success, at least the simulator's 5ms to the first tool-call delta", s.TTFT.Count, s.TTFT.P50)
			}
		})
	}
}

// TestProbeToolCalls: probes against simulators that answer valid calls,
// and malformed, unknown or schema-violating ones: the good probe
// succeeds; each bad one is invalid_output in the metrics, with its reason
// in the daemon's log and in /probe's debug output.
func TestProbeToolCalls(t *testing.T) {
	tools, err := filepath.Abs(exampleTools)
	if err != nil {
		t.Fatal(err)
	}
	fast := sim.Config{TTFT: 2 * time.Millisecond, ITL: time.Millisecond}
	urls := map[string]string{}
	for name, f := range map[string]sim.Faults{
		"good":      {},
		"malformed": {ToolCallMalformed: 1},
		"unknown":   {ToolCallUnknown: 1},
		"schema":    {ToolCallSchema: 1},
	} {
		cfg := fast
		cfg.Faults = f
		urls[name] = simtest.Start(t, cfg)
	}
	d := startDaemon(t, fmt.Sprintf(`
global: {probe_jitter: 0s}
targets:
  - {name: good, url: %q, model: sim-model}
  - {name: malformed, url: %q, model: sim-model}
  - {name: unknown, url: %q, model: sim-model}
  - {name: schema, url: %q, model: sim-model}
workloads:
  - {name: weather, prompt: "What is the weather in Paris?", tools_file: %q, tool_choice: required}
probes:
  - {name: tools, targets: [good, malformed, unknown, schema], workload: weather, schedule: "@every 1h"}
`, urls["good"], urls["malformed"], urls["unknown"], urls["schema"], tools))

	reasons := map[string]string{
		"malformed": `tool call 0 (get_weather): the arguments are not JSON: unexpected end at offset 37`,
		"unknown":   `tool call 0: unknown function "sim_unknown_function" (tools: get_weather, get_time)`,
		"schema":    `tool call 0 (get_weather): the arguments violate its schema at /: missing property 'location'`,
	}
	series := func(target, result string) string {
		return fmt.Sprintf(`llmprobe_requests_total{model="sim-model",name="tools",phase="probe",result=%q,target=%q}`, result, target)
	}
	waitFor(t, 10*time.Second, "the scheduled runs", func() bool {
		page := d.get(t, "/metrics")
		for target := range urls {
			if metric(page, `llmprobe_probe_success{name="tools",target="`+target+`"}`) < 0 {
				return false
			}
		}
		return true
	})
	page := d.get(t, "/metrics")
	if metric(page, series("good", "success")) != 1 || metric(page, `llmprobe_probe_success{name="tools",target="good"}`) != 1 ||
		metric(page, `llmprobe_tool_calls_total{model="sim-model",name="tools",phase="probe",target="good"}`) != 1 {
		t.Errorf("good target: not one successful checked call:\n%s", grepLines(page, "tools"))
	}
	for target, reason := range reasons {
		if metric(page, series(target, "invalid_output")) != 1 || metric(page, series(target, "success")) != 0 ||
			metric(page, `llmprobe_probe_success{name="tools",target="`+target+`"}`) != 0 {
			t.Errorf("%s: not one invalid_output request:\n%s", target, grepLines(page, target))
		}
		// The daemon's log (logfmt, quotes escaped) says why.
		if logs := d.logs.String(); !strings.Contains(logs, `reason="request failed: invalid_output: `+strings.ReplaceAll(reason, `"`, `\"`)+`"`) {
			t.Errorf("%s: the log lacks the reason %q:\n%s", target, reason, logs)
		}
		dbg := d.get(t, "/probe?target="+target+"&module=tools&debug=true")
		if !strings.Contains(dbg, "result=invalid_output http_status=200") || !strings.Contains(dbg, "invalid output: the server answered 200, but not what was asked for: "+reason+"\n") ||
			!strings.Contains(dbg, "probe success: false") {
			t.Errorf("%s: debug output lacks the result or reason %q:\n%s", target, reason, dbg)
		}
	}
	if dbg := d.get(t, "/probe?target=good&module=tools&debug=true"); !strings.Contains(dbg, "result=success") || !strings.Contains(dbg, "tool_calls=1") {
		t.Errorf("good target's debug output:\n%s", dbg)
	}
}

// grepLines returns the lines of page that hold s.
func grepLines(page, s string) string {
	var out []string
	for l := range strings.SplitSeq(page, "\n") {
		if strings.Contains(l, s) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
