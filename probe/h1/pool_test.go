package h1_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/probe/h1"
)

// keepServing is a handler that answers every request on a connection with
// resp (closing after it when closeAfter) and, when the client closes the
// connection, says so on closed.
func keepServing(resp string, closeAfter bool, closed chan<- struct{}) func(net.Conn, *bufio.Reader) {
	return func(c net.Conn, br *bufio.Reader) {
		for {
			if _, err := readRequest(br); err != nil {
				if closed != nil && (err == io.EOF || isReset(err)) {
					closed <- struct{}{}
				}
				return
			}
			if _, err := io.WriteString(c, resp); err != nil || closeAfter {
				return
			}
		}
	}
}

// TestReuse sends two requests one after the other and checks whether the
// second went over the first's connection, by the server's count of
// connections and by httptrace. Where the connection must not be reused,
// the server keeps it open all the same (a server may close it a while
// later), so that only the client's decision keeps the count at two.
func TestReuse(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		method     string
		resp       string
		closeAfter bool // the server closes (a body up to the close)
		disable    bool // DisableKeepAlives
		reused     bool
		stale      bool // not reused for bytes after the end, though resp.Close is false
	}{
		{name: "length", resp: ok200 + "Content-Length: 2\r\n\r\nok", reused: true},
		{name: "length zero", resp: ok200 + "Content-Length: 0\r\n\r\n", reused: true},
		{name: "chunked with trailers", resp: chunked + "2\r\nok\r\n0\r\nX-T: 1\r\n\r\n", reused: true},
		{name: "204", resp: "HTTP/1.1 204 No Content\r\n\r\n", reused: true},
		{name: "304", resp: "HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n", reused: true},
		{name: "HEAD with a length", method: http.MethodHead, resp: ok200 + "Content-Length: 100\r\n\r\n", reused: true},
		{name: "1xx then a length", resp: info + earlyHints + final, reused: true},
		{name: "HTTP/1.0 keep-alive", resp: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", reused: true},
		{name: "HTTP/1.0", resp: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"},
		{name: "HTTP/1.0 keep-alive chunked", resp: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"},
		{name: "Connection: close", resp: ok200 + "Connection: close\r\nContent-Length: 2\r\n\r\nok"},
		{name: "Connection: Close among others", resp: ok200 + "Connection: foo, Close\r\nContent-Length: 2\r\n\r\nok"},
		{name: "chunked with a length", resp: ok200 + "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"},
		{name: "bytes after the end", resp: ok200 + "Content-Length: 2\r\n\r\nokXX", stale: true},
		{name: "bytes after the last chunk", resp: chunked + "2\r\nok\r\n0\r\n\r\nXX", stale: true},
		{name: "bytes after a 204", resp: "HTTP/1.1 204 No Content\r\n\r\nXX", stale: true},
		{name: "up to the close", resp: ok200 + "\r\nok", closeAfter: true},
		{name: "DisableKeepAlives", resp: ok200 + "Content-Length: 2\r\n\r\nok", disable: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			closed := make(chan struct{}, 2)
			s := newServer(t, keepServing(tc.resp, tc.closeAfter, closed))
			tr := newH1()
			tr.DisableKeepAlives = tc.disable
			defer tr.CloseIdleConnections()
			var ct connTrace
			for i := range 2 {
				ctx := ct.ctx(t.Context())
				method := tc.method
				if method == "" {
					method = http.MethodGet
				}
				r := fetch(ctx, tr, method, s.url+"/")
				if r.err() != nil {
					t.Fatalf("request %d: %v", i, r.err())
				}
				if r.resp.Close != (!tc.reused && !tc.stale) {
					t.Errorf("request %d: resp.Close %v", i, r.resp.Close)
				}
			}
			want, wantReused := int32(2), []bool{false, false}
			if tc.reused {
				want, wantReused = 1, []bool{false, true}
			}
			if got := s.accepts.Load(); got != want {
				t.Errorf("%d connections, want %d", got, want)
			}
			if fmt.Sprint(ct.reused) != fmt.Sprint(wantReused) {
				t.Errorf("GotConn Reused %v, want %v", ct.reused, wantReused)
			}
			if !tc.reused && !tc.closeAfter {
				// The client closed the connection it would not reuse.
				select {
				case <-closed:
				case <-time.After(2 * time.Second):
					t.Error("the first connection was not closed by the client")
				}
			}
		})
	}
}

// TestServerClosedIdle: a connection the server closed while it was idle
// (its keep-alive timeout) is seen dead by the peek and not used; the
// request goes over a fresh connection without an error.
func TestServerClosedIdle(t *testing.T) {
	t.Parallel()
	done := make(chan struct{}, 4)
	s := newServer(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := readRequest(br); err != nil {
			return
		}
		io.WriteString(c, final)
		c.Close()
		done <- struct{}{}
	})
	tr := newH1()
	defer tr.CloseIdleConnections()
	var ct connTrace
	for i := range 3 {
		if r := getTraced(t, tr, s.url, &ct); r.err() != nil || string(r.body) != "ok" {
			t.Fatalf("request %d: %v %q", i, r.err(), r.body)
		}
		<-done
		time.Sleep(10 * time.Millisecond) // the FIN is there
	}
	if got := s.accepts.Load(); got != 3 {
		t.Errorf("%d connections, want 3", got)
	}
	if fmt.Sprint(ct.reused) != "[false false false]" {
		t.Errorf("GotConn Reused %v", ct.reused)
	}
}

// TestUnsolicitedIdle: bytes that arrive on an idle connection are no
// response to the next request; the peek sees them and the connection is
// not used.
func TestUnsolicitedIdle(t *testing.T) {
	t.Parallel()
	sent := make(chan struct{}, 4)
	closed := make(chan struct{}, 4)
	s := newServer(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := readRequest(br); err != nil {
			return
		}
		io.WriteString(c, final)
		time.Sleep(20 * time.Millisecond)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale")
		sent <- struct{}{}
		if waitEOF(c, br, 2*time.Second) {
			closed <- struct{}{}
		}
	})
	tr := newH1()
	defer tr.CloseIdleConnections()
	for i := range 2 {
		if r := get(t, tr, s.url); r.err() != nil || string(r.body) != "ok" {
			t.Fatalf("request %d: %v %q", i, r.err(), r.body)
		}
		<-sent
		time.Sleep(10 * time.Millisecond)
	}
	if got := s.accepts.Load(); got != 2 {
		t.Errorf("%d connections, want 2", got)
	}
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
		t.Error("the connection with stale bytes was not closed")
	}
}

// TestIdleConnTimeout: the janitor closes a connection idle for the
// timeout (the server sees the close), and the next request dials anew.
func TestIdleConnTimeout(t *testing.T) {
	t.Parallel()
	closed := make(chan struct{}, 4)
	s := newServer(t, keepServing(final, false, closed))
	tr := newH1()
	tr.IdleConnTimeout = 50 * time.Millisecond
	defer tr.CloseIdleConnections()
	var ct connTrace
	if r := getTraced(t, tr, s.url, &ct); r.err() != nil {
		t.Fatal(r.err())
	}
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
		t.Fatal("the idle connection was not closed after IdleConnTimeout")
	}
	if r := getTraced(t, tr, s.url, &ct); r.err() != nil {
		t.Fatal(r.err())
	}
	if got := s.accepts.Load(); got != 2 {
		t.Errorf("%d connections, want 2", got)
	}
	if fmt.Sprint(ct.reused) != "[false false]" {
		t.Errorf("GotConn Reused %v", ct.reused)
	}
}

// TestIdleConnTimeoutReused: within the timeout the connection is reused.
func TestIdleConnTimeoutReused(t *testing.T) {
	t.Parallel()
	s := newServer(t, keepServing(final, false, nil))
	tr := newH1()
	tr.IdleConnTimeout = time.Minute
	defer tr.CloseIdleConnections()
	for range 3 {
		if r := get(t, tr, s.url); r.err() != nil {
			t.Fatal(r.err())
		}
	}
	if got := s.accepts.Load(); got != 1 {
		t.Errorf("%d connections, want 1", got)
	}
}

// TestJanitorReschedules: two connections that went idle at different
// times are both closed, the later by the janitor's second round.
func TestJanitorReschedules(t *testing.T) {
	t.Parallel()
	closed := make(chan struct{}, 4)
	s1 := newServer(t, keepServing(final, false, closed))
	s2 := newServer(t, keepServing(final, false, closed))
	tr := newH1()
	tr.IdleConnTimeout = 80 * time.Millisecond
	defer tr.CloseIdleConnections()
	if r := get(t, tr, s1.url); r.err() != nil {
		t.Fatal(r.err())
	}
	time.Sleep(40 * time.Millisecond)
	if r := get(t, tr, s2.url); r.err() != nil {
		t.Fatal(r.err())
	}
	for i := range 2 {
		select {
		case <-closed:
		case <-time.After(3 * time.Second):
			t.Fatalf("%d of 2 idle connections closed", i)
		}
	}
}

// TestCloseIdleConnections closes what is idle: the server sees it.
func TestCloseIdleConnections(t *testing.T) {
	t.Parallel()
	closed := make(chan struct{}, 4)
	s := newServer(t, keepServing(final, false, closed))
	tr := newH1()
	tr.IdleConnTimeout = time.Minute
	if r := get(t, tr, s.url); r.err() != nil {
		t.Fatal(r.err())
	}
	tr.CloseIdleConnections()
	select {
	case <-closed:
	case <-time.After(2 * time.Second):
		t.Fatal("CloseIdleConnections left the connection open")
	}
	if r := get(t, tr, s.url); r.err() != nil {
		t.Fatal(r.err())
	}
	if got := s.accepts.Load(); got != 2 {
		t.Errorf("%d connections, want 2", got)
	}
	tr.CloseIdleConnections()
}

// TestDisableKeepAlives says "Connection: close" and closes.
func TestDisableKeepAlives(t *testing.T) {
	t.Parallel()
	reqs := make(chan string, 4)
	closed := make(chan struct{}, 4)
	s := newServer(t, func(c net.Conn, br *bufio.Reader) {
		req, err := readRequest(br)
		if err != nil {
			return
		}
		reqs <- req
		io.WriteString(c, final)
		if waitEOF(c, br, 2*time.Second) {
			closed <- struct{}{}
		}
	})
	tr := newH1()
	tr.DisableKeepAlives = true
	if r := get(t, tr, s.url); r.err() != nil {
		t.Fatal(r.err())
	}
	if req := <-reqs; !strings.Contains(req, "\r\nConnection: close\r\n") {
		t.Errorf("request without Connection: close:\n%s", req)
	}
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
		t.Fatal("the connection was kept")
	}
}

// TestBodyClosedEarly: a body closed before its end closes its
// connection, since the rest would be read as the next response.
func TestBodyClosedEarly(t *testing.T) {
	t.Parallel()
	for name, resp := range map[string]string{
		"length":  ok200 + "Content-Length: 100\r\n\r\n0123456789",
		"chunked": chunked + "a\r\n0123456789\r\n",
		"close":   ok200 + "\r\n0123456789",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			closed := make(chan struct{}, 4)
			s := newServer(t, func(c net.Conn, br *bufio.Reader) {
				if _, err := readRequest(br); err != nil {
					return
				}
				io.WriteString(c, resp)
				if waitEOF(c, br, 3*time.Second) {
					closed <- struct{}{}
				}
			})
			tr := newH1()
			defer tr.CloseIdleConnections()
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.url, nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			b := make([]byte, 5)
			if _, err := io.ReadFull(resp.Body, b); err != nil || string(b) != "01234" {
				t.Fatalf("read %q %v", b, err)
			}
			resp.Body.Close()
			if n, err := resp.Body.Read(b); n != 0 || err == nil {
				t.Errorf("read after Close: %d %v", n, err)
			}
			select {
			case <-closed:
			case <-time.After(3 * time.Second):
				t.Fatal("the connection stayed open")
			}
		})
	}
}

// TestBodyCloseTwice and after its end: nothing happens.
func TestBodyCloseAfterEnd(t *testing.T) {
	t.Parallel()
	s := newServer(t, keepServing(final, false, nil))
	tr := newH1()
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.url, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(resp.Body); err != nil || string(b) != "ok" {
		t.Fatalf("%q %v", b, err)
	}
	resp.Body.Close()
	resp.Body.Close()
	if r := get(t, tr, s.url); r.err() != nil {
		t.Fatal(r.err())
	}
	if got := s.accepts.Load(); got != 1 {
		t.Errorf("%d connections, want 1", got)
	}
}

// TestConcurrent sends from many goroutines over one transport; every
// body is whole and no more connections are made than requests in flight.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := readRequest(br)
			if err != nil {
				return
			}
			path := strings.Fields(req)[1]
			if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(path), path); err != nil {
				return
			}
		}
	})
	tr := newH1()
	tr.IdleConnTimeout = time.Minute
	defer tr.CloseIdleConnections()
	const workers, each = 8, 25
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				path := fmt.Sprintf("/w%d/r%d", w, i)
				r := get(t, tr, s.url+path)
				if r.err() != nil || string(r.body) != path {
					t.Errorf("%s: %v %q", path, r.err(), r.body)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := s.accepts.Load(); got > workers {
		t.Errorf("%d connections for %d workers", got, workers)
	}
}

// TestChunksByteByByteTCP streams a chunked body a byte a write over TCP,
// with small sleeps, as a slow proxy would.
func TestChunksByteByByteTCP(t *testing.T) {
	t.Parallel()
	resp := chunked + "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n"
	pieces := make([]string, len(resp))
	for i := range resp {
		pieces[i] = resp[i : i+1]
	}
	s := newServer(t, func(c net.Conn, br *bufio.Reader) {
		for {
			if _, err := readRequest(br); err != nil {
				return
			}
			if play(c, 200*time.Microsecond, pieces...) != nil {
				return
			}
		}
	})
	tr := newH1()
	defer tr.CloseIdleConnections()
	for range 2 {
		if r := get(t, tr, s.url); r.err() != nil || string(r.body) != "hello world" {
			t.Fatalf("%v %q", r.err(), r.body)
		}
	}
	if got := s.accepts.Load(); got != 1 {
		t.Errorf("%d connections, want 1", got)
	}
}

// TestZeroTransport works with no Dial set, as net/http's does.
func TestZeroTransport(t *testing.T) {
	t.Parallel()
	s := newServer(t, keepServing(final, false, nil))
	tr := &h1.Transport{}
	defer tr.CloseIdleConnections()
	if r := get(t, tr, s.url); r.err() != nil || string(r.body) != "ok" {
		t.Fatalf("%v %q", r.err(), r.body)
	}
}

// TestClone copies the settings, not the connections.
func TestClone(t *testing.T) {
	t.Parallel()
	s := newServer(t, keepServing(final, false, nil))
	tr := newH1()
	tr.IdleConnTimeout = time.Minute
	tr.MaxResponseHeaderBytes = 123
	tr.ReadBufferSize = 7
	tr.DisableKeepAlives = false
	if r := get(t, tr, s.url); r.err() != nil {
		t.Fatal(r.err())
	}
	c := tr.Clone()
	defer tr.CloseIdleConnections()
	defer c.CloseIdleConnections()
	if c.IdleConnTimeout != time.Minute || c.MaxResponseHeaderBytes != 123 || c.ReadBufferSize != 7 || c.Dial == nil {
		t.Errorf("clone %+v", c)
	}
	if r := get(t, c, s.url); r.err() != nil {
		t.Fatal(r.err())
	}
	if got := s.accepts.Load(); got != 2 {
		t.Errorf("%d connections, want 2 (the clone has its own)", got)
	}
}
