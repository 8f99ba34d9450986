package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"
)

// fast makes requests finish quickly; timing is tested elsewhere.
func fast(c Config) Config {
	c.TTFT, c.ITL = time.Millisecond, 100*time.Microsecond
	return c
}

// describeStream turns a stream's events into a compact shape, e.g.
// role C1 C1 finish:length usage DONE, where Rk/Ck is a chunk of k
// reasoning/answer tokens, checked against the expected token text.
func describeStream(t *testing.T, evs []sseEvent, wantObject, wantIDPrefix string) (shape []string, last tChunk) {
	t.Helper()
	rpos, cpos, id := 0, 0, ""
	for i, ev := range evs {
		if ev.data == "[DONE]" {
			shape = append(shape, "DONE")
			if i != len(evs)-1 {
				t.Errorf("[DONE] is not the last event")
			}
			continue
		}
		c := parseChunk(t, ev.data)
		if c.Object != wantObject || c.Model != "sim-model" || !strings.HasPrefix(c.ID, wantIDPrefix) || c.Created == 0 {
			t.Errorf("chunk %d header: %+v", i, c)
		}
		if id == "" {
			id = c.ID
		} else if c.ID != id {
			t.Errorf("chunk %d id %q, first was %q", i, c.ID, id)
		}
		if !strings.Contains(ev.data, `"usage":`) {
			t.Errorf("chunk %d has no usage key: %s", i, ev.data)
		}
		last = c
		if len(c.Choices) == 0 {
			if c.Usage == nil {
				t.Errorf("chunk %d: no choices and no usage", i)
			}
			shape = append(shape, "usage")
			continue
		}
		ch := c.Choices[0]
		if ch.FinishReason != nil {
			if _, _, ok := outputText(c); ok {
				t.Errorf("finish chunk carries output: %s", ev.data)
			}
			shape = append(shape, "finish:"+*ch.FinishReason)
			continue
		}
		if ch.Delta != nil && ch.Delta.Role == "assistant" {
			if _, _, ok := outputText(c); ok {
				t.Errorf("role chunk carries output: %s", ev.data)
			}
			shape = append(shape, "role")
			continue
		}
		text, reasoning, ok := outputText(c)
		if !ok {
			t.Errorf("chunk %d carries nothing: %s", i, ev.data)
			continue
		}
		pos, tag := &cpos, "C"
		if reasoning {
			pos, tag = &rpos, "R"
		}
		k := 0
		for k = 1; k <= 64 && tokenText(reasoning, *pos, *pos+k) != text; k++ {
		}
		if k > 64 {
			t.Fatalf("chunk %d text %q is not the next tokens (%q...)", i, text, tokenText(reasoning, *pos, *pos+4))
		}
		*pos += k
		shape = append(shape, fmt.Sprintf("%s%d", tag, k))
	}
	return shape, last
}

func TestStreamShape(t *testing.T) {
	const msg = `"messages":[{"role":"user","content":"Say hello to the simulated model."}]` // 33 chars: 9 tokens
	tests := []struct {
		name       string
		cfg        Config
		path, body string
		want       string
		usage      *tUsage // of the usage-only chunk
		reasoning  int
	}{
		{
			name:  "chat include_usage",
			path:  "/v1/chat/completions",
			body:  `{"model":"sim-model",` + msg + `,"stream":true,"max_tokens":6,"stream_options":{"include_usage":true}}`,
			want:  "role C1 C1 C1 C1 C1 C1 finish:length usage DONE",
			usage: &tUsage{PromptTokens: 9, CompletionTokens: 6, TotalTokens: 15},
		},
		{
			name: "chat no usage, stop before max_tokens",
			cfg:  Config{OutputTokens: 3},
			path: "/v1/chat/completions",
			body: `{"model":"sim-model",` + msg + `,"stream":true,"max_tokens":100}`,
			want: "role C1 C1 C1 finish:stop DONE",
		},
		{
			name: "chat max_completion_tokens, no model",
			path: "/v1/chat/completions",
			body: `{` + msg + `,"stream":true,"max_completion_tokens":2}`,
			want: "role C1 C1 finish:length DONE",
		},
		{
			name: "chat min_tokens raises output",
			cfg:  Config{OutputTokens: 2},
			path: "/v1/chat/completions",
			body: `{` + msg + `,"stream":true,"min_tokens":4,"max_tokens":4,"ignore_eos":true}`,
			want: "role C1 C1 C1 C1 finish:length DONE",
		},
		{
			name:      "chat reasoning",
			cfg:       Config{Reasoning: 3},
			path:      "/v1/chat/completions",
			body:      `{"model":"sim-model",` + msg + `,"stream":true,"max_tokens":5,"stream_options":{"include_usage":true}}`,
			want:      "role R1 R1 R1 C1 C1 finish:length usage DONE",
			usage:     &tUsage{PromptTokens: 9, CompletionTokens: 5, TotalTokens: 14},
			reasoning: 3,
		},
		{
			name: "chat tokens_per_chunk",
			cfg:  Config{TokensPerChunk: 4},
			path: "/v1/chat/completions",
			body: `{"model":"sim-model",` + msg + `,"stream":true,"max_tokens":10}`,
			want: "role C4 C4 C2 finish:length DONE",
		},
		{
			name:      "chat tokens_per_chunk with reasoning",
			cfg:       Config{TokensPerChunk: 4, Reasoning: 3},
			path:      "/v1/chat/completions",
			body:      `{"model":"sim-model",` + msg + `,"stream":true,"max_tokens":10,"stream_options":{"include_usage":true}}`,
			want:      "role R3 C4 C3 finish:length usage DONE",
			usage:     &tUsage{PromptTokens: 9, CompletionTokens: 10, TotalTokens: 19},
			reasoning: 3,
		},
		{
			name: "chat content parts",
			path: "/v1/chat/completions",
			body: `{"messages":[{"role":"system","content":"abcd"},{"role":"user","content":[{"type":"text","text":"efgh"},{"type":"image_url","image_url":{"url":"` + pngDataURI + `"}}]}],"stream":true,"max_tokens":1,"stream_options":{"include_usage":true}}`,
			want: "role C1 finish:length usage DONE",
			// 8 characters of text, and an image at DefaultImageTokens.
			usage: &tUsage{PromptTokens: 2 + DefaultImageTokens, CompletionTokens: 1, TotalTokens: 3 + DefaultImageTokens},
		},
		{
			name:  "completions",
			path:  "/v1/completions",
			body:  `{"model":"sim-model","prompt":"Once upon a time","stream":true,"max_tokens":4,"stream_options":{"include_usage":true}}`,
			want:  "C1 C1 C1 C1 finish:length usage DONE",
			usage: &tUsage{PromptTokens: 4, CompletionTokens: 4, TotalTokens: 8},
		},
		{
			name:  "completions token ids, tokens_per_chunk",
			cfg:   Config{TokensPerChunk: 3, Reasoning: 2}, // completions ignore Reasoning
			path:  "/v1/completions",
			body:  `{"prompt":[1,2,3,4,5],"stream":true,"max_tokens":4,"stream_options":{"include_usage":true}}`,
			want:  "C3 C1 finish:length usage DONE",
			usage: &tUsage{PromptTokens: 5, CompletionTokens: 4, TotalTokens: 9},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ts := newTestServer(t, fast(tt.cfg))
			resp, err := post(context.Background(), newClient(t), ts.URL+tt.path, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
				t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			evs, err := readSSE(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			obj, prefix := "chat.completion.chunk", "chatcmpl-"
			if tt.path == "/v1/completions" {
				obj, prefix = "text_completion", "cmpl-"
			}
			shape, last := describeStream(t, evs, obj, prefix)
			if got := strings.Join(shape, " "); got != tt.want {
				t.Errorf("shape\n got %s\nwant %s", got, tt.want)
			}
			for _, ev := range evs[:len(evs)-1] {
				if c := parseChunk(t, ev.data); len(c.Choices) > 0 && !strings.Contains(ev.data, `"usage":null`) {
					t.Errorf("chunk without usage null: %s", ev.data)
				}
			}
			if tt.usage == nil {
				return
			}
			u := last.Usage
			if u == nil || u.PromptTokens != tt.usage.PromptTokens || u.CompletionTokens != tt.usage.CompletionTokens || u.TotalTokens != tt.usage.TotalTokens {
				t.Errorf("usage %+v, want %+v", u, tt.usage)
			}
			switch {
			case tt.reasoning == 0 && u.CompletionTokensDetails != nil:
				t.Errorf("unexpected completion_tokens_details")
			case tt.reasoning > 0 && (u.CompletionTokensDetails == nil || u.CompletionTokensDetails.ReasoningTokens != tt.reasoning):
				t.Errorf("completion_tokens_details %+v, want reasoning_tokens %d", u.CompletionTokensDetails, tt.reasoning)
			}
		})
	}
}

func TestContinuousUsage(t *testing.T) {
	_, ts := newTestServer(t, fast(Config{TokensPerChunk: 2, Reasoning: 1}))
	resp, err := post(context.Background(), newClient(t), ts.URL+"/v1/chat/completions",
		`{"messages":[{"role":"user","content":"12345678"}],"stream":true,"max_tokens":5,"stream_options":{"include_usage":true,"continuous_usage_stats":true}}`)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	evs, err := readSSE(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	// role(0) R1(1) C2(3) C2(5) finish(5) usage(5) DONE
	want := []int{0, 1, 3, 5, 5, 5}
	if len(evs) != len(want)+1 {
		t.Fatalf("got %d events, want %d", len(evs), len(want)+1)
	}
	for i, w := range want {
		c := parseChunk(t, evs[i].data)
		if c.Usage == nil || c.Usage.CompletionTokens != w || c.Usage.PromptTokens != 2 || c.Usage.TotalTokens != 2+w {
			t.Errorf("event %d usage %+v, want completion_tokens %d", i, c.Usage, w)
		}
	}
}

func TestNonStream(t *testing.T) {
	tests := []struct {
		name, path, body      string
		cfg                   Config
		wantObject, wantID    string
		wantText, wantReason  string
		wantFinish            string
		wantPrompt, wantCompl int
	}{
		{
			name: "chat", path: "/v1/chat/completions",
			body:       `{"model":"sim-model","messages":[{"role":"user","content":"Hello there!"}],"max_tokens":7}`,
			wantObject: "chat.completion", wantID: "chatcmpl-", wantText: tokenText(false, 0, 7), wantFinish: "length",
			wantPrompt: 3, wantCompl: 7,
		},
		{
			name: "chat stream false with stream_options", path: "/v1/chat/completions",
			cfg:        Config{OutputTokens: 4},
			body:       `{"messages":[{"role":"user","content":"Hi"}],"stream":false,"stream_options":{"include_usage":true}}`,
			wantObject: "chat.completion", wantID: "chatcmpl-", wantText: tokenText(false, 0, 4), wantFinish: "stop",
			wantPrompt: 1, wantCompl: 4,
		},
		{
			name: "chat reasoning", path: "/v1/chat/completions",
			cfg:        Config{Reasoning: 4, TokensPerChunk: 3},
			body:       `{"messages":[{"role":"user","content":"Hi"}],"max_tokens":6}`,
			wantObject: "chat.completion", wantID: "chatcmpl-", wantText: tokenText(false, 0, 2), wantReason: tokenText(true, 0, 4),
			wantFinish: "length", wantPrompt: 1, wantCompl: 6,
		},
		{
			name: "completions", path: "/v1/completions",
			body:       `{"model":"sim-model","prompt":["abcd","efgh",[1,2]],"max_tokens":3}`,
			wantObject: "text_completion", wantID: "cmpl-", wantText: tokenText(false, 0, 3), wantFinish: "length",
			wantPrompt: 4, wantCompl: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ts := newTestServer(t, fast(tt.cfg))
			resp, err := post(context.Background(), newClient(t), ts.URL+tt.path, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("status %d, type %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			c := parseChunk(t, string(body))
			if c.Object != tt.wantObject || !strings.HasPrefix(c.ID, tt.wantID) || c.Model != "sim-model" || c.Created == 0 || len(c.Choices) != 1 {
				t.Fatalf("response %s", body)
			}
			ch := c.Choices[0]
			if ch.FinishReason == nil || *ch.FinishReason != tt.wantFinish {
				t.Errorf("finish_reason: %s", body)
			}
			var text, reason string
			if tt.path == "/v1/completions" {
				if ch.Text == nil {
					t.Fatalf("no text: %s", body)
				}
				text = *ch.Text
			} else {
				m := ch.Message
				if m == nil || m.Role != "assistant" || m.Content == nil {
					t.Fatalf("message: %s", body)
				}
				text = *m.Content
				if m.ReasoningContent != nil {
					reason = *m.ReasoningContent
				}
			}
			if text != tt.wantText || reason != tt.wantReason {
				t.Errorf("text %q reasoning %q, want %q %q", text, reason, tt.wantText, tt.wantReason)
			}
			if u := c.Usage; u == nil || u.PromptTokens != tt.wantPrompt || u.CompletionTokens != tt.wantCompl || u.TotalTokens != tt.wantPrompt+tt.wantCompl {
				t.Errorf("usage %+v", c.Usage)
			}
			if st := s.Stats(); st.Completed != 1 || st.OutputTokens != int64(tt.wantCompl) || st.Requests != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	s, ts := newTestServer(t, fast(Config{}))
	c := newClient(t)
	big := `{"prompt":"` + strings.Repeat("x", MaxBodyBytes) + `"}`
	tests := []struct {
		name, method, path, body string
		status                   int
		typ                      string
	}{
		{"wrong model", "POST", "/v1/chat/completions", `{"model":"gpt-4","messages":[{"role":"user","content":"x"}]}`, 404, "NotFoundError"},
		{"wrong model completions", "POST", "/v1/completions", `{"model":"gpt-4","prompt":"x"}`, 404, "NotFoundError"},
		{"bad json", "POST", "/v1/chat/completions", `{"messages":[`, 400, "BadRequestError"},
		{"wrong type", "POST", "/v1/chat/completions", `{"messages":"hi"}`, 400, "BadRequestError"},
		{"no messages", "POST", "/v1/chat/completions", `{"model":"sim-model"}`, 400, "BadRequestError"},
		{"bad content", "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":5}]}`, 400, "BadRequestError"},
		{"max_tokens 0", "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}],"max_tokens":0}`, 400, "BadRequestError"},
		{"min over max", "POST", "/v1/completions", `{"prompt":"x","max_tokens":2,"min_tokens":3}`, 400, "BadRequestError"},
		{"no prompt", "POST", "/v1/completions", `{"model":"sim-model"}`, 400, "BadRequestError"},
		{"bad prompt", "POST", "/v1/completions", `{"prompt":[{"a":1}]}`, 400, "BadRequestError"},
		{"too large", "POST", "/v1/completions", big, 413, "BadRequestError"},
		{"unknown path", "POST", "/v1/nothing", `{}`, 404, "NotFoundError"},
		{"get chat", "GET", "/v1/chat/completions", ``, 405, "MethodNotAllowedError"},
		{"post models", "POST", "/v1/models", `{}`, 405, "MethodNotAllowedError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, ts.URL+tt.path, strings.NewReader(tt.body))
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e struct {
				Error struct {
					Message string `json:"message"`
					Type    string `json:"type"`
					Code    int    `json:"code"`
				} `json:"error"`
			}
			body, _ := io.ReadAll(resp.Body)
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("error body %q: %v", body, err)
			}
			if resp.StatusCode != tt.status || e.Error.Code != tt.status || e.Error.Type != tt.typ || e.Error.Message == "" ||
				resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("status %d body %s, want %d %s", resp.StatusCode, body, tt.status, tt.typ)
			}
		})
	}
	if st := s.Stats(); st.BadRequests != 12 || st.InFlight != 0 || st.Completed != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestModelsAndHealth(t *testing.T) {
	_, ts := newTestServer(t, Config{Model: `my "model"`})
	c := newClient(t)
	resp, err := c.Get(ts.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Object string `json:"object"`
		Data   []struct {
			ID     string `json:"id"`
			Object string `json:"object"`
		} `json:"data"`
	}
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || list.Object != "list" || len(list.Data) != 1 || list.Data[0].ID != `my "model"` || list.Data[0].Object != "model" {
		t.Errorf("models: %d %+v %v", resp.StatusCode, list, err)
	}
	resp, err = c.Get(ts.URL + "/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("health: %d", resp.StatusCode)
	}
	// The escaped model name round-trips in generation responses too.
	resp, err = post(context.Background(), c, ts.URL+"/v1/completions", `{"model":"my \"model\"","prompt":"x","max_tokens":1}`)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || parseChunk(t, string(body)).Model != `my "model"` {
		t.Errorf("completions with quoted model: %d %s", resp.StatusCode, body)
	}
}

func TestConfig(t *testing.T) {
	bad := []Config{
		{TTFT: -1}, {ITL: -1}, {OutputTokens: -1}, {Jitter: -0.1}, {MaxConcurrency: -1}, {MaxQueue: -1},
		{TokensPerChunk: -1}, {Reasoning: -1}, {Faults: Faults{HTTP429: 1.5}}, {Faults: Faults{Stall: -0.5}},
		{ImageTokens: -1}, {EmbeddingDimensions: -1}, {EmbeddingDimensions: maxDimensions + 1},
		{KVCacheTokens: -1}, {Faults: Faults{SlowdownPerMinute: -0.1}}, {Faults: Faults{SlowdownPerMinute: math.NaN()}},
		{Faults: Faults{SlowdownPerMinute: math.Inf(1)}}, {Faults: Faults{LeakBytesPerRequest: -1}},
		{Faults: Faults{LeakSlotEvery: -1}, MaxConcurrency: 1}, {Faults: Faults{LeakSlotEvery: 2}},
		{Faults: Faults{RestartEvery: -time.Second}}, {Faults: Faults{RestartEvery: time.Millisecond}},
	}
	for _, c := range bad {
		if c.Validate() == nil {
			t.Errorf("Validate(%+v) = nil", c)
		}
	}
	if _, _, err := Listen(context.Background(), "127.0.0.1:0", bad[0]); err == nil {
		t.Errorf("Listen with a bad config did not fail")
	}
	got := New(Config{}).Config()
	want := Config{Model: DefaultModel, TTFT: DefaultTTFT, ITL: DefaultITL, OutputTokens: DefaultOutputTokens, TokensPerChunk: 1,
		ImageTokens: DefaultImageTokens, EmbeddingDimensions: DefaultEmbeddingDimensions, KVCacheTokens: DefaultKVCacheTokens}
	if got != want {
		t.Errorf("defaults %+v, want %+v", got, want)
	}
}

func TestVocabNeedsNoEscaping(t *testing.T) {
	for _, v := range [][]string{contentVocab[:], reasoningVocab[:]} {
		for _, w := range v {
			if q := string(appendJSONString(nil, w)); q != `"`+w+`"` || w == "" {
				t.Errorf("token %q needs escaping: %s", w, q)
			}
		}
	}
	for _, s := range []string{"a\"b\\c\n\t\x01é\xff", "日本語", ""} {
		var back string
		if err := json.Unmarshal(appendJSONString(nil, s), &back); err != nil || back != strings.ToValidUTF8(s, "\ufffd") {
			t.Errorf("appendJSONString(%q) round-trips to %q, %v", s, back, err)
		}
	}
}
