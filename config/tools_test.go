package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/llmprobe/llmprobe/probe"
)

const testToolsJSON = `[
  {"type": "function", "function": {"name": "get_weather", "description": "Weather",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}},
  {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}
]
`

// toolsDir writes tools and schema files to a temporary directory.
func toolsDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestToolsConfigErrors(t *testing.T) {
	dir := toolsDir(t, map[string]string{
		"tools.json":       testToolsJSON,
		"bad.json":         "[\n  {\"type\": \"function\", \"function\": {\"name\": \"f\",}}\n]\n",
		"badschema.json":   `[{"type": "function", "function": {"name": "f", "parameters": {"type": "objekt"}}}]`,
		"schema.json":      `{"type": "object", "required": ["a"]}`,
		"notschema.json":   `{"type": "object", "properties": {"a": {"minLength": -1}}}`,
		"notobject.json":   `["a"]`,
		"empty.json":       "",
		"twice.json":       `[{"type":"function","function":{"name":"f"}},{"type":"function","function":{"name":"f"}}]`,
		"unsupported.json": `[{"type":"web_search"}]`,
	})
	file := filepath.Join(dir, "llmprobe.yaml")
	path := func(name string) string { return `"` + filepath.Join(dir, name) + `"` }
	work := func(fields string) string { return "workloads:\n  - name: w\n" + fields }
	for _, tc := range []struct {
		name, in, want string
	}{
		{"missing tools file", work("    tools_file: nope.json\n"),
			file + ":3: workloads[0].tools_file: cannot read " + path("nope.json") + ": no such file or directory"},
		{"tools file is a directory", work("    tools_file: .\n"),
			file + ":3: workloads[0].tools_file: " + `"` + dir + `"` + " is not a regular file"},
		{"bad JSON", work("    tools_file: bad.json\n"),
			file + ":3: workloads[0].tools_file: " + path("bad.json") + ": invalid JSON at line 2, column 49: invalid character '}' looking for beginning of object key string"},
		{"empty", work("    tools_file: empty.json\n"),
			file + ":3: workloads[0].tools_file: " + path("empty.json") + ": is empty"},
		{"bad parameters schema", work("    tools_file: badschema.json\n"),
			file + ":3: workloads[0].tools_file: " + path("badschema.json") + ": tools[0] (f): parameters: invalid JSON Schema: at /type: value must be one of 'array', 'boolean', 'integer', 'null', 'number', 'object', 'string' (and 1 more)"},
		{"function twice", work("    tools_file: twice.json\n"),
			file + ":3: workloads[0].tools_file: " + path("twice.json") + `: tools[1]: function "f" defined twice`},
		{"not a function tool", work("    tools_file: unsupported.json\n"),
			file + ":3: workloads[0].tools_file: " + path("unsupported.json") + `: tools[0]: type "web_search": only "function" tools are supported`},
		{"unknown function", work("    tools_file: tools.json\n    tool_choice: get_date\n"),
			file + `:4: workloads[0].tool_choice: function "get_date" is not one of the tools (get_weather, get_time)`},
		{"choice without tools", work("    prompt: hi\n    tool_choice: required\n"),
			file + `:4: workloads[0].tool_choice: only used with tools`},
		{"missing schema file", work("    json_schema_file: nope.schema.json\n"),
			file + ":3: workloads[0].json_schema_file: cannot read " + path("nope.schema.json") + ": no such file or directory"},
		{"invalid schema", work("    json_schema_file: notschema.json\n"),
			file + ":3: workloads[0].json_schema_file: " + path("notschema.json") + ": invalid JSON Schema: at /properties/a/minLength: minimum: got -1, want 0"},
		{"schema not an object", work("    json_schema_file: notobject.json\n"),
			file + ":3: workloads[0].json_schema_file: " + path("notobject.json") + ": must hold a JSON Schema object"},
		// The choice is not checked against tools that did not parse.
		{"choice with broken tools", work("    tools_file: bad.json\n    tool_choice: f\n"),
			file + ":3: workloads[0].tools_file: " + path("bad.json") + ": invalid JSON at line 2, column 49: invalid character '}' looking for beginning of object key string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load([]byte(tc.in), file)
			if err == nil {
				t.Fatalf("no error; config:\n%s", c)
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

// TestToolsConfig: a valid workload's files are parsed once at load, its
// AnswerSpec is what probe sends, and a reload of the same files keeps the
// workload deeply equal (the daemon keeps its jobs running).
func TestToolsConfig(t *testing.T) {
	dir := toolsDir(t, map[string]string{
		"tools.json":         testToolsJSON,
		"person.schema.json": `{"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}`,
	})
	reads := map[string]int{}
	orig := readAnswerFile
	readAnswerFile = func(path string) ([]byte, error) { reads[path]++; return orig(path) }
	t.Cleanup(func() { readAnswerFile = orig })

	in := `
targets:
  - {name: c, url: "http://127.0.0.1:8000", model: m}
workloads:
  - {name: w, prompt: "weather in Paris?", tools_file: tools.json, tool_choice: get_weather, json_schema_file: person.schema.json}
probes:
  - {name: p1, targets: [c], workload: w, schedule: "@every 1m"}
  - {name: p2, targets: [c], workload: w, schedule: "@every 1m"}
`
	file := filepath.Join(dir, "llmprobe.yaml")
	c, err := Load([]byte(in), file)
	if err != nil {
		t.Fatal(err)
	}
	tp, sp := filepath.Join(dir, "tools.json"), filepath.Join(dir, "person.schema.json")
	if reads[tp] != 1 || reads[sp] != 1 {
		t.Fatalf("reads %v, want each file once", reads)
	}
	w := c.Workload("w")
	if w.ToolsFile != tp || w.JSONSchemaFile != sp {
		t.Errorf("paths %q %q, want them resolved", w.ToolsFile, w.JSONSchemaFile)
	}
	spec, err := w.AnswerSpec()
	if err != nil {
		t.Fatal(err)
	}
	if spec.Choice != "get_weather" || strings.Join(spec.Tools.Names(), ",") != "get_weather,get_time" || spec.Schema.Name() != "person" {
		t.Errorf("spec %+v", spec)
	}
	if reads[tp] != 1 || reads[sp] != 1 {
		t.Fatalf("reads after AnswerSpec %v, want none", reads)
	}
	body, err := probe.NewClient(c.Targets[0].Endpoint()).Body(probe.Request{Prompt: "hi", Answer: spec})
	if err != nil || !strings.Contains(string(body), `"tool_choice":{"function":{"name":"get_weather"},"type":"function"}`) ||
		!strings.Contains(string(body), `"response_format":{"json_schema":{"name":"person",`) {
		t.Errorf("body %s, %v", body, err)
	}

	again, err := Load([]byte(in), file)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Workload("w"), again.Workload("w")) {
		t.Error("the same files loaded twice differ: a reload would restart the jobs")
	}
	// A changed file is another workload.
	if err := os.WriteFile(tp, []byte(`[{"type":"function","function":{"name":"get_weather"}}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	changed, err := Load([]byte(strings.ReplaceAll(in, "tool_choice: get_weather, ", "")), file)
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(c.Workload("w").files, changed.Workload("w").files) {
		t.Error("a changed tools file left the parsed files equal")
	}

	// A workload built in code (bench) reads its files when asked.
	built := Workload{Name: "b", ToolsFile: tp, ToolChoice: "required"}
	if spec, err := built.AnswerSpec(); err != nil || spec.Tools == nil || spec.Choice != probe.ToolChoiceRequired {
		t.Errorf("built in code: %+v, %v", spec, err)
	}
	if _, err := (&Workload{ToolChoice: "auto"}).AnswerSpec(); err == nil || err.Error() != "tool_choice: only used with tools" {
		t.Errorf("choice without tools: %v", err)
	}
	if _, err := (&Workload{ToolsFile: filepath.Join(dir, "nope.json")}).AnswerSpec(); err == nil || !strings.HasPrefix(err.Error(), "tools_file: cannot read ") {
		t.Errorf("missing file: %v", err)
	}
	if spec, err := (&Workload{Name: "plain"}).AnswerSpec(); spec != nil || err != nil {
		t.Errorf("a workload without tools: %+v, %v", spec, err)
	}
}

func TestAnswerKindProblem(t *testing.T) {
	w := Workload{Name: "w", ToolsFile: "t.json", JSONSchemaFile: "s.json"}
	for kind, want := range map[probe.Kind]string{
		KindChat:        "",
		KindVision:      "",
		KindCompletions: `tools_file of workload "w" is only sent to chat and vision targets, not completions`,
		KindEmbeddings:  `tools_file of workload "w" is only sent to chat and vision targets, not embeddings`,
	} {
		if got := w.AnswerKindProblem(kind); got != want {
			t.Errorf("%s: %q, want %q", kind, got, want)
		}
	}
	if got := (&Workload{Name: "w", JSONSchemaFile: "s.json"}).AnswerKindProblem(KindRerank); got != `json_schema_file of workload "w" is only sent to chat and vision targets, not rerank` {
		t.Errorf("rerank: %q", got)
	}
	if got := (&Workload{Name: "w"}).AnswerKindProblem(KindRerank); got != "" {
		t.Errorf("no tools: %q", got)
	}
}

func TestSchemaName(t *testing.T) {
	for path, want := range map[string]string{
		"/a/person.schema.json": "person",
		"answer.json":           "answer",
		".hidden.json":          ".hidden.json",
	} {
		if got := schemaName(path); got != want {
			t.Errorf("%s: %q, want %q", path, got, want)
		}
	}
}

// check-config refuses tools on a target that cannot take them, naming the
// target, rather than leaving it to the daemon's start.
func TestToolsOnlyForChatAndVisionTargets(t *testing.T) {
	dir := toolsDir(t, map[string]string{"tools.json": testToolsJSON})
	in := `targets:
  - {name: c, url: "http://h", model: m}
  - {name: e, url: "http://h", model: m, kind: embeddings}
workloads:
  - {name: w, prompt: hi, tools_file: tools.json}
probes:
  - {name: p, targets: [c, e], workload: w, schedule: "@hourly"}
`
	path := filepath.Join(dir, "llmprobe.yaml")
	if err := os.WriteFile(path, []byte(in), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadFile(path)
	want := path + `:7: probes[0].targets[1]: target "e": tools_file of workload "w" is only sent to chat and vision targets, not embeddings`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	if strings.Contains(err.Error(), "targets[0]") {
		t.Errorf("the chat target was refused too: %v", err)
	}
}
