package probe

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
)

// Hostile endpoints: servers that misbehave on purpose, below HTTP (TLS,
// resets, slow bytes) as well as above it (endless bodies, broken JSON,
// invalid UTF-8, refusals with Retry-After, redirects). Each one must end
// as a classified Record, within a bounded time and a bounded number of
// bytes read, and leave no goroutine behind. TestFailures holds the plainer
// failures (refused, status codes, cut streams, stalls).

// rawServer accepts TCP connections and hands each to handle, which owns
// it. done is closed when the server closes; every connection is closed
// then too, so a handler blocked in a write or a sleep returns.
type rawServer struct {
	ln    net.Listener
	done  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	hits  atomic.Int32 // connections accepted
}

func startRaw(t *testing.T, handle func(c net.Conn, done <-chan struct{})) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln, done: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.hits.Add(1)
			s.mu.Lock()
			s.conns[c] = struct{}{}
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				handle(c, s.done)
			}()
		}
	}()
	t.Cleanup(s.Close)
	return s
}

func (s *rawServer) Close() {
	select {
	case <-s.done:
		return
	default:
	}
	close(s.done)
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *rawServer) addr() string { return s.ln.Addr().String() }

// readRequest reads a request's head and body so that the client is done
// writing before the server misbehaves.
func readRequest(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64<<10)
	var got []byte
	for {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			return
		}
		head, body, ok := strings.Cut(string(got), "\r\n\r\n")
		if !ok {
			continue
		}
		var length int
		for _, l := range strings.Split(head, "\r\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, "Content-Length") {
				fmt.Sscan(strings.TrimSpace(v), &length)
			}
		}
		if len(body) >= length {
			_ = c.SetReadDeadline(time.Time{})
			return
		}
	}
}

// reset closes c with an RST instead of a FIN.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}

// drip writes s one byte every gap, then repeats tail forever, until done
// or a write fails.
func drip(c net.Conn, done <-chan struct{}, gap time.Duration, s, tail string) {
	t := time.NewTicker(gap)
	defer t.Stop()
	for i := 0; ; i++ {
		var b byte
		if i < len(s) {
			b = s[i]
		} else {
			b = tail[(i-len(s))%len(tail)]
		}
		if _, err := c.Write([]byte{b}); err != nil {
			return
		}
		select {
		case <-done:
			return
		case <-t.C:
		}
	}
}

// flood writes chunk until a write fails (the client went away).
func flood(w io.Writer, chunk []byte) {
	for {
		if _, err := w.Write(chunk); err != nil {
			return
		}
	}
}

// httpServer serves h (after reading the request body, so a stalled
// handler's context ends when the client goes) and counts requests.
func httpServer(t *testing.T, hits *atomic.Int32, tlsOn bool, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		h(w, r)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // TLS handshake errors are the point
	if tlsOn {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv
}

// countingConn counts the bytes the client reads off the network.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// sseHead is a streamed response's head with chunked framing.
const sseHead = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"

func TestHostileEndpoints(t *testing.T) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heapBefore := ms.HeapAlloc
	before := runtime.NumGoroutine()

	// The server a redirect points to: it must never be asked anything.
	var otherHits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherHits.Add(1)
		sse(w, contentChunk, finishChunk, doneEvent)
	}))
	defer other.Close()

	type server func(t *testing.T, hits *atomic.Int32) string // returns the URL
	plain := func(h http.HandlerFunc) server {
		return func(t *testing.T, hits *atomic.Int32) string { return httpServer(t, hits, false, h).URL }
	}
	raw := func(scheme string, h func(c net.Conn, done <-chan struct{})) server {
		return func(t *testing.T, hits *atomic.Int32) string {
			s := startRaw(t, func(c net.Conn, done <-chan struct{}) { hits.Add(1); h(c, done) })
			return scheme + "://" + s.addr()
		}
	}
	refuse429 := func(retryAfter string) server {
		return plain(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", retryAfter)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, `{"error":{"message":"rate limited","type":"rate_limit_error"}}`)
		})
	}
	redirect := func(code int) server {
		return plain(func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, other.URL+r.URL.Path, code) })
	}
	invalidChunk := func(event string) server {
		return plain(func(w http.ResponseWriter, r *http.Request) {
			sse(w, roleChunk, contentChunk, event, finishChunk, doneEvent)
		})
	}
	const limit = 1 << 20 // max_response_bytes of the size cases

	tests := []struct {
		name   string
		server server
		ep     func(*Endpoint)
		ctx    func() (context.Context, context.CancelFunc)
		retry  *RetryPolicy // DoWithRetry with it; nil: Do
		want   Result
		status int
		errHas string
		within time.Duration // Do must return within this (default 5s)
		hits   int32         // requests (or connections) the server must see; 0: one
		// maxRead bounds the bytes the client reads off the network.
		maxRead int64
		retries int // Record.Retries
	}{
		// TLS: every handshake failure is a connection failure, reported
		// at once, not after the timeout.
		{
			name: "TLS: plain HTTP server on an https URL",
			server: raw("https", func(c net.Conn, _ <-chan struct{}) {
				_, _ = io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			}),
			want: ResultConnection, errHas: "HTTP response to HTTPS client", within: 2 * time.Second,
		},
		{
			name: "TLS: garbage instead of a handshake",
			server: raw("https", func(c net.Conn, _ <-chan struct{}) {
				junk := make([]byte, 4096)
				r := rand.New(rand.NewPCG(1, 2))
				for i := range junk {
					junk[i] = byte(r.Uint32())
				}
				junk[0] = 0x16 // a handshake record header, then nonsense
				junk[1], junk[2] = 3, 3
				_, _ = c.Write(junk)
			}),
			want: ResultConnection, errHas: "tls: ", within: 2 * time.Second,
		},
		{
			name: "TLS: untrusted certificate",
			server: func(t *testing.T, hits *atomic.Int32) string {
				return httpServer(t, hits, true, func(w http.ResponseWriter, r *http.Request) {
					sse(w, roleChunk, contentChunk, finishChunk, doneEvent)
				}).URL
			},
			want: ResultConnection, errHas: "certificate", within: 2 * time.Second,
			hits: -1, // refused by the client: the handler never runs
		},
		{
			name: "TLS: server closes during the handshake",
			server: raw("https", func(c net.Conn, _ <-chan struct{}) {
				buf := make([]byte, 16)
				_, _ = io.ReadFull(c, buf) // part of the ClientHello
			}),
			want: ResultConnection, within: 2 * time.Second,
		},
		{
			name: "TLS: handshake never answered: idle timeout",
			server: raw("https", func(c net.Conn, done <-chan struct{}) {
				<-done
			}),
			ep:   func(ep *Endpoint) { ep.IdleTimeout = 300 * time.Millisecond },
			want: ResultTimeout, errHas: "idle timeout", within: 2 * time.Second,
		},
		{
			// The control: the same TLS server is fine once trusted.
			name: "TLS: untrusted certificate with insecure_skip_verify succeeds",
			server: func(t *testing.T, hits *atomic.Int32) string {
				return httpServer(t, hits, true, func(w http.ResponseWriter, r *http.Request) {
					sse(w, roleChunk, contentChunk, finishChunk, doneEvent)
				}).URL
			},
			ep:   func(ep *Endpoint) { ep.InsecureSkipVerify = true },
			want: ResultSuccess, status: 200,
		},

		// Slowloris: bytes keep coming, but never a whole head. The idle
		// timer covers the wait for the head and is not re-armed by its
		// bytes; the request timeout bounds it in any case.
		{
			name: "slowloris headers: idle timeout",
			server: raw("http", func(c net.Conn, done <-chan struct{}) {
				readRequest(c)
				drip(c, done, 100*time.Millisecond, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n", "X-Pad: a\r\n")
			}),
			ep:   func(ep *Endpoint) { ep.IdleTimeout = 500 * time.Millisecond },
			want: ResultTimeout, errHas: "idle timeout", within: 2 * time.Second,
		},
		{
			name: "slowloris headers: request timeout",
			server: raw("http", func(c net.Conn, done <-chan struct{}) {
				readRequest(c)
				drip(c, done, 100*time.Millisecond, "HTTP/1.1 200 OK\r\n", "X-Pad: a\r\n")
			}),
			ep:   func(ep *Endpoint) { ep.Timeout = 800 * time.Millisecond },
			want: ResultTimeout, errHas: "timeout", within: 2 * time.Second,
		},
		{
			// Each byte re-arms the idle timer: only the request timeout
			// ends a body that drips forever.
			name: "slowloris body: request timeout",
			server: raw("http", func(c net.Conn, done <-chan struct{}) {
				readRequest(c)
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"+roleChunk+"data: ")
				drip(c, done, 50*time.Millisecond, "", "x")
			}),
			ep:   func(ep *Endpoint) { ep.Timeout = time.Second; ep.IdleTimeout = 300 * time.Millisecond },
			want: ResultTimeout, status: 200, errHas: "request timeout 1s exceeded", within: 3 * time.Second,
		},

		// "10 GB" bodies: servers that write as fast as they can, forever.
		{
			name: "10 GB body: endless stream of chunks",
			server: plain(func(w http.ResponseWriter, r *http.Request) {
				sse(w, roleChunk)
				flood(w, []byte(strings.Repeat(contentChunk, 64)))
			}),
			ep:   func(ep *Endpoint) { ep.MaxResponseBytes = limit },
			want: ResultProtocol, status: 200, errHas: "max_response_bytes", maxRead: limit + 128<<10,
		},
		{
			name: "10 GB body: Content-Length 10 GB, not streamed",
			server: raw("http", func(c net.Conn, _ <-chan struct{}) {
				readRequest(c)
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10737418240\r\n\r\n"+
					`{"choices":[{"message":{"content":"`)
				flood(c, []byte(strings.Repeat("x", 32<<10)))
			}),
			ep:   func(ep *Endpoint) { ep.MaxResponseBytes = limit; ep.Stream = false },
			want: ResultProtocol, status: 200, errHas: "max_response_bytes", maxRead: limit + 128<<10,
		},
		{
			name: "10 GB body: one endless event line",
			server: plain(func(w http.ResponseWriter, r *http.Request) {
				sse(w, roleChunk, "data: ")
				flood(w, []byte(strings.Repeat("x", 32<<10)))
			}),
			want: ResultProtocol, status: 200, errHas: "larger than limit", maxRead: maxEventBytes + 256<<10,
		},
		{
			name: "10 GB body: endless error body",
			server: plain(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusInternalServerError)
				flood(w, []byte(strings.Repeat("<p>Internal Server Error</p>", 1024)))
			}),
			want: ResultHTTP5xx, status: 500, errHas: "HTTP 500", maxRead: 256 << 10,
		},

		{
			// The head is bounded too (net/http's default is 10 MB).
			name: "10 GB head: one endless header",
			server: raw("http", func(c net.Conn, _ <-chan struct{}) {
				readRequest(c)
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nX-Pad: ")
				flood(c, []byte(strings.Repeat("a", 32<<10)))
			}),
			want: ResultConnection, errHas: "headers exceeded", maxRead: maxHeaderBytes + 64<<10,
		},
		{
			name: "10 GB head: endless 1xx responses",
			server: raw("http", func(c net.Conn, _ <-chan struct{}) {
				readRequest(c)
				flood(c, []byte(strings.Repeat("HTTP/1.1 102 Processing\r\n\r\n", 256)))
			}),
			want: ResultConnection, maxRead: maxHeaderBytes + 64<<10,
		},
		{
			// The client asks for no compression and never inflates a
			// body: a gzip bomb stays a small, unreadable body.
			name: "gzip body the client did not ask for",
			server: plain(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				w.Header().Set("Content-Encoding", "gzip")
				zw := gzip.NewWriter(w)
				_, _ = io.WriteString(zw, roleChunk+contentChunk+finishChunk+doneEvent)
				_ = zw.Close()
			}),
			want: ResultProtocol, status: 200,
		},

		// Broken chunks: invalid UTF-8 and invalid JSON are protocol
		// failures, even mid-stream after good output.
		{
			name:   "invalid UTF-8 in a content chunk",
			server: invalidChunk(chatChunk("\"content\":\"caf\xc3\x28 \xff\xfe\"", "")),
			want:   ResultProtocol, status: 200, errHas: "invalid UTF-8 in stream chunk 2",
		},
		{
			name:   "invalid UTF-8 in a JSON key",
			server: invalidChunk("data: {\"choices\":[{\"delta\":{\"content\":\"b\"},\"\xff\":1}]}\n\n"),
			want:   ResultProtocol, status: 200, errHas: "invalid UTF-8 in stream chunk 2",
		},
		{
			name: "invalid UTF-8 in a plain body",
			server: plain(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, "{\"choices\":[{\"message\":{\"content\":\"\xed\xa0\x80\"},\"finish_reason\":\"stop\"}]}")
			}),
			ep:   func(ep *Endpoint) { ep.Stream = false },
			want: ResultProtocol, status: 200, errHas: "invalid UTF-8",
		},
		{
			// The message is quoted in the error, which must stay valid
			// UTF-8 (logs, JSON archives).
			name: "invalid UTF-8 in an error message",
			server: plain(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, "{\"error\":{\"message\":\"bad \xff\xfe input\"}}")
			}),
			want: ResultHTTP4xx, status: 400, errHas: "bad \uFFFD",
		},
		{name: "invalid JSON: truncated object", server: invalidChunk("data: {\"choices\":[{\"delta\":{\"content\":\"b\"\n\n"),
			want: ResultProtocol, status: 200, errHas: "invalid JSON in stream chunk 2"},
		{name: "invalid JSON: NaN", server: invalidChunk("data: {\"choices\":[{\"delta\":{\"content\":NaN}}]}\n\n"),
			want: ResultProtocol, status: 200, errHas: "invalid JSON in stream chunk 2"},
		{name: "invalid JSON: a string instead of an object", server: invalidChunk("data: \"hello\"\n\n"),
			want: ResultProtocol, status: 200, errHas: "invalid JSON in stream chunk 2"},
		{name: "invalid JSON: choices not an array", server: invalidChunk("data: {\"choices\":{\"delta\":{}}}\n\n"),
			want: ResultProtocol, status: 200, errHas: "invalid JSON in stream chunk 2"},
		{name: "invalid JSON: single quotes", server: invalidChunk("data: {'choices':[]}\n\n"),
			want: ResultProtocol, status: 200, errHas: "invalid JSON in stream chunk 2"},
		{name: "invalid JSON: NUL bytes", server: invalidChunk("data: \x00\x00\x00\x00\n\n"),
			want: ResultProtocol, status: 200, errHas: "invalid JSON in stream chunk 2"},

		// Resets: an RST at every point of the exchange is a connection
		// failure.
		{
			name:   "reset on accept",
			server: raw("http", func(c net.Conn, _ <-chan struct{}) { reset(c) }),
			want:   ResultConnection, within: 2 * time.Second,
		},
		{
			name:   "reset after the request",
			server: raw("http", func(c net.Conn, _ <-chan struct{}) { readRequest(c); reset(c) }),
			want:   ResultConnection, errHas: "reset", within: 2 * time.Second,
		},
		{
			name: "reset mid-stream",
			server: raw("http", func(c net.Conn, _ <-chan struct{}) {
				readRequest(c)
				_, _ = io.WriteString(c, sseHead+chunked(roleChunk, contentChunk))
				time.Sleep(50 * time.Millisecond) // let the client read them
				reset(c)
			}),
			want: ResultConnection, status: 200, errHas: "reset", within: 2 * time.Second,
		},

		// 429 with Retry-After: retries are bounded, wait no longer than
		// the policy allows, and none at all without a policy (soaks).
		{
			name: "429 Retry-After: probe policy retries once", server: refuse429("1"),
			retry: &DefaultProbeRetry, want: ResultHTTP429, status: 429, errHas: "rate limited",
			hits: 2, retries: 1, within: 3 * time.Second,
		},
		{
			name: "429 Retry-After: no policy, no retry", server: refuse429("1"),
			retry: &RetryPolicy{}, want: ResultHTTP429, status: 429, errHas: "HTTP 429", within: 500 * time.Millisecond,
		},
		{
			name: "429 Retry-After longer than the policy waits", server: refuse429("3600"),
			retry: &DefaultProbeRetry, want: ResultHTTP429, status: 429, within: 500 * time.Millisecond,
		},
		{
			name: "429 Retry-After: the caller's deadline ends the wait", server: refuse429("5"),
			retry: &DefaultProbeRetry,
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 300*time.Millisecond)
			},
			want: ResultHTTP429, status: 429, within: time.Second,
		},

		// Redirects are reported, never followed: the API key would go along.
		{name: "301 to another host", server: redirect(301), want: ResultProtocol, status: 301, errHas: "HTTP 301"},
		{name: "308 to another host", server: redirect(308), want: ResultProtocol, status: 308, errHas: "HTTP 308"},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hits atomic.Int32
			url := tt.server(t, &hits)
			ep := Endpoint{Name: "t", URL: url, Model: "m", Stream: true, APIKey: testKey, Timeout: 10 * time.Second}
			if tt.ep != nil {
				tt.ep(&ep)
			}
			c := NewClient(ep)
			defer c.CloseIdle()
			var read atomic.Int64
			dial := c.pool.dial
			c.pool.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
				conn, err := dial(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return &countingConn{Conn: conn, n: &read}, nil
			}
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if tt.ctx != nil {
				ctx, cancel = tt.ctx()
			}
			defer cancel()
			within := tt.within
			if within == 0 {
				within = 5 * time.Second
			}

			start := time.Now()
			var rec *Record
			var earlier []*Record
			if tt.retry != nil {
				rec = c.DoWithRetry(ctx, Request{Prompt: "hi", MaxTokens: 6}, *tt.retry, func(r *Record) { earlier = append(earlier, r) })
			} else {
				rec = c.Do(ctx, Request{Prompt: "hi", MaxTokens: 6})
			}
			took := time.Since(start)

			if rec.Result != tt.want {
				t.Errorf("result %s (%q), want %s", rec.Result, rec.Error, tt.want)
			}
			if rec.HTTPStatus != tt.status {
				t.Errorf("HTTP status %d, want %d", rec.HTTPStatus, tt.status)
			}
			if tt.want != ResultSuccess && (rec.Error == "" || !strings.Contains(rec.Error, tt.errHas)) {
				t.Errorf("error %q, want it to contain %q", rec.Error, tt.errHas)
			}
			if !utf8.ValidString(rec.Error) {
				t.Errorf("error %q is not valid UTF-8", rec.Error)
			}
			if strings.Contains(rec.Error, testKey[8:]) {
				t.Errorf("error %q holds the API key", rec.Error)
			}
			if rec.Start.IsZero() || rec.End.Before(rec.Start) {
				t.Errorf("start %v end %v", rec.Start, rec.End)
			}
			if took > within {
				t.Errorf("took %v, want under %v", took, within)
			}
			if rec.Retries != tt.retries || len(earlier) != tt.retries {
				t.Errorf("%d retries, %d earlier attempts reported; want %d", rec.Retries, len(earlier), tt.retries)
			}
			switch want := tt.hits; {
			case want == 0 && hits.Load() != 1:
				t.Errorf("server saw %d requests, want 1", hits.Load())
			case want > 0 && hits.Load() != want:
				t.Errorf("server saw %d requests, want %d", hits.Load(), want)
			}
			if tt.maxRead > 0 && read.Load() > tt.maxRead {
				t.Errorf("client read %d bytes, want at most %d", read.Load(), tt.maxRead)
			}
			t.Logf("%s in %v after reading %d bytes: %s", rec.Result, took.Round(time.Millisecond), read.Load(), rec.Error)
		})
	}
	if n := otherHits.Load(); n != 0 {
		t.Errorf("a redirect was followed: the other host was hit %d times", n)
	}

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
	runtime.GC()
	runtime.ReadMemStats(&ms)
	t.Logf("heap %d KiB before, %d KiB after", heapBefore>>10, ms.HeapAlloc>>10)
	if ms.HeapAlloc > heapBefore+16<<20 {
		t.Errorf("heap %d KiB after the hostile servers, %d KiB before", ms.HeapAlloc>>10, heapBefore>>10)
	}
}
