package load

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/probe"
)

// e2eRec is a successful request of one chunk whose end-to-end latency is
// e2e, starting at origin+start.
func e2eRec(origin time.Time, start, e2e time.Duration) *probe.Record {
	return rec(origin, start, e2e, 0, 1, nil)
}

// popStddev is numpy's std (population) of vs.
func popStddev(vs []float64) float64 {
	var sum float64
	for _, v := range vs {
		sum += v
	}
	mean := sum / float64(len(vs))
	var ss float64
	for _, v := range vs {
		ss += (v - mean) * (v - mean)
	}
	return math.Sqrt(ss / float64(len(vs)))
}

// TestRunSummaryMergesSteps protects the run summary of a multi-step run
// (rate runs with several rates, sweeps): it is the summary of all the
// steps' requests together, not an average of the steps' figures. Mean and
// standard deviation are those of the pooled values (with the
// between-steps term: two steps of small spread but different means make a
// run of large spread), percentiles, min and max are the pooled ones, and
// every count adds up.
func TestRunSummaryMergesSteps(t *testing.T) {
	origin := time.Unix(5000, 0)
	slo := probe.SLO{E2E: 150 * time.Millisecond}
	step1 := newAggregator(slo, origin, 1)
	step2 := newAggregator(slo, origin, 2)
	empty := newAggregator(slo, origin, 3) // a step where everything failed
	var all []float64
	// step 1: 100, 110, 120 ms; step 2: 300, 310 ms, so the spread is
	// mostly between the steps
	for i, ms := range []int{100, 110, 120} {
		step1.add(e2eRec(origin, time.Duration(i)*time.Second, time.Duration(ms)*time.Millisecond), false, false)
		all = append(all, float64(ms))
	}
	for i, ms := range []int{300, 310} {
		r := e2eRec(origin, time.Duration(10+i)*time.Second, time.Duration(ms)*time.Millisecond)
		r.UsageReported = false
		r.ConnRetries = 2
		step2.add(r, false, false)
		all = append(all, float64(ms))
	}
	step2.add(&probe.Record{Start: origin, End: origin.Add(time.Millisecond), Result: probe.ResultHTTP5xx, Error: "boom"}, false, false)
	step2.addDropped(origin.Add(12 * time.Second))
	empty.add(&probe.Record{Start: origin, End: origin.Add(time.Millisecond), Result: probe.ResultCanceled}, false, true)
	empty.add(&probe.Record{Start: origin, End: origin.Add(time.Millisecond), Result: probe.ResultCanceled}, true, false)
	empty.add(&probe.Record{Start: origin, End: origin.Add(time.Millisecond), Result: probe.ResultTimeout, Error: "slow"}, false, false)

	runAgg := newAggregator(slo, origin, 9)
	runAgg.merge(empty) // an empty distribution first: min must not stick at 0
	runAgg.merge(step1)
	runAgg.merge(step2)
	s := runAgg.summary(10 * time.Second)

	mean := (100 + 110 + 120 + 300 + 310) / 5.0
	sd := popStddev(all) // about 95 ms; within the steps alone it is 8 and 5
	withinOnly := math.Sqrt((200 + 50) / 5.0)
	if math.Abs(sd-withinOnly) < 50 {
		t.Fatalf("test data does not separate the terms: %v vs %v", sd, withinOnly)
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"e2e count", float64(s.E2E.Count), 5},
		{"e2e mean", s.E2E.Mean, mean},
		{"e2e stddev (between-steps term included)", s.E2E.Stddev, sd},
		{"e2e min", s.E2E.Min, 100},
		{"e2e max", s.E2E.Max, 310},
		{"e2e p50", s.E2E.P50, 120},
		{"e2e p90", s.E2E.P90, 306},   // numpy: 300 + 0.6 × 10
		{"e2e p95", s.E2E.P95, 308},   // 300 + 0.8 × 10
		{"e2e p99", s.E2E.P99, 309.6}, // 300 + 0.96 × 10
		{"ttft count", float64(s.TTFT.Count), 5},
		{"ttft mean", s.TTFT.Mean, mean},
		{"requests", float64(s.Requests), 8}, // 5 + 5xx + cut + timeout; interrupted and dropped are apart
		{"successful", float64(s.Successful), 5},
		{"failed", float64(s.Failed), 4}, // 5xx, dropped, cut, timeout
		{"dropped", float64(s.Dropped), 1},
		{"cut", float64(s.Cut), 1},
		{"interrupted", float64(s.Interrupted), 1},
		{"error ratio", s.ErrorRatio, 4.0 / 9},
		{"good requests (e2e <= 150 ms)", float64(s.GoodRequests), 3},
		{"slo attainment", s.SLOAttainment, 3.0 / 5},
		{"goodput", s.Goodput, 0.3},
		{"output tokens", float64(s.OutputTokens), 5},
		{"input tokens", float64(s.InputTokens), 35},
		{"connection retries", float64(s.ConnectionRetries), 4},
		{"request throughput", s.RequestThroughput, 0.5},
		{"output len mean", s.OutputLen.Mean, 1},
		{"input len mean", s.InputLen.Mean, 7},
	} {
		if !near(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if !s.EstimatedOutputTokens {
		t.Error("estimated output tokens of step 2 lost in the merge")
	}
	want := map[string]int64{"http_5xx": 1, ResultDropped: 1, "canceled": 1, "timeout": 1}
	if len(s.Errors) != len(want) {
		t.Errorf("errors %v, want %v", s.Errors, want)
	}
	for k, v := range want {
		if s.Errors[k] != v {
			t.Errorf("errors[%s] = %d, want %d", k, s.Errors[k], v)
		}
	}
	if m := s.ErrorMessages["http_5xx"]; len(m) != 1 || m[0] != "boom" {
		t.Errorf("5xx messages %v", m)
	}
	if m := s.ErrorMessages["timeout"]; len(m) != 1 || m[0] != "slow" {
		t.Errorf("timeout messages %v", m)
	}
}

// TestMergeSampleSets protects the run summary's distributions (every Dist
// of the result) when steps are merged: pooled moments whatever the order
// and size of the parts, an empty part changes nothing.
func TestMergeSampleSets(t *testing.T) {
	parts := [][]float64{{5}, {1, 2, 3, 4}, {}, {100, -20}, {7, 7, 7}}
	var all []float64
	run := newSampleSet(1)
	for _, p := range parts {
		s := newSampleSet(2)
		for _, v := range p {
			s.add(v)
		}
		run.mergeFrom(s)
		all = append(all, p...)
	}
	d := run.dist(1)
	var sum float64
	for _, v := range all {
		sum += v
	}
	if d.Count != int64(len(all)) || !near(d.Mean, sum/float64(len(all))) || !near(d.Stddev, popStddev(all)) ||
		d.Min != -20 || d.Max != 100 || d.P50 != 4.5 {
		t.Errorf("merged %+v, want count %d mean %v stddev %v min -20 max 100 p50 4.5",
			d, len(all), sum/float64(len(all)), popStddev(all))
	}
	// merging into a set that holds values keeps its minimum and maximum
	a := newSampleSet(1)
	a.add(-1)
	a.add(50)
	b := newSampleSet(2)
	b.add(3)
	a.mergeFrom(b)
	if d := a.dist(1); d.Min != -1 || d.Max != 50 || d.Count != 3 {
		t.Errorf("after merge: %+v", d)
	}
}

// TestMergeSampleSetsPastTheLimit protects the run summary's percentiles of
// long runs: once the pooled values pass the sample limit the kept samples
// stay a fair sample of both parts (in proportion to their counts), while
// count, mean, min and max stay exact.
func TestMergeSampleSetsPastTheLimit(t *testing.T) {
	const limit = 1000
	a := newSampleSet(1)
	a.limit = limit
	for range 3000 {
		a.add(1)
	}
	b := newSampleSet(2)
	b.limit = limit
	for range 1000 {
		b.add(2)
	}
	a.mergeFrom(b)
	if len(a.vals) != limit {
		t.Fatalf("kept %d values, want %d", len(a.vals), limit)
	}
	twos := 0
	for _, v := range a.vals {
		if v == 2 {
			twos++
		}
	}
	// b is a quarter of the values, so about a quarter of the kept ones
	if twos < 150 || twos > 350 {
		t.Errorf("%d of %d kept values from the second part, want about 250", twos, limit)
	}
	d := a.dist(1)
	if d.Count != 4000 || !near(d.Mean, 1.25) || d.Min != 1 || d.Max != 2 || d.P50 != 1 || d.P99 != 2 {
		t.Errorf("merged %+v", d)
	}
}

// TestMiddleRateShortSteps protects every achieved and arrival rate
// (Step.AchievedRate, Step.ArrivalRate, llmprobe_sweep_step_achieved_* and
// so the sweep's qualification): with fewer than 10 events it is
// (n-1) / span; from 10 events on, the least-squares slope over the middle
// 80 %, which outliers at either end do not move.
func TestMiddleRateShortSteps(t *testing.T) {
	ms := func(vs ...int) []int64 {
		var out []int64
		for _, v := range vs {
			out = append(out, int64(v)*int64(time.Millisecond))
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		times []int64
		want  float64
	}{
		{"no event", nil, 0},
		{"one event", ms(5), 0},
		{"two events 250 ms apart", ms(0, 250), 4},
		{"five events, uneven: (n-1)/span", ms(0, 100, 200, 300, 1000), 4},
		{"five events, unsorted", ms(1000, 0, 300, 100, 200), 4},
		{"nine events, late last: (n-1)/span", ms(0, 10, 20, 30, 40, 50, 60, 70, 1600), 5},
		{"three events at one instant", ms(7, 7, 7), 0},
		// 10 events: the middle 80 % are 10 ms apart, the first and last
		// are far out; (n-1)/span would say 9 / 6.07 s
		{"ten events: middle 80%", ms(-1000, 0, 10, 20, 30, 40, 50, 60, 70, 5000), 100},
		{"ten events at one instant", ms(3, 3, 3, 3, 3, 3, 3, 3, 3, 3), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := middleRate(tc.times); !near(got, tc.want) {
				t.Errorf("middleRate = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestErrorMessageLengthBound protects the summary's error_messages: a
// message of up to 300 bytes is kept whole, a longer one is cut at 300
// bytes and marked with "…".
func TestErrorMessageLengthBound(t *testing.T) {
	a := newAggregator(probe.SLO{}, time.Unix(0, 0), 1)
	exact, long := strings.Repeat("e", 300), strings.Repeat("l", 301)
	a.addMessage("http_5xx", exact)
	a.addMessage("timeout", long)
	s := a.summary(time.Second)
	if m := s.ErrorMessages["http_5xx"]; len(m) != 1 || m[0] != exact {
		t.Errorf("a 300-byte message became %q", m)
	}
	if m := s.ErrorMessages["timeout"]; len(m) != 1 || m[0] != strings.Repeat("l", 300)+"…" {
		t.Errorf("a 301-byte message became %q", m)
	}
}

// TestMiddleRateIsLeastSquares protects the achieved and arrival rates of
// irregular steps (bursty completions, Poisson arrivals): the rate is the
// ordinary least-squares slope of event rank against time over the events
// ranked from round(10 %) to round(90 %) of n-1, the same as numpy's
// polyfit(t, rank, 1) over them.
func TestMiddleRateIsLeastSquares(t *testing.T) {
	// reference: the textbook slope formula, n Σxy − Σx Σy over n Σx² − (Σx)²
	slope := func(ts []int64, lo, hi int) float64 {
		var n, sx, sy, sxy, sxx float64
		for i := lo; i <= hi; i++ {
			x := time.Duration(ts[i]).Seconds()
			y := float64(i)
			n, sx, sy, sxy, sxx = n+1, sx+x, sy+y, sxy+x*y, sxx+x*x
		}
		return (n*sxy - sx*sy) / (n*sxx - sx*sx)
	}
	for _, tc := range []struct {
		n, lo, hi int // the middle ranks, written out
	}{{10, 1, 8}, {15, 1, 13}, {25, 2, 22}, {40, 4, 35}} {
		// irregular, increasing times: gaps of 3 to 29 ms
		ts := make([]int64, tc.n)
		for i := 1; i < tc.n; i++ {
			ts[i] = ts[i-1] + int64((3+(i*i*7)%27)*int(time.Millisecond))
		}
		want := slope(ts, tc.lo, tc.hi)
		if got := middleRate(ts); math.Abs(got-want) > 1e-9*want {
			t.Errorf("n=%d: middleRate %v, want the least-squares slope over ranks %d..%d, %v", tc.n, got, tc.lo, tc.hi, want)
		}
	}
}

// TestMergeIntoAFullSampleSet protects long runs' percentiles when steps
// are merged into a run whose sample set is already full: each value of the
// merged step replaces a kept one at random or is left out, the kept set
// stays at its limit, and count and mean stay exact.
func TestMergeIntoAFullSampleSet(t *testing.T) {
	a := newSampleSet(1)
	a.limit = 2
	a.add(1)
	a.add(1)
	b := newSampleSet(2)
	for range 5000 {
		b.add(3)
	}
	a.mergeFrom(b)
	if len(a.vals) != 2 {
		t.Fatalf("kept %d values, want 2", len(a.vals))
	}
	if d := a.dist(1); d.Count != 5002 || !near(d.Mean, (2+3*5000)/5002.0) || d.Min != 1 || d.Max != 3 {
		t.Errorf("merged %+v", d)
	}
}
