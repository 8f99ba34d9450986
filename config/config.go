// Package config holds llmprobe's YAML schema: targets (the endpoints),
// workloads (what to send), probes (small scheduled checks) and soaks (load
// runs). Load decodes strictly, reports every problem at once with file, line
// and field, resolves API keys and applies defaults; a Config it returns is
// ready to use.
package config

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/llmprobe/llmprobe/probe"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// Endpoint kinds (Target.Kind): probe's, so that a target's kind is the
// client's without conversion.
const (
	KindChat        = probe.Chat
	KindCompletions = probe.Completions
	KindVision      = probe.Vision
	KindEmbeddings  = probe.Embeddings
	KindRerank      = probe.Rerank
)

// Soak modes (Soak.Mode).
const (
	// ModeRate offers each of Rates requests per second in turn, open loop.
	ModeRate = "rate"
	// ModeThroughput runs VUs closed-loop virtual users.
	ModeThroughput = "throughput"
	// ModeSweep finds the maximum throughput with MaxVUs users, then offers
	// NumRates rates up to it.
	ModeSweep = "sweep"
)

// Arrival processes (Soak.Arrival).
const (
	ArrivalConstant = "constant"
	ArrivalPoisson  = "poisson"
)

// Prefix cache policies (Workload.PrefixCache).
const (
	// PrefixCacheCold starts every prompt with a unique nonce so that each
	// request misses the server's prefix cache and TTFT measures prefill.
	PrefixCacheCold = "cold"
	// PrefixCacheWarm sends a fixed shared prefix to measure the cached path.
	PrefixCacheWarm = "warm"
)

// Defaults applied by Load where a field is absent.
const (
	DefaultDataDir          = "data"
	DefaultProbeJitter      = model.Duration(time.Second)
	DefaultTimeout          = model.Duration(60 * time.Second)
	DefaultIdleTimeout      = model.Duration(30 * time.Second)
	DefaultMaxResponseBytes = 16 << 20
	DefaultNumTokens        = 64
	DefaultRequests         = 1
	DefaultMaxVUs           = 64
	DefaultNumRates         = 10
	DefaultMaxInFlight      = 1024
	DefaultStopErrorRatio   = 0.5
	DefaultBatchSize        = 1
	DefaultDocuments        = 8
	DefaultRerankPath       = "/v1/rerank"

	// DefaultQuery is the rerank query of a workload that sets none.
	DefaultQuery = "Which of these passages explains how a bicycle stays upright?"

	// DefaultPrompt is sent by a workload that sets none of prompt,
	// input_tokens and dataset. It asks for an open-ended answer so that the
	// output length is set by max_tokens rather than by the question.
	DefaultPrompt = "Explain in a few paragraphs how a bicycle stays upright while it moves, " +
		"then describe what changes when it slows down."
)

// Limits checked by Load.
const (
	MaxNumRates   = 50
	MaxRequests   = 1000
	TokensLimit   = 1 << 20 // for input_tokens and the decode options
	InFlightLimit = 1 << 20
	MaxBatchSize  = 4096    // embeddings inputs per request
	MaxDocuments  = 4096    // rerank documents per request
	MaxDimensions = 1 << 16 // embedding vector size
	maxKeyBytes   = 64 << 10
)

// Config is the whole configuration file.
type Config struct {
	Global    Global     `yaml:"global" json:"global"`
	Targets   []Target   `yaml:"targets,omitempty" json:"targets,omitempty"`
	Workloads []Workload `yaml:"workloads,omitempty" json:"workloads,omitempty"`
	Probes    []Probe    `yaml:"probes,omitempty" json:"probes,omitempty"`
	Soaks     []Soak     `yaml:"soaks,omitempty" json:"soaks,omitempty"`
}

// Global holds settings that apply to every run.
type Global struct {
	// DataDir is where run archives are written, relative to the working
	// directory (not to the config file: a daemon's state does not belong
	// next to its config in /etc). Default "data".
	DataDir string `yaml:"data_dir,omitempty" json:"data_dir,omitempty"`
	// ProbeJitter is the largest random delay before a scheduled probe, so
	// that probes sharing a schedule do not hit a server in the same
	// instant. Default 1s; an explicit 0s turns it off.
	ProbeJitter model.Duration `yaml:"probe_jitter" json:"probe_jitter"`
}

// Target is one endpoint to measure.
type Target struct {
	// Name is the metric label value: [a-zA-Z0-9_.:-]+, unique. The URL is
	// never a label because it may hold secrets and changes when a server
	// moves.
	Name string `yaml:"name" json:"name"`
	// URL is the base URL (http or https). API paths such as
	// /v1/chat/completions are appended to it after any trailing "/" and
	// "/v1" are removed, so http://h:8000, http://h:8000/v1 and
	// http://h/proxy/v1 all work. A password, query or fragment is refused.
	URL   string `yaml:"url" json:"url"`
	Model string `yaml:"model" json:"model"`
	// Kind is chat (default), completions, vision, embeddings or rerank.
	Kind probe.Kind `yaml:"kind,omitempty" json:"kind,omitempty"`
	// APIKeyFile and APIKeyEnv name where the bearer token is read at load
	// (and at every reload); at most one may be set. A relative file is
	// resolved against the config file's directory and stored resolved.
	APIKeyFile string `yaml:"api_key_file,omitempty" json:"api_key_file,omitempty"`
	APIKeyEnv  string `yaml:"api_key_env,omitempty" json:"api_key_env,omitempty"`
	// APIKeyHeader names the header that carries the key: Authorization
	// (the default) as "Bearer <key>", any other (Azure OpenAI's api-key,
	// x-api-key) the key itself. Such headers cannot be written inline.
	APIKeyHeader string `yaml:"api_key_header,omitempty" json:"api_key_header,omitempty"`
	// Timeout bounds a whole request. Default 60s.
	Timeout model.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// IdleTimeout bounds the silence between two stream chunks; it must not
	// exceed Timeout. Default 30s, or Timeout if that is shorter.
	IdleTimeout model.Duration `yaml:"idle_timeout,omitempty" json:"idle_timeout,omitempty"`
	// MaxResponseBytes caps a response body. Default 16 MiB.
	MaxResponseBytes int64 `yaml:"max_response_bytes,omitempty" json:"max_response_bytes,omitempty"`
	// Stream asks for a streamed response. Default true for chat,
	// completions and vision; embeddings and rerank cannot stream.
	Stream *bool `yaml:"stream,omitempty" json:"stream,omitempty"`
	// SupportsMinTokens says the server accepts vLLM's min_tokens and
	// ignore_eos, so that output lengths can be forced, not only capped.
	SupportsMinTokens  bool `yaml:"supports_min_tokens,omitempty" json:"supports_min_tokens,omitempty"`
	InsecureSkipVerify bool `yaml:"insecure_skip_verify,omitempty" json:"insecure_skip_verify,omitempty"`
	// Headers are extra request headers. They are not treated as secrets,
	// so Authorization and Proxy-Authorization are refused here.
	Headers map[string]string `yaml:"headers,omitempty" json:"headers,omitempty"`
	// RerankPath (rerank targets only) is the API path appended to the base
	// URL: /v1/rerank (default; vLLM, Jina, llama.cpp), /rerank or
	// /v2/rerank (Cohere-style). The request and response shapes are the
	// same: {model, query, documents, top_n} in, results[] with index and
	// relevance_score out.
	RerankPath string `yaml:"rerank_path,omitempty" json:"rerank_path,omitempty"`

	// MetricsURL is the model server's own Prometheus page, scraped during
	// soaks and around probes for the server's view of them (queue, KV
	// cache, its own TTFT, leak and restart verdicts). Empty: the URL with
	// any trailing "/" and "/v1" removed, plus /metrics (vLLM, SGLang, TGI
	// and llama-server --metrics serve it there), tried once per run and
	// given up quietly where there is none; "none" turns scraping off.
	MetricsURL string `yaml:"metrics_url,omitempty" json:"metrics_url,omitempty"`
	// Server says whose names the page uses: auto (default: detected from
	// the page), vllm, sglang, tgi, llamacpp or generic (process metrics
	// only).
	Server string `yaml:"server,omitempty" json:"server,omitempty"`
	// MetricsAuth sends the target's key to the metrics page: unset, only
	// when the page is on the target's own scheme, host and port; true,
	// wherever it is; false, never.
	MetricsAuth *bool `yaml:"metrics_auth,omitempty" json:"metrics_auth,omitempty"`
	// MetricsInterval is how often the page is scraped during a soak.
	// Default 1s, at least 100ms.
	MetricsInterval model.Duration `yaml:"metrics_interval,omitempty" json:"metrics_interval,omitempty"`
	// MetricsTimeout bounds one scrape, body included. Default 5s.
	MetricsTimeout model.Duration `yaml:"metrics_timeout,omitempty" json:"metrics_timeout,omitempty"`
	// MetricsMaxBytes caps the page. Default 16 MiB.
	MetricsMaxBytes int64 `yaml:"metrics_max_bytes,omitempty" json:"metrics_max_bytes,omitempty"`

	// APIKey is resolved at load from APIKeyFile (trimmed) or APIKeyEnv.
	// It is never marshalled, and Target's Format prints it as <secret>.
	APIKey commoncfg.Secret `yaml:"-" json:"-"`
}

// Metrics page settings of a target (Target.MetricsURL and the others).
const (
	// MetricsNone as metrics_url turns scraping the server's page off.
	MetricsNone            = "none"
	DefaultMetricsInterval = model.Duration(time.Second)
	DefaultMetricsTimeout  = model.Duration(5 * time.Second)
	DefaultMetricsMaxBytes = 16 << 20
	// MinMetricsInterval keeps a scrape loop from hammering the server.
	MinMetricsInterval = model.Duration(100 * time.Millisecond)
)

// Streaming reports whether requests to t are streamed: Stream if set, else
// the default for t's kind.
func (t *Target) Streaming() bool {
	if t.Stream != nil {
		return *t.Stream
	}
	return streamsByDefault(t.Kind)
}

func streamsByDefault(kind probe.Kind) bool {
	switch kind {
	case "", KindChat, KindCompletions, KindVision:
		return true
	}
	return false
}

// Format implements fmt.Formatter so that printing a Target with any verb,
// alone or inside a Config, shows the API key as <secret> and hides a URL
// password (a Target built in code skips Load's refusal of those).
func (t Target) Format(f fmt.State, verb rune) {
	type plain Target // drops the methods, so Fprintf does not recurse
	p := plain(t)
	if p.APIKey != "" {
		p.APIKey = "<secret>"
	}
	if u, err := url.Parse(p.URL); err == nil && u.User != nil {
		p.URL = u.Redacted()
	}
	if u, err := url.Parse(p.MetricsURL); err == nil && u.User != nil {
		p.MetricsURL = u.Redacted()
	}
	fmt.Fprintf(f, fmt.FormatString(f, verb), p)
}

// Workload says what a request sends and how long its answer should be.
// At most one of Prompt, InputTokens and Dataset may be set; with none,
// Load sets Prompt to DefaultPrompt. The same texts feed every kind: a chat
// or completions prompt, an embeddings input, a rerank document.
type Workload struct {
	Name string `yaml:"name" json:"name"`
	// Prompt is a fixed prompt text.
	Prompt string `yaml:"prompt,omitempty" json:"prompt,omitempty"`
	// InputTokens asks for synthetic prompts of this many tokens on
	// average; InputTokensStddev spreads each prompt's length (normal),
	// clamped to [InputTokensMin, InputTokensMax] where those are set.
	// Lengths are counted with Tokenizer when set, else estimated at 4
	// characters per token.
	InputTokens       int `yaml:"input_tokens,omitempty" json:"input_tokens,omitempty"`
	InputTokensStddev int `yaml:"input_tokens_stddev,omitempty" json:"input_tokens_stddev,omitempty"`
	InputTokensMin    int `yaml:"input_tokens_min,omitempty" json:"input_tokens_min,omitempty"`
	InputTokensMax    int `yaml:"input_tokens_max,omitempty" json:"input_tokens_max,omitempty"`
	// Tokenizer is a Hugging Face tokenizer.json of the target's model,
	// used to size synthetic prompts in real tokens. Resolved like Dataset
	// and read when the config is loaded.
	Tokenizer string `yaml:"tokenizer,omitempty" json:"tokenizer,omitempty"`
	// Dataset is a prompt file: JSON Lines (one prompt, or message list,
	// per line) or ShareGPT JSON; see package dataset. It is read when the
	// config is loaded (once: its prompts are kept for the generators; see
	// DatasetEntries), and refused with its file and line if it is empty
	// or malformed; a relative path is resolved against the config file's
	// directory and stored resolved.
	Dataset string `yaml:"dataset,omitempty" json:"dataset,omitempty"`

	// BatchSize (embeddings) is the number of inputs per request. Default 1.
	BatchSize int `yaml:"batch_size,omitempty" json:"batch_size,omitempty"`
	// Dimensions (embeddings) is the vector size every returned embedding
	// must have; a response with another size is a protocol failure. It is
	// checked, not sent. Zero checks only that all vectors agree.
	Dimensions int `yaml:"dimensions,omitempty" json:"dimensions,omitempty"`
	// Query (rerank) is the query documents are ranked against. Default
	// DefaultQuery.
	Query string `yaml:"query,omitempty" json:"query,omitempty"`
	// Documents (rerank) is the number of documents per request, each a
	// prompt of the workload. Default DefaultDocuments.
	Documents int `yaml:"documents,omitempty" json:"documents,omitempty"`
	// Images (vision) are PNG or JPEG files sent as data: URIs in image_url
	// parts of the user message; each is read when the config is loaded,
	// and kept (see ImageURIs).
	// Vision targets need them, other kinds refuse them.
	Images []string `yaml:"images,omitempty" json:"images,omitempty"`
	// ImagesPerRequest (vision) is how many of Images each request
	// carries, drawn in a seeded random order. Default all of them.
	ImagesPerRequest int `yaml:"images_per_request,omitempty" json:"images_per_request,omitempty"`
	// OutputTokens sets the requested output length. In YAML it is a
	// mapping, a "num_tokens=80,max_tokens=100" string or a bare integer
	// (the num_tokens).
	OutputTokens DecodeOptions `yaml:"output_tokens" json:"output_tokens"`
	// PrefixCache is cold (default) or warm; see PrefixCacheCold.
	PrefixCache string `yaml:"prefix_cache,omitempty" json:"prefix_cache,omitempty"`
	// Temperature is sent when set; otherwise the server's default applies.
	Temperature *float64 `yaml:"temperature,omitempty" json:"temperature,omitempty"`
	// Seed makes prompt selection and output lengths repeatable; nonces are
	// unique per request whatever the seed, lest a server cache them.
	Seed int64 `yaml:"seed,omitempty" json:"seed,omitempty"`
	// System is an optional system message.
	System string `yaml:"system,omitempty" json:"system,omitempty"`
	// Conversation replays the dataset's conversations turn by turn
	// (conversation.go).
	Conversation *Conversation `yaml:"conversation,omitempty" json:"conversation,omitempty"`
	// SharedPrefix builds prompts in groups sharing a prefix
	// (conversation.go).
	SharedPrefix *SharedPrefix `yaml:"shared_prefix,omitempty" json:"shared_prefix,omitempty"`
	// ToolsFile, ToolChoice and JSONSchemaFile ask for tool calls or
	// structured output, and check them (tools.go).
	ToolsFile      string `yaml:"tools_file,omitempty" json:"tools_file,omitempty"`
	ToolChoice     string `yaml:"tool_choice,omitempty" json:"tool_choice,omitempty"`
	JSONSchemaFile string `yaml:"json_schema_file,omitempty" json:"json_schema_file,omitempty"`

	// files is what Dataset, Tokenizer and Images hold, parsed when the
	// config is loaded (see files.go).
	files parsedFiles
}

// SLO holds the objectives a request or run is judged against; zero means
// not checked. Goodput counts the requests that met every latency objective.
type SLO struct {
	TTFT model.Duration `yaml:"ttft,omitempty" json:"ttft,omitempty"`
	ITL  model.Duration `yaml:"itl,omitempty" json:"itl,omitempty"`
	TPOT model.Duration `yaml:"tpot,omitempty" json:"tpot,omitempty"`
	E2E  model.Duration `yaml:"e2e,omitempty" json:"e2e,omitempty"`
	// ErrorRatio is the largest failed/total ratio a run may have, in [0, 1].
	// Zero means not checked (demand near-zero errors with a tiny ratio).
	ErrorRatio float64 `yaml:"error_ratio,omitempty" json:"error_ratio,omitempty"`
}

// Probe is a small scheduled check: Requests sequential requests to each
// target per run.
type Probe struct {
	Name     string   `yaml:"name" json:"name"`
	Targets  []string `yaml:"targets" json:"targets"`
	Workload string   `yaml:"workload" json:"workload"`
	// Schedule is a 5-field cron line or a descriptor (@every 30s, @hourly);
	// see ParseSchedule.
	Schedule string `yaml:"schedule" json:"schedule"`
	// Requests per target per run, 1 to MaxRequests. Default 1.
	Requests int `yaml:"requests,omitempty" json:"requests,omitempty"`
	SLO      SLO `yaml:"slo,omitempty" json:"slo,omitzero"`
}

// Soak is a load run against each of its targets.
type Soak struct {
	Name     string   `yaml:"name" json:"name"`
	Targets  []string `yaml:"targets" json:"targets"`
	Workload string   `yaml:"workload" json:"workload"`
	// Schedule is optional: without one the soak runs only when started by
	// hand.
	Schedule string `yaml:"schedule,omitempty" json:"schedule,omitempty"`
	// Mode is rate, throughput, sweep or procedure; each takes only its
	// own fields.
	Mode string `yaml:"mode" json:"mode"`
	// Rates (rate mode) are offered in turn, Duration each, requests/s > 0.
	Rates []float64 `yaml:"rates,omitempty" json:"rates,omitempty"`
	// Arrival (rate and sweep modes) is constant (default) or poisson.
	Arrival string `yaml:"arrival,omitempty" json:"arrival,omitempty"`
	// VUs (throughput mode) is the number of closed-loop virtual users.
	VUs int `yaml:"vus,omitempty" json:"vus,omitempty"`
	// MaxVUs (sweep mode) finds the maximum throughput. Default 64, or
	// MaxInFlight if that is smaller.
	MaxVUs int `yaml:"max_vus,omitempty" json:"max_vus,omitempty"`
	// NumRates (sweep mode) is the number of rates offered, up to
	// MaxNumRates. Default 10.
	NumRates int `yaml:"num_rates,omitempty" json:"num_rates,omitempty"`
	// Duration is measured time per step (each rate, or the one throughput
	// run). Required.
	Duration model.Duration `yaml:"duration" json:"duration"`
	// Warmup is load sent before measuring and left out of the results.
	Warmup model.Duration `yaml:"warmup,omitempty" json:"warmup,omitempty"`
	// MaxInFlight caps concurrent requests; arrivals beyond it are dropped
	// and counted as failures. Default 1024. VUs and MaxVUs may not exceed it.
	MaxInFlight int `yaml:"max_in_flight,omitempty" json:"max_in_flight,omitempty"`
	// StopErrorRatio stops the run when the error ratio exceeds it, in
	// (0, 1]. Default 0.5.
	StopErrorRatio float64 `yaml:"stop_error_ratio,omitempty" json:"stop_error_ratio,omitempty"`
	SLO            SLO     `yaml:"slo,omitempty" json:"slo,omitzero"`
	Seed           int64   `yaml:"seed,omitempty" json:"seed,omitempty"`
	// Burstiness is the gamma shape of arrival: gamma; Ramp moves a rate
	// step's rate over its duration; Trace (trace mode) replays a trace
	// file (arrivals.go).
	Burstiness float64 `yaml:"burstiness,omitempty" json:"burstiness,omitempty"`
	Ramp       *Ramp   `yaml:"ramp,omitempty" json:"ramp,omitempty"`
	Trace      *Trace  `yaml:"trace,omitempty" json:"trace,omitempty"`
	// Procedure (procedure mode only) holds the stress procedure's
	// parameters; its durations replace duration and warmup.
	Procedure Procedure `yaml:"procedure,omitempty" json:"procedure,omitzero"`
}

// Load parses and validates a config. filename is used in error messages
// and relative paths in the config are resolved against its directory. The
// error, if any, is an Errors holding every problem found.
func Load(data []byte, filename string) (*Config, error) {
	l := newLoader(filename)
	c := &Config{}
	if root := l.parse(data); root != nil {
		l.fromYAML = true
		l.decode(root, c)
	}
	l.validate(c)
	if err := l.result(); err != nil {
		return nil, err
	}
	l.applyDefaults(c)
	return c, nil
}

// LoadFile reads and loads the config file at path.
func LoadFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Load(data, path)
}

// Validate checks a Config built in code rather than loaded, resolves its
// API keys and applies defaults. Zero fields count as absent, and relative
// paths are resolved against the working directory.
func (c *Config) Validate() error {
	l := newLoader("")
	l.validate(c)
	if err := l.result(); err != nil {
		return err
	}
	l.applyDefaults(c)
	return nil
}

// String returns c as YAML, without API keys.
func (c Config) String() string {
	b, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Sprintf("<error marshaling config: %s>", err)
	}
	return string(b)
}

// Target returns the target named name, or nil.
func (c *Config) Target(name string) *Target {
	for i := range c.Targets {
		if c.Targets[i].Name == name {
			return &c.Targets[i]
		}
	}
	return nil
}

// Workload returns the workload named name, or nil.
func (c *Config) Workload(name string) *Workload {
	for i := range c.Workloads {
		if c.Workloads[i].Name == name {
			return &c.Workloads[i]
		}
	}
	return nil
}

// Probe returns the probe named name, or nil.
func (c *Config) Probe(name string) *Probe {
	for i := range c.Probes {
		if c.Probes[i].Name == name {
			return &c.Probes[i]
		}
	}
	return nil
}

// Soak returns the soak named name, or nil.
func (c *Config) Soak(name string) *Soak {
	for i := range c.Soaks {
		if c.Soaks[i].Name == name {
			return &c.Soaks[i]
		}
	}
	return nil
}

// resolvePath resolves p against dir unless it is absolute.
func resolvePath(dir, p string) string {
	if p == "" || filepath.IsAbs(p) || dir == "" {
		return p
	}
	return filepath.Join(dir, p)
}
