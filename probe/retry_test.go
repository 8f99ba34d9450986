package probe

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestRetryAfterParse(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"2":                             2 * time.Second,
		"-1":                            0,
		"soon":                          0,
		"Thu, 01 Jan 2026 00:00:03 GMT": 3 * time.Second,
		"Wed, 31 Dec 2025 23:00:00 GMT": 0,
	} {
		if got := retryAfter(in, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestDoWithRetry(t *testing.T) {
	var hits atomic.Int32
	refusals := int32(1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) <= refusals {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.Write([]byte("data: {\"choices\":[{\"delta\":{\"content\":\"hi\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n"))
	}))
	defer srv.Close()
	c := NewClient(Endpoint{URL: srv.URL, Model: "m", Stream: true})

	var earlier []*Record
	rec := c.DoWithRetry(context.Background(), Request{Prompt: "x"}, RetryPolicy{Max: 2, MaxWait: 2 * time.Second}, func(r *Record) { earlier = append(earlier, r) })
	if !rec.Success() || rec.Retries != 1 || len(earlier) != 1 || earlier[0].Result != ResultHTTP429 || earlier[0].RetryAfter != time.Second {
		t.Fatalf("got %s retries=%d earlier=%d", rec.Result, rec.Retries, len(earlier))
	}

	// No retries without a policy (soaks), nor past the bound, nor for a
	// Retry-After longer than MaxWait.
	for name, p := range map[string]RetryPolicy{"none": {}, "too long": {Max: 3, MaxWait: 500 * time.Millisecond}} {
		hits.Store(0)
		rec := c.DoWithRetry(context.Background(), Request{Prompt: "x"}, p, nil)
		if rec.Result != ResultHTTP429 || rec.Retries != 0 || hits.Load() != 1 {
			t.Errorf("%s: %s retries=%d hits=%d, want one 429 and no retry", name, rec.Result, rec.Retries, hits.Load())
		}
	}
	hits.Store(0)
	refusals = 10
	rec = c.DoWithRetry(context.Background(), Request{Prompt: "x"}, RetryPolicy{Max: 2, MaxWait: 2 * time.Second}, nil)
	if rec.Result != ResultHTTP429 || rec.Retries != 2 || hits.Load() != 3 {
		t.Errorf("bounded: %s retries=%d hits=%d, want 3 attempts", rec.Result, rec.Retries, hits.Load())
	}
}
