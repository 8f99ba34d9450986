package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/llmprobe/llmprobe/archive"
	"github.com/llmprobe/llmprobe/atomicfile"
	"github.com/llmprobe/llmprobe/compat"
	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/gpu"
	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/probe"
	"github.com/llmprobe/llmprobe/servermetrics"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
)

// exitInterrupted is the conventional exit status after SIGINT.
const exitInterrupted = 130

// benchOptions are `llmprobe bench`'s flags. Besides llmprobe's own, it
// takes the flags of the three tools its users paste command lines from —
// vLLM's `bench serve`, GPUStack's benchmark_serving.py and Hugging Face's
// inference-benchmarker — with those tools' meanings (benchdialects.go).
// Flags whose default depends on the tool whose flags are used have no
// kingpin default: their zero value means "not given".
type benchOptions struct {
	gpuEvery                 time.Duration
	metricsURL, server       string
	metricsEvery             time.Duration
	url, model, apiKey       string
	kind                     probe.Kind
	mode, arrival            string
	rates                    []string
	maxVUs, numRates         int
	numRequests, concurrency int
	duration, warmup, drain  string
	dataset, prompt          string
	inputTokens              int
	decodeOptions            string
	jsonOut                  bool
	resultFile, timelineFile string
	dataDir                  string
	timeout                  string
	maxInFlight              int
	stopErrorRatio           float64
	errorRatio               float64
	goodput                  []string
	ignoreEOS, insecure      bool
	seed                     int64
	lagThreshold             time.Duration
	progress                 string
	// Other kinds (issue 4).
	batchSize, dimensions, documents int
	query, rerankPath, tokenizer     string
	images                           []string

	// vLLM bench serve.
	baseURL, endpoint, backend, requestRate, burstiness string
	numPrompts, maxConcurrency                          int
	datasetName, datasetPath                            string
	randomInputLen, randomOutputLen                     int
	percentileMetrics, metricPercentiles                string
	saveResult                                          bool
	resultDir, resultFilename                           string
	// GPUStack benchmark_serving.py.
	serverURL, requestTimeout string
	embeddings                bool
	maxCompletionTokens       int
	// inference-benchmarker.
	modelName, tokenizerName, benchmarkKind, profile, promptOptions, datasetFile string
	vus                                                                          int
	noConsole                                                                    bool

	resultFormats []string

	// groups maps each flag to its help group, for the usage template.
	groups map[string]string
	// timeScale, when set, multiplies every duration of the run, so that
	// tests run command lines as written (120s steps) in milliseconds. No
	// flag sets it.
	timeScale float64
	// extras is what benchPlan decided beyond load.Options, the endpoint
	// and the workload, for runBench.
	extras *benchExtras
	// applies are the benchExtensions' appliers, run by benchPlan.
	applies []benchApply
}

// benchApply applies a group of flags added from its own file to the plan:
// the load options, the endpoint and the workload benchPlan resolved.
type benchApply func(o *benchOptions, lo *load.Options, ep *probe.Endpoint, w *config.Workload) error

// benchExtension adds a group of flags to bench (and to stress, which takes
// bench's flags) from its own file, registered from an init function, so
// that a feature's flags live beside the feature: flag registers one in a
// help group. It returns what applies them.
type benchExtension func(flag func(group, name, help string) *kingpin.FlagClause) benchApply

var benchExtensions []benchExtension

// registerBenchFlags adds an extension; call it from init.
func registerBenchFlags(e benchExtension) { benchExtensions = append(benchExtensions, e) }

// Help groups of bench's flags.
const (
	groupTarget   = "Target"
	groupLoad     = "Load"
	groupWorkload = "Workload"
	groupOutput   = "Output"
)

// Tools whose flags bench takes, as help texts name them.
const (
	toolVLLM     = "vLLM bench serve"
	toolGPUStack = "GPUStack benchmark_serving.py"
	toolIB       = "inference-benchmarker"
)

func addBenchFlags(cmd *kingpin.CmdClause) *benchOptions {
	o := &benchOptions{groups: map[string]string{}}
	group := groupTarget
	flag := func(name, help string) *kingpin.FlagClause {
		o.groups[name] = group
		return cmd.Flag(name, help)
	}
	// alias is a flag of another tool: its help says which.
	alias := func(tool, name, help string) *kingpin.FlagClause {
		return flag(name, "["+tool+"] "+help)
	}

	flag("url", "Base URL of the OpenAI-compatible server (http://host:8000 or http://host:8000/v1); inference-benchmarker's --url too. Also --base-url, --server-url.").StringVar(&o.url)
	alias(toolVLLM, "base-url", "The server's root URL; --endpoint is appended to it.").StringVar(&o.baseURL)
	alias(toolVLLM, "endpoint", "API path: /v1/completions (vLLM's default), /v1/chat/completions, /v1/embeddings, or a rerank path (/v1/rerank, /rerank, /v2/rerank); sets the kind.").StringVar(&o.endpoint)
	alias(toolVLLM, "backend", "openai or vllm (completions), openai-chat, openai-embeddings or vllm-rerank; sets the kind.").StringVar(&o.backend)
	alias(toolGPUStack, "server-url", "The server's root URL; /v1 is appended to it.").StringVar(&o.serverURL)
	flag("model", "Model name sent in requests (vLLM's and GPUStack's --model too). Also --model-name.").StringVar(&o.model)
	alias(toolIB, "model-name", "Model name sent in requests (default: --tokenizer-name).").StringVar(&o.modelName)
	flag("api-key", "Bearer token (all three tools' --api-key); prefer the LLMPROBE_API_KEY environment variable, which stays out of process listings.").Envar("LLMPROBE_API_KEY").StringVar(&o.apiKey)
	flag("kind", "Endpoint kind: chat (default), completions, vision (chat with --image), embeddings or rerank. Also --endpoint, --backend, --embeddings.").EnumVar((*string)(&o.kind), string(config.KindChat), string(config.KindCompletions), string(config.KindVision), string(config.KindEmbeddings), string(config.KindRerank))
	alias(toolGPUStack, "embeddings", "Benchmark embeddings instead of chat: --kind embeddings.").BoolVar(&o.embeddings)
	flag("timeout", "Timeout of one request (default 60s). Also --request-timeout.").StringVar(&o.timeout)
	alias(toolGPUStack, "request-timeout", "Timeout of one request in seconds (a bare number, as GPUStack takes it) or a duration.").StringVar(&o.requestTimeout)
	flag("insecure-skip-verify", "Do not verify the server's TLS certificate.").BoolVar(&o.insecure)
	flag("rerank-path", "Rerank: API path, /v1/rerank (default; vLLM, Jina, llama.cpp), /rerank or /v2/rerank (Cohere-style).").StringVar(&o.rerankPath)

	group = groupLoad
	flag("mode", "rate (open-loop arrivals at --rates), throughput (closed-loop users) or sweep (find the max with --max-vus users, then --num-rates rates up to it). Default: rate with --rates, else throughput (or the tool's default for its flags). Also --benchmark-kind.").EnumVar(&o.mode, load.ModeRate, load.ModeThroughput, load.ModeSweep)
	alias(toolIB, "benchmark-kind", "rate, throughput or sweep (its default). Cannot be used with --profile.").StringVar(&o.benchmarkKind)
	alias(toolIB, "profile", "A preset of inference-benchmarker: chat, code-generation, classification or fixed-length: a sweep of 128 users, 10 rates, 120s steps after 30s warmup, with its prompt and decode options and dataset (from the local Hugging Face cache). --duration, --warmup, --max-vus, --num-rates, --prompt-options, --decode-options and --dataset-file override its values (inference-benchmarker refuses them with --profile); --benchmark-kind, --mode and --rates cannot be used with it.").StringVar(&o.profile)
	flag("rates", "Request rates (requests/s) for rate mode, comma-separated or repeated (inference-benchmarker's --rates too); each runs for --duration. Arrivals are --arrival spaced.").StringsVar(&o.rates)
	alias(toolVLLM, "request-rate", "Requests per second, Poisson arrivals (as --burstiness 1); inf (its default) sends them all at once: --num-prompts requests at --max-concurrency.").StringVar(&o.requestRate)
	flag("arrival", "Spacing of open-loop arrivals: constant (default), poisson or gamma (with --burstiness). Also --burstiness.").EnumVar(&o.arrival, load.ArrivalConstant, load.ArrivalPoisson, load.ArrivalGamma)
	flag("burstiness", "vLLM's --burstiness: gaps drawn from a gamma distribution of this shape and mean 1/rate, seeded; 1 is Poisson (vLLM's default), below 1 burstier, above 1 more regular, inf constant spacing.").StringVar(&o.burstiness)
	flag("max-vus", fmt.Sprintf("Sweep: the users of its throughput phase (default %d, inference-benchmarker's 128; with its flags also the in-flight cap of the rate steps, as it caps them). Throughput mode: the users (inference-benchmarker's meaning; as --concurrency). Rate mode: the in-flight cap, arrivals beyond it dropped and counted (as inference-benchmarker skips them).", load.DefaultMaxVUs)).IntVar(&o.maxVUs)
	flag("num-rates", fmt.Sprintf("Rate steps of a sweep (default %d).", load.DefaultNumRates)).IntVar(&o.numRates)
	flag("num-requests", "Measured requests per step (GPUStack's --num-requests too); with no --duration, the run lasts until they are done. Also --num-prompts.").IntVar(&o.numRequests)
	alias(toolVLLM, "num-prompts", "Requests to send (default 1000).").IntVar(&o.numPrompts)
	flag("concurrency", "Throughput mode: the users, each sending its next request when its last ends (GPUStack's --concurrency). Rate mode: the in-flight cap (arrivals beyond it are dropped and counted, never delayed). Also --max-concurrency, --vus, --max-vus.").IntVar(&o.concurrency)
	alias(toolVLLM, "max-concurrency", "Requests at once, with --request-rate inf (all at once): the users of a throughput run. With a finite rate vLLM delays arrivals past the cap, which an open loop does not do: refused.").IntVar(&o.maxConcurrency)
	flag("vus", "Virtual users of a throughput run (as --concurrency).").IntVar(&o.vus)
	flag("duration", "Measured time of each step (default 60s, or unlimited with --num-requests; inference-benchmarker's --duration, default 120s).").StringVar(&o.duration)
	flag("warmup", "Load sent before measuring, left out of the results (inference-benchmarker's --warmup, default 30s; else 0).").StringVar(&o.warmup)
	flag("drain", "Longest wait for a step's requests after its last arrival before they are cut and counted as failures (default: the step duration, at least 5s).").StringVar(&o.drain)
	flag("max-in-flight", fmt.Sprintf("Cap on concurrent requests; open-loop arrivals beyond it are dropped and counted as failures (default %d).", load.DefaultMaxInFlight)).IntVar(&o.maxInFlight)
	flag("stop-error-ratio", "Stop the run once a step's error ratio exceeds this.").Default(strconv.FormatFloat(load.DefaultStopErrorRatio, 'g', -1, 64)).Float64Var(&o.stopErrorRatio)
	flag("error-ratio", "Largest error ratio a sweep step may have to count towards the detected max throughput (0: not checked).").Default("0").Float64Var(&o.errorRatio)
	flag("goodput", `Per-request SLO for goodput in ms, vLLM's --goodput: "ttft:200 tpot:50" (keys ttft, itl, tpot, e2el; space- or comma-separated, repeatable).`).StringsVar(&o.goodput)
	flag("seed", "Seed of prompts, output lengths and Poisson or gamma arrivals.").Default("0").Int64Var(&o.seed)
	flag("lag-threshold", "Schedule lag p99 above which the result says the client was the bottleneck.").Default(load.DefaultLagThreshold.String()).DurationVar(&o.lagThreshold)

	group = groupWorkload
	flag("dataset", "Prompts file: JSON lines (*.jsonl: a string, {\"prompt\": ...}, {\"messages\": [...]} or a message list per line) or ShareGPT JSON. With --dataset-file, inference-benchmarker's meaning: a Hugging Face dataset (org/name) holding that file, from the local cache. Also --dataset-file, --dataset-path.").StringVar(&o.dataset)
	alias(toolIB, "dataset-file", "Prompts file: a local file, else that file of --dataset (default hlarcher/inference-benchmarker) in the local Hugging Face cache; ShareGPT or inference-benchmarker's {\"conversations\": [{\"role\", \"content\"}]} JSON.").StringVar(&o.datasetFile)
	alias(toolVLLM, "dataset-name", "random (synthetic prompts of --random-input-len tokens; its default) or sharegpt (--dataset-path, with --decode-options: llmprobe asks one output length of every request).").StringVar(&o.datasetName)
	alias(toolVLLM, "dataset-path", "The ShareGPT file of --dataset-name sharegpt.").StringVar(&o.datasetPath)
	flag("input-tokens", "Synthetic prompts of about this many tokens. Also --random-input-len.").IntVar(&o.inputTokens)
	alias(toolVLLM, "random-input-len", "Synthetic prompts of this many tokens (--dataset-name random; default 1024).").IntVar(&o.randomInputLen)
	alias(toolVLLM, "random-output-len", "Output tokens of --dataset-name random (default 128), forced with ignore_eos as vLLM does.").IntVar(&o.randomOutputLen)
	flag("prompt", "A fixed prompt (each request still gets a unique prefix, so the server's prefix cache cannot serve it).").StringVar(&o.prompt)
	alias(toolIB, "prompt-options", `Prompt lengths, "num_tokens=200,max_tokens=220,min_tokens=180,variance=10": with a dataset, prompts are cut to a length drawn around num_tokens and shorter ones dropped (without num_tokens, prompts outside min..max are dropped); without one, synthetic prompts of that length. Counted with --tokenizer-name.`).StringVar(&o.promptOptions)
	flag("decode-options", `Output lengths, as inference-benchmarker's --decode-options: "num_tokens=80,max_tokens=100,min_tokens=60,variance=10". Also --max-completion-tokens, --random-output-len.`).StringVar(&o.decodeOptions)
	alias(toolGPUStack, "max-completion-tokens", "Output tokens asked per request (default 1024): as --decode-options num_tokens=N.").IntVar(&o.maxCompletionTokens)
	flag("ignore-eos", "The server supports vLLM's min_tokens and ignore_eos (all three tools' --ignore-eos): send them, so output lengths are forced, not only capped.").BoolVar(&o.ignoreEOS)
	flag("tokenizer", "The model's tokenizer (vLLM's --tokenizer too): a tokenizer.json, a model folder, or a Hub name from the local Hugging Face cache; counts --input-tokens and --prompt-options prompts in its tokens (else 4 characters per token). Also --tokenizer-name.").StringVar(&o.tokenizer)
	alias(toolIB, "tokenizer-name", "As --tokenizer: a Hub name (Qwen/Qwen3-8B) from the local Hugging Face cache ($HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub), a model folder or a tokenizer.json; never downloaded. With a dataset it counts (and with --prompt-options cuts) its prompts; requests' prompt tokens are the server's counts.").StringVar(&o.tokenizerName)
	flag("batch-size", "Embeddings: inputs per request.").Default(strconv.Itoa(config.DefaultBatchSize)).IntVar(&o.batchSize)
	flag("dimensions", "Embeddings: the vector size every embedding must have (checked, not sent; 0: only that they agree).").IntVar(&o.dimensions)
	flag("documents", "Rerank: documents per request.").Default(strconv.Itoa(config.DefaultDocuments)).IntVar(&o.documents)
	flag("query", "Rerank: the query (default: a built-in question).").StringVar(&o.query)
	flag("image", "Vision: a PNG or JPEG file sent with each request; repeatable.").StringsVar(&o.images)

	group = groupOutput
	flag("json", "Print the result as JSON on stdout instead of the table (GPUStack's --json too).").BoolVar(&o.jsonOut)
	flag("result-file", "Save the JSON result to this file (GPUStack's --result-file too).").StringVar(&o.resultFile)
	flag("result-format", fmt.Sprintf("Also write the result in another tool's JSON next to the result file (run.json -> run.<format>.json), so its plots and scripts work: %s; comma-separated or repeated.", strings.Join(compat.Formats, ", "))).StringsVar(&o.resultFormats)
	alias(toolVLLM, "save-result", "Save the JSON result in --result-dir as vLLM names it (<backend>-<rate>qps[-concurrency<N>]-<model>-<date>.json) or as --result-filename.").BoolVar(&o.saveResult)
	alias(toolVLLM, "result-dir", "Directory of --save-result (default: the current one).").StringVar(&o.resultDir)
	alias(toolVLLM, "result-filename", "File name of --save-result.").StringVar(&o.resultFilename)
	alias(toolVLLM, "percentile-metrics", "Metrics whose percentiles the vLLM-format result has: ttft, tpot, itl, e2el (default ttft,tpot,itl; e2el for embeddings). The table shows them all.").StringVar(&o.percentileMetrics)
	alias(toolVLLM, "metric-percentiles", "Percentiles of those metrics in the vLLM-format result (default 99); the table shows p50, p90, p95 and p99.").StringVar(&o.metricPercentiles)
	flag("timeline-file", "Save every request (scheduled and actual start, TTFT, end, tokens, result) as JSON lines to this file.").StringVar(&o.timelineFile)
	flag("data-dir", "Also archive the run (result and timeline) in this llmprobe data directory.").StringVar(&o.dataDir)
	alias(toolIB, "no-console", "No live progress display: as --progress never.").BoolVar(&o.noConsole)
	flag("progress", "Live progress on stderr: auto (a refreshed line on a terminal, a plain line every 5s otherwise), always, never.").Default("auto").EnumVar(&o.progress, "auto", "always", "never")
	flag("gpu-sample-interval", "Sample this machine's GPUs (NVML) into the result this often, for a bench run on the GPU host (0 disables; nothing is sampled without a GPU).").Default("1s").DurationVar(&o.gpuEvery)

	for _, ext := range benchExtensions {
		o.applies = append(o.applies, ext(func(g, name, help string) *kingpin.FlagClause {
			o.groups[name] = g
			return cmd.Flag(name, help)
		}))
	}

	group = groupTarget
	flag("metrics-url", "The model server's own Prometheus page, scraped during the run for its queue, KV cache and TTFT beside ours (the result's server view, the Server block). Default: the URL without /v1 plus /metrics, given up quietly where there is none; none turns it off. The API key goes only to the target's own scheme, host and port.").StringVar(&o.metricsURL)
	flag("server", "Whose metric names the page uses: auto (detected), vllm, sglang, tgi, llamacpp or generic.").Default("auto").StringVar(&o.server)
	flag("metrics-interval", "Scrape the server's metrics page this often during the run (at least 100ms).").Default("1s").DurationVar(&o.metricsEvery)
	return o
}

// serverScraper is the scraper of the server's metrics page that
// --metrics-url, --server and --metrics-interval describe for ep (nil with
// --metrics-url none), built and checked as a config target's is. The
// stress command passes it to archive.Job as bench does.
func (o *benchOptions) serverScraper(ep probe.Endpoint) (*servermetrics.Scraper, error) {
	t := config.Target{URL: ep.URL, APIKey: commoncfg.Secret(ep.APIKey), APIKeyHeader: ep.APIKeyHeader,
		InsecureSkipVerify: ep.InsecureSkipVerify, MetricsURL: o.metricsURL}
	if o.metricsURL == config.MetricsNone {
		return nil, nil // --server and --metrics-interval keep their defaults: nothing to check
	}
	if o.metricsEvery <= 0 {
		return nil, errors.New("--metrics-interval: must be positive (--metrics-url none turns scraping off)")
	}
	t.Server, t.MetricsInterval = o.server, model.Duration(o.metricsEvery)
	if err := t.CheckMetrics(); err != nil {
		msg := err.Error()
		for _, f := range [][2]string{{"metrics_url:", "--metrics-url:"}, {"server:", "--server:"}, {"metrics_interval:", "--metrics-interval:"}} {
			msg = strings.ReplaceAll(msg, f[0], f[1])
		}
		return nil, errors.New(msg)
	}
	return t.ServerScraper(), nil
}

// parseRates reads rates given comma-separated, repeated, or both.
func parseRates(in []string) ([]float64, error) {
	var rates []float64
	for _, s := range in {
		for f := range strings.SplitSeq(s, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			v, err := strconv.ParseFloat(f, 64)
			if err != nil || !(v > 0) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("--rates: %q is not a positive number", f)
			}
			rates = append(rates, v)
		}
	}
	return rates, nil
}

// parseGoodput reads vLLM-style "ttft:200 tpot:50" objectives (ms), space-
// or comma-separated.
func parseGoodput(in []string) (probe.SLO, error) {
	var slo probe.SLO
	for _, s := range in {
		for item := range strings.FieldsFuncSeq(s, func(r rune) bool { return r == ',' || r == ' ' }) {
			k, v, ok := strings.Cut(item, ":")
			ms, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if !ok || err != nil || !(ms > 0) {
				return slo, fmt.Errorf("--goodput: want key:milliseconds, got %q", item)
			}
			d := time.Duration(ms * float64(time.Millisecond))
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "ttft":
				slo.TTFT = d
			case "itl":
				slo.ITL = d
			case "tpot":
				slo.TPOT = d
			case "e2el", "e2e":
				slo.E2E = d
			default:
				return slo, fmt.Errorf("--goodput: unknown key %q (want ttft, itl, tpot or e2el)", k)
			}
		}
	}
	return slo, nil
}

func parseDurationFlag(name, s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("--%s: %q is not a duration such as 120s", name, s)
	}
	return d, nil
}

// benchPlan turns the flags into load options, the endpoint and the
// workload; what else the run needs (prepared prompts, result formats) goes
// to o.extras. Each setting may be given by llmprobe's flag or another
// tool's (resolveTarget, resolveLoad, resolveWorkload, resolveOutputs): two
// spellings with different values are an error, and so is a combination
// that cannot be honoured. It writes the resolved URL and kind back to
// o.url and o.kind, which runBench reads.
func benchPlan(o *benchOptions) (load.Options, probe.Endpoint, config.Workload, error) {
	x := &benchExtras{}
	o.extras = x
	p := &planner{o: o, x: x}
	p.tool = p.dialect()

	slo, err := parseGoodput(o.goodput)
	p.fail(err)
	p.resolveProfile()
	p.resolveTarget()
	lo := p.resolveLoad()
	w := p.resolveWorkload(p.ep.Kind)
	p.resolveOutputs(&lo, p.ep.Kind)
	p.fail(checkKindFlags(o, p.ep.Kind))
	for _, apply := range o.applies {
		p.fail(apply(o, &lo, &p.ep, &w))
	}
	u, ep := p.u, p.ep
	if err := errors.Join(p.errs...); err != nil {
		return load.Options{}, probe.Endpoint{}, config.Workload{}, err
	}

	lo.StopErrorRatio = o.stopErrorRatio
	lo.SLO = slo
	lo.ErrorRatio = o.errorRatio
	lo.LagThreshold = o.lagThreshold
	lo.Seed = o.seed
	lo.Name, lo.Phase = "bench", "bench"
	lo.Target, lo.Model, lo.Kind = u.Host, ep.Model, ep.Kind
	if s := o.timeScale; s > 0 {
		scale := func(d time.Duration) time.Duration { return time.Duration(float64(d) * s) }
		lo.Duration, lo.Warmup, lo.Drain = scale(lo.Duration), scale(lo.Warmup), scale(lo.Drain)
	}

	lo.Workload = w.Info()
	if x.datasetShown != "" {
		lo.Workload.Dataset = x.datasetShown
	}
	o.url, o.kind = ep.URL, ep.Kind
	return lo, ep, w, nil
}

// checkKindFlags checks the flags of the vision, embeddings and rerank
// kinds against the resolved kind.
func checkKindFlags(o *benchOptions, kind probe.Kind) error {
	var errs []error
	switch {
	case kind == config.KindVision && len(o.images) == 0:
		errs = append(errs, errors.New("--kind vision needs at least one --image"))
	case kind != config.KindVision && len(o.images) > 0:
		errs = append(errs, errors.New("--image is only sent with --kind vision"))
	}
	if kind == config.KindEmbeddings {
		if o.batchSize < 1 || o.batchSize > config.MaxBatchSize {
			errs = append(errs, fmt.Errorf("--batch-size: must be between 1 and %d", config.MaxBatchSize))
		}
		if o.dimensions < 0 || o.dimensions > config.MaxDimensions {
			errs = append(errs, fmt.Errorf("--dimensions: must be between 0 and %d", config.MaxDimensions))
		}
	}
	if kind == config.KindRerank {
		if o.documents < 1 || o.documents > config.MaxDocuments {
			errs = append(errs, fmt.Errorf("--documents: must be between 1 and %d", config.MaxDocuments))
		}
	}
	return errors.Join(errs...)
}

// multiSink writes every entry to each of its sinks.
type multiSink []load.Sink

func (m multiSink) WriteEntry(e *load.Entry) error {
	var first error
	for _, s := range m {
		if err := s.WriteEntry(e); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func runBench(logger *slog.Logger, g *globals, o *benchOptions) int {
	lo, ep, w, err := benchPlan(o)
	if err != nil {
		fmt.Fprintf(g.stderr, "llmprobe bench: %v\n", err)
		return exitError
	}
	gen, err := benchGenerator(g.stderr, &w, o)
	if err != nil {
		fmt.Fprintf(g.stderr, "llmprobe bench: %v\n", err)
		return exitError
	}
	page, err := o.serverScraper(ep)
	if err != nil {
		fmt.Fprintf(g.stderr, "llmprobe bench: %v\n", err)
		return exitError
	}
	client := probe.NewClient(ep)
	defer client.CloseIdle()
	if err := checkModel(client, o.url, ep.Model); err != nil {
		fmt.Fprintf(g.stderr, "llmprobe bench: %v\n", err)
		return exitError
	}

	var timeline *os.File
	var jsonl *load.JSONLSink
	if o.timelineFile != "" {
		if timeline, err = os.Create(o.timelineFile); err != nil {
			fmt.Fprintf(g.stderr, "llmprobe bench: %v\n", err)
			return exitError
		}
		defer timeline.Close()
		jsonl = load.NewJSONLSink(timeline)
	}
	var arch *archive.Archive
	if o.dataDir != "" {
		if arch, err = archive.Open(o.dataDir, archive.Retention{}); err != nil {
			fmt.Fprintf(g.stderr, "llmprobe bench: %v\n", err)
			return exitError
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs, notify := g.sigs, g.sigs == nil
	if notify {
		sigs = make(chan os.Signal, 1)
		defer signal.Stop(sigs)
	}
	var gc *gpu.Collector
	res, err := archive.RunJob(ctx, arch, &archive.Job{
		Started: time.Now(), Send: client, Requests: gen, Options: lo,
		Server: page, ServerEvery: o.metricsEvery,
		Sink: func(aw *archive.Writer) load.Sink {
			var sinks multiSink
			if jsonl != nil {
				sinks = append(sinks, jsonl)
			}
			if aw != nil {
				sinks = append(sinks, aw)
			}
			if o.extras != nil && o.extras.samples != nil {
				sinks = append(sinks, o.extras.samples) // other tools' result formats
			}
			if len(sinks) == 0 {
				return nil // nil, not an empty multiSink: nothing to write to
			}
			return sinks
		},
		Start: func(runner *load.Runner) (load.GPUSampler, time.Duration, func()) {
			lo = runner.Options()
			if notify {
				// Only now: until the run starts, ^C ends bench at once.
				signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
			}
			go func() {
				select {
				case <-sigs:
					fmt.Fprintln(g.stderr, "\nllmprobe bench: interrupted; saving what was measured")
					cancel()
				case <-ctx.Done():
				}
			}()
			logger.Debug("bench starting", "mode", lo.Mode, "target", lo.Target, "model", lo.Model)
			fmt.Fprintf(g.stderr, "llmprobe bench: %s against %s (model %s)%s\n", describePlan(&lo), redactURL(o.url), lo.Model, progressHint(g, o))
			stopProgress := startProgress(g.stderr, o.progress, runner)
			if o.gpuEvery <= 0 {
				return nil, 0, stopProgress
			}
			// Quietly: most bench runs are on machines without a GPU.
			gc = gpu.New(slog.New(slog.DiscardHandler), gpu.Options{})
			return gc, o.gpuEvery, stopProgress
		},
	})
	if gc != nil {
		defer gc.Close()
	}
	if res == nil {
		fmt.Fprintf(g.stderr, "llmprobe bench: %v\n", err)
		return exitError
	}
	archiveErr := err

	code := exitOK
	switch {
	case res.Status == load.StatusInterrupted:
		code = exitInterrupted
	case res.Summary.Successful == 0:
		// Nothing was served: whatever the table says, the run failed.
		code = exitError
	}
	if jsonl != nil {
		if err := jsonl.Flush(); err != nil {
			fmt.Fprintf(g.stderr, "llmprobe bench: timeline: %v\n", err)
			code = max(code, exitError)
		}
	}
	if arch != nil {
		if err := archiveErr; err != nil {
			fmt.Fprintf(g.stderr, "llmprobe bench: %v\n", err)
			code = max(code, exitError)
		} else {
			fmt.Fprintf(g.stderr, "llmprobe bench: archived as %s in %s\n", res.ID, o.dataDir)
		}
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	b = append(b, '\n')
	if own := o.ownResultFile(); own != "" {
		if err := writeFileAtomic(own, b); err != nil {
			fmt.Fprintf(g.stderr, "llmprobe bench: %v\n", err)
			code = max(code, exitError)
		}
	}
	native, fcode := writeResultFormats(g.stderr, o, res)
	code = max(code, fcode)
	if own := o.ownResultFile(); own != "" && own != o.resultFile {
		fmt.Fprintf(g.stderr, "llmprobe bench: llmprobe's full result in %s\n", own)
	}
	if native != nil {
		b = native // --json prints what the tool whose flags were used prints
	}
	if o.jsonOut {
		_, _ = g.stdout.Write(b)
	} else {
		printResult(g.stdout, res)
	}
	if code == exitError && res.Summary.Successful == 0 {
		fmt.Fprintf(g.stderr, "llmprobe bench: no request succeeded%s\n", firstFailure(&res.Summary))
	}
	return code
}

// checkModel asks the server which models it serves and refuses a run for
// a model it does not have, naming those it has. A server that does not
// list its models is given the benefit of the doubt; one that cannot be
// reached, or refuses our credentials, ends the run before it starts.
func checkModel(c *probe.Client, url, model string) error {
	models, err := c.Models(context.Background())
	switch {
	case errors.Is(err, probe.ErrNoModelList):
		return nil
	case err != nil && (strings.Contains(err.Error(), "HTTP 4") || !strings.Contains(err.Error(), "HTTP ")):
		return fmt.Errorf("%s: %v", redactURL(url), err)
	case err != nil:
		return nil // a server error on the list says nothing of the model
	case slices.Contains(models, model):
		return nil
	}
	shown := models
	if len(shown) > 10 {
		shown = shown[:10]
	}
	more := ""
	if n := len(models) - len(shown); n > 0 {
		more = fmt.Sprintf(" and %d more", n)
	}
	return fmt.Errorf("model %q is not served by %s; it serves %s%s (give one of them to --model)",
		model, redactURL(url), strings.Join(shown, ", "), more)
}

// firstFailure returns ": <class>: <message>" for the most frequent error
// class of s, "" when s has none.
func firstFailure(s *load.Summary) string {
	best := ""
	for _, k := range s.SortedErrors() {
		if best == "" || s.Errors[k] > s.Errors[best] {
			best = k
		}
	}
	if best == "" {
		return ""
	}
	if m := s.ErrorMessages[best]; len(m) > 0 {
		return fmt.Sprintf(": %d %s, e.g. %s", s.Errors[best], best, m[0])
	}
	return fmt.Sprintf(": %d %s", s.Errors[best], best)
}

// printErrors prints each error class with its count and first distinct
// messages.
func printErrors(w io.Writer, s *load.Summary, row func(string, any)) {
	if len(s.Errors) == 0 {
		return
	}
	fmt.Fprintln(w, center("Errors", 50, '-'))
	for _, k := range s.SortedErrors() {
		row(k+":", s.Errors[k])
		for _, m := range s.ErrorMessages[k] {
			fmt.Fprintf(w, "  %s\n", m)
		}
	}
}

// ownResultFile is where llmprobe's own result JSON goes: --result-file,
// unless the flags of another tool were used without --result-format, in
// which case that file holds that tool's shape and ours goes beside it.
func (o *benchOptions) ownResultFile() string {
	if o.extras != nil && o.extras.ownPath != "" {
		return o.extras.ownPath
	}
	return o.resultFile
}

// redactURL drops credentials from a URL before it is printed.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return "the server"
}

func describePlan(o *load.Options) string {
	var b strings.Builder
	shape, ok := describeShape(o) // ramps and traces (bencharrivals.go)
	b.WriteString(shape)
	switch {
	case ok:
	case o.Mode == load.ModeRate:
		fmt.Fprintf(&b, "rate mode, %s arrivals at %s req/s", o.Arrival, joinFloats(o.Rates))
	case o.Mode == load.ModeThroughput:
		fmt.Fprintf(&b, "throughput mode, %d users", o.VUs)
	case o.Mode == load.ModeSweep:
		fmt.Fprintf(&b, "sweep, %d users then %d %s-rate steps", o.MaxVUs, o.NumRates, o.Arrival)
	}
	if o.Duration > 0 {
		fmt.Fprintf(&b, ", %s per step", o.Duration)
	}
	if o.NumRequests > 0 {
		fmt.Fprintf(&b, ", %d requests per step", o.NumRequests)
	}
	if o.Warmup > 0 {
		fmt.Fprintf(&b, ", %s warmup", o.Warmup)
	}
	return b.String()
}

func joinFloats(v []float64) string {
	s := make([]string, len(v))
	for i, f := range v {
		s[i] = strconv.FormatFloat(f, 'g', -1, 64)
	}
	return strings.Join(s, ",")
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func progressHint(g *globals, o *benchOptions) string {
	if o.progress != "never" && isTerminal(g.stderr) {
		return " (Ctrl-C stops and keeps what was measured)"
	}
	return ""
}

// startProgress shows the run's progress on w until the returned function
// is called: a line refreshed in place on a terminal, a plain line every 5
// seconds otherwise.
func startProgress(w io.Writer, mode string, r *load.Runner) func() {
	tty := isTerminal(w)
	if mode == "never" {
		return func() {}
	}
	if mode == "always" {
		tty = true
	}
	every := 5 * time.Second
	if tty {
		every = 250 * time.Millisecond
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		var lastToks int64
		last := time.Now()
		for {
			select {
			case <-done:
				if tty {
					fmt.Fprint(w, "\r\033[K")
				}
				return
			case now := <-t.C:
				p := r.Progress()
				tps := float64(p.OutputToks-lastToks) / now.Sub(last).Seconds()
				lastToks, last = p.OutputToks, now
				line := progressLine(p, tps)
				if tty {
					fmt.Fprintf(w, "\r\033[K%s", line)
				} else {
					fmt.Fprintln(w, line)
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

func progressLine(p load.Progress, tps float64) string {
	step := fmt.Sprintf("step %d/%d", p.Step, p.Steps)
	if p.Steps <= 1 {
		step = "run"
	}
	shape := ""
	switch {
	case p.StepKind == load.StepRate:
		shape = fmt.Sprintf(" %.2f req/s", p.OfferedRate)
	case p.VUs > 0:
		shape = fmt.Sprintf(" %d users", p.VUs)
	}
	return fmt.Sprintf("[%s%s %s] %6.1fs  sent %d  ok %d  failed %d  dropped %d  in flight %d  %.0f tok/s",
		step, shape, p.Phase, p.Elapsed.Seconds(), p.Sent, p.Succeeded, p.Failed, p.Dropped, p.InFlight, tps)
}

// writeFileAtomic writes a result file whole or not at all (atomicfile).
func writeFileAtomic(path string, data []byte) error {
	return atomicfile.Write(path, data, 0o644)
}

// center centres s in a line of n characters padded with c, as vLLM's
// result headers are.
func center(s string, n int, c byte) string {
	if len(s) >= n {
		return s
	}
	left := (n - len(s)) / 2
	return strings.Repeat(string(c), left) + s + strings.Repeat(string(c), n-len(s)-left)
}

// printResult prints the run as vLLM's bench serve prints its result,
// preceded by a table of steps when there are several.
func printResult(w io.Writer, res *load.Result) {
	if len(res.Steps) > 1 || res.Mode != load.ModeThroughput {
		printSteps(w, res)
	}
	s := &res.Summary
	row := func(label string, v any) {
		switch v := v.(type) {
		case float64:
			fmt.Fprintf(w, "%-40s %-10.2f\n", label, v)
		default:
			fmt.Fprintf(w, "%-40s %-10v\n", label, v)
		}
	}
	fmt.Fprintln(w, center(" Serving Benchmark Result ", 50, '='))
	row("Successful requests:", s.Successful)
	row("Failed requests:", s.Failed)
	if s.Dropped > 0 {
		row("  of which dropped arrivals:", s.Dropped)
	}
	if s.Interrupted > 0 {
		row("Interrupted requests (not counted):", s.Interrupted)
	}
	row("Error ratio:", s.ErrorRatio)
	if s.ConnectionRetries > 0 {
		row("Connection retries (not failures):", s.ConnectionRetries)
	}
	row("Benchmark duration (s):", s.DurationSeconds)
	if res.Kind == config.KindEmbeddings || res.Kind == config.KindRerank {
		printPoolingResult(w, res, row)
		return
	}
	row("Total input tokens:", s.InputTokens)
	row("Total generated tokens:", s.OutputTokens)
	row("Request throughput (req/s):", s.RequestThroughput)
	if s.SLO != nil {
		row("Request goodput (req/s):", s.Goodput)
	}
	row("Output token throughput (tok/s):", s.OutputThroughput)
	row("Peak output token throughput (tok/s):", s.PeakOutputThroughput)
	row("Peak concurrent requests:", s.PeakConcurrent)
	row("Total Token throughput (tok/s):", s.TotalTokenThroughput)
	dist := func(title, short string, d load.Dist) {
		fmt.Fprintln(w, center(title, 50, '-'))
		row("Mean "+short+" (ms):", d.Mean)
		row("Std "+short+" (ms):", d.Stddev)
		row("Median "+short+" (ms):", d.P50)
		row("P90 "+short+" (ms):", d.P90)
		row("P95 "+short+" (ms):", d.P95)
		row("P99 "+short+" (ms):", d.P99)
	}
	dist("Time to First Token", "TTFT", s.TTFT)
	dist("Time per Output Token (excl. 1st token)", "TPOT", s.TPOT)
	dist("Inter-token Latency", "ITL", s.ITL)
	dist("End-to-end Latency", "E2EL", s.E2E)
	if s.ScheduleLag.Count > 0 {
		fmt.Fprintln(w, center("Schedule Lag (client)", 50, '-'))
		row("Median lag (ms):", s.ScheduleLag.P50)
		row("P99 lag (ms):", s.ScheduleLag.P99)
	}
	printSessions(w, res) // conversations' turns, the prefix-cache gain (benchconversation.go)
	printErrors(w, s, row)
	if g := res.GPU; g != nil {
		fmt.Fprintln(w, center("GPU (this machine)", 50, '-'))
		for _, d := range g.Summary.Devices {
			row(fmt.Sprintf("GPU %d peak VRAM (GiB):", d.Index), float64(d.PeakMemoryUsedBytes)/(1<<30))
			row(fmt.Sprintf("GPU %d mean utilization (%%):", d.Index), 100*d.MeanUtilizationRatio)
		}
	}
	printServer(w, res, row)
	fmt.Fprintln(w, strings.Repeat("=", 50))
	printServerNotes(w, res)
	if res.MaxThroughput != nil {
		fmt.Fprintf(w, "Max throughput (%d users): %.2f req/s, %.0f output tok/s\n", res.Context.MaxVUs, res.MaxThroughput.RequestsPerSecond, res.MaxThroughput.OutputTokensPerSecond)
	}
	if res.Mode == load.ModeSweep {
		if m := res.DetectedMax; m != nil {
			fmt.Fprintf(w, "Detected max throughput: %.2f req/s, %.0f output tok/s (step %d)\n", m.RequestsPerSecond, m.OutputTokensPerSecond, m.Step)
		} else {
			fmt.Fprintln(w, "Detected max throughput: none (no step achieved 95% of its offered rate within the error ratio and SLO)")
		}
	}
	if res.StopReason != "" {
		fmt.Fprintf(w, "Stopped early: %s\n", res.StopReason)
	}
	if res.ClientBottleneck {
		fmt.Fprintf(w, "Warning: %s\n", res.ClientNote)
	}
	if s.ColdCacheHits > 0 {
		fmt.Fprintf(w, "Warning: the server served %d cold requests from its prefix cache beyond the chat template (their TTFT is not a cold prefill's): its cache is wider than the nonce defeats.\n", s.ColdCacheHits)
	}
	if s.EstimatedOutputTokens {
		fmt.Fprintln(w, "Note: the server reported no usage for some requests; their output tokens were counted from chunks.")
	}
	if res.Status == load.StatusInterrupted {
		fmt.Fprintln(w, "Interrupted: these figures cover what was measured until then.")
	}
}

// printPoolingResult ends the table of an embeddings or rerank run: no
// tokens are generated, so throughput is requests and input tokens per
// second, and latency is end to end.
func printPoolingResult(w io.Writer, res *load.Result, row func(string, any)) {
	s := &res.Summary
	row("Total input tokens:", s.InputTokens)
	row("Request throughput (req/s):", s.RequestThroughput)
	if s.SLO != nil {
		row("Request goodput (req/s):", s.Goodput)
	}
	inTPS := 0.0
	if s.DurationSeconds > 0 {
		inTPS = float64(s.InputTokens) / s.DurationSeconds
	}
	row("Input token throughput (tok/s):", inTPS)
	row("Peak concurrent requests:", s.PeakConcurrent)
	fmt.Fprintln(w, center("Request Latency", 50, '-'))
	row("Mean latency (ms):", s.E2E.Mean)
	row("Std latency (ms):", s.E2E.Stddev)
	row("Median latency (ms):", s.E2E.P50)
	row("P90 latency (ms):", s.E2E.P90)
	row("P95 latency (ms):", s.E2E.P95)
	row("P99 latency (ms):", s.E2E.P99)
	if s.ScheduleLag.Count > 0 {
		fmt.Fprintln(w, center("Schedule Lag (client)", 50, '-'))
		row("Median lag (ms):", s.ScheduleLag.P50)
		row("P99 lag (ms):", s.ScheduleLag.P99)
	}
	printErrors(w, s, row)
	printServer(w, res, row)
	fmt.Fprintln(w, strings.Repeat("=", 50))
	printServerNotes(w, res)
	if res.StopReason != "" {
		fmt.Fprintf(w, "Stopped early: %s\n", res.StopReason)
	}
	if res.ClientBottleneck {
		fmt.Fprintf(w, "Warning: %s\n", res.ClientNote)
	}
	if res.Status == load.StatusInterrupted {
		fmt.Fprintln(w, "Interrupted: these figures cover what was measured until then.")
	}
}

// printServer prints what the server's own metrics page said, when it was
// read: its queue and KV cache at their worst over the steps, and where the
// client's time to first token went.
func printServer(w io.Writer, res *load.Result, row func(string, any)) {
	sv := res.Server
	if sv == nil || sv.Timeline == nil || len(sv.Timeline.Points) == 0 {
		return
	}
	fmt.Fprintln(w, center(fmt.Sprintf("Server (its metrics page, %s)", sv.Timeline.Server), 50, '-'))
	waiting, kv := -1.0, -1.0
	for _, st := range res.Steps {
		if ss := st.Server; ss != nil {
			if g := ss.RequestsWaiting; g != nil {
				waiting = max(waiting, g.Max)
			}
			if g := ss.KVCacheUsage; g != nil {
				kv = max(kv, g.Max)
			}
		}
	}
	if waiting >= 0 {
		row("Max requests waiting:", waiting)
	}
	if kv >= 0 {
		row("Max KV cache usage (%):", 100*kv)
	}
	if b := sv.Breakdown; b != nil {
		row("Mean client TTFT (ms):", b.ClientTTFTMS)
		row("Mean server TTFT (ms):", b.ServerTTFTMS)
		if b.HasQueueTime {
			row("Mean server queue time (ms):", b.QueueMS)
			row("Queue share of client TTFT (%):", 100*b.QueueShare)
		}
		row("Client TTFT not on the server (ms):", b.OtherMS)
	}
}

// printServerNotes says why the server's view is missing or partial, and
// which of its health checks failed.
func printServerNotes(w io.Writer, res *load.Result) {
	sv := res.Server
	if sv == nil {
		return
	}
	if sv.Note != "" {
		fmt.Fprintf(w, "Server metrics: %s\n", sv.Note)
	}
	for _, v := range sv.Verdicts {
		if v.Failed {
			fmt.Fprintf(w, "Warning: %s: %s\n", v.Name, v.Summary)
		}
	}
}

func printSteps(w io.Writer, res *load.Result) {
	fmt.Fprintln(w, center(" Steps ", 110, '-'))
	fmt.Fprintf(w, "%-4s %-10s %9s %9s %9s %7s %6s %7s %8s %9s %9s %8s %9s  %s\n",
		"step", "kind", "offered", "arrival", "achieved", "ok", "failed", "drain s", "err %", "TTFT p50", "TTFT p99", "ITL p50", "E2E p99", "qualified")
	for _, st := range res.Steps {
		offered := "-"
		if st.Kind == load.StepRate {
			offered = strconv.FormatFloat(st.OfferedRate, 'f', 2, 64)
		} else if st.VUs > 0 {
			offered = fmt.Sprintf("%d VUs", st.VUs)
		}
		q := ""
		if st.Qualified != nil {
			q = "yes"
			if !*st.Qualified {
				q = "no: " + st.Verdict
			}
		}
		if st.Stopped != "" {
			q = strings.TrimSpace(q + " stopped: " + st.Stopped)
		}
		s := &st.Summary
		fmt.Fprintf(w, "%-4d %-10s %9s %9.2f %9.2f %7d %6d %7.2f %8.2f %9.1f %9.1f %8.1f %9.1f  %s\n",
			st.Index, st.Kind, offered, st.ArrivalRate, st.AchievedRate, s.Successful, s.Failed, st.DrainS,
			100*s.ErrorRatio, s.TTFT.P50, s.TTFT.P99, s.ITL.P50, s.E2E.P99, q)
	}
	fmt.Fprintln(w, "Rates in req/s; achieved: successful completions over the middle 80% of the step. Latencies in ms.")
	fmt.Fprintln(w)
}
