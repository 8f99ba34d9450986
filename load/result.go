package load

import (
	"bufio"
	"encoding/json"
	"io"
	"time"

	"github.com/llmprobe/llmprobe/gpu"
	"github.com/llmprobe/llmprobe/probe"
)

// Run statuses (Result.Status).
const (
	// StatusCompleted: every step ran (or the run stopped early on its
	// stop conditions, which StopReason says).
	StatusCompleted = "completed"
	// StatusInterrupted: the run was stopped from outside (Ctrl-C,
	// shutdown, reload); its figures cover what was measured until then.
	StatusInterrupted = "interrupted"
)

// Result is one run: its context, a summary of every measured request, one
// entry per step, and for a sweep the detected max throughput.
type Result struct {
	ID     string     `json:"id,omitempty"` // set by whoever stores it
	Name   string     `json:"name,omitempty"`
	Target string     `json:"target"`
	Model  string     `json:"model"`
	Kind   probe.Kind `json:"kind,omitempty"`
	Mode   string     `json:"mode"`

	Status string `json:"status"`
	// Passed: the run completed, at least one request succeeded, its
	// error ratio stayed within Options.ErrorRatio (when set) and, for a
	// sweep, a max throughput was found (see Success).
	Passed bool `json:"passed"`
	// StopReason says why a run ended before its last step.
	StopReason string `json:"stop_reason,omitempty"`

	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended"`

	Context Context `json:"context"`
	// Summary covers every measured request of every step.
	Summary Summary `json:"summary"`
	Steps   []Step  `json:"steps"`

	// MaxThroughput is what the sweep's throughput phase achieved.
	MaxThroughput *Throughput `json:"max_throughput,omitempty"`
	// DetectedMax is the sweep's detected max throughput: the highest
	// offered rate at which achieved >= 95 % of offered, errors stayed
	// within ErrorRatio and the SLO held. Nil when no step qualified (or
	// not a sweep).
	DetectedMax *Throughput `json:"detected_max_throughput,omitempty"`
	// SaturationRate is the offered rate (requests/s) of the first sweep
	// step the over-saturation test flagged (oversat.go), where the sweep
	// stopped: the p99 knee seen as a rate. 0 when none was.
	SaturationRate float64 `json:"saturation_rate,omitempty"`

	// ClientBottleneck: the schedule lag p99 exceeded LagThreshold, so the
	// client, not the server, limited what was offered.
	ClientBottleneck bool   `json:"client_bottleneck"`
	ClientNote       string `json:"client_note,omitempty"`

	// GPU holds the utilization and VRAM samples of the GPUs on the machine
	// that ran the load, taken while it ran (soaks on a GPU host), so a run
	// shows resources against time next to its latency timeline.
	GPU *GPUTimeline `json:"gpu,omitempty"`

	// Server is the model server's own metrics during the run (its
	// metrics page scraped every second) and the verdicts drawn from them.
	Server *ServerView `json:"server,omitempty"`

	// SinkError is the first error writing the timeline, if any.
	SinkError string `json:"sink_error,omitempty"`

	// Records holds every Record when Options.KeepRecords is set.
	Records []*probe.Record `json:"-"`
}

// Throughput is a request rate and the output token rate that went with it.
type Throughput struct {
	Step                   int     `json:"step,omitempty"`
	RequestsPerSecond      float64 `json:"requests_per_second"`
	OutputTokensPerSecond  float64 `json:"output_tokens_per_second"`
	AchievedRequestsPerSec float64 `json:"achieved_requests_per_second,omitempty"`
}

// Success reports whether the run completed, stayed within errRatio (if
// positive) and, for a sweep, found a max throughput.
func (r *Result) Success(errRatio float64) bool {
	if r.Status != StatusCompleted || r.Summary.Successful == 0 {
		return false // nothing served is never a pass, whatever the ratio
	}
	if errRatio > 0 && r.Summary.ErrorRatio > errRatio {
		return false
	}
	if r.Mode == ModeSweep && r.DetectedMax == nil {
		return false
	}
	return true
}

// Context records how the run was configured, so that a result file can be
// read on its own.
type Context struct {
	Mode           string       `json:"mode"`
	Arrival        string       `json:"arrival,omitempty"`
	Burstiness     float64      `json:"burstiness,omitempty"` // gamma arrivals' shape
	Rates          []float64    `json:"rates,omitempty"`
	Ramp           *RampInfo    `json:"ramp,omitempty"`  // rate mode, instead of rates
	Trace          *TraceInfo   `json:"trace,omitempty"` // trace mode
	VUs            int          `json:"vus,omitempty"`
	MaxVUs         int          `json:"max_vus,omitempty"`
	NumRates       int          `json:"num_rates,omitempty"`
	DurationS      float64      `json:"duration_s"`
	NumRequests    int          `json:"num_requests,omitempty"`
	WarmupS        float64      `json:"warmup_s"`
	DrainS         float64      `json:"drain_bound_s,omitempty"`
	MaxInFlight    int          `json:"max_in_flight"`
	StopErrorRatio float64      `json:"stop_error_ratio"`
	ErrorRatio     float64      `json:"error_ratio,omitempty"`
	SLO            *SLOSpec     `json:"slo,omitempty"`
	LagThresholdMS float64      `json:"lag_threshold_ms"`
	Seed           int64        `json:"seed"`
	Workload       WorkloadInfo `json:"workload"`
	Target         string       `json:"target"`
	Model          string       `json:"model"`
	Kind           probe.Kind   `json:"kind,omitempty"`
	StepEdges      string       `json:"step_edges"`
}

// Step kinds.
const (
	StepThroughput = "throughput"
	StepRate       = "rate"
)

// Step is one measured phase: a rate, a throughput run, or the sweep's
// throughput phase (index 0) and its rates (1..NumRates).
type Step struct {
	Index int    `json:"index"`
	Kind  string `json:"kind"`
	// OfferedRate is the configured rate (rate steps).
	OfferedRate float64 `json:"offered_rate,omitempty"`
	VUs         int     `json:"vus,omitempty"`
	// ArrivalRate is the rate at which arrivals were issued (dropped ones
	// included), measured like AchievedRate; for constant spacing it equals
	// OfferedRate, for Poisson it is this step's draw.
	ArrivalRate float64 `json:"arrival_rate"`
	// AchievedRate is the rate at which the server completed requests
	// successfully over the middle 80 % of the step's completions.
	AchievedRate float64 `json:"achieved_rate"`

	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// WindowS is the time arrivals were issued; DrainS the time from the
	// last arrival to the last request's end (or the cut).
	WindowS float64 `json:"window_s"`
	DrainS  float64 `json:"drain_s"`

	Summary Summary `json:"summary"`
	// Server is the server's view of the step, from its metrics page.
	Server *StepServer `json:"server,omitempty"`

	// Qualified (sweep rate steps): the step counts towards the detected
	// max throughput; Verdict says why not.
	Qualified *bool  `json:"qualified,omitempty"`
	Verdict   string `json:"verdict,omitempty"`
	// Stopped says why the step (and the run) ended early.
	Stopped string `json:"stopped,omitempty"`

	// OverSaturated (sweep rate steps): requests in flight and TTFT both
	// grew during the step with confidence (Saturation has the slopes);
	// such a step does not qualify and the sweep stops after it.
	OverSaturated bool        `json:"over_saturated,omitempty"`
	Saturation    *Saturation `json:"saturation,omitempty"`
}

// Entry is one line of a run's timeline: a request, or a dropped arrival.
type Entry struct {
	Step         int       `json:"step"`
	Phase        string    `json:"phase"`
	Scheduled    time.Time `json:"scheduled,omitzero"`
	Start        time.Time `json:"start,omitzero"`
	FirstToken   time.Time `json:"first_token,omitzero"`
	End          time.Time `json:"end,omitzero"`
	LagMS        float64   `json:"lag_ms,omitempty"`
	TTFTMS       float64   `json:"ttft_ms,omitempty"`
	E2EMS        float64   `json:"e2e_ms,omitempty"`
	InputTokens  int       `json:"input_tokens,omitempty"`
	OutputTokens int       `json:"output_tokens,omitempty"`
	OfferedRate  float64   `json:"offered_rate,omitempty"` // a ramp's rate at the scheduled time (req/s)
	Result       string    `json:"result"`
	HTTPStatus   int       `json:"http_status,omitempty"`
	Error        string    `json:"error,omitempty"`
	Cut          bool      `json:"cut,omitempty"`
	Interrupted  bool      `json:"interrupted,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// entryOf builds the timeline entry of a finished request.
func entryOf(step int, rec *probe.Record, cut, interrupted bool) *Entry {
	e := &Entry{
		Step:         step,
		Phase:        rec.Phase,
		Scheduled:    rec.Scheduled,
		Start:        rec.Start,
		FirstToken:   rec.FirstToken,
		End:          rec.End,
		InputTokens:  rec.InputTokens,
		OutputTokens: rec.OutputTokens,
		Result:       string(rec.Result),
		HTTPStatus:   rec.HTTPStatus,
		Error:        rec.Error,
		Cut:          cut,
		Interrupted:  interrupted,
	}
	if !rec.Scheduled.IsZero() {
		e.LagMS = ms(rec.Start.Sub(rec.Scheduled))
	}
	if d, ok := rec.TTFT(); ok {
		e.TTFTMS = ms(d)
	}
	if !rec.End.IsZero() {
		e.E2EMS = ms(rec.E2E())
	}
	return e
}

// Sink receives timeline entries, one call at a time.
type Sink interface {
	WriteEntry(e *Entry) error
}

// JSONLSink writes entries as JSON lines to a buffered writer; call Flush
// at the end.
type JSONLSink struct {
	bw  *bufio.Writer
	enc *json.Encoder
}

// NewJSONLSink returns a sink writing to w.
func NewJSONLSink(w io.Writer) *JSONLSink {
	bw := bufio.NewWriterSize(w, 64<<10)
	return &JSONLSink{bw: bw, enc: json.NewEncoder(bw)}
}

// WriteEntry implements Sink.
func (s *JSONLSink) WriteEntry(e *Entry) error { return s.enc.Encode(e) }

// Flush writes buffered entries out.
func (s *JSONLSink) Flush() error { return s.bw.Flush() }

// Progress is a snapshot of a running run, for a live display.
type Progress struct {
	Phase       string        `json:"phase"` // warmup, measure, drain, done
	Step        int           `json:"step"`
	Steps       int           `json:"steps"`
	StepKind    string        `json:"step_kind"`
	OfferedRate float64       `json:"offered_rate,omitempty"`
	VUs         int           `json:"vus,omitempty"`
	Elapsed     time.Duration `json:"elapsed"`
	Sent        int64         `json:"sent"`
	Succeeded   int64         `json:"succeeded"`
	Failed      int64         `json:"failed"`
	Dropped     int64         `json:"dropped"`
	InFlight    int64         `json:"in_flight"`
	OutputToks  int64         `json:"output_tokens"`
}

// GPUTimeline is a run's GPU samples and their summary (peak VRAM, mean
// utilization).
type GPUTimeline struct {
	Every   time.Duration `json:"every_ns"`
	Samples []gpu.Sample  `json:"samples"`
	Summary gpu.Summary   `json:"summary"`
}
