package probe

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// capStream is a complete chat stream (role, n content chunks, finish,
// [DONE]).
func capStream(n int) []string {
	evs := []string{roleChunk}
	for range n {
		evs = append(evs, contentChunk)
	}
	return append(evs, finishChunk, doneEvent)
}

// TestBodyCapBoundary protects max_response_bytes (Endpoint.MaxResponseBytes,
// "protocol" in llmprobe_requests_total): a body of cap-1 or exactly cap bytes
// is read as usual, one of cap+1 bytes is refused as over the cap, for a
// stream and for a plain body alike.
func TestBodyCapBoundary(t *testing.T) {
	stream := strings.Join(capStream(20), "")
	plain := `{"choices":[{"message":{"content":"` + strings.Repeat("x", 3000) + `"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":7}}`
	for _, tc := range []struct {
		name    string
		stream  bool
		framing string // "length" (Content-Length), "chunked" (flushed, no length)
		body    string
	}{
		{"stream", true, "chunked", stream},
		{"plain body with Content-Length", false, "length", plain},
		{"plain body chunked", false, "chunked", plain},
	} {
		for _, d := range []int{-1, 0, 1} { // body size - cap
			t.Run(fmt.Sprintf("%s, body of cap%+d bytes", tc.name, d), func(t *testing.T) {
				srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if tc.stream {
						sse(w, capStream(20)...)
						return
					}
					w.Header().Set("Content-Type", "application/json")
					if tc.framing == "length" {
						w.Header().Set("Content-Length", strconv.Itoa(len(tc.body)))
						_, _ = io.WriteString(w, tc.body)
						return
					}
					half := len(tc.body) / 2
					rc := http.NewResponseController(w)
					_, _ = io.WriteString(w, tc.body[:half])
					_ = rc.Flush()
					_, _ = io.WriteString(w, tc.body[half:])
					_ = rc.Flush()
					time.Sleep(20 * time.Millisecond) // the end comes in a later read
				}))
				c := newTestClient(t, Endpoint{Name: "t", URL: srv.URL, Model: "m", Stream: tc.stream,
					MaxResponseBytes: int64(len(tc.body) - d), Timeout: 5 * time.Second})
				rec := c.Do(context.Background(), Request{Prompt: "hi", MaxTokens: 4})
				if d <= 0 {
					if rec.Result != ResultSuccess {
						t.Fatalf("body of %d bytes under a cap of %d: %s (%s)", len(tc.body), len(tc.body)-d, rec.Result, rec.Error)
					}
					if want := 20; tc.stream && rec.OutputTokens != want {
						t.Errorf("output tokens %d, want %d", rec.OutputTokens, want)
					}
					if !tc.stream && rec.OutputTokens != 7 {
						t.Errorf("output tokens %d, want 7", rec.OutputTokens)
					}
					return
				}
				if rec.Result != ResultProtocol || !strings.Contains(rec.Error, "max_response_bytes") {
					t.Fatalf("body of %d bytes over a cap of %d: %s (%s), want protocol, max_response_bytes", len(tc.body), len(tc.body)-d, rec.Result, rec.Error)
				}
			})
		}
	}
}

// TestBodyCapRearmsIdle protects the idle timeout (a "timeout" result) on
// a stream that keeps sending: every read that brings bytes re-arms it, so a
// stream whose chunks come more often than idle_timeout succeeds however
// long it lasts in all.
func TestBodyCapRearmsIdle(t *testing.T) {
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		evs := capStream(6)
		for i, ev := range evs {
			if i > 0 {
				time.Sleep(40 * time.Millisecond)
			}
			sse(w, ev)
		}
	}))
	c := newTestClient(t, Endpoint{Name: "t", URL: srv.URL, Model: "m", Stream: true,
		IdleTimeout: 150 * time.Millisecond, Timeout: 5 * time.Second})
	rec := c.Do(context.Background(), Request{Prompt: "hi", MaxTokens: 4})
	if rec.Result != ResultSuccess {
		t.Fatalf("stream of 9 events 40 ms apart, idle timeout 150 ms: %s (%s)", rec.Result, rec.Error)
	}
	if e2e := rec.E2E(); e2e < 300*time.Millisecond {
		t.Errorf("E2E %v, want at least 8 × 40 ms", e2e)
	}
}
