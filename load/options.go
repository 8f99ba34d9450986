// Package load runs load against one endpoint: open-loop arrivals at fixed
// rates (constant, Poisson or gamma spacing) or along a ramp, a replayed
// request trace, closed-loop virtual users, and a sweep that finds the
// maximum throughput and then scans rates up to it. Every mode
// uses the same client and produces the same probe.Records; a run's Result
// holds its summaries, computed from those Records.
//
// Open-loop arrivals are never delayed by earlier requests (no coordinated
// omission): each request starts at its scheduled time whether or not the
// previous ones have finished. Arrivals that find max_in_flight requests
// already running are dropped and counted as failures, never queued.
//
// Step edges: when a step's arrivals stop, its requests still in flight are
// drained, bounded by Options.Drain; those that finish count for the step
// (and the drain time is reported), those still running at the bound are
// cut and counted as failures. Rates are estimated over the middle 80 % of a
// step's events, so neither the ramp nor the drain biases them.
package load

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/llmprobe/llmprobe/probe"
)

// Modes (Options.Mode).
const (
	ModeRate       = "rate"
	ModeThroughput = "throughput"
	ModeSweep      = "sweep"
	// ModeTrace replays Options.Trace open loop: one step of kind rate
	// whose arrivals are the trace's (trace.go).
	ModeTrace = "trace"
)

// Arrival processes (Options.Arrival).
const (
	ArrivalConstant = "constant"
	ArrivalPoisson  = "poisson"
	// ArrivalGamma draws gaps from a gamma distribution of shape
	// Options.Burstiness and mean 1/rate (arrivals.go).
	ArrivalGamma = "gamma"
)

// Phases a Record carries (Record.Phase) besides the run's own phase.
const PhaseWarmup = "warmup"

// ResultDropped is the error class of arrivals the in-flight cap refused.
const ResultDropped = "dropped"

// Defaults applied by New to zero Options fields.
const (
	DefaultMaxInFlight       = 1024
	DefaultMaxVUs            = 64
	DefaultNumRates          = 10
	DefaultStopErrorRatio    = 0.5
	DefaultStopLatencyFactor = 10
	DefaultSLOAttainment     = 0.95
	DefaultLagThreshold      = 10 * time.Millisecond
	DefaultMinDrain          = 5 * time.Second
	DefaultPhase             = "soak"

	// AchievedRatio is how much of the offered rate a sweep step must
	// achieve to count towards the detected max throughput.
	AchievedRatio = 0.95
	// SweepHeadroom: sweep steps are spread from MaxRate*SweepHeadroom/
	// NumRates up to MaxRate*SweepHeadroom, as inference-benchmarker does,
	// so that the top steps probe just past the maximum the virtual users
	// found (closed-loop users can under-estimate what an open loop gets).
	SweepHeadroom = 1.2
	// MaxNumRates bounds a sweep's steps (and its per-step series).
	MaxNumRates = 50
	// stopMinRequests: a step is stopped for errors only once this many of
	// its requests have finished.
	stopMinRequests = 20
	// DeadEndpointFailures: when this many requests of a run (warmup
	// included) have failed and none has succeeded yet, the endpoint is
	// not serving and the run stops at once, with the last failure as the
	// reason, instead of hammering it for a whole step.
	DeadEndpointFailures = 5
)

// Options configure a run.
type Options struct {
	Mode    string
	Arrival string // rate and sweep: constant (default), poisson or gamma
	// Burstiness is the shape of gamma arrivals (vLLM's --burstiness): 1
	// is Poisson, below 1 burstier, above 1 more regular. Gamma only.
	Burstiness float64
	// Ramp (rate mode, instead of Rates) moves the offered rate from its
	// start to its end rate over the step (arrivals.go).
	Ramp *Ramp
	// Trace (trace mode) is the trace replayed (trace.go).
	Trace *Trace

	Rates    []float64 // rate mode: requests/s, each offered for Duration
	VUs      int       // throughput mode: closed-loop virtual users
	MaxVUs   int       // sweep: users of the throughput phase; default 64
	NumRates int       // sweep: rate steps after it, up to MaxNumRates; default 10

	// Duration is the measured time of each step (each rate, the
	// throughput run, the sweep's throughput phase and each of its rates).
	// Zero means no time limit: NumRequests must then be set.
	Duration time.Duration
	// NumRequests, when set, ends each step after that many measured
	// arrivals (whichever of it and Duration comes first).
	NumRequests int
	// Warmup is load sent before the first measured step, in its shape
	// (the first rate, or the users), and left out of every summary.
	Warmup time.Duration
	// MaxInFlight caps concurrent requests; arrivals beyond it are dropped
	// and counted as failures. Default 1024.
	MaxInFlight int
	// Drain bounds the wait for a step's requests after its last arrival;
	// requests still running then are cut (failures of class canceled).
	// Default: the step's Duration, at least DefaultMinDrain; unbounded
	// for steps limited only by NumRequests.
	Drain time.Duration

	// StopErrorRatio stops the run once a step's error ratio exceeds it
	// (checked during the step too, so a dead server is not hammered).
	// Default 0.5.
	StopErrorRatio float64
	// StopLatencyFactor stops a sweep after a step whose median end-to-end
	// latency exceeds this multiple of the first rate step's. Default 10.
	StopLatencyFactor float64

	// SLO is the per-request objective (goodput, and sweep steps).
	SLO probe.SLO
	// ErrorRatio is the largest error ratio a sweep step may have to count
	// towards the detected max throughput; zero: not checked (failures
	// still lower the achieved rate, which counts successes only).
	ErrorRatio float64
	// SLOAttainment is the share of a step's successful requests that must
	// meet SLO for the step to count; default 0.95. Unused without an SLO.
	SLOAttainment float64

	// LagThreshold: a run whose schedule lag p99 exceeds it says that the
	// client was the bottleneck. Default 10ms.
	LagThreshold time.Duration

	Seed int64

	// Labels of the run and its Records.
	Name   string // soak name; becomes Record.Name
	Phase  string // Record.Phase of measured requests; default "soak"
	Target string
	Model  string
	Kind   probe.Kind

	// Workload describes what is sent, for the result's context.
	Workload WorkloadInfo

	// Sink, if set, receives every request's timeline entry as it
	// finishes (the archive's timeline file).
	Sink Sink
	// KeepRecords keeps every Record in Result.Records (tests, small runs).
	KeepRecords bool

	// Shard makes the run one of Shard.Count processes that share it, and
	// StartAt the wall-clock time they all start at (shard.go); Samples,
	// if set, receives every measured request, for llmprobe merge
	// (samples.go).
	Shard   Shard
	StartAt time.Time
	Samples SampleRecorder
}

// WorkloadInfo describes the requests of a run.
type WorkloadInfo struct {
	Name        string        `json:"name,omitempty"`
	Prompt      string        `json:"prompt,omitempty"` // "fixed", "synthetic", "dataset" or "trace"
	Dataset     string        `json:"dataset,omitempty"`
	InputTokens int           `json:"input_tokens,omitempty"`
	Output      DecodeOptions `json:"decode_options"`
	PrefixCache string        `json:"prefix_cache,omitempty"`
}

// DecodeOptions are the requested output lengths (inference-benchmarker's
// decode options).
type DecodeOptions struct {
	NumTokens int `json:"num_tokens"`
	MaxTokens int `json:"max_tokens,omitempty"`
	MinTokens int `json:"min_tokens,omitempty"`
	Variance  int `json:"variance,omitempty"`
}

// withDefaults validates o and fills its defaults.
func (o Options) withDefaults() (Options, error) {
	if o.Arrival == "" {
		o.Arrival = ArrivalConstant
	}
	if o.MaxInFlight == 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	if o.StopErrorRatio == 0 {
		o.StopErrorRatio = DefaultStopErrorRatio
	}
	if o.StopLatencyFactor == 0 {
		o.StopLatencyFactor = DefaultStopLatencyFactor
	}
	if o.SLOAttainment == 0 {
		o.SLOAttainment = DefaultSLOAttainment
	}
	if o.LagThreshold == 0 {
		o.LagThreshold = DefaultLagThreshold
	}
	if o.Phase == "" {
		o.Phase = DefaultPhase
	}
	if o.Mode == ModeSweep {
		if o.MaxVUs == 0 {
			o.MaxVUs = min(DefaultMaxVUs, o.MaxInFlight)
		}
		if o.NumRates == 0 {
			o.NumRates = DefaultNumRates
		}
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch o.Mode {
	case ModeRate:
		if len(o.Rates) == 0 && o.Ramp == nil {
			bad("rate mode needs at least one rate")
		}
		for _, r := range o.Rates {
			if !(r > 0) || math.IsInf(r, 0) {
				bad("rate %v: must be a positive number", r)
			}
		}
	case ModeThroughput:
		if o.VUs < 1 {
			bad("throughput mode needs at least one virtual user")
		}
		if o.VUs > o.MaxInFlight {
			bad("vus (%d) exceeds max_in_flight (%d)", o.VUs, o.MaxInFlight)
		}
	case ModeSweep:
		if o.MaxVUs < 1 || o.MaxVUs > o.MaxInFlight {
			bad("max_vus must be between 1 and max_in_flight (%d)", o.MaxInFlight)
		}
		if o.NumRates < 1 || o.NumRates > MaxNumRates {
			bad("num_rates must be between 1 and %d", MaxNumRates)
		}
		if o.Duration <= 0 {
			bad("sweep mode needs a duration")
		}
	case ModeTrace:
	default:
		bad("unknown mode %q (want rate, throughput, sweep or trace)", o.Mode)
	}
	if o.Arrival != ArrivalConstant && o.Arrival != ArrivalPoisson && o.Arrival != ArrivalGamma {
		bad("unknown arrival %q (want constant, poisson or gamma)", o.Arrival)
	}
	errs = append(errs, o.checkArrivals()...)
	errs = append(errs, o.checkShard()...)
	if o.Duration < 0 || o.Warmup < 0 || o.Drain < 0 {
		bad("durations must not be negative")
	}
	if o.Duration == 0 && o.NumRequests <= 0 && o.Mode != ModeTrace {
		bad("set a duration or a number of requests")
	}
	if o.MaxInFlight < 1 {
		bad("max_in_flight must be positive")
	}
	if !(o.StopErrorRatio > 0 && o.StopErrorRatio <= 1) {
		bad("stop_error_ratio must be above 0 and at most 1")
	}
	if !(o.ErrorRatio >= 0 && o.ErrorRatio <= 1) {
		bad("error_ratio must be between 0 and 1")
	}
	return o, errors.Join(errs...)
}

// drainFor returns the drain bound of a step (0: unbounded).
func (o *Options) drainFor(window time.Duration) time.Duration {
	if o.Drain > 0 {
		return o.Drain
	}
	if window <= 0 {
		return 0
	}
	return max(window, DefaultMinDrain)
}
