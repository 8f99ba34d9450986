package h1_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/probe/h1"
)

// recorder is a server that keeps every request's bytes and answers each
// with a two-byte body.
func recorder(t *testing.T) (*server, <-chan string) {
	reqs := make(chan string, 16)
	s := newServer(t, func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := readRequest(br)
			if err != nil {
				return
			}
			reqs <- req
			if _, err := io.WriteString(c, final); err != nil {
				return
			}
		}
	})
	return s, reqs
}

func newRequest(t *testing.T, method, url, body string) *http.Request {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func roundTrip(t *testing.T, tr http.RoundTripper, req *http.Request) {
	t.Helper()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(resp.Body); err != nil || string(b) != "ok" {
		t.Fatalf("%q %v", b, err)
	}
	resp.Body.Close()
}

// TestRequestBytes: the exact bytes a server receives.
func TestRequestBytes(t *testing.T) {
	t.Parallel()
	s, reqs := recorder(t)
	host := s.addr
	cases := []struct {
		name string
		req  func() *http.Request
		want string
	}{
		{"GET", func() *http.Request { return newRequest(t, "GET", s.url+"/v1/models", "") },
			"GET /v1/models HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: Go-http-client/1.1\r\n\r\n"},
		{"no path", func() *http.Request { return newRequest(t, "GET", s.url, "") },
			"GET / HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: Go-http-client/1.1\r\n\r\n"},
		{"query and escapes", func() *http.Request { return newRequest(t, "GET", s.url+"/a%20b/c?x=1&y=%2F", "") },
			"GET /a%20b/c?x=1&y=%2F HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: Go-http-client/1.1\r\n\r\n"},
		{"POST with a body and a header", func() *http.Request {
			req := newRequest(t, "POST", s.url+"/v1/chat/completions", `{"a":1}`)
			req.Header.Set("Authorization", "Bearer k")
			return req
		}, "POST /v1/chat/completions HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: Go-http-client/1.1\r\nAuthorization: Bearer k\r\nContent-Length: 7\r\n\r\n{\"a\":1}"},
		{"POST without a body", func() *http.Request { return newRequest(t, "POST", s.url+"/p", "") },
			"POST /p HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: 0\r\n\r\n"},
		{"a body of unknown length", func() *http.Request {
			req := newRequest(t, "PUT", s.url+"/p", "")
			req.Body = io.NopCloser(io.MultiReader(strings.NewReader("ab"), strings.NewReader("cd")))
			return req
		}, "PUT /p HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: 4\r\n\r\nabcd"},
		{"own User-Agent and Host", func() *http.Request {
			req := newRequest(t, "GET", s.url+"/", "")
			req.Header.Set("User-Agent", "llmprobe/1")
			req.Host = "api.example:8080"
			return req
		}, "GET / HTTP/1.1\r\nHost: api.example:8080\r\nUser-Agent: llmprobe/1\r\n\r\n"},
		{"fields that are the transport's", func() *http.Request {
			req := newRequest(t, "POST", s.url+"/", "xy")
			req.Header.Set("Host", "evil.example")
			req.Header.Set("Content-Length", "99")
			req.Header.Set("Transfer-Encoding", "chunked")
			req.Header.Set("Trailer", "X")
			return req
		}, "POST / HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: 2\r\n\r\nxy"},
		{"values of one name", func() *http.Request {
			req := newRequest(t, "GET", s.url+"/", "")
			req.Header["X-Multi"] = []string{"a", "b"}
			return req
		}, "GET / HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: Go-http-client/1.1\r\nX-Multi: a\r\nX-Multi: b\r\n\r\n"},
		{"req.Close", func() *http.Request {
			req := newRequest(t, "GET", s.url+"/", "")
			req.Close = true
			return req
		}, "GET / HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: Go-http-client/1.1\r\nConnection: close\r\n\r\n"},
		{"Connection: close as a field", func() *http.Request {
			req := newRequest(t, "GET", s.url+"/", "")
			req.Header.Set("Connection", "close")
			return req
		}, "GET / HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: Go-http-client/1.1\r\nConnection: close\r\n\r\n"},
	}
	for _, tc := range cases {
		tr := newH1()
		roundTrip(t, tr, tc.req())
		tr.CloseIdleConnections()
		if got := <-reqs; got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

// TestRequestNetHTTP: net/http's Transport sends the same head for the
// same request, field order aside (it sorts them; a map's order here).
func TestRequestNetHTTP(t *testing.T) {
	t.Parallel()
	s, reqs := recorder(t)
	mk := func() *http.Request {
		req := newRequest(t, "POST", s.url+"/v1/x?y=1", "body")
		req.Header.Set("Authorization", "Bearer k")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "text/event-stream")
		return req
	}
	ht := &http.Transport{DisableCompression: true}
	defer ht.CloseIdleConnections()
	roundTrip(t, ht, mk())
	want := <-reqs
	tr := newH1()
	defer tr.CloseIdleConnections()
	roundTrip(t, tr, mk())
	got := <-reqs
	if sortedLines(got) != sortedLines(want) {
		t.Errorf("h1:\n%q\nnet/http:\n%q", got, want)
	}
}

func sortedLines(s string) string {
	head, body, _ := strings.Cut(s, "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	first, fields := lines[0], lines[1:]
	for i := range fields {
		for j := i + 1; j < len(fields); j++ {
			if fields[j] < fields[i] {
				fields[i], fields[j] = fields[j], fields[i]
			}
		}
	}
	return first + "\n" + strings.Join(fields, "\n") + "\n\n" + body
}

// TestRequestRefused: what would inject lines, or is no token, is refused
// before anything is dialed or sent.
func TestRequestRefused(t *testing.T) {
	t.Parallel()
	s, _ := recorder(t)
	cases := map[string]func(*http.Request){
		"CRLF in a value":     func(r *http.Request) { r.Header["X-A"] = []string{"v\r\nX-Injected: 1"} },
		"LF in a value":       func(r *http.Request) { r.Header["X-A"] = []string{"v\nX-Injected: 1"} },
		"CR in a value":       func(r *http.Request) { r.Header["X-A"] = []string{"v\rX"} },
		"NUL in a value":      func(r *http.Request) { r.Header["X-A"] = []string{"v\x00"} },
		"CRLF in a name":      func(r *http.Request) { r.Header["X-A\r\nX-Injected"] = []string{"1"} },
		"space in a name":     func(r *http.Request) { r.Header["X A"] = []string{"1"} },
		"colon in a name":     func(r *http.Request) { r.Header["X:A"] = []string{"1"} },
		"empty name":          func(r *http.Request) { r.Header[""] = []string{"1"} },
		"CRLF in the Host":    func(r *http.Request) { r.Host = "a.example\r\nX-Injected: 1" },
		"space in the method": func(r *http.Request) { r.Method = "GE T" },
		"CRLF in the method":  func(r *http.Request) { r.Method = "GET\r\n" },
		"CRLF in the User-Agent": func(r *http.Request) {
			r.Header["User-Agent"] = []string{"x\r\nX-Injected: 1"}
		},
	}
	tr := newH1()
	defer tr.CloseIdleConnections()
	for name, spoil := range cases {
		body := &closeCounter{Reader: strings.NewReader("abc")}
		req := newRequest(t, "POST", s.url+"/", "")
		req.Body = body
		spoil(req)
		resp, err := tr.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: no error", name)
		}
		if body.closed == 0 {
			t.Errorf("%s: the request's body was not closed", name)
		}
	}
	time.Sleep(10 * time.Millisecond)
	if got := s.accepts.Load(); got != 0 {
		t.Errorf("%d connections made for requests refused", got)
	}
}

type closeCounter struct {
	io.Reader
	closed int
}

func (c *closeCounter) Close() error { c.closed++; return nil }

// TestRequestSchemes: only plain http is this transport's.
func TestRequestSchemes(t *testing.T) {
	t.Parallel()
	tr := newH1()
	for _, raw := range []string{"https://example.com/", "ftp://example.com/", "http:///nohost"} {
		u, _ := url.Parse(raw)
		body := &closeCounter{Reader: strings.NewReader("x")}
		req := &http.Request{Method: "POST", URL: u, Header: http.Header{}, Body: body}
		if _, err := tr.RoundTrip(req); !errors.Is(err, h1.ErrScheme) {
			t.Errorf("%s: %v, want ErrScheme", raw, err)
		}
		if body.closed == 0 {
			t.Errorf("%s: the request's body was not closed", raw)
		}
	}
}

// TestRequestBodyLength: a body that is not the length it declares is an
// error, as net/http has it.
func TestRequestBodyLength(t *testing.T) {
	t.Parallel()
	s, _ := recorder(t)
	tr := newH1()
	defer tr.CloseIdleConnections()
	req := newRequest(t, "POST", s.url+"/", "abc")
	req.ContentLength = 10
	if resp, err := tr.RoundTrip(req); err == nil {
		resp.Body.Close()
		t.Error("no error for a body shorter than its ContentLength")
	}
}

// TestRequestBodyError: a body whose read fails fails the request.
func TestRequestBodyError(t *testing.T) {
	t.Parallel()
	s, _ := recorder(t)
	tr := newH1()
	defer tr.CloseIdleConnections()
	boom := errors.New("boom")
	req := newRequest(t, "POST", s.url+"/", "")
	req.Body = io.NopCloser(io.MultiReader(strings.NewReader("ab"), errReader{boom}))
	if _, err := tr.RoundTrip(req); !errors.Is(err, boom) {
		t.Errorf("%v, want the body's error", err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// TestRequestClose: a request that asks to close is not followed by a
// reuse, whether by req.Close or by its own Connection field.
func TestRequestClose(t *testing.T) {
	t.Parallel()
	for name, spoil := range map[string]func(*http.Request){
		"req.Close":         func(r *http.Request) { r.Close = true },
		"Connection: close": func(r *http.Request) { r.Header.Set("Connection", "close") },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			closed := make(chan struct{}, 2)
			s := newServer(t, keepServing(final, false, closed))
			tr := newH1()
			defer tr.CloseIdleConnections()
			for range 2 {
				req := newRequest(t, "GET", s.url+"/", "")
				spoil(req)
				roundTrip(t, tr, req)
			}
			if got := s.accepts.Load(); got != 2 {
				t.Errorf("%d connections, want 2", got)
			}
			select {
			case <-closed:
			case <-time.After(2 * time.Second):
				t.Error("the connection was kept")
			}
		})
	}
}
