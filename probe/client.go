package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Endpoint is what the client needs to know of a target. It is built from
// the config (or from bench's flags) so that this package does not depend on
// the config schema.
type Endpoint struct {
	Name   string // label value; never the URL
	URL    string // base URL; a trailing /v1 is tolerated
	Model  string
	Kind   Kind   // default Chat
	APIKey string // sent as a bearer token; never logged
	// APIKeyHeader, when set and not Authorization, carries APIKey as it
	// is (Azure OpenAI's api-key, x-api-key) instead of a bearer token.
	APIKeyHeader       string
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
	// Answer, when set, asks for tool calls or structured output, and a
	// 200 answer must pass its checks (chat and vision only; other kinds
	// refuse it). Shared by requests, never modified.
	Answer *AnswerSpec
}

// KeyHeader is the header that carries the endpoint's key.
func (ep *Endpoint) KeyHeader() string {
	if ep.APIKeyHeader == "" {
		return "Authorization"
	}
	return http.CanonicalHeaderKey(ep.APIKeyHeader)
}

// setKey puts the endpoint's key, if any, in its header.
func (ep *Endpoint) setKey(h http.Header) {
	if ep.APIKey == "" {
		return
	}
	if k := ep.KeyHeader(); k != "Authorization" {
		h.Set(k, ep.APIKey)
		return
	}
	h.Set("Authorization", "Bearer "+ep.APIKey)
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
	kind kindSpec // kinds[ep.Kind]; zero for an unknown kind
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
	kind := kinds[ep.Kind]
	if kind.pooling {
		ep.Stream = false // embeddings and rerank answer in one body
	}
	return &Client{
		ep:   ep,
		kind: kind,
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
	spec, ok := kinds[ep.Kind]
	if !ok {
		return base // Body refuses the kind: nothing is sent
	}
	return base + spec.path(&ep)
}

// Body returns the JSON body the client sends for req.
func (c *Client) Body(req Request) ([]byte, error) { return c.body(&req) }

// body is Body for the request path, which passes the request by pointer:
// a Request copied into every frame of a stream's call stack would keep its
// goroutine's stack at twice the size it needs.
func (c *Client) body(req *Request) ([]byte, error) {
	if c.kind.body == nil {
		return nil, fmt.Errorf("unknown kind %q", c.ep.Kind)
	}
	if err := req.Answer.checkKind(c.ep.Kind); err != nil {
		return nil, err
	}
	return c.kind.body(&c.ep, req)
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
	body, err := c.body(&req)
	if err != nil {
		rec.Start = c.now()
		return c.fail(rec, ResultProtocol, fmt.Errorf("encoding request: %w", err))
	}
	c.send(ctx, rec, body, &req)
	if req.Cold && rec.CachedTokens > ColdCacheFloor {
		rec.ColdCacheHit = ColdCacheHit(rec, req.TextTokens())
	}
	return rec
}

// send posts body, the encoding of req, and fills rec from the response: a
// successful one is read by the kind's reader.
func (c *Client) send(ctx context.Context, rec *Record, body []byte, req *Request) *Record {
	ctx, cancel := context.WithTimeoutCause(ctx, c.ep.Timeout, errTimeout)
	defer cancel()
	ctx, cancelIdle := context.WithCancelCause(ctx)
	defer cancelIdle(nil)

	// The idle timer covers the wait for headers and every silence between
	// reads of the body; the overall timeout covers the whole request.
	idle := newIdleTimer(c.ep.IdleTimeout, func() { cancelIdle(errIdle) })
	defer idle.stop()

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
		idle.reset(min(c.ep.IdleTimeout, maxDrainWait))
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
	limited := &limitReader{r: resp.Body, n: c.ep.MaxResponseBytes, idle: idle}
	mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	c.kind.read(c, ctx, rec, req, limited, mediaType)
	return rec
}

// roundTrip sends body and returns the response. A send that failed on a
// reused keep-alive connection before any response byte arrived is sent
// once more on a fresh connection (see conn.go); rec.Start is the start of
// the attempt that got through, and rec.ConnRetries counts the others.
func (c *Client) roundTrip(ctx context.Context, rec *Record, body []byte, idle *idleTimer) (*http.Response, error) {
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
		idle.reset(c.ep.IdleTimeout)
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
	c.ep.setKey(hreq.Header)
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
	// Told apart from a reset or a cut stream by the errno, not by the
	// message, which differs between systems.
	rec.Refused = errors.Is(err, syscall.ECONNREFUSED)
	return c.fail(rec, ResultConnection, err)
}

var errTooLarge = errors.New("response larger than max_response_bytes")

// limitReader caps the body size and tells the idle timer of every read.
type limitReader struct {
	r    io.Reader
	n    int64
	idle *idleTimer
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		// At the cap: a body that ends here (its end may come in a read
		// of its own, as a chunked body's last chunk does) is whole; one
		// more byte is one too many.
		var one [1]byte
		n, err := l.r.Read(one[:])
		switch {
		case n > 0:
			return 0, errTooLarge
		case err != nil:
			return 0, err
		}
		return 0, nil
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if n > 0 {
		l.idle.touch()
	}
	return n, err
}
