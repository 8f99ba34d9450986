package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
)

// embeddingsRequest is an OpenAI /v1/embeddings body. Inputs are always
// sent as a list, a batch of one included; floats are asked for explicitly
// (the check reads numbers, not base64).
type embeddingsRequest struct {
	Model          string   `json:"model"`
	Input          []string `json:"input"`
	EncodingFormat string   `json:"encoding_format"`
}

func embeddingsBody(ep *Endpoint, req *Request) ([]byte, error) {
	if len(req.Inputs) == 0 {
		return nil, errors.New("embeddings request without inputs")
	}
	return json.Marshal(embeddingsRequest{Model: ep.Model, Input: req.Inputs, EncodingFormat: "float"})
}

// readEmbeddings reads a successful embeddings response to req.
func (c *Client) readEmbeddings(ctx context.Context, rec *Record, req *Request, body io.Reader, _ string) {
	if b, ok := c.readBody(ctx, rec, body); ok {
		c.checkEmbeddings(rec, b, len(req.Inputs), req.Dimensions)
	}
}

type embeddingsResponse struct {
	Data *[]struct {
		Index     *int   `json:"index"`
		Embedding vector `json:"embedding"`
	} `json:"data"`
	Usage *poolingUsage   `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// vector checks an embedding as it is decoded, without keeping it: its
// length, and that every element is a finite number. A null element, which
// encoding/json would read as 0, is refused too.
type vector struct {
	n   int
	err error
}

// UnmarshalJSON is called with a syntactically valid JSON value.
func (v *vector) UnmarshalJSON(b []byte) error {
	*v = vector{}
	if len(b) == 0 || b[0] != '[' {
		v.err = errors.New("is not a list of numbers")
		return nil
	}
	i := 1
	for {
		for i < len(b) && isSpace(b[i]) {
			i++
		}
		if i < len(b) && b[i] == ']' && v.n == 0 {
			return nil
		}
		j := i
		for j < len(b) && b[j] != ',' && b[j] != ']' && !isSpace(b[j]) {
			j++
		}
		f, err := strconv.ParseFloat(string(b[i:j]), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			v.err = fmt.Errorf("element %d is %s, not a number", v.n, b[i:j])
			return nil
		}
		if math.IsInf(f, 0) || math.IsNaN(f) {
			v.err = fmt.Errorf("element %d: %w", v.n, errNotFinite)
			return nil
		}
		v.n++
		for j < len(b) && isSpace(b[j]) {
			j++
		}
		if j >= len(b) || b[j] == ']' {
			return nil
		}
		i = j + 1 // past the comma
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// checkEmbeddings reads an embeddings response: it must hold one vector per
// input, each index once, every vector of the expected size (or, with dims
// zero, all of one size) and finite.
func (c *Client) checkEmbeddings(rec *Record, b []byte, inputs, dims int) {
	var resp embeddingsResponse
	if err := json.Unmarshal(b, &resp); err != nil {
		c.errProtocol(rec, "invalid JSON response body")
		return
	}
	if c.checkError(rec, resp.Error) {
		return
	}
	if resp.Data == nil {
		c.errProtocol(rec, `response has no "data" list`)
		return
	}
	data := *resp.Data
	list, err := newIndexedList("embedding", true, len(data), inputs, "inputs")
	if err != nil {
		c.fail(rec, ResultProtocol, err)
		return
	}
	for i, d := range data {
		idx, err := list.index(i, d.Index)
		if err != nil {
			c.fail(rec, ResultProtocol, err)
			return
		}
		v := d.Embedding
		switch {
		case v.err != nil:
			c.errProtocol(rec, "embedding %d: %s", idx, v.err)
			return
		case v.n == 0:
			c.errProtocol(rec, "embedding %d is empty", idx)
			return
		case dims > 0 && v.n != dims:
			c.errProtocol(rec, "embedding %d has %d dimensions, want %d", idx, v.n, dims)
			return
		case dims == 0 && v.n != data[0].Embedding.n:
			c.errProtocol(rec, "embedding %d has %d dimensions, embedding 0 has %d", idx, v.n, data[0].Embedding.n)
			return
		}
	}
	resp.Usage.apply(rec)
	rec.Result = ResultSuccess
}
