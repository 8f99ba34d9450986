package probe_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/probe"
	"github.com/llmprobe/llmprobe/sim"
)

// DoAnswer returns the text the server answered, streamed or not, and
// changes nothing else: the request body is the same as Do's (min_tokens
// still sent), and Do keeps no text.
func TestDoAnswer(t *testing.T) {
	var mu sync.Mutex
	var bodies []map[string]any
	srv := sim.New(sim.Config{TTFT: time.Millisecond, ITL: time.Millisecond, OutputTokens: 5, Reasoning: 2})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		mu.Lock()
		bodies = append(bodies, m)
		mu.Unlock()
		r.Body = io.NopCloser(strings.NewReader(string(b)))
		srv.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { srv.Close(); ts.Close() })
	for _, stream := range []bool{true, false} {
		c := probe.NewClient(probe.Endpoint{Name: "sim", URL: ts.URL + "/v1", Model: sim.DefaultModel, Kind: probe.Chat, Stream: stream, SupportsMinTokens: true})
		req := probe.Request{Messages: []probe.Message{{Role: "user", Content: "hello"}}, MaxTokens: 5, MinTokens: 5}
		rec, text := c.DoAnswer(context.Background(), req)
		if !rec.Success() {
			t.Fatalf("stream %v: %s %s", stream, rec.Result, rec.Error)
		}
		// The simulator's answer: 2 reasoning tokens (left out), then 3
		// of content.
		if text == "" || strings.Count(text, " ") > 3 || text != rec.Answer {
			t.Errorf("stream %v: answer %q (record %q)", stream, text, rec.Answer)
		}
		plain := c.Do(context.Background(), req)
		if plain.Answer != "" {
			t.Errorf("stream %v: Do kept the answer %q", stream, plain.Answer)
		}
		c.CloseIdle()
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 4 {
		t.Fatalf("%d requests", len(bodies))
	}
	for i, b := range bodies {
		if b["min_tokens"] == nil || b["tools"] != nil || b["response_format"] != nil {
			t.Errorf("request %d: %v: DoAnswer must send what Do sends", i, b)
		}
	}
}
