package h1_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/probe/h1"
)

// prompt bounds how long a canceled request may take to come back: it
// is generous, for loaded machines; it only has to be far from forever.
const prompt = 2 * time.Second

// stalling is a server that answers /ok at once and, to any other path,
// writes the path's partial response (if any) and then says nothing until
// the client closes the connection, which it reports on closed.
func stalling(t *testing.T, partial map[string]string) (*server, <-chan struct{}) {
	closed := make(chan struct{}, 16)
	s := newServer(t, func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := readRequest(br)
			if err != nil {
				return
			}
			path := strings.Fields(req)[1]
			if path == "/ok" {
				if _, err := io.WriteString(c, final); err != nil {
					return
				}
				continue
			}
			io.WriteString(c, partial[path])
			if waitEOF(c, br, 5*time.Second) {
				closed <- struct{}{}
			}
			return
		}
	})
	return s, closed
}

func expectClosed(t *testing.T, closed <-chan struct{}) {
	t.Helper()
	select {
	case <-closed:
	case <-time.After(prompt):
		t.Error("the server did not see the connection closed")
	}
}

// TestCancelWaitingForHeaders: a request canceled, or past its deadline,
// while the server is silent comes back at once with the context's error,
// and its connection is closed, not pooled.
func TestCancelWaitingForHeaders(t *testing.T) {
	t.Parallel()
	for name, mk := range map[string]func() (context.Context, context.CancelFunc, error){
		"canceled": func() (context.Context, context.CancelFunc, error) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(30*time.Millisecond, cancel)
			return ctx, cancel, context.Canceled
		},
		"deadline": func() (context.Context, context.CancelFunc, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
			return ctx, cancel, context.DeadlineExceeded
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, closed := stalling(t, nil)
			tr := newH1()
			defer tr.CloseIdleConnections()
			// The first request leaves a connection idle: the stalled
			// one goes over it.
			var ct connTrace
			if r := getTraced(t, tr, s.url+"/ok", &ct); r.err() != nil {
				t.Fatal(r.err())
			}
			ctx, cancel, want := mk()
			defer cancel()
			start := time.Now()
			r := fetch(ct.ctx(ctx), tr, http.MethodGet, s.url+"/stall")
			if d := time.Since(start); d > prompt {
				t.Errorf("came back after %v", d)
			}
			if !errors.Is(r.rtErr, want) {
				t.Errorf("RoundTrip: %v, want %v", r.rtErr, want)
			}
			expectClosed(t, closed)
			if r := getTraced(t, tr, s.url+"/ok", &ct); r.err() != nil {
				t.Fatal(r.err())
			}
			if got := s.accepts.Load(); got != 2 {
				t.Errorf("%d connections, want 2", got)
			}
			if got := fmtBools(ct.reused); got != "[false true false]" {
				t.Errorf("GotConn Reused %s", got)
			}
		})
	}
}

func fmtBools(bs []bool) string {
	var b strings.Builder
	b.WriteString("[")
	for i, v := range bs {
		if i > 0 {
			b.WriteString(" ")
		}
		if v {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	}
	b.WriteString("]")
	return b.String()
}

// TestCancelSilentBody: a request canceled while its body is silent ends
// the body's read at once with the context's error, as net/http's does,
// and its connection is closed.
func TestCancelSilentBody(t *testing.T) {
	t.Parallel()
	partial := map[string]string{
		"/length":  ok200 + "Content-Length: 100\r\n\r\nfirst",
		"/chunked": chunked + "5\r\nfirst\r\n",
		"/close":   ok200 + "\r\nfirst",
		"/sized":   chunked + "64\r\nfirst",
	}
	for path := range partial {
		t.Run(path[1:], func(t *testing.T) {
			t.Parallel()
			s, closed := stalling(t, partial)
			tr := newH1()
			defer tr.CloseIdleConnections()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url+path, nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b := make([]byte, 64)
			if n, err := resp.Body.Read(b); err != nil || string(b[:n]) != "first" {
				t.Fatalf("first read: %q %v", b[:n], err)
			}
			time.AfterFunc(30*time.Millisecond, cancel)
			start := time.Now()
			n, err := resp.Body.Read(b)
			if d := time.Since(start); d > prompt {
				t.Errorf("came back after %v", d)
			}
			if n != 0 || !errors.Is(err, context.Canceled) {
				t.Errorf("read after cancel: %d %v, want context.Canceled", n, err)
			}
			if _, err := resp.Body.Read(b); err == nil {
				t.Error("a read after the error has none")
			}
			expectClosed(t, closed)
			if r := get(t, tr, s.url+"/ok"); r.err() != nil {
				t.Fatal(r.err())
			}
			if got := s.accepts.Load(); got != 2 {
				t.Errorf("%d connections, want 2", got)
			}
		})
	}
}

// TestCanceledBefore: a request whose context is done before it is sent
// is not sent, even over an idle connection.
func TestCanceledBefore(t *testing.T) {
	t.Parallel()
	s, reqs := recorder(t)
	tr := newH1()
	defer tr.CloseIdleConnections()
	if r := get(t, tr, s.url+"/"); r.err() != nil {
		t.Fatal(r.err())
	}
	<-reqs
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 20 {
		if r := fetch(ctx, tr, http.MethodGet, s.url+"/"); !errors.Is(r.rtErr, context.Canceled) {
			t.Fatalf("RoundTrip: %v, want context.Canceled", r.err())
		}
	}
	select {
	case req := <-reqs:
		t.Errorf("a canceled request was sent: %q", req)
	case <-time.After(20 * time.Millisecond):
	}
}

// TestCancelAfterBody: canceling after the body was read does not touch
// the connection, which went back to the pool.
func TestCancelAfterBody(t *testing.T) {
	t.Parallel()
	s, _ := recorder(t)
	tr := newH1()
	defer tr.CloseIdleConnections()
	for range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		r := fetch(ctx, tr, http.MethodGet, s.url+"/")
		cancel()
		if r.err() != nil {
			t.Fatal(r.err())
		}
	}
	time.Sleep(10 * time.Millisecond)
	if r := get(t, tr, s.url+"/"); r.err() != nil {
		t.Fatal(r.err())
	}
	if got := s.accepts.Load(); got != 1 {
		t.Errorf("%d connections, want 1", got)
	}
}

// TestTrace: the hooks are called, with the connection and whether it
// was reused.
func TestTrace(t *testing.T) {
	t.Parallel()
	s, _ := recorder(t)
	tr := newH1()
	defer tr.CloseIdleConnections()
	var ct connTrace
	for range 2 {
		if r := getTraced(t, tr, s.url+"/", &ct); r.err() != nil {
			t.Fatal(r.err())
		}
	}
	if len(ct.getConn) != 2 || ct.getConn[0] != s.addr || ct.getConn[1] != s.addr {
		t.Errorf("GetConn %q, want %s twice", ct.getConn, s.addr)
	}
	if got := fmtBools(ct.reused); got != "[false true]" {
		t.Errorf("GotConn Reused %s", got)
	}
	if len(ct.conns) != 2 || ct.conns[0] == nil || ct.conns[0] != ct.conns[1] {
		t.Errorf("GotConn Conn %v", ct.conns)
	} else if ct.conns[0].RemoteAddr().String() != s.addr {
		t.Errorf("GotConn Conn to %v", ct.conns[0].RemoteAddr())
	}
	if ct.firstByte != 2 || ct.wrote != 2 {
		t.Errorf("GotFirstResponseByte %d times, WroteRequest %d times; want 2", ct.firstByte, ct.wrote)
	}
}

// TestTraceOneFirstByte: informational responses do not make more than
// one first byte.
func TestTraceOneFirstByte(t *testing.T) {
	t.Parallel()
	tr := newH1()
	tr.Dial = pipeDial(info, earlyHints, final)
	var ct connTrace
	if r := getTraced(t, tr, "http://pipe.test/", &ct); r.err() != nil {
		t.Fatal(r.err())
	}
	if ct.firstByte != 1 {
		t.Errorf("GotFirstResponseByte %d times", ct.firstByte)
	}
}

// TestDialAddress: a URL without a port is dialed at 80, the port in the
// URL otherwise; GetConn is told the same.
func TestDialAddress(t *testing.T) {
	t.Parallel()
	for url, want := range map[string]string{
		"http://api.example/":      "api.example:80",
		"http://api.example:8080/": "api.example:8080",
		"http://[::1]/":            "[::1]:80",
		"http://[::1]:81/":         "[::1]:81",
		"http://api.example:/":     "api.example:80",
	} {
		var dialed string
		tr := &h1.Transport{Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dialed = addr
			return pipeDial(final)(ctx, network, addr)
		}}
		var ct connTrace
		if r := getTraced(t, tr, url, &ct); r.err() != nil {
			t.Fatalf("%s: %v", url, r.err())
		}
		if dialed != want || len(ct.getConn) != 1 || ct.getConn[0] != want {
			t.Errorf("%s: dialed %q, GetConn %q; want %q", url, dialed, ct.getConn, want)
		}
	}
}

// TestDialError: the dialer's error is RoundTrip's.
func TestDialError(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	tr := &h1.Transport{Dial: func(context.Context, string, string) (net.Conn, error) { return nil, boom }}
	if r := get(t, tr, "http://api.example/"); !errors.Is(r.rtErr, boom) {
		t.Errorf("%v, want the dialer's error", r.rtErr)
	}
}

// TestNoGoroutineLeak: after requests of every kind, canceled ones among
// them, and CloseIdleConnections, no goroutine is left. Not parallel: it
// counts the process's goroutines.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("requests", func(t *testing.T) { // its servers close at its end
		s, _ := stalling(t, map[string]string{"/body": chunked + "5\r\nfirst\r\n"})
		tr := newH1()
		tr.IdleConnTimeout = 20 * time.Millisecond
		for range 5 {
			if r := get(t, tr, s.url+"/ok"); r.err() != nil {
				t.Fatal(r.err())
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		fetch(ctx, tr, http.MethodGet, s.url+"/stall")
		cancel()
		ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
		fetch(ctx, tr, http.MethodGet, s.url+"/body")
		cancel()
		for _, pieces := range [][]string{{final}, {chunked, "5\r\nhel"}, {ok200 + "\r\nuntil close"}} {
			p := newH1()
			p.Dial = pipeDial(pieces...)
			get(t, p, "http://pipe.test/")
			p.CloseIdleConnections()
		}
		time.Sleep(50 * time.Millisecond) // the janitor's round
		tr.CloseIdleConnections()
	})
	if !eventually(3*time.Second, func() bool { return runtime.NumGoroutine() <= before }) {
		buf := make([]byte, 1<<16)
		n := runtime.Stack(buf, true)
		t.Errorf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:n])
	}
}
