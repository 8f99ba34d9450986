package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

const file = "llmprobe.yaml"

func dur(s string) model.Duration {
	d, err := model.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return d
}

func ptr[T any](v T) *T { return &v }

func TestLoadDefaults(t *testing.T) {
	in := `
targets:
  - name: a
    url: http://127.0.0.1:8000
    model: m
  - name: e
    url: https://h/v1
    model: m
    kind: embeddings
    timeout: 10s
workloads:
  - name: w
probes:
  - name: p
    targets: [a]
    workload: w
    schedule: "@every 30s"
soaks:
  - {name: r, targets: [a], workload: w, mode: rate, rates: [1], duration: 1m}
  - {name: t, targets: [a], workload: w, mode: throughput, vus: 4, duration: 1m}
  - {name: s, targets: [a], workload: w, mode: sweep, duration: 1m, max_in_flight: 16}
`
	got, err := Load([]byte(in), file)
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Global: Global{DataDir: "data", ProbeJitter: dur("1s")},
		Targets: []Target{
			{Name: "a", URL: "http://127.0.0.1:8000", Model: "m", Kind: "chat", Timeout: dur("60s"),
				IdleTimeout: dur("30s"), MaxResponseBytes: 16 << 20, Stream: ptr(true)},
			// idle_timeout follows a short timeout; embeddings do not stream.
			{Name: "e", URL: "https://h/v1", Model: "m", Kind: "embeddings", Timeout: dur("10s"),
				IdleTimeout: dur("10s"), MaxResponseBytes: 16 << 20, Stream: ptr(false)},
		},
		Workloads: []Workload{
			{Name: "w", Prompt: DefaultPrompt, OutputTokens: DecodeOptions{NumTokens: 64}, PrefixCache: "cold"},
		},
		Probes: []Probe{
			{Name: "p", Targets: []string{"a"}, Workload: "w", Schedule: "@every 30s", Requests: 1},
		},
		Soaks: []Soak{
			{Name: "r", Targets: []string{"a"}, Workload: "w", Mode: "rate", Rates: []float64{1},
				Arrival: "constant", Duration: dur("1m"), MaxInFlight: 1024, StopErrorRatio: 0.5},
			{Name: "t", Targets: []string{"a"}, Workload: "w", Mode: "throughput", VUs: 4,
				Duration: dur("1m"), MaxInFlight: 1024, StopErrorRatio: 0.5},
			// max_vus defaults to max_in_flight when that is below 64.
			{Name: "s", Targets: []string{"a"}, Workload: "w", Mode: "sweep", Arrival: "constant",
				MaxVUs: 16, NumRates: 10, Duration: dur("1m"), MaxInFlight: 16, StopErrorRatio: 0.5},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if !got.Target("a").Streaming() || got.Target("e").Streaming() {
		t.Error("Streaming: want true for chat, false for embeddings")
	}
}

func TestExplicitZeroes(t *testing.T) {
	// An explicit zero is kept where it means something, not replaced by
	// the default.
	in := `
global: {probe_jitter: 0s}
workloads:
  - {name: w, output_tokens: {max_tokens: 32, min_tokens: 0}}
`
	c, err := Load([]byte(in), file)
	if err != nil {
		t.Fatal(err)
	}
	if c.Global.ProbeJitter != 0 {
		t.Errorf("probe_jitter = %s, want 0s", c.Global.ProbeJitter)
	}
	// The default num_tokens (64) is clamped to max_tokens.
	if got, want := c.Workloads[0].OutputTokens, (DecodeOptions{NumTokens: 32, MaxTokens: 32}); got != want {
		t.Errorf("output_tokens = %+v, want %+v", got, want)
	}
}

func TestEmptyConfig(t *testing.T) {
	for _, in := range []string{"", "# only a comment\n", "---\n", "{}"} {
		c, err := Load([]byte(in), file)
		if err != nil {
			t.Errorf("Load(%q): %v", in, err)
			continue
		}
		if c.Global.DataDir != "data" || len(c.Targets) != 0 {
			t.Errorf("Load(%q) = %+v", in, c)
		}
	}
}

func TestOutputTokensForms(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want DecodeOptions
	}{
		{`{num_tokens: 80, max_tokens: 100, min_tokens: 60, variance: 10}`, DecodeOptions{80, 100, 60, 10}},
		{`"num_tokens=80,max_tokens=100,min_tokens=60,variance=10"`, DecodeOptions{80, 100, 60, 10}},
		{`128`, DecodeOptions{NumTokens: 128}},
		{`"max_tokens=20"`, DecodeOptions{NumTokens: 20, MaxTokens: 20}},
		{`{min_tokens: 100}`, DecodeOptions{NumTokens: 100, MinTokens: 100}},
	} {
		c, err := Load([]byte("workloads:\n  - name: w\n    output_tokens: "+tc.in+"\n"), file)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if got := c.Workloads[0].OutputTokens; got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestMergeKeys(t *testing.T) {
	in := `
x-target: &t
  url: http://h:8000
  model: m
  timeout: 20s
targets:
  - <<: *t
    name: a
  - <<: *t
    name: b
    timeout: 5s   # overrides the merged value
`
	// x-target is not a field, so the anchor must live somewhere known:
	// check that the unknown field is the only complaint, then use a form
	// that is valid.
	_, err := Load([]byte(in), file)
	if got, want := fmt.Sprint(err), "llmprobe.yaml:2: x-target: unknown field"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	in = `
targets:
  - &t
    name: a
    url: http://h:8000
    model: m
    timeout: 20s
  - <<: *t
    name: b
    timeout: 5s
  - <<: [*t]
    name: c
`
	c, err := Load([]byte(in), file)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]model.Duration{"a": dur("20s"), "b": dur("5s"), "c": dur("20s")} {
		tg := c.Target(name)
		if tg == nil || tg.URL != "http://h:8000" || tg.Timeout != want {
			t.Errorf("target %s = %+v, want url http://h:8000 and timeout %s", name, tg, want)
		}
	}
}

// base declares a target "a" and a workload "w" in four lines, so that the
// cases below start at line 5.
const base = `targets:
  - {name: a, url: "http://h:8000", model: m}
workloads:
  - {name: w}
`

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	emptyKey := filepath.Join(dir, "empty.key")
	if err := os.WriteFile(emptyKey, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	twoLines := filepath.Join(dir, "two.key")
	if err := os.WriteFile(twoLines, []byte("abc\ndef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	t.Setenv("LLMPROBE_TEST_EMPTY", "  ")
	os.Unsetenv("LLMPROBE_TEST_UNSET")

	for _, tc := range []struct {
		name, in, want string
	}{
		// The file itself.
		{"syntax (parser)", "global:\n  data_dir: x\n - a\n",
			`llmprobe.yaml:3: did not find expected key`},
		{"syntax (scanner)", "global:\n  data_dir: x\n  probe_jitter: \"\\q\"\n",
			`llmprobe.yaml:3: found unknown escape character`},
		{"syntax on line 1", "global: a: b\n",
			`llmprobe.yaml:1: mapping values are not allowed in this context`},
		{"bad encoding", "global:\n\n  data_dir: \xff\n",
			`llmprobe.yaml:3: invalid leading UTF-8 octet`},
		{"two documents", "global: {}\n---\nglobal: {}\n",
			`llmprobe.yaml:2: only one YAML document is allowed`},
		{"not a mapping", "- a\n",
			`llmprobe.yaml:1: expected a mapping, got a list`},

		// Decoding.
		{"unknown top-level field", "target: []\n",
			`llmprobe.yaml:1: target: unknown field`},
		{"unknown field", "targets:\n  - name: a\n    url: http://h\n    model: m\n  - name: b\n    url: http://h\n    model: m\n    tmeout: 5s\n",
			`llmprobe.yaml:8: targets[1].tmeout: unknown field`},
		{"unknown nested field", base + "probes:\n  - name: p\n    targets: [a]\n    workload: w\n    schedule: '@hourly'\n    slo: {ttft: 1s, p99: 2s}\n",
			`llmprobe.yaml:10: probes[0].slo.p99: unknown field`},
		{"duplicate field", "global:\n  data_dir: a\n  data_dir: b\n",
			`llmprobe.yaml:3: global.data_dir: duplicate field (first at line 2)`},
		{"string for int", base + "probes:\n  - {name: p, targets: [a], workload: w, schedule: '@hourly', requests: many}\n",
			`llmprobe.yaml:6: probes[0].requests: expected an integer, got "many"`},
		{"float for int", base + "probes:\n  - {name: p, targets: [a], workload: w, schedule: '@hourly', requests: 1.5}\n",
			`llmprobe.yaml:6: probes[0].requests: expected an integer, got "1.5"`},
		{"mapping for string", "targets:\n  - name: {a: b}\n    url: http://h\n    model: m\n",
			`llmprobe.yaml:2: targets[0].name: expected a string, got a mapping`},
		{"scalar for list", base + "probes:\n  - {name: p, targets: a, workload: w, schedule: '@hourly'}\n",
			`llmprobe.yaml:6: probes[0].targets: expected a list, got "a"`},
		{"string for number", base + "soaks:\n  - {name: s, targets: [a], workload: w, mode: rate, rates: [fast], duration: 1m}\n",
			`llmprobe.yaml:6: soaks[0].rates[0]: expected a number, got "fast"`},
		{"not a boolean", "targets:\n  - {name: a, url: 'http://h', model: m, stream: yes}\n",
			`llmprobe.yaml:2: targets[0].stream: expected true or false, got "yes"`},
		{"null list item", base + "probes:\n  - {name: p, targets: [a, ~], workload: w, schedule: '@hourly'}\n",
			`llmprobe.yaml:6: probes[0].targets[1]: expected a string, got null`},
		{"scalar list item", "targets:\n  - a\n",
			`llmprobe.yaml:2: targets[0]: expected a mapping, got "a"`},
		{"invalid duration", "targets:\n  - name: a\n    url: http://h\n    model: m\n    timeout: 5x\n",
			`llmprobe.yaml:5: targets[0].timeout: invalid duration "5x"`},
		{"duration without unit", "targets:\n  - {name: a, url: 'http://h', model: m, timeout: 60}\n",
			`llmprobe.yaml:2: targets[0].timeout: invalid duration "60"`},
		{"bad merge", "global:\n  <<: 3\n",
			`llmprobe.yaml:2: global.<<: expected a mapping to merge, got "3"`},

		// Names.
		{"missing fields", "targets:\n  - kind: chat\n",
			"llmprobe.yaml:2: targets[0].name: required\n" +
				"llmprobe.yaml:2: targets[0].url: required\n" +
				"llmprobe.yaml:2: targets[0].model: required"},
		{"invalid name", "targets:\n  - {name: 'a b', url: 'http://h', model: m}\n",
			`llmprobe.yaml:2: targets[0].name: invalid name "a b": use letters, digits and _ . : -`},
		{"dot-dot name", base + "soaks:\n  - {name: .., targets: [a], workload: w, mode: throughput, vus: 1, duration: 1m}\n",
			`llmprobe.yaml:6: soaks[0].name: invalid name "..": use letters, digits and _ . : -`},
		{"duplicate name", base + "workloads:\n  - {name: w}\n",
			`llmprobe.yaml:5: workloads: duplicate field (first at line 3)`},
		{"duplicate target name", "targets:\n  - {name: a, url: 'http://h', model: m}\n  - {name: a, url: 'http://h', model: m}\n",
			`llmprobe.yaml:3: targets[1].name: duplicate name "a" (first used by targets[0])`},
		{"probe and soak share a name", base + "probes:\n  - {name: n, targets: [a], workload: w, schedule: '@hourly'}\nsoaks:\n  - {name: n, targets: [a], workload: w, mode: throughput, vus: 1, duration: 1m}\n",
			`llmprobe.yaml:8: soaks[0].name: duplicate name "n" (first used by probes[0])`},

		// Targets.
		{"url scheme", "targets:\n  - {name: a, url: '127.0.0.1:8000', model: m}\n",
			`llmprobe.yaml:2: targets[0].url: invalid URL: first path segment in URL cannot contain colon`},
		{"url not http", "targets:\n  - {name: a, url: 'ftp://h', model: m}\n",
			`llmprobe.yaml:2: targets[0].url: invalid URL: must start with http:// or https://`},
		{"url without host", "targets:\n  - {name: a, url: 'http:///v1', model: m}\n",
			`llmprobe.yaml:2: targets[0].url: invalid URL: missing host`},
		{"url with password", "targets:\n  - {name: a, url: 'https://user:hunter2@h', model: m}\n",
			`llmprobe.yaml:2: targets[0].url: URL must not hold credentials: put the key in api_key_file or api_key_env`},
		{"url with query", "targets:\n  - {name: a, url: 'http://h/v1?key=x', model: m}\n",
			`llmprobe.yaml:2: targets[0].url: URL must not have a query`},
		{"invalid kind", "targets:\n  - {name: a, url: 'http://h', model: m, kind: image}\n",
			`llmprobe.yaml:2: targets[0].kind: invalid kind "image" (want chat, completions, vision, embeddings or rerank)`},
		{"zero timeout", "targets:\n  - {name: a, url: 'http://h', model: m, timeout: 0s}\n",
			`llmprobe.yaml:2: targets[0].timeout: must be positive`},
		{"idle above timeout", "targets:\n  - name: a\n    url: http://h\n    model: m\n    timeout: 10s\n    idle_timeout: 20s\n",
			`llmprobe.yaml:6: targets[0].idle_timeout: 20s exceeds timeout (10s)`},
		{"idle above default timeout", "targets:\n  - {name: a, url: 'http://h', model: m, idle_timeout: 2m}\n",
			`llmprobe.yaml:2: targets[0].idle_timeout: 2m exceeds timeout (1m)`},
		{"zero max_response_bytes", "targets:\n  - {name: a, url: 'http://h', model: m, max_response_bytes: 0}\n",
			`llmprobe.yaml:2: targets[0].max_response_bytes: must be positive`},
		{"streaming rerank", "targets:\n  - {name: a, url: 'http://h', model: m, kind: rerank, stream: true}\n",
			`llmprobe.yaml:2: targets[0].stream: kind rerank cannot stream`},
		{"authorization header", "targets:\n  - name: a\n    url: http://h\n    model: m\n    headers:\n      authorization: Bearer sk-123\n",
			`llmprobe.yaml:6: targets[0].headers.authorization: not allowed in headers: put the key in api_key_file or api_key_env`},
		{"bad header name", "targets:\n  - name: a\n    url: http://h\n    model: m\n    headers: {'X Y': z}\n",
			`llmprobe.yaml:5: targets[0].headers.X Y: invalid header name`},
		{"bad header value", "targets:\n  - name: a\n    url: http://h\n    model: m\n    headers: {X-Y: \"a\\nb\"}\n",
			`llmprobe.yaml:5: targets[0].headers.X-Y: invalid header value`},
		{"duplicate header", "targets:\n  - name: a\n    url: http://h\n    model: m\n    headers: {X-Y: a, x-y: b}\n",
			`llmprobe.yaml:5: targets[0].headers.x-y: duplicate header (same as "X-Y")`},

		// API keys.
		{"key file and env", "targets:\n  - name: a\n    url: http://h\n    model: m\n    api_key_file: k\n    api_key_env: K\n",
			`llmprobe.yaml:6: targets[0].api_key_env: api_key_file and api_key_env are mutually exclusive`},
		{"key file missing", "targets:\n  - {name: a, url: 'http://h', model: m, api_key_file: '" + missing + "'}\n",
			`llmprobe.yaml:2: targets[0].api_key_file: cannot read "` + missing + `": no such file or directory`},
		{"key file empty", "targets:\n  - {name: a, url: 'http://h', model: m, api_key_file: '" + emptyKey + "'}\n",
			`llmprobe.yaml:2: targets[0].api_key_file: "` + emptyKey + `" is empty`},
		{"key file two lines", "targets:\n  - {name: a, url: 'http://h', model: m, api_key_file: '" + twoLines + "'}\n",
			`llmprobe.yaml:2: targets[0].api_key_file: "` + twoLines + `" holds more than one line`},
		{"key file is a directory", "targets:\n  - {name: a, url: 'http://h', model: m, api_key_file: '" + dir + "'}\n",
			`llmprobe.yaml:2: targets[0].api_key_file: "` + dir + `" is not a regular file`},
		{"key env unset", "targets:\n  - {name: a, url: 'http://h', model: m, api_key_env: LLMPROBE_TEST_UNSET}\n",
			`llmprobe.yaml:2: targets[0].api_key_env: environment variable "LLMPROBE_TEST_UNSET" is not set`},
		{"key env empty", "targets:\n  - {name: a, url: 'http://h', model: m, api_key_env: LLMPROBE_TEST_EMPTY}\n",
			`llmprobe.yaml:2: targets[0].api_key_env: environment variable "LLMPROBE_TEST_EMPTY" is empty`},

		// Workloads.
		{"two prompt sources", "workloads:\n  - name: w\n    prompt: hi\n    input_tokens: 10\n    dataset: d.jsonl\n",
			"llmprobe.yaml:4: workloads[0].input_tokens: conflicts with prompt: set only one of prompt, input_tokens and dataset\n" +
				"llmprobe.yaml:5: workloads[0].dataset: conflicts with prompt: set only one of prompt, input_tokens and dataset\n" +
				`llmprobe.yaml:5: workloads[0].dataset: cannot read "d.jsonl": no such file or directory`},
		{"input_tokens zero", "workloads:\n  - {name: w, input_tokens: 0}\n",
			`llmprobe.yaml:2: workloads[0].input_tokens: must be between 1 and 1048576`},
		{"dataset missing", "workloads:\n  - {name: w, dataset: nope.jsonl}\n",
			`llmprobe.yaml:2: workloads[0].dataset: cannot read "nope.jsonl": no such file or directory`},
		{"min above max", "workloads:\n  - name: w\n    output_tokens: {max_tokens: 10, min_tokens: 20}\n",
			`llmprobe.yaml:3: workloads[0].output_tokens.min_tokens: 20 exceeds max_tokens (10)`},
		{"num above max", "workloads:\n  - name: w\n    output_tokens:\n      num_tokens: 80\n      max_tokens: 50\n",
			`llmprobe.yaml:4: workloads[0].output_tokens.num_tokens: 80 exceeds max_tokens (50)`},
		{"num zero", "workloads:\n  - {name: w, output_tokens: {num_tokens: 0, variance: -1}}\n",
			"llmprobe.yaml:2: workloads[0].output_tokens.num_tokens: must be positive\n" +
				"llmprobe.yaml:2: workloads[0].output_tokens.variance: must not be negative"},
		{"bad output string", "workloads:\n  - {name: w, output_tokens: 'num=5'}\n",
			`llmprobe.yaml:2: workloads[0].output_tokens: unknown option "num" (want num_tokens, max_tokens, min_tokens or variance)`},
		{"prefix_cache", "workloads:\n  - {name: w, prefix_cache: hot}\n",
			`llmprobe.yaml:2: workloads[0].prefix_cache: invalid prefix_cache "hot" (want cold or warm)`},
		{"temperature", "workloads:\n  - {name: w, temperature: -0.5}\n",
			`llmprobe.yaml:2: workloads[0].temperature: must be a non-negative number`},

		// Probes.
		{"probe missing fields", base + "probes:\n  - name: p\n",
			"llmprobe.yaml:6: probes[0].targets: required\n" +
				"llmprobe.yaml:6: probes[0].workload: required\n" +
				"llmprobe.yaml:6: probes[0].schedule: required"},
		{"unknown refs", base + "probes:\n  - name: p\n    targets: [a, b, a]\n    workload: x\n    schedule: '@every 30s'\n",
			"llmprobe.yaml:7: probes[0].targets[1]: unknown target \"b\"\n" +
				"llmprobe.yaml:7: probes[0].targets[2]: duplicate target \"a\"\n" +
				"llmprobe.yaml:8: probes[0].workload: unknown workload \"x\""},
		{"bad cron", base + "probes:\n  - {name: p, targets: [a], workload: w, schedule: '0 3 * *'}\n",
			`llmprobe.yaml:6: probes[0].schedule: invalid schedule "0 3 * *": expected exactly 5 fields, found 4: [0 3 * *]`},
		{"sub-second every", base + "probes:\n  - {name: p, targets: [a], workload: w, schedule: '@every 100ms'}\n",
			`llmprobe.yaml:6: probes[0].schedule: invalid schedule "@every 100ms": @every interval must be at least 1s`},
		{"requests range", base + "probes:\n  - {name: p, targets: [a], workload: w, schedule: '@hourly', requests: 0}\n",
			`llmprobe.yaml:6: probes[0].requests: must be between 1 and 1000`},
		{"slo", base + "probes:\n  - name: p\n    targets: [a]\n    workload: w\n    schedule: '@hourly'\n    slo: {ttft: 0s, error_ratio: 1.5}\n",
			"llmprobe.yaml:10: probes[0].slo.ttft: must be positive\n" +
				"llmprobe.yaml:10: probes[0].slo.error_ratio: must be between 0 and 1"},

		// Soaks.
		{"soak missing fields", base + "soaks:\n  - {name: s, targets: [a], workload: w}\n",
			"llmprobe.yaml:6: soaks[0].mode: required\n" +
				"llmprobe.yaml:6: soaks[0].duration: required"},
		{"invalid mode", base + "soaks:\n  - {name: s, targets: [a], workload: w, mode: ramp, duration: 1m}\n",
			`llmprobe.yaml:6: soaks[0].mode: invalid mode "ramp" (want rate, throughput, sweep, procedure or trace)`},
		{"rate mode", base + "soaks:\n  - name: s\n    targets: [a]\n    workload: w\n    mode: rate\n    vus: 4\n    num_rates: 3\n    duration: 1m\n",
			"llmprobe.yaml:6: soaks[0].rates: required\n" +
				"llmprobe.yaml:10: soaks[0].vus: only used in throughput mode\n" +
				"llmprobe.yaml:11: soaks[0].num_rates: only used in sweep mode"},
		{"bad rates", base + "soaks:\n  - {name: s, targets: [a], workload: w, mode: rate, rates: [1, 0, .nan], duration: 1m}\n",
			"llmprobe.yaml:6: soaks[0].rates[1]: must be a positive number\n" +
				"llmprobe.yaml:6: soaks[0].rates[2]: must be a positive number"},
		{"throughput mode", base + "soaks:\n  - {name: s, targets: [a], workload: w, mode: throughput, arrival: poisson, rates: [1], duration: 1m}\n",
			"llmprobe.yaml:6: soaks[0].vus: required\n" +
				"llmprobe.yaml:6: soaks[0].rates: only used in rate mode\n" +
				"llmprobe.yaml:6: soaks[0].arrival: only used in rate and sweep modes"},
		{"vus above max_in_flight", base + "soaks:\n  - {name: s, targets: [a], workload: w, mode: throughput, vus: 100, max_in_flight: 10, duration: 1m}\n",
			`llmprobe.yaml:6: soaks[0].vus: must be between 1 and 10`},
		{"sweep limits", base + "soaks:\n  - {name: s, targets: [a], workload: w, mode: sweep, num_rates: 51, max_vus: 0, arrival: burst, duration: 1m}\n",
			"llmprobe.yaml:6: soaks[0].arrival: invalid arrival \"burst\" (want constant, poisson or gamma)\n" +
				"llmprobe.yaml:6: soaks[0].max_vus: must be between 1 and 1024\n" +
				"llmprobe.yaml:6: soaks[0].num_rates: must be between 1 and 50"},
		{"soak ratios", base + "soaks:\n  - {name: s, targets: [a], workload: w, mode: sweep, duration: 0s, stop_error_ratio: 0, schedule: 'daily'}\n",
			"llmprobe.yaml:6: soaks[0].schedule: invalid schedule \"daily\": expected exactly 5 fields, found 1: [daily]\n" +
				"llmprobe.yaml:6: soaks[0].duration: must be positive\n" +
				"llmprobe.yaml:6: soaks[0].stop_error_ratio: must be above 0 and at most 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load([]byte(tc.in), file)
			if err == nil {
				t.Fatalf("no error; config:\n%s", c)
			}
			if c != nil {
				t.Errorf("got a config with the error")
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Errorf("error is %T, want Errors", err)
			}
		})
	}
}

func TestManyErrorsAtOnce(t *testing.T) {
	in := `global:
  probe_jitter: soon
targets:
  - name: a
    url: http://h:8000
    tmeout: 5s
  - name: a
    url: ftp://h
    model: m
workloads:
  - name: w
    output_tokens: {num_tokens: abc}
probes:
  - name: p
    targets: [a, nope]
    workload: w
    schedule: "@every 10s"
    slo: {ttft: 2}
`
	want := strings.Join([]string{
		`llmprobe.yaml:2: global.probe_jitter: invalid duration "soon"`,
		`llmprobe.yaml:4: targets[0].model: required`,
		`llmprobe.yaml:6: targets[0].tmeout: unknown field`,
		`llmprobe.yaml:7: targets[1].name: duplicate name "a" (first used by targets[0])`,
		`llmprobe.yaml:8: targets[1].url: invalid URL: must start with http:// or https://`,
		`llmprobe.yaml:12: workloads[0].output_tokens.num_tokens: expected an integer, got "abc"`,
		`llmprobe.yaml:15: probes[0].targets[1]: unknown target "nope"`,
		`llmprobe.yaml:18: probes[0].slo.ttft: invalid duration "2"`,
	}, "\n")
	_, err := Load([]byte(in), file)
	if err == nil {
		t.Fatal("no error")
	}
	if got := err.Error(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 8 {
		t.Fatalf("want 8 Errors, got %#v", err)
	}
	if e := errs[2]; e.File != file || e.Line != 6 || e.Field != "targets[0].tmeout" || e.Msg != "unknown field" {
		t.Errorf("errs[2] = %+v", e)
	}
	var one Error
	if !errors.As(err, &one) || one.Line != 2 {
		t.Errorf("errors.As(Error) = %+v", one)
	}
}

func TestErrorFormat(t *testing.T) {
	for _, tc := range []struct {
		e    Error
		want string
	}{
		{Error{"f.yaml", 12, "targets[0].timeout", `invalid duration "5x"`}, `f.yaml:12: targets[0].timeout: invalid duration "5x"`},
		{Error{"f.yaml", 3, "", "did not find expected key"}, "f.yaml:3: did not find expected key"},
		{Error{"f.yaml", 0, "", "boom"}, "f.yaml: boom"},
		{Error{"", 4, "x", "boom"}, "line 4: x: boom"},
		{Error{"", 0, "targets[0].model", "required"}, "targets[0].model: required"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

const secret = "sk-very-secret-0123456789"

func writeKey(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestAPIKey(t *testing.T) {
	dir := t.TempDir()
	writeKey(t, dir, "a.key", "  "+secret+"\n")
	writeKey(t, dir, "prompts.jsonl", "{\"prompt\": \"hi\"}\n")
	t.Setenv("LLMPROBE_TEST_KEY", secret+"-env\n")
	in := `
targets:
  - {name: file, url: "http://h", model: m, api_key_file: a.key}
  - {name: env, url: "http://h", model: m, api_key_env: LLMPROBE_TEST_KEY}
  - {name: none, url: "http://h", model: m}
workloads:
  - {name: w, dataset: prompts.jsonl}
`
	cfgPath := filepath.Join(dir, "llmprobe.yaml")
	if err := os.WriteFile(cfgPath, []byte(in), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"file": secret, "env": secret + "-env", "none": ""} {
		if got := string(c.Target(name).APIKey); got != want {
			t.Errorf("target %s: key %q, want %q", name, got, want)
		}
	}
	// Relative paths are resolved against the config file's directory.
	if got, want := c.Target("file").APIKeyFile, filepath.Join(dir, "a.key"); got != want {
		t.Errorf("api_key_file = %q, want %q", got, want)
	}
	if got, want := c.Workload("w").Dataset, filepath.Join(dir, "prompts.jsonl"); got != want {
		t.Errorf("dataset = %q, want %q", got, want)
	}
	// A reload reads the key again.
	writeKey(t, dir, "a.key", "rotated")
	if c, err = LoadFile(cfgPath); err != nil || c.Target("file").APIKey != "rotated" {
		t.Errorf("after rotation: key %q, err %v", c.Target("file").APIKey, err)
	}
}

func TestSecretNotLeaked(t *testing.T) {
	dir := t.TempDir()
	writeKey(t, dir, "a.key", secret)
	in := `
targets:
  - {name: a, url: "http://user@h", model: m, api_key_file: a.key}
  - {name: b, url: "http://h", model: m, api_key_file: a.key, headers: {Authorization: "Bearer ` + secret + `"}}
  - {name: c, url: "http://u:` + secret + `@h", model: m}
  - {name: d, url: "http://u:` + secret + `@h:bad", model: m}
`
	// A config with errors: no message may carry the key.
	_, err := Load([]byte(in), filepath.Join(dir, "llmprobe.yaml"))
	if err == nil {
		t.Fatal("no error")
	}
	if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "hunter") {
		t.Errorf("error leaks the secret:\n%s", err)
	}
	if n := len(err.(Errors)); n != 4 {
		t.Errorf("want 4 errors, got:\n%s", err)
	}

	// A valid config: no rendering of it may carry the key.
	c, err := Load([]byte(`targets: [{name: a, url: "http://h", model: m, api_key_file: a.key}]`), filepath.Join(dir, "x.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Targets[0].APIKey != secret {
		t.Fatal("key not loaded")
	}
	y, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	tg := c.Targets[0]
	renderings := map[string]string{
		"yaml":      string(y),
		"json":      string(j),
		"String":    c.String(),
		"%v config": fmt.Sprintf("%v", c),
		"%+v *cfg":  fmt.Sprintf("%+v", c),
		"%v":        fmt.Sprintf("%v", tg),
		"%+v":       fmt.Sprintf("%+v", tg),
		"%#v":       fmt.Sprintf("%#v", tg),
		"%s":        fmt.Sprintf("%s", tg),
		"%q":        fmt.Sprintf("%q", tg),
		"%x":        fmt.Sprintf("%x", tg),
		"%v ptr":    fmt.Sprintf("%v", &tg),
		"%v slice":  fmt.Sprintf("%v", c.Targets),
		"Sprint":    fmt.Sprint(tg),
	}
	// Every verb, even ones vet would flag if written as constants.
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d", "%T"} {
		renderings[verb+" config value"] = fmt.Sprintf(verb, *c)
		renderings[verb+" target"] = fmt.Sprintf(verb, tg)
	}
	for name, s := range renderings {
		if strings.Contains(s, secret) || strings.Contains(s, fmt.Sprintf("%x", secret)) {
			t.Errorf("%s leaks the secret: %s", name, s)
		}
	}
	if !strings.Contains(renderings["%+v"], "APIKey:<secret>") {
		t.Errorf("%%+v should show APIKey:<secret>, got %s", renderings["%+v"])
	}
}

func TestExampleConfig(t *testing.T) {
	c, err := LoadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	modes := map[string]bool{}
	for _, s := range c.Soaks {
		modes[s.Mode] = true
	}
	if len(modes) != 5 {
		t.Errorf("example has soak modes %v, want all five", modes)
	}
	if p := c.Probe("heartbeat"); p == nil || p.Schedule != "@every 15s" {
		t.Errorf("heartbeat probe = %+v", p)
	}
	for _, tg := range c.Targets {
		if !strings.HasPrefix(tg.URL, "http://127.0.0.1:8000") || tg.Model != "sim-model" {
			t.Errorf("target %s: %s %s, want the simulator", tg.Name, tg.URL, tg.Model)
		}
	}
	// Every field of the schema appears in the example, commented or not.
	raw, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []reflect.Type{reflect.TypeFor[Global](), reflect.TypeFor[Target](), reflect.TypeFor[Workload](),
		reflect.TypeFor[DecodeOptions](), reflect.TypeFor[SLO](), reflect.TypeFor[Probe](), reflect.TypeFor[Soak](), reflect.TypeFor[Procedure]()} {
		for key := range structFields(typ) {
			if !strings.Contains(string(raw), key+":") {
				t.Errorf("example lacks %s.%s", typ.Name(), key)
			}
		}
	}

	// What String prints loads back to the same config.
	again, err := Load([]byte(c.String()), "again.yaml")
	if err != nil {
		t.Fatalf("reloading String(): %v\n%s", err, c)
	}
	if !reflect.DeepEqual(c, again) {
		t.Errorf("round trip differs:\n%s\nvs\n%s", c, again)
	}
}

func TestValidate(t *testing.T) {
	t.Setenv("LLMPROBE_TEST_KEY", secret)
	c := &Config{
		Targets:   []Target{{Name: "sim", URL: "http://127.0.0.1:8000", Model: "sim-model", APIKeyEnv: "LLMPROBE_TEST_KEY"}},
		Workloads: []Workload{{Name: "w"}},
		Soaks:     []Soak{{Name: "s", Targets: []string{"sim"}, Workload: "w", Mode: ModeSweep, Duration: model.Duration(time.Minute)}},
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Targets[0].Timeout != DefaultTimeout || c.Targets[0].APIKey != secret || c.Soaks[0].MaxVUs != 64 ||
		c.Workloads[0].Prompt != DefaultPrompt || c.Global.ProbeJitter != DefaultProbeJitter {
		t.Errorf("defaults not applied: %+v", c)
	}
	// Validating again changes nothing.
	before := c.String()
	if err := c.Validate(); err != nil || c.String() != before {
		t.Errorf("second Validate: %v\n%s", err, c)
	}

	bad := &Config{Targets: []Target{{Name: "x", URL: "http://h", Timeout: -1}}}
	want := "targets[0].model: required\ntargets[0].timeout: must be positive"
	if err := bad.Validate(); err == nil || err.Error() != want {
		t.Errorf("got %v, want\n%s", err, want)
	}
}

func TestLookups(t *testing.T) {
	c, err := LoadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Target("sim-chat") != &c.Targets[0] || c.Workload("short-chat") != &c.Workloads[0] ||
		c.Probe("heartbeat") != &c.Probes[0] || c.Soak("steady-rates") != &c.Soaks[0] {
		t.Error("lookup did not return the element")
	}
	if c.Target("nope") != nil || c.Workload("nope") != nil || c.Probe("nope") != nil || c.Soak("nope") != nil {
		t.Error("lookup of a missing name is not nil")
	}
}

func TestParseDecodeOptions(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    DecodeOptions
		wantErr string
	}{
		{"num_tokens=80,max_tokens=100,min_tokens=60,variance=10", DecodeOptions{80, 100, 60, 10}, ""},
		{" variance = 5 , num_tokens=10 ", DecodeOptions{NumTokens: 10, Variance: 5}, ""},
		{"", DecodeOptions{NumTokens: 64}, ""},
		{"max_tokens=32", DecodeOptions{NumTokens: 32, MaxTokens: 32}, ""},
		{"min_tokens=100", DecodeOptions{NumTokens: 100, MinTokens: 100}, ""},
		{"num_tokens=0", DecodeOptions{}, "num_tokens: must be positive"},
		{"num_tokens=x", DecodeOptions{}, `num_tokens: expected an integer, got "x"`},
		{"num_tokens", DecodeOptions{}, `expected key=value, got "num_tokens"`},
		{"num_tokens=1,", DecodeOptions{}, `expected key=value, got ""`},
		{"tokens=1", DecodeOptions{}, `unknown option "tokens" (want num_tokens, max_tokens, min_tokens or variance)`},
		{"variance=1,variance=2", DecodeOptions{}, "variance: given twice"},
		{"min_tokens=-1", DecodeOptions{}, "min_tokens: must not be negative"},
		{"max_tokens=2000000", DecodeOptions{}, "max_tokens: must be at most 1048576"},
		{"min_tokens=20,max_tokens=10", DecodeOptions{}, "min_tokens: 20 exceeds max_tokens (10)"},
		{"num_tokens=5,min_tokens=10", DecodeOptions{}, "num_tokens: 5 is below min_tokens (10)"},
	} {
		got, err := ParseDecodeOptions(tc.in)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("ParseDecodeOptions(%q): error %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseDecodeOptions(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseSchedule(t *testing.T) {
	for _, tc := range []struct {
		in      string
		wantErr string
	}{
		{"@every 30s", ""},
		{"@hourly", ""},
		{"0 3 * * *", ""},
		{"CRON_TZ=UTC 0 3 * * *", ""},
		{"*/5 * * * *", ""},
		{"", "empty schedule"},
		{"@every 0s", "@every interval must be at least 1s"},
		{"@every soon", `@every: time: invalid duration "soon"`},
		{"TZ=UTC", "time zone prefix without a schedule"}, // panics inside cron
		{"CRON_TZ=Nowhere/Land 0 3 * * *", "provided bad location Nowhere/Land: unknown time zone Nowhere/Land"},
		{"0 3 * * * *", "expected exactly 5 fields, found 6: [0 3 * * * *]"},
		{"@fortnightly", "unrecognized descriptor: @fortnightly"},
	} {
		_, err := ParseSchedule(tc.in)
		if got := fmt.Sprint(err); (tc.wantErr == "" && err != nil) || (tc.wantErr != "" && got != tc.wantErr) {
			t.Errorf("ParseSchedule(%q): %v, want %q", tc.in, err, tc.wantErr)
		}
	}
}
