package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// DefaultRerankPath is the rerank API path of vLLM, Jina and llama.cpp.
// vLLM also serves /rerank and /v2/rerank, the Cohere-style paths.
const DefaultRerankPath = "/v1/rerank"

// Message is one message of a conversation sent to a chat endpoint.
type Message struct {
	Role    string
	Content string
}

// pooling reports whether kind answers one JSON body with no generated
// text: no stream, no TTFT, only latency and input tokens.
func pooling(kind string) bool { return kind == "embeddings" || kind == "rerank" }

// contentPart is an OpenAI chat content part: text or an image.
type contentPart struct {
	Type     string    `json:"type"`
	Text     string    `json:"text,omitempty"`
	ImageURL *imageURL `json:"image_url,omitempty"`
}

type imageURL struct {
	URL string `json:"url"`
}

// chatMessages builds a chat request's messages: req.Messages, or the
// system message and the prompt. Images become image_url parts after the
// text of the last user message: text first, so that a cold prompt's nonce
// is the first thing the model reads and the images are no cacheable prefix.
func chatMessages(req Request) []message {
	var msgs []message
	if len(req.Messages) > 0 {
		msgs = make([]message, len(req.Messages))
		for i, m := range req.Messages {
			msgs[i] = message{Role: m.Role, Content: m.Content}
		}
	} else {
		if req.System != "" {
			msgs = append(msgs, message{Role: "system", Content: req.System})
		}
		msgs = append(msgs, message{Role: "user", Content: req.Prompt})
	}
	if len(req.Images) == 0 {
		return msgs
	}
	last := len(msgs) - 1
	for i := last; i >= 0; i-- {
		if msgs[i].Role == "user" {
			last = i
			break
		}
	}
	text, _ := msgs[last].Content.(string)
	parts := make([]contentPart, 0, 1+len(req.Images))
	parts = append(parts, contentPart{Type: "text", Text: text})
	for _, uri := range req.Images {
		parts = append(parts, contentPart{Type: "image_url", ImageURL: &imageURL{URL: uri}})
	}
	msgs[last].Content = parts
	return msgs
}

// bodyReader returns how a successful response to req is read: nil for the
// generation kinds (chat, completions, vision), which send handles.
func (c *Client) bodyReader(req Request) func(context.Context, *Record, io.Reader) {
	switch c.ep.Kind {
	case "embeddings":
		n, dims := len(req.Inputs), req.Dimensions
		return func(ctx context.Context, rec *Record, body io.Reader) {
			if b, ok := c.readBody(ctx, rec, body); ok {
				c.checkEmbeddings(rec, b, n, dims)
			}
		}
	case "rerank":
		n := len(req.Documents)
		return func(ctx context.Context, rec *Record, body io.Reader) {
			if b, ok := c.readBody(ctx, rec, body); ok {
				c.checkRerank(rec, b, n)
			}
		}
	}
	return nil
}

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

// indexSet checks result indexes: each in [0, n) and seen once.
type indexSet struct {
	seen []bool
}

func newIndexSet(n int) *indexSet { return &indexSet{seen: make([]bool, n)} }

func (s *indexSet) add(i int) error {
	switch {
	case i < 0 || i >= len(s.seen):
		return fmt.Errorf("index %d out of range [0, %d)", i, len(s.seen))
	case s.seen[i]:
		return fmt.Errorf("index %d twice", i)
	}
	s.seen[i] = true
	return nil
}

var errNotFinite = errors.New("not a finite number")
