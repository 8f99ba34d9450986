package probe

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// TestTTFTCountsSlowHeaders protects TTFT (llmprobe_time_to_first_token_seconds)
// and E2E as vLLM defines them: from just before the request is written, not
// from when the response headers arrive. A server that queues the request
// for 200 ms before it answers with headers and then streams at once must
// show a TTFT of at least 200 ms: that wait is what its users feel.
func TestTTFTCountsSlowHeaders(t *testing.T) {
	const wait = 200 * time.Millisecond
	for _, stream := range []bool{true, false} {
		name := map[bool]string{true: "stream", false: "plain body"}[stream]
		t.Run(name, func(t *testing.T) {
			srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				time.Sleep(wait) // nothing sent, not even the status line
				if stream {
					sse(w, roleChunk, contentChunk, contentChunk, finishChunk, doneEvent)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"choices":[{"message":{"content":"hi"},"finish_reason":"stop"}]}`))
			}))
			c := newTestClient(t, Endpoint{Name: "t", URL: srv.URL, Model: "m", Stream: stream, Timeout: 5 * time.Second})
			before := time.Now()
			rec := c.Do(context.Background(), Request{Prompt: "hi", MaxTokens: 4})
			after := time.Now()
			if rec.Result != ResultSuccess {
				t.Fatalf("%s (%s)", rec.Result, rec.Error)
			}
			if rec.Start.Before(before) || rec.Start.After(before.Add(wait/2)) {
				t.Errorf("start %v after Do was called, want before the server's %v wait", rec.Start.Sub(before), wait)
			}
			if e2e := rec.E2E(); e2e < wait || e2e > after.Sub(before) {
				t.Errorf("E2E %v, want at least the %v the server waited and at most Do's %v", e2e, wait, after.Sub(before))
			}
			if !stream {
				return
			}
			ttft, ok := rec.TTFT()
			if !ok || ttft < wait {
				t.Errorf("TTFT %v (%v), want at least the %v the server waited before its headers", ttft, ok, wait)
			}
			if len(rec.Chunks) != 2 || rec.Chunks[0] < wait {
				t.Errorf("chunk offsets %v, want 2 from at least %v", rec.Chunks, wait)
			}
		})
	}
}
