package h1_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/probe/h1"
)

// The servers here are raw: they read a request as bytes and write a
// response as bytes, in the pieces a test gives, so that the framing
// arrives split where a real server's or proxy's writes would split it,
// or coalesced into one write.

// server is a raw TCP server on the loopback; every connection it accepts
// runs handle on its own goroutine.
type server struct {
	url     string
	addr    string
	accepts atomic.Int32

	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newServer(t testing.TB, handle func(c net.Conn, br *bufio.Reader)) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{ln: ln, addr: ln.Addr().String(), url: "http://" + ln.Addr().String()}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepts.Add(1)
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				handle(c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// readRequest reads one request, head and Content-Length body, as the
// bytes that came.
func readRequest(br *bufio.Reader) (string, error) {
	var b strings.Builder
	var n int64
	for {
		l, err := br.ReadString('\n')
		b.WriteString(l)
		if err != nil {
			return b.String(), err
		}
		if l == "\r\n" || l == "\n" {
			break
		}
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, "Content-Length") {
			n, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	body := make([]byte, n)
	_, err := io.ReadFull(br, body)
	b.Write(body)
	return b.String(), err
}

// play writes each piece as one write, pausing between them so that the
// client's reads see them apart.
func play(c net.Conn, pause time.Duration, pieces ...string) error {
	for i, p := range pieces {
		if i > 0 && pause > 0 {
			time.Sleep(pause)
		}
		if _, err := io.WriteString(c, p); err != nil {
			return err
		}
	}
	return nil
}

// scripted is a handler that reads a request, writes the pieces, and
// closes the connection.
func scripted(pause time.Duration, pieces ...string) func(net.Conn, *bufio.Reader) {
	return func(c net.Conn, br *bufio.Reader) {
		if _, err := readRequest(br); err != nil {
			return
		}
		play(c, pause, pieces...)
	}
}

// waitEOF reads from c until the peer closes it (true) or the bound passes
// (false). It is how a server sees that the client closed a connection.
func waitEOF(c net.Conn, br *bufio.Reader, bound time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(bound))
	_, err := io.Copy(io.Discard, br)
	return err == nil || isReset(err)
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// pipeDial returns a Dial whose every connection is one end of a
// net.Pipe. At the other end a server reads the request and writes the
// pieces, each as one Write, then closes. A pipe hands each Write to the
// reader apart (a Read never joins two), so the framing is split exactly
// where the pieces split it, without sleeps.
func pipeDial(pieces ...string) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		cli, srv := net.Pipe()
		go func() {
			defer srv.Close()
			br := bufio.NewReader(srv)
			if _, err := readRequest(br); err != nil {
				return
			}
			go io.Copy(io.Discard, br) // whatever else the client writes
			for _, p := range pieces {
				if _, err := io.WriteString(srv, p); err != nil {
					return
				}
			}
		}()
		return cli, nil
	}
}

func newH1() *h1.Transport {
	return &h1.Transport{Dial: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}
}

// result is what a client made of a response: its RoundTrip's error, or
// its response and body and the error reading the body.
type result struct {
	resp    *http.Response
	body    []byte
	rtErr   error
	bodyErr error
}

func (r result) err() error {
	if r.rtErr != nil {
		return r.rtErr
	}
	return r.bodyErr
}

// fetch sends one request through rt and reads the whole body.
func fetch(ctx context.Context, rt http.RoundTripper, method, url string) result {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return result{rtErr: err}
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return result{rtErr: err}
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return result{resp: resp, body: body, bodyErr: err}
}

// get sends a GET through rt, bounded so that a test never hangs.
func get(t testing.TB, rt http.RoundTripper, url string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := fetch(ctx, rt, http.MethodGet, url)
	if ctx.Err() != nil {
		t.Fatalf("GET %s: no answer in 10 s", url)
	}
	return r
}

// connTrace records what httptrace was told of each request.
type connTrace struct {
	mu        sync.Mutex
	getConn   []string
	reused    []bool
	conns     []net.Conn
	firstByte int
	wrote     int
}

func (ct *connTrace) ctx(parent context.Context) context.Context {
	return httptrace.WithClientTrace(parent, &httptrace.ClientTrace{
		GetConn: func(hp string) { ct.mu.Lock(); ct.getConn = append(ct.getConn, hp); ct.mu.Unlock() },
		GotConn: func(i httptrace.GotConnInfo) {
			ct.mu.Lock()
			ct.reused = append(ct.reused, i.Reused)
			ct.conns = append(ct.conns, i.Conn)
			ct.mu.Unlock()
		},
		GotFirstResponseByte: func() { ct.mu.Lock(); ct.firstByte++; ct.mu.Unlock() },
		WroteRequest:         func(httptrace.WroteRequestInfo) { ct.mu.Lock(); ct.wrote++; ct.mu.Unlock() },
	})
}

// getTraced is get with a trace.
func getTraced(t testing.TB, rt http.RoundTripper, url string, ct *connTrace) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := fetch(ct.ctx(ctx), rt, http.MethodGet, url)
	if ctx.Err() != nil {
		t.Fatalf("GET %s: no answer in 10 s", url)
	}
	return r
}

// eventually retries cond for up to bound.
func eventually(bound time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(bound)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}
