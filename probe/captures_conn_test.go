package probe

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// serveCapture answers every request with a captured response: its headers
// as the real server sent them (Keep-Alive included) and its body.
func serveCapture(t *testing.T, headers, body string) string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata/captures", headers))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	resp, err := http.ReadResponse(bufio.NewReader(f), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join("testdata/captures", body))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		for k, v := range resp.Header {
			if k != "Transfer-Encoding" && k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestCaptureKeepAliveHint: llama-server's own response headers
// ("Keep-Alive: timeout=5, max=100") make the client close idle
// connections at 4 s, before the server's 5 s.
func TestCaptureKeepAliveHint(t *testing.T) {
	url := serveCapture(t, "llama-server-chat-stream.headers", "llama-server-chat-stream.sse")
	c := NewClient(Endpoint{Name: "t", URL: url, Model: "m", Stream: true})
	defer c.CloseIdle()
	if rec := c.Do(context.Background(), Request{Prompt: "hi"}); !rec.Success() {
		t.Fatalf("%s %s", rec.Result, rec.Error)
	}
	if got := idleTimeout(c.pool.cur.Load().Transport); got != 4*time.Second {
		t.Errorf("idle timeout %v after llama-server's Keep-Alive: timeout=5, want 4s", got)
	}
}

// TestCaptureColdCacheHit: real usage blocks as cold-request checks. The
// non-streamed llama-server capture is a repeated prompt (cached_tokens 60
// of 61): a cold request answered so was served from the cache. The
// streamed captures report 0 cached tokens: not a hit.
func TestCaptureColdCacheHit(t *testing.T) {
	for _, tt := range []struct {
		headers, body string
		stream        bool
		hit           bool
	}{
		{"llama-server-chat-stream.headers", "llama-server-chat.json", false, true},
		{"llama-server-chat-stream.headers", "llama-server-chat-stream.sse", true, false},
		{"vllm-sim-chat-stream.headers", "vllm-sim-chat-stream.sse", true, false},
	} {
		t.Run(tt.body, func(t *testing.T) {
			url := serveCapture(t, tt.headers, tt.body)
			c := NewClient(Endpoint{Name: "t", URL: url, Model: "m", Stream: tt.stream})
			defer c.CloseIdle()
			req := Request{Cold: true, Prompt: "0123456789ab Tell me a story about a lighthouse keeper and a storm."}
			rec := c.Do(context.Background(), req)
			if !rec.Success() {
				t.Fatalf("%s %s", rec.Result, rec.Error)
			}
			if rec.ColdCacheHit != tt.hit {
				t.Errorf("cold cache hit %v with cached_tokens=%d of %d, want %v", rec.ColdCacheHit, rec.CachedTokens, rec.InputTokens, tt.hit)
			}
			req.Cold = false
			if rec := c.Do(context.Background(), req); rec.ColdCacheHit {
				t.Error("a warm request was checked as cold")
			}
		})
	}
}
