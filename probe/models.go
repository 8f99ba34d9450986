package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// ErrNoModelList is returned by Models when the server does not serve
// /v1/models (some proxies and pooling-only servers): nothing is known.
var ErrNoModelList = errors.New("the server does not list its models at /v1/models")

// maxModelListBytes bounds the /v1/models body: real lists are a few KiB.
const maxModelListBytes = 1 << 20

// Models asks the server which models it serves (GET /v1/models, as
// OpenAI, vLLM, SGLang, TGI and llama.cpp answer it), so that a run against
// a model name the server does not have fails before it starts, with the
// names it does have.
func (c *Client) Models(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, min(c.ep.Timeout, 10*time.Second))
	defer cancel()
	base := strings.TrimSuffix(strings.TrimRight(c.ep.URL, "/"), "/v1")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/models", nil)
	if err != nil {
		return nil, errBadURL
	}
	for k, v := range c.ep.Headers {
		req.Header.Set(k, v)
	}
	c.ep.setKey(req.Header)
	resp, err := c.pool.cur.Load().Do(req)
	if err != nil {
		rec := c.classifyErr(ctx, &Record{}, err)
		return nil, fmt.Errorf("GET /v1/models: %s", rec.Error)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed:
		return nil, ErrNoModelList
	case resp.StatusCode != http.StatusOK:
		rec := c.fail(&Record{}, statusResult(resp.StatusCode), fmt.Errorf("HTTP %d%s", resp.StatusCode, readErrorBody(resp.Body)))
		return nil, fmt.Errorf("GET /v1/models: %s", rec.Error)
	}
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxModelListBytes+1))
	if err != nil || len(body) > maxModelListBytes || json.Unmarshal(body, &list) != nil {
		return nil, ErrNoModelList // not a model list we can read: say nothing
	}
	names := make([]string, 0, len(list.Data))
	for _, m := range list.Data {
		if m.ID != "" {
			names = append(names, strings.ToValidUTF8(m.ID, "?"))
		}
	}
	if len(names) == 0 {
		return nil, ErrNoModelList
	}
	return names, nil
}
