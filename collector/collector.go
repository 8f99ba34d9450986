// Package collector turns probe Records and run results into Prometheus
// metrics. Unlike most exporters it does not measure at scrape time: probes
// and soaks run on their own schedules and this package keeps what they saw,
// which is why the last-run timestamps exist (so staleness is visible).
package collector

import (
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/llmprobe/llmprobe/probe"
)

const namespace = "llmprobe"

// Default classic buckets, chosen for LLM serving latencies. The boundaries
// include the usual SLO thresholds so that "fraction under the SLO" is exact
// from the classic buckets; configured SLOs are added by Options.
var (
	TTFTBuckets = []float64{.01, .025, .05, .1, .2, .25, .5, .75, 1, 1.5, 2, 3, 5, 10, 20, 30, 60}
	ITLBuckets  = []float64{.001, .0025, .005, .01, .015, .02, .025, .03, .04, .05, .075, .1, .15, .2, .3, .5, 1, 2.5}
	E2EBuckets  = []float64{.05, .1, .25, .5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 120, 300, 600}
	LagBuckets  = []float64{.0001, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}
)

// Options adjusts the histograms at construction. Bucket boundaries cannot
// change without re-registering, so SLO thresholds known at start are merged
// into the defaults here.
type Options struct {
	TTFTThresholds []float64 // seconds
	ITLThresholds  []float64 // also used for TPOT
	E2EThresholds  []float64
}

// Labels of every per-request series. `name` is the configured probe or
// soak; all label values come from the config, never from requests.
var reqLabels = []string{"target", "model", "phase", "name"}

// Metrics holds every series fed by probes and soaks.
type Metrics struct {
	ttft, ttfa, itl, tpot, e2e, lag *prometheus.HistogramVec
	requests                        *prometheus.CounterVec
	inputTokens, outputTokens       *prometheus.CounterVec
	cachedTokens, reasoningTokens   *prometheus.CounterVec
	coldCacheHits                   *prometheus.CounterVec
	toolCalls, noToolCall           *prometheus.CounterVec
	retries                         *prometheus.CounterVec
	connRetries                     *prometheus.CounterVec

	probeSuccess  *prometheus.GaugeVec
	probeLast     *prometheus.GaugeVec
	probeDuration *prometheus.GaugeVec
	probeNext     *prometheus.GaugeVec
	skippedRuns   *prometheus.CounterVec
	inFlight      *prometheus.GaugeVec
}

func histogram(name, help string, buckets []float64) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace,
		Name:      name,
		Help:      help,
		Buckets:   buckets,
		// Native histograms ride along for precise quantiles; scrapers that
		// do not negotiate protobuf keep the classic buckets.
		NativeHistogramBucketFactor:     1.1,
		NativeHistogramMaxBucketNumber:  160,
		NativeHistogramMinResetDuration: time.Hour,
	}, reqLabels)
}

// mergeBuckets returns the sorted union of a default bucket list and extra
// thresholds, without duplicates.
func mergeBuckets(def []float64, extra []float64) []float64 {
	b := slices.Concat(def, extra)
	slices.Sort(b)
	return slices.Compact(b)
}

// New creates the metrics and registers them with reg.
func New(reg prometheus.Registerer, opts Options) *Metrics {
	itlBuckets := mergeBuckets(ITLBuckets, opts.ITLThresholds)
	m := &Metrics{
		ttft: histogram("time_to_first_token_seconds",
			"Time from just before the request was written to the first streamed chunk carrying output (content, reasoning or text); role-only chunks do not count. Successful streamed requests only.",
			mergeBuckets(TTFTBuckets, opts.TTFTThresholds)),
		ttfa: histogram("time_to_first_answer_token_seconds",
			"Time from just before the request was written to the first chunk carrying answer content, not reasoning. Successful streamed requests only.",
			mergeBuckets(TTFTBuckets, opts.TTFTThresholds)),
		itl: histogram("inter_token_latency_seconds",
			"Gaps between successive output-carrying chunks after the first, one sample per gap; a gap that delivered k tokens counts as k samples of gap/k. Successful streamed requests only.",
			itlBuckets),
		tpot: histogram("time_per_output_token_seconds",
			"Per request: (end - first token) / (output tokens - 1), for successful requests with at least two output tokens.",
			itlBuckets),
		e2e: histogram("request_duration_seconds",
			"End-to-end latency: request written to stream end ([DONE] or body end). Successful requests only; failures are in llmprobe_requests_total.",
			mergeBuckets(E2EBuckets, opts.E2EThresholds)),
		lag: histogram("schedule_lag_seconds",
			"Open-loop arrivals only: actual start - scheduled start. When it grows the client, not the server, is the bottleneck.",
			LagBuckets),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "requests_total",
			Help: "Requests sent, by result: success, http_4xx, http_429, http_5xx, timeout, connection, protocol, canceled, invalid_output (a 200 whose tool call or JSON output failed its checks).",
		}, append(slices.Clone(reqLabels), "result")),
		inputTokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "input_tokens_total",
			Help: "Prompt tokens of successful requests, as the server reported them in usage.",
		}, reqLabels),
		outputTokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "output_tokens_total",
			Help: "Output tokens of successful requests: the server's usage, else the count of output chunks.",
		}, reqLabels),
		cachedTokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "cached_input_tokens_total",
			Help: "Prompt tokens the server reported as served from its prefix cache (usage.prompt_tokens_details.cached_tokens). Cold probes should keep this near zero.",
		}, reqLabels),
		coldCacheHits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "cold_cache_hits_total",
			Help: "Successful cold requests (prompts that start with a unique nonce) that the server reported as served from its prefix cache beyond the chat template's share (probe.ColdCacheHit): the nonce repeated, or the prompt does not start with it. Should stay zero.",
		}, reqLabels),
		reasoningTokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "reasoning_tokens_total",
			Help: "Reasoning tokens the server reported (usage.completion_tokens_details.reasoning_tokens).",
		}, reqLabels),
		toolCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "tool_calls_total",
			Help: "Tool calls in successful answers: each of one of the offered functions, with arguments valid for its JSON Schema (answers that fail this are result invalid_output).",
		}, reqLabels),
		noToolCall: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "answers_without_tool_call_total",
			Help: "Successful answers that called no tool although the request offered tools under tool_choice auto: a legitimate text answer, but where a probe's prompt is meant to make the model call, its rate against requests_total shows a model or parser that stopped calling.",
		}, reqLabels),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "retries_total",
			Help: "Requests retried after a retryable failure (429 with Retry-After).",
		}, reqLabels),
		connRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "connection_retries_total",
			Help: "Requests sent again on a fresh connection because a reused keep-alive connection failed before any response byte (the server had closed it). Not failures: the server never saw or never answered the first send.",
		}, reqLabels),
		probeSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "probe_success",
			Help: "Whether the last scheduled run of a probe against a target succeeded (every request succeeded and met the probe's SLOs). Set when the probe runs, not at scrape time.",
		}, []string{"target", "name"}),
		probeLast: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "probe_last_timestamp_seconds",
			Help: "Unix time the last run of a probe against a target finished; alert when it stops advancing.",
		}, []string{"target", "name"}),
		probeDuration: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "probe_duration_seconds",
			Help: "How long the last run of a probe against a target took.",
		}, []string{"target", "name"}),
		probeNext: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "probe_next_run_timestamp_seconds",
			Help: "Unix time the next run of a probe against a target is due, set when a run finishes. When time() passes it by more than the jitter, the probe is stale (stuck scheduler or a hung run), whatever its schedule.",
		}, []string{"target", "name"}),
		skippedRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "scheduler_skipped_runs_total",
			Help: "Scheduled runs skipped because the previous run of the same probe or soak was still going.",
		}, []string{"name"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "in_flight_requests",
			Help: "Requests currently in flight, per target.",
		}, []string{"target"}),
	}
	reg.MustRegister(m.ttft, m.ttfa, m.itl, m.tpot, m.e2e, m.lag,
		m.requests, m.inputTokens, m.outputTokens, m.cachedTokens, m.coldCacheHits, m.reasoningTokens, m.toolCalls, m.noToolCall, m.retries, m.connRetries,
		m.probeSuccess, m.probeLast, m.probeDuration, m.probeNext, m.skippedRuns, m.inFlight)
	return m
}

// InitTarget creates a target's request counters at zero for every result
// class, so that rate() and absent-series alerts work from the first scrape.
func (m *Metrics) InitTarget(target, model, phase, name string) {
	for _, r := range probe.Results {
		m.requests.WithLabelValues(target, model, phase, name, string(r))
	}
	m.inputTokens.WithLabelValues(target, model, phase, name)
	m.connRetries.WithLabelValues(target, model, phase, name)
	m.coldCacheHits.WithLabelValues(target, model, phase, name)
	m.outputTokens.WithLabelValues(target, model, phase, name)
	m.inFlight.WithLabelValues(target)
}

// Observe records one finished request. Latency histograms take successful
// requests only: a refused request is fast and must not make the server look
// faster; it is counted in requests_total instead.
func (m *Metrics) Observe(rec *probe.Record) {
	lv := []string{rec.Target, rec.Model, rec.Phase, rec.Name}
	m.requests.WithLabelValues(append(lv, string(rec.Result))...).Inc()
	if rec.Retries > 0 {
		m.retries.WithLabelValues(lv...).Add(float64(rec.Retries))
	}
	if rec.ConnRetries > 0 {
		m.connRetries.WithLabelValues(lv...).Add(float64(rec.ConnRetries))
	}
	if !rec.Scheduled.IsZero() {
		m.lag.WithLabelValues(lv...).Observe(rec.Start.Sub(rec.Scheduled).Seconds())
	}
	if !rec.Success() {
		return
	}
	m.inputTokens.WithLabelValues(lv...).Add(float64(rec.InputTokens))
	m.outputTokens.WithLabelValues(lv...).Add(float64(rec.OutputTokens))
	if rec.CachedTokens > 0 {
		m.cachedTokens.WithLabelValues(lv...).Add(float64(rec.CachedTokens))
	}
	if rec.ColdCacheHit {
		m.coldCacheHits.WithLabelValues(lv...).Inc()
	}
	if rec.ReasoningTokens > 0 {
		m.reasoningTokens.WithLabelValues(lv...).Add(float64(rec.ReasoningTokens))
	}
	if rec.ToolCalls > 0 {
		m.toolCalls.WithLabelValues(lv...).Add(float64(rec.ToolCalls))
	}
	if rec.NoToolCall {
		m.noToolCall.WithLabelValues(lv...).Inc()
	}
	m.e2e.WithLabelValues(lv...).Observe(rec.E2E().Seconds())
	if d, ok := rec.TTFT(); ok {
		m.ttft.WithLabelValues(lv...).Observe(d.Seconds())
	}
	if d, ok := rec.TTFA(); ok {
		m.ttfa.WithLabelValues(lv...).Observe(d.Seconds())
	}
	if d, ok := rec.TPOT(); ok {
		m.tpot.WithLabelValues(lv...).Observe(d.Seconds())
	}
	if len(rec.Chunks) > 1 {
		h := m.itl.WithLabelValues(lv...)
		rec.EachITL(func(d time.Duration, k int) {
			for range k {
				h.Observe(d.Seconds())
			}
		})
	}
}

// ColdCacheHits returns the cold-cache-hit counter of one series.
func (m *Metrics) ColdCacheHits(target, model, phase, name string) prometheus.Counter {
	return m.coldCacheHits.WithLabelValues(target, model, phase, name)
}

// ProbeDone records the outcome of one probe run against one target.
func (m *Metrics) ProbeDone(target, name string, success bool, took time.Duration, at time.Time) {
	v := 0.0
	if success {
		v = 1
	}
	m.probeSuccess.WithLabelValues(target, name).Set(v)
	m.probeDuration.WithLabelValues(target, name).Set(took.Seconds())
	m.probeLast.WithLabelValues(target, name).Set(float64(at.UnixNano()) / 1e9)
}

// ProbeNext records when the next run of a probe against a target is due.
func (m *Metrics) ProbeNext(target, name string, next time.Time) {
	m.probeNext.WithLabelValues(target, name).Set(float64(next.UnixNano()) / 1e9)
}

// SkippedRun counts a scheduled run that was skipped.
func (m *Metrics) SkippedRun(name string) { m.skippedRuns.WithLabelValues(name).Inc() }

// InFlight returns the in-flight gauge of a target.
func (m *Metrics) InFlight(target string) prometheus.Gauge { return m.inFlight.WithLabelValues(target) }

// Delete removes every series whose labels match (for example a target or
// a probe that a reload removed), so that dashboards do not show a ghost
// with its last values. A series without one of the labels never matches.
func (m *Metrics) Delete(match prometheus.Labels) {
	for _, v := range []interface {
		DeletePartialMatch(prometheus.Labels) int
	}{m.ttft, m.ttfa, m.itl, m.tpot, m.e2e, m.lag, m.requests, m.inputTokens, m.outputTokens,
		m.cachedTokens, m.coldCacheHits, m.reasoningTokens, m.toolCalls, m.noToolCall, m.retries, m.connRetries, m.probeSuccess, m.probeLast, m.probeDuration,
		m.probeNext, m.skippedRuns, m.inFlight} {
		v.DeletePartialMatch(match)
	}
}
