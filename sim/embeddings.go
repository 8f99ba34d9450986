package sim

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"unicode/utf8"
)

type embeddingsRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format"`
	Dimensions     *int            `json:"dimensions"`
}

// embeddingInput is one input: a text, or token ids.
type embeddingInput struct {
	text   string
	ids    []int
	tokens int
}

// serveEmbeddings answers POST /v1/embeddings.
func (s *Server) serveEmbeddings(w http.ResponseWriter, r *http.Request) {
	st := s.getState()
	defer s.putState(st)
	var req embeddingsRequest
	if !s.decodeBody(w, r, st, &req) || !s.checkModel(w, req.Model) {
		return
	}
	inputs, err := embeddingInputs(req.Input)
	if err != nil {
		s.badRequest(w, http.StatusBadRequest, err.Error())
		return
	}
	switch req.EncodingFormat {
	case "", "float", "base64":
	default:
		s.badRequest(w, http.StatusBadRequest, "encoding_format must be float or base64, got "+strconv.Quote(req.EncodingFormat)+".")
		return
	}
	dims := s.cfg.EmbeddingDimensions
	if req.Dimensions != nil {
		if *req.Dimensions < 1 || *req.Dimensions > dims {
			s.badRequest(w, http.StatusBadRequest, fmt.Sprintf("dimensions must be between 1 and %d.", dims))
			return
		}
		dims = *req.Dimensions
	}
	prompt := 0
	for _, in := range inputs {
		prompt += in.tokens
	}
	b64 := req.EncodingFormat == "base64"
	s.answerPooling(w, r, st, prompt, func(b []byte, hi, lo uint64) []byte {
		b = s.serveHead(b, "embd-", "list", hi, lo)
		b = append(b, `,"data":[`...)
		vec := make([]float32, dims)
		for i, in := range inputs {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"index":`...)
			b = strconv.AppendInt(b, int64(i), 10)
			b = append(b, `,"object":"embedding","embedding":`...)
			embedding(vec, in)
			b = appendVector(b, vec, b64)
			b = append(b, '}')
		}
		b = append(b, `],"usage":{"prompt_tokens":`...)
		b = strconv.AppendInt(b, int64(prompt), 10)
		b = append(b, `,"total_tokens":`...)
		b = strconv.AppendInt(b, int64(prompt), 10)
		return append(b, `,"completion_tokens":0,"prompt_tokens_details":null}}`...)
	})
}

var errInput = errors.New("input must be a string, an array of strings, an array of token ids or an array of such arrays.")

// embeddingInputs parses "input" the ways OpenAI's API allows.
func embeddingInputs(raw json.RawMessage) ([]embeddingInput, error) {
	if len(raw) == 0 || raw[0] == 'n' {
		return nil, errors.New("input is required.")
	}
	text := func(s string) embeddingInput {
		return embeddingInput{text: s, tokens: estimateTokens(utf8.RuneCountInString(s))}
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, errInput
		}
		return []embeddingInput{text(s)}, nil
	case '[':
		var elems []json.RawMessage
		if err := json.Unmarshal(raw, &elems); err != nil {
			return nil, errInput
		}
		if len(elems) == 0 {
			return nil, errors.New("input must not be empty.")
		}
		if e := elems[0]; len(e) > 0 && e[0] != '"' && e[0] != '[' {
			// One list of token ids.
			var ids []int
			if err := json.Unmarshal(raw, &ids); err != nil {
				return nil, errInput
			}
			return []embeddingInput{{ids: ids, tokens: len(ids)}}, nil
		}
		inputs := make([]embeddingInput, len(elems))
		for i, e := range elems {
			var s string
			var ids []int
			switch {
			case len(e) > 0 && e[0] == '"' && json.Unmarshal(e, &s) == nil:
				inputs[i] = text(s)
			case len(e) > 0 && e[0] == '[' && json.Unmarshal(e, &ids) == nil && len(ids) > 0:
				inputs[i] = embeddingInput{ids: ids, tokens: len(ids)}
			default:
				return nil, errInput
			}
		}
		return inputs, nil
	}
	return nil, errInput
}

// embedding fills vec with in's deterministic unit vector.
func embedding(vec []float32, in embeddingInput) {
	h := textHash(in.text)
	for _, id := range in.ids {
		h = h*1099511628211 ^ uint64(id)
	}
	rng := rand.New(rand.NewPCG(h, 0x656d62656464)) // "embedd"
	var norm float64
	for i := range vec {
		x := rng.NormFloat64()
		vec[i] = float32(x)
		norm += x * x
	}
	norm = math.Sqrt(norm)
	for i := range vec {
		vec[i] = float32(float64(vec[i]) / norm)
	}
}

// appendVector appends vec as a JSON list of numbers, or as the base64 of
// its little-endian float32s (encoding_format base64).
func appendVector(b []byte, vec []float32, b64 bool) []byte {
	if b64 {
		raw := make([]byte, 4*len(vec))
		for i, f := range vec {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(f))
		}
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, raw)
		return append(b, '"')
	}
	b = append(b, '[')
	for i, f := range vec {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, float64(f), 'g', -1, 32)
	}
	return append(b, ']')
}
