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

// Message is one message of a conversation sent to a chat endpoint.
type Message struct {
	Role    string
	Content string
}

// pooling reports whether kind answers one JSON body with no generated
// text: no stream, no TTFT, only latency and input tokens.
func pooling(kind Kind) bool { return kind == Embeddings || kind == Rerank }

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
// A cold workload puts its nonce at the start of the first message, whatever
// its role (package workload): servers cache prefixes of the tokenized
// prompt, so whatever precedes the nonce (a system prompt) would be cached.
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

// textCharsPerToken estimates tokens from characters, as
// tokenizer.CharsPerToken does (probe does not import the tokenizer).
const textCharsPerToken = 4

// TextTokens estimates the tokens of the text a chat, completions or vision
// request sends: its messages (a conversation, which workload sets for chat
// and vision only), or its system message and prompt. The server's
// prompt_tokens adds what its chat template wraps around them.
func (req Request) TextTokens() int {
	chars := 0
	if len(req.Messages) > 0 {
		for _, m := range req.Messages {
			chars += utf8.RuneCountInString(m.Content)
		}
	} else {
		chars = utf8.RuneCountInString(req.System) + utf8.RuneCountInString(req.Prompt)
	}
	return (chars + textCharsPerToken - 1) / textCharsPerToken
}

// ColdCacheFloor is the cached prompt tokens a cold request may always
// report: the chat template's header comes before the nonce and is the same
// in every request, so a server caches it. vLLM caches whole blocks of 16
// tokens (block hashes chained from the prompt's start) and SGLang and
// llama.cpp single tokens (a radix tree; a slot's longest common prefix), so
// a header of up to 31 tokens (ChatML, Llama 3's with its date lines) yields
// at most 32 cached tokens with the nonce's first tokens matched by chance.
const ColdCacheFloor = 32

// wholePromptSlack is what a server leaves uncached of a prompt it serves
// whole from its cache: llama.cpp and SGLang recompute the last token, vLLM
// the last block of 16 tokens (it caches at most prompt_tokens-1, in blocks).
const wholePromptSlack = 16

// ColdCacheHit reports whether rec, the response to a cold request (one
// that starts with a unique nonce), was served from the server's prefix
// cache beyond the template's share: whether it reported more than
// max(ColdCacheFloor, template + text/2) cached tokens, where text is the
// request's own text in tokens (Request.TextTokens) and template is what
// the server counted beyond it (rec.InputTokens - text). The nonce starts
// the text, so a cache that reaches into it has matched the nonce; half,
// because 4 characters per token can be off from the model's tokenizer by
// tens of percent. With text unknown (0), only a prompt served whole from
// the cache, but for what servers always recompute, is a hit.
func ColdCacheHit(rec *Record, text int) bool {
	if !rec.Success() || rec.CachedTokens <= ColdCacheFloor {
		return false
	}
	computed := rec.InputTokens - rec.CachedTokens
	if text <= 0 {
		return computed <= wholePromptSlack
	}
	return 2*computed < text
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
