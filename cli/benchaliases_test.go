package cli

import (
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/probe"
	"github.com/llmprobe/llmprobe/tokenizer"
)

// planned is a bench command line after planning.
type planned struct {
	o  *benchOptions
	lo load.Options
	ep probe.Endpoint
	w  config.Workload
}

// planArgs parses args as `llmprobe bench` through the real command line
// (prepareArgs, kingpin) and plans the run.
func planArgs(t *testing.T, args ...string) (planned, error) {
	t.Helper()
	c := newApp(io.Discard)
	c.app.Terminate(nil)
	if _, err := c.app.Parse(prepareArgs(c.app, append([]string{"bench"}, args...))); err != nil {
		t.Fatalf("%q does not parse: %v", args, err)
	}
	lo, ep, w, err := benchPlan(c.benchOpts)
	return planned{c.benchOpts, lo, ep, w}, err
}

// aliasEnv is a working directory with a dataset of three prompts (10, 50
// and 200 estimated tokens), a folder holding it, and a Hugging Face cache
// with a tokenizer (org/tok) and a dataset file (org/ds's f.json).
func aliasEnv(t *testing.T) (fixture, cachedTok string) {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	writeJSON(t, "data.json", []map[string]any{
		{"conversations": []map[string]string{{"from": "human", "value": strings.Repeat("abcd", 10)}}},
		{"conversations": []map[string]string{{"from": "human", "value": strings.Repeat("word ", 40)}}},
		{"conversations": []map[string]string{{"from": "human", "value": strings.Repeat("long ", 160)}}},
	})
	writeFile(t, filepath.Join("dsdir", "data.json"), mustRead(t, "data.json"))
	for _, k := range []string{"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME"} {
		t.Setenv(k, "")
	}
	home := filepath.Join(dir, "hf")
	t.Setenv("HF_HOME", home)
	fixture = filepath.Join(repoDir, "tokenizer", "testdata", "bpe-tokenizer.json")
	cachedTok = filepath.Join(home, "hub", "models--org--tok", "snapshots", "r1", "tokenizer.json")
	writeFile(t, cachedTok, mustRead(t, fixture))
	writeFile(t, filepath.Join(home, "hub", "datasets--org--ds", "snapshots", "r1", "f.json"), mustRead(t, "data.json"))
	return fixture, cachedTok
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Every other tool's spelling ends up in the load options, endpoint or
// workload with that tool's meaning, and its defaults apply only with its
// flags.
func TestBenchAliasesHonoured(t *testing.T) {
	fixture, cachedTok := aliasEnv(t)
	vllm := []string{"--base-url", "http://h:8000", "--model", "m"}
	ib := []string{"--url", "http://h", "--model-name", "m", "--dataset-file", "data.json"}
	with := func(base []string, more ...string) []string { return append(slices.Clone(base), more...) }
	for _, tc := range []struct {
		name  string
		args  []string
		check func(t *testing.T, p planned)
	}{
		{"vLLM defaults: /v1/completions, 1000 prompts at once, random 1024/128 with ignore_eos", vllm, func(t *testing.T, p planned) {
			if p.ep.URL != "http://h:8000" || p.ep.Kind != config.KindCompletions || p.lo.Mode != load.ModeThroughput || p.lo.NumRequests != 1000 ||
				p.lo.VUs != 1000 || p.lo.Duration != 0 || p.w.InputTokens != 1024 || p.w.OutputTokens.NumTokens != 128 || !p.ep.SupportsMinTokens {
				t.Errorf("%+v %+v %+v", p.lo, p.ep, p.w)
			}
		}},
		{"vLLM --endpoint chat, --num-prompts, --max-concurrency: closed-loop users", with(vllm, "--endpoint", "/v1/chat/completions", "--num-prompts", "50", "--max-concurrency", "8"), func(t *testing.T, p planned) {
			if p.ep.Kind != config.KindChat || p.lo.VUs != 8 || p.lo.NumRequests != 50 || p.lo.Duration != 0 {
				t.Errorf("%+v %+v", p.lo, p.ep)
			}
		}},
		{"vLLM --endpoint with a proxy prefix", []string{"--base-url", "http://h", "--model", "m", "--endpoint", "/proxy/v1/completions", "--num-prompts", "5"}, func(t *testing.T, p planned) {
			if p.ep.URL != "http://h/proxy" || p.ep.Kind != config.KindCompletions {
				t.Errorf("%+v", p.ep)
			}
		}},
		{"vLLM --endpoint rerank", with(vllm, "--endpoint", "/v2/rerank", "--num-prompts", "5"), func(t *testing.T, p planned) {
			if p.ep.Kind != config.KindRerank || p.ep.RerankPath != "/v2/rerank" || p.ep.SupportsMinTokens {
				t.Errorf("%+v", p.ep)
			}
		}},
		{"vLLM --endpoint embeddings", with(vllm, "--endpoint", "/v1/embeddings", "--num-prompts", "5"), func(t *testing.T, p planned) {
			if p.ep.Kind != config.KindEmbeddings || p.ep.SupportsMinTokens {
				t.Errorf("%+v", p.ep)
			}
		}},
		{"vLLM --backend openai-chat", with(vllm, "--backend", "openai-chat", "--num-prompts", "5"), func(t *testing.T, p planned) {
			if p.ep.Kind != config.KindChat {
				t.Errorf("%+v", p.ep)
			}
		}},
		{"vLLM --request-rate: Poisson arrivals for --num-prompts", with(vllm, "--request-rate", "4", "--num-prompts", "20"), func(t *testing.T, p planned) {
			if p.lo.Mode != load.ModeRate || !slices.Equal(p.lo.Rates, []float64{4}) || p.lo.Arrival != load.ArrivalPoisson || p.lo.NumRequests != 20 || p.lo.Duration != 0 {
				t.Errorf("%+v", p.lo)
			}
		}},
		{"vLLM --burstiness inf: constant spacing", with(vllm, "--request-rate", "4", "--burstiness", "inf", "--num-prompts", "20"), func(t *testing.T, p planned) {
			if p.lo.Arrival != load.ArrivalConstant {
				t.Errorf("%+v", p.lo)
			}
		}},
		{"vLLM --burstiness 1: Poisson", with(vllm, "--request-rate", "4", "--burstiness", "1", "--num-prompts", "20"), func(t *testing.T, p planned) {
			if p.lo.Arrival != load.ArrivalPoisson {
				t.Errorf("%+v", p.lo)
			}
		}},
		{"vLLM random dataset lengths", with(vllm, "--dataset-name", "random", "--random-input-len", "256", "--random-output-len", "32", "--num-prompts", "5"), func(t *testing.T, p planned) {
			if p.w.InputTokens != 256 || p.w.OutputTokens.NumTokens != 32 || !p.ep.SupportsMinTokens {
				t.Errorf("%+v %+v", p.w, p.ep)
			}
		}},
		{"vLLM sharegpt dataset", with(vllm, "--dataset-name", "sharegpt", "--dataset-path", "data.json", "--num-prompts", "5", "--decode-options", "num_tokens=50"), func(t *testing.T, p planned) {
			if p.w.Dataset != "data.json" || p.w.InputTokens != 0 || p.ep.SupportsMinTokens || p.w.OutputTokens.NumTokens != 50 {
				t.Errorf("%+v %+v", p.w, p.ep)
			}
		}},
		{"vLLM --tokenizer as a Hub name", with(vllm, "--tokenizer", "org/tok", "--num-prompts", "5"), func(t *testing.T, p planned) {
			if p.w.Tokenizer != cachedTok || p.w.InputTokens != 1024 {
				t.Errorf("%+v", p.w)
			}
		}},
		{"vLLM --goodput, space-separated", []string{"--url", "http://h", "--model", "m", "--num-requests", "3", "--goodput", "ttft:500", "tpot:50"}, func(t *testing.T, p planned) {
			if p.lo.SLO != (probe.SLO{TTFT: 500 * time.Millisecond, TPOT: 50 * time.Millisecond}) {
				t.Errorf("%+v", p.lo.SLO)
			}
		}},
		{"vLLM --save-result names the file as vLLM", []string{"--base-url", "http://h", "--model", "org/m", "--request-rate", "2.5", "--num-prompts", "5", "--save-result", "--result-dir", "out"}, func(t *testing.T, p planned) {
			if !regexp.MustCompile(`^out/openai-2\.5qps-m-\d{8}-\d{6}\.json$`).MatchString(p.o.resultFile) || p.o.extras.resultDir != "out" {
				t.Errorf("result file %q", p.o.resultFile)
			}
		}},
		{"vLLM --save-result with --max-concurrency and --result-filename", with(vllm, "--num-prompts", "10", "--max-concurrency", "4", "--save-result", "--result-filename", "r.json"), func(t *testing.T, p planned) {
			if p.o.resultFile != "r.json" {
				t.Errorf("result file %q", p.o.resultFile)
			}
		}},
		{"vLLM --save-result default name at inf", with(vllm, "--num-prompts", "10", "--max-concurrency", "4", "--save-result"), func(t *testing.T, p planned) {
			if !regexp.MustCompile(`^openai-infqps-concurrency4-m-\d{8}-\d{6}\.json$`).MatchString(p.o.resultFile) {
				t.Errorf("result file %q", p.o.resultFile)
			}
		}},
		{"GPUStack defaults: 100 requests at 10, 300 s timeout, --embeddings", []string{"--server-url", "http://h:8080", "--model", "m", "--embeddings"}, func(t *testing.T, p planned) {
			if p.ep.URL != "http://h:8080" || p.ep.Kind != config.KindEmbeddings || p.lo.Mode != load.ModeThroughput || p.lo.NumRequests != 100 ||
				p.lo.VUs != 10 || p.ep.Timeout != 300*time.Second || p.w.Prompt != config.DefaultPrompt {
				t.Errorf("%+v %+v %+v", p.lo, p.ep, p.w)
			}
		}},
		{"GPUStack --request-timeout seconds, --max-completion-tokens", []string{"--server-url", "http://h", "--model", "m", "--request-timeout", "30", "--max-completion-tokens", "256", "--concurrency", "4", "--num-requests", "8"}, func(t *testing.T, p planned) {
			if p.ep.Timeout != 30*time.Second || p.w.OutputTokens.NumTokens != 256 || p.lo.VUs != 4 || p.lo.NumRequests != 8 || p.ep.Kind != config.KindChat || p.ep.SupportsMinTokens {
				t.Errorf("%+v %+v %+v", p.lo, p.ep, p.w)
			}
		}},
		{"GPUStack --ignore-eos", []string{"--server-url", "http://h", "--model", "m", "--ignore-eos"}, func(t *testing.T, p planned) {
			if !p.ep.SupportsMinTokens || p.w.OutputTokens.NumTokens != 1024 {
				t.Errorf("%+v %+v", p.ep, p.w)
			}
		}},
		{"inference-benchmarker throughput: --max-vus users, 120 s after 30 s", with(ib, "--tokenizer-name", fixture, "--benchmark-kind", "throughput", "--max-vus", "8"), func(t *testing.T, p planned) {
			if p.lo.Mode != load.ModeThroughput || p.lo.VUs != 8 || p.lo.Duration != 120*time.Second || p.lo.Warmup != 30*time.Second ||
				p.ep.Model != "m" || len(p.o.extras.prompts) != 3 {
				t.Errorf("%+v %+v prompts %d", p.lo, p.ep, len(p.o.extras.prompts))
			}
		}},
		{"inference-benchmarker rate: --max-vus caps in flight", with(ib, "--benchmark-kind", "rate", "--rates", "1,2", "--max-vus", "16"), func(t *testing.T, p planned) {
			if p.lo.Mode != load.ModeRate || p.lo.MaxInFlight != 16 || !slices.Equal(p.lo.Rates, []float64{1, 2}) || p.lo.Arrival != load.ArrivalConstant {
				t.Errorf("%+v", p.lo)
			}
		}},
		{"inference-benchmarker rate: its default cap of 128", with(ib, "--benchmark-kind", "RATE", "--rates", "1"), func(t *testing.T, p planned) {
			if p.lo.MaxInFlight != 128 {
				t.Errorf("%+v", p.lo)
			}
		}},
		{"inference-benchmarker sweep: its default kind", with(ib, "--max-vus", "32", "--num-rates", "5"), func(t *testing.T, p planned) {
			if p.lo.Mode != load.ModeSweep || p.lo.MaxVUs != 32 || p.lo.NumRates != 5 || p.lo.MaxInFlight != 32 {
				t.Errorf("%+v", p.lo)
			}
		}},
		{"inference-benchmarker sweep: 128 users by default", ib, func(t *testing.T, p planned) {
			if p.lo.Mode != load.ModeSweep || p.lo.MaxVUs != 128 {
				t.Errorf("%+v", p.lo)
			}
		}},
		{"inference-benchmarker: model named after the tokenizer; --prompt-options make synthetic prompts", []string{"--url", "http://h", "--tokenizer-name", "org/tok", "--prompt-options", "num_tokens=100,variance=10,min_tokens=90,max_tokens=110", "--benchmark-kind", "throughput"}, func(t *testing.T, p planned) {
			if p.ep.Model != "org/tok" || p.w.InputTokens != 100 || p.w.InputTokensStddev != 10 || p.w.InputTokensMin != 90 || p.w.InputTokensMax != 110 || p.w.Tokenizer != cachedTok {
				t.Errorf("%+v %+v", p.ep, p.w)
			}
		}},
		{"inference-benchmarker --prompt-options num_tokens cuts dataset prompts, drops shorter ones", with(ib, "--benchmark-kind", "throughput", "--prompt-options", "num_tokens=20"), func(t *testing.T, p planned) {
			ps := p.o.extras.prompts
			if len(ps) != 2 {
				t.Fatalf("%d prompts kept, want 2 (the 10-token one dropped)", len(ps))
			}
			for _, e := range ps {
				if n := (tokenizer.Estimate{}).Count(e.Prompt); n < 19 || n > 20 {
					t.Errorf("prompt of %d tokens, want 20: %q", n, e.Prompt)
				}
			}
		}},
		{"inference-benchmarker --prompt-options min/max filter", with(ib, "--benchmark-kind", "throughput", "--prompt-options", "min_tokens=20,max_tokens=100"), func(t *testing.T, p planned) {
			if ps := p.o.extras.prompts; len(ps) != 1 || (tokenizer.Estimate{}).Count(ps[0].Prompt) != 50 {
				t.Errorf("prompts %+v", ps)
			}
		}},
		{"inference-benchmarker --no-console", with(ib, "--no-console"), func(t *testing.T, p planned) {
			if p.o.progress != "never" {
				t.Errorf("progress %q", p.o.progress)
			}
		}},
		{"inference-benchmarker --dataset is a Hub dataset with --dataset-file", []string{"--url", "http://h", "--model", "m", "--dataset", "org/ds", "--dataset-file", "f.json"}, func(t *testing.T, p planned) {
			if !strings.HasSuffix(p.w.Dataset, filepath.Join("datasets--org--ds", "snapshots", "r1", "f.json")) {
				t.Errorf("dataset %q", p.w.Dataset)
			}
		}},
		{"--dataset folder with --dataset-file", []string{"--url", "http://h", "--model", "m", "--dataset", "dsdir", "--dataset-file", "data.json"}, func(t *testing.T, p planned) {
			if p.w.Dataset != filepath.Join("dsdir", "data.json") {
				t.Errorf("dataset %q", p.w.Dataset)
			}
		}},
		{"llmprobe --mode throughput --max-vus: the users", []string{"--url", "http://h", "--model", "m", "--mode", "throughput", "--max-vus", "8"}, func(t *testing.T, p planned) {
			if p.lo.VUs != 8 || p.lo.Duration != time.Minute || p.lo.Warmup != 0 {
				t.Errorf("%+v", p.lo)
			}
		}},
		{"llmprobe sweep: rate steps are not capped at the users", []string{"--url", "http://h", "--model", "m", "--mode", "sweep", "--max-vus", "8"}, func(t *testing.T, p planned) {
			if p.lo.MaxVUs != 8 || p.lo.MaxInFlight != load.DefaultMaxInFlight || p.lo.Duration != time.Minute {
				t.Errorf("%+v", p.lo)
			}
		}},
		{"llmprobe --vus", []string{"--url", "http://h", "--model", "m", "--mode", "throughput", "--vus", "3"}, func(t *testing.T, p planned) {
			if p.lo.VUs != 3 {
				t.Errorf("%+v", p.lo)
			}
		}},
		{"llmprobe rate --concurrency: the in-flight cap, constant arrivals", []string{"--url", "http://h", "--model", "m", "--rates", "3", "--concurrency", "5"}, func(t *testing.T, p planned) {
			if p.lo.Mode != load.ModeRate || p.lo.MaxInFlight != 5 || p.lo.Arrival != load.ArrivalConstant {
				t.Errorf("%+v", p.lo)
			}
		}},
		{"llmprobe --timeout, --tokenizer file", []string{"--url", "http://h", "--model", "m", "--timeout", "5s", "--tokenizer", fixture, "--input-tokens", "50"}, func(t *testing.T, p planned) {
			if p.ep.Timeout != 5*time.Second || p.w.Tokenizer != fixture {
				t.Errorf("%+v %+v", p.ep, p.w)
			}
		}},
		{"the same value by two spellings is fine", []string{"--url", "http://h:8000/v1", "--base-url", "http://h:8000", "--model", "m", "--num-requests", "2", "--num-prompts", "2"}, func(t *testing.T, p planned) {
			if p.ep.URL != "http://h:8000" || p.ep.Model != "m" {
				t.Errorf("%+v", p.ep)
			}
		}},
		{"--result-format collects samples", []string{"--url", "http://h", "--model", "m", "--num-requests", "2", "--result-file", "r.json", "--result-format", "vllm,gpustack", "--result-format", "llmprobe"}, func(t *testing.T, p planned) {
			if x := p.o.extras; !slices.Equal(x.formats, []string{"vllm", "gpustack"}) || x.samples == nil {
				t.Errorf("formats %v", x.formats)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := planArgs(t, tc.args...)
			if err != nil {
				t.Fatalf("%q: %v", tc.args, err)
			}
			tc.check(t, p)
		})
	}
}

// Two spellings of one setting with different values, and combinations
// that cannot be honoured, are errors that say why.
func TestBenchAliasConflictsAndImpossibleCombinations(t *testing.T) {
	fixture, _ := aliasEnv(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--url", "http://a", "--base-url", "http://b", "--model", "m"}, "--url http://a and --base-url http://b both set the server URL: give one of them"},
		{[]string{"--url", "http://h", "--model", "a", "--model-name", "b"}, "--model a and --model-name b both set the model"},
		{[]string{"--url", "http://h", "--model", "m", "--kind", "chat", "--embeddings"}, "--kind chat and --embeddings both set the kind"},
		{[]string{"--url", "http://h", "--model", "m", "--endpoint", "/v1/embeddings", "--kind", "completions"}, "--kind completions and --endpoint /v1/embeddings both set the kind"},
		{[]string{"--url", "http://h", "--model", "m", "--concurrency", "4", "--max-concurrency", "8"}, "--concurrency 4 and --max-concurrency 8 both set the number of users"},
		{[]string{"--url", "http://h", "--model", "m", "--mode", "throughput", "--concurrency", "4", "--max-vus", "8"}, "--concurrency 4 and --max-vus 8 both set the number of users"},
		{[]string{"--url", "http://h", "--model", "m", "--num-requests", "10", "--num-prompts", "20"}, "--num-requests 10 and --num-prompts 20 both set the number of requests"},
		{[]string{"--url", "http://h", "--model", "m", "--timeout", "10s", "--request-timeout", "20"}, "--timeout 10s and --request-timeout 20 both set the request timeout"},
		{[]string{"--url", "http://h", "--model", "m", "--decode-options", "num_tokens=80", "--max-completion-tokens", "100"}, "--decode-options num_tokens=80 and --max-completion-tokens 100 both set the output lengths"},
		{[]string{"--url", "http://h", "--model", "m", "--tokenizer", fixture, "--tokenizer-name", "org/tok", "--input-tokens", "5"}, "both set the tokenizer"},
		{[]string{"--url", "http://h", "--model", "m", "--rates", "1", "--request-rate", "2"}, "give one of --rates and --request-rate"},
		{[]string{"--url", "http://h", "--model-name", "m", "--profile", "chat", "--benchmark-kind", "sweep"}, "--benchmark-kind cannot be used with --profile"},
		{[]string{"--url", "http://h", "--model-name", "m", "--profile", "chat", "--mode", "sweep"}, "--mode cannot be used with --profile"},
		{[]string{"--url", "http://h", "--model-name", "m", "--profile", "chat", "--rates", "1"}, "--rates cannot be used with --profile"},
		{[]string{"--url", "http://h", "--model-name", "m", "--profile", "nope"}, `--profile: unknown profile "nope" (inference-benchmarker's are chat, code-generation, classification, fixed-length)`},
		{[]string{"--url", "http://h", "--model-name", "m", "--profile", "chat"}, "--profile chat prompts from hlarcher/inference-benchmarker: --dataset-file share_gpt_turns.json: dataset hlarcher/inference-benchmarker's share_gpt_turns.json is not in the local Hugging Face cache"},
		{[]string{"--base-url", "http://h", "--model", "m", "--request-rate", "2", "--arrival", "gamma"}, "--arrival gamma needs --burstiness"},
		{[]string{"--base-url", "http://h", "--model", "m", "--request-rate", "5", "--max-concurrency", "4"}, "which delays them; llmprobe's open loop never delays an arrival"},
		{[]string{"--url", "http://h", "--model-name", "m", "--benchmark-kind", "optimum"}, `--benchmark-kind: "optimum" is not rate, throughput or sweep`},
		{[]string{"--url", "http://h", "--model", "m", "--mode", "sweep", "--concurrency", "4"}, "--concurrency is not used in a sweep"},
		{[]string{"--base-url", "http://h", "--model", "m", "--endpoint", "/generate"}, "--endpoint /generate: llmprobe sends /v1/completions, /v1/chat/completions, /v1/embeddings or a rerank path"},
		{[]string{"--base-url", "http://h", "--model", "m", "--backend", "tgi"}, "--backend tgi: llmprobe speaks"},
		{[]string{"--server-url", "http://h", "--model", "m", "--benchmark-kind", "rate", "--rates", "1"}, "--benchmark-kind (inference-benchmarker) and --server-url (GPUStack benchmark_serving.py) come from different tools"},
		{[]string{"--url", "http://h", "--model", "m", "--result-format", "vllm"}, "--result-format vllm is written next to the result file: give --result-file (or --save-result)"},
		{[]string{"--url", "http://h", "--model", "m", "--rates", "1", "--result-file", "r.json", "--result-format", "gpustack"}, "--result-format gpustack: benchmark_serving.py runs a number of requests at a fixed concurrency (throughput mode); this is a rate run"},
		{[]string{"--url", "http://h", "--model", "m", "--result-file", "r.json", "--result-format", "guidellm"}, `unknown result format "guidellm"`},
		{[]string{"--url", "http://h", "--model", "m", "--metric-percentiles", "25,99"}, "other percentiles are written in vLLM's result only: add --result-format vllm"},
		{[]string{"--url", "http://h", "--model", "m", "--result-file", "r.json", "--result-format", "vllm", "--metric-percentiles", "25"}, "p25 of itl cannot be computed"},
		{[]string{"--url", "http://h", "--model", "m", "--percentile-metrics", "ttft,queue"}, `unknown metric "queue"`},
		{[]string{"--base-url", "http://h", "--model", "m", "--save-result", "--result-file", "x.json"}, "give one of --result-file and --save-result"},
		{[]string{"--base-url", "http://h", "--model", "m", "--result-dir", "d"}, "--result-dir and --result-filename say where --save-result saves: add --save-result"},
		{[]string{"--url", "http://h", "--model", "m", "--tokenizer-name", "Missing/Model", "--input-tokens", "5"}, "models--Missing--Model"},
		{[]string{"--base-url", "http://h", "--model", "m", "--dataset-name", "sonnet"}, "--dataset-name sonnet: llmprobe reads random and sharegpt"},
		{[]string{"--url", "http://h", "--model", "m", "--kind", "rerank", "--rerank-path", "/rerank", "--endpoint", "/v2/rerank"}, "--rerank-path /rerank and --endpoint /v2/rerank both set the rerank path"},
		{[]string{"--url", "http://h", "--model-name", "m", "--prompt-options", "min_tokens=5", "--benchmark-kind", "throughput"}, "--prompt-options without a dataset makes synthetic prompts: give num_tokens"},
		{[]string{"--url", "http://h", "--model-name", "m", "--prompt-options", "num_tokens=5,tokens=3"}, `--prompt-options: unknown option "tokens"`},
		{[]string{"--url", "http://h", "--model", "m", "--mode", "throughput", "--arrival", "poisson"}, "--arrival poisson spaces open-loop arrivals; a throughput run has none"},
		{[]string{"--url", "http://h", "--model", "m", "--rates", "1", "--num-rates", "5"}, "--num-rates is for sweeps, not rate mode"},
		{[]string{"--url", "http://h", "--model-name", "m", "--no-console", "--progress", "always", "--dataset-file", "data.json"}, "--no-console and --progress always disagree"},
		{[]string{"--base-url", "http://h", "--model", "m", "--random-input-len", "5", "--prompt", "hi"}, "--dataset-name random makes synthetic prompts"},
		{[]string{"--base-url", "http://h", "--model", "m", "--dataset-name", "sharegpt", "--dataset-path", "data.json"}, "give --decode-options num_tokens=N"},
		{[]string{"--model", "m"}, "--url is required (or --base-url, --server-url)"},
		{[]string{"--url", "http://h"}, "--model is required (or --model-name)"},
		{[]string{"--url", "http://h", "--model-name", "m", "--benchmark-kind", "throughput"}, "inference-benchmarker's default prompts: --dataset-file share_gpt_filtered_small.json"},
		{[]string{"--url", "http://h", "--model", "m", "--dataset-file", "nope.json"}, "--dataset-file nope.json: no such file here, and dataset hlarcher/inference-benchmarker's nope.json is not in the local Hugging Face cache"},
		{[]string{"--url", "http://h", "--model-name", "m", "--benchmark-kind", "throughput", "--dataset-file", "data.json", "--prompt-options", "num_tokens=100000"}, "no prompt is left after --prompt-options num_tokens=100000 (3 dropped"},
		{[]string{"--url", "http://h", "--model", "m", "--tokenizer", fixture}, "--tokenizer sizes --input-tokens prompts: give --input-tokens too"},
	} {
		_, err := planArgs(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\n got %v\nwant %q", tc.args, err, tc.want)
		}
	}
}

func TestPrepareArgs(t *testing.T) {
	c := newApp(io.Discard)
	for _, tc := range []struct{ in, want []string }{
		{[]string{"--log.level=debug", "run", "--config.file=x"}, []string{"run", "--log.level=debug", "--config.file=x"}},
		{[]string{"--web.listen-address", ":1", "demo"}, []string{"demo", "--web.listen-address", ":1"}},
		{[]string{"--no-collector.gpu", "run"}, []string{"run", "--no-collector.gpu"}},
		{[]string{"--config.file=x"}, []string{"--config.file=x"}},
		{[]string{"bench", "--goodput", "ttft:500", "tpot:50", "--url", "u"}, []string{"bench", "--goodput", "ttft:500", "--goodput", "tpot:50", "--url", "u"}},
		{[]string{"bench", "--goodput=ttft:5", "e2el:9"}, []string{"bench", "--goodput=ttft:5", "--goodput", "e2el:9"}},
		{[]string{"bench", "--goodput", "ttft:5", "--", "tpot:1"}, []string{"bench", "--goodput", "ttft:5", "--", "tpot:1"}},
		{[]string{"stress", "--goodput", "ttft:500", "tpot:50"}, []string{"stress", "--goodput", "ttft:500", "--goodput", "tpot:50"}},
		{[]string{"sim", "--goodput", "ttft:500", "tpot:50"}, []string{"sim", "--goodput", "ttft:500", "tpot:50"}},
	} {
		if got := prepareArgs(c.app, tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("prepareArgs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// The README's "Coming from …" examples plan as they are written.
func TestReadmeComingFromExamplesPlan(t *testing.T) {
	readme := string(mustRead(t, filepath.Join(repoDir, "README.md")))
	_, cachedTok := aliasEnv(t)
	writeFile(t, filepath.Join(os.Getenv("HF_HOME"), "hub", "models--Qwen--Qwen3-8B", "snapshots", "r1", "tokenizer.json"), mustRead(t, cachedTok))
	start := strings.Index(readme, "### Coming from inference-benchmarker, GPUStack or vLLM")
	if start < 0 {
		t.Fatal("no Coming from section")
	}
	section := readme[start:]
	section = section[:strings.Index(section[4:], "\n### ")+4]
	examples := regexp.MustCompile("`(llmprobe bench [^`]+)`").FindAllStringSubmatch(section, -1)
	if len(examples) != 3 {
		t.Fatalf("%d examples, want one per tool", len(examples))
	}
	for _, m := range examples {
		words := shellWords(strings.ReplaceAll(m[1], `"$KEY"`, "k"))
		if _, err := planArgs(t, words[2:]...); err != nil {
			t.Errorf("%s:\n%v", m[1], err)
		}
	}
}
