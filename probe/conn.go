package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/llmprobe/llmprobe/probe/h1"
)

// Keep-alive connections and the servers that close them.
//
// A model server closes idle keep-alive connections on its own schedule
// (llama.cpp's llama-server after 5 s, saying "Keep-Alive: timeout=5,
// max=100"; proxies after their own timeouts), often without a word. A
// request written onto such a connection fails at once with EOF or a reset,
// before any byte of a response: the server never saw it. Reported as a
// connection failure, a healthy server would look 25 % failing under load.
// So the client (1) closes idle connections before the server does, when the
// server says when that is, and (2) sends a request again, once, on a fresh
// connection when a reused one failed before any response byte. net/http's
// transport retries only idempotent requests that way, and not countably;
// we do it ourselves so each retry is counted (Record.ConnRetries) and the
// record's timing starts at the attempt that got through.

const defaultIdleConnTimeout = 90 * time.Second

// pool holds the client's transports: the keep-alive one, swapped for one
// with a shorter idle timeout when a server asks for it, and a lazily built
// one without keep-alives for retries.
//
// A target reached over plain HTTP without a proxy gets package h1's
// transport, which keeps no goroutines per connection and decodes a
// chunked stream in place (at 1000 streams, 16 KiB of stacks and a layer of
// readers per stream less than net/http's); HTTPS, proxies and HTTP/2 stay
// with net/http's.
type pool struct {
	ep   Endpoint
	lean bool // h1's transport, not net/http's
	// dial makes every connection of every transport (tests wrap it).
	dial func(ctx context.Context, network, addr string) (net.Conn, error)

	cur atomic.Pointer[http.Client]

	mu      sync.Mutex
	retired []transport // replaced transports: their busy connections finish there
	fresh   *http.Client
}

// transport is what the pool needs of either transport.
type transport interface {
	http.RoundTripper
	CloseIdleConnections()
}

func newPool(ep Endpoint) *pool {
	p := &pool{ep: ep, lean: leanTarget(ep.URL, http.ProxyFromEnvironment), dial: (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext}
	p.cur.Store(p.client(p.newTransport(defaultIdleConnTimeout)))
	return p
}

// leanTarget reports whether h1's transport can reach a target: plain
// HTTP, and no proxy for it (proxy is the environment's, as net/http's
// transport reads it).
func leanTarget(raw string, proxy func(*http.Request) (*url.URL, error)) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return false
	}
	via, err := proxy(&http.Request{URL: u})
	return err == nil && via == nil
}

func (p *pool) newTransport(idle time.Duration) transport {
	ep := p.ep
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		return p.dial(ctx, network, addr)
	}
	if p.lean {
		return &h1.Transport{
			Dial:                   dial,
			IdleConnTimeout:        idle,
			MaxResponseHeaderBytes: maxHeaderBytes,
			ReadBufferSize:         1 << 10,
		}
	}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dial,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: ep.Timeout,
		MaxIdleConns:          0,
		MaxIdleConnsPerHost:   4096, // a soak reuses its streams' connections
		IdleConnTimeout:       idle,
		// Compression makes servers and proxies buffer a stream; we want
		// every chunk the moment it is sent.
		DisableCompression: true,
		// Request bodies are small and written once; a 1 KiB write buffer
		// instead of 4 KiB saves 3 KiB per connection at 1000 streams.
		WriteBufferSize: 1 << 10,
		// A response's head is a few hundred bytes and each read of a
		// stream brings a chunk or a few: 1 KiB instead of 4 KiB saves 3
		// KiB per connection (a longer header line is still read whole).
		ReadBufferSize:         1 << 10,
		MaxResponseHeaderBytes: maxHeaderBytes,
		TLSClientConfig:        &tls.Config{InsecureSkipVerify: ep.InsecureSkipVerify}, //nolint:gosec // opt-in per target
	}
}

// idleTimeout is a transport's idle connection timeout.
func idleTimeout(rt http.RoundTripper) time.Duration {
	switch tr := rt.(type) {
	case *h1.Transport:
		return tr.IdleConnTimeout
	case *http.Transport:
		return tr.IdleConnTimeout
	}
	return 0
}

// withIdleTimeout returns a copy of tr, without its connections, that
// closes idle ones after idle.
func withIdleTimeout(tr transport, idle time.Duration) transport {
	switch tr := tr.(type) {
	case *h1.Transport:
		c := tr.Clone()
		c.IdleConnTimeout = idle
		return c
	case *http.Transport:
		c := tr.Clone()
		c.IdleConnTimeout = idle
		return c
	}
	return tr
}

func (p *pool) client(tr transport) *http.Client {
	return &http.Client{
		Transport: tr,
		// A redirect to another host could carry the API key away; it is
		// reported, not followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// freshClient returns the client used for retries: no keep-alive, so each
// retry dials a new connection, and no pooled connection can fail it again.
func (p *pool) freshClient() *http.Client {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fresh == nil {
		tr := p.newTransport(defaultIdleConnTimeout)
		switch tr := tr.(type) {
		case *h1.Transport:
			tr.DisableKeepAlives = true
		case *http.Transport:
			tr.DisableKeepAlives = true
		}
		p.fresh = p.client(tr)
	}
	return p.fresh
}

// closeIdle closes every idle connection of every transport.
func (p *pool) closeIdle() {
	p.cur.Load().CloseIdleConnections()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, tr := range p.retired {
		tr.CloseIdleConnections()
	}
	if p.fresh != nil {
		p.fresh.CloseIdleConnections()
	}
}

// minIdleConnTimeout bounds how short a server's hint can make our idle
// timeout (and, as hints only ever shorten it, how many swaps a hostile
// server can cause).
const minIdleConnTimeout = 500 * time.Millisecond

// honourKeepAlive reads a response's "Keep-Alive: timeout=N" and, when the
// server closes idle connections sooner than we would, moves the client to
// a transport that closes them a little before the server does (a quarter
// of the timeout, at most a second, earlier). "Connection: close" needs
// nothing here: net/http does not reuse such a connection.
func (p *pool) honourKeepAlive(h http.Header) {
	v := h.Get("Keep-Alive")
	if v == "" {
		return
	}
	t, ok := keepAliveTimeout(v)
	if !ok {
		return
	}
	idle := max(t-min(time.Second, t/4), minIdleConnTimeout)
	if idle >= idleTimeout(p.cur.Load().Transport) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.cur.Load().Transport.(transport)
	if idle >= idleTimeout(old) {
		return // another response got here first
	}
	p.cur.Store(p.client(withIdleTimeout(old, idle)))
	old.CloseIdleConnections()
	p.retired = append(p.retired, old)
}

// keepAliveTimeout parses the timeout parameter of a Keep-Alive header
// ("timeout=5, max=100"), in whole seconds as RFC 2068 has it.
func keepAliveTimeout(v string) (time.Duration, bool) {
	for part := range strings.SplitSeq(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "timeout") {
			continue
		}
		n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(val), `"`))
		if err != nil || n <= 0 {
			return 0, false
		}
		return time.Duration(min(n, 86400)) * time.Second, true
	}
	return 0, false
}

// connTrace follows one attempt through the transport: whether the
// connection it got was reused, whether any response byte came back, and
// when the transport began looking for a connection (it may try more than
// once on its own, for a request nothing of which was written).
type connTrace struct {
	now       func() time.Time
	start     time.Time // set in GetConn, on the caller's goroutine
	attempts  int
	reused    atomic.Bool
	firstByte atomic.Bool // set on the transport's read goroutine
}

func (t *connTrace) hooks() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GetConn: func(string) {
			t.attempts++
			t.start = t.now()
		},
		GotConn:              func(i httptrace.GotConnInfo) { t.reused.Store(i.Reused) },
		GotFirstResponseByte: func() { t.firstByte.Store(true) },
	}
}

// staleConn reports whether a failed attempt is the keep-alive race: the
// connection was reused, nothing of a response came back, and neither a
// deadline nor the caller ended it.
func (t *connTrace) staleConn(ctx context.Context, err error) bool {
	if !t.reused.Load() || t.firstByte.Load() || ctx.Err() != nil {
		return false
	}
	var nerr net.Error
	if errors.As(err, &nerr) && nerr.Timeout() {
		return false
	}
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}
