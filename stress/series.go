package stress

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/probe"
	"github.com/llmprobe/llmprobe/stats"
)

// Windows of a step's series: about one per 10 s, never fewer than
// MinWindows (a scaled-down step of seconds still gets enough points for a
// slope with an interval) nor more than MaxWindows (an hour's soak gets
// 30 s windows).
const (
	MinWindows   = 10
	MaxWindows   = 120
	windowTarget = 10 * time.Second
	// maxWindowSamples bounds the latencies a window keeps for its
	// percentiles (a uniform sample beyond it), so a soak's memory stays
	// flat whatever its rate.
	maxWindowSamples = 20000
)

// windowCount is how many windows a step of measured length d gets.
func windowCount(d time.Duration) int {
	return min(max(int(math.Round(float64(d)/float64(windowTarget))), MinWindows), MaxWindows)
}

// seriesSink cuts a run's measured entries into windows of time as they
// arrive (a load.Sink): latency percentiles, errors and time in flight per
// window. Entries are binned by their end from origin, the measured start
// as estimated before the run (windows are re-based on the step's real
// start afterwards); entries ending after the last window count in it (the
// drain), warmup and interrupted ones are left out of the latencies.
type seriesSink struct {
	mu     sync.Mutex
	origin time.Time
	width  time.Duration
	wins   []winAcc
	rng    *rand.Rand
}

type winAcc struct {
	requests, failed int
	seen             int64
	e2e, ttft        []float64
	busy             float64 // request-seconds in flight
}

func newSeriesSink(origin time.Time, d time.Duration) *seriesSink {
	n := windowCount(d)
	return &seriesSink{origin: origin, width: d / time.Duration(n), wins: make([]winAcc, n), rng: rand.New(rand.NewPCG(1, 2))}
}

// WriteEntry implements load.Sink. A warmup request still running into
// the first windows counts in flight there (the queue it is part of), not
// in their latencies.
func (s *seriesSink) WriteEntry(e *load.Entry) error {
	if e.Interrupted || s.width <= 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.wins)
	if !e.Start.IsZero() && !e.End.IsZero() {
		st, en := e.Start.Sub(s.origin), e.End.Sub(s.origin)
		for i := max(int(st/s.width), 0); i < n && time.Duration(i)*s.width < en; i++ {
			lo, hi := max(st, time.Duration(i)*s.width), min(en, time.Duration(i+1)*s.width)
			if hi > lo {
				s.wins[i].busy += (hi - lo).Seconds()
			}
		}
	}
	if e.Phase == load.PhaseWarmup {
		return nil
	}
	idx := func(t time.Time) int { return min(max(int(t.Sub(s.origin)/s.width), 0), n-1) }
	if e.Result == load.ResultDropped {
		w := &s.wins[idx(e.Scheduled)]
		w.requests++
		w.failed++
		return nil
	}
	if e.End.IsZero() {
		return nil
	}
	w := &s.wins[idx(e.End)]
	w.requests++
	if e.Result != string(probe.ResultSuccess) {
		w.failed++
		return nil
	}
	w.seen++
	if len(w.e2e) < maxWindowSamples {
		w.e2e = append(w.e2e, e.E2EMS)
		w.ttft = append(w.ttft, e.TTFTMS)
	} else if j := s.rng.Int64N(w.seen); j < maxWindowSamples {
		w.e2e[j], w.ttft[j] = e.E2EMS, e.TTFTMS
	}
	return nil
}

// windows returns the series with offsets from start, the step's measured
// start as the run reported it.
func (s *seriesSink) windows(start time.Time) []Window {
	s.mu.Lock()
	defer s.mu.Unlock()
	shift := s.origin.Sub(start).Seconds()
	w := s.width.Seconds()
	out := make([]Window, len(s.wins))
	for i, a := range s.wins {
		out[i] = Window{
			OffsetS: float64(i)*w + shift, WidthS: w,
			Requests: a.requests, Failed: a.failed,
			InFlight: a.busy / w,
		}
		out[i].E2EP50MS, out[i].E2EP99MS = percentiles(a.e2e)
		var ttft []float64
		for _, v := range a.ttft {
			if v > 0 { // kinds without tokens have no TTFT
				ttft = append(ttft, v)
			}
		}
		out[i].TTFTP50MS, out[i].TTFTP99MS = percentiles(ttft)
	}
	return out
}

// percentiles returns the median and the 99th percentile of v (0, 0 for
// none: Window's JSON holds numbers, and a window without a success has
// Requests == Failed to say so).
func percentiles(v []float64) (p50, p99 float64) {
	if len(v) == 0 {
		return 0, 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	return stats.Quantile(v, 0.5), stats.Quantile(v, 0.99)
}
