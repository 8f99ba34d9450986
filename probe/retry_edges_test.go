package probe

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestRetryEdges protects scheduled probes' retries (llmprobe_retries_total,
// and the requests a refused probe counts): a probe is retried once when the
// server refuses it with 429, or 503 — not 500 —, and says how long to wait
// with a Retry-After of at most the policy's MaxWait (equal is within); a
// refusal without Retry-After is not retried.
func TestRetryEdges(t *testing.T) {
	for _, tc := range []struct {
		name        string
		status      int
		retryAfter  string // "" for none
		wantRetries int
	}{
		{"429 without Retry-After", http.StatusTooManyRequests, "", 0},
		{"500 with Retry-After", http.StatusInternalServerError, "1", 0},
		{"429 with Retry-After equal to MaxWait", http.StatusTooManyRequests, "1", 1},
		{"503 with Retry-After", http.StatusServiceUnavailable, "1", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // the retried ones wait a second each
			var hits atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if hits.Add(1) == 1 {
					if tc.retryAfter != "" {
						w.Header().Set("Retry-After", tc.retryAfter)
					}
					w.WriteHeader(tc.status)
					return
				}
				sse(w, roleChunk, contentChunk, finishChunk, doneEvent)
			}))
			defer srv.Close()
			c := NewClient(Endpoint{URL: srv.URL, Model: "m", Stream: true})
			defer c.CloseIdle()
			var earlier int
			rec := c.DoWithRetry(context.Background(), Request{Prompt: "x"}, RetryPolicy{Max: 1, MaxWait: time.Second}, func(*Record) { earlier++ })
			if rec.Retries != tc.wantRetries || int(hits.Load()) != tc.wantRetries+1 || earlier != tc.wantRetries {
				t.Fatalf("%s, retries %d, %d requests, %d earlier attempts; want %d retries", rec.Result, rec.Retries, hits.Load(), earlier, tc.wantRetries)
			}
			if want := tc.wantRetries == 1; rec.Success() != want {
				t.Errorf("result %s after %d retries", rec.Result, rec.Retries)
			}
		})
	}
}
