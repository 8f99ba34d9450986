package load

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/llmprobe/llmprobe/probe"
	"github.com/llmprobe/llmprobe/stats"
)

// The over-saturation test of a sweep's rate steps (guidellm's idea: a
// server offered more than it can serve queues the excess, so within one
// step the requests in flight and the time to first token both grow with
// time; below capacity both stay level however high the load). The step's
// arrival window is cut into windows; per window the test takes the mean
// number of requests in flight (time-averaged) and the median time to first
// token of the requests that started in it, fits a line through each over
// time (stats.Fit), and calls the step over-saturated when both slopes are
// positive with 95 % confidence and both rises are large enough to matter.
// Windows, not single requests, are the points: requests close in time see
// the same queue, so per-request points would overstate the confidence
// (guidellm caps its sample size at the step's seconds for the same reason).
const (
	// SaturationMinWindows and SaturationMaxWindows bound the windows of a
	// step: about one per second, never fewer than 10 (a scaled-down step
	// of a second still gets 10 points) nor more than 60.
	SaturationMinWindows = 10
	SaturationMaxWindows = 60
	// SaturationMinRise is the smallest rise over the step, relative to the
	// fitted level at its start, that counts for either series: a queue
	// that grows by less than a quarter of what was in flight, or a TTFT
	// that grows by less than a quarter, is noise or warmup, not overload.
	SaturationMinRise = 0.25
	// SaturationMinQueue is the smallest rise of requests in flight that
	// counts: a queue that grew by less than one request did not grow.
	SaturationMinQueue = 1.0
	// maxSaturationSamples bounds the latencies a window keeps for its
	// median (a uniform sample beyond it), so a long step stays small.
	maxSaturationSamples = 4096
)

// Saturation is the over-saturation test's finding on one rate step.
type Saturation struct {
	OverSaturated bool `json:"over_saturated"`
	// Windows is the number of windows fitted, WindowS their width in
	// seconds.
	Windows int     `json:"windows"`
	WindowS float64 `json:"window_s"`
	// RampWindows were left out before them: the step's start, while its
	// first requests were still running.
	RampWindows int `json:"ramp_windows,omitempty"`
	// InFlight is the line through the windows' mean requests in flight
	// (requests) against time (seconds from the step's start); TTFT the
	// line through their median TTFT in milliseconds (end-to-end latency
	// for kinds without tokens).
	InFlight stats.Line `json:"in_flight"`
	TTFT     stats.Line `json:"ttft_ms"`
	// InFlightRise and TTFTRise are each line's rise over the step
	// relative to its fitted start (0.5: up by half).
	InFlightRise float64 `json:"in_flight_rise"`
	TTFTRise     float64 `json:"ttft_rise"`
	// Why says what the test found, with the numbers.
	Why string `json:"why"`
}

// saturationTest collects a rate step's requests for the test as they
// finish: the time each window had requests in flight, and each window's
// latencies. Safe for concurrent use.
type saturationTest struct {
	mu    sync.Mutex
	start time.Time
	width time.Duration
	busy  []float64   // request-seconds in flight per window
	lat   [][]float64 // latencies (ms) of requests started per window
	seen  []int64     // latencies offered per window (for the sample)
	rng   *rand.Rand
	// first holds the end-to-end latencies (s) of the first window's
	// requests: the ramp (see result).
	first []float64
}

// saturationWindows is how many windows a step of window length gets.
func saturationWindows(window time.Duration) int {
	return min(max(int(math.Round(window.Seconds())), SaturationMinWindows), SaturationMaxWindows)
}

// newSaturationTest returns the test of a step whose measured arrivals run
// from start for window.
func newSaturationTest(start time.Time, window time.Duration, seed uint64) *saturationTest {
	n := saturationWindows(window)
	return &saturationTest{
		start: start,
		width: window / time.Duration(n),
		busy:  make([]float64, n),
		lat:   make([][]float64, n),
		seen:  make([]int64, n),
		rng:   rand.New(rand.NewPCG(seed, 0x05a7)),
	}
}

// add accounts one measured request (failed ones too: they were in flight).
func (t *saturationTest) add(rec *probe.Record) {
	if t.width <= 0 || rec.Start.IsZero() || rec.End.Before(rec.Start) {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(t.busy)
	s, e := rec.Start.Sub(t.start), rec.End.Sub(t.start)
	for i := max(int(s/t.width), 0); i < n && time.Duration(i)*t.width < e; i++ {
		lo, hi := max(s, time.Duration(i)*t.width), min(e, time.Duration(i+1)*t.width)
		if hi > lo {
			t.busy[i] += (hi - lo).Seconds()
		}
	}
	if !rec.Success() || s < 0 {
		return
	}
	i := int(s / t.width)
	if i >= n {
		return
	}
	v := rec.E2E()
	if i == 0 && len(t.first) < maxSaturationSamples {
		t.first = append(t.first, v.Seconds())
	}
	if d, ok := rec.TTFT(); ok {
		v = d
	}
	ms := float64(v) / float64(time.Millisecond)
	t.seen[i]++
	if len(t.lat[i]) < maxSaturationSamples {
		t.lat[i] = append(t.lat[i], ms)
	} else if j := t.rng.Int64N(t.seen[i]); j < maxSaturationSamples {
		t.lat[i][j] = ms
	}
}

// series returns each window's middle (s), mean requests in flight and
// median latency (NaN for a window where no request started).
func (t *saturationTest) series() (xs, inflight, lat []float64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := t.width.Seconds()
	for i := range t.busy {
		xs = append(xs, (float64(i)+0.5)*w)
		inflight = append(inflight, t.busy[i]/w)
		if len(t.lat[i]) == 0 {
			lat = append(lat, math.NaN())
			continue
		}
		v := slices.Clone(t.lat[i])
		slices.Sort(v)
		lat = append(lat, stats.Quantile(v, 0.5))
	}
	return xs, inflight, lat
}

// result judges the step. The windows of the ramp are left out: a step
// starts with nothing in flight, so until its first requests end the
// requests in flight climb at any rate, overloaded or not. The ramp lasts
// the median latency of the first window's requests (which met no queue
// yet).
func (t *saturationTest) result() *Saturation {
	xs, inflight, lat := t.series()
	t.mu.Lock()
	first := slices.Clone(t.first)
	t.mu.Unlock()
	skip := 0
	if len(first) > 0 {
		slices.Sort(first)
		ramp := stats.Quantile(first, 0.5)
		w := t.width.Seconds()
		for skip < len(xs)-1 && float64(skip)*w < ramp {
			skip++
		}
	}
	s := judgeSaturation(xs[skip:], inflight[skip:], lat[skip:], t.width.Seconds()*float64(len(xs)-skip))
	s.RampWindows = skip
	return s
}

// judgeSaturation applies the test to windows at xs (seconds) of a step of
// span seconds (from the first window's start): mean requests in flight
// and median latency (ms) per window.
func judgeSaturation(xs, inflight, lat []float64, span float64) *Saturation {
	s := &Saturation{Windows: len(xs)}
	if len(xs) > 0 {
		s.WindowS = span / float64(len(xs))
	}
	in, ttft := stats.Fit(xs, inflight), stats.Fit(xs, lat)
	x0 := 0.0
	if len(xs) > 0 {
		x0 = xs[0] - s.WindowS/2
	}
	s.InFlightRise = relRise(in, x0, span)
	s.TTFTRise = relRise(ttft, x0, span)
	inRising := in.Rising() && s.InFlightRise >= SaturationMinRise && in.Slope*span >= SaturationMinQueue
	latRising := ttft.Rising() && s.TTFTRise >= SaturationMinRise
	s.OverSaturated = inRising && latRising
	s.InFlight, s.TTFT = FiniteLine(in), FiniteLine(ttft)
	desc := fmt.Sprintf("requests in flight %+.2f/s (95%% CI %.2f..%.2f, %+.0f%% over the step), TTFT %+.1f ms/s (95%% CI %.1f..%.1f, %+.0f%% over the step), %d windows of %.2f s",
		in.Slope, s.InFlight.SlopeLo, s.InFlight.SlopeHi, 100*s.InFlightRise,
		ttft.Slope, s.TTFT.SlopeLo, s.TTFT.SlopeHi, 100*s.TTFTRise, s.Windows, s.WindowS)
	switch {
	case s.OverSaturated:
		s.Why = "over-saturated: the queue grew during the step: " + desc
	case inRising:
		s.Why = "not over-saturated: requests in flight rose but TTFT did not: " + desc
	case latRising:
		s.Why = "not over-saturated: TTFT rose but requests in flight did not: " + desc
	default:
		s.Why = "not over-saturated: " + desc
	}
	return s
}

// relRise is a line's rise over span from x0 relative to its fitted value
// at x0 (at the middle when that is not positive, so a line through 0 still
// gets a ratio); 0 when neither is positive.
func relRise(l stats.Line, x0, span float64) float64 {
	base := l.At(x0)
	if !(base > 0) {
		base = l.At(x0 + span/2)
	}
	if !(base > 0) {
		return 0
	}
	return l.Slope * span / base
}

// FiniteLine returns l with an interval that could not be computed (fewer
// than 3 points: ±Inf) as 0..0, which JSON can hold (it refuses
// infinities); N says why, and Rising and Falling stay false.
func FiniteLine(l stats.Line) stats.Line {
	bad := func(v float64) bool { return math.IsInf(v, 0) || math.IsNaN(v) }
	if bad(l.SlopeLo) || bad(l.SlopeHi) {
		l.SlopeLo, l.SlopeHi = 0, 0
	}
	if bad(l.Slope) {
		l.Slope = 0
	}
	if bad(l.Intercept) {
		l.Intercept = 0
	}
	return l
}
