package load

import (
	"context"
	"fmt"
	"time"

	"github.com/llmprobe/llmprobe/probe"
)

// Trace mode replays a request trace open loop: each of its requests is
// sent at its own time in the trace (sped up, within a window), whatever
// the earlier ones are doing, with the prompt and output lengths the trace
// gives it. The run has one step, of kind rate, whose offered rate is the
// trace's mean; schedule lag and dropped arrivals are counted as in any
// rate step.

// TraceRequests builds the request of each request of a trace, by its
// index in the trace; *workload.TraceGenerator is one. Only the run's
// arrivals goroutine calls it, each arrival just before it is due.
type TraceRequests interface {
	Request(i int) probe.Request
}

// Trace is a trace to replay.
type Trace struct {
	// Arrivals are the requests replayed, in order of time: each one's
	// offset from the start of the run and its index in the trace.
	Arrivals []TraceArrival
	// Requests builds each arrival's request.
	Requests TraceRequests
	// Info describes the trace in the result.
	Info TraceInfo
}

// TraceArrival is one request of a trace: when it is sent, from the start
// of the replay, and which of the trace's requests it is.
type TraceArrival struct {
	At    time.Duration
	Index int
}

// TraceInfo describes a replayed trace in a run's result.
type TraceInfo struct {
	File   string  `json:"file"`
	Format string  `json:"format"`
	Speed  float64 `json:"speed"`
	// StartS and EndS are the window of the trace replayed, in seconds of
	// the trace from its first request (EndS 0: to its end).
	StartS float64 `json:"start_s"`
	EndS   float64 `json:"end_s,omitempty"`
	// TraceRequests is the requests in the file, Requests those of the
	// window (the replay's arrivals).
	TraceRequests int `json:"trace_requests"`
	Requests      int `json:"requests"`
	// SpanS is how long the replay issues arrivals: the window at Speed
	// (to its last request when it has no end).
	SpanS float64 `json:"span_s"`
	// MeanRate is Requests / SpanS, the step's offered rate.
	MeanRate float64 `json:"mean_rate"`
	// BlockTokens is the size of the prefix blocks the trace's hash_ids
	// name (Mooncake's 512), when it has them.
	BlockTokens int `json:"block_tokens,omitempty"`
}

// TraceWindow turns a trace's request times (as recorded, in order) into
// the arrivals of a replay: times count from the first request; those in
// [start, end) are replayed (end 0: to the end), at (time − start) / speed.
// It fails when the window holds no request.
func TraceWindow(times []time.Duration, speed float64, start, end time.Duration) ([]TraceArrival, error) {
	if !(speed > 0) || !finite(speed) {
		return nil, fmt.Errorf("trace speed %v: must be a positive number", speed)
	}
	if start < 0 || (end != 0 && end <= start) {
		return nil, fmt.Errorf("trace window [%s, %s): the end must be after the start, and the start not negative", start, end)
	}
	if len(times) == 0 {
		return nil, errNoArrivals
	}
	zero := times[0]
	var out []TraceArrival
	for i, t := range times {
		rel := t - zero
		if rel < start || (end != 0 && rel >= end) {
			continue
		}
		out = append(out, TraceArrival{At: time.Duration(float64(rel-start) / speed), Index: i})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("the window [%s, %s) of the trace holds none of its %d requests (they span %s)",
			start, endOrOpen(end), len(times), times[len(times)-1]-zero)
	}
	return out, nil
}

func endOrOpen(end time.Duration) string {
	if end == 0 {
		return "end"
	}
	return end.String()
}

// span is how long the replay issues arrivals.
func (t *Trace) span() time.Duration {
	if t.Info.EndS > 0 {
		return seconds((t.Info.EndS - t.Info.StartS) / t.Info.Speed)
	}
	return t.Arrivals[len(t.Arrivals)-1].At
}

// info is Info with the figures of the replay filled in.
func (t *Trace) info() *TraceInfo {
	in := t.Info
	in.Requests = len(t.Arrivals)
	in.SpanS = t.span().Seconds()
	if in.SpanS > 0 {
		in.MeanRate = float64(in.Requests) / in.SpanS
	}
	return &in
}

// workload is what a trace replay's requests are, in the result: the
// trace's prompts and output lengths, not the workload's.
func (t *Trace) workload(w WorkloadInfo) WorkloadInfo {
	w.Prompt, w.Dataset, w.InputTokens, w.Output = "trace", t.Info.File, 0, DecodeOptions{}
	return w
}

// checkTrace validates a trace mode run's options.
func (o *Options) checkTrace() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	t := o.Trace
	switch {
	case t == nil || len(t.Arrivals) == 0:
		errs = append(errs, errNoArrivals)
	case t.Requests == nil:
		bad("trace mode needs the trace's requests")
	case !(t.Info.Speed > 0) || !finite(t.Info.Speed):
		bad("trace speed %v: must be a positive number", t.Info.Speed)
	default:
		for i, a := range t.Arrivals {
			if a.At < 0 || a.Index < 0 || (i > 0 && a.At < t.Arrivals[i-1].At) {
				bad("trace arrival %d: times must be in order and not negative, indexes not negative", i)
				break
			}
		}
	}
	// The trace sets the load's shape: what would shape it too is refused.
	if len(o.Rates) > 0 || o.VUs != 0 || o.MaxVUs != 0 || o.NumRates != 0 {
		bad("trace mode takes no rates or users: the trace's times are the arrivals")
	}
	if o.Arrival != ArrivalConstant {
		bad("trace mode takes no arrival process: the trace's times are the arrivals")
	}
	if o.Duration != 0 || o.Warmup != 0 {
		bad("trace mode takes no duration or warmup: the trace's window sets them")
	}
	return errs
}

// runTrace runs a trace mode run's one step.
func (r *Runner) runTrace(ctx context.Context, res *Result, add func(*Step, *stepRun), interrupted func() bool) {
	r.setSteps(1)
	s, st := r.runStep(ctx, stepSpec{index: 1, kind: StepRate, rate: r.o.Trace.info().MeanRate})
	add(s, st)
	if s.Stopped != "" && !interrupted() {
		res.StopReason = s.Stopped
	}
}

// traceSchedule hands out a trace's arrivals with their requests.
type traceSchedule struct {
	arrivals []TraceArrival
	reqs     TraceRequests
	i        int
}

func (s *traceSchedule) next() (arrival, bool) {
	if s.i >= len(s.arrivals) {
		return arrival{}, false
	}
	a := s.arrivals[s.i]
	s.i++
	req := s.reqs.Request(a.Index)
	return arrival{off: a.At, req: &req}, true
}
