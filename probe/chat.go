package probe

import (
	"encoding/json"
	"unicode/utf8"
)

// Chat, vision and completions requests: one generation body, which chat
// and vision send as messages and completions as a prompt. Their responses
// are read in stream.go.

// Message is one message of a conversation sent to a chat endpoint.
type Message struct {
	Role    string
	Content string
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
	// Tool calls and structured output (AnswerSpec), as encoded once.
	Tools          json.RawMessage `json:"tools,omitempty"`
	ToolChoice     json.RawMessage `json:"tool_choice,omitempty"`
	ResponseFormat json.RawMessage `json:"response_format,omitempty"`
}

// generationBody is the part of a chat or completions body that does not
// depend on the kind.
func generationBody(ep *Endpoint, req *Request) requestBody {
	b := requestBody{
		Model:       ep.Model,
		MaxTokens:   req.MaxTokens,
		Temperature: req.Temperature,
		Stream:      ep.Stream,
	}
	// Not for a checked answer: forcing its length would make the model
	// write on past the end of its tool call or JSON document.
	if ep.SupportsMinTokens && req.MinTokens > 0 && !req.Answer.checks() {
		b.MinTokens = req.MinTokens
		b.IgnoreEOS = true
	}
	if ep.Stream {
		b.StreamOptions = &streamOptions{IncludeUsage: true, ContinuousUsageStats: ep.SupportsMinTokens}
	}
	return b
}

// chatBody encodes a chat or vision request.
func chatBody(ep *Endpoint, req *Request) ([]byte, error) {
	b := generationBody(ep, req)
	b.Messages = chatMessages(req)
	req.Answer.apply(&b)
	return json.Marshal(b)
}

// completionsBody encodes a completions request: the system message, if
// any, prepended to the prompt.
func completionsBody(ep *Endpoint, req *Request) ([]byte, error) {
	b := generationBody(ep, req)
	b.Prompt = req.Prompt
	if req.System != "" {
		b.Prompt = req.System + "\n\n" + req.Prompt
	}
	return json.Marshal(b)
}

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
func chatMessages(req *Request) []message {
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
