package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// Kind is an endpoint's API: which request it is sent and how its
// response is read. Package config spells the same values in its schema.
type Kind string

// The endpoint kinds.
const (
	Chat        Kind = "chat"
	Completions Kind = "completions"
	Vision      Kind = "vision" // chat with image_url parts
	Embeddings  Kind = "embeddings"
	Rerank      Kind = "rerank"
)

// DefaultRerankPath is the rerank API path of vLLM, Jina and llama.cpp.
// vLLM also serves /rerank and /v2/rerank, the Cohere-style paths.
const DefaultRerankPath = "/v1/rerank"

// kindSpec is all that differs between kinds; the client's request, its
// deadlines and its error classification are shared. Each kind's functions
// live in its own file (chat.go, stream.go, embeddings.go, rerank.go).
type kindSpec struct {
	// path returns the API path appended to the endpoint's base URL.
	path func(ep *Endpoint) string
	// body encodes req for the endpoint.
	body func(ep *Endpoint, req *Request) ([]byte, error)
	// read fills rec from a 2xx response body of the given media type.
	read func(c *Client, ctx context.Context, rec *Record, req *Request, body io.Reader, mediaType string)
	// pooling: one JSON body with no generated text (no stream, no TTFT),
	// only latency and input tokens.
	pooling bool
}

var kinds = map[Kind]kindSpec{
	Chat:        {path: apiPath("/v1/chat/completions"), body: chatBody, read: (*Client).readGeneration},
	Vision:      {path: apiPath("/v1/chat/completions"), body: chatBody, read: (*Client).readGeneration},
	Completions: {path: apiPath("/v1/completions"), body: completionsBody, read: (*Client).readGeneration},
	Embeddings:  {path: apiPath("/v1/embeddings"), body: embeddingsBody, read: (*Client).readEmbeddings, pooling: true},
	Rerank:      {path: rerankPath, body: rerankBody, read: (*Client).readRerank, pooling: true},
}

func apiPath(p string) func(*Endpoint) string { return func(*Endpoint) string { return p } }

// pooling reports whether kind answers one JSON body with no generated
// text: no stream, no TTFT, only latency and input tokens.
func pooling(kind Kind) bool { return kinds[kind].pooling }

// readBody reads a whole response body; false if that failed (rec is then
// classified).
func (c *Client) readBody(ctx context.Context, rec *Record, body io.Reader) ([]byte, bool) {
	b, err := io.ReadAll(body)
	rec.End = c.now()
	if err != nil {
		c.classifyErr(ctx, rec, err)
		return nil, false
	}
	// encoding/json would quietly replace invalid bytes; a server that
	// sends them is broken, not successful.
	if !utf8.Valid(b) {
		c.fail(rec, ResultProtocol, errors.New("invalid UTF-8 in response body"))
		return nil, false
	}
	return b, true
}

// poolingUsage is the usage of an embeddings or rerank response: OpenAI and
// llama.cpp send prompt_tokens, vLLM's rerank only total_tokens.
type poolingUsage struct {
	PromptTokens *int `json:"prompt_tokens"`
	TotalTokens  *int `json:"total_tokens"`
}

func (u *poolingUsage) apply(rec *Record) {
	if u == nil {
		return
	}
	switch {
	case u.PromptTokens != nil:
		rec.InputTokens = *u.PromptTokens
	case u.TotalTokens != nil:
		rec.InputTokens = *u.TotalTokens
	default:
		return
	}
	rec.UsageReported = true
}

// errProtocol fails rec as a protocol error: a 200 whose body is not what
// was asked for is not a success.
func (c *Client) errProtocol(rec *Record, format string, args ...any) {
	c.fail(rec, ResultProtocol, fmt.Errorf(format, args...))
}

// checkError fails rec if the body is an error object; true if it did.
func (c *Client) checkError(rec *Record, raw json.RawMessage) bool {
	if len(raw) > 0 && string(raw) != "null" {
		c.fail(rec, ResultProtocol, fmt.Errorf("error in response: %s", errorMessage(raw)))
		return true
	}
	return false
}

// indexedList checks a response list that answers the n items of a request
// (inputs, documents) one entry each: n entries, every index in [0, n)
// exactly once, in any order. Errors name an entry by its position.
type indexedList struct {
	entry    string // what an entry is called: "embedding", "result"
	implicit bool   // an entry without an index is at its own position
	seen     []bool
}

// newIndexedList returns the check of a list of entries answering n items;
// an error if there are not n entries.
func newIndexedList(entry string, implicit bool, entries, n int, items string) (*indexedList, error) {
	if entries != n {
		return nil, fmt.Errorf("%d %ss for %d %s", entries, entry, n, items)
	}
	return &indexedList{entry: entry, implicit: implicit, seen: make([]bool, n)}, nil
}

// index checks entry i's index (nil: none given) and returns it.
func (l *indexedList) index(i int, idx *int) (int, error) {
	at := i
	switch {
	case idx != nil:
		at = *idx
	case !l.implicit:
		return 0, fmt.Errorf("%s %d has no index", l.entry, i)
	}
	switch {
	case at < 0 || at >= len(l.seen):
		return 0, fmt.Errorf("%s %d: index %d out of range [0, %d)", l.entry, i, at, len(l.seen))
	case l.seen[at]:
		return 0, fmt.Errorf("%s %d: index %d twice", l.entry, i, at)
	}
	l.seen[at] = true
	return at, nil
}

var errNotFinite = errors.New("not a finite number")
