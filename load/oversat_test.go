package load

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/probe"
	"github.com/llmprobe/llmprobe/sim"
)

// queueRecords simulates a server with slots decode slots and a FIFO queue
// offered rate requests/s for window: each request starts on schedule, gets
// the first free slot, sends its first token ttft later and ends service
// after it got the slot.
func queueRecords(start time.Time, rate float64, window time.Duration, slots int, ttft, service time.Duration) []*probe.Record {
	free := make([]time.Time, slots) // when each slot frees up
	for i := range free {
		free[i] = start
	}
	var recs []*probe.Record
	for i := 0; ; i++ {
		at := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		if !at.Before(start.Add(window)) {
			return recs
		}
		k := 0
		for j := range free {
			if free[j].Before(free[k]) {
				k = j
			}
		}
		slot := at
		if free[k].After(at) {
			slot = free[k]
		}
		free[k] = slot.Add(service)
		recs = append(recs, &probe.Record{Start: at, Scheduled: at, FirstToken: slot.Add(ttft), End: slot.Add(service), Result: probe.ResultSuccess})
	}
}

func judgeRecords(recs []*probe.Record, start time.Time, window time.Duration) *Saturation {
	t := newSaturationTest(start, window, 1)
	for _, r := range recs {
		t.add(r)
	}
	return t.result()
}

// A server offered more than it serves queues the excess: requests in
// flight and TTFT grow through the step. Offered less, both stay level, even
// at 95 % of capacity.
func TestSaturationOnQueueRecords(t *testing.T) {
	const slots = 8
	service, ttft := 650*time.Millisecond, 20*time.Millisecond
	capacity := slots / service.Seconds() // 12.3 req/s
	start := time.Unix(1000, 0)
	for _, tc := range []struct {
		load   float64
		window time.Duration
		want   bool
	}{
		{0.5, 60 * time.Second, false},
		{0.95, 60 * time.Second, false},
		{0.95, 3 * time.Second, false},
		{1.1, 60 * time.Second, true},
		{1.3, 3 * time.Second, true}, // a scaled-down step: 10 windows of 0.3 s
		{2, 120 * time.Second, true},
	} {
		recs := queueRecords(start, tc.load*capacity, tc.window, slots, ttft, service)
		s := judgeRecords(recs, start, tc.window)
		if s.OverSaturated != tc.want {
			t.Errorf("%.0f%% of capacity for %s: over-saturated %v, want %v: %s", 100*tc.load, tc.window, s.OverSaturated, tc.want, s.Why)
		}
		if s.Windows+s.RampWindows != saturationWindows(tc.window) || s.RampWindows < 1 || s.Windows < SaturationMinWindows/2 {
			t.Errorf("%s: %d windows after %d of ramp", tc.window, s.Windows, s.RampWindows)
		}
		if !strings.Contains(s.Why, "requests in flight") {
			t.Errorf("the finding gives no numbers: %s", s.Why)
		}
	}
}

// The thresholds, each on both sides: a rise with confidence counts only
// from SaturationMinRise of the start level and SaturationMinQueue requests,
// and both series must rise.
func TestJudgeSaturationBoundaries(t *testing.T) {
	const n = 20
	span := float64(n) // windows of 1 s
	line := func(start, rise float64) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = start + rise*(float64(i)+0.5)/span
		}
		return v
	}
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = float64(i) + 0.5
	}
	for _, tc := range []struct {
		name         string
		inflight     []float64
		ttft         []float64
		want         bool
		wantInRising bool
	}{
		{"both rise 30 %", line(10, 3), line(100, 30), true, true},
		{"both rise 20 %", line(10, 2), line(100, 20), false, false},
		{"in flight 30 %, TTFT 20 %", line(10, 3), line(100, 20), false, true},
		{"in flight 20 %, TTFT 30 %", line(10, 2), line(100, 30), false, false},
		{"in flight flat, TTFT doubles", line(10, 0), line(100, 100), false, false},
		{"in flight doubles, TTFT flat", line(10, 10), line(100, 0), false, true},
		// 4 requests in flight growing by 0.9: 22 % but under one request
		{"queue under one request", line(2, 0.9), line(100, 100), false, false},
		{"queue of 1.1 requests", line(4, 1.1), line(100, 100), true, true},
		{"falling", line(10, -5), line(100, -50), false, false},
	} {
		s := judgeSaturation(xs, tc.inflight, tc.ttft, span)
		if s.OverSaturated != tc.want {
			t.Errorf("%s: over-saturated %v, want %v: %s", tc.name, s.OverSaturated, tc.want, s.Why)
		}
		if got := strings.Contains(s.Why, "requests in flight rose"); !tc.want && got != (tc.wantInRising && !s.OverSaturated) {
			t.Errorf("%s: the finding does not say which series rose: %s", tc.name, s.Why)
		}
	}
}

// Noise around a level is not a trend, and a step with too few points says
// so without an infinite interval (JSON cannot hold one).
func TestJudgeSaturationNoiseAndTooFewPoints(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	flagged := 0
	for range 200 {
		var xs, in, lat []float64
		for i := range 20 {
			xs = append(xs, float64(i)+0.5)
			in = append(in, 8+rng.NormFloat64())
			lat = append(lat, 100+10*rng.NormFloat64())
		}
		if judgeSaturation(xs, in, lat, 20).OverSaturated {
			flagged++
		}
	}
	if flagged > 0 {
		t.Errorf("level noise flagged over-saturated in %d of 200 trials", flagged)
	}
	s := judgeSaturation([]float64{0.5, 1.5}, []float64{1, 5}, []float64{10, 50}, 2)
	if s.OverSaturated {
		t.Errorf("two windows flagged: %s", s.Why)
	}
	if _, err := json.Marshal(s); err != nil {
		t.Errorf("a finding on two windows cannot be stored: %v", err)
	}
}

// Windows without a started request have no latency; a request that
// started before the step (warmup spilling over) counts only for its time
// in flight inside the step.
func TestSaturationTestWindows(t *testing.T) {
	start := time.Unix(0, 0)
	st := newSaturationTest(start, 10*time.Second, 1) // 10 windows of 1 s
	st.add(&probe.Record{Start: start.Add(-500 * time.Millisecond), End: start.Add(1500 * time.Millisecond), Result: probe.ResultSuccess, FirstToken: start})
	st.add(&probe.Record{Start: start.Add(2 * time.Second), FirstToken: start.Add(2100 * time.Millisecond), End: start.Add(4 * time.Second), Result: probe.ResultSuccess})
	st.add(&probe.Record{Start: start.Add(2 * time.Second), End: start.Add(2500 * time.Millisecond), Result: probe.ResultHTTP5xx})
	xs, in, lat := st.series()
	wantIn := []float64{1, 0.5, 1.5, 1, 0, 0, 0, 0, 0, 0}
	for i := range wantIn {
		if math.Abs(in[i]-wantIn[i]) > 1e-9 {
			t.Errorf("window %d: %.3f in flight, want %.3f", i, in[i], wantIn[i])
		}
	}
	if xs[0] != 0.5 || xs[9] != 9.5 {
		t.Errorf("window middles %v", xs)
	}
	if !math.IsNaN(lat[0]) || lat[2] != 100 || !math.IsNaN(lat[3]) {
		t.Errorf("latencies %v: want NaN where no successful request started, 100 ms in window 2", lat)
	}
}

// Against the simulator with a known capacity, the sweep stops at the first
// rate the test flags, which lies past the capacity, and no rate below it
// is flagged.
func TestSweepStopsAtOverSaturation(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a sweep for about 15 s")
	}
	const (
		slots  = 8
		tokens = 20
		ttft   = 20 * time.Millisecond
		itl    = 10 * time.Millisecond
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, addr, err := sim.Listen(ctx, "127.0.0.1:0", sim.Config{TTFT: ttft, ITL: itl, OutputTokens: tokens, MaxConcurrency: slots, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	client := probe.NewClient(probe.Endpoint{Name: "sim", URL: "http://" + addr.String(), Model: sim.DefaultModel, Stream: true, Timeout: 30 * time.Second})
	defer client.CloseIdle()
	capacity := slots / (ttft + (tokens-1)*itl).Seconds()

	r, err := New(client, lengthRequests(tokens), Options{
		Mode: ModeSweep, MaxVUs: 2 * slots, NumRates: 10, Duration: 1500 * time.Millisecond,
		Target: "sim", Model: sim.DefaultModel, Seed: 1,
	}, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	res := r.Run(ctx)
	for _, s := range res.Steps {
		why := ""
		if s.Saturation != nil {
			why = s.Saturation.Why
		}
		t.Logf("step %d offered %6.2f achieved %6.2f TTFT p99 %6.1f ms over-saturated %v %s", s.Index, s.OfferedRate, s.AchievedRate, s.Summary.TTFT.P99, s.OverSaturated, why)
	}
	if res.SaturationRate == 0 {
		t.Fatalf("no step flagged over-saturated (stop: %s)", res.StopReason)
	}
	last := res.Steps[len(res.Steps)-1]
	if !last.OverSaturated || last.OfferedRate != res.SaturationRate || (last.Qualified != nil && *last.Qualified) {
		t.Errorf("the sweep did not stop at the flagged step: last %+v, saturation rate %.2f", last, res.SaturationRate)
	}
	if !strings.Contains(res.StopReason, "over-saturated") {
		t.Errorf("stop reason %q", res.StopReason)
	}
	if res.SaturationRate < capacity {
		t.Errorf("%.2f req/s flagged over-saturated, below the capacity %.2f req/s", res.SaturationRate, capacity)
	}
	for _, s := range res.Steps[1 : len(res.Steps)-1] {
		if s.OverSaturated || s.Saturation == nil {
			t.Errorf("step %d (%.2f req/s): over-saturated %v, finding %v", s.Index, s.OfferedRate, s.OverSaturated, s.Saturation)
		}
	}
	if res.DetectedMax == nil || math.Abs(res.DetectedMax.RequestsPerSecond/capacity-1) > 0.15 {
		t.Errorf("detected max %+v, capacity %.2f req/s", res.DetectedMax, capacity)
	}
}
