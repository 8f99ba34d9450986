package probe

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const testKey = "sk-test-0123456789abcdef"

// echoKey answers with status and an OpenAI-style error whose message quotes
// the request's Authorization header, as careless servers do.
func echoKey(status int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":{"message":"rejected credentials: %s","type":"invalid_request_error","code":%d}}`, r.Header.Get("Authorization"), status)
	}
}

// sse writes a 200 event-stream response made of events, flushing each.
func sse(w http.ResponseWriter, events ...string) {
	w.Header().Set("Content-Type", "text/event-stream")
	rc := http.NewResponseController(w)
	for _, ev := range events {
		_, _ = io.WriteString(w, ev)
		_ = rc.Flush()
	}
}

// hijack takes over the connection and writes raw as the whole response,
// then closes the connection.
func hijack(raw string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		conn, bw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		defer conn.Close()
		_, _ = bw.WriteString(raw)
		_ = bw.Flush()
	}
}

func chunked(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		fmt.Fprintf(&b, "%x\r\n%s\r\n", len(p), p)
	}
	return b.String()
}

var contentChunk = chatChunk(`"content":"a"`, "")

// TestFailures checks the class of every way a request can fail, that the
// API key never reaches Record.Error, how soon Do gives up, and, at the end,
// that no goroutine is left behind.
func TestFailures(t *testing.T) {
	before := runtime.NumGoroutine()

	var redirectHits atomic.Int32
	firstSent := make(chan struct{}, 1)
	tests := []struct {
		name    string
		handler http.HandlerFunc
		url     func(t *testing.T, srv *httptest.Server) string // default srv.URL
		ep      func(*Endpoint)
		ctx     func(t *testing.T) (context.Context, context.CancelFunc)
		want    Result
		status  int
		errHas  string
		within  time.Duration // Do must return within this (default 5s)
	}{
		{
			name: "connection refused",
			url: func(t *testing.T, _ *httptest.Server) string {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				addr := ln.Addr().String()
				ln.Close()
				return "http://" + addr
			},
			want: ResultConnection, errHas: "refused",
		},
		{name: "500", handler: echoKey(500), want: ResultHTTP5xx, status: 500, errHas: "HTTP 500: rejected credentials"},
		{name: "503 plain text", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "overloaded "+r.Header.Get("Authorization"), 503)
		}, want: ResultHTTP5xx, status: 503, errHas: "HTTP 503"},
		{name: "404", handler: echoKey(404), want: ResultHTTP4xx, status: 404, errHas: "HTTP 404"},
		{name: "400", handler: echoKey(400), want: ResultHTTP4xx, status: 400, errHas: "HTTP 400"},
		{name: "401 echoing the key", handler: echoKey(401), want: ResultHTTP4xx, status: 401, errHas: "<secret>"},
		{name: "429", handler: echoKey(429), want: ResultHTTP429, status: 429, errHas: "HTTP 429"},
		{
			// The chunked framing promised more bytes than came: the
			// transport reports io.ErrUnexpectedEOF. The server's output was
			// well-formed so far; the connection broke, so: connection.
			name: "server closes mid-chunk",
			handler: hijack("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n" +
				chunked(roleChunk, contentChunk) + "1a0\r\n" + contentChunk[:40]),
			want: ResultConnection, status: 200, errHas: "unexpected EOF",
		},
		{
			// Closed at an event boundary, but without the last chunk of
			// the chunked framing: also a broken connection.
			name: "server closes between chunks",
			handler: hijack("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n" +
				chunked(roleChunk, contentChunk)),
			want: ResultConnection, status: 200, errHas: "unexpected EOF",
		},
		{
			// Without framing (body ends at close), HTTP sees a proper end;
			// what is broken is the event stream, cut mid-line: protocol.
			name: "close-delimited body ends mid-line",
			handler: hijack("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n" +
				roleChunk + contentChunk + contentChunk[:40]),
			want: ResultProtocol, status: 200, errHas: "mid-line",
		},
		{
			name: "close-delimited body ends without DONE or finish",
			handler: hijack("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n" +
				roleChunk + contentChunk),
			want: ResultProtocol, status: 200, errHas: "without [DONE]",
		},
		{
			name: "stream stalls: idle timeout",
			handler: func(w http.ResponseWriter, r *http.Request) {
				sse(w, roleChunk, contentChunk)
				<-r.Context().Done()
			},
			ep:   func(ep *Endpoint) { ep.IdleTimeout = 200 * time.Millisecond },
			want: ResultTimeout, status: 200, errHas: "idle timeout", within: 2 * time.Second,
		},
		{
			name:    "no headers: idle timeout",
			handler: func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
			ep:      func(ep *Endpoint) { ep.IdleTimeout = 200 * time.Millisecond },
			want:    ResultTimeout, errHas: "idle timeout", within: 2 * time.Second,
		},
		{
			name:    "stream stalls: request timeout",
			handler: func(w http.ResponseWriter, r *http.Request) { sse(w, roleChunk, contentChunk); <-r.Context().Done() },
			ep:      func(ep *Endpoint) { ep.Timeout = 300 * time.Millisecond },
			want:    ResultTimeout, status: 200, within: 2 * time.Second,
		},
		{
			// Keep-alive comments hold off the idle timeout; the overall
			// timeout still ends the request.
			name: "keep-alives forever: request timeout",
			handler: func(w http.ResponseWriter, r *http.Request) {
				sse(w, roleChunk, contentChunk)
				for {
					select {
					case <-r.Context().Done():
						return
					case <-time.After(20 * time.Millisecond):
						sse(w, ": ping\n\n")
					}
				}
			},
			ep:   func(ep *Endpoint) { ep.Timeout = 600 * time.Millisecond; ep.IdleTimeout = 200 * time.Millisecond },
			want: ResultTimeout, status: 200, errHas: "request timeout 600ms exceeded", within: 3 * time.Second,
		},
		{
			name: "200 text/html when streaming",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				_, _ = io.WriteString(w, "<html><body>Sign in</body></html>")
			},
			want: ResultProtocol, status: 200, errHas: `"text/html"`,
		},
		{
			name: "invalid JSON chunk",
			handler: func(w http.ResponseWriter, r *http.Request) {
				sse(w, roleChunk, contentChunk, "data: {\"choices\":[{\"delta\n\n")
			},
			want: ResultProtocol, status: 200, errHas: "invalid JSON in stream chunk 2",
		},
		{
			name: "JSON chunk with trailing data",
			handler: func(w http.ResponseWriter, r *http.Request) {
				sse(w, "data: {\"choices\":[]}]\n\n", contentChunk, doneEvent)
			},
			want: ResultProtocol, status: 200, errHas: "invalid JSON in stream chunk 1",
		},
		{
			name: "error object mid-stream",
			handler: func(w http.ResponseWriter, r *http.Request) {
				sse(w, roleChunk, contentChunk, fmt.Sprintf(`data: {"error":{"message":"engine died (auth %s)","code":500}}`+"\n\n", r.Header.Get("Authorization")))
			},
			want: ResultProtocol, status: 200, errHas: "error in stream: engine died",
		},
		{
			name: "error string mid-stream",
			handler: func(w http.ResponseWriter, r *http.Request) {
				sse(w, contentChunk, `data: {"error":"out of memory"}`+"\n\n", doneEvent)
			},
			want: ResultProtocol, status: 200, errHas: "error in stream: out of memory",
		},
		{
			name: "stream over MaxResponseBytes",
			handler: func(w http.ResponseWriter, r *http.Request) {
				sse(w, roleChunk)
				for range 100 {
					sse(w, contentChunk)
				}
				sse(w, finishChunk, doneEvent)
			},
			ep:   func(ep *Endpoint) { ep.MaxResponseBytes = 4096 },
			want: ResultProtocol, status: 200, errHas: "max_response_bytes",
		},
		{
			name: "plain body over MaxResponseBytes",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, `{"choices":[{"message":{"content":%q}}]}`, strings.Repeat("x", 8000))
			},
			ep:   func(ep *Endpoint) { ep.MaxResponseBytes = 4096; ep.Stream = false },
			want: ResultProtocol, status: 200, errHas: "max_response_bytes",
		},
		{
			name:    "plain body not JSON",
			handler: func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "<html>") },
			ep:      func(ep *Endpoint) { ep.Stream = false },
			want:    ResultProtocol, status: 200, errHas: "invalid JSON",
		},
		{
			name:    "plain body without choices",
			handler: func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, `{"object":"chat.completion"}`) },
			ep:      func(ep *Endpoint) { ep.Stream = false },
			want:    ResultProtocol, status: 200, errHas: "no choices",
		},
		{name: "302 to another server", want: ResultProtocol, status: 302, errHas: "HTTP 302"},
		{name: "307 to another server", want: ResultProtocol, status: 307, errHas: "HTTP 307"},
		{
			name:    "parent context canceled before",
			handler: func(w http.ResponseWriter, r *http.Request) { sse(w, roleChunk, contentChunk, finishChunk, doneEvent) },
			ctx: func(t *testing.T) (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, cancel
			},
			want: ResultCanceled, errHas: "canceled: context canceled",
		},
		{
			name: "parent context canceled mid-stream",
			handler: func(w http.ResponseWriter, r *http.Request) {
				sse(w, roleChunk, contentChunk)
				firstSent <- struct{}{}
				<-r.Context().Done()
			},
			ctx: func(t *testing.T) (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				go func() {
					<-firstSent
					time.Sleep(20 * time.Millisecond)
					cancel()
				}()
				return ctx, cancel
			},
			want: ResultCanceled, status: 200, errHas: "canceled", within: 2 * time.Second,
		},
		{
			// The caller's deadline (a soak that ends) cuts the request:
			// that is not the server's timeout.
			name:    "parent context deadline",
			handler: func(w http.ResponseWriter, r *http.Request) { sse(w, roleChunk, contentChunk); <-r.Context().Done() },
			ctx: func(t *testing.T) (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 200*time.Millisecond)
			},
			want: ResultCanceled, status: 200, errHas: "canceled: context deadline exceeded", within: 2 * time.Second,
		},
		{
			name: "stream without output",
			handler: func(w http.ResponseWriter, r *http.Request) {
				sse(w, roleChunk, finishChunk, usageChunk(5, 0), doneEvent)
			},
			want: ResultProtocol, status: 200, errHas: "no output",
		},
		{
			name:    "empty 200 stream",
			handler: func(w http.ResponseWriter, r *http.Request) { sse(w) },
			want:    ResultProtocol, status: 200, errHas: "without [DONE]",
		},
		{
			name: "stream event over the event limit",
			handler: func(w http.ResponseWriter, r *http.Request) {
				sse(w, "data: "+strings.Repeat("x", maxEventBytes+1)+"\n\n")
			},
			want: ResultProtocol, status: 200, errHas: "larger than limit",
		},
	}

	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		redirectHits.Add(1)
		sse(w, contentChunk, finishChunk, doneEvent)
	}))
	defer other.Close()
	for i, tt := range tests {
		switch tt.name {
		case "302 to another server", "307 to another server":
			code := map[bool]int{true: 302, false: 307}[strings.HasPrefix(tt.name, "302")]
			tests[i].handler = func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, other.URL+r.URL.Path, code)
			}
		}
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.handler
			if h == nil {
				h = func(http.ResponseWriter, *http.Request) { t.Error("request reached the server") }
			}
			// Reading the request body first lets net/http watch the
			// connection, so a stalled handler's context ends when the
			// client goes.
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				h(w, r)
			}))
			defer srv.Close()
			url := srv.URL
			if tt.url != nil {
				url = tt.url(t, srv)
			}
			ep := Endpoint{Name: "t", URL: url, Model: "m", Stream: true, APIKey: testKey, Timeout: 10 * time.Second}
			if tt.ep != nil {
				tt.ep(&ep)
			}
			c := NewClient(ep)
			defer c.CloseIdle()
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if tt.ctx != nil {
				ctx, cancel = tt.ctx(t)
			}
			defer cancel()
			within := tt.within
			if within == 0 {
				within = 5 * time.Second
			}

			start := time.Now()
			rec := c.Do(ctx, Request{Prompt: "hi", MaxTokens: 6})
			took := time.Since(start)

			if rec.Result != tt.want {
				t.Errorf("result %s (%q), want %s", rec.Result, rec.Error, tt.want)
			}
			if rec.HTTPStatus != tt.status {
				t.Errorf("HTTP status %d, want %d", rec.HTTPStatus, tt.status)
			}
			if !strings.Contains(rec.Error, tt.errHas) || rec.Error == "" {
				t.Errorf("error %q, want it to contain %q", rec.Error, tt.errHas)
			}
			if strings.Contains(rec.Error, testKey) || strings.Contains(rec.Error, testKey[8:]) {
				t.Errorf("error %q holds the API key", rec.Error)
			}
			if strings.Contains(rec.Error, "127.0.0.1:") && tt.want != ResultConnection {
				t.Errorf("error %q holds the URL", rec.Error)
			}
			if rec.Start.IsZero() || rec.End.Before(rec.Start) {
				t.Errorf("start %v end %v", rec.Start, rec.End)
			}
			if took > within {
				t.Errorf("Do took %v, want under %v", took, within)
			}
		})
	}
	if n := redirectHits.Load(); n != 0 {
		t.Errorf("redirect followed: the other server was hit %d times", n)
	}

	// No goroutine left behind: servers closed, clients' idle connections
	// closed; give the runtime a moment to wind down.
	other.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= before {
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
