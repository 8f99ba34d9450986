package h1

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"time"
)

// conn is one connection: its socket and its read buffer, buf[r:w] unread.
type conn struct {
	t         *Transport
	nc        net.Conn
	addr      string
	buf       []byte
	r, w      int
	bufSize   int // the buffer's size to shrink back to
	idleSince time.Time
	stop      func() bool // stops the cancellation hook; false if it ran
}

// abort is the cancellation hook: it ends any read or write in progress.
func (c *conn) abort() { c.nc.Close() }

// release ends c's use by a request: back to the pool when the response
// was read whole and the connection may be reused, else closed.
func (c *conn) release(reuse bool) {
	stopped := c.stop == nil || c.stop()
	c.stop = nil
	if !reuse || !stopped || c.r != c.w {
		// Bytes after a response's end are no response to any request.
		c.nc.Close()
		return
	}
	c.r, c.w = 0, 0
	if len(c.buf) > c.bufSize {
		c.buf = make([]byte, c.bufSize)
	}
	c.t.put(c)
}

// fill reads more into the buffer, compacting it first, and growing it up
// to limit bytes when it is full. One read: what has arrived.
func (c *conn) fill(limit int) error {
	if c.r == c.w {
		c.r, c.w = 0, 0
	} else if c.w == len(c.buf) && c.r > 0 {
		c.w = copy(c.buf, c.buf[c.r:c.w])
		c.r = 0
	}
	if c.w == len(c.buf) {
		if len(c.buf) >= limit {
			return errFull
		}
		nb := make([]byte, min(2*len(c.buf), limit))
		copy(nb, c.buf[:c.w])
		c.buf = nb
	}
	for range 100 { // a Read may return 0, nil; never spin forever
		n, err := c.nc.Read(c.buf[c.w:])
		c.w += n
		if n > 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

var errFull = errors.New("h1: buffer full")

// line returns the next line in the buffer without its LF (or CRLF), and
// false when no whole line is buffered yet.
func (c *conn) line() ([]byte, bool) {
	i := bytes.IndexByte(c.buf[c.r:c.w], '\n')
	if i < 0 {
		return nil, false
	}
	l := c.buf[c.r : c.r+i]
	c.r += i + 1
	if n := len(l); n > 0 && l[n-1] == '\r' {
		l = l[:n-1]
	}
	return l, true
}

// readResponse reads the response to req: its head, skipping up to five
// informational responses, and a body framed as RFC 9112 §6.3 says.
func (c *conn) readResponse(req *http.Request, trace *httptrace.ClientTrace) (*http.Response, error) {
	limit := c.t.MaxResponseHeaderBytes
	if limit <= 0 {
		limit = defaultMaxHeaderBytes
	}
	first := true
	for n1xx := 0; ; n1xx++ {
		resp, err := c.readHead(req, limit, trace, &first)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			if n1xx >= max1xx {
				return nil, ErrMalformed{"too many 1xx informational responses"}
			}
			continue
		}
		if err := c.frame(req, resp); err != nil {
			return nil, err
		}
		return resp, nil
	}
}

// readHead reads one response head (status line and fields).
func (c *conn) readHead(req *http.Request, limit int, trace *httptrace.ClientTrace, first *bool) (*http.Response, error) {
	// Find the blank line that ends the head, scanning each byte once.
	scanned := 0
	end := -1
	for {
		if i := headEnd(c.buf[c.r+scanned : c.w]); i >= 0 {
			end = c.r + scanned + i
			break
		}
		scanned = max(c.w-c.r-3, 0) // the end may straddle reads
		if c.w-c.r > limit {
			return nil, ErrHeaderTooLarge{limit}
		}
		if err := c.fill(limit + 4); err != nil {
			if errors.Is(err, errFull) {
				return nil, ErrHeaderTooLarge{limit}
			}
			if err == io.EOF {
				if c.w > c.r {
					return nil, io.ErrUnexpectedEOF
				}
				return nil, io.EOF
			}
			return nil, err
		}
		if *first && c.w > c.r {
			*first = false
			if trace != nil && trace.GotFirstResponseByte != nil {
				trace.GotFirstResponseByte()
			}
		}
	}
	if end-c.r > limit {
		return nil, ErrHeaderTooLarge{limit}
	}
	resp := &http.Response{Request: req, Header: make(http.Header, 8), ProtoMajor: 1}
	status, _ := c.line() // the head's end is buffered: so are its lines
	if err := parseStatus(string(status), resp); err != nil {
		return nil, err
	}
	last := "" // the field an obs-fold continues
	for {
		l, _ := c.line()
		if len(l) == 0 {
			break // the blank line
		}
		if l[0] == ' ' || l[0] == '\t' {
			// obs-fold: a user agent replaces it with SP (RFC 9112
			// §5.2), as net/http does; before any field it is an error.
			if last == "" {
				return nil, ErrMalformed{"obsolete line folding in the first header line"}
			}
			v := strings.Trim(string(l), " \t")
			if !validValue(v) {
				return nil, ErrMalformed{"invalid header value"}
			}
			vs := resp.Header[last]
			if prev := vs[len(vs)-1]; prev != "" {
				v = prev + " " + v
			}
			vs[len(vs)-1] = v
			continue
		}
		i := bytes.IndexByte(l, ':')
		if i <= 0 || !validToken(string(l[:i])) {
			return nil, ErrMalformed{"invalid header line"}
		}
		v := strings.Trim(string(l[i+1:]), " \t")
		if !validValue(v) {
			return nil, ErrMalformed{"invalid header value"}
		}
		k := http.CanonicalHeaderKey(string(l[:i]))
		resp.Header[k] = append(resp.Header[k], v)
		last = k
	}
	return resp, nil
}

// headEnd returns the index just past the blank line ending a head in b,
// or -1.
func headEnd(b []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		switch {
		case i < len(b) && b[i] == '\n':
			return i + 1
		case i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n':
			return i + 2
		}
	}
}

// parseStatus reads "HTTP/1.x NNN reason".
func parseStatus(line string, resp *http.Response) error {
	proto, rest, ok := strings.Cut(line, " ")
	if !ok {
		return ErrMalformed{"malformed status line"}
	}
	switch {
	case proto == "HTTP/1.1":
		resp.ProtoMinor = 1
	case proto == "HTTP/1.0":
	case len(proto) == 8 && strings.HasPrefix(proto, "HTTP/1.") && '0' <= proto[7] && proto[7] <= '9':
		// A later minor version is read as 1.1, the highest this
		// implements (RFC 9112 §2.3), as net/http does.
		resp.ProtoMinor = int(proto[7] - '0')
	default:
		return ErrMalformed{"unsupported protocol version " + strconv.Quote(proto)}
	}
	resp.Proto = proto
	rest = strings.TrimLeft(rest, " ") // as net/http does
	code, _, _ := strings.Cut(rest, " ")
	n, err := strconv.Atoi(code)
	if err != nil || len(code) != 3 || n < 100 {
		return ErrMalformed{"malformed HTTP status code " + strconv.Quote(code)}
	}
	resp.StatusCode = n
	resp.Status = rest
	return nil
}

// frame gives resp its body: none, a length, chunks, or up to the close.
func (c *conn) frame(req *http.Request, resp *http.Response) error {
	keep := !c.t.DisableKeepAlives && !wantsClose(req) && reusable(resp)
	resp.Close = !keep
	noBody := req.Method == http.MethodHead || resp.StatusCode == http.StatusNoContent ||
		resp.StatusCode == http.StatusNotModified || resp.StatusCode < 200
	te := resp.Header["Transfer-Encoding"]
	cl := resp.Header["Content-Length"]
	b := &body{c: c, keep: keep, ctx: req.Context()}
	switch {
	case noBody:
		resp.ContentLength = 0
		if resp.StatusCode == http.StatusSwitchingProtocols {
			resp.Close = true
			b.keep = false
		}
		b.mode = modeLength
	case len(te) > 0:
		if len(te) != 1 || !strings.EqualFold(strings.TrimSpace(te[0]), "chunked") {
			return ErrMalformed{"unsupported transfer encoding " + strconv.Quote(strings.Join(te, ", "))}
		}
		// With a Content-Length beside it the length is ignored (RFC
		// 9112 §6.3), and the connection not trusted again; nor after
		// an HTTP/1.0 message with a Transfer-Encoding (§6.1).
		if len(cl) > 0 || resp.ProtoMinor == 0 {
			b.keep = false
			resp.Close = true
			delete(resp.Header, "Content-Length")
		}
		resp.ContentLength = -1
		resp.TransferEncoding = []string{"chunked"}
		delete(resp.Header, "Transfer-Encoding")
		b.mode = modeChunked
	case len(cl) > 0:
		n, err := contentLength(cl)
		if err != nil {
			return err
		}
		resp.ContentLength = n
		b.mode, b.left = modeLength, n
	default:
		resp.ContentLength = -1
		b.mode = modeClose
		b.keep = false
		resp.Close = true
	}
	if b.mode == modeLength && b.left == 0 {
		resp.Body = http.NoBody
		c.release(b.keep)
		return nil
	}
	resp.Body = b
	return nil
}

// reusable reports whether the connection outlives resp, by its version
// and Connection header.
func reusable(resp *http.Response) bool {
	conn := resp.Header["Connection"]
	if resp.ProtoMinor == 0 {
		return hasToken(conn, "keep-alive")
	}
	return !hasToken(conn, "close")
}

func hasToken(vs []string, tok string) bool {
	for _, v := range vs {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), tok) {
				return true
			}
		}
	}
	return false
}

// contentLength parses Content-Length values, which must agree.
func contentLength(vs []string) (int64, error) {
	var n int64 = -1
	for _, v := range vs {
		for part := range strings.SplitSeq(v, ",") {
			part = strings.TrimSpace(part)
			m, err := strconv.ParseUint(part, 10, 63)
			if err != nil || part == "" || part[0] == '+' {
				return 0, ErrMalformed{"bad Content-Length " + strconv.Quote(v)}
			}
			if n >= 0 && int64(m) != n {
				return 0, ErrMalformed{"conflicting Content-Length values"}
			}
			n = int64(m)
		}
	}
	return n, nil
}
