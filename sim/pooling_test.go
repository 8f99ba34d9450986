package sim

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"
)

// pngDataURI is testdata/probe-4x4.png as a data: URI.
const pngDataURI = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAQAAAAECAIAAAAmkwkpAAAAKUlEQVR42g3HMQEAAAzCMIRVGGdFIXDLlyQSGxcTBIvjU6mt62cyOzcPp2MTQQYaK1UAAAAASUVORK5CYII="

type tEmbeddings struct {
	ID     string `json:"id"`
	Object string `json:"object"`
	Model  string `json:"model"`
	Data   []struct {
		Index     int             `json:"index"`
		Object    string          `json:"object"`
		Embedding json.RawMessage `json:"embedding"`
	} `json:"data"`
	Usage tUsage `json:"usage"`
}

type tRerank struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Usage   tUsage `json:"usage"`
	Results []struct {
		Index    int `json:"index"`
		Document *struct {
			Text string `json:"text"`
		} `json:"document"`
		RelevanceScore float64 `json:"relevance_score"`
	} `json:"results"`
}

// postJSON posts body and decodes a 200's JSON into v; it returns the
// status and the raw body.
func postJSON(t *testing.T, url, body string, v any) (int, []byte) {
	t.Helper()
	resp, err := post(context.Background(), newClient(t), url, body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusOK && v != nil {
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("content type %q", ct)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
	}
	return resp.StatusCode, b
}

func TestEmbeddings(t *testing.T) {
	_, ts := newTestServer(t, fast(Config{EmbeddingDimensions: 16}))
	var e tEmbeddings
	code, raw := postJSON(t, ts.URL+"/v1/embeddings", `{"model":"sim-model","input":["abcdefgh","abc",[1,2,3]],"encoding_format":"float"}`, &e)
	if code != 200 {
		t.Fatalf("status %d: %s", code, raw)
	}
	if !strings.HasPrefix(e.ID, "embd-") || e.Object != "list" || e.Model != "sim-model" || len(e.Data) != 3 {
		t.Fatalf("response %s", raw)
	}
	// 8 and 3 characters, and 3 token ids.
	if e.Usage.PromptTokens != 2+1+3 || e.Usage.TotalTokens != 6 {
		t.Errorf("usage %+v", e.Usage)
	}
	for i, d := range e.Data {
		var v []float64
		if err := json.Unmarshal(d.Embedding, &v); err != nil {
			t.Fatal(err)
		}
		norm := 0.0
		for _, x := range v {
			norm += x * x
		}
		if d.Index != i || d.Object != "embedding" || len(v) != 16 || math.Abs(norm-1) > 1e-5 {
			t.Errorf("embedding %d: index %d, %d dims, norm %g", i, d.Index, len(v), norm)
		}
	}
	// The same input gives the same vector; a single string is a batch of one.
	var one tEmbeddings
	postJSON(t, ts.URL+"/v1/embeddings", `{"input":"abcdefgh"}`, &one)
	if len(one.Data) != 1 || string(one.Data[0].Embedding) != string(e.Data[0].Embedding) {
		t.Errorf("not deterministic: %s vs %s", one.Data[0].Embedding, e.Data[0].Embedding)
	}
	// dimensions and base64.
	var b64 tEmbeddings
	postJSON(t, ts.URL+"/v1/embeddings", `{"input":"x","dimensions":4,"encoding_format":"base64"}`, &b64)
	var s string
	if err := json.Unmarshal(b64.Data[0].Embedding, &s); err != nil {
		t.Fatal(err)
	}
	if raw, err := base64.StdEncoding.DecodeString(s); err != nil || len(raw) != 16 {
		t.Errorf("base64 embedding: %d bytes, %v", len(raw), err)
	}
}

func TestRerank(t *testing.T) {
	_, ts := newTestServer(t, fast(Config{}))
	body := `{"model":"sim-model","query":"abcd","documents":["efgh","ijklmnop",{"text":"q"}],"top_n":3}`
	var first tRerank
	for _, path := range []string{"/v1/rerank", "/rerank", "/v2/rerank"} {
		var r tRerank
		code, raw := postJSON(t, ts.URL+path, body, &r)
		if code != 200 || len(r.Results) != 3 || !strings.HasPrefix(r.ID, "rerank-") {
			t.Fatalf("%s: %d %s", path, code, raw)
		}
		// Per pair: ceil((4+4)/4) + ceil((4+8)/4) + ceil((4+1)/4); vLLM
		// reports only total_tokens.
		if r.Usage.TotalTokens != 2+3+2 || r.Usage.PromptTokens != 0 {
			t.Errorf("%s: usage %+v", path, r.Usage)
		}
		seen := map[int]bool{}
		for i, res := range r.Results {
			if i > 0 && res.RelevanceScore > r.Results[i-1].RelevanceScore {
				t.Errorf("%s: not sorted: %s", path, raw)
			}
			if res.RelevanceScore <= 0 || res.RelevanceScore >= 1 || seen[res.Index] || res.Document == nil {
				t.Errorf("%s: result %+v", path, res)
			}
			seen[res.Index] = true
		}
		if first.Results == nil {
			first = r
		} else if r.Results[0] != first.Results[0] && r.Results[0].Index != first.Results[0].Index {
			t.Errorf("%s: not deterministic", path)
		}
	}
	var top tRerank
	postJSON(t, ts.URL+"/v1/rerank", `{"query":"abcd","documents":["a","b","c"],"top_n":1,"return_documents":false}`, &top)
	if len(top.Results) != 1 || top.Results[0].Document != nil {
		t.Errorf("top_n 1 without documents: %+v", top)
	}
}

func TestPoolingErrors(t *testing.T) {
	s, ts := newTestServer(t, fast(Config{EmbeddingDimensions: 8}))
	for _, tc := range []struct{ path, body, msg string }{
		{"/v1/embeddings", `{"model":"x","input":"a"}`, "The model `x` does not exist."},
		{"/v1/embeddings", `{}`, "input is required."},
		{"/v1/embeddings", `{"input":[]}`, "input must not be empty."},
		{"/v1/embeddings", `{"input":[{"a":1}]}`, errInput.Error()},
		{"/v1/embeddings", `{"input":"a","encoding_format":"int8"}`, `encoding_format must be float or base64, got "int8".`},
		{"/v1/embeddings", `{"input":"a","dimensions":9}`, "dimensions must be between 1 and 8."},
		{"/v1/rerank", `{"documents":["a"]}`, "query is required."},
		{"/v1/rerank", `{"query":"q","documents":[]}`, "documents must be a non-empty array."},
		{"/v1/rerank", `{"query":"q","documents":[3]}`, `documents must be strings or objects with a "text" string.`},
		{"/v1/rerank", `{"query":"q","documents":["a"],"top_n":-1}`, "top_n must not be negative."},
		{"/v1/chat/completions", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x"}}]}]}`, "image_url must be an http(s) URL or a data: URI."},
		{"/v1/chat/completions", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/gif;base64,R0lG"}}]}]}`, "image data: URI must be base64 image/png or image/jpeg."},
		{"/v1/chat/completions", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,aGVsbG8="}}]}]}`, "image data is not a PNG or JPEG image."},
		{"/v1/chat/completions", `{"messages":[{"role":"user","content":[{"type":"image_url"}]}]}`, "image_url part without an image_url object."},
	} {
		var e struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		code, raw := postJSON(t, ts.URL+tc.path, tc.body, nil)
		_ = json.Unmarshal(raw, &e)
		if (code != 400 && code != 404) || e.Error.Message != tc.msg {
			t.Errorf("%s %s: %d %q, want %q", tc.path, tc.body, code, e.Error.Message, tc.msg)
		}
	}
	if st := s.Stats(); st.BadRequests != 14 || st.Completed != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestPoolingTimingAndFaults(t *testing.T) {
	// Answered TTFT after the request got its slot; the second of two
	// requests on one slot waits for the first.
	s, ts := newTestServer(t, Config{TTFT: 60 * time.Millisecond, MaxConcurrency: 1})
	start := time.Now()
	done := make(chan time.Duration, 2)
	for range 2 {
		go func() {
			resp, err := post(context.Background(), newClient(t), ts.URL+"/v1/embeddings", `{"input":"a"}`)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			done <- time.Since(start)
		}()
	}
	a, b := <-done, <-done
	if a < 60*time.Millisecond || b < 120*time.Millisecond {
		t.Errorf("answered after %v and %v, want >= 60ms and >= 120ms", a, b)
	}
	waitFor(t, time.Second, "both completed", func() bool {
		st := s.Stats()
		return st.Completed == 2 && st.InFlight == 0
	})

	for _, f := range []Faults{{HTTP429: 1}, {Disconnect: 1}} {
		fs, fts := newTestServer(t, fast(Config{Faults: f}))
		resp, err := post(context.Background(), newClient(t), fts.URL+"/v1/rerank", `{"query":"q","documents":["a"]}`)
		switch {
		case f.HTTP429 > 0 && (err != nil || resp.StatusCode != 429):
			t.Errorf("429 fault: %v %v", resp, err)
		case f.Disconnect > 0 && err == nil:
			t.Errorf("disconnect fault: got a response %d", resp.StatusCode)
		}
		if resp != nil {
			resp.Body.Close()
		}
		if st := fs.Stats(); st.HTTP429+st.Disconnects != 1 {
			t.Errorf("fault %+v: stats %+v", f, st)
		}
	}
}
