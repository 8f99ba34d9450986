package probe

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
)

// rerankRequest is the body vLLM, Jina, Cohere and llama.cpp take. top_n
// is the number of documents, so that every index must come back.
type rerankRequest struct {
	Model     string   `json:"model"`
	Query     string   `json:"query"`
	Documents []string `json:"documents"`
	TopN      int      `json:"top_n"`
}

func rerankBody(ep *Endpoint, req *Request) ([]byte, error) {
	if len(req.Documents) == 0 {
		return nil, errors.New("rerank request without documents")
	}
	return json.Marshal(rerankRequest{Model: ep.Model, Query: req.Query, Documents: req.Documents, TopN: len(req.Documents)})
}

// rerankPath is the endpoint's rerank path: servers disagree on it.
func rerankPath(ep *Endpoint) string {
	if ep.RerankPath != "" {
		return ep.RerankPath
	}
	return DefaultRerankPath
}

// readRerank reads a successful rerank response to req.
func (c *Client) readRerank(ctx context.Context, rec *Record, req *Request, body io.Reader, _ string) {
	if b, ok := c.readBody(ctx, rec, body); ok {
		c.checkRerank(rec, b, len(req.Documents))
	}
}

type rerankResponse struct {
	Results *[]struct {
		Index          *int     `json:"index"`
		RelevanceScore *float64 `json:"relevance_score"`
	} `json:"results"`
	Usage *poolingUsage   `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// checkRerank reads a rerank response: every document index must come back
// once, with a finite relevance_score. (JSON cannot carry NaN or infinity;
// a server that writes them sends invalid JSON, also a protocol failure.)
func (c *Client) checkRerank(rec *Record, b []byte, docs int) {
	var resp rerankResponse
	if err := json.Unmarshal(b, &resp); err != nil {
		c.errProtocol(rec, "invalid JSON response body")
		return
	}
	if c.checkError(rec, resp.Error) {
		return
	}
	if resp.Results == nil {
		c.errProtocol(rec, `response has no "results" list`)
		return
	}
	results := *resp.Results
	list, err := newIndexedList("result", false, len(results), docs, "documents")
	if err != nil {
		c.fail(rec, ResultProtocol, err)
		return
	}
	for i, r := range results {
		if _, err := list.index(i, r.Index); err != nil {
			c.fail(rec, ResultProtocol, err)
			return
		}
		if r.RelevanceScore == nil {
			c.errProtocol(rec, "result %d has no relevance_score", i)
			return
		}
		if s := *r.RelevanceScore; math.IsNaN(s) || math.IsInf(s, 0) {
			c.errProtocol(rec, "result %d: relevance_score %s", i, errNotFinite)
			return
		}
	}
	resp.Usage.apply(rec)
	rec.Result = ResultSuccess
}
