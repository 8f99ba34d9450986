package sim

import (
	"github.com/prometheus/client_golang/prometheus"
)

// The simulated engine's /metrics page uses vLLM V1's names (v0.11+, as in
// vllm/v1/metrics/loggers.py) with the labels model_name (the served
// model) and engine ("0": one engine core), and their bucket boundaries, so
// that dashboards, alerts and servermetrics read it as a vLLM server. The
// colons in the names are vLLM's, not this project's habit.
//
// What each one counts, in the simulator's terms (a request is "accepted"
// when it got past the injected 429/500 faults and the queue limit):
//
//   - vllm:num_requests_running: accepted requests holding a decode slot
//     (every accepted request past the queue with MaxConcurrency 0), and
//     slots lost to Faults.LeakSlotEvery.
//   - vllm:num_requests_waiting: accepted requests queued for a slot.
//   - vllm:kv_cache_usage_perc: a fraction 0-1 despite its name, as in
//     vLLM: the prompt tokens plus the tokens generated so far of the
//     running requests, over Config.KVCacheTokens, at most 1.
//   - vllm:prompt_tokens_total: prompt tokens (cached ones included) of
//     requests whose prefill is done: at a generation request's first
//     token, when a pooling request's answer is ready.
//   - vllm:generation_tokens_total: output tokens generated, streamed or not.
//   - vllm:num_preemptions_total: always 0; the simulator does not preempt.
//   - vllm:prefix_cache_queries_total, vllm:prefix_cache_hits_total: the
//     prompt tokens looked up in the prefix cache and those found, at
//     admission; 0 with the cache off.
//   - vllm:request_success_total{finished_reason}: every accepted request
//     once, when it ends: "stop" or "length" when answered in full (a
//     pooling request is "stop"), "error" when Faults.Disconnect cut it,
//     "abort" when the client went away, it stalled (Faults.Stall) until
//     the client or the server gave up, or the server closed.
//   - vllm:time_to_first_token_seconds: from arrival to the first output
//     token, the queue included, once per generation request.
//   - vllm:inter_token_latency_seconds: the gap between consecutive output
//     events (chunks), one observation per gap, not per token.
//   - vllm:request_time_per_output_token_seconds: decode time over output
//     tokens minus one, once per generation request answered in full (0
//     for a single token).
//   - vllm:request_queue_time_seconds, vllm:request_prefill_time_seconds,
//     vllm:request_decode_time_seconds, vllm:e2e_request_latency_seconds:
//     once per request answered in full: arrival to slot, slot to first
//     token, first to last token, arrival to the end of the answer. A
//     pooling request has no output tokens: only queue, prefill (slot to
//     answer) and e2e.
//   - process_resident_memory_bytes: simulated, not the real process's
//     (which no test could predict): BaseResidentMemoryBytes plus what
//     Faults.LeakBytesPerRequest leaked.
//
// A restart (Faults.RestartEvery, Server.Restart) replaces the registry, so
// every counter and histogram starts again from zero.

// Bucket boundaries of vLLM's histograms.
var (
	ttftBuckets = []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5,
		0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560}
	// itlBuckets serve inter_token_latency_seconds and
	// request_time_per_output_token_seconds.
	itlBuckets = []float64{0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75,
		1, 2.5, 5, 7.5, 10, 20, 40, 80}
	// requestLatencyBuckets serve the per-request phase histograms.
	requestLatencyBuckets = []float64{0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30,
		40, 50, 60, 120, 240, 480, 960, 1920, 7680}
)

// finishReasons are the finished_reason values vLLM exposes from the start.
var finishReasons = []string{"stop", "length", "abort", "error"}

// engineMetrics are one epoch's metrics, on a registry of their own.
type engineMetrics struct {
	reg *prometheus.Registry

	promptTokens, generationTokens, cacheQueries, cacheHits prometheus.Counter
	success                                                 map[string]prometheus.Counter
	ttft, itl, tpot, queue, prefill, decode, e2e            prometheus.Observer
}

// newEngineMetrics registers ep's metrics for the served model.
func newEngineMetrics(model string, ep *epoch, kvCapacity int) *engineMetrics {
	m := &engineMetrics{reg: prometheus.NewRegistry(), success: map[string]prometheus.Counter{}}
	labels := []string{"model_name", "engine"}
	values := []string{model, "0"}
	constLabels := prometheus.Labels{"model_name": model, "engine": "0"}
	gauge := func(name, help string, f func() float64) {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: constLabels}, f))
	}
	counter := func(name, help string) prometheus.Counter {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		m.reg.MustRegister(v)
		return v.WithLabelValues(values...) // present at 0 from the start, as vLLM's are
	}
	histogram := func(name, help string, buckets []float64) prometheus.Observer {
		v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
		m.reg.MustRegister(v)
		return v.WithLabelValues(values...)
	}

	gauge("vllm:num_requests_running", "Requests holding a decode slot (simulated engine).",
		func() float64 { return float64(ep.running.Load()) })
	gauge("vllm:num_requests_waiting", "Requests queued for a decode slot (simulated engine).",
		func() float64 { return float64(ep.waiting.Load()) })
	gauge("vllm:kv_cache_usage_perc", "KV cache usage, a fraction: 1 means full (simulated engine).",
		func() float64 { return min(1, float64(ep.kvTokens.Load())/float64(kvCapacity)) })
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "process_resident_memory_bytes",
		Help: "Simulated resident memory size in bytes: a fixed base plus what the leak fault leaked.",
	}, func() float64 { return float64(BaseResidentMemoryBytes + ep.leaked.Load()) }))

	m.promptTokens = counter("vllm:prompt_tokens_total", "Prefill tokens processed, cached ones included.")
	m.generationTokens = counter("vllm:generation_tokens_total", "Generation tokens processed.")
	counter("vllm:num_preemptions_total", "Preemptions of requests by the engine (the simulator never preempts).")
	m.cacheQueries = counter("vllm:prefix_cache_queries_total", "Prefix cache queries, in prompt tokens looked up.")
	m.cacheHits = counter("vllm:prefix_cache_hits_total", "Prefix cache hits, in prompt tokens found cached.")
	success := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vllm:request_success_total",
		Help: "Requests the engine finished, by how they ended.",
	}, append(labels, "finished_reason"))
	m.reg.MustRegister(success)
	for _, r := range finishReasons {
		m.success[r] = success.WithLabelValues(model, "0", r)
	}

	m.ttft = histogram("vllm:time_to_first_token_seconds", "Time from arrival to the first output token, queueing included.", ttftBuckets)
	m.itl = histogram("vllm:inter_token_latency_seconds", "Time between consecutive output events of a request.", itlBuckets)
	m.tpot = histogram("vllm:request_time_per_output_token_seconds", "Mean time per output token after the first, per request.", itlBuckets)
	m.queue = histogram("vllm:request_queue_time_seconds", "Time requests spent waiting for a decode slot.", requestLatencyBuckets)
	m.prefill = histogram("vllm:request_prefill_time_seconds", "Time from a decode slot to the first output token (pooling: to the answer).", requestLatencyBuckets)
	m.decode = histogram("vllm:request_decode_time_seconds", "Time from the first to the last output token.", requestLatencyBuckets)
	m.e2e = histogram("vllm:e2e_request_latency_seconds", "Time from arrival to the end of the answer.", requestLatencyBuckets)
	return m
}
