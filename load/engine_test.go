package load

import (
	"context"
	"math"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/probe"
)

// ksExponential returns the Kolmogorov-Smirnov statistic of samples
// against the exponential distribution with the given rate.
func ksExponential(samples []float64, rate float64) float64 {
	x := slices.Clone(samples)
	slices.Sort(x)
	n := float64(len(x))
	d := 0.0
	for i, v := range x {
		f := 1 - math.Exp(-rate*v)
		d = max(d, math.Abs(float64(i+1)/n-f), math.Abs(f-float64(i)/n))
	}
	return d
}

func TestPoissonArrivalsAreExponential(t *testing.T) {
	const rate = 1000.0
	for _, seed := range []int64{1, 2} {
		res := run(Options{Mode: ModeRate, Arrival: ArrivalPoisson, Rates: []float64{rate},
			Duration: time.Second, Seed: seed, KeepRecords: true}, &fakeSender{})
		recs := measured(res.Records)
		slices.SortFunc(recs, func(a, b *probe.Record) int { return a.Scheduled.Compare(b.Scheduled) })
		var gaps []float64
		for i := 1; i < len(recs); i++ {
			gaps = append(gaps, recs[i].Scheduled.Sub(recs[i-1].Scheduled).Seconds())
		}
		n := float64(len(gaps))
		if n < 800 || n > 1200 {
			t.Fatalf("seed %d: %v arrivals in 1s at %v/s", seed, n, rate)
		}
		// Critical value at alpha = 0.01.
		d, crit := ksExponential(gaps, rate), 1.63/math.Sqrt(n)
		if d > crit {
			t.Errorf("seed %d: KS statistic %.4f > %.4f: inter-arrival times are not exponential", seed, d, crit)
		}
		// and they are not constant spacing either
		if constant := ksExponential(slices.Repeat([]float64{1 / rate}, int(n)), rate); constant < crit {
			t.Fatalf("KS test cannot tell constant spacing apart (%.4f)", constant)
		}
		var mean float64
		for _, g := range gaps {
			mean += g / n
		}
		if math.Abs(mean*rate-1) > 0.1 {
			t.Errorf("seed %d: mean gap %.5fs, want about %.5fs", seed, mean, 1/rate)
		}
	}
}

func TestPoissonRepeatable(t *testing.T) {
	sched := func() []time.Duration {
		res := run(Options{Mode: ModeRate, Arrival: ArrivalPoisson, Rates: []float64{200},
			Duration: 200 * time.Millisecond, Seed: 7, KeepRecords: true}, &fakeSender{})
		recs := res.Records
		slices.SortFunc(recs, func(a, b *probe.Record) int { return a.Scheduled.Compare(b.Scheduled) })
		var out []time.Duration
		for i := 1; i < len(recs); i++ {
			out = append(out, recs[i].Scheduled.Sub(recs[i-1].Scheduled))
		}
		return out
	}
	a, b := sched(), sched()
	if !slices.Equal(a, b) {
		t.Fatalf("same seed, different schedules:\n%v\n%v", a, b)
	}
}

func TestConstantRateCount(t *testing.T) {
	for _, tc := range []struct {
		rate     float64
		duration time.Duration
		warmup   time.Duration
	}{
		{100, time.Second, 0},
		{50, time.Second, 300 * time.Millisecond},
		{7, 500 * time.Millisecond, 0},
	} {
		// A loaded test machine wakes timers late; lag is tested elsewhere.
		res := run(Options{Mode: ModeRate, Rates: []float64{tc.rate}, Duration: tc.duration, Warmup: tc.warmup,
			LagThreshold: time.Second, KeepRecords: true}, &fakeSender{latency: 5 * time.Millisecond})
		want := tc.rate * tc.duration.Seconds()
		got := float64(res.Summary.Requests)
		if math.Abs(got-want) > 1 {
			t.Errorf("rate %v for %v: %v measured requests, want %v ± 1", tc.rate, tc.duration, got, want)
		}
		if n := len(measured(res.Records)); int64(n) != res.Summary.Requests {
			t.Errorf("records %d != summary %d", n, res.Summary.Requests)
		}
		if tc.warmup > 0 {
			warm := len(res.Records) - len(measured(res.Records))
			if w := tc.rate * tc.warmup.Seconds(); math.Abs(float64(warm)-w) > 1 {
				t.Errorf("%d warmup requests, want %v ± 1", warm, w)
			}
		}
		st := res.Steps[0]
		if math.Abs(st.WindowS-tc.duration.Seconds()) > 0.05 {
			t.Errorf("window %.3fs, want %v", st.WindowS, tc.duration)
		}
		if res.Status != StatusCompleted || res.ClientBottleneck {
			t.Errorf("status %s, bottleneck %v (%s)", res.Status, res.ClientBottleneck, res.ClientNote)
		}
	}
}

// Each request starts at its scheduled time whatever earlier ones do: slow
// requests pile up in flight instead of delaying the next arrivals.
func TestNoCoordinatedOmission(t *testing.T) {
	res := run(Options{Mode: ModeRate, Rates: []float64{50}, Duration: time.Second, KeepRecords: true},
		&fakeSender{latency: 300 * time.Millisecond})
	s := res.Summary
	if s.Requests < 49 || s.Requests > 51 {
		t.Fatalf("%d requests, want 50", s.Requests)
	}
	// Had arrivals waited for earlier requests, the 50th would start about
	// 15 s late (50 × 300 ms); tolerate a loaded machine's late timers.
	if s.ScheduleLag.P50 > 50 || s.ScheduleLag.Max > 250 {
		t.Errorf("schedule lag p50 %.2f ms, max %.2f ms: arrivals waited for earlier requests", s.ScheduleLag.P50, s.ScheduleLag.Max)
	}
	if s.PeakConcurrent < 14 || s.PeakConcurrent > 17 {
		t.Errorf("peak concurrency %d, want about 15 (50/s × 0.3 s)", s.PeakConcurrent)
	}
	for _, r := range res.Records {
		if r.Scheduled.IsZero() || r.Phase != DefaultPhase {
			t.Fatalf("record without schedule or phase: %+v", r)
		}
	}
}

func TestDroppedArrivals(t *testing.T) {
	var dropped atomic.Int64
	r, err := New(&fakeSender{latency: 400 * time.Millisecond}, fixedRequests{},
		Options{Mode: ModeRate, Rates: []float64{100}, Duration: 500 * time.Millisecond, MaxInFlight: 5, StopErrorRatio: 1},
		Hooks{Dropped: func() { dropped.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	res := r.Run(context.Background())
	s := res.Summary
	if s.Dropped == 0 || s.Dropped != dropped.Load() {
		t.Fatalf("dropped %d, hook saw %d", s.Dropped, dropped.Load())
	}
	if s.PeakConcurrent > 5 {
		t.Errorf("peak concurrency %d beyond max_in_flight 5", s.PeakConcurrent)
	}
	if s.Requests+s.Dropped < 49 || s.Requests+s.Dropped > 51 {
		t.Errorf("%d arrivals, want 50", s.Requests+s.Dropped)
	}
	if s.Failed != s.Dropped || s.Errors[ResultDropped] != s.Dropped {
		t.Errorf("dropped arrivals must be failures: %+v", s)
	}
	if want := float64(s.Dropped) / float64(s.Requests+s.Dropped); math.Abs(s.ErrorRatio-want) > 1e-9 {
		t.Errorf("error ratio %v, want %v", s.ErrorRatio, want)
	}
	if !res.Steps[0].Summary.hasDropped() {
		t.Error("step summary lost the drops")
	}
}

func (s *Summary) hasDropped() bool { return s.Dropped > 0 }

func TestThroughputVirtualUsers(t *testing.T) {
	res := run(Options{Mode: ModeThroughput, VUs: 4, Duration: time.Second, Warmup: 200 * time.Millisecond, KeepRecords: true},
		&fakeSender{latency: 50 * time.Millisecond, tokens: 5})
	s := res.Summary
	if s.PeakConcurrent != 4 {
		t.Errorf("peak concurrency %d, want 4", s.PeakConcurrent)
	}
	// 4 users × 20 requests/s each
	if s.Requests < 70 || s.Requests > 85 {
		t.Errorf("%d requests, want about 80", s.Requests)
	}
	if a := res.Steps[0].AchievedRate; a < 70 || a > 85 {
		t.Errorf("achieved %.1f req/s, want about 80", a)
	}
	if s.OutputTokens != 5*s.Successful {
		t.Errorf("output tokens %d", s.OutputTokens)
	}
	warm := len(res.Records) - len(measured(res.Records))
	if warm < 12 || warm > 20 {
		t.Errorf("%d warmup requests, want about 16", warm)
	}
	for _, r := range res.Records {
		if !r.Scheduled.IsZero() {
			t.Fatal("closed-loop record with a schedule")
		}
	}
}

func TestThroughputNumRequests(t *testing.T) {
	sender := &fakeSender{latency: 5 * time.Millisecond}
	res := run(Options{Mode: ModeThroughput, VUs: 3, NumRequests: 20}, sender)
	if res.Summary.Requests != 20 || sender.calls.Load() != 20 {
		t.Fatalf("%d requests (%d sent), want 20", res.Summary.Requests, sender.calls.Load())
	}
}

func TestDrainCut(t *testing.T) {
	res := run(Options{Mode: ModeRate, Rates: []float64{20}, Duration: 200 * time.Millisecond, Drain: 300 * time.Millisecond},
		&fakeSender{latency: 5 * time.Second})
	s := res.Summary
	if s.Requests != 4 || s.Cut != 4 || s.Failed != 4 || s.Errors[string(probe.ResultCanceled)] != 4 {
		t.Fatalf("want 4 requests cut and failed, got %+v", s)
	}
	st := res.Steps[0]
	if st.DrainS < 0.25 || st.DrainS > 0.6 {
		t.Errorf("drain %.3fs, want about the 0.3s bound", st.DrainS)
	}
	if res.Status != StatusCompleted {
		t.Errorf("status %s", res.Status)
	}
}

func TestDrainCounts(t *testing.T) {
	res := run(Options{Mode: ModeRate, Rates: []float64{20}, Duration: 200 * time.Millisecond},
		&fakeSender{latency: 300 * time.Millisecond})
	s := res.Summary
	if s.Successful != 4 || s.Failed != 0 {
		t.Fatalf("drained requests must count: %+v", s)
	}
	st := res.Steps[0]
	// the last arrival (at 150 ms) ends at 450 ms: 250 ms after the window
	if st.DrainS < 0.2 || st.DrainS > 0.4 {
		t.Errorf("drain %.3fs, want about 0.25s", st.DrainS)
	}
	if d := s.DurationSeconds; d < 0.4 || d > 0.6 {
		t.Errorf("duration %.3fs, want window + drain, about 0.45s", d)
	}
}

func TestInterrupt(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var interrupted atomic.Int64
	r, err := New(&fakeSender{latency: time.Second}, fixedRequests{},
		Options{Mode: ModeRate, Rates: []float64{20}, Duration: 10 * time.Second},
		Hooks{Record: func(_ *probe.Record, in bool) {
			if in {
				interrupted.Add(1)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	res := r.Run(ctx)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("interrupt took %v", took)
	}
	if res.Status != StatusInterrupted {
		t.Errorf("status %s", res.Status)
	}
	s := res.Summary
	if s.Interrupted == 0 || s.Interrupted != interrupted.Load() || s.Failed != 0 {
		t.Errorf("interrupted requests must not be failures: %+v (hook %d)", s, interrupted.Load())
	}
}

func TestStopIsGraceful(t *testing.T) {
	r, err := New(&fakeSender{latency: 200 * time.Millisecond}, fixedRequests{},
		Options{Mode: ModeThroughput, VUs: 2, Duration: 10 * time.Second}, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(300*time.Millisecond, r.Stop)
	res := r.Run(context.Background())
	if res.Status != StatusInterrupted {
		t.Errorf("status %s", res.Status)
	}
	if s := res.Summary; s.Failed != 0 || s.Interrupted != 0 || s.Successful < 2 {
		t.Errorf("requests in flight at Stop should finish: %+v", s)
	}
}

func TestStopOnErrors(t *testing.T) {
	sender := &fakeSender{latency: time.Millisecond, result: probe.ResultHTTP5xx}
	res := run(Options{Mode: ModeRate, Rates: []float64{200, 400}, Duration: 5 * time.Second}, sender)
	if res.StopReason == "" || len(res.Steps) != 1 || res.Steps[0].Stopped == "" {
		t.Fatalf("a failing server must stop the run: reason %q, %d steps", res.StopReason, len(res.Steps))
	}
	if n := sender.calls.Load(); n > 150 {
		t.Errorf("%d requests sent to a failing server", n)
	}
	if res.Steps[0].WindowS > 1.5 {
		t.Errorf("step ran %.1fs", res.Steps[0].WindowS)
	}
}

func TestOptionsValidation(t *testing.T) {
	for _, o := range []Options{
		{Mode: "burst", Duration: time.Second},
		{Mode: ModeRate, Duration: time.Second},
		{Mode: ModeRate, Rates: []float64{-1}, Duration: time.Second},
		{Mode: ModeThroughput, Duration: time.Second},
		{Mode: ModeThroughput, VUs: 10, MaxInFlight: 5, Duration: time.Second},
		{Mode: ModeSweep, NumRates: 51, Duration: time.Second},
		{Mode: ModeSweep},
		{Mode: ModeRate, Rates: []float64{1}},
		{Mode: ModeRate, Rates: []float64{1}, Duration: time.Second, Arrival: "bursty"},
	} {
		if _, err := New(&fakeSender{}, fixedRequests{}, o, Hooks{}); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}
