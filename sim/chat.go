package sim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
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
	// Tool calls and structured output (tools.go).
	Tools          []chatTool      `json:"tools"`
	ToolChoice     json.RawMessage `json:"tool_choice"`
	ResponseFormat *responseFormat `json:"response_format"`
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type contentPart struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	ImageURL *struct {
		URL string `json:"url"`
	} `json:"image_url"`
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
	chars, images := 0, 0
	bh := s.promptHasher(st)
	bh.write(ChatTemplateHeader)
	for _, m := range req.Messages {
		n, im, err := contentChars(m.Content, bh)
		if err != nil {
			s.badRequest(w, http.StatusBadRequest, err.Error())
			return
		}
		chars += n
		images += im
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
		prompt:    estimateTokens(chars) + images*s.cfg.ImageTokens,
		n:         n,
		reasoning: min(s.cfg.Reasoning, n),
		finish:    finish,
	}
	if err := s.planTools(&req, &g, maxTokens); err != nil {
		s.badRequest(w, http.StatusBadRequest, err.Error())
		return
	}
	if bh != nil {
		g.prompt += ChatTemplateTokens
		g.blocks = bh.full(g.prompt, s.cfg.PrefixCache.BlockTokens)
	}
	if req.Stream && req.StreamOptions != nil {
		g.includeUsage = req.StreamOptions.IncludeUsage
		g.continuousUsage = req.StreamOptions.ContinuousUsageStats
	}
	s.generate(w, r, st, &g)
}

// contentChars counts the characters of a message's content (a string, an
// array of parts or null) and its image_url parts, which must be valid
// (see checkImageURL). Text parts count their text; other parts nothing.
// The text goes to bh (nil: none) up to the first image.
func contentChars(raw json.RawMessage, bh *blockHasher) (chars, images int, err error) {
	if len(raw) == 0 {
		return 0, 0, nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, 0, err
		}
		bh.write(s)
		return utf8.RuneCountInString(s), 0, nil
	case '[':
		var parts []contentPart
		if err := json.Unmarshal(raw, &parts); err != nil {
			return 0, 0, errors.New("message content parts must be objects: " + err.Error())
		}
		for _, p := range parts {
			chars += utf8.RuneCountInString(p.Text)
			bh.write(p.Text)
			if p.Type == "image_url" {
				bh.stop()
				if p.ImageURL == nil {
					return 0, 0, errors.New("image_url part without an image_url object.")
				}
				if err := checkImageURL(p.ImageURL.URL); err != nil {
					return 0, 0, err
				}
				images++
			}
		}
		return chars, images, nil
	case 'n': // null
		return 0, 0, nil
	}
	return 0, 0, errors.New("message content must be a string or an array of content parts.")
}

// checkImageURL accepts an http(s) URL (never fetched) or a data: URI of
// base64 PNG or JPEG data, as a vision server would decode it.
func checkImageURL(u string) error {
	if strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") {
		return nil
	}
	rest, ok := strings.CutPrefix(u, "data:")
	if !ok {
		return errors.New("image_url must be an http(s) URL or a data: URI.")
	}
	typ, data, ok := strings.Cut(rest, ";base64,")
	if !ok || (typ != "image/png" && typ != "image/jpeg" && typ != "image/jpg") {
		return errors.New("image data: URI must be base64 image/png or image/jpeg.")
	}
	head, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return errors.New("image data: URI is not valid base64: " + err.Error())
	}
	png := bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n"))
	jpeg := bytes.HasPrefix(head, []byte("\xff\xd8\xff"))
	if !png && !jpeg {
		return errors.New("image data is not a PNG or JPEG image.")
	}
	return nil
}
