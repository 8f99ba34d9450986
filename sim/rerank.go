package sim

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"slices"
	"strconv"
	"unicode/utf8"
)

type rerankRequest struct {
	Model           string            `json:"model"`
	Query           *string           `json:"query"`
	Documents       []json.RawMessage `json:"documents"`
	TopN            *int              `json:"top_n"`
	ReturnDocuments *bool             `json:"return_documents"`
}

// serveRerank answers POST /v1/rerank (and /rerank, /v2/rerank) as vLLM
// does: results sorted by relevance_score, highest first, top_n of them
// (all when absent or 0), each with its document unless return_documents
// is false, and a usage with total_tokens only.
func (s *Server) serveRerank(w http.ResponseWriter, r *http.Request) {
	st := s.getState()
	defer s.putState(st)
	var req rerankRequest
	if !s.decodeBody(w, r, st, &req) || !s.checkModel(w, req.Model) {
		return
	}
	if req.Query == nil {
		s.badRequest(w, http.StatusBadRequest, "query is required.")
		return
	}
	if len(req.Documents) == 0 {
		s.badRequest(w, http.StatusBadRequest, "documents must be a non-empty array.")
		return
	}
	docs := make([]string, len(req.Documents))
	for i, raw := range req.Documents {
		d, err := documentText(raw)
		if err != nil {
			s.badRequest(w, http.StatusBadRequest, err.Error())
			return
		}
		docs[i] = d
	}
	top := len(docs)
	if req.TopN != nil {
		if *req.TopN < 0 {
			s.badRequest(w, http.StatusBadRequest, "top_n must not be negative.")
			return
		}
		if *req.TopN > 0 {
			top = min(top, *req.TopN)
		}
	}
	withDocs := req.ReturnDocuments == nil || *req.ReturnDocuments
	q := *req.Query
	qChars := utf8.RuneCountInString(q)
	type scored struct {
		index int
		score float64
	}
	results := make([]scored, len(docs))
	prompt := 0
	for i, d := range docs {
		results[i] = scored{i, rerankScore(q, d)}
		prompt += estimateTokens(qChars + utf8.RuneCountInString(d))
	}
	slices.SortStableFunc(results, func(a, b scored) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return 0
	})
	results = results[:top]
	s.answerPooling(w, r, st, prompt, func(b []byte, hi, lo uint64) []byte {
		b = s.serveHead(b, "rerank-", "list", hi, lo)
		b = append(b, `,"usage":{"total_tokens":`...)
		b = strconv.AppendInt(b, int64(prompt), 10)
		b = append(b, `},"results":[`...)
		for i, res := range results {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"index":`...)
			b = strconv.AppendInt(b, int64(res.index), 10)
			if withDocs {
				b = append(b, `,"document":{"text":`...)
				b = appendJSONString(b, docs[res.index])
				b = append(b, '}')
			}
			b = append(b, `,"relevance_score":`...)
			b = strconv.AppendFloat(b, res.score, 'g', -1, 64)
			b = append(b, '}')
		}
		return append(b, "]}"...)
	})
}

// documentText reads a document: a string, or an object with "text"
// (Jina's form).
func documentText(raw json.RawMessage) (string, error) {
	var s string
	if len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var obj struct {
		Text *string `json:"text"`
	}
	if len(raw) > 0 && raw[0] == '{' && json.Unmarshal(raw, &obj) == nil && obj.Text != nil {
		return *obj.Text, nil
	}
	return "", errors.New(`documents must be strings or objects with a "text" string.`)
}

// rerankScore is a deterministic relevance in (0, 1).
func rerankScore(query, doc string) float64 {
	h := textHash(query, doc)
	z := float64(int64(h>>11)-(1<<52)) / (1 << 51) // in [-2, 2)
	return 1 / (1 + math.Exp(-2*z))
}
