package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Endpoint is what the client needs to know of a target. It is built from
// the config (or from bench's flags) so that this package does not depend on
// the config schema.
type Endpoint struct {
	Name               string // label value; never the URL
	URL                string // base URL; a trailing /v1 is tolerated
	Model              string
	Kind               Kind   // default Chat
	APIKey             string // sent as a bearer token; never logged
	Timeout            time.Duration
	IdleTimeout        time.Duration // longest silence between stream reads
	MaxResponseBytes   int64
	Stream             bool
	SupportsMinTokens  bool // vLLM extensions min_tokens and ignore_eos
	InsecureSkipVerify bool
	Headers            map[string]string
	RerankPath         string // rerank: API path; default /v1/rerank
}

// Request is the workload's part of one request. Chat, completions and
// vision use System, Prompt (or Messages) and the output options; vision
// adds Images; embeddings use Inputs; rerank uses Query and Documents.
type Request struct {
	// Cold: the prompt starts with a unique nonce, so the server's prefix
	// cache should serve no more than the chat template's share of it; the
	// record says when it did (Record.ColdCacheHit).
	Cold        bool
	System      string
	Prompt      string
	MaxTokens   int
	MinTokens   int
	Temperature *float64

	// Messages, when set, is a whole conversation sent instead of System
	// and Prompt (chat and vision; completions send Prompt).
	Messages []Message
	// Images are data: URIs sent as image_url parts after the text of the
	// last user message (vision).
	Images []string
	// Inputs are the texts of an embeddings request, one vector each.
	Inputs []string
	// Dimensions is the size every returned embedding must have; zero
	// only checks that they agree.
	Dimensions int
	// Query and Documents make a rerank request.
	Query     string
	Documents []string
}

// Defaults applied where an Endpoint leaves a field zero.
const (
	DefaultTimeout          = 60 * time.Second
	DefaultIdleTimeout      = 30 * time.Second
	DefaultMaxResponseBytes = 16 << 20
	maxEventBytes           = 1 << 20
	// maxHeaderBytes bounds a response's head (net/http's default is
	// 10 MB, buffered per request: 10 GB at 1000 streams from a hostile
	// server). Model servers send a few hundred bytes.
	maxHeaderBytes = 64 << 10
	// maxDrainWait bounds the wait for the rest of a body after the record
	// is complete (the end of a chunked stream after [DONE]).
	maxDrainWait = 100 * time.Millisecond
)

// Client sends requests to one endpoint. It is safe for concurrent use; its
// connection pool is its own so that one target's load cannot starve another.
type Client struct {
	ep   Endpoint
	url  string
	pool *pool
	now  func() time.Time
}

// NewClient returns a client for ep.
func NewClient(ep Endpoint) *Client {
	if ep.Timeout <= 0 {
		ep.Timeout = DefaultTimeout
	}
	if ep.IdleTimeout <= 0 || ep.IdleTimeout > ep.Timeout {
		ep.IdleTimeout = min(DefaultIdleTimeout, ep.Timeout)
	}
	if ep.MaxResponseBytes <= 0 {
		ep.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if ep.Kind == "" {
		ep.Kind = Chat
	}
	if pooling(ep.Kind) {
		ep.Stream = false // embeddings and rerank answer in one body
	}
	return &Client{
		ep:   ep,
		url:  endpointURL(ep),
		pool: newPool(ep),
		now:  time.Now,
	}
}

// Endpoint returns the endpoint the client was made for, defaults applied.
func (c *Client) Endpoint() Endpoint { return c.ep }

// CloseIdle closes idle connections (on reload or shutdown).
func (c *Client) CloseIdle() { c.pool.closeIdle() }

func endpointURL(ep Endpoint) string {
	base := strings.TrimRight(ep.URL, "/")
	base = strings.TrimSuffix(base, "/v1")
	switch ep.Kind {
	case "completions":
		return base + "/v1/completions"
	case "embeddings":
		return base + "/v1/embeddings"
	case "rerank":
		if ep.RerankPath != "" {
			return base + ep.RerankPath
		}
		return base + DefaultRerankPath
	default:
		return base + "/v1/chat/completions"
	}
}

type message struct {
	Role    string `json:"role"`
	Content any    `json:"content"` // a string, or content parts (vision)
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
	// vLLM extension: usage in every chunk, so a chunk's token count is known.
	ContinuousUsageStats bool `json:"continuous_usage_stats,omitempty"`
}

type requestBody struct {
	Model         string         `json:"model"`
	Messages      []message      `json:"messages,omitempty"`
	Prompt        string         `json:"prompt,omitempty"`
	MaxTokens     int            `json:"max_tokens,omitempty"`
	MinTokens     int            `json:"min_tokens,omitempty"`
	IgnoreEOS     bool           `json:"ignore_eos,omitempty"`
	Temperature   *float64       `json:"temperature,omitempty"`
	Stream        bool           `json:"stream"`
	StreamOptions *streamOptions `json:"stream_options,omitempty"`
}

// Body returns the JSON body the client sends for req.
func (c *Client) Body(req Request) ([]byte, error) {
	switch c.ep.Kind {
	case "embeddings":
		return embeddingsBody(c.ep.Model, req)
	case "rerank":
		return rerankBody(c.ep.Model, req)
	}
	b := requestBody{
		Model:       c.ep.Model,
		MaxTokens:   req.MaxTokens,
		Temperature: req.Temperature,
		Stream:      c.ep.Stream,
	}
	if c.ep.SupportsMinTokens && req.MinTokens > 0 {
		b.MinTokens = req.MinTokens
		b.IgnoreEOS = true
	}
	if c.ep.Stream {
		b.StreamOptions = &streamOptions{IncludeUsage: true, ContinuousUsageStats: c.ep.SupportsMinTokens}
	}
	switch c.ep.Kind {
	case "completions":
		b.Prompt = req.Prompt
		if req.System != "" {
			b.Prompt = req.System + "\n\n" + req.Prompt
		}
	default:
		b.Messages = chatMessages(req)
	}
	return json.Marshal(b)
}

// Causes of the request's own deadlines, told apart from the caller's
// cancellation or deadline (a soak that ends), which is not a timeout.
var (
	errIdle    = errors.New("no data from server within idle timeout")
	errTimeout = errors.New("request timeout")
)

// Do sends one request and returns its Record. It never returns an error:
// every failure is a classified Record, because a failure is a measurement.
func (c *Client) Do(ctx context.Context, req Request) *Record {
	rec := &Record{Target: c.ep.Name, Model: c.ep.Model, Kind: c.ep.Kind}
	body, err := c.Body(req)
	if err != nil {
		rec.Start = c.now()
		return c.fail(rec, ResultProtocol, fmt.Errorf("encoding request: %w", err))
	}
	c.send(ctx, rec, body, c.bodyReader(req))
	if req.Cold && rec.CachedTokens > ColdCacheFloor {
		rec.ColdCacheHit = ColdCacheHit(rec, req.TextTokens())
	}
	return rec
}

// send posts body and fills rec from the response. read, when set, reads a
// successful response's body (embeddings, rerank); else it is read as a
// chat or completions stream or body.
func (c *Client) send(ctx context.Context, rec *Record, body []byte, read func(context.Context, *Record, io.Reader)) *Record {
	ctx, cancel := context.WithTimeoutCause(ctx, c.ep.Timeout, errTimeout)
	defer cancel()
	ctx, cancelIdle := context.WithCancelCause(ctx)
	defer cancelIdle(nil)

	// The idle timer covers the wait for headers and every silence between
	// reads of the body; the overall timeout covers the whole request.
	idle := time.AfterFunc(c.ep.IdleTimeout, func() { cancelIdle(errIdle) })
	defer idle.Stop()

	resp, err := c.roundTrip(ctx, rec, body, idle)
	if err != nil {
		rec.End = c.now()
		return c.classifyErr(ctx, rec, err)
	}
	c.pool.honourKeepAlive(resp.Header)
	defer func() {
		// Drain a little so the connection can be reused, never much and
		// never long: the record is complete by now, and a server (or
		// proxy) that holds the stream open after [DONE] must not hold
		// the caller for the idle timeout.
		idle.Reset(min(c.ep.IdleTimeout, maxDrainWait))
		_, _ = io.CopyN(io.Discard, resp.Body, 4096)
		resp.Body.Close()
	}()
	rec.HTTPStatus = resp.StatusCode
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg := readErrorBody(resp.Body)
		rec.End = c.now()
		rec.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), rec.End)
		return c.fail(rec, statusResult(resp.StatusCode), fmt.Errorf("HTTP %d%s", resp.StatusCode, msg))
	}
	limited := &limitReader{r: resp.Body, n: c.ep.MaxResponseBytes, idle: idle, idleAfter: c.ep.IdleTimeout}
	mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if read != nil {
		read(ctx, rec, limited)
		return rec
	}
	if c.ep.Stream {
		if mediaType != "text/event-stream" {
			rec.End = c.now()
			return c.fail(rec, ResultProtocol, fmt.Errorf("expected text/event-stream, got %q", mediaType))
		}
		c.readStream(ctx, rec, limited)
	} else {
		c.readPlain(ctx, rec, limited)
	}
	return rec
}

// roundTrip sends body and returns the response. A send that failed on a
// reused keep-alive connection before any response byte arrived is sent
// once more on a fresh connection (see conn.go); rec.Start is the start of
// the attempt that got through, and rec.ConnRetries counts the others.
func (c *Client) roundTrip(ctx context.Context, rec *Record, body []byte, idle *time.Timer) (*http.Response, error) {
	hc := c.pool.cur.Load()
	for retry := false; ; retry = true {
		t := &connTrace{now: c.now}
		hreq, err := c.newRequest(httptrace.WithClientTrace(ctx, t.hooks()), body)
		if err != nil {
			rec.Start = c.now()
			return nil, err
		}
		rec.Start = c.now()
		resp, err := hc.Do(hreq)
		if !t.start.IsZero() {
			rec.Start = t.start
		}
		// The transport itself re-sends, on another connection, a request
		// of which nothing was written; those count too.
		rec.ConnRetries += max(t.attempts-1, 0)
		if err == nil || retry || !t.staleConn(ctx, err) {
			return resp, err
		}
		rec.ConnRetries++
		idle.Reset(c.ep.IdleTimeout)
		hc = c.pool.freshClient()
	}
}

// errBadURL is returned for a target URL net/http cannot use; the URL is
// not quoted, as it may hold credentials.
var errBadURL = errors.New("building request: invalid URL")

func (c *Client) newRequest(ctx context.Context, body []byte) (*http.Request, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, errBadURL
	}
	hreq.Header.Set("Content-Type", "application/json")
	if c.ep.Stream {
		hreq.Header.Set("Accept", "text/event-stream")
	}
	for k, v := range c.ep.Headers {
		hreq.Header.Set(k, v)
	}
	if c.ep.APIKey != "" {
		hreq.Header.Set("Authorization", "Bearer "+c.ep.APIKey)
	}
	return hreq, nil
}

func statusResult(code int) Result {
	switch {
	case code == http.StatusTooManyRequests:
		return ResultHTTP429
	case code >= 500:
		return ResultHTTP5xx
	case code >= 400:
		return ResultHTTP4xx
	default: // 1xx, 3xx (redirects are not followed), 204-like oddities
		return ResultProtocol
	}
}

// readErrorBody returns a short excerpt of an error body's message, for logs.
func readErrorBody(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 2048))
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && len(e.Error) > 0 {
		return ": " + errorMessage(e.Error)
	}
	return ""
}

// errorMessage pulls a printable message out of an OpenAI-style error value,
// which is either an object with "message" or a plain string.
func errorMessage(raw json.RawMessage) string {
	var obj struct {
		Message string `json:"message"`
	}
	var s string
	switch {
	case json.Unmarshal(raw, &obj) == nil && obj.Message != "":
		s = obj.Message
	case json.Unmarshal(raw, &s) == nil:
	default:
		s = string(raw)
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}

func (c *Client) fail(rec *Record, res Result, err error) *Record {
	rec.Result = res
	rec.Error = err.Error()
	if c.ep.APIKey != "" {
		// Servers quote the credentials they reject; logs must not.
		rec.Error = strings.ReplaceAll(rec.Error, c.ep.APIKey, "<secret>")
	}
	if rec.End.IsZero() {
		rec.End = c.now()
	}
	return rec
}

// classifyErr turns a transport or body error into a Result. The URL is kept
// out of the message: it may carry credentials in its query.
func (c *Client) classifyErr(ctx context.Context, rec *Record, err error) *Record {
	if cause := context.Cause(ctx); cause != nil {
		switch {
		case errors.Is(cause, errIdle):
			return c.fail(rec, ResultTimeout, errIdle)
		case errors.Is(cause, errTimeout):
			return c.fail(rec, ResultTimeout, fmt.Errorf("request timeout %s exceeded", c.ep.Timeout))
		default: // the caller's: canceled, or its own deadline passed
			return c.fail(rec, ResultCanceled, fmt.Errorf("canceled: %w", cause))
		}
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	var nerr net.Error
	if errors.As(err, &nerr) && nerr.Timeout() {
		return c.fail(rec, ResultTimeout, err)
	}
	if errors.Is(err, errTooLarge) || errors.Is(err, ErrEventTooLarge) || errors.Is(err, ErrTruncated) || errors.Is(err, errBadURL) {
		return c.fail(rec, ResultProtocol, err)
	}
	return c.fail(rec, ResultConnection, err)
}

var errTooLarge = errors.New("response larger than max_response_bytes")

// limitReader caps the body size and re-arms the idle timer on every read.
type limitReader struct {
	r         io.Reader
	n         int64
	idle      *time.Timer
	idleAfter time.Duration
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if n > 0 {
		l.idle.Reset(l.idleAfter)
	}
	return n, err
}

// chunk is the part of a streamed chunk we read. Text fields are kept raw:
// we only need to know whether they are non-empty, and RawMessage reuses its
// buffer when the struct is reused, so parsing does not allocate per chunk.
type chunk struct {
	Choices []struct {
		Delta struct {
			Content          json.RawMessage `json:"content"`
			ReasoningContent json.RawMessage `json:"reasoning_content"`
			Reasoning        json.RawMessage `json:"reasoning"` // some servers' name for it
		} `json:"delta"`
		Text         json.RawMessage `json:"text"` // completions
		FinishReason json.RawMessage `json:"finish_reason"`
	} `json:"choices"`
	Usage   *usage          `json:"usage"`
	Timings *timings        `json:"timings"` // llama.cpp
	Error   json.RawMessage `json:"error"`
}

// usage's details are values, not pointers, so that decoding a usage into a
// reused one does not allocate (null or absent details read as zero).
type usage struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	PromptTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`
}

type timings struct {
	PromptMS    float64 `json:"prompt_ms"`
	PredictedMS float64 `json:"predicted_ms"`
}

func (t *timings) prefill() time.Duration { return msDuration(t.PromptMS) }
func (t *timings) decode() time.Duration  { return msDuration(t.PredictedMS) }

// msDuration converts milliseconds to a Duration, rounded to the nearest
// nanosecond (truncation would turn 1.001ms into 1.000999ms).
func msDuration(ms float64) time.Duration {
	return time.Duration(math.Round(ms * float64(time.Millisecond)))
}

// nonEmptyString reports whether raw is a JSON string with content.
func nonEmptyString(raw json.RawMessage) bool {
	return len(raw) > 2 && raw[0] == '"'
}

func (ch *chunk) reset() {
	for i := range ch.Choices {
		c := &ch.Choices[i]
		c.Delta.Content = c.Delta.Content[:0]
		c.Delta.ReasoningContent = c.Delta.ReasoningContent[:0]
		c.Delta.Reasoning = c.Delta.Reasoning[:0]
		c.Text = c.Text[:0]
		c.FinishReason = c.FinishReason[:0]
	}
	ch.Choices = ch.Choices[:0]
	ch.Usage = nil
	ch.Timings = nil
	ch.Error = ch.Error[:0]
}

// chunkDecoder decodes each event's JSON into one reused chunk. It keeps a
// json.Decoder across events because json.Unmarshal builds its decoding
// state afresh on every call (about eight allocations per chunk); the
// Decoder reuses it, and its buffer, from one event to the next.
type chunkDecoder struct {
	ch  chunk
	u   usage // where a chunk's usage is decoded, instead of a new one
	rd  bytes.Reader
	dec *json.Decoder
	fed int64 // bytes given to dec so far: its offsets count from there
}

var errTrailingData = errors.New("data after the JSON value")

// decode parses one event's data into d.ch. Like json.Unmarshal, it
// accepts exactly one JSON value with optional white space around it.
func (d *chunkDecoder) decode(data []byte) error {
	if d.dec == nil {
		d.rd.Reset(nil)
		d.dec = json.NewDecoder(&d.rd)
		d.fed = 0
	}
	d.ch.reset()
	// A present usage object is decoded into d.u; null sets the pointer to
	// nil. The sentinel tells an absent usage (pointer left as it was)
	// from a present one.
	d.u = usage{PromptTokens: -1, CompletionTokens: -1}
	d.ch.Usage = &d.u
	start := d.fed
	d.rd.Reset(data)
	d.fed += int64(len(data))
	if err := d.dec.Decode(&d.ch); err != nil {
		d.dec = nil // a Decoder's read and syntax errors are sticky
		return err
	}
	for _, c := range data[d.dec.InputOffset()-start:] {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			d.dec = nil
			return errTrailingData
		}
	}
	if d.ch.Usage != nil {
		if d.u.PromptTokens < 0 && d.u.CompletionTokens < 0 {
			d.ch.Usage = nil // absent, or an empty object
		}
		d.u.PromptTokens = max(d.u.PromptTokens, 0) // a field left out: zero
		d.u.CompletionTokens = max(d.u.CompletionTokens, 0)
	}
	return nil
}

var chunkPool = sync.Pool{New: func() any { return new(chunkDecoder) }}

func (c *Client) readStream(ctx context.Context, rec *Record, body io.Reader) {
	sse := NewSSEReader(body, maxEventBytes)
	sse.now = c.now
	dec := chunkPool.Get().(*chunkDecoder)
	defer chunkPool.Put(dec)
	ch := &dec.ch
	chunks := 0    // output-carrying chunks
	lastUsage := 0 // completion tokens reported so far (continuous usage)
	done := false
	for {
		ev, err := sse.Next()
		if err != nil {
			rec.End = c.now()
			if err == io.EOF {
				break
			}
			c.classifyErr(ctx, rec, err)
			c.finishTokens(rec, chunks)
			return
		}
		if string(ev.Data) == "[DONE]" {
			rec.End = ev.At
			done = true
			break
		}
		// JSON is UTF-8 (RFC 8259), and encoding/json would quietly turn
		// invalid bytes into U+FFFD, where the server's clients fail.
		if !utf8.Valid(ev.Data) {
			rec.End = ev.At
			c.fail(rec, ResultProtocol, fmt.Errorf("invalid UTF-8 in stream chunk %d", chunks+1))
			c.finishTokens(rec, chunks)
			return
		}
		if err := dec.decode(ev.Data); err != nil {
			rec.End = ev.At
			c.fail(rec, ResultProtocol, fmt.Errorf("invalid JSON in stream chunk %d", chunks+1))
			c.finishTokens(rec, chunks)
			return
		}
		if len(ch.Error) > 0 && string(ch.Error) != "null" {
			rec.End = ev.At
			c.fail(rec, ResultProtocol, fmt.Errorf("error in stream: %s", errorMessage(ch.Error)))
			c.finishTokens(rec, chunks)
			return
		}
		output, answer := false, false
		for i := range ch.Choices {
			cc := &ch.Choices[i]
			if nonEmptyString(cc.Delta.Content) || nonEmptyString(cc.Text) {
				output, answer = true, true
			}
			if nonEmptyString(cc.Delta.ReasoningContent) || nonEmptyString(cc.Delta.Reasoning) {
				output = true
			}
			if nonEmptyString(cc.FinishReason) {
				var fr string
				_ = json.Unmarshal(cc.FinishReason, &fr)
				rec.FinishReason = fr
			}
		}
		if output {
			// TTFT: the first chunk carrying output of either kind; a
			// role-only first chunk has none and does not count.
			if rec.FirstToken.IsZero() {
				rec.FirstToken = ev.At
			}
			if answer && rec.FirstAnswer.IsZero() {
				rec.FirstAnswer = ev.At
			}
			k := int32(1)
			if ch.Usage != nil && ch.Usage.CompletionTokens > lastUsage {
				// continuous usage stats: this chunk's share of the tokens
				k = int32(ch.Usage.CompletionTokens - lastUsage)
				lastUsage = ch.Usage.CompletionTokens
			}
			rec.Chunks = append(rec.Chunks, ev.At.Sub(rec.Start))
			if k != 1 || rec.ChunkTokens != nil {
				if rec.ChunkTokens == nil {
					rec.ChunkTokens = make([]int32, len(rec.Chunks)-1, cap(rec.Chunks))
					for i := range rec.ChunkTokens {
						rec.ChunkTokens[i] = 1
					}
				}
				rec.ChunkTokens = append(rec.ChunkTokens, k)
			}
			chunks++
		}
		if ch.Usage != nil {
			c.applyUsage(rec, ch.Usage)
		}
		if ch.Timings != nil {
			rec.ServerPrefill = ch.Timings.prefill()
			rec.ServerDecode = ch.Timings.decode()
		}
	}
	c.finishTokens(rec, chunks)
	switch {
	case done, rec.FinishReason != "":
		// A body that ends without [DONE] after a finish_reason is complete:
		// some servers omit the terminator.
		rec.Result = ResultSuccess
	default:
		c.fail(rec, ResultProtocol, errors.New("stream ended without [DONE] or finish_reason"))
	}
	if rec.Result == ResultSuccess && chunks == 0 {
		c.fail(rec, ResultProtocol, errors.New("stream carried no output tokens"))
	}
}

func (c *Client) applyUsage(rec *Record, u *usage) {
	rec.UsageReported = true
	rec.InputTokens = u.PromptTokens
	rec.OutputTokens = u.CompletionTokens
	rec.CachedTokens = u.PromptTokensDetails.CachedTokens
	rec.ReasoningTokens = u.CompletionTokensDetails.ReasoningTokens
}

// finishTokens falls back to counting output chunks when the server sent no
// usage: an estimate, and the record says so (UsageReported false).
func (c *Client) finishTokens(rec *Record, chunks int) {
	if !rec.UsageReported {
		n := 0
		if rec.ChunkTokens != nil {
			for _, k := range rec.ChunkTokens {
				n += int(k)
			}
		} else {
			n = chunks
		}
		rec.OutputTokens = n
	}
}

type plainResponse struct {
	Choices []struct {
		Message struct {
			Content          *string `json:"content"`
			ReasoningContent *string `json:"reasoning_content"`
		} `json:"message"`
		Text         *string `json:"text"`
		FinishReason string  `json:"finish_reason"`
	} `json:"choices"`
	Usage   *usage          `json:"usage"`
	Timings *timings        `json:"timings"`
	Error   json.RawMessage `json:"error"`
}

func (c *Client) readPlain(ctx context.Context, rec *Record, body io.Reader) {
	b, err := io.ReadAll(body)
	rec.End = c.now()
	if err != nil {
		c.classifyErr(ctx, rec, err)
		return
	}
	if !utf8.Valid(b) {
		c.fail(rec, ResultProtocol, errors.New("invalid UTF-8 in response body"))
		return
	}
	var pr plainResponse
	if err := json.Unmarshal(b, &pr); err != nil {
		c.fail(rec, ResultProtocol, errors.New("invalid JSON response body"))
		return
	}
	if len(pr.Error) > 0 && string(pr.Error) != "null" {
		c.fail(rec, ResultProtocol, fmt.Errorf("error in response: %s", errorMessage(pr.Error)))
		return
	}
	if len(pr.Choices) == 0 {
		c.fail(rec, ResultProtocol, errors.New("response has no choices"))
		return
	}
	rec.FinishReason = pr.Choices[0].FinishReason
	if pr.Usage != nil {
		c.applyUsage(rec, pr.Usage)
	}
	if pr.Timings != nil {
		rec.ServerPrefill = pr.Timings.prefill()
		rec.ServerDecode = pr.Timings.decode()
	}
	rec.Result = ResultSuccess
}
