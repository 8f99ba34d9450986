package probe

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/probe/probetest"
)

// TestKeepAliveClosingServers: servers that close keep-alive connections on
// their own schedule, silently, must never make a request fail or skew its
// timing, at 1, 4 and 64 users.
func TestKeepAliveClosingServers(t *testing.T) {
	const ttft, itl, chunks = 20 * time.Millisecond, 2 * time.Millisecond, 4
	tests := []struct {
		name  string
		setup func(s *probetest.ConnServer)
		think time.Duration // pause between a user's requests
		// retries: whether connection retries must have happened.
		retries bool
		// maxTTFT bounds every TTFT (default ttft+150ms).
		maxTTFT time.Duration
	}{
		{name: "closes after every response, unannounced", setup: func(s *probetest.ConnServer) {
			s.After = func(int) bool { return true }
		}},
		{name: "closes after every response with a reset", setup: func(s *probetest.ConnServer) {
			s.After = func(int) bool { return true }
			s.RST = true
		}},
		{name: "closes after 3 responses", setup: func(s *probetest.ConnServer) {
			s.After = func(n int) bool { return n >= 3 }
		}},
		{name: "closes idle connections after 30ms", setup: func(s *probetest.ConnServer) {
			s.Idle = 30 * time.Millisecond
		}, think: 30 * time.Millisecond},
		{name: "closes idle connections after 1s, says so", setup: func(s *probetest.ConnServer) {
			s.Idle = time.Second
			s.Header = "Keep-Alive: timeout=1, max=100"
		}, think: 10 * time.Millisecond},
		// The second request on each connection is read, held 300ms and
		// dropped: the retry's TTFT must not include those 300ms.
		{name: "drops reused connections after reading the request", setup: func(s *probetest.ConnServer) {
			s.OnRequest = func(n, _ int) bool { return n > 1 }
			s.DropAfter = 300 * time.Millisecond
		}, retries: true, maxTTFT: ttft + 200*time.Millisecond},
	}
	for _, tt := range tests {
		for _, users := range []int{1, 4, 64} {
			t.Run(fmt.Sprintf("%s/%d users", tt.name, users), func(t *testing.T) {
				s := &probetest.ConnServer{TTFT: ttft, ITL: itl, Chunks: chunks}
				tt.setup(s)
				c := NewClient(Endpoint{Name: "t", URL: s.Start(t), Model: "m", Stream: true, Timeout: 10 * time.Second})
				defer c.CloseIdle()
				const perUser = 4
				recs := make(chan *Record, users*perUser)
				var wg sync.WaitGroup
				for range users {
					wg.Go(func() {
						for k := range perUser {
							if k > 0 {
								time.Sleep(tt.think)
							}
							recs <- c.Do(context.Background(), Request{Prompt: "hi", MaxTokens: chunks})
						}
					})
				}
				wg.Wait()
				close(recs)
				maxTTFT := tt.maxTTFT
				if maxTTFT == 0 {
					maxTTFT = ttft + 150*time.Millisecond
				}
				retries := 0
				for rec := range recs {
					retries += rec.ConnRetries
					if !rec.Success() {
						t.Errorf("request failed: %s: %s (retries %d)", rec.Result, rec.Error, rec.ConnRetries)
						continue
					}
					d, _ := rec.TTFT()
					if d < ttft || d > maxTTFT {
						t.Errorf("TTFT %v, want within [%v, %v] (retries %d)", d, ttft, maxTTFT, rec.ConnRetries)
					}
					if rec.OutputTokens != chunks {
						t.Errorf("output tokens %d, want %d", rec.OutputTokens, chunks)
					}
				}
				if tt.retries && retries == 0 {
					t.Error("no connection retries counted, but every reused connection was dropped")
				}
			})
		}
	}
}

// TestConnRetryBounded: a retry goes out once, on a fresh connection, and a
// failure there is a real failure.
func TestConnRetryBounded(t *testing.T) {
	t.Run("fresh connection failing is a failure, never retried", func(t *testing.T) {
		s := &probetest.ConnServer{Chunks: 1}
		s.OnRequest = func(int, int) bool { return true }
		c := NewClient(Endpoint{Name: "t", URL: s.Start(t), Model: "m", Stream: true, Timeout: 5 * time.Second})
		defer c.CloseIdle()
		rec := c.Do(context.Background(), Request{Prompt: "hi"})
		if rec.Result != ResultConnection || rec.ConnRetries != 0 {
			t.Errorf("result %s (%s), %d retries; want connection, 0 retries", rec.Result, rec.Error, rec.ConnRetries)
		}
		if got := s.Requests.Load(); got != 1 {
			t.Errorf("server saw %d requests, want 1", got)
		}
	})
	t.Run("reused then fresh failing: one retry, then a failure", func(t *testing.T) {
		s := &probetest.ConnServer{Chunks: 1}
		s.OnRequest = func(_, i int) bool { return i > 1 } // only the first request is answered
		c := NewClient(Endpoint{Name: "t", URL: s.Start(t), Model: "m", Stream: true, Timeout: 5 * time.Second})
		defer c.CloseIdle()
		if rec := c.Do(context.Background(), Request{Prompt: "hi"}); !rec.Success() {
			t.Fatalf("first request: %s %s", rec.Result, rec.Error)
		}
		rec := c.Do(context.Background(), Request{Prompt: "hi"})
		if rec.Result != ResultConnection || rec.ConnRetries != 1 {
			t.Errorf("result %s (%s), %d retries; want connection, 1 retry", rec.Result, rec.Error, rec.ConnRetries)
		}
		if got := s.Requests.Load(); got != 3 {
			t.Errorf("server saw %d requests, want 3 (answered, dropped, retry dropped)", got)
		}
	})
	t.Run("a response begun and then cut is not retried", func(t *testing.T) {
		s := &probetest.ConnServer{Chunks: 1}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		var n atomic.Int32
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					br := bufio.NewReader(c)
					for {
						req, err := http.ReadRequest(br)
						if err != nil {
							return
						}
						_, _ = io.Copy(io.Discard, req.Body)
						if n.Add(1) == 1 {
							s.Respond(c)
							continue
						}
						fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Type: text/eve") // then gone
						return
					}
				}()
			}
		}()
		c := NewClient(Endpoint{Name: "t", URL: "http://" + ln.Addr().String(), Model: "m", Stream: true, Timeout: 5 * time.Second})
		defer c.CloseIdle()
		if rec := c.Do(context.Background(), Request{Prompt: "hi"}); !rec.Success() {
			t.Fatalf("first request: %s %s", rec.Result, rec.Error)
		}
		rec := c.Do(context.Background(), Request{Prompt: "hi"})
		if rec.Success() || rec.ConnRetries != 0 {
			t.Errorf("result %s, %d retries; want a failure without retry", rec.Result, rec.ConnRetries)
		}
	})
}

// TestKeepAliveHints: "Connection: close" is never reused, and a server's
// "Keep-Alive: timeout=N" makes the client close idle connections first.
func TestKeepAliveHints(t *testing.T) {
	t.Run("Connection: close on a socket the server keeps open", func(t *testing.T) {
		s := &probetest.ConnServer{Chunks: 1, Header: "Connection: close"}
		c := NewClient(Endpoint{Name: "t", URL: s.Start(t), Model: "m", Stream: true, Timeout: 5 * time.Second})
		defer c.CloseIdle()
		for range 3 {
			if rec := c.Do(context.Background(), Request{Prompt: "hi"}); !rec.Success() || rec.ConnRetries != 0 {
				t.Fatalf("%s %s, %d retries", rec.Result, rec.Error, rec.ConnRetries)
			}
		}
		if got := s.Accepted.Load(); got != 3 {
			t.Errorf("%d connections for 3 requests, want 3", got)
		}
	})
	t.Run("Keep-Alive timeout closes idle connections before the server", func(t *testing.T) {
		// The server would keep the connection 5s; it says 1s. After 850ms
		// idle (past our 750ms, short of its 1s) the client dials anew.
		s := &probetest.ConnServer{Chunks: 1, Idle: 5 * time.Second, Header: "Keep-Alive: timeout=1, max=100"}
		c := NewClient(Endpoint{Name: "t", URL: s.Start(t), Model: "m", Stream: true, Timeout: 5 * time.Second})
		defer c.CloseIdle()
		for range 2 {
			if rec := c.Do(context.Background(), Request{Prompt: "hi"}); !rec.Success() {
				t.Fatalf("%s %s", rec.Result, rec.Error)
			}
			time.Sleep(850 * time.Millisecond)
		}
		if got := s.Accepted.Load(); got != 2 {
			t.Errorf("%d connections, want 2: the idle one should have been closed at 750ms", got)
		}
	})
	t.Run("without a hint the connection is kept", func(t *testing.T) {
		s := &probetest.ConnServer{Chunks: 1, Idle: 5 * time.Second}
		c := NewClient(Endpoint{Name: "t", URL: s.Start(t), Model: "m", Stream: true, Timeout: 5 * time.Second})
		defer c.CloseIdle()
		for range 2 {
			if rec := c.Do(context.Background(), Request{Prompt: "hi"}); !rec.Success() {
				t.Fatalf("%s %s", rec.Result, rec.Error)
			}
			time.Sleep(850 * time.Millisecond)
		}
		if got := s.Accepted.Load(); got != 1 {
			t.Errorf("%d connections, want 1", got)
		}
	})
}

func TestKeepAliveTimeout(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"timeout=5, max=100", 5 * time.Second, true},
		{"max=100, timeout=5", 5 * time.Second, true},
		{"Timeout = 2", 2 * time.Second, true},
		{`timeout="3"`, 3 * time.Second, true},
		{"timeout=0", 0, false},
		{"timeout=-1", 0, false},
		{"timeout=abc", 0, false},
		{"timeout=1.5", 0, false},
		{"max=100", 0, false},
		{"", 0, false},
		{"timeout=99999999", 86400 * time.Second, true},
	}
	for _, tt := range tests {
		got, ok := keepAliveTimeout(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("keepAliveTimeout(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	// The idle timeout a hint leads to: a quarter earlier, at most 1s, at
	// least minIdleConnTimeout.
	for _, tt := range []struct {
		hint string
		want time.Duration
	}{
		{"timeout=1", 750 * time.Millisecond},
		{"timeout=2", 1500 * time.Millisecond},
		{"timeout=5", 4 * time.Second},
		{"timeout=60", 59 * time.Second},
		{"timeout=600", defaultIdleConnTimeout}, // longer than ours: ours stays
	} {
		p := newPool(Endpoint{})
		p.honourKeepAlive(http.Header{"Keep-Alive": {tt.hint}})
		if got := idleTimeout(p.cur.Load().Transport); got != tt.want {
			t.Errorf("%s: idle timeout %v, want %v", tt.hint, got, tt.want)
		}
	}
	// Hints only ever shorten it, so a server cannot make us swap
	// transports back and forth.
	p := newPool(Endpoint{})
	for _, h := range []string{"timeout=5", "timeout=60", "timeout=5"} {
		p.honourKeepAlive(http.Header{"Keep-Alive": {h}})
	}
	if got := idleTimeout(p.cur.Load().Transport); got != 4*time.Second || len(p.retired) != 1 {
		t.Errorf("after 5, 60, 5: idle timeout %v with %d swaps, want 4s and 1", got, len(p.retired))
	}
}

// BenchmarkRequest is one short streamed request over a kept-alive loopback
// connection: the per-request cost of the client (the connection trace and
// retry bookkeeping included), apart from per-chunk parsing.
func BenchmarkRequest(b *testing.B) {
	body := "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n" +
		strings.Repeat("data: {\"choices\":[{\"delta\":{\"content\":\"tok\"}}]}\n\n", 4) +
		"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n\ndata: [DONE]\n\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, body)
	}))
	defer srv.Close()
	c := NewClient(Endpoint{Name: "t", URL: srv.URL, Model: "m", Stream: true})
	defer c.CloseIdle()
	b.ReportAllocs()
	for b.Loop() {
		if rec := c.Do(context.Background(), Request{Prompt: "hi", MaxTokens: 4}); !rec.Success() {
			b.Fatal(rec.Error)
		}
	}
}
