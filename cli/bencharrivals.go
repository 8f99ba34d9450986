package cli

// bench's ramps and replayed traces (issue 14): vLLM's --ramp-up-strategy,
// --ramp-up-start-rps and --ramp-up-end-rps, and --trace with its format,
// speed and window. Each turns the run resolveLoad planned into one rate
// step along a ramp, or a trace mode run, and refuses what that shape
// cannot honour. (Gamma arrivals need no flag of their own: --burstiness,
// vLLM's, is resolved with --arrival in benchdialects.go.)

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/model"

	"github.com/llmprobe/llmprobe/compat"
	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/dataset"
	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/probe"
	"github.com/llmprobe/llmprobe/workload"
)

func init() { registerBenchFlags(arrivalFlags) }

// arrivalOpts are the flags' values; strings, so that an explicit 0 is
// told from none.
type arrivalOpts struct {
	rampStrategy, rampStart, rampEnd                     string
	trace, traceFormat, traceSpeed, traceStart, traceEnd string
	traceBlock                                           string
}

func arrivalFlags(flag func(group, name, help string) *kingpin.FlagClause) benchApply {
	a := &arrivalOpts{}
	vllm := "[" + toolVLLM + "] "
	flag(groupLoad, "ramp-up-strategy", vllm+"linear or exponential: one rate step whose offered rate moves from --ramp-up-start-rps to --ramp-up-end-rps, instead of --rates; over --duration, or, with a number of requests and no --duration (vLLM's way, and its default of 1000 prompts with its flags), over the requests: request i at the rate of progress i/(n-1). Arrivals as --arrival (and --burstiness) draws them, Poisson with vLLM's flags.").EnumVar(&a.rampStrategy, load.RampLinear, load.RampExponential)
	flag(groupLoad, "ramp-up-start-rps", vllm+"The ramp's first rate, requests/s (>= 0; above 0 for exponential).").StringVar(&a.rampStart)
	flag(groupLoad, "ramp-up-end-rps", vllm+"The ramp's last rate, requests/s (above 0).").StringVar(&a.rampEnd)
	flag(groupLoad, "trace", "Replay this request trace open loop, each request at its time in the trace, with its input and output lengths: Mooncake JSON Lines (timestamp ms, input_length, output_length, hash_ids; requests sharing hash_ids blocks share that prefix text) or CSV (timestamp_ms, input_tokens, output_tokens, with a header). Schedule lag and dropped arrivals as in a rate run; --max-in-flight caps it, --num-requests cuts it.").StringVar(&a.trace)
	flag(groupLoad, "trace-format", "mooncake or csv (default: csv for a *.csv file, else mooncake).").EnumVar(&a.traceFormat, dataset.TraceMooncake, dataset.TraceCSV)
	flag(groupLoad, "trace-speed", "Replay the trace this many times faster than it was recorded (default 1).").StringVar(&a.traceSpeed)
	flag(groupLoad, "trace-start", "Replay from this far into the trace (a duration from its first request; default 0).").StringVar(&a.traceStart)
	flag(groupLoad, "trace-end", "Replay up to this far into the trace, not included (default: to its end).").StringVar(&a.traceEnd)
	flag(groupLoad, "trace-block-tokens", fmt.Sprintf("Tokens per hash_ids block of a Mooncake trace (default %d, Mooncake's).", dataset.MooncakeBlockTokens)).StringVar(&a.traceBlock)
	return a.apply
}

// apply shapes the run; it also makes the checks of the arrival process
// that need the run's final mode.
func (a *arrivalOpts) apply(o *benchOptions, lo *load.Options, ep *probe.Endpoint, w *config.Workload) error {
	var errs []error
	ramp, err := a.ramp()
	if err != nil {
		errs = append(errs, err)
	}
	rampGiven := a.rampStrategy != "" || a.rampStart != "" || a.rampEnd != ""
	switch {
	case (a.trace != "" || rampGiven) && stressShaped(o):
		errs = append(errs, errors.New("--trace and --ramp-up-strategy cannot be used with stress: it chooses every step's load itself"))
	case a.trace != "" && rampGiven:
		errs = append(errs, errors.New("--trace replays the trace's own times; it takes no --ramp-up-strategy"))
	case a.trace != "":
		errs = append(errs, a.applyTrace(o, lo, ep, w)...)
	case ramp != nil:
		errs = append(errs, applyRamp(o, lo, ep, ramp)...)
	default:
		for _, f := range []struct {
			set  bool
			flag string
		}{{a.traceFormat != "", "trace-format"}, {a.traceSpeed != "", "trace-speed"}, {a.traceStart != "", "trace-start"},
			{a.traceEnd != "", "trace-end"}, {a.traceBlock != "", "trace-block-tokens"}} {
			if f.set {
				errs = append(errs, fmt.Errorf("--%s is for --trace", f.flag))
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	// resolveLoad leaves these to here, where a ramp or a trace has
	// given the run its shape.
	switch lo.Mode {
	case load.ModeRate:
		if len(lo.Rates) == 0 && lo.Ramp == nil && len(o.rates) == 0 && o.requestRate == "" {
			errs = append(errs, errors.New("rate mode needs --rates (or --request-rate, or a --ramp-up-strategy)"))
		}
	case load.ModeThroughput:
		if o.arrival != "" || (o.burstiness != "" && o.burstiness != "1") {
			f, v := "--arrival", o.arrival
			if o.arrival == "" {
				f, v = "--burstiness", o.burstiness
			}
			errs = append(errs, fmt.Errorf("%s %s spaces open-loop arrivals; a throughput run has none (its users send their next request when the last ends)", f, v))
		}
	}
	return errors.Join(errs...)
}

// stressShaped reports whether o's load flags are the plain rate shape
// stress gives bench's planner (runStress) before it shapes each step
// itself: its own flags refuse the user's --mode, --rates, --duration and
// --warmup, so only stress sets exactly these.
func stressShaped(o *benchOptions) bool {
	return o.mode == load.ModeRate && slices.Equal(o.rates, []string{"1"}) && o.duration == "1s" && o.warmup == "0s"
}

// ramp reads the ramp flags (nil: none given).
func (a *arrivalOpts) ramp() (*load.Ramp, error) {
	if a.rampStrategy == "" && a.rampStart == "" && a.rampEnd == "" {
		return nil, nil
	}
	if a.rampStrategy == "" || a.rampStart == "" || a.rampEnd == "" {
		// vLLM: "When using --ramp-up-strategy, both --ramp-up-start-rps
		// and --ramp-up-end-rps must be specified"; the rates alone mean
		// nothing either.
		return nil, errors.New("a ramp needs all of --ramp-up-strategy, --ramp-up-start-rps and --ramp-up-end-rps")
	}
	start, err1 := strconv.ParseFloat(a.rampStart, 64)
	end, err2 := strconv.ParseFloat(a.rampEnd, 64)
	var errs []error
	switch {
	case err1 != nil || math.IsNaN(start) || math.IsInf(start, 0) || start < 0:
		errs = append(errs, fmt.Errorf("--ramp-up-start-rps: %q is not a number >= 0", a.rampStart))
	case start == 0 && a.rampStrategy == load.RampExponential:
		errs = append(errs, errors.New("--ramp-up-start-rps: an exponential ramp cannot start at 0"))
	}
	if err2 != nil || math.IsNaN(end) || math.IsInf(end, 0) || end <= 0 {
		errs = append(errs, fmt.Errorf("--ramp-up-end-rps: %q is not a positive number", a.rampEnd))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &load.Ramp{Strategy: a.rampStrategy, StartRate: start, EndRate: end}, nil
}

// shaped are the flags that shape a run's load, for refusing them where a
// ramp or a trace shapes it.
type shaped struct {
	flag  string
	given bool
}

func refuse(errs *[]error, why string, flags ...shaped) {
	for _, f := range flags {
		if f.given {
			*errs = append(*errs, fmt.Errorf("--%s: %s", f.flag, why))
		}
	}
}

func applyRamp(o *benchOptions, lo *load.Options, ep *probe.Endpoint, r *load.Ramp) []error {
	var errs []error
	refuse(&errs, "a ramp is its own rate step, from --ramp-up-start-rps to --ramp-up-end-rps (stress, which derives its rates, takes no ramp)",
		shaped{"rates", len(o.rates) > 0}, shaped{"mode", o.mode != "" && o.mode != load.ModeRate}, shaped{"benchmark-kind", o.benchmarkKind != ""},
		shaped{"profile", o.profile != ""}, shaped{"num-rates", o.numRates != 0})
	if o.requestRate != "" && !strings.EqualFold(o.requestRate, "inf") {
		errs = append(errs, errors.New("--request-rate: the ramp sets the rate (vLLM refuses a --request-rate with a ramp too)"))
	}
	if d, err := parseDurationFlag("warmup", o.warmup, 0); err == nil && d > 0 {
		errs = append(errs, errors.New("--warmup: a ramp has no warmup: it starts at --ramp-up-start-rps"))
	}
	if o.maxConcurrency != 0 {
		errs = append(errs, errors.New("--max-concurrency with a ramp: vLLM holds arrivals past the cap until a request ends, which delays them; llmprobe's open loop never delays an arrival. Use --max-in-flight N to drop and count arrivals past N"))
	}
	if o.vus != 0 {
		errs = append(errs, errors.New("--vus: virtual users are for throughput mode; a ramp's cap is --max-in-flight"))
	}
	capacity, err := inFlightCap(o)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return errs
	}
	if o.arrival == "" && o.burstiness == "" && (&planner{o: o, x: &benchExtras{}}).dialect() == toolVLLM {
		lo.Arrival = load.ArrivalPoisson // vLLM's --burstiness 1
	}
	lo.Mode, lo.Rates, lo.Ramp, lo.Warmup = load.ModeRate, nil, r, 0
	lo.VUs, lo.MaxVUs, lo.NumRates, lo.MaxInFlight = 0, 0, 0, capacity
	return fixFormats(o, lo, ep, r)
}

// inFlightCap is a rate run's in-flight cap: --concurrency, --max-vus or
// --max-in-flight (0: the default).
func inFlightCap(o *benchOptions) (int, error) {
	var set []shaped
	vals := map[string]int{"concurrency": o.concurrency, "max-vus": o.maxVUs, "max-in-flight": o.maxInFlight}
	for _, f := range []string{"concurrency", "max-vus", "max-in-flight"} {
		if vals[f] != 0 {
			set = append(set, shaped{flag: f, given: true})
		}
	}
	for _, s := range set[min(1, len(set)):] {
		if vals[s.flag] != vals[set[0].flag] {
			return 0, fmt.Errorf("--%s %d and --%s %d both set the in-flight cap: give one of them", set[0].flag, vals[set[0].flag], s.flag, vals[s.flag])
		}
	}
	if len(set) == 0 {
		return 0, nil
	}
	return vals[set[0].flag], nil
}

// fixFormats makes the other tools' result files agree with a ramp or a
// trace run (the formats were chosen for the run resolveLoad planned):
// GPUStack's and inference-benchmarker's have no such run, so a format
// asked for is refused and one implied by the tool's flags is left out
// (llmprobe's own result is written); vLLM's --save-result is named as
// vLLM names a ramp's.
func fixFormats(o *benchOptions, lo *load.Options, ep *probe.Endpoint, r *load.Ramp) []error {
	x := o.extras
	if x == nil {
		return nil
	}
	var errs []error
	shape := "ramp"
	if lo.Mode == load.ModeTrace {
		shape = "trace replay"
	}
	for _, f := range slices.Clone(x.formats) {
		if f != compat.GPUStack && f != compat.InferenceBenchmarker {
			continue
		}
		if f == x.native {
			x.formats = slices.DeleteFunc(x.formats, func(s string) bool { return s == f })
			x.native, x.ownPath = "", ""
			x.notes = append(x.notes, fmt.Sprintf("%s's results have no %s: only llmprobe's own result is written", f, shape))
			continue
		}
		errs = append(errs, fmt.Errorf("--result-format %s: that tool's results have no %s", f, shape))
	}
	if r != nil && o.saveResult && o.resultFilename == "" && x.savePath != "" {
		// vLLM names a ramp's result {label}-ramp-up-{strategy}-{start}qps-
		// {end}qps-{model}-{date}.json, its label the backend by default.
		backend := o.backend
		if backend == "" {
			backend = compat.Backend(ep.Kind)
		}
		model := ep.Model[strings.LastIndex(ep.Model, "/")+1:]
		date := x.compat.VLLM.Date
		if date.IsZero() {
			date = time.Now()
		}
		name := fmt.Sprintf("%s-ramp-up-%s-%sqps-%sqps-%s-%s.json", backend, r.Strategy, vllmRPS(r.StartRate), vllmRPS(r.EndRate), model, date.Format("20060102-150405"))
		x.savePath = filepath.Join(o.resultDir, name)
		o.resultFile = x.savePath
		if x.ownPath != "" {
			x.ownPath = compat.Path(o.resultFile, compat.LLMProbe+"-result")
		}
	}
	if len(x.formats) == 0 {
		x.formats, x.samples = nil, nil
	}
	return errs
}

// vllmRPS writes a ramp rate as vLLM writes its (integer) flags.
func vllmRPS(v float64) string {
	if v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

func (a *arrivalOpts) applyTrace(o *benchOptions, lo *load.Options, ep *probe.Endpoint, w *config.Workload) []error {
	var errs []error
	refuse(&errs, "a trace replay's arrivals are the trace's times (--trace-speed, --trace-start and --trace-end shape it; stress takes no trace)",
		shaped{"rates", len(o.rates) > 0}, shaped{"request-rate", o.requestRate != ""}, shaped{"mode", o.mode != ""},
		shaped{"benchmark-kind", o.benchmarkKind != ""}, shaped{"profile", o.profile != ""}, shaped{"arrival", o.arrival != ""},
		shaped{"burstiness", o.burstiness != ""}, shaped{"duration", o.duration != ""}, shaped{"warmup", o.warmup != ""},
		shaped{"concurrency", o.concurrency != 0}, shaped{"max-concurrency", o.maxConcurrency != 0}, shaped{"vus", o.vus != 0},
		shaped{"max-vus", o.maxVUs != 0}, shaped{"num-rates", o.numRates != 0})
	refuse(&errs, "a trace gives each request's prompt length, shared prefixes and output length",
		shaped{"dataset", o.dataset != ""}, shaped{"dataset-file", o.datasetFile != ""}, shaped{"dataset-name", o.datasetName != ""},
		shaped{"dataset-path", o.datasetPath != ""}, shaped{"prompt", o.prompt != ""}, shaped{"input-tokens", o.inputTokens != 0},
		shaped{"random-input-len", o.randomInputLen != 0}, shaped{"random-output-len", o.randomOutputLen != 0},
		shaped{"prompt-options", o.promptOptions != ""}, shaped{"decode-options", o.decodeOptions != ""},
		shaped{"max-completion-tokens", o.maxCompletionTokens != 0}, shaped{"image", len(o.images) > 0},
		shaped{"tokenizer", o.tokenizer != ""}, shaped{"tokenizer-name", o.tokenizerName != ""})
	if ep.Kind != config.KindChat && ep.Kind != config.KindCompletions {
		errs = append(errs, fmt.Errorf("--trace replays chat or completions requests, not %s", ep.Kind))
	}
	t := &config.Trace{File: a.trace, Format: a.traceFormat}
	if a.traceSpeed != "" {
		v, err := strconv.ParseFloat(a.traceSpeed, 64)
		if err != nil || !(v > 0) || math.IsInf(v, 0) {
			errs = append(errs, fmt.Errorf("--trace-speed: %q is not a positive number", a.traceSpeed))
		}
		t.Speed = v
	}
	start, err := parseDurationFlag("trace-start", a.traceStart, 0)
	errs = append(errs, err)
	end, err := parseDurationFlag("trace-end", a.traceEnd, 0)
	errs = append(errs, err)
	if a.traceEnd != "" && err == nil && end <= start {
		errs = append(errs, fmt.Errorf("--trace-end: %s is not after --trace-start (%s)", a.traceEnd, start))
	}
	t.Start, t.End = model.Duration(start), model.Duration(end)
	if a.traceBlock != "" {
		n, err := strconv.Atoi(a.traceBlock)
		switch {
		case err != nil || n < 1 || n > config.MaxBlockTokens:
			errs = append(errs, fmt.Errorf("--trace-block-tokens: %q is not between 1 and %d", a.traceBlock, config.MaxBlockTokens))
		case t.TraceFormat() == dataset.TraceCSV:
			errs = append(errs, errors.New("--trace-block-tokens is for mooncake traces (a CSV trace has no hash_ids)"))
		}
		t.BlockTokens = n
	}
	if err := errors.Join(errs...); err != nil {
		return []error{err}
	}
	if err := t.Parse(); err != nil {
		return []error{fmt.Errorf("--trace: %w", err)}
	}
	tr, err := t.Schedule()
	if err != nil {
		return []error{fmt.Errorf("--trace-start, --trace-end: %w", err)}
	}
	g, err := workload.NewTrace(w, ep.Kind, t)
	if err != nil {
		return []error{fmt.Errorf("--trace: %w", err)}
	}
	tr.Requests = g
	lo.Mode, lo.Trace = load.ModeTrace, tr
	lo.Rates, lo.Ramp, lo.Arrival, lo.Burstiness = nil, nil, "", 0
	lo.VUs, lo.MaxVUs, lo.NumRates, lo.MaxInFlight = 0, 0, 0, o.maxInFlight
	lo.Duration, lo.Warmup = 0, 0
	if o.numRequests == 0 && o.numPrompts == 0 {
		lo.NumRequests = 0 // another tool's default count must not cut the trace
	}
	return fixFormats(o, lo, ep, nil)
}

// describeShape describes a ramp or a trace run for the line bench prints
// before it starts.
func describeShape(o *load.Options) (string, bool) {
	switch {
	case o.Mode == load.ModeRate && o.Ramp != nil:
		over := "over each step's requests"
		if o.Duration > 0 {
			over = "over " + o.Duration.String()
		}
		return fmt.Sprintf("rate mode, %s arrivals on a %s ramp from %g to %g req/s %s", o.Arrival, o.Ramp.Strategy, o.Ramp.StartRate, o.Ramp.EndRate, over), true
	case o.Mode == load.ModeTrace && o.Trace != nil:
		in := o.Trace.Info
		last := time.Duration(0)
		if n := len(o.Trace.Arrivals); n > 0 {
			last = o.Trace.Arrivals[n-1].At
		}
		return fmt.Sprintf("trace replay of %s (%s): %d of its %d requests at %gx speed, the last at %s", in.File, in.Format,
			len(o.Trace.Arrivals), in.TraceRequests, in.Speed, last.Round(time.Millisecond)), true
	}
	return "", false
}
