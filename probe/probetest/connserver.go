// Package probetest has test servers that behave as real model servers and
// the proxies in front of them do at the connection level, for the tests of
// every package that sends requests.
package probetest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ConnServer is an HTTP/1.1 server written on a bare listener, so that a
// test decides exactly when each connection closes and what it says about
// it, as real servers and proxies do (net/http's server would be too polite).
type ConnServer struct {
	TTFT, ITL time.Duration
	Chunks    int
	// Header is added to every response (e.g. "Keep-Alive: timeout=1").
	Header string
	// After decides, after the n-th response of a connection, whether to
	// close it silently.
	After func(n int) (closeNow bool)
	// OnRequest decides, before answering the n-th request of a connection
	// (from 1) and the server's i-th request overall (from 1), whether to
	// drop the connection instead, after waiting DropAfter.
	OnRequest func(n, i int) (drop bool)
	DropAfter time.Duration
	// Idle closes a connection silent for longer than this.
	Idle time.Duration
	// RST closes with a reset instead of a FIN.
	RST bool

	Accepted atomic.Int32 // connections
	Requests atomic.Int32 // requests read

	wg sync.WaitGroup
}

// Start serves on a loopback port until the test ends and returns the
// server's base URL.
func (s *ConnServer) Start(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.Accepted.Add(1)
			s.wg.Add(1)
			go func() { defer s.wg.Done(); s.serve(c) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return "http://" + ln.Addr().String()
}
func (s *ConnServer) close(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok && s.RST {
		_ = tc.SetLinger(0)
	}
	c.Close()
}

func (s *ConnServer) serve(c net.Conn) {
	defer s.close(c)
	br := bufio.NewReader(c)
	for n := 1; ; n++ {
		if s.Idle > 0 {
			_ = c.SetReadDeadline(time.Now().Add(s.Idle))
		}
		req, err := http.ReadRequest(br)
		if err != nil {
			return // idle timeout, client gone: close without a word
		}
		_, _ = io.Copy(io.Discard, req.Body)
		_ = c.SetReadDeadline(time.Time{})
		i := int(s.Requests.Add(1))
		if s.OnRequest != nil && s.OnRequest(n, i) {
			time.Sleep(s.DropAfter)
			return
		}
		if !s.Respond(c) {
			return
		}
		if s.After != nil && s.After(n) {
			return
		}
	}
}

// Respond writes a chunked event stream: a role-only chunk at once, then
// s.Chunks content chunks, the first after ttft and the rest itl apart.
func (s *ConnServer) Respond(c net.Conn) bool {
	w := bufio.NewWriter(c)
	head := "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
	if s.Header != "" {
		head += s.Header + "\r\n"
	}
	fmt.Fprint(w, head+"\r\n")
	event := func(data string) bool {
		ev := "data: " + data + "\n\n"
		fmt.Fprintf(w, "%x\r\n%s\r\n", len(ev), ev)
		return w.Flush() == nil
	}
	if !event(`{"choices":[{"delta":{"role":"assistant"}}]}`) {
		return false
	}
	for k := range s.Chunks {
		if k == 0 {
			time.Sleep(s.TTFT)
		} else {
			time.Sleep(s.ITL)
		}
		if !event(`{"choices":[{"delta":{"content":"tok"}}]}`) {
			return false
		}
	}
	if !event(fmt.Sprintf(`{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":%d}}`, s.Chunks)) || !event("[DONE]") {
		return false
	}
	fmt.Fprint(w, "0\r\n\r\n")
	return w.Flush() == nil
}
