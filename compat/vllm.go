package compat

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/probe"
)

// VLLM's percentile metrics (--percentile-metrics).
var VLLMMetrics = []string{"ttft", "tpot", "itl", "e2el"}

// VLLMConfig is what vLLM's bench serve records of its arguments beyond
// what a load.Result holds.
type VLLMConfig struct {
	// Backend is vLLM's --backend; "" derives it from the run's kind
	// (openai for completions, openai-chat, openai-embeddings,
	// vllm-rerank).
	Backend string
	// Label is --label; "" is written as null.
	Label string
	// TokenizerID is --tokenizer, else the model.
	TokenizerID string
	// NumPrompts is --num-prompts (0: the requests each step sent).
	NumPrompts int
	// Burstiness is --burstiness (vLLM's default 1: Poisson arrivals);
	// +Inf is written as the string "inf", as request_rate is.
	Burstiness float64
	// PercentileMetrics and MetricPercentiles are --percentile-metrics
	// and --metric-percentiles; nil gives vLLM's defaults (ttft,tpot,itl
	// for generation, e2el for embeddings and rerank; 99).
	PercentileMetrics []string
	MetricPercentiles []float64
	// Date is the run's date, formatted as vLLM's %Y%m%d-%H%M%S.
	Date time.Time
}

// Backend returns vLLM's --backend for an llmprobe kind.
func Backend(kind probe.Kind) string {
	switch kind {
	case config.KindCompletions:
		return "openai"
	case config.KindEmbeddings:
		return "openai-embeddings"
	case config.KindRerank:
		return "vllm-rerank"
	}
	return "openai-chat" // chat and vision
}

// pooling reports whether kind has no generated tokens.
func pooling(kind probe.Kind) bool { return kind == config.KindEmbeddings || kind == config.KindRerank }

// DefaultPercentileMetrics returns vLLM's --percentile-metrics default for
// a kind.
func DefaultPercentileMetrics(kind probe.Kind) []string {
	if pooling(kind) {
		return []string{"e2el"}
	}
	return []string{"ttft", "tpot", "itl"}
}

// CheckVLLMPercentiles checks --percentile-metrics and
// --metric-percentiles: metric names vLLM knows, percentiles in [0, 100],
// and, for itl, only percentiles llmprobe keeps (its per-gap samples are
// summarized, not kept per request).
func CheckVLLMPercentiles(metrics []string, percentiles []float64) error {
	for _, m := range metrics {
		if !slices.Contains(VLLMMetrics, m) {
			return fmt.Errorf("--percentile-metrics: unknown metric %q (want %s)", m, strings.Join(VLLMMetrics, ", "))
		}
	}
	for _, p := range percentiles {
		if !(p >= 0 && p <= 100) {
			return fmt.Errorf("--metric-percentiles: %v is not a percentile between 0 and 100", p)
		}
		if slices.Contains(metrics, "itl") && !slices.Contains(KeptPercentiles, p) {
			return fmt.Errorf("--metric-percentiles: p%s of itl cannot be computed: llmprobe keeps the inter-token latency percentiles p50, p90, p95 and p99 only (its samples are per chunk gap, not per request); drop itl from --percentile-metrics or use those percentiles", pWord(p))
		}
	}
	return nil
}

// pWord formats a percentile as vLLM names its keys: 99 -> "99", 99.9 ->
// "99.9".
func pWord(p float64) string {
	if p == math.Trunc(p) {
		return strconv.Itoa(int(p))
	}
	return strconv.FormatFloat(p, 'f', -1, 64)
}

// ToVLLM translates res into vLLM's result JSON, one object per step: vLLM
// runs one request rate per invocation (a file with several, one per line,
// is what its --append-result writes). A throughput step is vLLM's
// --request-rate inf with --max-concurrency its users.
func ToVLLM(res *load.Result, s *Samples, c VLLMConfig) ([]map[string]any, error) {
	metrics := c.PercentileMetrics
	if metrics == nil {
		metrics = DefaultPercentileMetrics(res.Kind)
	}
	percentiles := c.MetricPercentiles
	if percentiles == nil {
		percentiles = []float64{99}
	}
	if err := CheckVLLMPercentiles(metrics, percentiles); err != nil {
		return nil, err
	}
	backend := c.Backend
	if backend == "" {
		backend = Backend(res.Kind)
	}
	tok := c.TokenizerID
	if tok == "" {
		tok = res.Model
	}
	var label any
	if c.Label != "" {
		label = c.Label
	}
	var burst any = c.Burstiness
	switch {
	case c.Burstiness == 0:
		burst = 1.0
	case math.IsInf(c.Burstiness, 1):
		burst = "inf"
	}
	var out []map[string]any
	for i := range res.Steps {
		st := &res.Steps[i]
		sum := &st.Summary
		m := map[string]any{
			"date":          c.Date.Format("20060102-150405"),
			"endpoint_type": backend,
			"backend":       backend,
			"label":         label,
			"model_id":      res.Model,
			"tokenizer_id":  tok,
			"burstiness":    burst,
			"duration":      sum.DurationSeconds,
			"completed":     sum.Successful,

			"total_input_tokens":     sum.InputTokens,
			"request_throughput":     sum.RequestThroughput,
			"total_token_throughput": sum.TotalTokenThroughput,
		}
		if c.NumPrompts > 0 {
			m["num_prompts"] = c.NumPrompts
		} else {
			m["num_prompts"] = sum.Requests + sum.Dropped
		}
		if st.Kind == load.StepRate {
			m["request_rate"] = st.OfferedRate
			m["max_concurrency"] = nil
		} else {
			m["request_rate"] = "inf"
			m["max_concurrency"] = st.VUs
		}
		if !pooling(res.Kind) {
			m["failed"] = sum.Failed
			m["total_output_tokens"] = sum.OutputTokens
			m["output_throughput"] = sum.OutputThroughput
			m["max_output_tokens_per_s"] = sum.PeakOutputThroughput
			m["max_concurrent_requests"] = sum.PeakConcurrent
			m["request_goodput"] = nil
			if sum.SLO != nil {
				m["request_goodput"] = sum.Goodput
			}
		}
		for _, name := range metrics {
			d := map[string]load.Dist{"ttft": sum.TTFT, "tpot": sum.TPOT, "itl": sum.ITL, "e2el": sum.E2E}[name]
			m["mean_"+name+"_ms"] = d.Mean
			m["median_"+name+"_ms"] = d.P50
			m["std_"+name+"_ms"] = d.Stddev
			for _, p := range percentiles {
				v, ok := percentile(s, st.Index, name, d, p)
				if !ok {
					return nil, fmt.Errorf("vLLM result: step %d has no %s samples for p%s", st.Index, name, pWord(p))
				}
				m["p"+pWord(p)+"_"+name+"_ms"] = v
			}
		}
		out = append(out, m)
	}
	return out, nil
}
