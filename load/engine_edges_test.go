package load

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/probe"
)

// TestStopAfterConditions protects a run's stop_reason and how many steps a
// rate run or sweep runs: it stops after a step whose error ratio exceeds
// stop_error_ratio (not one that equals it), or whose median end-to-end
// latency exceeds stop_latency_factor (10) times the first rate step's (not
// one that equals it); latency is compared only when both steps have
// latencies and the reference is positive; a step stopped early stops the
// run with its own reason.
func TestStopAfterConditions(t *testing.T) {
	r, err := New(&fakeSender{}, fixedRequests{}, Options{Mode: ModeSweep, Duration: time.Second}, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	step := func(index int, errRatio, p50 float64, count int64) *Step {
		return &Step{Index: index, Summary: Summary{ErrorRatio: errRatio, E2E: Dist{Count: count, P50: p50}}}
	}
	first := step(1, 0, 100, 10)
	stopped := step(2, 0, 100, 10)
	stopped.Stopped = "the first 5 requests all failed"
	for _, tc := range []struct {
		name        string
		s, first    *Step
		wantHas     string // "" to go on
		wantNothing bool
	}{
		{name: "a stopped step stops the run with its reason", s: stopped, first: first, wantHas: "the first 5 requests all failed"},
		{name: "error ratio below stop_error_ratio", s: step(2, 0.49, 100, 10), first: first, wantNothing: true},
		{name: "error ratio at stop_error_ratio", s: step(2, 0.5, 100, 10), first: first, wantNothing: true},
		{name: "error ratio above stop_error_ratio", s: step(2, 0.51, 100, 10), first: first, wantHas: "step 2 error ratio 0.510 exceeded stop_error_ratio 0.500"},
		{name: "median latency 10× the first step's", s: step(3, 0, 1000, 10), first: first, wantNothing: true},
		{name: "median latency over 10× the first step's", s: step(3, 0, 1000.5, 10), first: first, wantHas: "step 3 median latency 1000 ms exceeded 10 times the first step's 100 ms"},
		{name: "no reference step (rate mode)", s: step(3, 0, 5000, 10), first: nil, wantNothing: true},
		{name: "the first step itself", s: first, first: first, wantNothing: true},
		{name: "reference without latencies", s: step(3, 0, 5000, 10), first: step(1, 0, 0, 0), wantNothing: true},
		{name: "reference of zero latency", s: step(3, 0, 5000, 10), first: step(1, 0, 0, 3), wantNothing: true},
		{name: "step without latencies", s: step(3, 0, 0, 0), first: first, wantNothing: true},
		{name: "slow step with one success against a reference with one", s: step(3, 0, 2000, 1), first: step(1, 0, 100, 1), wantHas: "median latency"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := r.stopAfter(tc.s, tc.first)
			if tc.wantNothing && got != "" {
				t.Errorf("stop reason %q, want none", got)
			}
			if !tc.wantNothing && !strings.Contains(got, tc.wantHas) {
				t.Errorf("stop reason %q, want %q", got, tc.wantHas)
			}
		})
	}
}

// TestRateStepsIndexAndArrivalRate protects each rate step's index (the
// `step` label of the sweep gauges, the timeline's step) and arrival_rate:
// rate steps count from 1; with constant spacing a step's arrival rate is
// the offered rate exactly (dropped arrivals count as arrivals), while
// Poisson and closed-loop steps report the rate they measured.
func TestRateStepsIndexAndArrivalRate(t *testing.T) {
	r, err := New(&fakeSender{}, fixedRequests{}, Options{Mode: ModeRate, Rates: []float64{300, 150}, NumRequests: 2}, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	res := r.Run(context.Background())
	if len(res.Steps) != 2 {
		t.Fatalf("%d steps", len(res.Steps))
	}
	for i, want := range []float64{300, 150} {
		s := res.Steps[i]
		if s.Index != i+1 || s.Kind != StepRate || s.OfferedRate != want {
			t.Errorf("step %d: index %d kind %s offered %v", i, s.Index, s.Kind, s.OfferedRate)
		}
		// two arrivals 1/300 s apart, rounded to the nanosecond, measure
		// 300.00003/s: the offered rate is reported, not that
		if s.ArrivalRate != want {
			t.Errorf("step %d: arrival rate %v, want the offered %v exactly", s.Index, s.ArrivalRate, want)
		}
	}
	if p := r.Progress(); p.Steps != 2 || p.Phase != "done" {
		t.Errorf("progress %+v, want 2 steps, done", p)
	}

	// one request and one dropped arrival are two arrivals
	res = run(Options{Mode: ModeRate, Rates: []float64{300}, NumRequests: 2, MaxInFlight: 1}, &fakeSender{latency: 50 * time.Millisecond})
	if s := res.Steps[0]; s.Summary.Requests != 1 || s.Summary.Dropped != 1 || s.ArrivalRate != 300 {
		t.Errorf("1 sent + 1 dropped: requests %d dropped %d arrival rate %v, want 1, 1, 300", s.Summary.Requests, s.Summary.Dropped, s.ArrivalRate)
	}

	// Poisson: the rate drawn, measured
	res = run(Options{Mode: ModeRate, Rates: []float64{300}, NumRequests: 30, Arrival: ArrivalPoisson, Seed: 3}, &fakeSender{})
	if s := res.Steps[0]; s.ArrivalRate == 300 || s.ArrivalRate < 100 || s.ArrivalRate > 900 {
		t.Errorf("poisson arrival rate %v, want a measured rate near 300", s.ArrivalRate)
	}
	// closed loop: the rate requests were issued at
	res = run(Options{Mode: ModeThroughput, VUs: 1, NumRequests: 12}, &fakeSender{latency: 10 * time.Millisecond})
	if s := res.Steps[0]; s.ArrivalRate < 40 || s.ArrivalRate > 110 || s.Index != 1 || s.Kind != StepThroughput {
		t.Errorf("throughput step %d %s: arrival rate %v, want about 100/s", s.Index, s.Kind, s.ArrivalRate)
	}
}

// TestPoissonFirstArrivalAtStepStart protects the offered load of a Poisson
// step (and its schedule lag): the first arrival is due when the step
// starts, the gaps come after it.
func TestPoissonFirstArrivalAtStepStart(t *testing.T) {
	res := run(Options{Mode: ModeRate, Rates: []float64{2}, NumRequests: 1, Arrival: ArrivalPoisson, Seed: 11, KeepRecords: true}, &fakeSender{})
	if len(res.Records) != 1 {
		t.Fatalf("%d records", len(res.Records))
	}
	if got, want := res.Records[0].Scheduled, res.Steps[0].Start; !got.Equal(want) {
		t.Errorf("first arrival due %v after the step's start, want at it", got.Sub(want))
	}
}

// TestStepWindowAndDrain protects each step's window_s and drain_s
// (llmprobe_sweep_step_drain_seconds): a timed closed-loop step's window is
// its duration; one ended by its request budget ends its window at its last
// start and drains its last request; a step limited only by its request
// count has no drain bound, so nothing is cut however slow.
func TestStepWindowAndDrain(t *testing.T) {
	res := run(Options{Mode: ModeThroughput, VUs: 2, Duration: 300 * time.Millisecond}, &fakeSender{latency: 20 * time.Millisecond})
	if s := res.Steps[0]; s.WindowS < 0.29 || s.WindowS > 0.35 || s.DrainS > 0.1 {
		t.Errorf("timed throughput step: window %.3f s, drain %.3f s; want 0.3 s and under 0.1 s", s.WindowS, s.DrainS)
	}

	res = run(Options{Mode: ModeThroughput, VUs: 1, NumRequests: 4}, &fakeSender{latency: 50 * time.Millisecond})
	if s := res.Steps[0]; s.WindowS < 0.14 || s.WindowS > 0.19 || s.DrainS < 0.04 || s.DrainS > 0.09 {
		t.Errorf("4 requests of 50 ms by one user: window %.3f s, drain %.3f s; want 0.15 s and 0.05 s", s.WindowS, s.DrainS)
	}

	r, err := New(&fakeSender{latency: 200 * time.Millisecond}, fixedRequests{}, Options{Mode: ModeRate, Rates: []float64{100}, NumRequests: 5}, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	res = r.Run(context.Background())
	if s := res.Summary; s.Successful != 5 || s.Cut != 0 {
		t.Errorf("unbounded drain: %d successful, %d cut; want 5, 0", s.Successful, s.Cut)
	}
	if c := res.Context; c.DrainS != 0 || !strings.Contains(c.StepEdges, "until they finish") {
		t.Errorf("context of an unbounded drain: %v s, %q", c.DrainS, c.StepEdges)
	}
	res = run(Options{Mode: ModeRate, Rates: []float64{100}, Duration: 30 * time.Millisecond}, &fakeSender{})
	if c := res.Context; c.DrainS != DefaultMinDrain.Seconds() || !strings.Contains(c.StepEdges, "up to 5s") {
		t.Errorf("context of a 30 ms step: drain bound %v s, %q; want 5 s", c.DrainS, c.StepEdges)
	}
}

// TestProgressPhase protects the live progress phase (bench's progress line,
// the soak page): "warmup" while warming up, "measure" once the measured
// window starts, "done" at the end; a run without warmup starts measuring.
func TestProgressPhase(t *testing.T) {
	phases := func(o Options, at ...time.Duration) []string {
		r, err := New(&fakeSender{latency: 5 * time.Millisecond}, fixedRequests{}, o, Hooks{})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { r.Run(context.Background()); close(done) }()
		start := time.Now()
		var out []string
		for _, d := range at {
			time.Sleep(time.Until(start.Add(d)))
			out = append(out, r.Progress().Phase)
		}
		<-done
		return append(out, r.Progress().Phase)
	}
	got := phases(Options{Mode: ModeThroughput, VUs: 1, Duration: 500 * time.Millisecond, Warmup: 300 * time.Millisecond},
		50*time.Millisecond, 650*time.Millisecond)
	if got[0] != "warmup" || got[1] != "measure" || got[2] != "done" {
		t.Errorf("with warmup: phases %v, want warmup, measure, done", got)
	}
	got = phases(Options{Mode: ModeThroughput, VUs: 1, Duration: 300 * time.Millisecond}, 50*time.Millisecond)
	if got[0] != "measure" || got[1] != "done" {
		t.Errorf("without warmup: phases %v, want measure, done", got)
	}
}

// alternating fails every second request (the first succeeds); request
// number slowAt (if set) takes half a second.
type alternating struct {
	n      atomic.Int64
	slowAt int64
}

func (a *alternating) Do(ctx context.Context, req probe.Request) *probe.Record {
	i := a.n.Add(1)
	latency := 2 * time.Millisecond
	if i == a.slowAt {
		latency = 500 * time.Millisecond
	}
	rec := (&fakeSender{latency: latency}).Do(ctx, req)
	if i%2 == 0 {
		rec.Result, rec.Error = probe.ResultHTTP5xx, "HTTP 500"
	}
	return rec
}

// TestErrorRatioStopDuringStep protects stop_error_ratio while a step runs
// (Step.Stopped, stop_reason): a step is stopped early only once 20 of its
// requests have finished and its error ratio exceeds the bound; an error
// ratio equal to it goes on, and a step with fewer requests is judged when
// it ends.
func TestErrorRatioStopDuringStep(t *testing.T) {
	// half fail, bound 0.5: never above it
	res := run(Options{Mode: ModeRate, Rates: []float64{100}, Duration: 700 * time.Millisecond, StopErrorRatio: 0.5}, &alternating{})
	if s := res.Steps[0]; s.Stopped != "" || res.StopReason != "" || s.Summary.Requests < 60 {
		t.Errorf("error ratio 0.5 at a 0.5 bound: stopped %q, stop reason %q after %d requests", s.Stopped, res.StopReason, s.Summary.Requests)
	}
	// half fail, bound 0.3, 10 requests over 250 ms: too few to stop the
	// step; the run stops after it
	res = run(Options{Mode: ModeRate, Rates: []float64{40, 40}, NumRequests: 10, StopErrorRatio: 0.3}, &alternating{})
	if len(res.Steps) != 1 || res.Steps[0].Stopped != "" || res.Steps[0].Summary.Requests != 10 ||
		!strings.Contains(res.StopReason, "step 1 error ratio 0.500 exceeded stop_error_ratio 0.300") {
		t.Errorf("10 requests, half failed, bound 0.3: %d steps, stopped %q, stop reason %q", len(res.Steps), res.Steps[0].Stopped, res.StopReason)
	}
	// half fail, bound 0.3, 100 requests: stopped during the step, the
	// reason giving the ratio seen
	res = run(Options{Mode: ModeRate, Rates: []float64{100}, NumRequests: 100, StopErrorRatio: 0.3}, &alternating{})
	var ratio float64
	var step, n int
	s := res.Steps[0]
	if _, err := fmt.Sscanf(s.Stopped, "step %d error ratio %f exceeded stop_error_ratio 0.300 after %d requests", &step, &ratio, &n); err != nil ||
		step != 1 || ratio < 0.45 || ratio > 0.5 || n < 20 || s.Summary.Requests >= 100 {
		t.Errorf("100 requests, half failed, bound 0.3: stopped %q (%v) after %d", s.Stopped, err, s.Summary.Requests)
	}
	// dropped arrivals are failures of the step, counted with its requests
	res = run(Options{Mode: ModeRate, Rates: []float64{200}, NumRequests: 200, MaxInFlight: 1, StopErrorRatio: 0.5},
		&fakeSender{latency: 100 * time.Millisecond})
	if s := res.Steps[0]; !strings.Contains(s.Stopped, "exceeded stop_error_ratio 0.500 after") || s.Summary.Requests+s.Summary.Dropped >= 200 {
		t.Errorf("most arrivals dropped: stopped %q after %d requests and %d drops", s.Stopped, s.Summary.Requests, s.Summary.Dropped)
	}
	// exactly 20 finished (the 21st still running): enough to stop
	res = run(Options{Mode: ModeRate, Rates: []float64{100}, NumRequests: 21, StopErrorRatio: 0.3}, &alternating{slowAt: 21})
	if s := res.Steps[0]; !strings.Contains(s.Stopped, "after 20 requests") {
		t.Errorf("20 finished, half failed, bound 0.3: stopped %q, want a stop after 20 requests", s.Stopped)
	}
}

// TestSampleGPUNeedsAnInterval protects bench's and soaks'
// --gpu-sample-interval 0 ("off"): no sampling, no timeline.
func TestSampleGPUNeedsAnInterval(t *testing.T) {
	g := &countingGPU{}
	if tl := SampleGPU(g, 0)(); tl != nil || g.n.Load() != 0 {
		t.Errorf("interval 0: timeline %v after %d samples, want none", tl, g.n.Load())
	}
	if tl := SampleGPU(g, -time.Second)(); tl != nil || g.n.Load() != 0 {
		t.Errorf("negative interval: timeline %v after %d samples, want none", tl, g.n.Load())
	}
}
