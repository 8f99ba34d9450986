package collector

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/llmprobe/llmprobe/probe"
)

// TestObserveToolCalls: invalid output is a result class of its own, kept
// out of the latency histograms and the tool-call counters; successful
// answers count their calls, and text answers to offered tools apart.
func TestObserveToolCalls(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg, Options{})
	m.InitTarget("t1", "m", "probe", "hb")

	called := record(probe.ResultSuccess)
	called.ToolCalls = 2
	text := record(probe.ResultSuccess)
	text.NoToolCall = true
	invalid := record(probe.ResultInvalidOutput)
	invalid.HTTPStatus, invalid.ToolCalls = 200, 1
	invalid.FirstToken = invalid.Start.Add(50 * time.Millisecond) // it streamed: still no latency sample
	invalid.Chunks = []time.Duration{50 * time.Millisecond, 60 * time.Millisecond}
	for _, rec := range []*probe.Record{called, text, invalid} {
		m.Observe(rec)
	}

	want := `
# HELP llmprobe_tool_calls_total Tool calls in successful answers: each of one of the offered functions, with arguments valid for its JSON Schema (answers that fail this are result invalid_output).
# TYPE llmprobe_tool_calls_total counter
llmprobe_tool_calls_total{model="m",name="hb",phase="probe",target="t1"} 2
# HELP llmprobe_answers_without_tool_call_total Successful answers that called no tool although the request offered tools under tool_choice auto: a legitimate text answer, but where a probe's prompt is meant to make the model call, its rate against requests_total shows a model or parser that stopped calling.
# TYPE llmprobe_answers_without_tool_call_total counter
llmprobe_answers_without_tool_call_total{model="m",name="hb",phase="probe",target="t1"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "llmprobe_tool_calls_total", "llmprobe_answers_without_tool_call_total"); err != nil {
		t.Fatal(err)
	}
	for res, want := range map[probe.Result]float64{probe.ResultSuccess: 2, probe.ResultInvalidOutput: 1, probe.ResultProtocol: 0} {
		if got := testutil.ToFloat64(m.requests.WithLabelValues("t1", "m", "probe", "hb", string(res))); got != want {
			t.Errorf("requests_total{result=%s} = %v, want %v", res, got, want)
		}
	}
	if h := histogramOf(t, reg, "llmprobe_time_to_first_token_seconds"); h.GetSampleCount() != 2 {
		t.Errorf("TTFT samples %d, want 2: invalid output is no success", h.GetSampleCount())
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
	m.Delete(prometheus.Labels{"target": "t1"})
	if n := testutil.CollectAndCount(m.toolCalls) + testutil.CollectAndCount(m.noToolCall); n != 0 {
		t.Errorf("%d tool-call series left after Delete", n)
	}
}
