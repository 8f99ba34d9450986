package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/dataset"
	"github.com/llmprobe/llmprobe/load"
)

const traceLines = `{"timestamp": 0, "input_length": 600, "output_length": 20, "hash_ids": [1, 2]}
{"timestamp": 500, "input_length": 700, "output_length": 30, "hash_ids": [1, 3]}
{"timestamp": 2000, "input_length": 100, "output_length": 5, "hash_ids": [4]}
{"timestamp": 4000, "input_length": 1100, "output_length": 9, "hash_ids": [1, 2, 5]}
`

// traceDir writes a Mooncake trace, a CSV trace and a malformed trace to a
// temporary directory.
func traceDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, b := range map[string]string{
		"trace.jsonl": traceLines,
		"trace.csv":   "timestamp_ms,input_tokens,output_tokens\n0,10,2\n1000,20,3\n",
		"bad.jsonl":   traceLines + `{"timestamp": 5000, "input_length": 100, "output_length": 5, "hash_ids": [6, 7]}` + "\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestArrivalsConfig(t *testing.T) {
	dir := traceDir(t)
	in := base + `soaks:
  - {name: g, targets: [a], workload: w, mode: sweep, arrival: gamma, burstiness: 0.5, duration: 1m}
  - name: r
    targets: [a]
    workload: w
    mode: rate
    arrival: poisson
    ramp: {strategy: exponential, start_rate: 2, end_rate: 50}
    duration: 2m
  - name: t
    targets: [a]
    workload: w
    mode: trace
    trace: {file: trace.jsonl, speed: 2, start: 500ms, end: 4s}
  - {name: c, targets: [a], workload: w, mode: trace, trace: {file: trace.csv}}
`
	c, err := Load([]byte(in), filepath.Join(dir, "llmprobe.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tg, w := c.Target("a"), c.Workload("w")
	g := c.Soak("g").LoadOptions(tg, w, "soak")
	if g.Arrival != load.ArrivalGamma || g.Burstiness != 0.5 {
		t.Errorf("gamma soak: arrival %q burstiness %v", g.Arrival, g.Burstiness)
	}
	r := c.Soak("r").LoadOptions(tg, w, "soak")
	if r.Ramp == nil || *r.Ramp != (load.Ramp{Strategy: load.RampExponential, StartRate: 2, EndRate: 50}) || len(r.Rates) != 0 {
		t.Errorf("ramp soak: %+v, rates %v", r.Ramp, r.Rates)
	}
	tr := c.Soak("t").LoadOptions(tg, w, "soak")
	if tr.Mode != load.ModeTrace || tr.Trace == nil {
		t.Fatalf("trace soak: mode %q trace %v", tr.Mode, tr.Trace)
	}
	// The window [0.5s, 4s) holds the 2nd and 3rd requests, at 2x.
	want := []load.TraceArrival{{At: 0, Index: 1}, {At: 750 * time.Millisecond, Index: 2}}
	if len(tr.Trace.Arrivals) != 2 || tr.Trace.Arrivals[0] != want[0] || tr.Trace.Arrivals[1] != want[1] {
		t.Errorf("arrivals %v, want %v", tr.Trace.Arrivals, want)
	}
	info := tr.Trace.Info
	if info.File != filepath.Join(dir, "trace.jsonl") || info.Format != "mooncake" || info.Speed != 2 || info.StartS != 0.5 || info.EndS != 4 ||
		info.TraceRequests != 4 || info.BlockTokens != 512 {
		t.Errorf("info %+v", info)
	}
	ct := c.Soak("c").LoadOptions(tg, w, "soak")
	if ct.Trace == nil || len(ct.Trace.Arrivals) != 2 || ct.Trace.Info.Format != "csv" || ct.Trace.Info.BlockTokens != 0 || ct.Trace.Info.Speed != 1 {
		t.Errorf("csv trace %+v", ct.Trace)
	}
	// The engine takes them all (a trace once it has its requests).
	for _, o := range []load.Options{g, r} {
		if _, err := load.New(nil, nil, o, load.Hooks{}); err != nil {
			t.Errorf("%s: %v", o.Name, err)
		}
	}
}

// A trace is read once, when the config is loaded, and kept: the file can
// be gone afterwards; a trace whose file changed reads as a changed soak.
func TestTraceParsedOnce(t *testing.T) {
	dir := traceDir(t)
	reads := 0
	orig := readTrace
	readTrace = func(path, format string, block int) ([]dataset.TraceRequest, error) {
		reads++
		return orig(path, format, block)
	}
	t.Cleanup(func() { readTrace = orig })
	in := base + "soaks:\n  - {name: t, targets: [a], workload: w, mode: trace, trace: {file: trace.jsonl}}\n"
	cfg := filepath.Join(dir, "llmprobe.yaml")
	c, err := Load([]byte(in), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if reads != 1 {
		t.Fatalf("%d reads during Load, want 1", reads)
	}
	if err := os.Remove(filepath.Join(dir, "trace.jsonl")); err != nil {
		t.Fatal(err)
	}
	o := c.Soak("t").LoadOptions(c.Target("a"), c.Workload("w"), "soak")
	reqs, err := c.Soak("t").Trace.Requests()
	if err != nil || len(reqs) != 4 || o.Trace == nil || len(o.Trace.Arrivals) != 4 || reads != 1 {
		t.Fatalf("after the file went: %d requests (%v), %d reads", len(reqs), err, reads)
	}
	if err := os.WriteFile(filepath.Join(dir, "trace.jsonl"), []byte(traceLines[:strings.Index(traceLines, "\n")+1]), 0o644); err != nil {
		t.Fatal(err)
	}
	c2, err := Load([]byte(in), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(c.Soak("t"), c2.Soak("t")) {
		t.Error("a soak whose trace file changed compares equal")
	}
}

func TestArrivalsErrors(t *testing.T) {
	dir := traceDir(t)
	soak := func(fields string) string {
		return base + "soaks:\n  - {name: s, targets: [a], workload: w, " + fields + "}\n"
	}
	for _, tc := range []struct {
		name, in, want string
	}{
		{"gamma without burstiness", soak("mode: rate, rates: [1], duration: 1m, arrival: gamma"),
			"llmprobe.yaml:6: soaks[0].burstiness: required with arrival: gamma (the gamma shape: 1 is poisson, below 1 burstier, above 1 more regular)"},
		{"burstiness zero", soak("mode: rate, rates: [1], duration: 1m, arrival: gamma, burstiness: 0"),
			"llmprobe.yaml:6: soaks[0].burstiness: must be a positive number"},
		{"burstiness negative", soak("mode: sweep, duration: 1m, arrival: gamma, burstiness: -2"),
			"llmprobe.yaml:6: soaks[0].burstiness: must be a positive number"},
		{"burstiness infinite", soak("mode: sweep, duration: 1m, arrival: gamma, burstiness: .inf"),
			"llmprobe.yaml:6: soaks[0].burstiness: must be a positive number"},
		{"burstiness not a number", soak("mode: sweep, duration: 1m, arrival: gamma, burstiness: bursty"),
			`llmprobe.yaml:6: soaks[0].burstiness: expected a number, got "bursty"`},
		{"burstiness without gamma", soak("mode: rate, rates: [1], duration: 1m, arrival: poisson, burstiness: 2"),
			"llmprobe.yaml:6: soaks[0].burstiness: only used with arrival: gamma"},
		{"gamma in throughput", soak("mode: throughput, vus: 2, duration: 1m, arrival: gamma, burstiness: 2"),
			"llmprobe.yaml:6: soaks[0].arrival: only used in rate and sweep modes"},
		{"ramp in sweep", soak("mode: sweep, duration: 1m, ramp: {start_rate: 1, end_rate: 5}"),
			"llmprobe.yaml:6: soaks[0].ramp: only used in rate mode"},
		{"ramp in throughput", soak("mode: throughput, vus: 1, duration: 1m, ramp: {start_rate: 1, end_rate: 5}"),
			"llmprobe.yaml:6: soaks[0].ramp: only used in rate mode"},
		{"ramp and rates", soak("mode: rate, rates: [1], duration: 1m, ramp: {start_rate: 1, end_rate: 5}"),
			"llmprobe.yaml:6: soaks[0].ramp: replaces rates: give one or the other"},
		{"ramp and warmup", soak("mode: rate, duration: 1m, warmup: 10s, ramp: {start_rate: 1, end_rate: 5}"),
			"llmprobe.yaml:6: soaks[0].warmup: not used with a ramp: it starts at its start_rate"},
		{"ramp strategy", soak("mode: rate, duration: 1m, ramp: {strategy: step, start_rate: 1, end_rate: 5}"),
			`llmprobe.yaml:6: soaks[0].ramp.strategy: invalid strategy "step" (want linear or exponential)`},
		{"ramp without rates", soak("mode: rate, duration: 1m, ramp: {strategy: linear}"),
			"llmprobe.yaml:6: soaks[0].ramp.start_rate: required\nllmprobe.yaml:6: soaks[0].ramp.end_rate: required"},
		{"ramp rates out of range", soak("mode: rate, duration: 1m, ramp: {start_rate: -1, end_rate: 0}"),
			"llmprobe.yaml:6: soaks[0].ramp.start_rate: must be a number >= 0\nllmprobe.yaml:6: soaks[0].ramp.end_rate: must be a positive number"},
		{"exponential from zero", soak("mode: rate, duration: 1m, ramp: {strategy: exponential, start_rate: 0, end_rate: 5}"),
			"llmprobe.yaml:6: soaks[0].ramp.start_rate: must be above 0 for an exponential ramp"},
		{"ramp on its own lines", base + "soaks:\n  - name: s\n    targets: [a]\n    workload: w\n    mode: rate\n    duration: 1m\n    ramp:\n      start_rate: 1\n      end_rate: .nan\n",
			"llmprobe.yaml:13: soaks[0].ramp.end_rate: must be a positive number"},
		{"trace mode without trace", soak("mode: trace"),
			"llmprobe.yaml:6: soaks[0].trace: required"},
		{"trace in rate mode", soak("mode: rate, rates: [1], duration: 1m, trace: {file: trace.jsonl}"),
			"llmprobe.yaml:6: soaks[0].trace: only used in trace mode"},
		{"trace without file", soak("mode: trace, trace: {speed: 2}"),
			"llmprobe.yaml:6: soaks[0].trace.file: required"},
		{"trace file missing", soak("mode: trace, trace: {file: missing.jsonl}"),
			`llmprobe.yaml:6: soaks[0].trace.file: cannot read "` + filepath.Join(dir, "missing.jsonl") + `": no such file or directory`},
		{"trace file malformed", soak("mode: trace, trace: {file: bad.jsonl}"),
			"llmprobe.yaml:6: soaks[0].trace.file: " + filepath.Join(dir, "bad.jsonl") + ":5: input_length 100 does not fit 2 hash_ids of 512-token blocks (want 513 to 1024; another block size?)"},
		{"trace block size", soak("mode: trace, trace: {file: bad.jsonl, block_tokens: 64}"),
			"llmprobe.yaml:6: soaks[0].trace.file: " + filepath.Join(dir, "bad.jsonl") + ":1: input_length 600 does not fit 2 hash_ids of 64-token blocks (want 65 to 128; another block size?)"},
		{"trace format", soak("mode: trace, trace: {file: trace.jsonl, format: parquet}"),
			`llmprobe.yaml:6: soaks[0].trace.format: invalid format "parquet" (want mooncake or csv)`},
		{"csv read as mooncake", soak("mode: trace, trace: {file: trace.csv, format: mooncake}"),
			"llmprobe.yaml:6: soaks[0].trace.file: " + filepath.Join(dir, "trace.csv") + `:1: want a Mooncake request`},
		{"block tokens with csv", soak("mode: trace, trace: {file: trace.csv, block_tokens: 16}"),
			"llmprobe.yaml:6: soaks[0].trace.block_tokens: only used with mooncake traces (a CSV trace has no hash_ids)"},
		{"speed zero", soak("mode: trace, trace: {file: trace.jsonl, speed: 0}"),
			"llmprobe.yaml:6: soaks[0].trace.speed: must be a positive number"},
		{"speed negative", soak("mode: trace, trace: {file: trace.jsonl, speed: -10}"),
			"llmprobe.yaml:6: soaks[0].trace.speed: must be a positive number"},
		{"end before start", soak("mode: trace, trace: {file: trace.jsonl, start: 10s, end: 5s}"),
			"llmprobe.yaml:6: soaks[0].trace.end: must be after start (10s)"},
		{"end at start", soak("mode: trace, trace: {file: trace.jsonl, start: 2s, end: 2s}"),
			"llmprobe.yaml:6: soaks[0].trace.end: must be after start (2s)"},
		{"empty window", soak("mode: trace, trace: {file: trace.jsonl, start: 1m}"),
			"llmprobe.yaml:6: soaks[0].trace.start: the window [1m0s, end) of the trace holds none of its 4 requests (they span 4s)"},
		{"trace on its own lines", base + "soaks:\n  - name: s\n    targets: [a]\n    workload: w\n    mode: trace\n    trace:\n      file: trace.jsonl\n      speed: 0\n",
			"llmprobe.yaml:12: soaks[0].trace.speed: must be a positive number"},
		{"trace mode shapes", soak("mode: trace, trace: {file: trace.jsonl}, rates: [1], arrival: poisson, duration: 1m, warmup: 5s"),
			"llmprobe.yaml:6: soaks[0].rates: not used in trace mode: the trace's times are the arrivals (trace.speed, trace.start and trace.end shape the replay)\n" +
				"llmprobe.yaml:6: soaks[0].arrival: not used in trace mode: the trace's times are the arrivals (trace.speed, trace.start and trace.end shape the replay)\n" +
				"llmprobe.yaml:6: soaks[0].duration: not used in trace mode: the trace's times are the arrivals (trace.speed, trace.start and trace.end shape the replay)\n" +
				"llmprobe.yaml:6: soaks[0].warmup: not used in trace mode: the trace's times are the arrivals (trace.speed, trace.start and trace.end shape the replay)"},
		{"trace workload", "targets:\n  - {name: a, url: 'http://h:8000', model: m}\nworkloads:\n  - {name: w, input_tokens: 100, system: be brief, output_tokens: 20}\n" +
			"soaks:\n  - {name: s, targets: [a], workload: w, mode: trace, trace: {file: trace.jsonl}}\n",
			`llmprobe.yaml:6: soaks[0].workload: workload "w" sets input_tokens, which trace mode does not send: the trace gives each request's prompt length, shared prefixes and output length` + "\n" +
				`llmprobe.yaml:6: soaks[0].workload: workload "w" sets system, which trace mode does not send: the trace gives each request's prompt length, shared prefixes and output length` + "\n" +
				`llmprobe.yaml:6: soaks[0].workload: workload "w" sets output_tokens, which trace mode does not send: the trace gives each request's prompt length, shared prefixes and output length`},
		{"trace to embeddings", "targets:\n  - {name: a, url: 'http://h:8000', model: m, kind: embeddings}\nworkloads:\n  - {name: w}\n" +
			"soaks:\n  - {name: s, targets: [a], workload: w, mode: trace, trace: {file: trace.jsonl}}\n",
			`llmprobe.yaml:6: soaks[0].targets[0]: target "a" is of kind embeddings: a trace replays chat or completions requests`},
		{"trace in procedure", soak("mode: procedure, trace: {file: trace.jsonl}"),
			"llmprobe.yaml:6: soaks[0].trace: only used in trace mode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load([]byte(tc.in), filepath.Join(dir, file))
			if err == nil {
				t.Fatalf("no error; config:\n%s", c)
			}
			got := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator)+file, file)
			if !strings.HasPrefix(got, tc.want) || strings.Count(got, "\n") != strings.Count(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// A Config built in code is checked the same way, zero fields counting as
// absent.
func TestArrivalsValidate(t *testing.T) {
	dir := traceDir(t)
	c := &Config{
		Targets:   []Target{{Name: "a", URL: "http://h:8000", Model: "m"}},
		Workloads: []Workload{{Name: "w"}},
		Soaks: []Soak{
			{Name: "t", Targets: []string{"a"}, Workload: "w", Mode: ModeTrace, Trace: &Trace{File: filepath.Join(dir, "trace.jsonl"), Speed: 4}},
			{Name: "r", Targets: []string{"a"}, Workload: "w", Mode: ModeRate, Ramp: &Ramp{EndRate: 3}, Duration: dur("1m")},
		},
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	o := c.Soak("t").LoadOptions(&c.Targets[0], &c.Workloads[0], "soak")
	if o.Trace == nil || o.Trace.Arrivals[3].At != time.Second {
		t.Errorf("trace at 4x: %+v", o.Trace)
	}
	c.Soaks[1].Ramp = &Ramp{}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "soaks[1].ramp.end_rate: required") {
		t.Errorf("ramp without an end rate: %v", err)
	}
}
