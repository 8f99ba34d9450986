package load

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/llmprobe/llmprobe/probe"
)

// Arrival schedules of open-loop steps: constant, Poisson or gamma gaps at
// a fixed rate, the same gaps through a ramp, or a replayed trace
// (trace.go). openLoop asks a step's schedule for one arrival at a time.
//
// A ramp is an inhomogeneous process: its rate r(t) moves from StartRate
// to EndRate and Λ(t) = ∫r is the number of arrivals expected by t.
// Arrivals are scheduled by time rescaling: gaps of mean 1 are drawn as
// for a fixed rate (all 1 for constant spacing, exponential for Poisson,
// gamma for gamma), summed into u, and arrival k is due at Λ⁻¹(u_k). For
// Poisson gaps that is exactly the inhomogeneous Poisson process (the
// time-rescaling theorem); for constant gaps it puts arrival k where k
// arrivals are due; and unlike thinning it never discards a draw, so the
// run stays repeatable for a seed however the rates change.
//
// With a duration the ramp runs over the step's time; with only a number
// of requests it runs over their index, as vLLM's --ramp-up-strategy does:
// request i is offered at the rate of progress i/(n-1) and its gap drawn at
// that rate.

// Ramp strategies (Ramp.Strategy).
const (
	RampLinear      = "linear"
	RampExponential = "exponential"
)

// Ramp moves a rate step's offered rate from StartRate to EndRate
// (requests/s), linearly or exponentially, over the step's Duration (or
// over its NumRequests requests when it has no duration).
type Ramp struct {
	Strategy  string  // linear (default) or exponential
	StartRate float64 // >= 0; > 0 for exponential
	EndRate   float64 // > 0
}

// RampInfo describes a run's ramp in its result.
type RampInfo struct {
	Strategy  string  `json:"strategy"`
	StartRate float64 `json:"start_rate"`
	EndRate   float64 `json:"end_rate"`
	// Over is "duration" (the rate is a function of the time into the
	// step) or "requests" (of the arrival's index among the step's
	// requests, vLLM's way).
	Over string `json:"over"`
	// MeanRate is the arrivals offered per second over the step.
	MeanRate float64 `json:"mean_rate"`
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// checkArrivals validates the gamma, ramp and trace options (defaults
// applied); it normalizes the ramp's strategy in o's own copy.
func (o *Options) checkArrivals() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch {
	case o.Arrival == ArrivalGamma && !(o.Burstiness > 0 && finite(o.Burstiness)):
		bad("gamma arrivals need a burstiness (the gamma shape) above 0, got %v", o.Burstiness)
	case o.Arrival != ArrivalGamma && o.Burstiness != 0:
		bad("burstiness is only used with gamma arrivals")
	}
	if o.Ramp != nil {
		rp := *o.Ramp
		if rp.Strategy == "" {
			rp.Strategy = RampLinear
		}
		o.Ramp = &rp
		switch {
		case o.Mode != ModeRate:
			bad("a ramp is only used in rate mode")
		case len(o.Rates) > 0:
			bad("a ramp replaces the rates: give one or the other")
		}
		if o.Warmup > 0 {
			bad("a ramp has no warmup: it starts at its start rate")
		}
		if rp.Strategy != RampLinear && rp.Strategy != RampExponential {
			bad("unknown ramp strategy %q (want linear or exponential)", rp.Strategy)
		}
		if !finite(rp.StartRate) || rp.StartRate < 0 {
			bad("ramp start rate %v: must be a number >= 0", rp.StartRate)
		} else if rp.Strategy == RampExponential && rp.StartRate == 0 {
			bad("an exponential ramp cannot start at rate 0")
		}
		if !finite(rp.EndRate) || rp.EndRate <= 0 {
			bad("ramp end rate %v: must be a positive number", rp.EndRate)
		}
	}
	if o.Mode == ModeTrace {
		errs = append(errs, o.checkTrace()...)
	} else if o.Trace != nil {
		bad("a trace is only replayed in trace mode")
	}
	return errs
}

// stepRates are the offered rates of a rate-mode run's steps: its Rates,
// or a ramp's mean rate for its one step.
func (r *Runner) stepRates() []float64 {
	if r.o.Ramp != nil {
		return []float64{r.rampInfo().MeanRate}
	}
	return r.o.Rates
}

// rampInfo describes the run's ramp (nil without one).
func (r *Runner) rampInfo() *RampInfo {
	o := &r.o
	rp := o.Ramp
	if rp == nil {
		return nil
	}
	info := &RampInfo{Strategy: rp.Strategy, StartRate: rp.StartRate, EndRate: rp.EndRate}
	if o.Duration > 0 {
		d := o.Duration.Seconds()
		info.Over, info.MeanRate = "duration", rp.integral(d, d)/d
		return info
	}
	info.Over = "requests"
	n := o.NumRequests
	if n < 2 {
		info.MeanRate = rp.rateAtProgress(0)
		return info
	}
	// (n-1) gaps, each 1/rate on average.
	span := 0.0
	for i := 1; i < n; i++ {
		span += 1 / rp.rateAtProgress(float64(i)/float64(n-1))
	}
	info.MeanRate = float64(n-1) / span
	return info
}

// rateAt is the ramp's rate t seconds into a ramp of d seconds.
func (rp *Ramp) rateAt(t, d float64) float64 { return rp.rateAtProgress(min(t/d, 1)) }

// rateAtProgress is the rate a fraction p of the way through the ramp
// (vLLM's _get_current_request_rate).
func (rp *Ramp) rateAtProgress(p float64) float64 {
	a, b := rp.StartRate, rp.EndRate
	if rp.Strategy == RampExponential {
		return a * math.Pow(b/a, p)
	}
	return a + (b-a)*p
}

// integral is Λ(t), the arrivals expected in the first t seconds of a ramp
// of d seconds.
func (rp *Ramp) integral(t, d float64) float64 {
	a, b := rp.StartRate, rp.EndRate
	if rp.Strategy == RampExponential && a != b {
		g := math.Log(b/a) / d
		return a * math.Expm1(g*t) / g
	}
	return a*t + (b-a)*t*t/(2*d)
}

// inverse is Λ⁻¹(u): the time by which u arrivals are expected, for u in
// [0, Λ(d)].
func (rp *Ramp) inverse(u, d float64) float64 {
	if u <= 0 {
		return 0
	}
	a, b := rp.StartRate, rp.EndRate
	if rp.Strategy == RampExponential && a != b {
		g := math.Log(b/a) / d
		return math.Log1p(g*u/a) / g
	}
	c := (b - a) / (2 * d)
	if c == 0 {
		return u / a
	}
	// c·t² + a·t − u = 0, in the form that does not cancel when c is small.
	return 2 * u / (a + math.Sqrt(a*a+4*c*u))
}

// gaps draws inter-arrival gaps of mean 1: all 1 (constant), exponential
// (Poisson) or gamma of shape k and scale 1/k.
type gaps struct {
	arrival string
	k       float64
	rng     *rand.Rand
}

func (g *gaps) next() float64 {
	switch g.arrival {
	case ArrivalPoisson:
		return g.rng.ExpFloat64()
	case ArrivalGamma:
		return gammaDraw(g.rng, g.k) / g.k
	}
	return 1
}

// gammaDraw draws from the gamma distribution of shape k and scale 1
// (Marsaglia and Tsang, "A simple method for generating gamma variables",
// 2000; shapes below 1 through their boost G(k) = G(k+1)·U^(1/k)).
func gammaDraw(rng *rand.Rand, k float64) float64 {
	if k < 1 {
		u := 1 - rng.Float64() // in (0, 1]
		// In logs: U^(1/k) underflows for small shapes.
		return math.Exp(math.Log(gammaDraw(rng, k+1)) + math.Log(u)/k)
	}
	d := k - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := 1 - rng.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}

// arrival is one arrival of a step's schedule.
type arrival struct {
	off  time.Duration  // from the step's clock (the start of its warmup)
	rate float64        // the rate offered then (ramps; 0 otherwise)
	req  *probe.Request // the trace's request; nil: the run's next one
}

// schedule hands out a step's arrivals in order; ok is false when it has
// no more (the step's duration or request count usually ends it first).
// Only openLoop's goroutine calls next.
type schedule interface {
	next() (a arrival, ok bool)
}

// offeredRates is a schedule that tells the rate it offered at a
// scheduled time, for the timeline (Entry.OfferedRate).
type offeredRates interface {
	offeredAt(off time.Duration) float64
}

// newSchedule returns the schedule of a rate or trace step.
func (r *Runner) newSchedule(st *stepRun) schedule {
	o := &r.o
	if o.Mode == ModeTrace {
		return &traceSchedule{arrivals: o.Trace.Arrivals, reqs: o.Trace.Requests}
	}
	rng := rand.New(rand.NewPCG(uint64(o.Seed), uint64(st.spec.index)+0x9e3779b9))
	g := gaps{arrival: o.Arrival, k: o.Burstiness, rng: rng}
	rate := st.spec.rate
	switch {
	case o.Ramp == nil:
		return &steady{rate: rate, gaps: g}
	case o.Duration > 0:
		return &rampByTime{ramp: *o.Ramp, d: o.Duration.Seconds(), gaps: g, progress: r.setOffered}
	default:
		return &rampByIndex{ramp: *o.Ramp, n: o.NumRequests, gaps: g, progress: r.setOffered}
	}
}

// setOffered shows a ramp's current rate in the progress.
func (r *Runner) setOffered(rate float64) {
	r.pmu.Lock()
	r.prog.OfferedRate = rate
	r.pmu.Unlock()
}

// steady spaces arrivals at a fixed rate.
type steady struct {
	rate float64
	gaps gaps
	i    int
	off  float64 // seconds
}

func (s *steady) next() (arrival, bool) {
	if s.i > 0 {
		if s.gaps.arrival == ArrivalConstant {
			s.off = float64(s.i) / s.rate // from i, so rounding never accumulates
		} else {
			s.off += s.gaps.next() / s.rate
		}
	}
	s.i++
	return arrival{off: seconds(s.off)}, true
}

// rampByTime schedules a ramp over d seconds by time rescaling.
type rampByTime struct {
	ramp     Ramp
	d        float64
	gaps     gaps
	progress func(rate float64)
	i        int
	u        float64 // arrivals expected by the current one
}

func (s *rampByTime) next() (arrival, bool) {
	if s.i > 0 {
		if s.gaps.arrival == ArrivalConstant {
			s.u = float64(s.i)
		} else {
			s.u += s.gaps.next()
		}
	}
	s.i++
	if s.u > s.ramp.integral(s.d, s.d) {
		// Past the ramp's end: the step's window is over.
		return arrival{off: seconds(s.d)}, true
	}
	t := s.ramp.inverse(s.u, s.d)
	rate := s.ramp.rateAt(t, s.d)
	s.progress(rate)
	return arrival{off: seconds(t), rate: rate}, true
}

func (s *rampByTime) offeredAt(off time.Duration) float64 {
	return s.ramp.rateAt(off.Seconds(), s.d)
}

// rampByIndex schedules a ramp over n requests, vLLM's way: request i's
// gap is drawn at the rate of progress i/(n-1).
type rampByIndex struct {
	ramp     Ramp
	n        int
	gaps     gaps
	progress func(rate float64)
	i        int
	off      float64

	mu    sync.Mutex // offs and rates are read by the requests' goroutines
	offs  []time.Duration
	rates []float64
}

func (s *rampByIndex) next() (arrival, bool) {
	p := 0.0
	if s.n > 1 {
		p = min(float64(s.i)/float64(s.n-1), 1)
	}
	rate := s.ramp.rateAtProgress(p)
	if s.i > 0 {
		s.off += s.gaps.next() / rate
	}
	s.i++
	a := arrival{off: seconds(s.off), rate: rate}
	s.mu.Lock()
	s.offs, s.rates = append(s.offs, a.off), append(s.rates, rate)
	s.mu.Unlock()
	s.progress(rate)
	return a, true
}

func (s *rampByIndex) offeredAt(off time.Duration) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := sort.Search(len(s.offs), func(i int) bool { return s.offs[i] > off }) - 1
	if i < 0 {
		return 0
	}
	return s.rates[i]
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// offered sets a timeline entry's offered rate from the step's schedule:
// the rate a ramp offered at the entry's scheduled time.
func (st *stepRun) offered(e *Entry) *Entry {
	if or, ok := st.arrivals.(offeredRates); ok && !e.Scheduled.IsZero() {
		e.OfferedRate = or.offeredAt(e.Scheduled.Sub(st.start.Add(-st.spec.warmup)))
	}
	return e
}

// exactRate reports whether a rate step's arrivals are exactly its rate
// (constant spacing at a fixed rate), so that its arrival rate is the
// offered one rather than a measured draw.
func (o *Options) exactRate() bool {
	return o.Arrival == ArrivalConstant && o.Ramp == nil && o.Mode != ModeTrace
}

var errNoArrivals = errors.New("trace mode needs a trace with at least one request in its window")
