package compat

import (
	"encoding/json"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/load"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// entry is a successful measured request: TTFT and E2E in ms.
func entry(step int, ttft, e2e float64, out int) *load.Entry {
	d := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	return &load.Entry{Step: step, Phase: "bench", Start: t0, FirstToken: t0.Add(d(ttft)), End: t0.Add(d(e2e)),
		InputTokens: 10, OutputTokens: out, Result: "success"}
}

// run is a two-step rate run whose step 1 has 10 requests with TTFT 10,
// 20, ... 100 ms, E2E TTFT+90 ms and 10 output tokens (TPOT 10 ms), and
// whose step 2 has one; warmup, failed and interrupted entries must not
// count.
func run(t *testing.T) (*load.Result, *Samples) {
	t.Helper()
	s := NewSamples()
	var ttfts []float64
	for i := 1; i <= 10; i++ {
		ttft := float64(10 * i)
		ttfts = append(ttfts, ttft)
		if err := s.WriteEntry(entry(1, ttft, ttft+90, 10)); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.WriteEntry(entry(2, 5, 50, 10))
	w := entry(1, 1000, 2000, 10)
	w.Phase = load.PhaseWarmup
	_ = s.WriteEntry(w)
	f := entry(1, 1000, 2000, 10)
	f.Result = "http_5xx"
	_ = s.WriteEntry(f)
	in := entry(1, 1000, 2000, 10)
	in.Interrupted = true
	_ = s.WriteEntry(in)

	dist := func(v []float64) load.Dist {
		c := slices.Clone(v)
		var sum float64
		for _, x := range c {
			sum += x
		}
		return load.Dist{Count: int64(len(c)), Mean: sum / float64(len(c)), Min: c[0], Max: c[len(c)-1],
			P50: Percentile(c, 50), P90: Percentile(c, 90), P95: Percentile(c, 95), P99: Percentile(c, 99)}
	}
	e2es := make([]float64, len(ttfts))
	for i, v := range ttfts {
		e2es[i] = v + 90
	}
	step1 := load.Summary{Requests: 11, Successful: 10, Failed: 2, Dropped: 1, DurationSeconds: 2, InputTokens: 100, OutputTokens: 100,
		RequestThroughput: 5, OutputThroughput: 50, TotalTokenThroughput: 100, PeakOutputThroughput: 70, PeakConcurrent: 4,
		TTFT: dist(ttfts), TPOT: dist([]float64{10, 10, 10, 10, 10, 10, 10, 10, 10, 10}), ITL: load.Dist{Count: 90, Mean: 10, P50: 10, P90: 11, P95: 12, P99: 13},
		E2E: dist(e2es)}
	step2 := load.Summary{Requests: 1, Successful: 1, DurationSeconds: 1, InputTokens: 10, OutputTokens: 10, RequestThroughput: 1,
		TTFT: dist([]float64{5}), TPOT: dist([]float64{5}), ITL: dist([]float64{5}), E2E: dist([]float64{50})}
	res := &load.Result{Target: "h:8000", Model: "m", Kind: "chat", Mode: load.ModeRate, Status: load.StatusCompleted,
		Started: t0, Ended: t0.Add(3 * time.Second),
		Context: load.Context{Mode: load.ModeRate, Rates: []float64{5, 10.5}, DurationS: 120, WarmupS: 30.9, MaxInFlight: 64},
		Summary: step1,
		Steps: []load.Step{
			{Index: 1, Kind: load.StepRate, OfferedRate: 5, WindowS: 2, Summary: step1},
			{Index: 2, Kind: load.StepRate, OfferedRate: 10.5, WindowS: 1, Summary: step2},
		}}
	return res, s
}

// keys returns the sorted keys of a JSON object.
func keys(t *testing.T, v any) []string {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%T is not an object", v)
	}
	var k []string
	for key := range m {
		k = append(k, key)
	}
	sort.Strings(k)
	return k
}

func decode(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	return v
}

func sorted(s ...string) []string { sort.Strings(s); return s }

func TestPercentileIsNumpyLinear(t *testing.T) {
	// numpy.percentile([1, 2, 3, 4], q)
	for _, tc := range []struct{ p, want float64 }{{0, 1}, {50, 2.5}, {60, 2.8}, {99, 3.97}, {100, 4}} {
		if got := Percentile([]float64{4, 2, 1, 3}, tc.p); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	if Percentile(nil, 50) != 0 || Percentile([]float64{7}, 10) != 7 {
		t.Error("empty or single-value percentiles")
	}
}

// Field names from inference-benchmarker's src/writers.rs
// (BenchmarkReportWriter, BenchmarkResultsWriter, PercentilesWriter),
// src/benchmark.rs (BenchmarkConfig) and src/executors.rs
// (ExecutorConfig).
func TestInferenceBenchmarkerShape(t *testing.T) {
	res, s := run(t)
	n := uint64(80)
	c := &Config{InferenceBenchmarker: IBConfig{Tokenizer: "Qwen/Qwen3-8B", ModelName: "qwen3", RunID: "abc1234",
		DecodeOptions: &TokenizeOptions{NumTokens: &n, MinTokens: 60, MaxTokens: 100, Variance: 10}}}
	b, err := Marshal(InferenceBenchmarker, res, s, c)
	if err != nil {
		t.Fatal(err)
	}
	v := decode(t, b).(map[string]any)
	if got, want := keys(t, v), sorted("config", "results", "start_time", "end_time"); !slices.Equal(got, want) {
		t.Errorf("report keys %v, want %v", got, want)
	}
	cfg := v["config"].(map[string]any)
	if got, want := keys(t, cfg), sorted("max_vus", "duration_secs", "benchmark_kind", "warmup_duration_secs", "rates", "num_rates",
		"prompt_options", "decode_options", "tokenizer", "model_name", "profile", "meta", "run_id"); !slices.Equal(got, want) {
		t.Errorf("config keys %v, want %v", got, want)
	}
	for k, want := range map[string]any{"max_vus": 64.0, "duration_secs": 120.0, "warmup_duration_secs": 30.0, "benchmark_kind": "Rate",
		"num_rates": 10.0, "tokenizer": "Qwen/Qwen3-8B", "model_name": "qwen3", "profile": nil, "meta": nil, "prompt_options": nil, "run_id": "abc1234"} {
		if cfg[k] != want {
			t.Errorf("config.%s = %v, want %v", k, cfg[k], want)
		}
	}
	if d := cfg["decode_options"].(map[string]any); d["num_tokens"] != 80.0 || d["min_tokens"] != 60.0 || d["max_tokens"] != 100.0 || d["variance"] != 10.0 {
		t.Errorf("decode_options %v", d)
	}
	results := v["results"].([]any)
	if len(results) != 2 {
		t.Fatalf("%d results", len(results))
	}
	r := results[0].(map[string]any)
	if got, want := keys(t, r), sorted("id", "executor_type", "config", "total_requests", "total_tokens", "token_throughput_secs", "duration_ms",
		"time_to_first_token_ms", "inter_token_latency_ms", "failed_requests", "successful_requests", "request_rate", "total_tokens_sent",
		"e2e_latency_ms"); !slices.Equal(got, want) {
		t.Errorf("result keys %v, want %v", got, want)
	}
	for k, want := range map[string]any{"id": "constant@5.00req/s", "executor_type": "ConstantArrivalRate", "total_requests": 11.0,
		"successful_requests": 10.0, "failed_requests": 1.0, "total_tokens": 100.0, "total_tokens_sent": 100.0, "duration_ms": 2000.0,
		"request_rate": 5.0, "token_throughput_secs": 50.0} {
		if r[k] != want {
			t.Errorf("results[0].%s = %v, want %v", k, r[k], want)
		}
	}
	if ec := r["config"].(map[string]any); ec["rate"] != 5.0 || ec["max_vus"] != 64.0 || ec["duration_secs"] != 120.0 {
		t.Errorf("executor config %v", ec)
	}
	if id := results[1].(map[string]any)["id"]; id != "constant@10.50req/s" {
		t.Errorf("second id %v", id)
	}
	ttft := r["time_to_first_token_ms"].(map[string]any)
	if got, want := keys(t, ttft), sorted("p50", "p60", "p70", "p80", "p90", "p95", "p99", "avg"); !slices.Equal(got, want) {
		t.Errorf("percentile keys %v", got)
	}
	// TTFT 10..100 ms: numpy's p60 is 64, p80 82, the mean 55; warmup,
	// failed and interrupted requests (1000 ms) are not in them.
	for k, want := range map[string]float64{"p50": 55, "p60": 64, "p70": 73, "p80": 82, "p99": 99.1, "avg": 55} {
		if got := ttft[k].(float64); math.Abs(got-want) > 1e-6 {
			t.Errorf("ttft %s = %v, want %v", k, got, want)
		}
	}
	if itl := r["inter_token_latency_ms"].(map[string]any); math.Abs(itl["p70"].(float64)-10) > 1e-6 || itl["avg"] != 10.0 {
		t.Errorf("inter_token_latency_ms (per-request TPOT) %v", itl)
	}
	if e2e := r["e2e_latency_ms"].(map[string]any); math.Abs(e2e["p60"].(float64)-154) > 1e-6 {
		t.Errorf("e2e p60 %v", e2e["p60"])
	}
	if v["start_time"] != "2025-06-01T12:00:00Z" || v["end_time"] != "2025-06-01T12:00:03Z" {
		t.Errorf("times %v %v", v["start_time"], v["end_time"])
	}

	// A sweep: step 0 is the throughput phase; rates are null.
	res.Mode, res.Context.Mode, res.Context.MaxVUs, res.Context.NumRates = load.ModeSweep, load.ModeSweep, 32, 4
	res.Steps[0].Kind, res.Steps[0].VUs, res.Steps[0].Index = load.StepThroughput, 32, 0
	s.steps[0] = s.steps[1]
	rep, err := ToInferenceBenchmarker(res, s, IBConfig{Profile: "chat"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Config.BenchmarkKind != "Sweep" || rep.Config.Rates != nil || rep.Config.MaxVUs != 32 || rep.Config.NumRates != 4 ||
		*rep.Config.Profile != "chat" || rep.Config.ModelName != "m" || rep.Config.Tokenizer != "m" {
		t.Errorf("sweep config %+v", rep.Config)
	}
	if r := rep.Results[0]; r.ID != "throughput" || r.ExecutorType != "ConstantVUs" || r.Config.MaxVUs != 32 || r.Config.Rate != nil {
		t.Errorf("throughput step %+v", r)
	}

	// Without samples, percentiles the summaries do not keep are an error,
	// never a made-up value.
	if _, err := ToInferenceBenchmarker(res, NewSamples(), IBConfig{}); err == nil || !strings.Contains(err.Error(), "p60") {
		t.Errorf("no samples: %v", err)
	}
}

// Field names from GPUStack's benchmarks/benchmark_serving.py
// (BenchmarkResults, PercentileResults).
func TestGPUStackShape(t *testing.T) {
	res, s := run(t)
	res.Mode = load.ModeThroughput
	res.Steps = res.Steps[:1]
	res.Steps[0].Kind, res.Steps[0].VUs = load.StepThroughput, 4
	res.Context.VUs = 4
	b, err := Marshal(GPUStack, res, s, &Config{GPUStack: GPUStackConfig{NumRequests: 12, RequestTimeout: 300, MaxCompletionTokens: 1024}})
	if err != nil {
		t.Fatal(err)
	}
	v := decode(t, b).(map[string]any)
	if got, want := keys(t, v), sorted("model", "total_requests", "successful_requests", "success_rate", "concurrency", "request_timeout",
		"max_completion_tokens", "total_time", "requests_per_second", "total_tokens", "total_prompt_tokens", "total_completion_tokens",
		"total_tokens_per_second", "total_prompt_tokens_per_second", "total_completion_tokens_per_second", "latency",
		"completion_tokens_per_second", "time_to_first_token"); !slices.Equal(got, want) {
		t.Errorf("keys %v, want %v", got, want)
	}
	for k, want := range map[string]any{"model": "m", "total_requests": 12.0, "successful_requests": 10.0, "success_rate": 0.83,
		"concurrency": 4.0, "request_timeout": 300.0, "max_completion_tokens": 1024.0, "total_time": 2.0, "requests_per_second": 5.0,
		"total_tokens": 200.0, "total_prompt_tokens": 100.0, "total_completion_tokens": 100.0, "total_tokens_per_second": 100.0,
		"total_prompt_tokens_per_second": 50.0, "total_completion_tokens_per_second": 50.0} {
		if v[k] != want {
			t.Errorf("%s = %v, want %v", k, v[k], want)
		}
	}
	// Latency in seconds, TTFT in ms, rounded to 2 decimals.
	lat := v["latency"].(map[string]any)
	if got, want := keys(t, lat), sorted("average", "p50", "p95", "p99"); !slices.Equal(got, want) {
		t.Errorf("latency keys %v", got)
	}
	if lat["average"] != 0.14 || lat["p50"] != 0.14 || lat["p99"] != 0.19 { // 0.145 rounds down, as in Python
		t.Errorf("latency %v", lat)
	}
	if ttft := v["time_to_first_token"].(map[string]any); ttft["average"] != 55.0 || ttft["p95"] != 95.5 {
		t.Errorf("ttft %v", ttft)
	}
	// Token rates: 10 tokens in 0.1 .. 0.19 s. Reversed percentiles: p95 is
	// the 5th percentile, the rate 95 % of requests reached.
	tps := v["completion_tokens_per_second"].(map[string]any)
	rates := []float64{}
	for i := 1; i <= 10; i++ {
		rates = append(rates, 10/(float64(10*i+90)/1000))
	}
	if want := round2(Percentile(slices.Clone(rates), 5)); tps["p95"] != want || tps["p95"].(float64) >= tps["p50"].(float64) {
		t.Errorf("completion tps %v, p95 want %v", tps, want)
	}

	// Embeddings: no time to first token (null percentiles, average 0).
	res.Kind = "embeddings"
	res.Summary.TTFT, res.Steps[0].Summary.TTFT = load.Dist{}, load.Dist{}
	g, err := ToGPUStack(res, s, GPUStackConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if g.TimeToFirstToken.P50 != nil || g.TimeToFirstToken.Average != 0 || g.TotalRequests != 12 {
		t.Errorf("embeddings %+v", g)
	}
	res.Mode = load.ModeRate
	if _, err := ToGPUStack(res, s, GPUStackConfig{}); err == nil || !strings.Contains(err.Error(), "throughput mode") {
		t.Errorf("rate run as GPUStack: %v", err)
	}
}

// Field names from vLLM's vllm/benchmarks/serve.py (benchmark() result and
// main_async's result_json).
func TestVLLMShape(t *testing.T) {
	res, s := run(t)
	// vLLM's defaults: ttft, tpot and itl; p99.
	c := &Config{VLLM: VLLMConfig{Burstiness: 1, Date: t0}}
	b, err := Marshal(VLLM, res, s, c)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want one per step:\n%s", len(lines), b)
	}
	common := []string{"date", "endpoint_type", "backend", "label", "model_id", "tokenizer_id", "num_prompts", "request_rate", "burstiness",
		"max_concurrency", "duration", "completed", "failed", "total_input_tokens", "total_output_tokens", "request_throughput",
		"request_goodput", "output_throughput", "total_token_throughput", "max_output_tokens_per_s", "max_concurrent_requests"}
	withMetrics := func(metrics []string, ps ...string) []string {
		w := slices.Clone(common)
		for _, m := range metrics {
			w = append(w, "mean_"+m+"_ms", "median_"+m+"_ms", "std_"+m+"_ms")
			for _, p := range ps {
				w = append(w, "p"+p+"_"+m+"_ms")
			}
		}
		return sorted(w...)
	}
	if got, want := keys(t, decode(t, []byte(lines[0]))), withMetrics([]string{"ttft", "tpot", "itl"}, "99"); !slices.Equal(got, want) {
		t.Errorf("default keys %v\nwant %v", got, want)
	}
	// Chosen metrics and percentiles; p25 comes from the samples.
	c.VLLM.PercentileMetrics = []string{"ttft", "tpot", "e2el"}
	c.VLLM.MetricPercentiles = []float64{25, 50, 99.9}
	if b, err = Marshal(VLLM, res, s, c); err != nil {
		t.Fatal(err)
	}
	v := decode(t, []byte(strings.SplitN(string(b), "\n", 2)[0])).(map[string]any)
	if got, want := keys(t, v), withMetrics([]string{"ttft", "tpot", "e2el"}, "25", "50", "99.9"); !slices.Equal(got, want) {
		t.Errorf("keys %v\nwant %v", got, want)
	}
	for k, w := range map[string]any{"date": "20250601-120000", "backend": "openai-chat", "endpoint_type": "openai-chat", "label": nil,
		"model_id": "m", "tokenizer_id": "m", "num_prompts": 12.0, "request_rate": 5.0, "burstiness": 1.0, "max_concurrency": nil,
		"completed": 10.0, "failed": 2.0, "request_goodput": nil, "max_output_tokens_per_s": 70.0, "max_concurrent_requests": 4.0,
		"duration": 2.0, "median_ttft_ms": 55.0, "p25_ttft_ms": 32.5, "p25_e2el_ms": 122.5} {
		if v[k] != w {
			t.Errorf("%s = %v, want %v", k, v[k], w)
		}
	}

	// itl percentiles llmprobe does not keep are refused.
	c.VLLM.PercentileMetrics = []string{"itl"}
	if _, err := Marshal(VLLM, res, s, c); err == nil || !strings.Contains(err.Error(), "p25 of itl cannot be computed") {
		t.Errorf("itl p25: %v", err)
	}
	if err := CheckVLLMPercentiles([]string{"ttft", "queue"}, nil); err == nil || !strings.Contains(err.Error(), `unknown metric "queue"`) {
		t.Errorf("unknown metric: %v", err)
	}

	// A throughput run is vLLM's --request-rate inf with --max-concurrency
	// users; embeddings have no generation fields and e2el by default.
	res.Mode, res.Kind = load.ModeThroughput, "embeddings"
	res.Steps = res.Steps[:1]
	res.Steps[0].Kind, res.Steps[0].VUs = load.StepThroughput, 8
	objs, err := ToVLLM(res, s, VLLMConfig{NumPrompts: 100, Burstiness: math.Inf(1)})
	if err != nil {
		t.Fatal(err)
	}
	o := objs[0]
	if o["request_rate"] != "inf" || o["max_concurrency"] != 8 || o["backend"] != "openai-embeddings" || o["num_prompts"] != 100 || o["burstiness"] != "inf" {
		t.Errorf("throughput embeddings %v", o)
	}
	for _, k := range []string{"failed", "total_output_tokens", "mean_ttft_ms"} {
		if _, ok := o[k]; ok {
			t.Errorf("embeddings result has %s", k)
		}
	}
	if _, ok := o["p99_e2el_ms"]; !ok {
		t.Errorf("embeddings result lacks p99_e2el_ms: %v", o)
	}
}

func TestPathAndFormats(t *testing.T) {
	for _, tc := range []struct{ primary, format, want string }{
		{"emb.json", GPUStack, "emb.gpustack.json"},
		{"out/sweep.json", InferenceBenchmarker, "out/sweep.inference-benchmarker.json"},
		{"run", VLLM, "run.vllm.json"},
		{"run.json", LLMProbe, "run.json"},
	} {
		if got := Path(tc.primary, tc.format); got != tc.want {
			t.Errorf("Path(%q, %q) = %q, want %q", tc.primary, tc.format, got, tc.want)
		}
	}
	if err := CheckFormats([]string{"vllm", "guidellm"}); err == nil || !strings.Contains(err.Error(), `"guidellm"`) {
		t.Errorf("CheckFormats: %v", err)
	}
	if Backend("completions") != "openai" || Backend("vision") != "openai-chat" || Backend("rerank") != "vllm-rerank" {
		t.Error("backends")
	}
}
