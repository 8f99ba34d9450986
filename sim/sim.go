// Package sim is a simulated OpenAI-compatible model server.
//
// It serves POST /v1/chat/completions and POST /v1/completions (streamed as
// server-sent events or not), POST /v1/embeddings, POST /v1/rerank (also at
// /rerank and /v2/rerank, as vLLM serves it), GET /v1/models and GET
// /health, shaped like vLLM's responses (see shared/testdata/captures). It is used by
// `llmprobe demo`, `llmprobe sim`, the test suite and the benchmarks that
// measure the client's own accuracy, so its timing is deterministic: with
// Jitter off, the first output token leaves the server exactly TTFT after
// the request got a decode slot, and each following token exactly ITL after
// the previous one (as precisely as the runtime's timers allow). Every chunk
// is scheduled against an absolute deadline computed from the request's
// start, so timer errors never accumulate across tokens, and every chunk is
// flushed as soon as it is written.
//
// A chat stream starts with a role-only chunk (delta {"role":"assistant"})
// written as soon as the request is accepted, before queueing and before
// TTFT elapses: a client must not count it as the first token. Completions
// streams have no role chunk (as vLLM), but their headers are flushed on
// acceptance too.
//
// Requests beyond MaxConcurrency wait in a FIFO queue; the wait counts in
// the client's TTFT. A client that goes away frees its slot (or queue place)
// and stops its timers at once.
//
// Prompt tokens are estimated as ceil(characters / CharsPerToken), at least
// 1, over the text of all messages (chat) or the prompt (completions); token
// id arrays in a completions prompt count one token per id. An optional
// prefix cache (Config.PrefixCache, off by default) renders chat prompts
// behind a fixed template header, reports the cached tokens of prompts that
// share a prefix with recent ones and shortens their TTFT. Each image_url
// part of a chat message (vision) adds a fixed ImageTokens, whatever the
// image's size: data: URIs must hold base64 PNG or JPEG data, other URLs are
// accepted and never fetched.
//
// A chat request with tools (tool_choice not none) is answered with a tool
// call of its first or named function, arguments generated for the
// function's schema and streamed in fragments as vLLM streams them; one
// with response_format json_schema with a JSON document valid for the
// schema (see tools.go, and Faults.ToolCallMalformed and the two after it
// for broken ones).
//
// Embeddings and rerank requests ("pooling" requests) are queued like
// generation requests and answered in one body TTFT after they get a slot.
// An embedding is a deterministic unit vector drawn from a hash of its
// input, EmbeddingDimensions long; a rerank score is a deterministic number
// in (0, 1) drawn from a hash of the query and the document. Their prompt
// tokens are estimated like chat's: per input for embeddings, per
// query+document pair for rerank. Faults apply to them too (a disconnect or
// stall happens halfway through the TTFT wait).
//
// GET /metrics serves the simulated engine's own metrics under vLLM V1's
// names (vllm:num_requests_running, vllm:time_to_first_token_seconds, ...)
// with their true values, on the server's own registry; see metrics.go for
// what each one counts. The long-soak faults (Faults.SlowdownPerMinute,
// LeakBytesPerRequest, LeakSlotEvery, RestartEvery) show on that page the
// way a degrading or restarting real server's would.
package sim

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Defaults applied by New to zero-valued Config fields.
const (
	DefaultModel        = "sim-model"
	DefaultTTFT         = 100 * time.Millisecond
	DefaultITL          = 10 * time.Millisecond
	DefaultOutputTokens = 64
	// DefaultImageTokens is what an image counts in prompt tokens: OpenAI's
	// price of a low-detail image.
	DefaultImageTokens = 85
	// DefaultEmbeddingDimensions is the size of an embedding (BAAI/bge-m3's).
	DefaultEmbeddingDimensions = 1024
	// DefaultKVCacheTokens is the KV cache's capacity: as many tokens as
	// the default prefix cache holds, a small GPU's KV cache.
	DefaultKVCacheTokens = DefaultPrefixCacheBlocks * DefaultPrefixCacheBlockTokens
)

// BaseResidentMemoryBytes is the simulated process_resident_memory_bytes of
// a server that leaks nothing: a fixed 2 GiB, a model server's API process.
const BaseResidentMemoryBytes = 2 << 30

// minRestartEvery bounds Faults.RestartEvery from below, so that a typo
// (1ns for 1h) cannot restart the server in a busy loop.
const minRestartEvery = 10 * time.Millisecond

// CharsPerToken is the ratio used to estimate prompt tokens from text:
// ceil(characters/CharsPerToken), at least 1.
const CharsPerToken = 4

// MaxBodyBytes limits a request body; larger bodies get 413.
const MaxBodyBytes = 4 << 20

// Config describes the simulated model. Zero values mean the defaults.
type Config struct {
	// Model is the served model name; default "sim-model". Requests naming
	// another model get 404 with an OpenAI-shaped error; requests naming no
	// model get this one.
	Model string
	// TTFT is the time from the request getting a decode slot (after any
	// queueing) to the first output token; default 100ms. Use 1ns for
	// "no delay" (zero means the default).
	TTFT time.Duration
	// ITL is the time between tokens; default 10ms. Use 1ns for "no delay".
	ITL time.Duration
	// OutputTokens is the number of tokens generated; default 64. The
	// request's max_tokens (or max_completion_tokens) caps it, and its
	// min_tokens raises it (up to max_tokens). ignore_eos has no effect.
	// The finish reason is "length" when max_tokens limited the output,
	// "stop" otherwise.
	OutputTokens int
	// Jitter is the relative standard deviation applied to TTFT and to
	// each inter-chunk gap (normal, clamped at 0), drawn from the seeded
	// RNG; 0 (default) turns it off.
	Jitter float64
	// MaxConcurrency is the number of sequences decoded at once; 0 means
	// unlimited. Excess requests wait in a FIFO queue.
	MaxConcurrency int
	// MaxQueue is the most requests that may wait for a slot; 0 means
	// unlimited. Beyond it the server answers 429 with Retry-After.
	MaxQueue int
	// TokensPerChunk sends k tokens per SSE chunk (batched or speculative
	// decoding); default 1. A chunk of k tokens follows the previous one
	// by k*ITL, so the per-token rate stays 1/ITL.
	TokensPerChunk int
	// Reasoning is the number of leading output tokens emitted as
	// delta.reasoning_content (chat only) before the answer content;
	// they count in completion_tokens and in
	// completion_tokens_details.reasoning_tokens. Completions ignore it.
	Reasoning int
	// ImageTokens is the prompt tokens an image_url part counts; default
	// DefaultImageTokens.
	ImageTokens int
	// EmbeddingDimensions is the size of the embeddings returned; default
	// DefaultEmbeddingDimensions. A request's "dimensions" asks for fewer.
	EmbeddingDimensions int
	// Faults injects failures into a share of requests.
	Faults Faults
	// PrefixCache, when enabled, caches the prompts' prefixes, reports
	// the cached tokens and shortens TTFT for them; see PrefixCache.
	PrefixCache PrefixCache
	// KVCacheTokens is the KV cache's capacity in tokens, what
	// vllm:kv_cache_usage_perc divides the tokens held by running
	// requests by; default DefaultKVCacheTokens.
	KVCacheTokens int
	// Start is when the simulated server started, the origin of
	// Faults.SlowdownPerMinute; zero means when New is called. A time in
	// the past lets a test see a long-running server without waiting.
	Start time.Time
	// Seed seeds the RNG that draws faults, jitter and token text offsets.
	// Any value, 0 included, is a valid deterministic seed.
	Seed int64
}

// Faults are failures injected into requests. The first four are ratios
// (0..1) of requests that fail, each drawn independently per request from
// the seeded RNG; when several are drawn for one request the first in
// field order applies. The others degrade the server over a long run,
// deterministically, for soak verdicts to catch.
type Faults struct {
	// HTTP429 answers 429 with Retry-After: 1 and an OpenAI-shaped error.
	HTTP429 float64
	// HTTP500 answers 500 with an OpenAI-shaped error.
	HTTP500 float64
	// Disconnect starts the stream, sends about half the tokens, then
	// closes the connection: no final chunk, no [DONE], a broken chunked
	// body (the client sees an unexpected EOF). Non-streamed requests get
	// the connection closed, without a response, as far into generation.
	Disconnect float64
	// Stall starts the stream, sends about half the tokens, then sends
	// nothing more until the client goes away or the server closes; the
	// decode slot is held meanwhile. Non-streamed requests stall as far
	// into generation, without a response.
	Stall float64
	// ToolCallMalformed, ToolCallUnknown and ToolCallSchema break a share
	// of the answers that call a tool (tools.go): arguments that are not
	// JSON (the closing brace cut), a function name not among the tools,
	// arguments that violate the function's schema (a required property
	// left out, else a property of the wrong type). Malformed and Schema
	// break a json_schema answer's document the same way. Drawn per
	// answer like the first four, the first in field order applying.
	ToolCallMalformed float64
	ToolCallUnknown   float64
	ToolCallSchema    float64

	// SlowdownPerMinute makes latency drift upwards: a request's TTFT and
	// ITL are multiplied by 1 + SlowdownPerMinute × the minutes since the
	// server started (Config.Start, or its last restart), taken when the
	// request gets its decode slot. 0.1 doubles them after 10 minutes.
	SlowdownPerMinute float64
	// LeakBytesPerRequest is added to the simulated
	// process_resident_memory_bytes for every request the engine accepts
	// (queued or decoded at once) and never freed until a restart: a
	// memory leak seen in the server's own metrics.
	LeakBytesPerRequest int64
	// LeakSlotEvery makes every Nth request to complete (stop or length,
	// counted since the last restart) keep its decode slot after the
	// client got its whole answer: it stays in vllm:num_requests_running,
	// its KV tokens stay in vllm:kv_cache_usage_perc and the slot is lost
	// to later requests, so capacity shrinks and the queue grows until a
	// restart. It needs MaxConcurrency > 0 (there are no slots to lose
	// otherwise). 0 turns it off.
	LeakSlotEvery int
	// RestartEvery restarts the simulated server at this interval (as
	// Server.Restart does): in-flight and queued requests have their
	// connections closed, every counter and histogram on /metrics starts
	// again from zero, leaked memory and slots are freed, the prefix cache
	// is emptied and SlowdownPerMinute's clock starts again. 0 turns it
	// off; otherwise at least 10ms.
	RestartEvery time.Duration
}

// Validate reports the first invalid field, if any.
func (c Config) Validate() error {
	switch {
	case c.TTFT < 0:
		return errors.New("sim: TTFT must not be negative")
	case c.ITL < 0:
		return errors.New("sim: ITL must not be negative")
	case c.OutputTokens < 0:
		return errors.New("sim: OutputTokens must not be negative")
	case c.Jitter < 0 || c.Jitter > 10 || c.Jitter != c.Jitter:
		return errors.New("sim: Jitter must be between 0 and 10")
	case c.MaxConcurrency < 0:
		return errors.New("sim: MaxConcurrency must not be negative")
	case c.MaxQueue < 0:
		return errors.New("sim: MaxQueue must not be negative")
	case c.TokensPerChunk < 0:
		return errors.New("sim: TokensPerChunk must not be negative")
	case c.Reasoning < 0:
		return errors.New("sim: Reasoning must not be negative")
	case c.ImageTokens < 0:
		return errors.New("sim: ImageTokens must not be negative")
	case c.EmbeddingDimensions < 0 || c.EmbeddingDimensions > maxDimensions:
		return fmt.Errorf("sim: EmbeddingDimensions must be between 0 and %d", maxDimensions)
	case c.PrefixCache.Blocks < 0:
		return errors.New("sim: PrefixCache.Blocks must not be negative")
	case c.PrefixCache.BlockTokens < 0 || c.PrefixCache.BlockTokens > maxBlockTokens:
		return fmt.Errorf("sim: PrefixCache.BlockTokens must be between 0 and %d", maxBlockTokens)
	case !(c.PrefixCache.PrefillShare >= 0 && c.PrefixCache.PrefillShare <= 1):
		return errors.New("sim: PrefixCache.PrefillShare must be between 0 and 1")
	case c.KVCacheTokens < 0:
		return errors.New("sim: KVCacheTokens must not be negative")
	case !(c.Faults.SlowdownPerMinute >= 0) || math.IsInf(c.Faults.SlowdownPerMinute, 1):
		return errors.New("sim: Faults.SlowdownPerMinute must be a finite number, 0 or more")
	case c.Faults.LeakBytesPerRequest < 0:
		return errors.New("sim: Faults.LeakBytesPerRequest must not be negative")
	case c.Faults.LeakSlotEvery < 0:
		return errors.New("sim: Faults.LeakSlotEvery must not be negative")
	case c.Faults.LeakSlotEvery > 0 && c.MaxConcurrency == 0:
		return errors.New("sim: Faults.LeakSlotEvery needs MaxConcurrency > 0: with unlimited concurrency there is no slot to lose")
	case c.Faults.RestartEvery < 0:
		return errors.New("sim: Faults.RestartEvery must not be negative")
	case c.Faults.RestartEvery > 0 && c.Faults.RestartEvery < minRestartEvery:
		return fmt.Errorf("sim: Faults.RestartEvery must be 0 or at least %s", minRestartEvery)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{
		{"HTTP429", c.Faults.HTTP429},
		{"HTTP500", c.Faults.HTTP500},
		{"Disconnect", c.Faults.Disconnect},
		{"Stall", c.Faults.Stall},
		{"ToolCallMalformed", c.Faults.ToolCallMalformed},
		{"ToolCallUnknown", c.Faults.ToolCallUnknown},
		{"ToolCallSchema", c.Faults.ToolCallSchema},
	} {
		if !(f.v >= 0 && f.v <= 1) {
			return fmt.Errorf("sim: Faults.%s must be between 0 and 1, got %v", f.name, f.v)
		}
	}
	return nil
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Model == "" {
		c.Model = DefaultModel
	}
	if c.TTFT == 0 {
		c.TTFT = DefaultTTFT
	}
	if c.ITL == 0 {
		c.ITL = DefaultITL
	}
	if c.OutputTokens == 0 {
		c.OutputTokens = DefaultOutputTokens
	}
	if c.TokensPerChunk == 0 {
		c.TokensPerChunk = 1
	}
	if c.ImageTokens == 0 {
		c.ImageTokens = DefaultImageTokens
	}
	if c.EmbeddingDimensions == 0 {
		c.EmbeddingDimensions = DefaultEmbeddingDimensions
	}
	if c.PrefixCache.Enabled {
		c.PrefixCache = c.PrefixCache.withDefaults()
	}
	if c.KVCacheTokens == 0 {
		c.KVCacheTokens = DefaultKVCacheTokens
	}
	return c
}

// any reports whether a ratio fault is set, so that draw spends no random
// numbers on them otherwise.
func (f Faults) any() bool {
	return f.HTTP429 > 0 || f.HTTP500 > 0 || f.Disconnect > 0 || f.Stall > 0
}
