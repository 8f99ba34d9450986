package compat

import (
	"fmt"

	"github.com/llmprobe/llmprobe/load"
)

// GPUStackConfig is what GPUStack's benchmark_serving.py records of its
// arguments beyond what a load.Result holds.
type GPUStackConfig struct {
	// NumRequests is --num-requests (0: the requests the run sent).
	NumRequests int
	// RequestTimeout is --request-timeout in seconds.
	RequestTimeout int
	// MaxCompletionTokens is --max-completion-tokens.
	MaxCompletionTokens int
}

// GPUStackPercentiles is benchmark_serving.py's PercentileResults; its
// percentiles are null (Python None) when there were no values.
type GPUStackPercentiles struct {
	Average float64  `json:"average"`
	P50     *float64 `json:"p50"`
	P95     *float64 `json:"p95"`
	P99     *float64 `json:"p99"`
}

// GPUStackResult is benchmark_serving.py's BenchmarkResults as its --json
// output writes it: every float rounded to two decimals, latency in
// seconds, time to first token in milliseconds.
type GPUStackResult struct {
	Model                          string              `json:"model"`
	TotalRequests                  int64               `json:"total_requests"`
	SuccessfulRequests             int64               `json:"successful_requests"`
	SuccessRate                    float64             `json:"success_rate"`
	Concurrency                    int                 `json:"concurrency"`
	RequestTimeout                 int                 `json:"request_timeout"`
	MaxCompletionTokens            int                 `json:"max_completion_tokens"`
	TotalTime                      float64             `json:"total_time"`
	RequestsPerSecond              float64             `json:"requests_per_second"`
	TotalTokens                    int64               `json:"total_tokens"`
	TotalPromptTokens              int64               `json:"total_prompt_tokens"`
	TotalCompletionTokens          int64               `json:"total_completion_tokens"`
	TotalTokensPerSecond           float64             `json:"total_tokens_per_second"`
	TotalPromptTokensPerSecond     float64             `json:"total_prompt_tokens_per_second"`
	TotalCompletionTokensPerSecond float64             `json:"total_completion_tokens_per_second"`
	Latency                        GPUStackPercentiles `json:"latency"`
	CompletionTokensPerSecond      GPUStackPercentiles `json:"completion_tokens_per_second"`
	TimeToFirstToken               GPUStackPercentiles `json:"time_to_first_token"`
}

// ToGPUStack translates a throughput run (benchmark_serving.py's only
// shape: --num-requests requests, --concurrency at a time). s supplies the
// per-request output token rates. completion_tokens_per_second's
// percentiles are "reversed" as GPUStack computes them: its p95 is the rate
// 95 % of requests reached (the 5th percentile), so higher is better for
// every percentile.
func ToGPUStack(res *load.Result, s *Samples, c GPUStackConfig) (*GPUStackResult, error) {
	if res.Mode != load.ModeThroughput || len(res.Steps) != 1 {
		return nil, fmt.Errorf("GPUStack result: benchmark_serving.py runs a number of requests at a fixed concurrency (throughput mode); this is a %s run", res.Mode)
	}
	sum := &res.Summary
	step := res.Steps[0].Index
	out := &GPUStackResult{
		Model:                 res.Model,
		TotalRequests:         int64(c.NumRequests),
		SuccessfulRequests:    sum.Successful,
		Concurrency:           res.Context.VUs,
		RequestTimeout:        c.RequestTimeout,
		MaxCompletionTokens:   c.MaxCompletionTokens,
		TotalTime:             round2(sum.DurationSeconds),
		RequestsPerSecond:     round2(sum.RequestThroughput),
		TotalTokens:           sum.InputTokens + sum.OutputTokens,
		TotalPromptTokens:     sum.InputTokens,
		TotalCompletionTokens: sum.OutputTokens,
	}
	if out.TotalRequests == 0 {
		out.TotalRequests = sum.Requests + sum.Dropped
	}
	if out.TotalRequests > 0 {
		out.SuccessRate = round2(float64(sum.Successful) / float64(out.TotalRequests))
	}
	if d := sum.DurationSeconds; d > 0 {
		out.TotalTokensPerSecond = round2(float64(out.TotalTokens) / d)
		out.TotalPromptTokensPerSecond = round2(float64(sum.InputTokens) / d)
		out.TotalCompletionTokensPerSecond = round2(float64(sum.OutputTokens) / d)
	}
	sec := func(msv float64) float64 { return msv / 1000 }
	var err error
	if out.Latency, err = gpustackDist(s, step, "e2el", sum.E2E, sec); err != nil {
		return nil, err
	}
	if out.TimeToFirstToken, err = gpustackDist(s, step, "ttft", sum.TTFT, func(v float64) float64 { return v }); err != nil {
		return nil, err
	}
	tps := s.metric(step, "tps")
	if len(tps) != int(sum.Successful) {
		return nil, fmt.Errorf("GPUStack result: %d per-request token rates for %d successful requests (were the samples collected?)", len(tps), sum.Successful)
	}
	out.CompletionTokensPerSecond = gpustackValues(tps, true)
	return out, nil
}

// gpustackDist fills average and p50/p95/p99 of a summary distribution
// (unit converts from milliseconds).
func gpustackDist(s *Samples, step int, metric string, d load.Dist, unit func(float64) float64) (GPUStackPercentiles, error) {
	out := GPUStackPercentiles{}
	if d.Count == 0 {
		return out, nil // Python: average 0, percentiles None
	}
	out.Average = round2(unit(d.Mean))
	for _, f := range []struct {
		p   float64
		dst **float64
	}{{50, &out.P50}, {95, &out.P95}, {99, &out.P99}} {
		v, ok := percentile(s, step, metric, d, f.p)
		if !ok {
			return out, fmt.Errorf("GPUStack result: no %s samples for p%g", metric, f.p)
		}
		r := round2(unit(v))
		*f.dst = &r
	}
	return out, nil
}

// gpustackValues computes average and percentiles of raw values; reverse
// takes the (100-p)th percentile for pP, as benchmark_serving.py does for
// token rates.
func gpustackValues(vals []float64, reverse bool) GPUStackPercentiles {
	out := GPUStackPercentiles{}
	if len(vals) == 0 {
		return out
	}
	var sum float64
	for _, v := range vals {
		sum += v
	}
	out.Average = round2(sum / float64(len(vals)))
	for _, f := range []struct {
		p   float64
		dst **float64
	}{{50, &out.P50}, {95, &out.P95}, {99, &out.P99}} {
		p := f.p
		if reverse {
			p = 100 - p
		}
		r := round2(Percentile(vals, p))
		*f.dst = &r
	}
	return out
}
