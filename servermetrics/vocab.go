package servermetrics

import (
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
)

// Server names a model server whose /metrics page the vocabulary knows.
type Server string

// The servers of the vocabulary. Auto asks Detect to pick one from the names
// on the page; Generic reads only the process metrics every Prometheus client has.
const (
	Auto     Server = "auto"
	VLLM     Server = "vllm"
	SGLang   Server = "sglang"
	TGI      Server = "tgi"
	LlamaCPP Server = "llamacpp"
	Generic  Server = "generic"
)

// Servers lists the servers Detect chooses among, in the order ties are broken.
var Servers = []Server{VLLM, SGLang, TGI, LlamaCPP}

// Kind is what one of our names holds.
type Kind int

// Kinds of the vocabulary's names.
const (
	Gauge     Kind = iota // a value now
	Counter               // only grows; Delta takes its increase
	Histogram             // cumulative buckets, sum and count; Delta subtracts them
)

func (k Kind) String() string {
	switch k {
	case Gauge:
		return "gauge"
	case Counter:
		return "counter"
	case Histogram:
		return "histogram"
	}
	return "unknown"
}

// Use is how a row reads the server's family.
type Use int

// Uses of a server's family.
const (
	Value   Use = iota // the family's own value (gauge, counter, untyped) or histogram
	HistSum            // a histogram's sum, as a counter (TGI's token-count histograms)
)

// Agg is how a row combines the series of a family (labels such as model_name, engine).
type Agg int

// Aggregations across series.
const (
	Sum  Agg = iota // add them (counts, tokens, requests)
	Mean            // average them (ratios: one KV cache per engine)
)

// Row maps one of our names to one server's metric. Several rows for the same
// server and name are alternatives, first match wins: newest name first, so a
// renamed metric is read under whichever name the server's version exposes.
type Row struct {
	Name    string   // our name
	Kind    Kind     // what our name holds
	Server  Server   // the server this row reads
	Metrics []string // the server's family names; all must be present; their values are added
	Use     Use      // how the family is read
	Agg     Agg      // how its series are combined
	Scale   float64  // multiplies the value (unit conversion); 0 means 1
	Version string   // the server version the name comes from, renames, deprecations
}

func (r Row) scale() float64 {
	if r.Scale == 0 {
		return 1
	}
	return r.Scale
}

// Table is the one vocabulary: every name we read, from every server.
//
// Sources, read with the search tool (public source code):
//   - vLLM: vllm/v1/metrics/loggers.py (PrometheusStatLogger), and the page of a
//     vLLM-compatible simulator in testdata/vllm-sim-metrics.txt.
//   - SGLang: python/sglang/srt/metrics/collector.py (SchedulerMetricsCollector,
//     TokenizerMetricsCollector).
//   - TGI: router/src/server.rs, router/src/infer/mod.rs, router/src/queue.rs
//     (metrics::gauge!/histogram!/counter! through metrics-exporter-prometheus,
//     which renders classic histograms; durations in seconds).
//   - llama.cpp: tools/server/server.cpp (examples/server/server.cpp before the
//     move), handle_metrics, and the page in testdata/llama-server-metrics.txt.
//   - process_resident_memory_bytes: the process collector of the Prometheus
//     clients (Python prometheus_client in vLLM and SGLang).
var Table = []Row{
	// vLLM (V1 engine).
	{Name: "requests_running", Kind: Gauge, Server: VLLM, Metrics: []string{"vllm:num_requests_running"}, Version: "all versions"},
	{Name: "requests_waiting", Kind: Gauge, Server: VLLM, Metrics: []string{"vllm:num_requests_waiting"}, Version: "all versions"},
	{Name: "kv_cache_usage_ratio", Kind: Gauge, Server: VLLM, Metrics: []string{"vllm:kv_cache_usage_perc"}, Agg: Mean, Version: "v0.10+ (a fraction 0-1 despite its name); renamed from gpu_cache_usage_perc"},
	{Name: "kv_cache_usage_ratio", Kind: Gauge, Server: VLLM, Metrics: []string{"vllm:gpu_cache_usage_perc"}, Agg: Mean, Version: "before v0.10 (a fraction 0-1); deprecated then removed, kv_cache_usage_perc its successor"},
	{Name: "prefix_cache_hits_total", Kind: Counter, Server: VLLM, Metrics: []string{"vllm:prefix_cache_hits_total"}, Version: "V1 engine (v0.8+), in tokens"},
	{Name: "prefix_cache_hits_total", Kind: Counter, Server: VLLM, Metrics: []string{"vllm:gpu_prefix_cache_hits_total"}, Version: "before the V1 rename"},
	{Name: "prefix_cache_queries_total", Kind: Counter, Server: VLLM, Metrics: []string{"vllm:prefix_cache_queries_total"}, Version: "V1 engine (v0.8+), in tokens"},
	{Name: "prefix_cache_queries_total", Kind: Counter, Server: VLLM, Metrics: []string{"vllm:gpu_prefix_cache_queries_total"}, Version: "before the V1 rename"},
	{Name: "preemptions_total", Kind: Counter, Server: VLLM, Metrics: []string{"vllm:num_preemptions_total"}, Version: "all versions"},
	{Name: "prompt_tokens_total", Kind: Counter, Server: VLLM, Metrics: []string{"vllm:prompt_tokens_total"}, Version: "all versions (cached prompt tokens included)"},
	{Name: "generation_tokens_total", Kind: Counter, Server: VLLM, Metrics: []string{"vllm:generation_tokens_total"}, Version: "all versions"},
	{Name: "ttft_seconds", Kind: Histogram, Server: VLLM, Metrics: []string{"vllm:time_to_first_token_seconds"}, Version: "all versions"},
	{Name: "itl_seconds", Kind: Histogram, Server: VLLM, Metrics: []string{"vllm:inter_token_latency_seconds"}, Version: "v0.10+; one observation per output event, not per token (vLLM #52853)"},
	{Name: "itl_seconds", Kind: Histogram, Server: VLLM, Metrics: []string{"vllm:time_per_output_token_seconds"}, Version: "before inter_token_latency_seconds; deprecated in v0.11, then removed"},
	{Name: "tpot_seconds", Kind: Histogram, Server: VLLM, Metrics: []string{"vllm:request_time_per_output_token_seconds"}, Version: "v0.11+; one observation per request"},
	{Name: "queue_time_seconds", Kind: Histogram, Server: VLLM, Metrics: []string{"vllm:request_queue_time_seconds"}, Version: "V1 engine (v0.8+)"},
	{Name: "prefill_time_seconds", Kind: Histogram, Server: VLLM, Metrics: []string{"vllm:request_prefill_time_seconds"}, Version: "V1 engine (v0.8+)"},
	{Name: "decode_time_seconds", Kind: Histogram, Server: VLLM, Metrics: []string{"vllm:request_decode_time_seconds"}, Version: "V1 engine (v0.8+)"},
	{Name: "e2e_latency_seconds", Kind: Histogram, Server: VLLM, Metrics: []string{"vllm:e2e_request_latency_seconds"}, Version: "all versions"},
	{Name: "prefill_seconds_total", Kind: Counter, Server: VLLM, Metrics: []string{"vllm:request_prefill_time_seconds"}, Use: HistSum, Version: "V1 engine (v0.8+), the histogram's sum"},
	{Name: "decode_seconds_total", Kind: Counter, Server: VLLM, Metrics: []string{"vllm:request_decode_time_seconds"}, Use: HistSum, Version: "V1 engine (v0.8+), the histogram's sum"},

	// SGLang.
	{Name: "requests_running", Kind: Gauge, Server: SGLang, Metrics: []string{"sglang:num_running_reqs"}, Version: "all versions"},
	{Name: "requests_waiting", Kind: Gauge, Server: SGLang, Metrics: []string{"sglang:num_queue_reqs"}, Version: "all versions"},
	{Name: "kv_cache_usage_ratio", Kind: Gauge, Server: SGLang, Metrics: []string{"sglang:token_usage"}, Agg: Mean, Version: "all versions (KV pool tokens used, 0-1)"},
	{Name: "prefix_cache_hits_total", Kind: Counter, Server: SGLang, Metrics: []string{"sglang:cached_tokens_total"}, Version: "v0.4+ (tokens; newer versions label it by cache_source, summed)"},
	{Name: "prefix_cache_queries_total", Kind: Counter, Server: SGLang, Metrics: []string{"sglang:prompt_tokens_total"}, Version: "all versions (every prompt token is a lookup)"},
	{Name: "preemptions_total", Kind: Counter, Server: SGLang, Metrics: []string{"sglang:num_retracted_requests_total"}, Version: "recent versions (retractions when the KV cache is full); the older gauge num_retracted_reqs is not a counter"},
	{Name: "prompt_tokens_total", Kind: Counter, Server: SGLang, Metrics: []string{"sglang:prompt_tokens_total"}, Version: "all versions"},
	{Name: "generation_tokens_total", Kind: Counter, Server: SGLang, Metrics: []string{"sglang:generation_tokens_total"}, Version: "all versions"},
	{Name: "ttft_seconds", Kind: Histogram, Server: SGLang, Metrics: []string{"sglang:time_to_first_token_seconds"}, Version: "all versions"},
	{Name: "itl_seconds", Kind: Histogram, Server: SGLang, Metrics: []string{"sglang:inter_token_latency_seconds"}, Version: "v0.4.5+ (per output event)"},
	{Name: "itl_seconds", Kind: Histogram, Server: SGLang, Metrics: []string{"sglang:time_per_output_token_seconds"}, Version: "before inter_token_latency_seconds"},
	{Name: "queue_time_seconds", Kind: Histogram, Server: SGLang, Metrics: []string{"sglang:queue_time_seconds"}, Version: "recent versions"},
	{Name: "e2e_latency_seconds", Kind: Histogram, Server: SGLang, Metrics: []string{"sglang:e2e_request_latency_seconds"}, Version: "all versions"},

	// TGI (router metrics; no TTFT, prefill or decode per request).
	{Name: "requests_running", Kind: Gauge, Server: TGI, Metrics: []string{"tgi_batch_current_size"}, Version: "v1+ (requests in the running batch)"},
	{Name: "requests_waiting", Kind: Gauge, Server: TGI, Metrics: []string{"tgi_queue_size"}, Version: "v1+"},
	{Name: "prompt_tokens_total", Kind: Counter, Server: TGI, Metrics: []string{"tgi_request_input_length"}, Use: HistSum, Version: "v1+ (the input-length histogram's sum)"},
	{Name: "generation_tokens_total", Kind: Counter, Server: TGI, Metrics: []string{"tgi_request_generated_tokens"}, Use: HistSum, Version: "v1+ (the generated-tokens histogram's sum)"},
	{Name: "tpot_seconds", Kind: Histogram, Server: TGI, Metrics: []string{"tgi_request_mean_time_per_token_duration"}, Version: "v1+ (one observation per request)"},
	{Name: "queue_time_seconds", Kind: Histogram, Server: TGI, Metrics: []string{"tgi_request_queue_duration"}, Version: "v1+"},
	{Name: "e2e_latency_seconds", Kind: Histogram, Server: TGI, Metrics: []string{"tgi_request_duration"}, Version: "v1+"},

	// llama.cpp (llama-server --metrics; counters and gauges only, no histograms).
	{Name: "requests_running", Kind: Gauge, Server: LlamaCPP, Metrics: []string{"llamacpp:requests_processing"}, Version: "all versions"},
	{Name: "requests_waiting", Kind: Gauge, Server: LlamaCPP, Metrics: []string{"llamacpp:requests_deferred"}, Version: "all versions"},
	{Name: "kv_cache_usage_ratio", Kind: Gauge, Server: LlamaCPP, Metrics: []string{"llamacpp:kv_cache_usage_ratio"}, Version: "older builds only; removed when the KV cache was unified (not on current pages)"},
	{Name: "prefix_cache_hits_total", Kind: Counter, Server: LlamaCPP, Metrics: []string{"llamacpp:prompt_tokens_cached_total"}, Version: "recent builds (tokens reused from the cache)"},
	{Name: "prefix_cache_queries_total", Kind: Counter, Server: LlamaCPP, Metrics: []string{"llamacpp:prompt_tokens_total", "llamacpp:prompt_tokens_cached_total"}, Version: "recent builds: processed plus cached prompt tokens"},
	{Name: "prompt_tokens_total", Kind: Counter, Server: LlamaCPP, Metrics: []string{"llamacpp:prompt_tokens_total", "llamacpp:prompt_tokens_cached_total"}, Version: "recent builds: prompt_tokens_total excludes cached tokens, so both are added (as vLLM counts them)"},
	{Name: "prompt_tokens_total", Kind: Counter, Server: LlamaCPP, Metrics: []string{"llamacpp:prompt_tokens_total"}, Version: "older builds, without prompt_tokens_cached_total"},
	{Name: "generation_tokens_total", Kind: Counter, Server: LlamaCPP, Metrics: []string{"llamacpp:tokens_predicted_total"}, Version: "all versions"},
	{Name: "prefill_seconds_total", Kind: Counter, Server: LlamaCPP, Metrics: []string{"llamacpp:prompt_seconds_total"}, Version: "all versions (the server converts its milliseconds to seconds)"},
	{Name: "decode_seconds_total", Kind: Counter, Server: LlamaCPP, Metrics: []string{"llamacpp:tokens_predicted_seconds_total"}, Version: "all versions (the server converts its milliseconds to seconds)"},

	// Every server whose Prometheus client has the process collector.
	{Name: "resident_memory_bytes", Kind: Gauge, Server: Generic, Metrics: []string{"process_resident_memory_bytes"}, Version: "Prometheus clients' process collector (vLLM's and SGLang's API server process)"},
}

// Names returns our names and their kinds, sorted.
func Names() map[string]Kind {
	out := map[string]Kind{}
	for _, r := range Table {
		out[r.Name] = r.Kind
	}
	return out
}

// prefixes are the namespaces Detect looks for.
var prefixes = map[Server]string{VLLM: "vllm:", SGLang: "sglang:", TGI: "tgi_", LlamaCPP: "llamacpp:"}

// Detect picks the server from the family names on a page: the one with the
// most families in its namespace (vllm:, sglang:, tgi_, llamacpp:), ties broken
// by the order of Servers; Generic when none has any.
func Detect(fams map[string]*dto.MetricFamily) Server {
	best, bestN := Generic, 0
	for _, s := range Servers {
		n := 0
		for name := range fams {
			if strings.HasPrefix(name, prefixes[s]) {
				n++
			}
		}
		if n > bestN {
			best, bestN = s, n
		}
	}
	return best
}

// rowsFor returns the rows that apply to a server, grouped by our name in
// table order: the server's own rows, then the generic ones.
func rowsFor(table []Row, s Server) (names []string, rows map[string][]Row) {
	rows = map[string][]Row{}
	for _, pass := range []Server{s, Generic} {
		for _, r := range table {
			if r.Server != pass {
				continue
			}
			if _, seen := rows[r.Name]; !seen {
				names = append(names, r.Name)
			}
			rows[r.Name] = append(rows[r.Name], r)
		}
		if s == Generic {
			break
		}
	}
	sort.Strings(names)
	return names, rows
}
