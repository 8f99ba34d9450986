// Package compat writes a run's result (load.Result) in the JSON shapes of
// the tools llmprobe bench users come from, so that their plots and scripts
// keep working: Hugging Face inference-benchmarker's report, GPUStack's
// benchmark_serving.py result and vLLM's `bench serve` result. Field names
// and units follow those tools' code (inference-benchmarker src/writers.rs
// and src/benchmark.rs, GPUStack benchmarks/benchmark_serving.py, vLLM
// vllm/benchmarks/serve.py). llmprobe's own JSON stays the primary result;
// these are translations of it, computed from the same requests.
//
// Some of their figures are not in load's summaries: percentiles other than
// p50/p90/p95/p99 (inference-benchmarker's p60-p80, vLLM's
// --metric-percentiles) and GPUStack's per-request token rates. Samples
// collects them from the run's timeline entries.
package compat

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/probe"
)

// Result formats.
const (
	LLMProbe             = "llmprobe"
	InferenceBenchmarker = "inference-benchmarker"
	GPUStack             = "gpustack"
	VLLM                 = "vllm"
)

// Formats lists the result formats, llmprobe's first.
var Formats = []string{LLMProbe, InferenceBenchmarker, GPUStack, VLLM}

// Samples keeps, per step, the per-request values the other tools' results
// need and load's summaries do not: TTFT, TPOT and end-to-end latency (ms)
// and output tokens per second of every successful measured request. It is
// a load.Sink; the engine calls it one entry at a time.
type Samples struct {
	steps map[int]*stepSamples
}

type stepSamples struct {
	ttft, tpot, e2e, tps []float64
}

// NewSamples returns an empty collector.
func NewSamples() *Samples { return &Samples{steps: map[int]*stepSamples{}} }

// WriteEntry implements load.Sink: it keeps successful requests of the
// measured phases (not warmup, not interrupted), as the summaries do.
func (s *Samples) WriteEntry(e *load.Entry) error {
	if e.Phase == load.PhaseWarmup || e.Interrupted || e.Result != string(probe.ResultSuccess) || e.End.IsZero() || e.Start.IsZero() {
		return nil
	}
	st := s.steps[e.Step]
	if st == nil {
		st = &stepSamples{}
		s.steps[e.Step] = st
	}
	e2e := e.End.Sub(e.Start)
	st.e2e = append(st.e2e, ms(e2e.Seconds()))
	if !e.FirstToken.IsZero() {
		st.ttft = append(st.ttft, ms(e.FirstToken.Sub(e.Start).Seconds()))
		// TPOT as probe.Record.TPOT defines it.
		if e.OutputTokens >= 2 {
			st.tpot = append(st.tpot, ms(e.End.Sub(e.FirstToken).Seconds())/float64(e.OutputTokens-1))
		}
	}
	if sec := e2e.Seconds(); sec > 0 {
		st.tps = append(st.tps, float64(e.OutputTokens)/sec)
	}
	return nil
}

func ms(sec float64) float64 { return sec * 1000 }

// metric returns step's values of one metric ("ttft", "tpot", "e2el",
// "tps"), nil when the step had none.
func (s *Samples) metric(step int, name string) []float64 {
	if s == nil {
		return nil
	}
	st := s.steps[step]
	if st == nil {
		return nil
	}
	switch name {
	case "ttft":
		return st.ttft
	case "tpot":
		return st.tpot
	case "e2el":
		return st.e2e
	case "tps":
		return st.tps
	}
	return nil
}

// Percentile returns the p-th percentile (0-100) of values with linear
// interpolation between ranks, as numpy.percentile does by default (and as
// load's summaries and inference-benchmarker compute them). It sorts values.
func Percentile(values []float64, p float64) float64 {
	if len(values) == 0 {
		return 0
	}
	if !sort.Float64sAreSorted(values) {
		slices.Sort(values)
	}
	if len(values) == 1 {
		return values[0]
	}
	rank := p / 100 * float64(len(values)-1)
	lo := math.Floor(rank)
	i := int(lo)
	if i >= len(values)-1 {
		return values[len(values)-1]
	}
	return values[i] + (rank-lo)*(values[i+1]-values[i])
}

// distPercentile returns the percentile p of d when d keeps it.
func distPercentile(d load.Dist, p float64) (float64, bool) {
	switch p {
	case 50:
		return d.P50, true
	case 90:
		return d.P90, true
	case 95:
		return d.P95, true
	case 99:
		return d.P99, true
	}
	return 0, false
}

// KeptPercentiles are the percentiles load's summaries keep; other
// percentiles come from Samples.
var KeptPercentiles = []float64{50, 90, 95, 99}

// percentile returns percentile p of a step's metric: from the summary's
// distribution where it keeps p (so the translations agree with llmprobe's
// own figures), else from the samples. ok is false when neither has it.
func percentile(s *Samples, step int, metric string, d load.Dist, p float64) (float64, bool) {
	if v, ok := distPercentile(d, p); ok {
		return v, true
	}
	vals := s.metric(step, metric)
	if len(vals) == 0 {
		return 0, d.Count == 0
	}
	return Percentile(vals, p), true
}

// round2 rounds as Python's round(x, 2) does for the values at hand
// (GPUStack rounds every float of its result to two decimals).
func round2(x float64) float64 { return math.Round(x*100) / 100 }

// CheckFormats validates result format names.
func CheckFormats(formats []string) error {
	for _, f := range formats {
		if !slices.Contains(Formats, f) {
			return fmt.Errorf("unknown result format %q (want %s)", f, strings.Join(Formats, ", "))
		}
	}
	return nil
}

// Config holds what each format records beyond a load.Result.
type Config struct {
	InferenceBenchmarker IBConfig
	GPUStack             GPUStackConfig
	VLLM                 VLLMConfig
}

// Marshal returns res in format's JSON: indented for
// inference-benchmarker and GPUStack (as their files are), one compact
// object per line for vLLM (as json.dump writes it, one per step).
func Marshal(format string, res *load.Result, s *Samples, c *Config) ([]byte, error) {
	var v any
	var err error
	switch format {
	case InferenceBenchmarker:
		v, err = ToInferenceBenchmarker(res, s, c.InferenceBenchmarker)
	case GPUStack:
		v, err = ToGPUStack(res, s, c.GPUStack)
	case VLLM:
		var objs []map[string]any
		if objs, err = ToVLLM(res, s, c.VLLM); err != nil {
			return nil, err
		}
		var b []byte
		for _, o := range objs {
			line, err := json.Marshal(o)
			if err != nil {
				return nil, err
			}
			b = append(append(b, line...), '\n')
		}
		return b, nil
	case LLMProbe:
		v = res
	default:
		return nil, CheckFormats([]string{format})
	}
	if err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	return append(b, '\n'), err
}

// Path returns where format's file goes next to the primary result file:
// "run.json" -> "run.gpustack.json".
func Path(primary, format string) string {
	if format == LLMProbe {
		return primary
	}
	base := strings.TrimSuffix(primary, filepath.Ext(primary))
	return base + "." + format + ".json"
}
