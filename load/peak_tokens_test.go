package load

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/probe"
)

// chunked is a successful record starting at origin+start with chunks at the
// given offsets (ms from its start); tokens is its usage total, perChunk what
// the server said each chunk held (nil: not said).
func chunked(origin time.Time, start time.Duration, offsetsMS []int, tokens int, perChunk []int32) *probe.Record {
	r := &probe.Record{Start: origin.Add(start), Result: probe.ResultSuccess, UsageReported: true, OutputTokens: tokens}
	for _, o := range offsetsMS {
		r.Chunks = append(r.Chunks, time.Duration(o)*time.Millisecond)
	}
	if len(r.Chunks) > 0 {
		r.FirstToken = r.Start.Add(r.Chunks[0])
		r.End = r.Start.Add(r.Chunks[len(r.Chunks)-1])
	} else {
		r.End = r.Start.Add(500 * time.Millisecond)
	}
	r.ChunkTokens = perChunk
	return r
}

// TestPeakOutputThroughputCountsTokens protects the run summary's
// peak_output_throughput: the most output tokens (not chunks) that arrived in
// one 1-second window. A server that reports usage only at the end has its
// total spread evenly over the chunks; a server that says what each chunk
// held (continuous usage stats, ChunkTokens) has each chunk weighed by it; a
// response without chunks (a plain body) puts its tokens at its end.
func TestPeakOutputThroughputCountsTokens(t *testing.T) {
	origin := time.Unix(7000, 0)
	for _, tc := range []struct {
		name string
		recs []*probe.Record
		want float64
	}{
		{
			// usage 40 at the end over 4 chunks: 10 tokens each, three of
			// them in second 0
			name: "usage only at the end",
			recs: []*probe.Record{chunked(origin, 0, []int{100, 400, 900, 1200}, 40, nil)},
			want: 30,
		},
		{
			// chunks of 1, 6 and 5 tokens in second 0, one of 3 in second 1
			name: "several tokens per chunk",
			recs: []*probe.Record{chunked(origin, 0, []int{100, 200, 300, 1100}, 15, []int32{1, 6, 5, 3})},
			want: 12,
		},
		{
			name: "two requests add up in a window",
			recs: []*probe.Record{
				chunked(origin, 0, []int{100, 200}, 8, nil),                    // 4 + 4 in second 0
				chunked(origin, 500*time.Millisecond, []int{100, 600}, 6, nil), // 3 in second 0, 3 in second 1
			},
			want: 11,
		},
		{
			// windows are counted from the run's origin, not from each
			// request's start: both chunks arrive in second 2 of the run
			// (0.2 s and 1.7 s after their requests' starts)
			name: "windows from the run's origin",
			recs: []*probe.Record{
				chunked(origin, 1900*time.Millisecond, []int{200}, 5, nil),
				chunked(origin, 500*time.Millisecond, []int{1700}, 5, nil),
			},
			want: 10,
		},
		{
			name: "a plain body counts at its end",
			recs: []*probe.Record{chunked(origin, 0, nil, 50, nil), chunked(origin, 100*time.Millisecond, nil, 20, nil),
				chunked(origin, 600*time.Millisecond, nil, 60, nil)},
			want: 70, // ends at 0.5 s and 0.6 s (second 0), 1.1 s (second 1)
		},
		{
			name: "no usage: each chunk is one token",
			recs: []*probe.Record{chunked(origin, 0, []int{100, 200, 300}, 0, nil)},
			want: 3,
		},
		{
			name: "chunk counts shorter than the chunks: one token each beyond",
			recs: []*probe.Record{chunked(origin, 0, []int{100, 200, 300}, 9, []int32{7})},
			want: 9,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAggregator(probe.SLO{}, origin, 1)
			for _, r := range tc.recs {
				a.add(r, false, false)
			}
			if got := a.summary(10 * time.Second).PeakOutputThroughput; !near(got, tc.want) {
				t.Errorf("peak output throughput = %v tokens/s, want %v", got, tc.want)
			}
		})
	}
}

// TestGoodputAndSLOAttainment protects the summary's good_requests, goodput
// and slo_attainment: goodput is good requests per second of the measured
// duration; attainment is the share of the successful requests that met
// every objective (failures are outside it: they are in the error ratio).
func TestGoodputAndSLOAttainment(t *testing.T) {
	origin := time.Unix(9000, 0)
	a := newAggregator(probe.SLO{TTFT: 200 * time.Millisecond}, origin, 1)
	for _, ttft := range []time.Duration{100, 200, 201, 150} { // 200 ms meets a 200 ms SLO
		a.add(rec(origin, 0, ttft*time.Millisecond, 10*time.Millisecond, 3, nil), false, false)
	}
	a.add(&probe.Record{Start: origin, End: origin.Add(time.Millisecond), Result: probe.ResultHTTP5xx}, false, false)
	s := a.summary(4 * time.Second)
	if s.GoodRequests != 3 || !near(s.SLOAttainment, 0.75) || !near(s.Goodput, 0.75) {
		t.Errorf("good %d, attainment %v, goodput %v; want 3, 0.75, 0.75 req/s", s.GoodRequests, s.SLOAttainment, s.Goodput)
	}
	if s.SLO == nil || s.SLO.TTFT != 200 {
		t.Errorf("summary's SLO %+v, want ttft 200 ms", s.SLO)
	}

	// without successes nothing is attained, and a zero duration has no rates
	b := newAggregator(probe.SLO{TTFT: time.Second}, origin, 1)
	b.add(&probe.Record{Start: origin, End: origin.Add(time.Millisecond), Result: probe.ResultTimeout}, false, false)
	if s := b.summary(0); s.SLOAttainment != 0 || s.Goodput != 0 || s.RequestThroughput != 0 || s.ErrorRatio != 1 {
		t.Errorf("all failed: %+v", s)
	}
	// no SLO: every success is good
	c := newAggregator(probe.SLO{}, origin, 1)
	c.add(rec(origin, 0, 5*time.Second, time.Second, 2, nil), false, false)
	if s := c.summary(2 * time.Second); s.GoodRequests != 1 || s.SLOAttainment != 1 || !near(s.Goodput, 0.5) || s.SLO != nil {
		t.Errorf("no SLO: %+v", s)
	}
}

// TestEmptySummaryHasNoNaN protects every ratio and rate of a step or run
// that measured nothing (a run stopped at once, a step whose arrivals all
// came during warmup): they are 0, never NaN or Inf, so the result still
// encodes as JSON and the gauges stay numbers.
func TestEmptySummaryHasNoNaN(t *testing.T) {
	for _, d := range []time.Duration{0, time.Second} {
		s := newAggregator(probe.SLO{TTFT: time.Second}, time.Unix(0, 0), 1).summary(d)
		for name, v := range map[string]float64{
			"error ratio": s.ErrorRatio, "slo attainment": s.SLOAttainment, "goodput": s.Goodput,
			"request throughput": s.RequestThroughput, "output throughput": s.OutputThroughput,
			"total token throughput": s.TotalTokenThroughput, "peak output throughput": s.PeakOutputThroughput,
		} {
			if v != 0 {
				t.Errorf("duration %v: %s = %v, want 0", d, name, v)
			}
		}
		if _, err := json.Marshal(s); err != nil {
			t.Errorf("duration %v: %v", d, err)
		}
	}
}
