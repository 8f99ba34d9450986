package servermetrics

import (
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
)

func parseFile(t *testing.T, path string) Snapshot {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return parseText(t, string(b))
}

func parseText(t *testing.T, page string) Snapshot {
	t.Helper()
	fams, err := Parse([]byte(page), expfmt.FmtText)
	if err != nil {
		t.Fatal(err)
	}
	return FromFamilies(fams, Auto, time.Unix(0, 0))
}

type want struct {
	server  Server
	values  map[string]float64
	hists   map[string][2]float64 // count, sum
	absent  []string
	buckets map[string][]Bucket // a prefix of the cumulative buckets
}

func check(t *testing.T, s Snapshot, w want) {
	t.Helper()
	if s.Server != w.server {
		t.Errorf("server %q, want %q", s.Server, w.server)
	}
	for name, v := range w.values {
		got, ok := s.Values[name]
		if !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, v)
		}
	}
	for name, cs := range w.hists {
		h := s.Hists[name]
		if h == nil {
			t.Errorf("%s missing", name)
			continue
		}
		if h.Count != cs[0] || h.Sum != cs[1] {
			t.Errorf("%s count %v sum %v, want %v %v", name, h.Count, h.Sum, cs[0], cs[1])
		}
	}
	for _, name := range w.absent {
		if _, ok := s.Values[name]; ok {
			t.Errorf("%s present, want absent", name)
		}
		if _, ok := s.Hists[name]; ok {
			t.Errorf("%s present, want absent", name)
		}
	}
	for name, bs := range w.buckets {
		got := s.Hists[name].Buckets()
		if len(got) < len(bs) {
			t.Errorf("%s has %d buckets, want at least %d", name, len(got), len(bs))
			continue
		}
		for i, b := range bs {
			if got[i] != b {
				t.Errorf("%s bucket %d = %+v, want %+v", name, i, got[i], b)
			}
		}
	}
}

func TestCaptures(t *testing.T) {
	for _, tc := range []struct {
		file string
		want want
	}{
		{"testdata/llama-server-metrics.txt", want{
			server: LlamaCPP,
			values: map[string]float64{
				"requests_running": 0, "requests_waiting": 0,
				"prompt_tokens_total": 71 + 62, "prefix_cache_hits_total": 62, "prefix_cache_queries_total": 133,
				"generation_tokens_total": 18, "prefill_seconds_total": 0.00821, "decode_seconds_total": 0.002018,
			},
			absent: []string{"kv_cache_usage_ratio", "ttft_seconds", "resident_memory_bytes", "preemptions_total"},
		}},
		{"testdata/vllm-sim-metrics.txt", want{
			server: VLLM,
			values: map[string]float64{
				"requests_running": 0, "requests_waiting": 0, "kv_cache_usage_ratio": 0,
				"prompt_tokens_total": 16, "generation_tokens_total": 9,
				"prefill_seconds_total": 0.150862078, "decode_seconds_total": 0.062261027,
			},
			hists: map[string][2]float64{
				"ttft_seconds":         {3, 0.15000000000000002},
				"itl_seconds":          {6, 0.060000000000000005}, // inter_token_latency_seconds, not the deprecated name
				"tpot_seconds":         {3, 0.0206987384},
				"e2e_latency_seconds":  {3, 0.21333730499999998},
				"prefill_time_seconds": {3, 0.150862078},
				"decode_time_seconds":  {3, 0.062261027},
			},
			absent: []string{"queue_time_seconds", "preemptions_total", "prefix_cache_hits_total"},
			buckets: map[string][]Bucket{
				"e2e_latency_seconds": {{Lower: 0, Upper: 0.3, Cumulative: 3}, {Lower: 0.3, Upper: 0.5, Cumulative: 3}},
				"itl_seconds":         {{Lower: 0, Upper: 0.01, Cumulative: 6}},
			},
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			s := parseFile(t, tc.file)
			check(t, s, tc.want)
			if got := s.Source["itl_seconds"]; tc.want.server == VLLM && (len(got) != 1 || got[0] != "vllm:inter_token_latency_seconds") {
				t.Errorf("itl_seconds read from %v", got)
			}
		})
	}
}

// sglangPage and tgiPage are written from the names in SGLang's
// python/sglang/srt/metrics/collector.py and TGI's router (metrics-exporter-prometheus output).
const sglangPage = `# TYPE sglang:num_running_reqs gauge
sglang:num_running_reqs{model_name="m",engine_type="unified"} 3
# TYPE sglang:num_queue_reqs gauge
sglang:num_queue_reqs{model_name="m",engine_type="unified"} 7
# TYPE sglang:token_usage gauge
sglang:token_usage{model_name="m",dp_rank="0"} 0.5
sglang:token_usage{model_name="m",dp_rank="1"} 0.25
# TYPE sglang:cached_tokens_total counter
sglang:cached_tokens_total{model_name="m",cache_source="device"} 100
sglang:cached_tokens_total{model_name="m",cache_source="host"} 20
# TYPE sglang:prompt_tokens_total counter
sglang:prompt_tokens_total{model_name="m"} 400
# TYPE sglang:generation_tokens_total counter
sglang:generation_tokens_total{model_name="m"} 250
# TYPE sglang:num_retracted_requests_total counter
sglang:num_retracted_requests_total{model_name="m"} 2
# TYPE sglang:time_to_first_token_seconds histogram
sglang:time_to_first_token_seconds_bucket{model_name="m",le="0.1"} 1
sglang:time_to_first_token_seconds_bucket{model_name="m",le="0.5"} 4
sglang:time_to_first_token_seconds_bucket{model_name="m",le="+Inf"} 5
sglang:time_to_first_token_seconds_sum{model_name="m"} 1.5
sglang:time_to_first_token_seconds_count{model_name="m"} 5
# TYPE sglang:inter_token_latency_seconds histogram
sglang:inter_token_latency_seconds_bucket{model_name="m",le="0.01"} 90
sglang:inter_token_latency_seconds_bucket{model_name="m",le="+Inf"} 100
sglang:inter_token_latency_seconds_sum{model_name="m"} 0.8
sglang:inter_token_latency_seconds_count{model_name="m"} 100
# TYPE sglang:queue_time_seconds histogram
sglang:queue_time_seconds_bucket{model_name="m",le="1"} 5
sglang:queue_time_seconds_bucket{model_name="m",le="+Inf"} 5
sglang:queue_time_seconds_sum{model_name="m"} 0.5
sglang:queue_time_seconds_count{model_name="m"} 5
# TYPE sglang:e2e_request_latency_seconds histogram
sglang:e2e_request_latency_seconds_bucket{model_name="m",le="+Inf"} 5
sglang:e2e_request_latency_seconds_sum{model_name="m"} 9
sglang:e2e_request_latency_seconds_count{model_name="m"} 5
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 1.5e+09
`

const tgiPage = `# TYPE tgi_batch_current_size gauge
tgi_batch_current_size 4
# TYPE tgi_queue_size gauge
tgi_queue_size 9
# TYPE tgi_request_input_length histogram
tgi_request_input_length_bucket{le="100"} 2
tgi_request_input_length_bucket{le="+Inf"} 3
tgi_request_input_length_sum 345
tgi_request_input_length_count 3
# TYPE tgi_request_generated_tokens histogram
tgi_request_generated_tokens_bucket{le="+Inf"} 3
tgi_request_generated_tokens_sum 60
tgi_request_generated_tokens_count 3
# TYPE tgi_request_mean_time_per_token_duration histogram
tgi_request_mean_time_per_token_duration_bucket{le="0.05"} 3
tgi_request_mean_time_per_token_duration_bucket{le="+Inf"} 3
tgi_request_mean_time_per_token_duration_sum 0.09
tgi_request_mean_time_per_token_duration_count 3
# TYPE tgi_request_queue_duration histogram
tgi_request_queue_duration_bucket{le="0.1"} 2
tgi_request_queue_duration_bucket{le="+Inf"} 3
tgi_request_queue_duration_sum 0.4
tgi_request_queue_duration_count 3
# TYPE tgi_request_duration histogram
tgi_request_duration_bucket{le="+Inf"} 3
tgi_request_duration_sum 6
tgi_request_duration_count 3
# TYPE tgi_request_count counter
tgi_request_count 3
`

func TestWrittenPages(t *testing.T) {
	for _, tc := range []struct {
		name, page string
		want       want
	}{
		{"sglang", sglangPage, want{
			server: SGLang,
			values: map[string]float64{
				"requests_running": 3, "requests_waiting": 7, "kv_cache_usage_ratio": 0.375,
				"prefix_cache_hits_total": 120, "prefix_cache_queries_total": 400, "prompt_tokens_total": 400,
				"generation_tokens_total": 250, "preemptions_total": 2, "resident_memory_bytes": 1.5e9,
			},
			hists: map[string][2]float64{
				"ttft_seconds": {5, 1.5}, "itl_seconds": {100, 0.8}, "queue_time_seconds": {5, 0.5}, "e2e_latency_seconds": {5, 9},
			},
			absent: []string{"tpot_seconds", "prefill_time_seconds"},
		}},
		{"tgi", tgiPage, want{
			server: TGI,
			values: map[string]float64{"requests_running": 4, "requests_waiting": 9, "prompt_tokens_total": 345, "generation_tokens_total": 60},
			hists:  map[string][2]float64{"tpot_seconds": {3, 0.09}, "queue_time_seconds": {3, 0.4}, "e2e_latency_seconds": {3, 6}},
			absent: []string{"ttft_seconds", "kv_cache_usage_ratio", "resident_memory_bytes"},
		}},
		{"generic", "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 42\nfoo_total 1\n", want{
			server: Generic, values: map[string]float64{"resident_memory_bytes": 42}, absent: []string{"requests_running"},
		}},
		{"old vllm names", "vllm:gpu_cache_usage_perc{engine=\"0\"} 0.5\nvllm:gpu_cache_usage_perc{engine=\"1\"} 0.7\nvllm:num_requests_running 1\n" +
			"# TYPE vllm:time_per_output_token_seconds histogram\nvllm:time_per_output_token_seconds_bucket{le=\"+Inf\"} 4\nvllm:time_per_output_token_seconds_sum 0.4\nvllm:time_per_output_token_seconds_count 4\n", want{
			server: VLLM, values: map[string]float64{"kv_cache_usage_ratio": 0.6, "requests_running": 1}, hists: map[string][2]float64{"itl_seconds": {4, 0.4}},
		}},
		{"new name wins over the old", "vllm:gpu_cache_usage_perc 0.9\nvllm:kv_cache_usage_perc 0.2\n", want{
			server: VLLM, values: map[string]float64{"kv_cache_usage_ratio": 0.2},
		}},
		{"older llama.cpp", "llamacpp:prompt_tokens_total 10\nllamacpp:kv_cache_usage_ratio 0.25\n", want{
			server: LlamaCPP, values: map[string]float64{"prompt_tokens_total": 10, "kv_cache_usage_ratio": 0.25}, absent: []string{"prefix_cache_hits_total"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { check(t, parseText(t, tc.page), tc.want) })
	}
}

func TestTableIsConsistent(t *testing.T) {
	kinds := map[string]Kind{}
	for _, r := range Table {
		if k, ok := kinds[r.Name]; ok && k != r.Kind {
			t.Errorf("%s is a %v in one row and a %v in another", r.Name, k, r.Kind)
		}
		kinds[r.Name] = r.Kind
		if len(r.Metrics) == 0 || r.Version == "" {
			t.Errorf("row %+v lacks metrics or version", r)
		}
		if r.Server != Generic && !strings.HasPrefix(r.Metrics[0], prefixes[r.Server]) {
			t.Errorf("row %s of %s reads %s", r.Name, r.Server, r.Metrics[0])
		}
		if r.Kind == Histogram && (r.Use != Value || len(r.Metrics) != 1) {
			t.Errorf("histogram row %s must read one histogram", r.Name)
		}
	}
	for _, name := range []string{"requests_running", "requests_waiting", "kv_cache_usage_ratio", "prefix_cache_hits_total",
		"prefix_cache_queries_total", "preemptions_total", "prompt_tokens_total", "generation_tokens_total", "ttft_seconds",
		"itl_seconds", "tpot_seconds", "queue_time_seconds", "prefill_time_seconds", "decode_time_seconds",
		"e2e_latency_seconds", "resident_memory_bytes"} {
		if _, ok := kinds[name]; !ok {
			t.Errorf("vocabulary lacks %s", name)
		}
	}
}

func TestScale(t *testing.T) {
	// A server reporting milliseconds and percent: the row's Scale converts.
	table := []Row{
		{Name: "kv_cache_usage_ratio", Kind: Gauge, Server: LlamaCPP, Metrics: []string{"llamacpp:kv_pct"}, Scale: 0.01, Version: "t"},
		{Name: "ttft_seconds", Kind: Histogram, Server: LlamaCPP, Metrics: []string{"llamacpp:ttft_ms"}, Scale: 0.001, Version: "t"},
	}
	fams, err := Parse([]byte("llamacpp:kv_pct 40\n# TYPE llamacpp:ttft_ms histogram\nllamacpp:ttft_ms_bucket{le=\"100\"} 1\nllamacpp:ttft_ms_bucket{le=\"+Inf\"} 2\nllamacpp:ttft_ms_sum 300\nllamacpp:ttft_ms_count 2\n"), expfmt.FmtText)
	if err != nil {
		t.Fatal(err)
	}
	s := fromFamilies(table, fams, Auto, time.Time{})
	if v := s.Values["kv_cache_usage_ratio"]; math.Abs(v-0.4) > 1e-12 {
		t.Errorf("kv %v, want 0.4", v)
	}
	h := s.Hists["ttft_seconds"]
	if h == nil || math.Abs(h.Sum-0.3) > 1e-12 || h.Classic[0].Upper != 0.1 {
		t.Fatalf("ttft %+v", h)
	}
}
