package probe

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// jsonServer answers every request 200 with body as application/json.
func jsonServer(t *testing.T, body string) string {
	t.Helper()
	return serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	})).URL
}

// streamServer answers every request 200 with body as an event stream.
func streamServer(t *testing.T, body string) string {
	t.Helper()
	return serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write([]byte(body))
	})).URL
}

// TestMalformed200IsProtocol: for each kind, a 200 whose body is not what
// was asked for is a protocol failure, never a success.
func TestMalformed200IsProtocol(t *testing.T) {
	emb := Request{Inputs: []string{"a", "b"}, Dimensions: 3}
	rr := Request{Query: "q", Documents: []string{"a", "b"}}
	chat := Request{Prompt: "hi", MaxTokens: 4}
	vision := Request{Prompt: "hi", Images: []string{"data:image/png;base64,iVBORw0KGgo="}, MaxTokens: 4}
	for _, tc := range []struct {
		name   string
		kind   Kind
		stream bool
		req    Request
		body   string
		want   string // the record's error
	}{
		// Embeddings.
		{"embeddings invalid JSON", "embeddings", false, emb, `{"data": [`, "invalid JSON response body"},
		{"embeddings invalid UTF-8", "embeddings", false, emb, "{\"data\":[{\"index\":0,\"embedding\":[0,1,2]},{\"index\":1,\"embedding\":[1,2,3]}],\"model\":\"m\xff\"}", "invalid UTF-8 in response body"},
		{"rerank invalid UTF-8", "rerank", false, rr, "{\"results\":[{\"index\":0,\"relevance_score\":0.1,\"document\":{\"text\":\"\xc3\x28\"}},{\"index\":1,\"relevance_score\":0.2}]}", "invalid UTF-8 in response body"},
		{"embeddings NaN literal", "embeddings", false, emb, `{"data":[{"index":0,"embedding":[NaN,1,2]},{"index":1,"embedding":[1,2,3]}]}`, "invalid JSON response body"},
		{"embeddings NaN string", "embeddings", false, emb, `{"data":[{"index":0,"embedding":["NaN",1,2]},{"index":1,"embedding":[1,2,3]}]}`, `embedding 0: element 0 is "NaN", not a number`},
		{"embeddings null element", "embeddings", false, emb, `{"data":[{"index":0,"embedding":[0.5,null,2]},{"index":1,"embedding":[1,2,3]}]}`, "embedding 0: element 1 is null, not a number"},
		{"embeddings overflow", "embeddings", false, emb, `{"data":[{"index":0,"embedding":[1,2,3]},{"index":1,"embedding":[1e999,2,3]}]}`, "embedding 1: element 0: not a finite number"},
		{"embeddings wrong count", "embeddings", false, emb, `{"data":[{"index":0,"embedding":[1,2,3]}]}`, "1 embeddings for 2 inputs"},
		{"embeddings wrong dimensions", "embeddings", false, emb, `{"data":[{"index":0,"embedding":[1,2,3]},{"index":1,"embedding":[1,2]}]}`, "embedding 1 has 2 dimensions, want 3"},
		{"embeddings index twice", "embeddings", false, emb, `{"data":[{"index":1,"embedding":[1,2,3]},{"index":1,"embedding":[1,2,3]}]}`, "embedding 1: index 1 twice"},
		{"embeddings index out of range", "embeddings", false, emb, `{"data":[{"index":0,"embedding":[1,2,3]},{"index":2,"embedding":[1,2,3]}]}`, "embedding 1: index 2 out of range [0, 2)"},
		{"embeddings empty vector", "embeddings", false, emb, `{"data":[{"index":0,"embedding":[]},{"index":1,"embedding":[1,2,3]}]}`, "embedding 0 is empty"},
		{"embeddings base64", "embeddings", false, emb, `{"data":[{"index":0,"embedding":"AAAA"},{"index":1,"embedding":[1,2,3]}]}`, "embedding 0: is not a list of numbers"},
		{"embeddings no data", "embeddings", false, emb, `{"object":"list"}`, `response has no "data" list`},
		{"embeddings error object", "embeddings", false, emb, `{"error":{"message":"boom"}}`, "error in response: boom"},
		{"embeddings sizes disagree", "embeddings", false, Request{Inputs: []string{"a", "b"}}, `{"data":[{"embedding":[1,2,3]},{"embedding":[1,2]}]}`, "embedding 1 has 2 dimensions, embedding 0 has 3"},

		// Rerank.
		{"rerank invalid JSON", "rerank", false, rr, `{"results": [{"index": 0,`, "invalid JSON response body"},
		{"rerank missing index", "rerank", false, rr, `{"results":[{"index":0,"relevance_score":0.5},{"relevance_score":0.2}]}`, "result 1 has no index"},
		{"rerank index twice", "rerank", false, rr, `{"results":[{"index":0,"relevance_score":0.5},{"index":0,"relevance_score":0.2}]}`, "result 1: index 0 twice"},
		{"rerank missing score", "rerank", false, rr, `{"results":[{"index":0,"relevance_score":0.5},{"index":1}]}`, "result 1 has no relevance_score"},
		{"rerank NaN score", "rerank", false, rr, `{"results":[{"index":0,"relevance_score":NaN},{"index":1,"relevance_score":0.2}]}`, "invalid JSON response body"},
		{"rerank infinite score", "rerank", false, rr, `{"results":[{"index":0,"relevance_score":1e999},{"index":1,"relevance_score":0.2}]}`, "invalid JSON response body"},
		{"rerank missing document", "rerank", false, rr, `{"results":[{"index":1,"relevance_score":0.5}]}`, "1 results for 2 documents"},
		{"rerank no results", "rerank", false, rr, `{"data":[]}`, `response has no "results" list`},

		// Chat, vision and completions streams.
		{"chat invalid JSON", "chat", true, chat, "data: {\"choices\": [\n\ndata: [DONE]\n\n", "invalid JSON in stream chunk 1"},
		{"chat no output", "chat", true, chat, chatChunk(`"role":"assistant"`, "") + "data: [DONE]\n\n", "stream carried no output tokens"},
		{"vision invalid JSON", "vision", true, vision, "data: nope\n\n", "invalid JSON in stream chunk 1"},
		{"vision error mid-stream", "vision", true, vision, chatChunk(`"content":"a"`, "") + `data: {"error":{"message":"image too large"}}` + "\n\n", "error in stream: image too large"},
		{"completions invalid JSON", "completions", true, chat, "data: {\"choices\":[{\"text\":\"a\"}]\n\n", "invalid JSON in stream chunk 1"},
		{"completions plain invalid JSON", "completions", false, chat, `{"choices": [}`, "invalid JSON response body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := jsonServer(t, tc.body)
			if tc.stream {
				url = streamServer(t, tc.body)
			}
			c := newTestClient(t, Endpoint{Name: "t", URL: url, Model: "m", Kind: tc.kind, Stream: tc.stream})
			rec := c.Do(context.Background(), tc.req)
			if rec.Result != ResultProtocol || rec.Error != tc.want || rec.HTTPStatus != 200 {
				t.Errorf("result %s, status %d, error %q; want protocol, 200, %q", rec.Result, rec.HTTPStatus, rec.Error, tc.want)
			}
			if rec.Kind != tc.kind || rec.End.Before(rec.Start) {
				t.Errorf("record kind %q, start %v, end %v", rec.Kind, rec.Start, rec.End)
			}
		})
	}
}

func TestPoolingSuccess(t *testing.T) {
	for _, tc := range []struct {
		name     string
		kind     Kind
		body     string
		req      Request
		input    int
		reported bool
	}{
		{"embeddings (llama.cpp usage)", "embeddings", `{"model":"m","object":"list","usage":{"prompt_tokens":27,"total_tokens":27},"data":[{"embedding":[0.98,-0.07],"index":1,"object":"embedding"},{"embedding":[0.87,0.08],"index":0,"object":"embedding"}]}`,
			Request{Inputs: []string{"a", "b"}, Dimensions: 2}, 27, true},
		{"embeddings without usage", "embeddings", `{"data":[{"embedding":[1e-30, -2E+3 , 0]}]}`,
			Request{Inputs: []string{"a"}}, 0, false},
		{"rerank (vLLM usage)", "rerank", `{"id":"x","usage":{"total_tokens":12},"results":[{"index":1,"document":{"text":"b"},"relevance_score":0.9},{"index":0,"relevance_score":-3.5}]}`,
			Request{Query: "q", Documents: []string{"a", "b"}}, 12, true},
		{"rerank (Cohere, no usage)", "rerank", `{"id":"x","results":[{"index":0,"relevance_score":0.1}],"meta":{"billed_units":{"search_units":1}}}`,
			Request{Query: "q", Documents: []string{"a"}}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestClient(t, Endpoint{Name: "t", URL: jsonServer(t, tc.body), Model: "m", Kind: tc.kind, Stream: true})
			rec := c.Do(context.Background(), tc.req)
			if rec.Result != ResultSuccess || rec.InputTokens != tc.input || rec.UsageReported != tc.reported ||
				rec.OutputTokens != 0 || !rec.FirstToken.IsZero() || rec.E2E() <= 0 {
				t.Errorf("record %+v", rec)
			}
		})
	}
}

func TestKindURLs(t *testing.T) {
	for _, tc := range []struct {
		ep   Endpoint
		want string
	}{
		{Endpoint{URL: "http://h:8000/v1/", Kind: "embeddings"}, "http://h:8000/v1/embeddings"},
		{Endpoint{URL: "http://h:8000", Kind: "rerank"}, "http://h:8000/v1/rerank"},
		{Endpoint{URL: "http://h:8000/v1", Kind: "rerank", RerankPath: "/rerank"}, "http://h:8000/rerank"},
		{Endpoint{URL: "http://h/proxy", Kind: "rerank", RerankPath: "/v2/rerank"}, "http://h/proxy/v2/rerank"},
		{Endpoint{URL: "http://h", Kind: "vision"}, "http://h/v1/chat/completions"},
	} {
		c := NewClient(tc.ep)
		if c.url != tc.want {
			t.Errorf("%+v: %s, want %s", tc.ep, c.url, tc.want)
		}
		if pooling(tc.ep.Kind) && c.Endpoint().Stream {
			t.Errorf("%s client streams", tc.ep.Kind)
		}
	}
}

func TestKindBodyErrors(t *testing.T) {
	for kind, want := range map[Kind]string{"embeddings": "embeddings request without inputs", "rerank": "rerank request without documents"} {
		c := newTestClient(t, Endpoint{URL: "http://127.0.0.1:1", Model: "m", Kind: kind})
		rec := c.Do(context.Background(), Request{Prompt: "x"})
		if rec.Result != ResultProtocol || !strings.HasSuffix(rec.Error, want) {
			t.Errorf("%s: %s %q", kind, rec.Result, rec.Error)
		}
	}
}

// FuzzPoolingResponse: no body makes the embeddings or rerank checks
// panic, and a body they accept really holds what was asked for.
func FuzzPoolingResponse(f *testing.F) {
	f.Add(`{"data":[{"index":0,"embedding":[1,2]},{"index":1,"embedding":[3,4]}]}`)
	f.Add(`{"data":[{"embedding":[1e999, null]}]}`)
	f.Add(`{"results":[{"index":1,"relevance_score":0.5},{"index":0,"relevance_score":1}]}`)
	f.Add(`{"results":[{"index":0}],"usage":{"total_tokens":3}}`)
	c := NewClient(Endpoint{URL: "http://127.0.0.1:1", Kind: "embeddings"})
	f.Fuzz(func(t *testing.T, body string) {
		var rec Record
		c.checkEmbeddings(&rec, []byte(body), 2, 2)
		if rec.Result == ResultSuccess {
			var v struct {
				Data []struct {
					Embedding []float64 `json:"embedding"`
				} `json:"data"`
			}
			if err := json.Unmarshal([]byte(body), &v); err != nil || len(v.Data) != 2 ||
				len(v.Data[0].Embedding) != 2 || len(v.Data[1].Embedding) != 2 {
				t.Errorf("accepted %q", body)
			}
		}
		rec = Record{}
		c.checkRerank(&rec, []byte(body), 2)
		if rec.Result == ResultSuccess {
			var v struct {
				Results []struct {
					Index *int `json:"index"`
				} `json:"results"`
			}
			if err := json.Unmarshal([]byte(body), &v); err != nil || len(v.Results) != 2 || v.Results[0].Index == nil ||
				v.Results[1].Index == nil || *v.Results[0].Index == *v.Results[1].Index {
				t.Errorf("accepted %q", body)
			}
		}
	})
}

// TestColdCacheHit: a cold request may have its template header cached, up
// to ColdCacheFloor tokens or everything the server counts beyond the
// request's own text; a cache that reaches into half the text is a hit.
func TestColdCacheHit(t *testing.T) {
	ok := func(in, cached int) *Record {
		return &Record{Result: ResultSuccess, InputTokens: in, CachedTokens: cached}
	}
	for _, tc := range []struct {
		name string
		rec  *Record
		text int
		want bool
	}{
		// The issue: llama.cpp served all but the last token of 80.
		{"whole prompt, llama.cpp", ok(80, 79), 60, true},
		{"whole prompt, text unknown", ok(80, 79), 0, true},
		// vLLM leaves the last block: 200 tokens, 192 cached.
		{"whole prompt, vLLM blocks", ok(200, 192), 180, true},
		{"whole prompt but a block, text unknown", ok(200, 192), 0, true},
		// A ChatML header (one vLLM block) cached: cold, as it should be.
		{"template block", ok(80, 16), 60, false},
		{"template, text unknown", ok(80, 16), 0, false},
		// gpt-oss's ~60-token header, cached token by token (llama.cpp),
		// before a short text: the template's share, not a hit.
		{"long template", ok(100, 61), 40, false},
		// ...but with the text unknown a 61-token share of a 100-token
		// prompt is not a whole prompt either.
		{"long template, text unknown", ok(100, 61), 0, false},
		// A system prompt before the nonce cached (the old layout): 300 of
		// the text's 400 tokens came from the cache.
		{"system prompt before the nonce", ok(420, 320), 400, true},
		// Half the text is the margin for the token estimate.
		{"under half the text", ok(420, 200), 400, false},
		// Never more than ColdCacheFloor, whatever the text.
		{"within the floor", ok(40, 32), 30, false},
		{"failed request", &Record{Result: ResultHTTP5xx, InputTokens: 80, CachedTokens: 79}, 60, false},
	} {
		if got := ColdCacheHit(tc.rec, tc.text); got != tc.want {
			t.Errorf("%s: ColdCacheHit(in %d, cached %d, text %d) = %v, want %v",
				tc.name, tc.rec.InputTokens, tc.rec.CachedTokens, tc.text, got, tc.want)
		}
	}
}

func TestTextTokens(t *testing.T) {
	for _, tc := range []struct {
		req  Request
		want int
	}{
		{Request{Prompt: "12345678"}, 2},
		{Request{System: "1234", Prompt: "12345"}, 3},
		// A conversation is sent instead of System and Prompt.
		{Request{System: "ignored in chat", Prompt: "x", Messages: []Message{{"system", "1234"}, {"user", "héllo"}}}, 3},
		{Request{}, 0},
	} {
		if got := tc.req.TextTokens(); got != tc.want {
			t.Errorf("%+v: TextTokens() = %d, want %d", tc.req, got, tc.want)
		}
	}
}
