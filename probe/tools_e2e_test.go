package probe_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/llmprobe/llmprobe/collector"
	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/probe"
	"github.com/llmprobe/llmprobe/sim"
	"github.com/llmprobe/llmprobe/workload"
)

// TestToolCallsAgainstSimulator: requests built by the workload package
// from a tools file and a JSON Schema file, to a simulator answering valid
// and broken calls and documents, streamed and not: the valid ones succeed
// (TTFT on the first tool-call delta, after the simulator's TTFT), each
// broken one is invalid_output with its reason, and the metrics count it
// in its class.
func TestToolCallsAgainstSimulator(t *testing.T) {
	const ttft = 20 * time.Millisecond
	calls := config.Workload{Name: "calls", Prompt: "Weather in Paris?", ToolsFile: "../testdata/tools.json", ToolChoice: "get_weather"}
	structured := config.Workload{Name: "structured", Prompt: "Facts about Paris?", JSONSchemaFile: "../testdata/answer.schema.json"}
	for _, tc := range []struct {
		name   string
		w      config.Workload
		faults sim.Faults
		want   string // the record's error; "" for a success
	}{
		{"valid call", calls, sim.Faults{}, ""},
		{"malformed call", calls, sim.Faults{ToolCallMalformed: 1}, "tool call 0 (get_weather): the arguments are not JSON: unexpected end at offset 37"},
		{"unknown function", calls, sim.Faults{ToolCallUnknown: 1}, `tool call 0: unknown function "sim_unknown_function" (tools: get_weather, get_time)`},
		{"schema violation", calls, sim.Faults{ToolCallSchema: 1}, "tool call 0 (get_weather): the arguments violate its schema at /: missing property 'location'"},
		{"valid document", structured, sim.Faults{}, ""},
		{"malformed document", structured, sim.Faults{ToolCallMalformed: 1}, "the output is not JSON: unexpected end at offset 71"},
		{"document violating", structured, sim.Faults{ToolCallSchema: 1}, "the output violates json_schema city_facts at /: missing property 'city'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := sim.New(sim.Config{TTFT: ttft, ITL: time.Millisecond, Faults: tc.faults})
			ts := httptest.NewServer(srv)
			t.Cleanup(func() { srv.Close(); ts.Close() })
			g, err := workload.NewForKind(&tc.w, probe.Chat)
			if err != nil {
				t.Fatal(err)
			}
			for _, stream := range []bool{true, false} {
				reg := prometheus.NewRegistry()
				m := collector.New(reg, collector.Options{})
				c := probe.NewClient(probe.Endpoint{Name: "sim", URL: ts.URL, Model: sim.DefaultModel, Stream: stream})
				rec := c.Do(context.Background(), g.Next())
				rec.Phase, rec.Name = "probe", "p"
				m.Observe(rec)
				c.CloseIdle()
				want, result := probe.ResultSuccess, "success"
				if tc.want != "" {
					want, result = probe.ResultInvalidOutput, "invalid_output"
				}
				if rec.Result != want || rec.Error != tc.want || rec.HTTPStatus != 200 {
					t.Fatalf("stream %v: %s %q (HTTP %d), want %s %q", stream, rec.Result, rec.Error, rec.HTTPStatus, want, tc.want)
				}
				if got := metric(t, reg, "llmprobe_requests_total", result); got != 1 {
					t.Errorf("stream %v: requests_total{result=%s} = %v, want 1", stream, result, got)
				}
				if tc.w.ToolsFile != "" && rec.ToolCalls != 1 {
					t.Errorf("stream %v: %d tool calls", stream, rec.ToolCalls)
				}
				if !stream {
					continue
				}
				// Every output token of the answer is a chunk; the first
				// one came the simulator's TTFT in.
				d, ok := rec.TTFT()
				if !ok || d < ttft || len(rec.Chunks) != rec.OutputTokens || rec.OutputTokens < 5 {
					t.Errorf("TTFT %v (%v), %d chunks for %d output tokens", d, ok, len(rec.Chunks), rec.OutputTokens)
				}
				if tc.want == "" && metric(t, reg, "llmprobe_time_to_first_token_seconds", "") != 1 {
					t.Error("no TTFT sample for a valid answer")
				}
			}
		})
	}
}
