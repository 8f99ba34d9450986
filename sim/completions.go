package sim

import (
	"encoding/json"
	"errors"
	"net/http"
	"unicode/utf8"
)

var completionsKind = textKind{
	idPrefix:    "cmpl-",
	chunkObject: "text_completion",
	fullObject:  "text_completion",
}

type completionsRequest struct {
	Model         string          `json:"model"`
	Prompt        json.RawMessage `json:"prompt"`
	Stream        bool            `json:"stream"`
	StreamOptions *streamOptions  `json:"stream_options"`
	MaxTokens     *int            `json:"max_tokens"`
	MinTokens     *int            `json:"min_tokens"`
}

// serveCompletions answers POST /v1/completions. Only one choice is
// generated, whatever the prompt's shape.
func (s *Server) serveCompletions(w http.ResponseWriter, r *http.Request) {
	st := s.getState()
	defer s.putState(st)
	var req completionsRequest
	if !s.decodeBody(w, r, st, &req) || !s.checkModel(w, req.Model) {
		return
	}
	bh := s.promptHasher(st)
	prompt, err := promptTokens(req.Prompt, bh)
	if err != nil {
		s.badRequest(w, http.StatusBadRequest, err.Error())
		return
	}
	n, finish, err := s.outputLength(req.MaxTokens, req.MinTokens)
	if err != nil {
		s.badRequest(w, http.StatusBadRequest, err.Error())
		return
	}
	g := genRequest{
		kind:   &completionsKind,
		stream: req.Stream,
		prompt: prompt,
		n:      n,
		finish: finish,
		blocks: bh.full(prompt, s.cfg.PrefixCache.BlockTokens),
	}
	if req.Stream && req.StreamOptions != nil {
		g.includeUsage = req.StreamOptions.IncludeUsage
		g.continuousUsage = req.StreamOptions.ContinuousUsageStats
	}
	s.generate(w, r, st, &g)
}

var errPrompt = errors.New("prompt must be a string, an array of strings, an array of token ids or an array of such arrays.")

// promptTokens estimates the prompt's tokens: text by characters, token id
// arrays by their length. A prompt string goes to bh (nil: none); other
// prompts are not cached.
func promptTokens(raw json.RawMessage, bh *blockHasher) (int, error) {
	if len(raw) == 0 || raw[0] == 'n' {
		return 0, errors.New("prompt is required.")
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, err
		}
		bh.write(s)
		return estimateTokens(utf8.RuneCountInString(s)), nil
	case '[':
		var elems []json.RawMessage
		if err := json.Unmarshal(raw, &elems); err != nil {
			return 0, errPrompt
		}
		if len(elems) == 0 {
			return 0, errors.New("prompt must not be empty.")
		}
		chars, ids := 0, 0
		for _, e := range elems {
			switch {
			case len(e) > 0 && e[0] == '"':
				var s string
				if err := json.Unmarshal(e, &s); err != nil {
					return 0, errPrompt
				}
				chars += utf8.RuneCountInString(s)
			case len(e) > 0 && e[0] == '[':
				var toks []int
				if err := json.Unmarshal(e, &toks); err != nil {
					return 0, errPrompt
				}
				ids += len(toks)
			default:
				var tok int
				if err := json.Unmarshal(e, &tok); err != nil {
					return 0, errPrompt
				}
				ids++
			}
		}
		if chars > 0 {
			ids += estimateTokens(chars)
		}
		return max(1, ids), nil
	}
	return 0, errPrompt
}
