package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/llmprobe/llmprobe/archive"
	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/gpu"
	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/probe"
	"github.com/llmprobe/llmprobe/workload"
)

// exitInterrupted is the conventional exit status after SIGINT.
const exitInterrupted = 130

// benchOptions are `llmprobe bench`'s flags. Their names follow vLLM's
// `bench serve`, GPUStack's benchmark_serving.py and Hugging Face's
// inference-benchmarker, so that people coming from them feel at home.
type benchOptions struct {
	gpuEvery                 time.Duration
	url, model, apiKey, kind string
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
	timeout                  time.Duration
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
}

func addBenchFlags(cmd *kingpin.CmdClause) *benchOptions {
	o := &benchOptions{}
	cmd.Flag("url", "Base URL of the OpenAI-compatible server (http://host:8000 or http://host:8000/v1).").Required().StringVar(&o.url)
	cmd.Flag("model", "Model name sent in requests.").Required().StringVar(&o.model)
	cmd.Flag("api-key", "Bearer token; prefer the LLMPROBE_API_KEY environment variable, which stays out of process listings.").Envar("LLMPROBE_API_KEY").StringVar(&o.apiKey)
	cmd.Flag("kind", "Endpoint kind: chat, completions, vision (chat with --image), embeddings or rerank.").Default(config.KindChat).EnumVar(&o.kind, config.KindChat, config.KindCompletions, config.KindVision, config.KindEmbeddings, config.KindRerank)
	cmd.Flag("batch-size", "Embeddings: inputs per request.").Default(strconv.Itoa(config.DefaultBatchSize)).IntVar(&o.batchSize)
	cmd.Flag("dimensions", "Embeddings: the vector size every embedding must have (checked, not sent; 0: only that they agree).").IntVar(&o.dimensions)
	cmd.Flag("documents", "Rerank: documents per request.").Default(strconv.Itoa(config.DefaultDocuments)).IntVar(&o.documents)
	cmd.Flag("query", "Rerank: the query (default: a built-in question).").StringVar(&o.query)
	cmd.Flag("rerank-path", "Rerank: API path, /v1/rerank (vLLM, Jina, llama.cpp), /rerank or /v2/rerank (Cohere-style).").Default(probe.DefaultRerankPath).StringVar(&o.rerankPath)
	cmd.Flag("image", "Vision: a PNG or JPEG file sent with each request; repeatable.").StringsVar(&o.images)
	cmd.Flag("tokenizer", "A Hugging Face tokenizer.json of the model, to size --input-tokens prompts in its own tokens (else 4 characters per token).").StringVar(&o.tokenizer)
	cmd.Flag("mode", "rate (open-loop arrivals at --rates), throughput (--concurrency closed-loop users) or sweep (find the max with --max-vus users, then --num-rates rates up to it). Default: rate when --rates is given, else throughput.").EnumVar(&o.mode, load.ModeRate, load.ModeThroughput, load.ModeSweep)
	cmd.Flag("rates", "Request rates (requests/s) for rate mode, comma-separated or repeated; each runs for --duration.").StringsVar(&o.rates)
	cmd.Flag("request-rate", "Alias of --rates (vLLM).").Hidden().StringsVar(&o.rates)
	cmd.Flag("arrival", "Spacing of rate-mode arrivals: constant, or poisson (vLLM's default).").Default(load.ArrivalConstant).EnumVar(&o.arrival, load.ArrivalConstant, load.ArrivalPoisson)
	cmd.Flag("max-vus", "Virtual users of a sweep's throughput phase.").Default(strconv.Itoa(load.DefaultMaxVUs)).IntVar(&o.maxVUs)
	cmd.Flag("num-rates", "Rate steps of a sweep.").Default(strconv.Itoa(load.DefaultNumRates)).IntVar(&o.numRates)
	cmd.Flag("num-requests", "Measured requests per step (each rate, or the throughput run); with no --duration, the run lasts until they are done.").IntVar(&o.numRequests)
	cmd.Flag("num-prompts", "Alias of --num-requests (vLLM).").Hidden().IntVar(&o.numRequests)
	cmd.Flag("concurrency", "Throughput mode: virtual users (vLLM's --max-concurrency). Rate mode: the in-flight cap (arrivals beyond it are dropped and counted, never delayed).").IntVar(&o.concurrency)
	cmd.Flag("max-concurrency", "Alias of --concurrency (vLLM).").Hidden().IntVar(&o.concurrency)
	cmd.Flag("vus", "Alias of --concurrency (inference-benchmarker).").Hidden().IntVar(&o.concurrency)
	cmd.Flag("duration", "Measured time of each step (default 60s, or unlimited with --num-requests).").StringVar(&o.duration)
	cmd.Flag("warmup", "Load sent before measuring, left out of the results.").Default("0s").StringVar(&o.warmup)
	cmd.Flag("gpu-sample-interval", "Sample this machine's GPUs (NVML) into the result this often, for a bench run on the GPU host (0 disables; nothing is sampled without a GPU).").Default("1s").DurationVar(&o.gpuEvery)
	cmd.Flag("drain", "Longest wait for a step's requests after its last arrival before they are cut and counted as failures (default: the step duration, at least 5s).").StringVar(&o.drain)
	cmd.Flag("dataset", "Prompts file: JSON lines (*.jsonl: a string, {\"prompt\": ...}, {\"messages\": [...]} or a message list per line) or ShareGPT JSON.").StringVar(&o.dataset)
	cmd.Flag("dataset-file", "Alias of --dataset (inference-benchmarker).").Hidden().StringVar(&o.dataset)
	cmd.Flag("input-tokens", "Synthetic prompts of about this many tokens.").IntVar(&o.inputTokens)
	cmd.Flag("prompt", "A fixed prompt (each request still gets a unique prefix, so the server's prefix cache cannot serve it).").StringVar(&o.prompt)
	cmd.Flag("decode-options", `Output lengths, as inference-benchmarker: "num_tokens=80,max_tokens=100,min_tokens=60,variance=10".`).StringVar(&o.decodeOptions)
	cmd.Flag("json", "Print the result as JSON on stdout instead of the table.").BoolVar(&o.jsonOut)
	cmd.Flag("result-file", "Save the JSON result to this file.").StringVar(&o.resultFile)
	cmd.Flag("timeline-file", "Save every request (scheduled and actual start, TTFT, end, tokens, result) as JSON lines to this file.").StringVar(&o.timelineFile)
	cmd.Flag("data-dir", "Also archive the run (result and timeline) in this llmprobe data directory.").StringVar(&o.dataDir)
	cmd.Flag("timeout", "Timeout of one request.").Default("60s").DurationVar(&o.timeout)
	cmd.Flag("max-in-flight", "Cap on concurrent requests; open-loop arrivals beyond it are dropped and counted as failures.").Default(strconv.Itoa(load.DefaultMaxInFlight)).IntVar(&o.maxInFlight)
	cmd.Flag("stop-error-ratio", "Stop the run once a step's error ratio exceeds this.").Default(strconv.FormatFloat(load.DefaultStopErrorRatio, 'g', -1, 64)).Float64Var(&o.stopErrorRatio)
	cmd.Flag("error-ratio", "Largest error ratio a sweep step may have to count towards the detected max throughput (0: not checked).").Default("0").Float64Var(&o.errorRatio)
	cmd.Flag("goodput", `Per-request SLO for goodput, vLLM style, in ms: "ttft:200,tpot:50" (keys ttft, itl, tpot, e2el); repeatable.`).StringsVar(&o.goodput)
	cmd.Flag("ignore-eos", "The server supports vLLM's min_tokens and ignore_eos: send them, so output lengths are forced, not only capped.").BoolVar(&o.ignoreEOS)
	cmd.Flag("insecure-skip-verify", "Do not verify the server's TLS certificate.").BoolVar(&o.insecure)
	cmd.Flag("seed", "Seed of prompts, output lengths and Poisson arrivals.").Default("0").Int64Var(&o.seed)
	cmd.Flag("lag-threshold", "Schedule lag p99 above which the result says the client was the bottleneck.").Default(load.DefaultLagThreshold.String()).DurationVar(&o.lagThreshold)
	cmd.Flag("progress", "Live progress on stderr: auto (a refreshed line on a terminal, a plain line every 5s otherwise), always, never.").Default("auto").EnumVar(&o.progress, "auto", "always", "never")
	return o
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
			if err != nil || !(v > 0) {
				return nil, fmt.Errorf("--rates: %q is not a positive number", f)
			}
			rates = append(rates, v)
		}
	}
	return rates, nil
}

// parseGoodput reads vLLM-style "ttft:200,tpot:50" objectives (ms).
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
// workload.
func benchPlan(o *benchOptions) (load.Options, probe.Endpoint, config.Workload, error) {
	var lo load.Options
	var errs []error
	rates, err := parseRates(o.rates)
	errs = append(errs, err)
	slo, err := parseGoodput(o.goodput)
	errs = append(errs, err)
	decode, err := config.ParseDecodeOptions(o.decodeOptions)
	if err != nil {
		errs = append(errs, fmt.Errorf("--decode-options: %w", err))
	}
	defDuration := time.Minute
	if o.numRequests > 0 {
		defDuration = 0
	}
	duration, err := parseDurationFlag("duration", o.duration, defDuration)
	errs = append(errs, err)
	warmup, err := parseDurationFlag("warmup", o.warmup, 0)
	errs = append(errs, err)
	drain, err := parseDurationFlag("drain", o.drain, 0)
	errs = append(errs, err)
	u, err := url.Parse(o.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("--url: want http(s)://host[:port][/v1], got %q", o.url))
		u = &url.URL{}
	}
	sources := 0
	for _, set := range []bool{o.dataset != "", o.inputTokens > 0, o.prompt != ""} {
		if set {
			sources++
		}
	}
	if sources > 1 {
		errs = append(errs, errors.New("give at most one of --dataset, --input-tokens and --prompt"))
	}
	errs = append(errs, checkKindFlags(o))
	if err := errors.Join(errs...); err != nil {
		return lo, probe.Endpoint{}, config.Workload{}, err
	}

	mode := o.mode
	if mode == "" {
		mode = load.ModeThroughput
		if len(rates) > 0 {
			mode = load.ModeRate
		}
	}
	lo = load.Options{
		Mode:           mode,
		Arrival:        o.arrival,
		Duration:       duration,
		NumRequests:    o.numRequests,
		Warmup:         warmup,
		Drain:          drain,
		MaxInFlight:    o.maxInFlight,
		StopErrorRatio: o.stopErrorRatio,
		SLO:            slo,
		ErrorRatio:     o.errorRatio,
		LagThreshold:   o.lagThreshold,
		Seed:           o.seed,
		Name:           "bench",
		Phase:          "bench",
		Target:         u.Host,
		Model:          o.model,
		Kind:           o.kind,
	}
	switch mode {
	case load.ModeRate:
		lo.Rates = rates
		if o.concurrency > 0 {
			lo.MaxInFlight = o.concurrency
		}
	case load.ModeThroughput:
		lo.VUs = max(o.concurrency, 1)
		lo.MaxInFlight = max(lo.MaxInFlight, lo.VUs)
	case load.ModeSweep:
		lo.MaxVUs, lo.NumRates = o.maxVUs, o.numRates
		lo.MaxInFlight = max(lo.MaxInFlight, lo.MaxVUs)
	}
	if mode != load.ModeRate && len(rates) > 0 {
		return lo, probe.Endpoint{}, config.Workload{}, fmt.Errorf("--rates is for rate mode, not %s", mode)
	}

	w := config.Workload{
		Name:         "bench",
		Prompt:       o.prompt,
		InputTokens:  o.inputTokens,
		Dataset:      o.dataset,
		OutputTokens: decode,
		PrefixCache:  config.PrefixCacheCold,
		Seed:         o.seed,
		Tokenizer:    o.tokenizer,
		BatchSize:    o.batchSize,
		Dimensions:   o.dimensions,
		Documents:    o.documents,
		Query:        o.query,
		Images:       o.images,
	}
	if sources == 0 {
		w.Prompt = config.DefaultPrompt
	}
	prompt := "fixed"
	switch {
	case w.Dataset != "":
		prompt = "dataset"
	case w.InputTokens > 0:
		prompt = "synthetic"
	}
	lo.Workload = load.WorkloadInfo{
		Name: w.Name, Prompt: prompt, Dataset: w.Dataset, InputTokens: w.InputTokens, PrefixCache: w.PrefixCache,
		Output: load.DecodeOptions{NumTokens: decode.NumTokens, MaxTokens: decode.MaxTokens, MinTokens: decode.MinTokens, Variance: decode.Variance},
	}
	ep := probe.Endpoint{
		Name:               u.Host,
		URL:                o.url,
		Model:              o.model,
		Kind:               o.kind,
		APIKey:             o.apiKey,
		Timeout:            o.timeout,
		Stream:             true,
		SupportsMinTokens:  o.ignoreEOS,
		InsecureSkipVerify: o.insecure,
		RerankPath:         o.rerankPath,
	}
	return lo, ep, w, nil
}

// checkKindFlags checks the flags of the vision, embeddings and rerank
// kinds.
func checkKindFlags(o *benchOptions) error {
	var errs []error
	switch {
	case o.kind == config.KindVision && len(o.images) == 0:
		errs = append(errs, errors.New("--kind vision needs at least one --image"))
	case o.kind != config.KindVision && len(o.images) > 0:
		errs = append(errs, errors.New("--image is only sent with --kind vision"))
	}
	if o.kind == config.KindEmbeddings {
		if o.batchSize < 1 || o.batchSize > config.MaxBatchSize {
			errs = append(errs, fmt.Errorf("--batch-size: must be between 1 and %d", config.MaxBatchSize))
		}
		if o.dimensions < 0 || o.dimensions > config.MaxDimensions {
			errs = append(errs, fmt.Errorf("--dimensions: must be between 0 and %d", config.MaxDimensions))
		}
	}
	if o.kind == config.KindRerank {
		if o.documents < 1 || o.documents > config.MaxDocuments {
			errs = append(errs, fmt.Errorf("--documents: must be between 1 and %d", config.MaxDocuments))
		}
		if !strings.HasPrefix(o.rerankPath, "/") || strings.ContainsAny(o.rerankPath, "?# ") {
			errs = append(errs, fmt.Errorf("--rerank-path: want a path such as /v1/rerank, got %q", o.rerankPath))
		}
	}
	if o.tokenizer != "" && o.inputTokens <= 0 {
		errs = append(errs, errors.New("--tokenizer sizes --input-tokens prompts: give --input-tokens too"))
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
	gen, err := workload.NewForKind(&w, o.kind)
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

	var sinks multiSink
	var timeline *os.File
	var jsonl *load.JSONLSink
	if o.timelineFile != "" {
		if timeline, err = os.Create(o.timelineFile); err != nil {
			fmt.Fprintf(g.stderr, "llmprobe bench: %v\n", err)
			return exitError
		}
		defer timeline.Close()
		jsonl = load.NewJSONLSink(timeline)
		sinks = append(sinks, jsonl)
	}
	var aw *archive.Writer
	if o.dataDir != "" {
		arch, err := archive.Open(o.dataDir, archive.Retention{})
		if err == nil {
			aw, err = arch.Begin(lo.Name, lo.Target, time.Now())
		}
		if err != nil {
			fmt.Fprintf(g.stderr, "llmprobe bench: %v\n", err)
			return exitError
		}
		sinks = append(sinks, aw)
	}
	if len(sinks) > 0 {
		lo.Sink = sinks
	}
	runner, err := load.New(client, gen, lo, load.Hooks{})
	if err != nil {
		if aw != nil {
			aw.Abort()
		}
		fmt.Fprintf(g.stderr, "llmprobe bench: %v\n", err)
		return exitError
	}
	lo = runner.Options()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := g.sigs
	if sigs == nil {
		sigs = make(chan os.Signal, 1)
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(sigs)
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
	var gpuSampler load.GPUSampler
	if o.gpuEvery > 0 {
		// Quietly: most bench runs are on machines without a GPU.
		gc := gpu.New(slog.New(slog.DiscardHandler), gpu.Options{})
		defer gc.Close()
		gpuSampler = gc
	}
	stopGPU := load.SampleGPU(gpuSampler, o.gpuEvery)
	res := runner.Run(ctx)
	res.GPU = stopGPU()
	stopProgress()

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
	if aw != nil {
		if err := aw.Commit(res); err != nil {
			fmt.Fprintf(g.stderr, "llmprobe bench: %v\n", err)
			code = max(code, exitError)
		} else {
			fmt.Fprintf(g.stderr, "llmprobe bench: archived as %s in %s\n", res.ID, o.dataDir)
		}
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	b = append(b, '\n')
	if o.resultFile != "" {
		if err := writeFileAtomic(o.resultFile, b); err != nil {
			fmt.Fprintf(g.stderr, "llmprobe bench: %v\n", err)
			code = max(code, exitError)
		}
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

// redactURL drops credentials from a URL before it is printed.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return "the server"
}

func describePlan(o *load.Options) string {
	var b strings.Builder
	switch o.Mode {
	case load.ModeRate:
		fmt.Fprintf(&b, "rate mode, %s arrivals at %s req/s", o.Arrival, joinFloats(o.Rates))
	case load.ModeThroughput:
		fmt.Fprintf(&b, "throughput mode, %d users", o.VUs)
	case load.ModeSweep:
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

// writeFileAtomic writes path through a temporary file and a rename, so an
// interrupted write never leaves half a result.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
	return err
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
	printErrors(w, s, row)
	if g := res.GPU; g != nil {
		fmt.Fprintln(w, center("GPU (this machine)", 50, '-'))
		for _, d := range g.Summary.Devices {
			row(fmt.Sprintf("GPU %d peak VRAM (GiB):", d.Index), float64(d.PeakMemoryUsedBytes)/(1<<30))
			row(fmt.Sprintf("GPU %d mean utilization (%%):", d.Index), 100*d.MeanUtilizationRatio)
		}
	}
	fmt.Fprintln(w, strings.Repeat("=", 50))
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
	fmt.Fprintln(w, strings.Repeat("=", 50))
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
