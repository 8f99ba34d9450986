package load

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/probe"
)

// indexRequests names each request after its trace index.
type indexRequests struct{}

func (indexRequests) Request(i int) probe.Request {
	return probe.Request{Prompt: fmt.Sprintf("request %d", i), MaxTokens: i + 1}
}

// capture is a sender that keeps what it was asked to send.
type capture struct {
	fakeSender
	mu   sync.Mutex
	sent map[string]probe.Request
}

func (c *capture) Do(ctx context.Context, req probe.Request) *probe.Record {
	c.mu.Lock()
	if c.sent == nil {
		c.sent = map[string]probe.Request{}
	}
	c.sent[req.Prompt] = req
	c.mu.Unlock()
	return c.fakeSender.Do(ctx, req)
}

func TestTraceWindow(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	// Times count from the first request (an epoch-stamped trace too).
	times := ms(5000, 5000, 5400, 6000, 7000, 9000)
	got, err := TraceWindow(times, 2, 400*time.Millisecond, 4*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := []TraceArrival{{0, 2}, {300 * time.Millisecond, 3}, {800 * time.Millisecond, 4}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("window [0.4s, 4s) at 2x: %v, want %v", got, want)
	}
	all, err := TraceWindow(times, 1, 0, 0)
	if err != nil || len(all) != 6 || all[5].At != 4*time.Second || all[1].At != 0 {
		t.Errorf("whole trace: %v, %v", all, err)
	}
	for _, tc := range []struct {
		speed      float64
		start, end time.Duration
		want       string
	}{
		{0, 0, 0, "trace speed 0: must be a positive number"},
		{-1, 0, 0, "trace speed -1"},
		{1, time.Second, time.Second, "the end must be after the start"},
		{1, 5 * time.Second, 0, "holds none of its 6 requests (they span 4s)"},
	} {
		if _, err := TraceWindow(times, tc.speed, tc.start, tc.end); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("speed %v window [%v, %v): %v, want %q", tc.speed, tc.start, tc.end, err, tc.want)
		}
	}
}

// A trace mode run sends each of the trace's requests at its time, with
// its own request, and says so in its context and step.
func TestTraceReplay(t *testing.T) {
	var arrivals []TraceArrival
	for i := range 50 {
		// bursts of two at the same time, 10 ms apart
		arrivals = append(arrivals, TraceArrival{At: time.Duration(i/2) * 10 * time.Millisecond, Index: 100 + i})
	}
	tr := &Trace{Arrivals: arrivals, Requests: indexRequests{}, Info: TraceInfo{File: "t.jsonl", Format: "mooncake", Speed: 10, TraceRequests: 500}}
	s := &capture{fakeSender: fakeSender{latency: 2 * time.Millisecond}}
	r, err := New(s, fixedRequests{}, Options{Mode: ModeTrace, Trace: tr, KeepRecords: true, LagThreshold: time.Second,
		Workload: WorkloadInfo{Name: "w", Prompt: "fixed", Output: DecodeOptions{NumTokens: 80}}}, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	res := r.Run(context.Background())
	if res.Status != StatusCompleted || res.Summary.Requests != 50 || len(res.Steps) != 1 {
		t.Fatalf("status %s, %d requests, %d steps", res.Status, res.Summary.Requests, len(res.Steps))
	}
	st := res.Steps[0]
	for _, rec := range res.Records {
		if rec.Scheduled.IsZero() {
			t.Fatal("a trace request without its schedule")
		}
	}
	// Each request was the trace's, at its time.
	for i, a := range arrivals {
		req, ok := s.sent[fmt.Sprintf("request %d", a.Index)]
		if !ok || req.MaxTokens != a.Index+1 {
			t.Fatalf("arrival %d: trace request %d not sent (%+v)", i, a.Index, req)
		}
	}
	scheds := map[time.Duration]int{}
	for _, rec := range res.Records {
		scheds[rec.Scheduled.Sub(st.Start)]++
	}
	for i := range 25 {
		if scheds[time.Duration(i)*10*time.Millisecond] != 2 {
			t.Fatalf("schedules %v: want two at each 10 ms", scheds)
		}
	}
	c := res.Context.Trace
	if res.Mode != ModeTrace || c == nil || c.Requests != 50 || c.TraceRequests != 500 || c.SpanS != 0.24 || c.File != "t.jsonl" {
		t.Fatalf("context %+v", c)
	}
	if w := res.Context.Workload; w.Prompt != "trace" || w.Dataset != "t.jsonl" || w.Output != (DecodeOptions{}) {
		t.Errorf("workload %+v: want the trace's prompts", w)
	}
	if st.Kind != StepRate || st.OfferedRate != 50/0.24 || c.MeanRate != st.OfferedRate {
		t.Errorf("step kind %s offered %v, want rate and the trace's mean %v", st.Kind, st.OfferedRate, 50/0.24)
	}
	if st.WindowS < 0.24 || st.WindowS > 0.5 {
		t.Errorf("window %.3fs, want the trace's 0.24s", st.WindowS)
	}
	if res.Summary.ScheduleLag.Count != 50 {
		t.Errorf("schedule lag of %d requests", res.Summary.ScheduleLag.Count)
	}
}

// Arrivals past the in-flight cap are dropped and counted, as in rate
// mode; a number of requests cuts the replay short.
func TestTraceDropsAndCount(t *testing.T) {
	var arrivals []TraceArrival
	for i := range 40 {
		arrivals = append(arrivals, TraceArrival{At: time.Duration(i) * time.Millisecond, Index: i})
	}
	tr := &Trace{Arrivals: arrivals, Requests: indexRequests{}, Info: TraceInfo{Speed: 1}}
	res := run(Options{Mode: ModeTrace, Trace: tr, MaxInFlight: 5, StopErrorRatio: 1}, &fakeSender{latency: 200 * time.Millisecond})
	if s := res.Summary; s.Dropped != 35 || s.Requests != 5 || s.Errors[ResultDropped] != 35 {
		t.Errorf("dropped %d of %d arrivals, want 35 of 40", s.Dropped, s.Requests+s.Dropped)
	}
	res = run(Options{Mode: ModeTrace, Trace: tr, NumRequests: 12}, &fakeSender{})
	if res.Summary.Requests != 12 {
		t.Errorf("%d requests, want --num-requests 12", res.Summary.Requests)
	}
}

func TestTraceOptionsRefused(t *testing.T) {
	tr := &Trace{Arrivals: []TraceArrival{{0, 0}}, Requests: indexRequests{}, Info: TraceInfo{Speed: 1}}
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Mode: ModeTrace}, "needs a trace with at least one request"},
		{Options{Mode: ModeTrace, Trace: &Trace{Arrivals: tr.Arrivals, Info: tr.Info}}, "needs the trace's requests"},
		{Options{Mode: ModeTrace, Trace: &Trace{Arrivals: tr.Arrivals, Requests: indexRequests{}}}, "trace speed 0"},
		{Options{Mode: ModeTrace, Trace: &Trace{Arrivals: []TraceArrival{{time.Second, 0}, {0, 1}}, Requests: indexRequests{}, Info: tr.Info}}, "times must be in order"},
		{Options{Mode: ModeTrace, Trace: tr, Rates: []float64{1}}, "trace mode takes no rates"},
		{Options{Mode: ModeTrace, Trace: tr, Arrival: ArrivalPoisson}, "takes no arrival process"},
		{Options{Mode: ModeTrace, Trace: tr, Duration: time.Second}, "takes no duration or warmup"},
		{Options{Mode: ModeRate, Rates: []float64{1}, Duration: time.Second, Trace: tr}, "only replayed in trace mode"},
	} {
		_, err := New(&fakeSender{}, fixedRequests{}, tc.o, Hooks{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.o, err, tc.want)
		}
	}
}
