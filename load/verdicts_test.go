package load

import (
	"context"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/probe"
)

// TestQualifyThresholds protects the sweep's per-step verdict ("qualified",
// Step.Qualified and Step.Verdict), and so the detected max throughput and
// llmprobe_detected_max_throughput_requests_per_second: a step qualifies when
// achieved >= 95 % of its arrival rate, its error ratio is within
// slo.error_ratio (when set) and, with latency SLOs, at least 95 % (or the
// configured share) of its successful requests met them. Each threshold is
// tried just above, at and just below.
func TestQualifyThresholds(t *testing.T) {
	slo := probe.SLO{TTFT: time.Second}
	for _, tc := range []struct {
		name       string
		errRatio   float64   // Options.ErrorRatio
		slo        probe.SLO // Options.SLO
		attainment float64   // Options.SLOAttainment (0: default 0.95)
		arrival    float64
		achieved   float64
		stepErrs   float64 // the step's Summary.ErrorRatio
		stepSLO    float64 // the step's Summary.SLOAttainment
		want       bool
		verdict    string // part of the verdict when not qualified
	}{
		{name: "achieved 95.05% of offered", arrival: 20, achieved: 19.01, want: true},
		{name: "achieved exactly 95% of offered", arrival: 20, achieved: 19, want: true},
		{name: "achieved 94.95% of offered", arrival: 20, achieved: 18.99, verdict: "< 95% of the 20.00 req/s offered"},
		{name: "achieved 90% of offered", arrival: 100, achieved: 90, verdict: "achieved 90.00 req/s"},
		{name: "achieved more than offered", arrival: 10, achieved: 12, want: true},
		{name: "nothing achieved", arrival: 10, achieved: 0, verdict: "achieved 0.00"},

		{name: "error ratio below the bound", errRatio: 0.05, arrival: 10, achieved: 10, stepErrs: 0.0499, want: true},
		{name: "error ratio at the bound", errRatio: 0.05, arrival: 10, achieved: 10, stepErrs: 0.05, want: true},
		{name: "error ratio above the bound", errRatio: 0.05, arrival: 10, achieved: 10, stepErrs: 0.0501, verdict: "error ratio 0.050 > 0.050"},
		{name: "error ratio unchecked without slo.error_ratio", arrival: 10, achieved: 10, stepErrs: 0.4, want: true},

		{name: "SLO attainment above 95%", slo: slo, arrival: 10, achieved: 10, stepSLO: 0.951, want: true},
		{name: "SLO attainment at 95%", slo: slo, arrival: 10, achieved: 10, stepSLO: 0.95, want: true},
		{name: "SLO attainment below 95%", slo: slo, arrival: 10, achieved: 10, stepSLO: 0.949, verdict: "94.9% of requests met the SLO, < 95%"},
		{name: "SLO attainment unchecked without an SLO", arrival: 10, achieved: 10, stepSLO: 0, want: true},
		{name: "configured attainment 99%: 98.9% fails", slo: slo, attainment: 0.99, arrival: 10, achieved: 10, stepSLO: 0.989, verdict: "< 99%"},
		{name: "configured attainment 99%: 99% passes", slo: slo, attainment: 0.99, arrival: 10, achieved: 10, stepSLO: 0.99, want: true},

		// the first failed condition is the one the verdict names
		{name: "slow and failing: the rate is named", errRatio: 0.01, arrival: 10, achieved: 5, stepErrs: 0.5, verdict: "achieved 5.00"},
		{name: "failing and missing the SLO: errors are named", errRatio: 0.01, slo: slo, arrival: 10, achieved: 10, stepErrs: 0.5, stepSLO: 0.1, verdict: "error ratio 0.500"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New(&fakeSender{}, fixedRequests{}, Options{
				Mode: ModeSweep, Duration: time.Second, ErrorRatio: tc.errRatio, SLO: tc.slo, SLOAttainment: tc.attainment,
			}, Hooks{})
			if err != nil {
				t.Fatal(err)
			}
			s := &Step{ArrivalRate: tc.arrival, AchievedRate: tc.achieved,
				Summary: Summary{ErrorRatio: tc.stepErrs, SLOAttainment: tc.stepSLO}}
			r.qualify(s)
			if s.Qualified == nil {
				t.Fatal("qualify left Qualified unset")
			}
			if *s.Qualified != tc.want {
				t.Fatalf("qualified = %v, want %v (verdict %q)", *s.Qualified, tc.want, s.Verdict)
			}
			if tc.want && s.Verdict != "" {
				t.Errorf("qualified step has verdict %q", s.Verdict)
			}
			if !tc.want && !strings.Contains(s.Verdict, tc.verdict) {
				t.Errorf("verdict %q, want it to say %q", s.Verdict, tc.verdict)
			}
		})
	}
}

// TestSweepDetectedMaxIsHighestQualifyingRate protects the sweep's detected
// max throughput (Result.DetectedMax and both
// llmprobe_detected_max_throughput_* gauges): the rate steps are
// i × 1.2 × the throughput phase's rate / num_rates, the detected max is the
// highest offered rate among the qualifying steps (not the first, not the
// last run) and its output tokens/s is that step's achieved rate × its mean
// output tokens per request.
func TestSweepDetectedMaxIsHighestQualifyingRate(t *testing.T) {
	const tokens = 4
	r, err := New(&fakeSender{latency: 20 * time.Millisecond, tokens: tokens}, fixedRequests{},
		Options{Mode: ModeSweep, MaxVUs: 1, NumRates: 3, Duration: 600 * time.Millisecond, Seed: 1}, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	res := r.Run(context.Background())
	if p := r.Progress(); p.Steps != 4 {
		t.Errorf("progress shows %d steps, want the throughput phase and 3 rates", p.Steps)
	}
	if res.MaxThroughput == nil || len(res.Steps) != 4 || res.StopReason != "" {
		t.Fatalf("sweep ended early (%s): %d steps, want the throughput phase and 3 rates", res.StopReason, len(res.Steps))
	}
	s0 := res.Steps[0]
	if s0.Index != 0 || s0.Kind != StepThroughput || s0.Qualified != nil {
		t.Fatalf("step 0 is %+v, want the unjudged throughput phase", s0)
	}
	if got, want := res.MaxThroughput.RequestsPerSecond, s0.AchievedRate; got != want {
		t.Errorf("max throughput %v req/s, want step 0's achieved rate %v", got, want)
	}
	if got, want := res.MaxThroughput.OutputTokensPerSecond, s0.AchievedRate*tokens; !near(got, want) {
		t.Errorf("max throughput %v tokens/s, want %v", got, want)
	}
	var best *Step
	qualified := 0
	for i := range res.Steps[1:] {
		s := &res.Steps[i+1]
		if want := s0.AchievedRate * SweepHeadroom * float64(s.Index) / 3; !near(s.OfferedRate, want) {
			t.Errorf("step %d offered %v req/s, want %v", s.Index, s.OfferedRate, want)
		}
		if s.Qualified == nil {
			t.Fatalf("step %d was not judged", s.Index)
		}
		t.Logf("step %d offered %.2f achieved %.2f qualified %v %s", s.Index, s.OfferedRate, s.AchievedRate, *s.Qualified, s.Verdict)
		if *s.Qualified {
			qualified++
			if best == nil || s.OfferedRate > best.OfferedRate {
				best = s
			}
		}
	}
	if qualified < 2 {
		t.Fatalf("%d steps qualified against a fast fake server; the test needs two", qualified)
	}
	d := res.DetectedMax
	if d == nil {
		t.Fatal("no detected max")
	}
	if d.Step != best.Index || d.RequestsPerSecond != best.OfferedRate || d.AchievedRequestsPerSec != best.AchievedRate {
		t.Errorf("detected max %+v, want step %d at %v req/s (achieved %v)", *d, best.Index, best.OfferedRate, best.AchievedRate)
	}
	if want := best.AchievedRate * tokens; !near(d.OutputTokensPerSecond, want) {
		t.Errorf("detected max %v output tokens/s, want achieved × mean output tokens = %v", d.OutputTokensPerSecond, want)
	}
	if !res.Passed {
		t.Errorf("a sweep that found a max did not pass: %+v", res)
	}
}

// lagRun runs a short constant-rate run whose every request starts exactly
// lag after its scheduled time (the Record hook sees each record before the
// summary does, and shifts it), so the schedule lag p99 is exactly lag.
func lagRun(t *testing.T, lag, threshold time.Duration) *Result {
	t.Helper()
	r, err := New(&fakeSender{tokens: 2}, fixedRequests{}, Options{
		Mode: ModeRate, Rates: []float64{500}, NumRequests: 10, LagThreshold: threshold,
	}, Hooks{Record: func(rec *probe.Record, _ bool) {
		shift := rec.Scheduled.Add(lag).Sub(rec.Start)
		rec.Start = rec.Start.Add(shift)
		rec.FirstToken = rec.FirstToken.Add(shift)
		rec.End = rec.End.Add(shift)
	}})
	if err != nil {
		t.Fatal(err)
	}
	return r.Run(context.Background())
}

// TestClientBottleneckAtLagThreshold protects the result's client_bottleneck
// flag (and its note): set when the schedule lag p99 exceeds the lag
// threshold (10 ms by default), not when it equals it.
func TestClientBottleneckAtLagThreshold(t *testing.T) {
	for _, tc := range []struct {
		name      string
		lag       time.Duration
		threshold time.Duration
		want      bool
	}{
		{"default threshold, lag 9.9 ms", 9900 * time.Microsecond, 0, false},
		{"default threshold, lag exactly 10 ms", 10 * time.Millisecond, 0, false},
		{"default threshold, lag 10.1 ms", 10100 * time.Microsecond, 0, true},
		{"threshold 2 ms, lag 2 ms", 2 * time.Millisecond, 2 * time.Millisecond, false},
		{"threshold 2 ms, lag 2.1 ms", 2100 * time.Microsecond, 2 * time.Millisecond, true},
		{"threshold 50 ms, lag 40 ms", 40 * time.Millisecond, 50 * time.Millisecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := lagRun(t, tc.lag, tc.threshold)
			lag := res.Summary.ScheduleLag
			if lag.Count != 10 || math.Abs(lag.P99-ms(tc.lag)) > 1e-9 {
				t.Fatalf("schedule lag %+v, want 10 samples of %v ms", lag, ms(tc.lag))
			}
			if res.ClientBottleneck != tc.want {
				t.Errorf("client_bottleneck = %v, want %v (lag p99 %v ms)", res.ClientBottleneck, tc.want, lag.P99)
			}
			if tc.want != (res.ClientNote != "") {
				t.Errorf("client note %q with client_bottleneck %v", res.ClientNote, res.ClientBottleneck)
			}
			if tc.want && !strings.Contains(res.ClientNote, "exceeded") {
				t.Errorf("client note %q", res.ClientNote)
			}
		})
	}
}

// slowingSender answers after its current latency, which a test may change
// while a run goes on.
type slowingSender struct{ latency atomic.Int64 }

func (s *slowingSender) Do(ctx context.Context, req probe.Request) *probe.Record {
	return (&fakeSender{latency: time.Duration(s.latency.Load()), tokens: 2}).Do(ctx, req)
}

// TestSweepStops protects how far a sweep goes (its steps, stop_reason,
// and so what the detected max can be): it stops after two rate steps in a
// row that do not qualify — unless they are its last two, which end it
// anyway —, and after a step whose median latency exceeds 10 times the
// first rate step's; a throughput phase that completed too few requests to
// give a rate ends it before any rate step.
func TestSweepStops(t *testing.T) {
	t.Run("two steps in a row fail to qualify", func(t *testing.T) {
		t.Parallel()
		res := run(Options{Mode: ModeSweep, MaxVUs: 1, NumRates: 3, Duration: 200 * time.Millisecond, SLO: probe.SLO{TTFT: time.Microsecond}},
			&fakeSender{latency: 10 * time.Millisecond})
		if len(res.Steps) != 3 || !strings.Contains(res.StopReason, "steps 1 and 2 both failed to qualify") || res.DetectedMax != nil || res.Passed {
			t.Errorf("%d steps, stop reason %q, detected max %v, passed %v; want 3 steps, stopped after steps 1 and 2",
				len(res.Steps), res.StopReason, res.DetectedMax, res.Passed)
		}
	})
	t.Run("the last two steps fail to qualify", func(t *testing.T) {
		t.Parallel()
		res := run(Options{Mode: ModeSweep, MaxVUs: 1, NumRates: 2, Duration: 200 * time.Millisecond, SLO: probe.SLO{TTFT: time.Microsecond}},
			&fakeSender{latency: 10 * time.Millisecond})
		if len(res.Steps) != 3 || res.StopReason != "" {
			t.Errorf("%d steps, stop reason %q; want all 3 steps and no stop reason", len(res.Steps), res.StopReason)
		}
	})
	t.Run("latency past 10 times the first step's", func(t *testing.T) {
		t.Parallel()
		s := &slowingSender{}
		s.latency.Store(int64(10 * time.Millisecond))
		r, err := New(s, fixedRequests{}, Options{Mode: ModeSweep, MaxVUs: 1, NumRates: 4, Duration: 300 * time.Millisecond},
			Hooks{Step: func(st *Step) {
				if st.Index == 1 {
					s.latency.Store(int64(150 * time.Millisecond))
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		res := r.Run(context.Background())
		if len(res.Steps) != 3 || !strings.Contains(res.StopReason, "step 2 median latency") {
			t.Errorf("%d steps, stop reason %q; want a stop after step 2 for its latency", len(res.Steps), res.StopReason)
		}
	})
	t.Run("throughput phase too short for a rate", func(t *testing.T) {
		t.Parallel()
		res := run(Options{Mode: ModeSweep, MaxVUs: 1, NumRates: 3, Duration: 100 * time.Millisecond}, &fakeSender{latency: 150 * time.Millisecond})
		if len(res.Steps) != 1 || !strings.Contains(res.StopReason, "too few requests") || res.MaxThroughput != nil {
			t.Errorf("%d steps, stop reason %q, max throughput %v; want only the throughput phase", len(res.Steps), res.StopReason, res.MaxThroughput)
		}
	})
}
