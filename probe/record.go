// Package probe sends requests to OpenAI-compatible endpoints and turns each
// one into a Record: the unit every summary, metric and archive consumes.
package probe

import (
	"time"
)

// Result classifies how a request ended. The set is closed so that it can be
// a metric label without unbounded cardinality.
type Result string

const (
	ResultSuccess    Result = "success"
	ResultHTTP4xx    Result = "http_4xx"
	ResultHTTP429    Result = "http_429"
	ResultHTTP5xx    Result = "http_5xx"
	ResultTimeout    Result = "timeout"
	ResultConnection Result = "connection"
	ResultProtocol   Result = "protocol"
	ResultCanceled   Result = "canceled"
	// ResultInvalidOutput is a 200 whose answer is not what was asked for
	// (AnswerSpec): a tool call of an unknown function or with arguments
	// that are not JSON or violate its schema, no call where one was
	// required, output that violates the json_schema. Never a success.
	ResultInvalidOutput Result = "invalid_output"
)

// Results lists every Result, in a stable order, so that counters can be
// initialised at zero for each class.
var Results = []Result{
	ResultSuccess, ResultHTTP4xx, ResultHTTP429, ResultHTTP5xx,
	ResultTimeout, ResultConnection, ResultProtocol, ResultCanceled, ResultInvalidOutput,
}

// Record is one request, from just before its body was written to the end of
// its response. Times are absolute (with Go's monotonic reading, so
// differences are immune to wall-clock steps); chunk arrivals are offsets from
// Start to keep a long stream compact.
type Record struct {
	Target string `json:"target"`
	Model  string `json:"model"`
	Kind   Kind   `json:"kind"`
	Phase  string `json:"phase"` // probe | soak | warmup
	Name   string `json:"name"`  // the probe's or soak's configured name

	// Scheduled is when an open-loop arrival was due; zero for closed loops
	// (probes, virtual users). Start - Scheduled is the client's schedule lag.
	Scheduled time.Time `json:"scheduled,omitzero"`
	// Start is taken just before the request is written.
	Start time.Time `json:"start"`
	// FirstToken is the arrival of the first chunk that carried output
	// (content, reasoning content, completion text, or a tool call's name
	// or arguments). Zero if none came.
	FirstToken time.Time `json:"first_token,omitzero"`
	// FirstAnswer is the first chunk carrying answer content or a tool
	// call (not reasoning).
	FirstAnswer time.Time `json:"first_answer,omitzero"`
	// End is the end of the stream ([DONE] or body end) or of the body.
	End time.Time `json:"end"`

	// Chunks holds, for every output-carrying chunk, its arrival offset from
	// Start; ChunkTokens the tokens it held where the server said (else 1).
	Chunks      []time.Duration `json:"-"`
	ChunkTokens []int32         `json:"-"`

	InputTokens     int `json:"input_tokens"`
	OutputTokens    int `json:"output_tokens"`
	ReasoningTokens int `json:"reasoning_tokens,omitempty"`
	CachedTokens    int `json:"cached_tokens,omitempty"`
	// ColdCacheHit: a cold request (Request.Cold) that the server reported
	// as served from its prefix cache beyond the template's share.
	ColdCacheHit  bool `json:"cold_cache_hit,omitempty"`
	UsageReported bool `json:"usage_reported"` // false: OutputTokens counted from chunks

	// Server-side timings where the server reports them (llama.cpp "timings").
	ServerPrefill time.Duration `json:"server_prefill_ns,omitempty"`
	ServerDecode  time.Duration `json:"server_decode_ns,omitempty"`

	HTTPStatus   int    `json:"http_status,omitempty"`
	Result       Result `json:"result"`
	Error        string `json:"error,omitempty"` // short, for logs and debug output; never a label
	FinishReason string `json:"finish_reason,omitempty"`
	// ToolCalls is the number of tool calls the answer made (checked when
	// the request offered tools: see AnswerSpec).
	ToolCalls int `json:"tool_calls,omitempty"`
	// NoToolCall: the request offered tools under tool_choice auto (or
	// unset) and the answer was text, calling none: a legitimate answer,
	// counted apart.
	NoToolCall bool `json:"no_tool_call,omitempty"`
	// Answer is the answer's text, kept only when the request asked for
	// it (AnswerSpec.KeepText: a conversation sending the server's own
	// answers back). Never in results or logs.
	Answer  string `json:"-"`
	Retries int    `json:"retries,omitempty"`
	// ConnRetries counts sends repeated because a reused keep-alive
	// connection failed before any byte of the response arrived (the server
	// had closed it): the server never answered them, so they are not
	// failures. Start is that of the attempt that got through.
	ConnRetries int `json:"connection_retries,omitempty"`
	// Refused: the connection was refused (nothing listens at the
	// address), a failure no retry mends.
	Refused bool `json:"refused,omitempty"`
	// RetryAfter is the server's Retry-After on a refusal (429, 503).
	RetryAfter time.Duration `json:"retry_after_ns,omitempty"`
}

// Success reports whether the request succeeded.
func (r *Record) Success() bool { return r.Result == ResultSuccess }

// TTFT is time to first token: from just before the request was written to
// the first chunk carrying output; a role-only first chunk does not count.
func (r *Record) TTFT() (time.Duration, bool) {
	if r.FirstToken.IsZero() {
		return 0, false
	}
	return r.FirstToken.Sub(r.Start), true
}

// TTFA is time to first answer token: like TTFT, counting only answer content,
// so a reasoning model's thinking time is visible apart.
func (r *Record) TTFA() (time.Duration, bool) {
	if r.FirstAnswer.IsZero() {
		return 0, false
	}
	return r.FirstAnswer.Sub(r.Start), true
}

// E2E is end-to-end latency: request written to stream or body end.
func (r *Record) E2E() time.Duration { return r.End.Sub(r.Start) }

// TPOT is time per output token: (end - first token) / (output tokens - 1),
// defined only for requests with at least two output tokens.
func (r *Record) TPOT() (time.Duration, bool) {
	if r.FirstToken.IsZero() || r.OutputTokens < 2 {
		return 0, false
	}
	return r.End.Sub(r.FirstToken) / time.Duration(r.OutputTokens-1), true
}

// EachITL calls f for every inter-token latency sample: one per gap between
// successive output-carrying chunks after the first. A gap that delivered k>1
// tokens (batched chunks, speculative decoding) yields k samples of gap/k, so
// multi-token chunks do not fake a slow ITL. weight is the number of samples
// the value stands for, so callers can avoid k calls where they can.
func (r *Record) EachITL(f func(itl time.Duration, weight int)) {
	for i := 1; i < len(r.Chunks); i++ {
		gap := r.Chunks[i] - r.Chunks[i-1]
		k := 1
		if i < len(r.ChunkTokens) && r.ChunkTokens[i] > 1 {
			k = int(r.ChunkTokens[i])
		}
		f(gap/time.Duration(k), k)
	}
}
