package compat

import (
	"fmt"
	"time"

	"github.com/llmprobe/llmprobe/load"
)

// TokenizeOptions are inference-benchmarker's prompt and decode options as
// its report writes them (src/requests.rs TokenizeOptions): num_tokens is
// null when not given, min_tokens defaults to 0 and max_tokens to the
// largest u64.
type TokenizeOptions struct {
	NumTokens *uint64 `json:"num_tokens"`
	MinTokens uint64  `json:"min_tokens"`
	MaxTokens uint64  `json:"max_tokens"`
	Variance  uint64  `json:"variance"`
}

// IBConfig is what inference-benchmarker records of its configuration
// beyond what a load.Result holds.
type IBConfig struct {
	Tokenizer     string
	ModelName     string
	Profile       string // "" is written as null
	RunID         string
	PromptOptions *TokenizeOptions
	DecodeOptions *TokenizeOptions
	Meta          map[string]string
}

// IBReport is inference-benchmarker's results file (BenchmarkReportWriter,
// src/writers.rs): its configuration, one entry per benchmark step, and
// the run's start and end. Its "system" block (CPU, memory, OS of the
// machine that ran the tool) is left out: llmprobe does not collect it and
// the tool's dashboard does not read it.
type IBReport struct {
	Config    IBBenchmarkConfig `json:"config"`
	Results   []IBResult        `json:"results"`
	StartTime string            `json:"start_time"`
	EndTime   string            `json:"end_time"`
}

// IBBenchmarkConfig is inference-benchmarker's BenchmarkConfig
// (src/benchmark.rs) as serialized.
type IBBenchmarkConfig struct {
	MaxVUs        int               `json:"max_vus"`
	DurationSecs  uint64            `json:"duration_secs"`
	BenchmarkKind string            `json:"benchmark_kind"` // Throughput, Sweep or Rate
	WarmupSecs    uint64            `json:"warmup_duration_secs"`
	Rates         []float64         `json:"rates"`
	NumRates      int               `json:"num_rates"`
	PromptOptions *TokenizeOptions  `json:"prompt_options"`
	DecodeOptions *TokenizeOptions  `json:"decode_options"`
	Tokenizer     string            `json:"tokenizer"`
	ModelName     string            `json:"model_name"`
	Profile       *string           `json:"profile"`
	Meta          map[string]string `json:"meta"`
	RunID         string            `json:"run_id"`
}

// IBExecutorConfig is a step's executor configuration (src/executors.rs).
type IBExecutorConfig struct {
	MaxVUs       int      `json:"max_vus"`
	DurationSecs uint64   `json:"duration_secs"`
	Rate         *float64 `json:"rate"`
}

// IBPercentiles is src/writers.rs PercentilesWriter, in milliseconds.
type IBPercentiles struct {
	P50 float64 `json:"p50"`
	P60 float64 `json:"p60"`
	P70 float64 `json:"p70"`
	P80 float64 `json:"p80"`
	P90 float64 `json:"p90"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Avg float64 `json:"avg"`
}

// IBResult is one step (BenchmarkResultsWriter). Its figures cover the
// step's completed requests: inference-benchmarker's total_requests counts
// responses, successful or failed; arrivals llmprobe dropped at its
// in-flight cap are not responses (inference-benchmarker skips such
// arrivals without counting them either).
type IBResult struct {
	ID                  string           `json:"id"`
	ExecutorType        string           `json:"executor_type"`
	Config              IBExecutorConfig `json:"config"`
	TotalRequests       int64            `json:"total_requests"`
	TotalTokens         int64            `json:"total_tokens"`
	TokenThroughputSecs float64          `json:"token_throughput_secs"`
	DurationMS          int64            `json:"duration_ms"`
	TimeToFirstTokenMS  IBPercentiles    `json:"time_to_first_token_ms"`
	InterTokenLatencyMS IBPercentiles    `json:"inter_token_latency_ms"`
	FailedRequests      int64            `json:"failed_requests"`
	SuccessfulRequests  int64            `json:"successful_requests"`
	RequestRate         float64          `json:"request_rate"`
	TotalTokensSent     int64            `json:"total_tokens_sent"`
	E2ELatencyMS        IBPercentiles    `json:"e2e_latency_ms"`
}

// Executor types (src/scheduler.rs ExecutorType).
const (
	ibConstantVUs         = "ConstantVUs"
	ibConstantArrivalRate = "ConstantArrivalRate"
)

// ToInferenceBenchmarker translates res. s supplies the percentiles
// load's summaries do not keep (p60, p70, p80).
//
// Mapping: a throughput step is id "throughput" (ConstantVUs, max_vus its
// users), a rate step "constant@<rate>req/s" (ConstantArrivalRate, max_vus
// the in-flight cap, as inference-benchmarker caps a rate step at
// --max-vus); inter_token_latency_ms is per-request (end - first token) /
// (output tokens - 1), which is llmprobe's TPOT (inference-benchmarker
// averages each request's gaps the same way); total_tokens and
// total_tokens_sent are the server-reported output and prompt tokens of
// successful requests. llmprobe leaves warmup out of every summary, so no
// "warmup" entry is written.
func ToInferenceBenchmarker(res *load.Result, s *Samples, c IBConfig) (*IBReport, error) {
	kind, ok := map[string]string{load.ModeThroughput: "Throughput", load.ModeSweep: "Sweep", load.ModeRate: "Rate"}[res.Mode]
	if !ok {
		return nil, fmt.Errorf("inference-benchmarker result: unknown mode %q", res.Mode)
	}
	ctx := &res.Context
	cfg := IBBenchmarkConfig{
		MaxVUs:        ibMaxVUs(res),
		DurationSecs:  secs(ctx.DurationS),
		BenchmarkKind: kind,
		WarmupSecs:    secs(ctx.WarmupS),
		NumRates:      ctx.NumRates,
		PromptOptions: c.PromptOptions,
		DecodeOptions: c.DecodeOptions,
		Tokenizer:     c.Tokenizer,
		ModelName:     c.ModelName,
		Meta:          c.Meta,
		RunID:         c.RunID,
	}
	if cfg.NumRates == 0 {
		cfg.NumRates = load.DefaultNumRates // inference-benchmarker records its default in every kind
	}
	if res.Mode == load.ModeRate {
		cfg.Rates = ctx.Rates
	}
	if c.Profile != "" {
		p := c.Profile
		cfg.Profile = &p
	}
	if cfg.ModelName == "" {
		cfg.ModelName = res.Model
	}
	if cfg.Tokenizer == "" {
		cfg.Tokenizer = cfg.ModelName // inference-benchmarker names the model after the tokenizer, and back
	}
	rep := &IBReport{Config: cfg, Results: []IBResult{}, StartTime: res.Started.Format(time.RFC3339Nano), EndTime: res.Ended.Format(time.RFC3339Nano)}
	for i := range res.Steps {
		st := &res.Steps[i]
		r, err := ibStep(res, st, s)
		if err != nil {
			return nil, err
		}
		rep.Results = append(rep.Results, r)
	}
	return rep, nil
}

// ibMaxVUs is the run's --max-vus: the users of a throughput run or a
// sweep's throughput phase, the in-flight cap of a rate run.
func ibMaxVUs(res *load.Result) int {
	switch res.Mode {
	case load.ModeThroughput:
		return res.Context.VUs
	case load.ModeSweep:
		return res.Context.MaxVUs
	}
	return res.Context.MaxInFlight
}

func secs(s float64) uint64 {
	if s <= 0 {
		return 0
	}
	return uint64(s) // serde_with::DurationSeconds truncates
}

func ibStep(res *load.Result, st *load.Step, s *Samples) (IBResult, error) {
	sum := &st.Summary
	r := IBResult{
		TotalRequests:       sum.Requests,
		TotalTokens:         sum.OutputTokens,
		TokenThroughputSecs: sum.OutputThroughput,
		DurationMS:          int64(sum.DurationSeconds * 1000),
		FailedRequests:      sum.Requests - sum.Successful,
		SuccessfulRequests:  sum.Successful,
		RequestRate:         sum.RequestThroughput,
		TotalTokensSent:     sum.InputTokens,
	}
	r.Config.DurationSecs = secs(res.Context.DurationS) // the configured step duration, as the executor records it
	if st.Kind == load.StepRate {
		rate := st.OfferedRate
		r.ID = fmt.Sprintf("constant@%.2freq/s", rate)
		r.ExecutorType = ibConstantArrivalRate
		r.Config.MaxVUs = res.Context.MaxInFlight
		r.Config.Rate = &rate
	} else {
		r.ID = "throughput"
		r.ExecutorType = ibConstantVUs
		r.Config.MaxVUs = st.VUs
	}
	var err error
	if r.TimeToFirstTokenMS, err = ibPercentiles(s, st.Index, "ttft", sum.TTFT); err != nil {
		return r, err
	}
	if r.InterTokenLatencyMS, err = ibPercentiles(s, st.Index, "tpot", sum.TPOT); err != nil {
		return r, err
	}
	if r.E2ELatencyMS, err = ibPercentiles(s, st.Index, "e2el", sum.E2E); err != nil {
		return r, err
	}
	return r, nil
}

func ibPercentiles(s *Samples, step int, metric string, d load.Dist) (IBPercentiles, error) {
	out := IBPercentiles{Avg: d.Mean}
	for _, f := range []struct {
		p   float64
		dst *float64
	}{{50, &out.P50}, {60, &out.P60}, {70, &out.P70}, {80, &out.P80}, {90, &out.P90}, {95, &out.P95}, {99, &out.P99}} {
		v, ok := percentile(s, step, metric, d, f.p)
		if !ok {
			return out, fmt.Errorf("inference-benchmarker result: step %d has no %s samples for p%g", step, metric, f.p)
		}
		*f.dst = v
	}
	return out, nil
}
