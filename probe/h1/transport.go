// Package h1 is a lean HTTP/1.1 client transport for what a prober sends
// most: small request bodies over plain HTTP whose responses are long,
// slowly streamed bodies. It is an http.RoundTripper, so net/http's Client,
// its redirect policy and httptrace work as before.
//
// What it saves over net/http's Transport is what a stream costs while it
// is in flight: no goroutines of its own per connection (net/http keeps a
// read and a write loop per connection, two stacks of 8 KiB or more), one
// buffer per connection, and a body that decodes the chunked framing in
// place, so that a read of the body is, when a chunk has arrived, one read
// system call and no further layers. Everything runs on the goroutine that
// called RoundTrip or reads the body. HTTPS, proxies and HTTP/2 stay with
// net/http: the caller chooses this transport only for plain http URLs it
// reaches directly.
package h1

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Transport sends requests over kept-alive HTTP/1.1 connections. It is safe
// for concurrent use.
type Transport struct {
	// Dial makes every connection (nil: a net.Dialer's, as net/http's
	// zero Transport dials).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// IdleConnTimeout closes a connection idle that long (0: never).
	IdleConnTimeout time.Duration
	// DisableKeepAlives sends "Connection: close" and closes every
	// connection after its response.
	DisableKeepAlives bool
	// MaxResponseHeaderBytes bounds a response's head (default 64 KiB).
	MaxResponseHeaderBytes int
	// ReadBufferSize is each connection's read buffer to begin with
	// (default 1 KiB); it grows for a longer head and shrinks back.
	ReadBufferSize int

	mu      sync.Mutex
	idle    map[string][]*conn // by host:port, most recently used last
	janitor *time.Timer
}

// Clone returns a transport with t's settings and no connections.
func (t *Transport) Clone() *Transport {
	return &Transport{
		Dial: t.Dial, IdleConnTimeout: t.IdleConnTimeout, DisableKeepAlives: t.DisableKeepAlives,
		MaxResponseHeaderBytes: t.MaxResponseHeaderBytes, ReadBufferSize: t.ReadBufferSize,
	}
}

const (
	defaultMaxHeaderBytes = 64 << 10
	defaultReadBuffer     = 1 << 10
	// max1xx bounds the informational responses skipped before the final
	// one, as net/http once did (Go 1.26's bounds them by its head limit).
	max1xx = 5
)

var defaultDialer = &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}

// ErrScheme is returned for a request this transport does not send.
var ErrScheme = errors.New("h1: only plain http URLs are sent by this transport")

// ErrHeaderTooLarge is returned when a response's head exceeds the limit.
type ErrHeaderTooLarge struct{ Limit int }

func (e ErrHeaderTooLarge) Error() string {
	return "h1: server response headers exceeded " + strconv.Itoa(e.Limit) + " bytes; aborted"
}

// ErrMalformed is a response that is not HTTP/1.x as RFC 9112 has it.
type ErrMalformed struct{ What string }

func (e ErrMalformed) Error() string { return "h1: malformed response: " + e.What }

// RoundTrip sends req and returns its response, whose body the caller must
// close; the connection goes back to the pool when the body was read to its
// end. A request canceled through its context closes its connection.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil || req.URL.Scheme != "http" || req.URL.Host == "" {
		closeBody(req)
		return nil, ErrScheme
	}
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		// Else an idle connection's write could beat the hook's close.
		closeBody(req)
		return nil, err
	}
	trace := httptrace.ContextClientTrace(ctx)
	addr := hostPort(req.URL.Host)
	if trace != nil && trace.GetConn != nil {
		trace.GetConn(addr)
	}
	head, err := t.encode(req)
	if err != nil {
		return nil, err
	}
	defer putBuf(head)
	c, reused, err := t.get(ctx, addr)
	if err != nil {
		return nil, err
	}
	if trace != nil && trace.GotConn != nil {
		trace.GotConn(httptrace.GotConnInfo{Conn: c.nc, Reused: reused, WasIdle: reused})
	}
	// Cancellation closes the connection, which ends a blocked read or
	// write at once; the caller sees the context's error.
	c.stop = context.AfterFunc(ctx, c.abort)
	if _, err := c.nc.Write(*head); err != nil {
		c.release(false)
		return nil, ctxErr(ctx, err)
	}
	if trace != nil && trace.WroteRequest != nil {
		trace.WroteRequest(httptrace.WroteRequestInfo{})
	}
	resp, err := c.readResponse(req, trace)
	if err != nil {
		c.release(false)
		return nil, ctxErr(ctx, err)
	}
	return resp, nil
}

// ctxErr prefers the context's error to the one a closed connection gave.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return err
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// hostPort adds HTTP's default port to a URL host that has none.
func hostPort(host string) string {
	if _, port, err := net.SplitHostPort(host); err == nil && port != "" {
		return host
	}
	if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
		return host + ":80"
	}
	return net.JoinHostPort(host, "80")
}

// get returns an idle connection to addr that is still open, or a new one.
func (t *Transport) get(ctx context.Context, addr string) (*conn, bool, error) {
	now := time.Now()
	for {
		c := t.takeIdle(addr)
		if c == nil {
			break
		}
		if (t.IdleConnTimeout > 0 && now.Sub(c.idleSince) >= t.IdleConnTimeout) || !c.alive() {
			c.nc.Close()
			continue
		}
		return c, true, nil
	}
	dial := t.Dial
	if dial == nil {
		dial = defaultDialer.DialContext
	}
	nc, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, false, err
	}
	size := t.ReadBufferSize
	if size <= 0 {
		size = defaultReadBuffer
	}
	return &conn{t: t, nc: nc, addr: addr, buf: make([]byte, size), bufSize: size}, false, nil
}

func (t *Transport) takeIdle(addr string) *conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	list := t.idle[addr]
	if len(list) == 0 {
		return nil
	}
	c := list[len(list)-1]
	list[len(list)-1] = nil
	t.idle[addr] = list[:len(list)-1]
	return c
}

// put keeps c for the next request to its address.
func (t *Transport) put(c *conn) {
	if t.DisableKeepAlives {
		c.nc.Close()
		return
	}
	c.idleSince = time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.idle == nil {
		t.idle = make(map[string][]*conn)
	}
	t.idle[c.addr] = append(t.idle[c.addr], c)
	if t.IdleConnTimeout > 0 && t.janitor == nil {
		t.janitor = time.AfterFunc(t.IdleConnTimeout, t.sweep)
	}
}

// sweep closes the connections idle for longer than the timeout (one timer
// for the pool, not one per connection), so that a connection the server
// will close is closed here first and no socket lingers half-closed.
func (t *Transport) sweep() {
	now := time.Now()
	var old []*conn
	t.mu.Lock()
	next := time.Duration(0)
	for addr, list := range t.idle {
		keep := list[:0]
		for _, c := range list {
			if left := t.IdleConnTimeout - now.Sub(c.idleSince); left <= 0 {
				old = append(old, c)
			} else {
				keep = append(keep, c)
				if next == 0 || left < next {
					next = left
				}
			}
		}
		clear(list[len(keep):])
		if len(keep) == 0 {
			delete(t.idle, addr)
		} else {
			t.idle[addr] = keep
		}
	}
	if next > 0 {
		t.janitor.Reset(next)
	} else {
		t.janitor = nil
	}
	t.mu.Unlock()
	for _, c := range old {
		c.nc.Close()
	}
}

// CloseIdleConnections closes every idle connection.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	if t.janitor != nil {
		t.janitor.Stop()
		t.janitor = nil
	}
	t.mu.Unlock()
	for _, list := range idle {
		for _, c := range list {
			c.nc.Close()
		}
	}
}

// alive reports whether an idle connection is still open: a server that
// closed it (its keep-alive timeout, a restart) has sent a FIN, which a
// peek that does not block sees as the end; bytes nobody asked for make the
// connection unusable too. A connection that is not a socket is trusted.
func (c *conn) alive() bool {
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	ok = true
	var b [1]byte
	_ = rc.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		ok = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
		return true // never wait
	})
	return ok
}
