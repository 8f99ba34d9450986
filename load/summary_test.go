package load

import (
	"math"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/probe"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

// rec builds a successful streamed record starting at origin+start: first
// token after ttft, then a chunk every itl; tokens[i] tokens per chunk (nil:
// one each, without ChunkTokens).
func rec(origin time.Time, start, ttft, itl time.Duration, chunks int, tokens []int32) *probe.Record {
	r := &probe.Record{Start: origin.Add(start), Result: probe.ResultSuccess, UsageReported: true, InputTokens: 7}
	for i := range chunks {
		r.Chunks = append(r.Chunks, ttft+time.Duration(i)*itl)
	}
	r.FirstToken = r.Start.Add(ttft)
	r.End = r.Start.Add(r.Chunks[len(r.Chunks)-1])
	r.ChunkTokens = tokens
	if tokens == nil {
		r.OutputTokens = chunks
	} else {
		for _, k := range tokens {
			r.OutputTokens += int(k)
		}
	}
	return r
}

func TestSummary(t *testing.T) {
	origin := time.Unix(1000, 0)
	a := newAggregator(probe.SLO{TTFT: 150 * time.Millisecond}, origin, 1)
	// Two requests in the same second: TTFT 100 and 200 ms, ITL 10 ms, 11
	// chunks (10 gaps) each.
	a.add(rec(origin, 0, 100*time.Millisecond, 10*time.Millisecond, 11, nil), false, false)
	a.add(rec(origin, 50*time.Millisecond, 200*time.Millisecond, 10*time.Millisecond, 11, nil), false, false)
	// A third in the next second, 3 chunks carrying 1, 4 and 5 tokens.
	a.add(rec(origin, 1500*time.Millisecond, 100*time.Millisecond, 50*time.Millisecond, 3, []int32{1, 4, 5}), false, false)
	a.add(&probe.Record{Start: origin, End: origin.Add(5 * time.Millisecond), Result: probe.ResultHTTP5xx}, false, false)
	a.add(&probe.Record{Start: origin, End: origin.Add(5 * time.Millisecond), Result: probe.ResultCanceled}, false, true)
	a.add(&probe.Record{Start: origin, End: origin.Add(5 * time.Millisecond), Result: probe.ResultCanceled}, true, false)
	a.addDropped(origin)

	s := a.summary(2 * time.Second)
	checks := []struct {
		name      string
		got, want float64
	}{
		{"requests", float64(s.Requests), 5},
		{"successful", float64(s.Successful), 3},
		{"failed", float64(s.Failed), 3}, // 5xx, cut, dropped
		{"dropped", float64(s.Dropped), 1},
		{"cut", float64(s.Cut), 1},
		{"interrupted", float64(s.Interrupted), 1},
		{"error ratio", s.ErrorRatio, 3.0 / 6},
		{"output tokens", float64(s.OutputTokens), 11 + 11 + 10},
		{"input tokens", float64(s.InputTokens), 21},
		{"request throughput", s.RequestThroughput, 1.5},
		{"output throughput", s.OutputThroughput, 16},
		{"total throughput", s.TotalTokenThroughput, (32 + 21) / 2.0},
		// second 0 holds 22 tokens (chunks, one token each); second 1
		// holds 10 tokens in 3 chunks: tokens, not chunks, are counted.
		{"peak output throughput", s.PeakOutputThroughput, 22},
		{"peak concurrency", float64(s.PeakConcurrent), 3}, // the first success, the 5xx and the cut
		{"good requests", float64(s.GoodRequests), 2},      // TTFT 200 ms misses the 150 ms SLO
		{"goodput", s.Goodput, 1},
		{"ttft count", float64(s.TTFT.Count), 3},
		{"ttft mean", s.TTFT.Mean, 400.0 / 3},
		{"ttft p50", s.TTFT.P50, 100},
		{"ttft max", s.TTFT.Max, 200},
		{"ttft p90", s.TTFT.P90, 180}, // numpy: 100 + (200-100)*0.8
		{"ttft stddev", s.TTFT.Stddev, math.Sqrt((2*math.Pow(100-400.0/3, 2) + math.Pow(200-400.0/3, 2)) / 3)},
		// 20 gaps of 10 ms, then 2 gaps of 50 ms holding 4 and 5 tokens
		// (samples 12.5 ms × 4 and 10 ms × 5)
		{"itl count", float64(s.ITL.Count), 20 + 9},
		{"itl max", s.ITL.Max, 12.5},
		{"itl p50", s.ITL.P50, 10},
		{"tpot count", float64(s.TPOT.Count), 3},
		{"tpot min", s.TPOT.Min, 10},        // (200-100)/(11-1)
		{"tpot max", s.TPOT.Max, 100.0 / 9}, // third: (200-100)/(10-1)
		{"e2e max", s.E2E.Max, 300},
		{"output len mean", s.OutputLen.Mean, 32.0 / 3},
	}
	for _, c := range checks {
		if !near(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if s.Errors["http_5xx"] != 1 || s.Errors["canceled"] != 1 || s.Errors[ResultDropped] != 1 || len(s.Errors) != 3 {
		t.Errorf("errors %v", s.Errors)
	}
}

func TestPeakConcurrency(t *testing.T) {
	for _, tc := range []struct {
		iv   [][2]int64
		want int64
	}{
		{nil, 0},
		{[][2]int64{{0, 10}}, 1},
		{[][2]int64{{0, 10}, {10, 20}}, 1}, // touching, not overlapping
		{[][2]int64{{0, 10}, {5, 20}, {6, 7}, {8, 30}}, 3},
	} {
		if got := peakConcurrency(tc.iv); got != tc.want {
			t.Errorf("%v: %d, want %d", tc.iv, got, tc.want)
		}
	}
}

func TestSampleSetReservoir(t *testing.T) {
	s := newSampleSet(1)
	s.limit = 1000
	n := 100000
	for i := range n {
		s.add(float64(i))
	}
	d := s.dist(1)
	if d.Count != int64(n) || d.Min != 0 || d.Max != float64(n-1) || !near(d.Mean, float64(n-1)/2) {
		t.Fatalf("exact moments lost: %+v", d)
	}
	if len(s.vals) != 1000 {
		t.Fatalf("kept %d values", len(s.vals))
	}
	// the percentiles of a uniform sample of 1000 are within a few %
	if math.Abs(d.P50-float64(n)/2) > 0.05*float64(n) || math.Abs(d.P90-0.9*float64(n)) > 0.05*float64(n) {
		t.Errorf("p50 %v p90 %v", d.P50, d.P90)
	}
}

func TestMiddleRate(t *testing.T) {
	var times []int64
	for i := range 101 {
		times = append(times, int64(i)*int64(10*time.Millisecond))
	}
	if r := middleRate(times); !near(r, 100) {
		t.Errorf("rate %v, want 100", r)
	}
	// a slow ramp and a long tail at the edges do not move it
	times = append(times, int64(5*time.Second), int64(9*time.Second))
	times[0] = -int64(3 * time.Second)
	if r := middleRate(times); math.Abs(r-100) > 5 {
		t.Errorf("rate %v with outliers, want about 100", r)
	}
	// batches of 8 every 100 ms: 80/s, wherever the middle 80 % begins
	for skip := range 8 {
		times = times[:0]
		for i := skip; i < 8*40; i++ {
			times = append(times, int64(i/8)*int64(100*time.Millisecond))
		}
		if r := middleRate(times); math.Abs(r-80) > 2 {
			t.Errorf("batched: rate %v, want about 80", r)
		}
	}
}
