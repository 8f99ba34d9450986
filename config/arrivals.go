package config

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/prometheus/common/model"

	"github.com/llmprobe/llmprobe/dataset"
	"github.com/llmprobe/llmprobe/load"
)

// Arrival processes and replayed traces of soaks (issue 14).
const (
	// ArrivalGamma spaces open-loop arrivals by gamma-distributed gaps of
	// shape Burstiness (1 is Poisson, below 1 burstier, above 1 smoother),
	// as vLLM's --burstiness.
	ArrivalGamma = "gamma"
	// ModeTrace replays a trace file's requests open loop at its times.
	ModeTrace = "trace"
)

// Ramp strategies.
const (
	RampLinear      = "linear"
	RampExponential = "exponential"
)

// Ramp (rate mode) offers a rate that moves from StartRate to EndRate over
// the step's duration, linearly or exponentially, as vLLM's
// --ramp-up-strategy; it replaces rates:.
type Ramp struct {
	Strategy  string  `yaml:"strategy,omitempty" json:"strategy,omitempty"` // linear (default) or exponential
	StartRate float64 `yaml:"start_rate" json:"start_rate"`
	EndRate   float64 `yaml:"end_rate" json:"end_rate"`
}

// Trace (trace mode) is a request trace replayed at its own times: a
// Mooncake JSONL file (timestamp in ms, input_length, output_length,
// hash_ids) or a CSV (timestamp_ms, input_tokens, output_tokens), sped up
// by Speed, optionally only the window [Start, End) of it (times from the
// trace's first request).
//
// BlockTokens is the size of the blocks a Mooncake trace's hash_ids name
// (Mooncake's 512; traces made for other block sizes exist): it checks
// each request's input_length against its ids and sizes the shared text
// of each block. It is an addition to the schema: without it such a trace
// would be refused, or replayed with wrong shared prefixes.
type Trace struct {
	File        string         `yaml:"file" json:"file"`
	Format      string         `yaml:"format,omitempty" json:"format,omitempty"` // mooncake or csv; default from the extension
	Speed       float64        `yaml:"speed,omitempty" json:"speed,omitempty"`   // default 1
	Start       model.Duration `yaml:"start,omitempty" json:"start,omitempty"`
	End         model.Duration `yaml:"end,omitempty" json:"end,omitempty"`
	BlockTokens int            `yaml:"block_tokens,omitempty" json:"block_tokens,omitempty"` // default 512

	// parsed is the file's requests, read when the config was loaded
	// (files.go's habit): reflect.DeepEqual sees them, so a soak whose
	// trace changed is rebuilt on reload.
	parsed parsedTrace
}

type parsedTrace struct {
	path, format string
	block        int
	requests     []dataset.TraceRequest
}

// readTrace is dataset.LoadTrace, a variable so that a test can count the
// reads.
var readTrace = dataset.LoadTrace

var (
	rampStrategies = []string{RampLinear, RampExponential}
	traceFormats   = []string{dataset.TraceMooncake, dataset.TraceCSV}
)

// MaxBlockTokens bounds a trace's block size.
const MaxBlockTokens = 1 << 20

// TraceFormat is the trace's format: Format, else csv for a *.csv file and
// mooncake for any other.
func (t *Trace) TraceFormat() string {
	if t.Format != "" {
		return t.Format
	}
	return dataset.TraceFormatOf(t.File)
}

// Blocks is BlockTokens, default dataset.MooncakeBlockTokens.
func (t *Trace) Blocks() int { return orDefault(t.BlockTokens, dataset.MooncakeBlockTokens) }

// Rate is Speed, default 1.
func (t *Trace) Rate() float64 { return orDefault(t.Speed, 1) }

// Parse reads the trace file and keeps its requests.
func (t *Trace) Parse() error {
	reqs, err := readTrace(t.File, t.TraceFormat(), t.Blocks())
	if err != nil {
		return err
	}
	t.parsed = parsedTrace{path: t.File, format: t.TraceFormat(), block: t.Blocks(), requests: reqs}
	return nil
}

// Requests returns the trace's requests: those parsed when the config was
// loaded, else (a Trace built in code, or changed since) read now.
func (t *Trace) Requests() ([]dataset.TraceRequest, error) {
	if pt := &t.parsed; pt.requests != nil && pt.path == t.File && pt.format == t.TraceFormat() && pt.block == t.Blocks() {
		return pt.requests, nil
	}
	return readTrace(t.File, t.TraceFormat(), t.Blocks())
}

// Schedule returns the replay of the trace as the load engine takes it: its
// arrivals in the window at the speed, and what the result says of it. The
// caller sets its Requests (workload.NewTrace builds them).
func (t *Trace) Schedule() (*load.Trace, error) {
	reqs, err := t.Requests()
	if err != nil {
		return nil, err
	}
	times := make([]time.Duration, len(reqs))
	for i, r := range reqs {
		times[i] = r.At
	}
	arr, err := load.TraceWindow(times, t.Rate(), time.Duration(t.Start), time.Duration(t.End))
	if err != nil {
		return nil, err
	}
	info := load.TraceInfo{File: t.File, Format: t.TraceFormat(), Speed: t.Rate(),
		StartS: time.Duration(t.Start).Seconds(), EndS: time.Duration(t.End).Seconds(), TraceRequests: len(reqs)}
	if slices.ContainsFunc(reqs, func(r dataset.TraceRequest) bool { return len(r.HashIDs) > 0 }) {
		info.BlockTokens = t.Blocks()
	}
	return &load.Trace{Arrivals: arr, Info: info}, nil
}

// loadRamp is r as the load engine takes it.
func (r *Ramp) loadRamp() *load.Ramp {
	if r == nil {
		return nil
	}
	return &load.Ramp{Strategy: orDefault(r.Strategy, RampLinear), StartRate: r.StartRate, EndRate: r.EndRate}
}

// loadTrace is the soak's trace replay (nil outside trace mode, or when
// its file cannot be read: the load engine then refuses the run).
func (s *Soak) loadTrace() *load.Trace {
	if s.Mode != ModeTrace || s.Trace == nil {
		return nil
	}
	tr, err := s.Trace.Schedule()
	if err != nil {
		return nil
	}
	return tr
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// validateArrivals checks a soak's burstiness, ramp and trace fields.
func (l *loader) validateArrivals(s *Soak, p string) {
	bp := p + ".burstiness"
	burst := l.has(bp, s.Burstiness != 0)
	switch {
	case l.bad[bp]:
	case s.Arrival == ArrivalGamma && !burst:
		l.errorf(bp, "required with arrival: gamma (the gamma shape: 1 is poisson, below 1 burstier, above 1 more regular)")
	case burst && s.Arrival != ArrivalGamma:
		l.errorf(bp, "only used with arrival: gamma")
	case burst && !(s.Burstiness > 0 && finite(s.Burstiness)):
		l.errorf(bp, "must be a positive number")
	}
	if s.Ramp != nil {
		l.validateRamp(s, p)
	}
	switch {
	case s.Mode == ModeTrace && s.Trace == nil:
		l.required(p+".trace", true)
	case s.Trace != nil && s.Mode != ModeTrace:
		l.errorf(p+".trace", "only used in trace mode")
	case s.Trace != nil:
		l.validateTrace(s.Trace, p+".trace")
	}
}

func (l *loader) validateRamp(s *Soak, p string) {
	rp := p + ".ramp"
	if l.bad[rp] {
		return
	}
	r := s.Ramp
	switch {
	case s.Mode != ModeRate:
		l.errorf(rp, "only used in rate mode")
	case len(s.Rates) > 0:
		l.errorf(rp, "replaces rates: give one or the other")
	}
	if l.has(p+".warmup", s.Warmup != 0) {
		l.errorf(p+".warmup", "not used with a ramp: it starts at its start_rate")
	}
	l.oneOf(rp+".strategy", "strategy", r.Strategy, rampStrategies)
	sp, ep := rp+".start_rate", rp+".end_rate"
	// Both rates are required, as vLLM's --ramp-up-start-rps and
	// --ramp-up-end-rps are: a start of 0 (linear) must be written.
	l.required(sp, l.fromYAML && !l.present[sp])
	l.required(ep, !l.has(ep, r.EndRate != 0))
	switch {
	case l.bad[sp]:
	case !finite(r.StartRate) || r.StartRate < 0:
		l.errorf(sp, "must be a number >= 0")
	case r.StartRate == 0 && r.Strategy == RampExponential:
		l.errorf(sp, "must be above 0 for an exponential ramp")
	}
	if !l.bad[ep] && l.has(ep, r.EndRate != 0) && !(finite(r.EndRate) && r.EndRate > 0) {
		l.errorf(ep, "must be a positive number")
	}
}

func (l *loader) validateTrace(t *Trace, tp string) {
	if l.bad[tp] {
		return
	}
	fp := tp + ".file"
	l.required(fp, t.File == "")
	l.oneOf(tp+".format", "format", t.Format, traceFormats)
	if sp := tp + ".speed"; l.has(sp, t.Speed != 0) && !(t.Speed > 0 && finite(t.Speed)) {
		l.errorf(sp, "must be a positive number")
	}
	if t.Start < 0 {
		l.errorf(tp+".start", "must not be negative")
	}
	window := true
	if ep := tp + ".end"; l.has(ep, t.End != 0) && t.End <= t.Start {
		l.errorf(ep, "must be after start (%s)", t.Start)
		window = false
	}
	l.intRange(tp+".block_tokens", t.BlockTokens, 1, MaxBlockTokens)
	if l.has(tp+".block_tokens", t.BlockTokens != 0) && t.TraceFormat() == dataset.TraceCSV {
		l.errorf(tp+".block_tokens", "only used with mooncake traces (a CSV trace has no hash_ids)")
	}
	if t.File == "" || !slices.Contains(traceFormats, t.TraceFormat()) || t.BlockTokens < 0 || t.BlockTokens > MaxBlockTokens {
		return
	}
	t.File = resolvePath(l.dir, t.File)
	parsed := false
	l.checkFile(fp, t.File, func(string) error {
		err := t.Parse()
		parsed = err == nil
		return err
	})
	if !parsed || !window || t.Start < 0 || !(t.Rate() > 0 && finite(t.Rate())) {
		return
	}
	if _, err := t.Schedule(); err != nil {
		at := tp + ".start"
		if t.End != 0 {
			at = tp + ".end"
		}
		l.errorf(at, "%s", err)
	}
}

// checkTraceRun checks that a trace soak's targets and workload can replay
// a trace: its requests are chat or completions requests whose prompts and
// output lengths the trace gives, so a workload field that would shape
// them too is refused rather than silently overridden.
func (l *loader) checkTraceRun(p string, s *Soak, c *Config) {
	if s.Mode != ModeTrace {
		return
	}
	for i, name := range s.Targets {
		t := c.Target(name)
		if t == nil {
			continue
		}
		if kind := orDefault(t.Kind, KindChat); kind != KindChat && kind != KindCompletions {
			l.errorf(fmt.Sprintf("%s.targets[%d]", p, i), "target %s is of kind %s: a trace replays chat or completions requests", quote(name), kind)
		}
	}
	wi := slices.IndexFunc(c.Workloads, func(w Workload) bool { return w.Name == s.Workload })
	if wi < 0 || l.bad[p+".workload"] {
		return
	}
	w := &c.Workloads[wi]
	wp := fmt.Sprintf("workloads[%d]", wi)
	// The values applyDefaults gives a workload without them pass: they
	// are what String writes back, and a config must load again from it.
	for _, f := range []struct {
		field string
		set   bool
	}{
		{"prompt", w.Prompt != "" && w.Prompt != DefaultPrompt},
		{"input_tokens", w.InputTokens != 0},
		{"dataset", w.Dataset != ""},
		{"system", w.System != ""},
		{"output_tokens", w.OutputTokens != (DecodeOptions{}) && w.OutputTokens != (DecodeOptions{NumTokens: DefaultNumTokens})},
		{"images", len(w.Images) > 0},
		{"conversation", w.Conversation != nil},
		{"shared_prefix", w.SharedPrefix != nil},
		{"tools_file", w.ToolsFile != ""},
		{"tool_choice", w.ToolChoice != ""},
		{"json_schema_file", w.JSONSchemaFile != ""},
	} {
		if f.set && l.has(wp+"."+f.field, true) {
			l.errorf(p+".workload", "workload %s sets %s, which trace mode does not send: the trace gives each request's prompt length, shared prefixes and output length", quote(w.Name), f.field)
		}
	}
}
