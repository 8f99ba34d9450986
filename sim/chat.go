package sim

import (
	"encoding/json"
	"errors"
	"net/http"
	"unicode/utf8"
)

var chatKind = textKind{
	chat:        true,
	idPrefix:    "chatcmpl-",
	chunkObject: "chat.completion.chunk",
	fullObject:  "chat.completion",
}

type chatRequest struct {
	Model               string         `json:"model"`
	Messages            []chatMessage  `json:"messages"`
	Stream              bool           `json:"stream"`
	StreamOptions       *streamOptions `json:"stream_options"`
	MaxTokens           *int           `json:"max_tokens"`
	MaxCompletionTokens *int           `json:"max_completion_tokens"`
	MinTokens           *int           `json:"min_tokens"`
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type contentPart struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// serveChat answers POST /v1/chat/completions.
func (s *Server) serveChat(w http.ResponseWriter, r *http.Request) {
	st := s.getState()
	defer s.putState(st)
	var req chatRequest
	if !s.decodeBody(w, r, st, &req) || !s.checkModel(w, req.Model) {
		return
	}
	if len(req.Messages) == 0 {
		s.badRequest(w, http.StatusBadRequest, "messages must be a non-empty array.")
		return
	}
	chars := 0
	for _, m := range req.Messages {
		n, err := contentChars(m.Content)
		if err != nil {
			s.badRequest(w, http.StatusBadRequest, err.Error())
			return
		}
		chars += n
	}
	maxTokens := req.MaxTokens
	if maxTokens == nil {
		maxTokens = req.MaxCompletionTokens
	}
	n, finish, err := s.outputLength(maxTokens, req.MinTokens)
	if err != nil {
		s.badRequest(w, http.StatusBadRequest, err.Error())
		return
	}
	g := genRequest{
		kind:      &chatKind,
		stream:    req.Stream,
		prompt:    estimateTokens(chars),
		n:         n,
		reasoning: min(s.cfg.Reasoning, n),
		finish:    finish,
	}
	if req.Stream && req.StreamOptions != nil {
		g.includeUsage = req.StreamOptions.IncludeUsage
		g.continuousUsage = req.StreamOptions.ContinuousUsageStats
	}
	s.generate(w, r, st, &g)
}

// contentChars counts the characters of a message's content: a string, an
// array of parts (text parts count, others do not) or null.
func contentChars(raw json.RawMessage) (int, error) {
	if len(raw) == 0 {
		return 0, nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, err
		}
		return utf8.RuneCountInString(s), nil
	case '[':
		var parts []contentPart
		if err := json.Unmarshal(raw, &parts); err != nil {
			return 0, errors.New("message content parts must be objects: " + err.Error())
		}
		n := 0
		for _, p := range parts {
			n += utf8.RuneCountInString(p.Text)
		}
		return n, nil
	case 'n': // null
		return 0, nil
	}
	return 0, errors.New("message content must be a string or an array of content parts.")
}
