package cli

// The flags of the tools bench's users paste command lines from, with
// those tools' meanings and defaults: vLLM's `bench serve`
// (vllm/benchmarks/serve.py), GPUStack's benchmarks/benchmark_serving.py
// and Hugging Face's inference-benchmarker (src/main.rs, src/profiles.rs).
// benchPlan resolves every setting from whichever spelling was given.

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	commoncfg "github.com/prometheus/common/config"
	prommodel "github.com/prometheus/common/model"

	"github.com/llmprobe/llmprobe/compat"
	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/dataset"
	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/probe"
	"github.com/llmprobe/llmprobe/tokenizer"
	"github.com/llmprobe/llmprobe/workload"
)

// benchExtras is what benchPlan decides beyond load.Options, the endpoint
// and the workload.
type benchExtras struct {
	// notes are printed before the run: the other tool's defaults that
	// apply, files found in the Hugging Face cache, prompts prepared.
	notes []string
	// prompts, when set, replace the workload's dataset file: prompts cut
	// or filtered by --prompt-options, or read from an
	// inference-benchmarker dataset.
	prompts []dataset.Entry
	// datasetShown is the dataset as the result's context names it.
	datasetShown string
	// resultDir is --result-dir, created before the run.
	resultDir string
	// savePath is where --save-result saves (it sets o.resultFile).
	savePath string
	// native is the format of the tool whose flags were used when no
	// --result-format was given: the file that tool would have written
	// holds its shape, so its scripts and plots read it unchanged, and
	// llmprobe's own result goes beside it (ownPath).
	native, ownPath string
	// formats are the other tools' result formats to write, with what
	// they record and the per-request samples they need.
	formats []string
	compat  compat.Config
	samples *compat.Samples
}

// Defaults of the tools, applied when their flags are used
// (inference-benchmarker src/main.rs, GPUStack benchmark_serving.py's
// argparse, vLLM serve.py's add_cli_args and datasets).
const (
	ibDefaultURL      = "http://localhost:8000"
	ibDefaultMaxVUs   = 128
	ibDefaultDuration = 120 * time.Second
	ibDefaultWarmup   = 30 * time.Second
	// ibDefaultDataset is inference-benchmarker's --dataset, the Hugging
	// Face dataset its --dataset-file names a file of.
	ibDefaultDataset     = "hlarcher/inference-benchmarker"
	ibDefaultDatasetFile = "share_gpt_filtered_small.json"

	gpustackDefaultURL         = "http://127.0.0.1"
	gpustackDefaultRequests    = 100
	gpustackDefaultConcurrency = 10
	gpustackDefaultMaxTokens   = 1024
	gpustackDefaultTimeout     = 300 * time.Second

	vllmDefaultURL       = "http://127.0.0.1:8000"
	vllmDefaultPrompts   = 1000
	vllmDefaultInputLen  = 1024
	vllmDefaultOutputLen = 128

	benchDefaultTimeout = 60 * time.Second
)

// toolFlags are the flags only one tool has: using one applies that tool's
// defaults. llmprobe's own flags (and those every tool shares, such as
// --url or --model) mix with any.
var toolFlags = []struct {
	tool  string
	flags []string
}{
	{toolIB, []string{"tokenizer-name", "model-name", "benchmark-kind", "profile", "prompt-options", "no-console"}},
	{toolGPUStack, []string{"server-url", "embeddings", "max-completion-tokens", "request-timeout"}},
	// --burstiness is vLLM's, and llmprobe's for gamma arrivals: it mixes
	// with any.
	{toolVLLM, []string{"base-url", "endpoint", "backend", "request-rate", "num-prompts", "max-concurrency",
		"dataset-name", "dataset-path", "random-input-len", "random-output-len", "save-result", "result-dir", "result-filename",
		"percentile-metrics", "metric-percentiles"}},
}

// given reports whether the tool-specific flag name was given.
func (o *benchOptions) given(name string) bool {
	switch name {
	case "tokenizer-name":
		return o.tokenizerName != ""
	case "model-name":
		return o.modelName != ""
	case "benchmark-kind":
		return o.benchmarkKind != ""
	case "profile":
		return o.profile != ""
	case "prompt-options":
		return o.promptOptions != ""
	case "no-console":
		return o.noConsole
	case "server-url":
		return o.serverURL != ""
	case "embeddings":
		return o.embeddings
	case "max-completion-tokens":
		return o.maxCompletionTokens != 0
	case "request-timeout":
		return o.requestTimeout != ""
	case "base-url":
		return o.baseURL != ""
	case "endpoint":
		return o.endpoint != ""
	case "backend":
		return o.backend != ""
	case "request-rate":
		return o.requestRate != ""
	case "burstiness":
		return o.burstiness != ""
	case "num-prompts":
		return o.numPrompts != 0
	case "max-concurrency":
		return o.maxConcurrency != 0
	case "dataset-name":
		return o.datasetName != ""
	case "dataset-path":
		return o.datasetPath != ""
	case "random-input-len":
		return o.randomInputLen != 0
	case "random-output-len":
		return o.randomOutputLen != 0
	case "save-result":
		return o.saveResult
	case "result-dir":
		return o.resultDir != ""
	case "result-filename":
		return o.resultFilename != ""
	case "percentile-metrics":
		return o.percentileMetrics != ""
	case "metric-percentiles":
		return o.metricPercentiles != ""
	}
	return false
}

// planner resolves the flags into a run.
type planner struct {
	o    *benchOptions
	x    *benchExtras
	tool string // whose flags are used: toolIB, toolGPUStack, toolVLLM or ""
	prof *ibProfile
	errs []error

	u  *url.URL
	ep probe.Endpoint
	// Resolved along the way, for the result formats.
	numRequests   int
	rateInf       bool
	burstInf      bool
	tokenizerPath string
	promptOpts    *promptOptions
	decodeGiven   string // the decode options as given ("" for the defaults)
	maxTokens     int    // GPUStack's --max-completion-tokens as it applies
}

func (p *planner) fail(err error) {
	if err != nil {
		p.errs = append(p.errs, err)
	}
}

func (p *planner) failf(format string, a ...any) { p.errs = append(p.errs, fmt.Errorf(format, a...)) }

func (p *planner) note(format string, a ...any) {
	p.x.notes = append(p.x.notes, fmt.Sprintf(format, a...))
}

// dialect returns the tool whose flags are used; flags of two tools are an
// error, since their defaults differ.
func (p *planner) dialect() string {
	var tools, seen []string
	for _, t := range toolFlags {
		for _, f := range t.flags {
			if p.o.given(f) {
				tools = append(tools, t.tool)
				seen = append(seen, "--"+f+" ("+t.tool+")")
				break
			}
		}
	}
	if len(tools) > 1 {
		p.failf("%s come from different tools, whose defaults differ: use one tool's flags (llmprobe's own mix with any)", strings.Join(seen, " and "))
	}
	if len(tools) == 0 {
		return ""
	}
	return tools[0]
}

// spelling is one flag giving a setting: the flag as shown, the value it
// stands for (comparable) and the value as shown. A zero spelling was not
// given.
type spelling struct {
	flag string
	val  any
	show string
}

func sp(given bool, flag string, val any, show string) spelling {
	if !given {
		return spelling{}
	}
	return spelling{flag, val, show}
}

// one returns the setting the given spellings agree on; two spellings with
// different values are an error.
func (p *planner) one(setting string, ss ...spelling) (spelling, bool) {
	var got []spelling
	for _, s := range ss {
		if s.flag != "" {
			got = append(got, s)
		}
	}
	if len(got) == 0 {
		return spelling{}, false
	}
	for _, s := range got[1:] {
		if s.val != got[0].val {
			p.failf("%s and %s both set %s: give one of them (or the same value)", got[0], s, setting)
			break
		}
	}
	return got[0], true
}

// String shows the flag with its value, as given.
func (s spelling) String() string {
	if s.show == "" {
		return s.flag
	}
	return s.flag + " " + s.show
}

// ibProfile is one of inference-benchmarker's --profile presets
// (src/profiles.rs): all are sweeps of 128 users and 10 rates, 120 s steps
// after 30 s warmup, over a file of its hlarcher/inference-benchmarker
// dataset.
type ibProfile struct {
	name        string
	datasetFile string
	prompt      *promptOptions // nil: prompts as the dataset has them
	decode      string
	// multiTurn: inference-benchmarker replays each conversation's later
	// turns, prefixed with the model's answers.
	multiTurn bool
}

func intp(v int) *int { return &v }

var ibProfiles = []ibProfile{
	{name: "chat", datasetFile: "share_gpt_turns.json", decode: "num_tokens=800,min_tokens=50,max_tokens=800,variance=100", multiTurn: true},
	{name: "code-generation", datasetFile: "github_code.json", prompt: &promptOptions{num: intp(4096), min: 3000, max: 6000, variance: 1000},
		decode: "num_tokens=50,min_tokens=30,max_tokens=80,variance=10"},
	{name: "classification", datasetFile: "classification.json", prompt: &promptOptions{num: intp(10000), min: 8000, max: 12000, variance: 5000},
		decode: "num_tokens=50,min_tokens=30,max_tokens=80,variance=10"},
	{name: "fixed-length", datasetFile: "share_gpt_0_turns.json", prompt: &promptOptions{num: intp(200), min: 200, max: 200},
		decode: "num_tokens=800,min_tokens=50,max_tokens=800,variance=100"},
}

// resolveProfile applies --profile's rules: it excludes the benchmark kind
// (inference-benchmarker's clap groups refuse the two together) and rates
// (its presets have none).
func (p *planner) resolveProfile() {
	o := p.o
	if o.profile == "" {
		return
	}
	var names []string
	for i := range ibProfiles {
		names = append(names, ibProfiles[i].name)
		if ibProfiles[i].name == o.profile {
			p.prof = &ibProfiles[i]
		}
	}
	if p.prof == nil {
		p.failf("--profile: unknown profile %q (inference-benchmarker's are %s)", o.profile, strings.Join(names, ", "))
		return
	}
	if o.benchmarkKind != "" || o.mode != "" {
		flag := "--benchmark-kind"
		if o.benchmarkKind == "" {
			flag = "--mode"
		}
		p.failf("%s cannot be used with --profile (inference-benchmarker refuses the two together; its profile %s sets the kind: sweep)", flag, o.profile)
	}
	if len(o.rates) > 0 || o.requestRate != "" {
		p.failf("--rates cannot be used with --profile (its profile %s is a sweep, whose rates come from the measured maximum)", o.profile)
	}
	if p.prof.multiTurn {
		p.note("--profile %s: inference-benchmarker sends each conversation's later turns with the model's answers prepended; llmprobe sends every conversation's first user turn (with its system message), so multi-turn prefix caching is not reproduced", o.profile)
	}
}

// normURL is a base URL as probe uses it: no trailing slash or /v1.
func normURL(s string) string {
	s = strings.TrimRight(s, "/")
	return strings.TrimRight(strings.TrimSuffix(s, "/v1"), "/")
}

// apiPaths are the paths llmprobe sends each kind to (probe's endpointURL).
var apiPaths = []struct {
	suffix string
	kind   probe.Kind
}{
	{"/v1/chat/completions", config.KindChat},
	{"/v1/completions", config.KindCompletions},
	{"/v1/embeddings", config.KindEmbeddings},
}

// parseEndpoint reads vLLM's --endpoint: the kind it is, the part of the
// path before llmprobe's API path (a proxy prefix), and for rerank the path
// itself.
func parseEndpoint(ep string) (kind probe.Kind, prefix, rerankPath string, err error) {
	if !strings.HasPrefix(ep, "/") || strings.ContainsAny(ep, "?# ") {
		return "", "", "", fmt.Errorf("--endpoint: want an API path such as /v1/completions, got %q", ep)
	}
	for _, a := range apiPaths {
		if pre, ok := strings.CutSuffix(ep, a.suffix); ok {
			return a.kind, pre, "", nil
		}
	}
	if strings.HasSuffix(ep, "/rerank") {
		return config.KindRerank, "", ep, nil
	}
	return "", "", "", fmt.Errorf("--endpoint %s: llmprobe sends /v1/completions, /v1/chat/completions, /v1/embeddings or a rerank path (/v1/rerank, /rerank, /v2/rerank)", ep)
}

// vllmBackends maps vLLM's --backend values that speak these APIs to kinds.
var vllmBackends = map[string]probe.Kind{
	"openai": config.KindCompletions, "vllm": config.KindCompletions, "openai-chat": config.KindChat,
	"openai-embeddings": config.KindEmbeddings, "vllm-rerank": config.KindRerank,
}

// sameAPI treats vision as chat: it is chat with images.
func sameAPI(k probe.Kind) probe.Kind {
	if k == config.KindVision {
		return config.KindChat
	}
	return k
}

// parseSeconds reads GPUStack's --request-timeout: whole seconds, or a
// duration.
func parseSeconds(flag, s string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(s, 64); err == nil && n > 0 && !math.IsInf(n, 0) {
		return time.Duration(n * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("--%s: %q is not a number of seconds or a duration", flag, s)
	}
	return d, nil
}

// resolveTarget resolves the server URL, the kind, the model and the
// request timeout.
func (p *planner) resolveTarget() {
	o := p.o
	var kindEP probe.Kind
	var prefix, rerankEP string
	if o.endpoint != "" {
		var err error
		kindEP, prefix, rerankEP, err = parseEndpoint(o.endpoint)
		p.fail(err)
	}
	uSp, ok := p.one("the server URL",
		sp(o.url != "", "--url", normURL(o.url), o.url),
		sp(o.baseURL != "", "--base-url", normURL(o.baseURL+prefix), o.baseURL),
		sp(o.serverURL != "", "--server-url", normURL(o.serverURL), o.serverURL))
	raw := ""
	if ok {
		raw = uSp.val.(string)
	} else {
		def := map[string]string{toolIB: ibDefaultURL, toolGPUStack: gpustackDefaultURL, toolVLLM: vllmDefaultURL}[p.tool]
		if def == "" {
			p.failf("--url is required (or --base-url, --server-url)")
		} else {
			raw = def
			p.note("%s's default server: %s", p.tool, def)
		}
	}
	u, err := url.Parse(raw)
	if raw != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		p.failf("%s: want http(s)://host[:port][/v1], got %q", uSp.flag, uSp.show)
	}
	if err != nil || u == nil {
		u = &url.URL{}
	}
	p.u = u

	var kinds []spelling
	if o.kind != "" {
		kinds = append(kinds, spelling{"--kind", sameAPI(o.kind), string(o.kind)})
	}
	kinds = append(kinds, sp(o.embeddings, "--embeddings", config.KindEmbeddings, ""))
	kinds = append(kinds, sp(kindEP != "", "--endpoint", kindEP, o.endpoint))
	if o.backend != "" {
		k, ok := vllmBackends[o.backend]
		if !ok {
			p.failf("--backend %s: llmprobe speaks openai or vllm (completions), openai-chat, openai-embeddings and vllm-rerank", o.backend)
		}
		kinds = append(kinds, sp(ok, "--backend", k, o.backend))
	}
	kind := config.KindChat
	if k, ok := p.one("the kind", kinds...); ok {
		kind = k.val.(probe.Kind)
		if o.kind == config.KindVision {
			kind = config.KindVision
		}
	} else if p.tool == toolVLLM {
		kind = config.KindCompletions
		p.note("vLLM's default endpoint: /v1/completions")
	}

	rerank := probe.DefaultRerankPath
	if r, ok := p.one("the rerank path", sp(o.rerankPath != "", "--rerank-path", o.rerankPath, o.rerankPath),
		sp(rerankEP != "", "--endpoint", rerankEP, rerankEP)); ok {
		rerank = r.val.(string)
		if kind != config.KindRerank {
			p.failf("%s %s is for --kind rerank", r.flag, r.show)
		}
	}
	if kind == config.KindRerank && (!strings.HasPrefix(rerank, "/") || strings.ContainsAny(rerank, "?# ")) {
		p.failf("--rerank-path: want a path such as /v1/rerank, got %q", rerank)
	}

	model := ""
	if m, ok := p.one("the model", sp(o.model != "", "--model", o.model, o.model), sp(o.modelName != "", "--model-name", o.modelName, o.modelName)); ok {
		model = m.val.(string)
	} else if o.tokenizerName != "" {
		// inference-benchmarker: "If not provided, the same name as the
		// tokenizer will be used."
		model = o.tokenizerName
	} else {
		p.failf("--model is required (or --model-name)")
	}

	timeout := benchDefaultTimeout
	var ts []spelling
	if o.timeout != "" {
		d, err := parseDurationFlag("timeout", o.timeout, 0)
		p.fail(err)
		ts = append(ts, sp(err == nil, "--timeout", d, o.timeout))
	}
	if o.requestTimeout != "" {
		d, err := parseSeconds("request-timeout", o.requestTimeout)
		p.fail(err)
		ts = append(ts, sp(err == nil, "--request-timeout", d, o.requestTimeout))
	}
	if t, ok := p.one("the request timeout", ts...); ok {
		timeout = t.val.(time.Duration)
		if timeout <= 0 {
			p.failf("%s: must be positive", t.flag)
		}
	} else if p.tool == toolGPUStack {
		timeout = gpustackDefaultTimeout
	}

	// bench's target is a config target, made into an endpoint the way
	// the daemon makes its targets (config/runtime.go).
	stream := true
	t := config.Target{
		Name: u.Host, URL: raw, Model: model, Kind: kind, APIKey: commoncfg.Secret(o.apiKey), Timeout: prommodel.Duration(timeout),
		Stream: &stream, InsecureSkipVerify: o.insecure, RerankPath: rerank,
	}
	p.ep = t.Endpoint()
}

// resolveLoad resolves the mode, rates, arrivals, users, caps, counts and
// durations.
func (p *planner) resolveLoad() load.Options {
	o := p.o
	var lo load.Options
	rates, err := parseRates(o.rates)
	p.fail(err)
	var rr float64
	if o.requestRate != "" {
		if len(o.rates) > 0 {
			p.failf("give one of --rates and --request-rate")
		}
		switch v, err := strconv.ParseFloat(o.requestRate, 64); {
		case strings.EqualFold(o.requestRate, "inf"):
			p.rateInf = true
		case err != nil || !(v > 0) || math.IsInf(v, 0):
			p.failf("--request-rate: %q is not a positive number or inf", o.requestRate)
		default:
			rr = v
			rates = []float64{v}
		}
	}
	if p.tool == toolVLLM && o.requestRate == "" && len(rates) == 0 && o.mode == "" && o.duration == "" {
		p.rateInf = true // vLLM's default --request-rate
	}

	var modes []spelling
	modes = append(modes, sp(o.mode != "", "--mode", o.mode, o.mode))
	if o.benchmarkKind != "" {
		k := strings.ToLower(o.benchmarkKind)
		if k != load.ModeRate && k != load.ModeThroughput && k != load.ModeSweep {
			// inference-benchmarker runs a sweep for any other value; a
			// typo must not silently become a sweep.
			p.failf("--benchmark-kind: %q is not rate, throughput or sweep", o.benchmarkKind)
		} else {
			modes = append(modes, spelling{"--benchmark-kind", k, o.benchmarkKind})
		}
	}
	modes = append(modes, sp(p.rateInf && o.requestRate != "", "--request-rate", load.ModeThroughput, "inf"))
	mode := load.ModeThroughput
	if m, ok := p.one("the mode", modes...); ok {
		mode = m.val.(string)
	} else {
		switch {
		case p.prof != nil:
			mode = load.ModeSweep
		case len(rates) > 0:
			mode = load.ModeRate
		case p.tool == toolIB:
			mode = load.ModeSweep
			p.note("inference-benchmarker's default --benchmark-kind: sweep")
		}
	}
	if mode != load.ModeRate && len(rates) > 0 {
		p.failf("--rates is for rate mode, not %s", mode)
	}
	// Rate mode without rates may be a ramp's: bencharrivals.go checks.
	lo.Mode = mode
	if mode == load.ModeRate {
		lo.Rates = rates
	}

	// Arrivals: --burstiness is vLLM's gamma shape (1 Poisson, inf
	// constant spacing), and with --arrival gamma llmprobe's.
	var arrivals []spelling
	arrivals = append(arrivals, sp(o.arrival != "", "--arrival", o.arrival, o.arrival))
	shape := 0.0
	if o.burstiness != "" {
		switch b, err := strconv.ParseFloat(o.burstiness, 64); {
		case err == nil && b == 1 && o.arrival != load.ArrivalGamma:
			arrivals = append(arrivals, spelling{"--burstiness", load.ArrivalPoisson, o.burstiness})
		case err == nil && math.IsInf(b, 1):
			p.burstInf = true
			arrivals = append(arrivals, spelling{"--burstiness", load.ArrivalConstant, o.burstiness})
		case err == nil && b > 0:
			shape = b
			arrivals = append(arrivals, spelling{"--burstiness", load.ArrivalGamma, o.burstiness})
		default:
			p.failf("--burstiness: %q is not a positive number or inf", o.burstiness)
		}
	}
	lo.Arrival = load.ArrivalConstant
	if a, ok := p.one("the arrival process", arrivals...); ok {
		lo.Arrival = a.val.(string)
		// Whether the final mode has arrivals to space is checked once a
		// ramp or a trace has shaped it (bencharrivals.go).
	} else if rr > 0 {
		lo.Arrival = load.ArrivalPoisson // vLLM's --burstiness 1
	}
	if lo.Arrival == load.ArrivalGamma {
		if shape == 0 && o.burstiness == "" {
			p.failf("--arrival gamma needs --burstiness, the gamma shape (1 is Poisson, below 1 burstier, above 1 more regular)")
		}
		lo.Burstiness = shape
	}

	// Counts.
	if n, ok := p.one("the number of requests", sp(o.numRequests != 0, "--num-requests", o.numRequests, strconv.Itoa(o.numRequests)),
		sp(o.numPrompts != 0, "--num-prompts", o.numPrompts, strconv.Itoa(o.numPrompts))); ok {
		p.numRequests = n.val.(int)
	} else if o.duration == "" {
		switch p.tool {
		case toolGPUStack:
			p.numRequests = gpustackDefaultRequests
			p.note("GPUStack's default --num-requests: %d", gpustackDefaultRequests)
		case toolVLLM:
			p.numRequests = vllmDefaultPrompts
			p.note("vLLM's default --num-prompts: %d", vllmDefaultPrompts)
		}
	}
	if p.numRequests < 0 {
		p.failf("--num-requests: must be positive")
	}
	lo.NumRequests = p.numRequests

	// Durations.
	ib := p.tool == toolIB
	defDuration := time.Minute
	switch {
	case lo.NumRequests > 0:
		defDuration = 0
	case ib:
		defDuration = ibDefaultDuration
	}
	var err2 error
	lo.Duration, err2 = parseDurationFlag("duration", o.duration, defDuration)
	p.fail(err2)
	defWarmup := time.Duration(0)
	if ib && o.warmup == "" {
		defWarmup = ibDefaultWarmup
	}
	lo.Warmup, err2 = parseDurationFlag("warmup", o.warmup, defWarmup)
	p.fail(err2)
	lo.Drain, err2 = parseDurationFlag("drain", o.drain, 0)
	p.fail(err2)
	if ib && (o.duration == "" || o.warmup == "") && lo.NumRequests == 0 {
		p.note("inference-benchmarker's defaults: %s steps after %s warmup", lo.Duration, lo.Warmup)
	}
	if o.maxInFlight < 0 || o.maxVUs < 0 || o.concurrency < 0 || o.maxConcurrency < 0 || o.vus < 0 || o.numRates < 0 {
		p.failf("--max-in-flight, --max-vus, --concurrency, --max-concurrency, --vus and --num-rates must not be negative")
	}

	// Users and caps, per mode.
	conc := sp(o.concurrency != 0, "--concurrency", o.concurrency, strconv.Itoa(o.concurrency))
	maxConc := sp(o.maxConcurrency != 0, "--max-concurrency", o.maxConcurrency, strconv.Itoa(o.maxConcurrency))
	vus := sp(o.vus != 0, "--vus", o.vus, strconv.Itoa(o.vus))
	maxVUs := sp(o.maxVUs != 0, "--max-vus", o.maxVUs, strconv.Itoa(o.maxVUs))
	inflight := sp(o.maxInFlight != 0, "--max-in-flight", o.maxInFlight, strconv.Itoa(o.maxInFlight))
	switch mode {
	case load.ModeThroughput:
		if u, ok := p.one("the number of users", conc, maxConc, vus, maxVUs); ok {
			lo.VUs = u.val.(int)
		} else {
			switch {
			case p.tool == toolGPUStack:
				lo.VUs = gpustackDefaultConcurrency
				p.note("GPUStack's default --concurrency: %d", lo.VUs)
			case ib:
				lo.VUs = ibDefaultMaxVUs
				p.note("inference-benchmarker's default --max-vus: %d", lo.VUs)
			case p.rateInf:
				// vLLM's --request-rate inf: every request at once.
				lo.VUs = lo.NumRequests
				if lo.VUs == 0 {
					p.failf("--request-rate inf sends --num-prompts requests at once: give --num-prompts (or --max-concurrency users)")
				}
			default:
				lo.VUs = 1
			}
		}
		lo.MaxInFlight = o.maxInFlight
		if lo.MaxInFlight == 0 {
			lo.MaxInFlight = max(load.DefaultMaxInFlight, lo.VUs)
		}
	case load.ModeRate:
		if o.maxConcurrency != 0 {
			p.failf("--max-concurrency with a request rate: vLLM holds arrivals past the cap until a request ends, which delays them; llmprobe's open loop never delays an arrival (no coordinated omission). Use --max-in-flight N to drop and count arrivals past N, or --request-rate inf --max-concurrency N for N closed-loop users")
		}
		if o.vus != 0 {
			p.failf("--vus: virtual users are for throughput mode; a rate run's cap is --max-in-flight")
		}
		if c, ok := p.one("the in-flight cap", conc, maxVUs, inflight); ok {
			lo.MaxInFlight = c.val.(int)
		} else if ib {
			lo.MaxInFlight = ibDefaultMaxVUs // inference-benchmarker caps a rate step at --max-vus
			p.note("inference-benchmarker's default --max-vus: %d in flight at most", lo.MaxInFlight)
		}
	case load.ModeSweep:
		for _, s := range []spelling{conc, maxConc, vus} {
			if s.flag != "" {
				p.failf("%s is not used in a sweep: its throughput phase has --max-vus users, its rate steps are open-loop", s.flag)
			}
		}
		lo.MaxVUs = o.maxVUs
		if lo.MaxVUs == 0 {
			lo.MaxVUs = load.DefaultMaxVUs
			if ib {
				lo.MaxVUs = ibDefaultMaxVUs
				p.note("inference-benchmarker's default --max-vus: %d", lo.MaxVUs)
			}
		}
		lo.NumRates = o.numRates
		lo.MaxInFlight = o.maxInFlight
		switch {
		case lo.MaxInFlight != 0:
		case ib:
			// inference-benchmarker caps its rate steps at --max-vus too.
			lo.MaxInFlight = lo.MaxVUs
			p.note("inference-benchmarker's rate steps: at most --max-vus (%d) in flight, arrivals past it dropped and counted", lo.MaxVUs)
		default:
			lo.MaxInFlight = max(load.DefaultMaxInFlight, lo.MaxVUs)
		}
	}
	if mode != load.ModeSweep && o.numRates != 0 {
		p.failf("--num-rates is for sweeps, not %s mode", mode)
	}
	return lo
}

// promptOptions are inference-benchmarker's --prompt-options.
type promptOptions struct {
	num                *int
	min, max, variance int // max 0: unbounded
}

func (po *promptOptions) String() string {
	var parts []string
	if po.num != nil {
		parts = append(parts, "num_tokens="+strconv.Itoa(*po.num))
	}
	if po.min > 0 {
		parts = append(parts, "min_tokens="+strconv.Itoa(po.min))
	}
	if po.max > 0 {
		parts = append(parts, "max_tokens="+strconv.Itoa(po.max))
	}
	if po.variance > 0 {
		parts = append(parts, "variance="+strconv.Itoa(po.variance))
	}
	return strings.Join(parts, ",")
}

// parsePromptOptions reads "num_tokens=200,max_tokens=220,min_tokens=180,
// variance=10" (any subset).
func parsePromptOptions(s string) (*promptOptions, error) {
	po := &promptOptions{}
	seen := map[string]bool{}
	for item := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(item), "=")
		k = strings.TrimSpace(k)
		n, err := strconv.Atoi(strings.TrimSpace(v))
		switch {
		case !ok:
			return nil, fmt.Errorf("--prompt-options: expected key=value, got %q", item)
		case err != nil || n < 0:
			return nil, fmt.Errorf("--prompt-options: %s: expected a non-negative integer, got %q", k, v)
		case seen[k]:
			return nil, fmt.Errorf("--prompt-options: %s given twice", k)
		}
		seen[k] = true
		switch k {
		case "num_tokens":
			if n == 0 {
				return nil, errors.New("--prompt-options: num_tokens must be positive")
			}
			po.num = &n
		case "min_tokens":
			po.min = n
		case "max_tokens":
			po.max = n
		case "variance":
			po.variance = n
		default:
			return nil, fmt.Errorf("--prompt-options: unknown option %q (want num_tokens, min_tokens, max_tokens or variance)", k)
		}
	}
	if po.max > 0 && po.min > po.max {
		return nil, fmt.Errorf("--prompt-options: min_tokens %d exceeds max_tokens %d", po.min, po.max)
	}
	if po.num != nil && (*po.num < po.min || (po.max > 0 && *po.num > po.max)) {
		return nil, fmt.Errorf("--prompt-options: num_tokens %d is outside min_tokens..max_tokens", *po.num)
	}
	return po, nil
}

// ibTokenize is a TokenizeOptions as inference-benchmarker's report
// writes it (nil when not given).
func ibTokenize(num, minT, maxT, variance int, numSet bool) *compat.TokenizeOptions {
	t := &compat.TokenizeOptions{MinTokens: uint64(minT), MaxTokens: math.MaxUint64, Variance: uint64(variance)}
	if maxT > 0 {
		t.MaxTokens = uint64(maxT)
	}
	if numSet {
		n := uint64(num)
		t.NumTokens = &n
	}
	return t
}

// resolveIBDataset finds inference-benchmarker's --dataset-file: a local
// file, else a file of the Hugging Face dataset repo in the local cache.
func resolveIBDataset(repo, file string, localFirst bool) (string, error) {
	if localFirst {
		if fi, err := os.Stat(file); err == nil && !fi.IsDir() {
			return file, nil
		}
	}
	p, err := tokenizer.HubFile(tokenizer.RepoDataset, repo, file)
	if err != nil {
		if localFirst {
			return "", fmt.Errorf("--dataset-file %s: no such file here, and %w", file, err)
		}
		return "", fmt.Errorf("--dataset-file %s: %w", file, err)
	}
	return p, nil
}

// resolveWorkload resolves the prompts (dataset, synthetic or fixed), the
// output lengths and the tokenizer.
func (p *planner) resolveWorkload(kind probe.Kind) config.Workload {
	o := p.o
	w := config.Workload{Name: "bench", PrefixCache: config.PrefixCacheCold, Seed: o.seed, BatchSize: o.batchSize,
		Dimensions: o.dimensions, Documents: o.documents, Query: o.query, Images: o.images, Prompt: o.prompt}

	// Tokenizer: both spellings resolve to a tokenizer.json.
	var toks []spelling
	for _, t := range []struct{ flag, name string }{{"--tokenizer", o.tokenizer}, {"--tokenizer-name", o.tokenizerName}} {
		if t.name == "" {
			continue
		}
		path, err := tokenizer.Resolve(t.name)
		if err != nil {
			p.failf("%s: %v", t.flag, err)
			continue
		}
		toks = append(toks, spelling{t.flag, path, t.name})
		if path != t.name {
			p.note("tokenizer %s: %s", t.name, path)
		}
	}
	if t, ok := p.one("the tokenizer", toks...); ok {
		p.tokenizerPath = t.val.(string)
	}

	// Prompt options: given, or the profile's.
	if o.promptOptions != "" {
		po, err := parsePromptOptions(o.promptOptions)
		p.fail(err)
		p.promptOpts = po
	} else if p.prof != nil {
		p.promptOpts = p.prof.prompt
	}

	// The dataset.
	random := false
	switch o.datasetName {
	case "":
	case "random":
		random = true
	case "sharegpt":
		if o.datasetPath == "" {
			p.failf("--dataset-name sharegpt needs --dataset-path")
		}
	default:
		p.failf("--dataset-name %s: llmprobe reads random and sharegpt (--dataset-path) datasets", o.datasetName)
	}
	if o.datasetPath != "" && o.datasetName != "sharegpt" {
		p.failf("--dataset-path is the file of --dataset-name sharegpt")
	}
	if o.randomInputLen != 0 || o.randomOutputLen != 0 {
		if o.datasetName != "" && o.datasetName != "random" {
			p.failf("--random-input-len and --random-output-len are for --dataset-name random")
		}
		random = true
	}
	var dss []spelling
	abs := func(s string) string {
		if a, err := filepath.Abs(s); err == nil {
			return a
		}
		return s
	}
	switch {
	case o.datasetFile != "" && o.dataset != "":
		// inference-benchmarker: --dataset is a Hugging Face dataset,
		// --dataset-file one of its files; a local folder works too.
		if fi, err := os.Stat(o.dataset); err == nil && fi.IsDir() {
			path := filepath.Join(o.dataset, o.datasetFile)
			dss = append(dss, spelling{"--dataset-file", abs(path), path})
		} else if path, err := resolveIBDataset(o.dataset, o.datasetFile, false); err == nil {
			dss = append(dss, spelling{"--dataset-file", abs(path), path})
			p.note("dataset %s's %s: %s", o.dataset, o.datasetFile, path)
		} else {
			p.failf("--dataset %s with --dataset-file: not a folder, and %v", o.dataset, err)
		}
	case o.datasetFile != "":
		if path, err := resolveIBDataset(ibDefaultDataset, o.datasetFile, true); err == nil {
			dss = append(dss, spelling{"--dataset-file", abs(path), path})
			if path != o.datasetFile {
				p.note("dataset %s's %s: %s", ibDefaultDataset, o.datasetFile, path)
			}
		} else {
			p.fail(err)
		}
	case o.dataset != "":
		dss = append(dss, spelling{"--dataset", abs(o.dataset), o.dataset})
	}
	dss = append(dss, sp(o.datasetPath != "", "--dataset-path", abs(o.datasetPath), o.datasetPath))
	if d, ok := p.one("the dataset", dss...); ok {
		w.Dataset = d.show
	} else if p.prof != nil {
		path, err := resolveIBDataset(ibDefaultDataset, p.prof.datasetFile, false)
		if err != nil {
			p.failf("--profile %s prompts from %s: %v", o.profile, ibDefaultDataset, err)
		} else {
			w.Dataset = path
			p.note("--profile %s: dataset %s's %s: %s", o.profile, ibDefaultDataset, p.prof.datasetFile, path)
		}
	}

	// Synthetic lengths.
	var ins []spelling
	ins = append(ins, sp(o.inputTokens != 0, "--input-tokens", o.inputTokens, strconv.Itoa(o.inputTokens)))
	ins = append(ins, sp(o.randomInputLen != 0, "--random-input-len", o.randomInputLen, strconv.Itoa(o.randomInputLen)))
	if po := p.promptOpts; po != nil && w.Dataset == "" && o.promptOptions != "" {
		if po.num == nil {
			p.failf("--prompt-options without a dataset makes synthetic prompts: give num_tokens")
		} else {
			ins = append(ins, spelling{"--prompt-options", *po.num, "num_tokens=" + strconv.Itoa(*po.num)})
			w.InputTokensStddev, w.InputTokensMin, w.InputTokensMax = po.variance, po.min, po.max
		}
	}
	if in, ok := p.one("the prompt length", ins...); ok {
		w.InputTokens = in.val.(int)
	} else if random && w.Dataset == "" && o.prompt == "" {
		w.InputTokens = vllmDefaultInputLen
		p.note("vLLM's default --random-input-len: %d", vllmDefaultInputLen)
	}
	if w.InputTokens < 0 {
		p.failf("--input-tokens: must be positive")
	}

	if random && (o.prompt != "" || w.Dataset != "") {
		p.failf("--dataset-name random makes synthetic prompts of --random-input-len tokens: drop --prompt and --dataset")
	}

	// One source of prompts.
	sources := 0
	for _, set := range []bool{w.Dataset != "", w.InputTokens > 0, o.prompt != ""} {
		if set {
			sources++
		}
	}
	if sources > 1 {
		p.failf("give at most one of --dataset, --input-tokens and --prompt (or their other tools' spellings)")
	}
	if sources == 0 {
		switch p.tool {
		case toolVLLM:
			w.InputTokens = vllmDefaultInputLen
			random = true
			p.note("vLLM's default dataset: random, %d-token prompts", vllmDefaultInputLen)
		case toolIB:
			if p.prof == nil {
				path, err := resolveIBDataset(ibDefaultDataset, ibDefaultDatasetFile, false)
				if err != nil {
					p.failf("inference-benchmarker's default prompts: %v; or give --dataset-file, --prompt or --input-tokens", err)
				} else {
					w.Dataset = path
					p.note("inference-benchmarker's default dataset %s's %s: %s", ibDefaultDataset, ibDefaultDatasetFile, path)
				}
			}
		default:
			w.Prompt = config.DefaultPrompt
		}
	}
	if w.InputTokens > 0 {
		w.Tokenizer = p.tokenizerPath
	}
	if (o.tokenizer != "" || o.tokenizerName != "") && w.InputTokens == 0 && w.Dataset == "" {
		flag := "--tokenizer"
		if o.tokenizer == "" {
			flag = "--tokenizer-name"
		}
		p.failf("%s sizes --input-tokens prompts: give --input-tokens too (or --prompt-options num_tokens=N, or a dataset whose prompts it counts); a fixed prompt has nothing to size", flag)
	}

	// Output lengths.
	var decs []spelling
	addDec := func(flag, s, show string) {
		d, err := config.ParseDecodeOptions(s)
		if err != nil {
			p.failf("%s: %v", flag, err)
			return
		}
		decs = append(decs, spelling{flag, d, show})
		p.decodeGiven = s
	}
	if o.decodeOptions != "" {
		addDec("--decode-options", o.decodeOptions, o.decodeOptions)
	}
	if o.maxCompletionTokens != 0 {
		p.maxTokens = o.maxCompletionTokens
		addDec("--max-completion-tokens", "num_tokens="+strconv.Itoa(o.maxCompletionTokens), strconv.Itoa(o.maxCompletionTokens))
	}
	if o.randomOutputLen != 0 {
		addDec("--random-output-len", "num_tokens="+strconv.Itoa(o.randomOutputLen), strconv.Itoa(o.randomOutputLen))
	}
	def := ""
	switch {
	case p.prof != nil:
		def = p.prof.decode
	case p.tool == toolGPUStack:
		def = "num_tokens=" + strconv.Itoa(gpustackDefaultMaxTokens)
		p.maxTokens = gpustackDefaultMaxTokens
	case random:
		def = "num_tokens=" + strconv.Itoa(vllmDefaultOutputLen)
	}
	if o.datasetName == "sharegpt" && len(decs) == 0 {
		p.failf("--dataset-name sharegpt: vLLM asks each prompt for its reference answer's length; llmprobe asks one length of every request: give --decode-options num_tokens=N")
	}
	if d, ok := p.one("the output lengths", decs...); ok {
		w.OutputTokens = d.val.(config.DecodeOptions)
	} else {
		d, err := config.ParseDecodeOptions(def)
		p.fail(err)
		w.OutputTokens = d
		if p.prof != nil {
			p.decodeGiven = def
		}
	}
	if p.maxTokens == 0 {
		p.maxTokens = w.OutputTokens.NumTokens
	}

	// ignore_eos: asked for, or vLLM's default for random datasets (so
	// generation runs to the requested length).
	p.ep.SupportsMinTokens = o.ignoreEOS || (random && kind != config.KindEmbeddings && kind != config.KindRerank)

	// Prompts prepared here: cut or filtered by --prompt-options, counted
	// with the tokenizer, or read from inference-benchmarker's format.
	if w.Dataset != "" && len(p.errs) == 0 {
		p.prepareDataset(w.Dataset)
	}
	return w
}

// prepareDataset reads path when llmprobe must work on its prompts before
// the run: inference-benchmarker's format (which package dataset does not
// read), --prompt-options, or a tokenizer counting them. Other datasets
// are left to the workload, which reads them itself.
func (p *planner) prepareDataset(path string) {
	entries, err := dataset.Load(path)
	if err != nil {
		ib, ibErr := readIBDataset(path)
		if ibErr != nil {
			p.fail(err) // the dataset package's error names file and line
			return
		}
		entries = ib
		p.note("dataset %s: inference-benchmarker's conversations format, %d conversations", path, len(entries))
	} else if p.promptOpts == nil && p.tokenizerPath == "" {
		return
	}
	var counter tokenizer.Counter = tokenizer.Estimate{}
	by := fmt.Sprintf("estimated at %d characters per token", tokenizer.CharsPerToken)
	if p.tokenizerPath != "" {
		tk, err := tokenizer.Load(p.tokenizerPath)
		if err != nil {
			p.fail(err)
			return
		}
		counter, by = tk, "counted with "+p.tokenizerPath
	}
	kept, dropped, lens := shapePrompts(entries, counter, p.promptOpts, p.o.seed)
	if len(kept) == 0 {
		p.failf("dataset %s: no prompt is left after --prompt-options %s (%d dropped; prompt tokens %s)", path, p.promptOpts, dropped, by)
		return
	}
	p.x.prompts = kept
	p.x.datasetShown = path
	slices.Sort(lens)
	msg := fmt.Sprintf("dataset %s: %d prompts of %d to %d tokens (median %d; %s)", path, len(kept), lens[0], lens[len(lens)-1], lens[len(lens)/2], by)
	if p.promptOpts != nil {
		msg += fmt.Sprintf(" after --prompt-options %s, %d dropped", p.promptOpts, dropped)
	}
	p.note("%s; request prompt tokens are the server's counts", msg)
}

// readIBDataset reads inference-benchmarker's dataset format: a JSON list
// of {"conversations": [{"role", "content"}]}. Each conversation's first
// user turn becomes a prompt, with the system messages before it.
func readIBDataset(path string) ([]dataset.Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var items []struct {
		Conversations []struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"conversations"`
	}
	if err := json.NewDecoder(bufio.NewReader(io.LimitReader(f, 1<<30))).Decode(&items); err != nil {
		return nil, err
	}
	var out []dataset.Entry
	for _, it := range items {
		var sys []dataset.Message
		for _, c := range it.Conversations {
			if c.Role == "system" {
				sys = append(sys, dataset.Message{Role: "system", Content: c.Content})
				continue
			}
			if c.Role != "user" || strings.TrimSpace(c.Content) == "" {
				continue
			}
			e := dataset.Entry{Prompt: c.Content}
			if len(sys) > 0 {
				e.Messages = append(sys, dataset.Message{Role: "user", Content: c.Content})
			}
			out = append(out, e)
			break
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no conversation with a user turn", path)
	}
	return out, nil
}

// shapePrompts applies inference-benchmarker's prompt options to entries:
// with num_tokens, each prompt gets a target length drawn from a normal
// distribution around it (standard deviation variance, clamped to
// min..max) and is cut to it, and prompts shorter than their target are
// dropped; without num_tokens, prompts outside min..max are dropped. It
// returns the prompts kept, how many were dropped, and their lengths.
func shapePrompts(entries []dataset.Entry, c tokenizer.Counter, po *promptOptions, seed int64) (kept []dataset.Entry, dropped int, lens []int) {
	rng := mrand.New(mrand.NewPCG(uint64(seed), 0x1b))
	for _, e := range entries {
		n := c.Count(e.Prompt)
		if po == nil {
			kept, lens = append(kept, e), append(lens, n)
			continue
		}
		if po.num == nil {
			if n < po.min || (po.max > 0 && n > po.max) {
				dropped++
				continue
			}
			kept, lens = append(kept, e), append(lens, n)
			continue
		}
		target := *po.num
		if po.variance > 0 {
			target = int(math.Round(float64(target) + rng.NormFloat64()*float64(po.variance)))
		}
		target = max(target, po.min, 1)
		if po.max > 0 {
			target = min(target, po.max)
		}
		if n < target {
			dropped++
			continue
		}
		cut := cutToTokens(c, e.Prompt, target)
		kept, lens = append(kept, withPrompt(e, cut)), append(lens, c.Count(cut))
	}
	return kept, dropped, lens
}

// cutToTokens returns the longest prefix of text of at most n tokens.
func cutToTokens(c tokenizer.Counter, text string, n int) string {
	if c.Count(text) <= n {
		return text
	}
	r := []rune(text)
	lo, hi := 0, len(r) // the answer is in [lo, hi)
	for lo+1 < hi {
		mid := (lo + hi) / 2
		if c.Count(string(r[:mid])) <= n {
			lo = mid
		} else {
			hi = mid
		}
	}
	return string(r[:lo])
}

// withPrompt replaces e's prompt (its last user message in a
// conversation).
func withPrompt(e dataset.Entry, prompt string) dataset.Entry {
	e.Prompt = prompt
	if len(e.Messages) > 0 {
		msgs := slices.Clone(e.Messages)
		for i := len(msgs) - 1; i >= 0; i-- {
			if msgs[i].Role == "user" {
				msgs[i].Content = prompt
				break
			}
		}
		e.Messages = msgs
	}
	return e
}

// pyFloat formats a rate as Python's str(float) does in vLLM's file names.
func pyFloat(v float64) string {
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

// resolveOutputs resolves the result file (--result-file or vLLM's
// --save-result), the other tools' result formats and what they record.
func (p *planner) resolveOutputs(lo *load.Options, kind probe.Kind) {
	o, x := p.o, p.x
	if o.saveResult && o.resultFile != "" && o.resultFile != x.savePath {
		p.failf("give one of --result-file and --save-result")
	}
	if o.noConsole {
		if o.progress == "always" {
			p.failf("--no-console and --progress always disagree")
		}
		o.progress = "never"
	}
	if (o.resultDir != "" || o.resultFilename != "") && !o.saveResult {
		p.failf("--result-dir and --result-filename say where --save-result saves: add --save-result")
	}

	backend := compat.Backend(kind)
	if o.backend != "" {
		backend = o.backend
	}
	rate := "inf"
	if !p.rateInf && len(lo.Rates) > 0 {
		var rs []string
		for _, r := range lo.Rates {
			rs = append(rs, pyFloat(r))
		}
		rate = strings.Join(rs, "_")
	}
	now := time.Now()
	if o.saveResult {
		name := o.resultFilename
		if name == "" {
			conc := ""
			if lo.Mode == load.ModeThroughput && (o.maxConcurrency != 0 || o.concurrency != 0) {
				conc = "-concurrency" + strconv.Itoa(lo.VUs)
			}
			model := p.ep.Model
			if i := strings.LastIndex(model, "/"); i >= 0 {
				model = model[i+1:]
			}
			name = fmt.Sprintf("%s-%sqps%s-%s-%s.json", backend, rate, conc, model, now.Format("20060102-150405"))
		}
		x.savePath = filepath.Join(o.resultDir, name)
		x.resultDir = o.resultDir
		o.resultFile = x.savePath
	}

	var formats []string
	for _, f := range o.resultFormats {
		for s := range strings.SplitSeq(f, ",") {
			if s = strings.TrimSpace(s); s != "" && s != compat.LLMProbe && !slices.Contains(formats, s) {
				formats = append(formats, s)
			}
		}
	}
	if err := compat.CheckFormats(formats); err != nil {
		p.failf("--result-format: %v", err)
		return
	}
	if len(o.resultFormats) == 0 && o.resultFile != "" {
		native := map[string]string{toolIB: compat.InferenceBenchmarker, toolGPUStack: compat.GPUStack, toolVLLM: compat.VLLM}[p.tool]
		if native != "" && (native != compat.GPUStack || lo.Mode == load.ModeThroughput) {
			formats = []string{native}
			x.native = native
			x.ownPath = compat.Path(o.resultFile, compat.LLMProbe+"-result")
		}
	}
	if len(formats) > 0 && o.resultFile == "" {
		p.failf("--result-format %s is written next to the result file: give --result-file (or --save-result)", strings.Join(formats, ","))
	}
	if slices.Contains(formats, compat.GPUStack) && lo.Mode != load.ModeThroughput {
		p.failf("--result-format gpustack: benchmark_serving.py runs a number of requests at a fixed concurrency (throughput mode); this is a %s run", lo.Mode)
	}

	// vLLM's percentile selection.
	var metrics []string
	if o.percentileMetrics != "" {
		for m := range strings.SplitSeq(o.percentileMetrics, ",") {
			metrics = append(metrics, strings.TrimSpace(m))
		}
	}
	var percentiles []float64
	if o.metricPercentiles != "" {
		for s := range strings.SplitSeq(o.metricPercentiles, ",") {
			v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil {
				p.failf("--metric-percentiles: %q is not a number", s)
				continue
			}
			percentiles = append(percentiles, v)
		}
	}
	if slices.Contains(formats, compat.VLLM) {
		m := metrics
		if m == nil {
			m = compat.DefaultPercentileMetrics(kind)
		}
		p.fail(compat.CheckVLLMPercentiles(m, percentiles))
	} else {
		p.fail(compat.CheckVLLMPercentiles(metrics, nil))
		for _, v := range percentiles {
			if !slices.Contains(compat.KeptPercentiles, v) {
				p.failf("--metric-percentiles %s: the table shows p50, p90, p95 and p99; other percentiles are written in vLLM's result only: add --result-format vllm", o.metricPercentiles)
				break
			}
		}
	}
	if len(formats) == 0 {
		return
	}
	x.formats = formats
	x.samples = compat.NewSamples()

	tokName := o.tokenizerName
	if tokName == "" {
		tokName = o.tokenizer
	}
	runID := make([]byte, 4)
	_, _ = rand.Read(runID)
	ibc := compat.IBConfig{Tokenizer: tokName, ModelName: p.ep.Model, Profile: o.profile, RunID: hex.EncodeToString(runID)[:7]}
	if po := p.promptOpts; po != nil {
		n := 0
		if po.num != nil {
			n = *po.num
		}
		ibc.PromptOptions = ibTokenize(n, po.min, po.max, po.variance, po.num != nil)
	}
	if p.decodeGiven != "" {
		if d, err := config.ParseDecodeOptions(p.decodeGiven); err == nil {
			ibc.DecodeOptions = ibTokenize(d.NumTokens, d.MinTokens, d.MaxTokens, d.Variance, true)
		}
	}
	burst := 1.0
	switch {
	case p.burstInf:
		burst = math.Inf(1)
	case lo.Arrival == load.ArrivalGamma:
		burst = lo.Burstiness
	}
	x.compat = compat.Config{
		InferenceBenchmarker: ibc,
		GPUStack:             compat.GPUStackConfig{NumRequests: p.numRequests, RequestTimeout: int(p.ep.Timeout / time.Second), MaxCompletionTokens: p.maxTokens},
		VLLM: compat.VLLMConfig{Backend: o.backend, TokenizerID: tokName, NumPrompts: p.numRequests, Burstiness: burst,
			PercentileMetrics: metrics, MetricPercentiles: percentiles, Date: now},
	}
}

// benchGenerator prints the plan's notes, creates --result-dir and builds
// the workload's generator, from prepared prompts when there are (through
// a temporary JSON Lines file the generator reads once, at once).
func benchGenerator(stderr io.Writer, w *config.Workload, o *benchOptions) (*workload.Generator, error) {
	x := o.extras
	if x == nil {
		return workload.NewForKind(w, o.kind)
	}
	for _, n := range x.notes {
		fmt.Fprintf(stderr, "llmprobe bench: %s\n", n)
	}
	if x.resultDir != "" {
		if err := os.MkdirAll(x.resultDir, 0o755); err != nil {
			return nil, err
		}
	}
	if x.prompts == nil {
		return workload.NewForKind(w, o.kind)
	}
	wc := *w
	if wc.Dataset == "" {
		wc.Dataset = "prepared prompts" // the generator reads entries only for a dataset
	}
	wc.UseDatasetEntries(x.prompts)
	return workload.NewForKind(&wc, o.kind)
}

// writeResultFormats writes the other tools' result files next to the
// result file (the tool's own in it, when its flags were used); it returns
// that tool's JSON, for --json, and the exit code to merge.
func writeResultFormats(stderr io.Writer, o *benchOptions, res *load.Result) (native []byte, code int) {
	x := o.extras
	if x == nil || len(x.formats) == 0 || o.resultFile == "" {
		return nil, exitOK
	}
	for _, f := range x.formats {
		b, err := compat.Marshal(f, res, x.samples, &x.compat)
		if err == nil {
			path := compat.Path(o.resultFile, f)
			if f == x.native {
				path, native = o.resultFile, b
			}
			if err = writeFileAtomic(path, b); err == nil {
				fmt.Fprintf(stderr, "llmprobe bench: %s result in %s\n", f, path)
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "llmprobe bench: --result-format %s: %v\n", f, err)
			code = exitError
		}
	}
	return native, code
}
