package h1

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
)

// maxRequestBody bounds what encode buffers of a request body: the
// prober's bodies are prompts, and this transport writes head and body in
// one write.
const maxRequestBody = 64 << 20

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

func putBuf(b *[]byte) {
	if cap(*b) <= 256<<10 {
		*b = (*b)[:0]
		bufPool.Put(b)
	}
}

// encode writes req's head and body into one pooled buffer, refusing what
// would let a header name or value inject lines (as net/http does).
func (t *Transport) encode(req *http.Request) (*[]byte, error) {
	defer closeBody(req)
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	if !validToken(method) {
		return nil, fmt.Errorf("h1: invalid method %q", method)
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if !validValue(host) {
		return nil, errors.New("h1: invalid Host")
	}
	for k, vs := range req.Header {
		if !validToken(k) {
			return nil, fmt.Errorf("h1: invalid header field name %q", k)
		}
		for _, v := range vs {
			if !validValue(v) {
				return nil, fmt.Errorf("h1: invalid header field value for %q", k)
			}
		}
	}
	bodyBuf := bufPool.Get().(*[]byte)
	defer putBuf(bodyBuf)
	body := (*bodyBuf)[:0]
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		body, err = readAll(body, req.Body)
		*bodyBuf = body
		if err != nil {
			return nil, fmt.Errorf("h1: reading request body: %w", err)
		}
		if req.ContentLength > 0 && int64(len(body)) != req.ContentLength {
			return nil, fmt.Errorf("h1: request body is %d bytes, ContentLength %d", len(body), req.ContentLength)
		}
	}
	out := bufPool.Get().(*[]byte)
	b := (*out)[:0]
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, req.URL.RequestURI()...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\n"...)
	if len(req.Header["User-Agent"]) == 0 {
		b = append(b, "User-Agent: Go-http-client/1.1\r\n"...)
	}
	for k, vs := range req.Header {
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Trailer", "Connection":
			continue // ours to write, as net/http's are
		}
		for _, v := range vs {
			if k == "User-Agent" && v == "" {
				continue // an empty one means none, as in net/http
			}
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	if t.DisableKeepAlives || wantsClose(req) {
		b = append(b, "Connection: close\r\n"...)
	}
	if len(body) > 0 || (method != http.MethodGet && method != http.MethodHead) {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	b = append(b, body...)
	*out = b
	return out, nil
}

// wantsClose reports whether req asks for its connection to close after
// it, by req.Close or by its own Connection field (which is not sent as
// it is), as net/http has it.
func wantsClose(req *http.Request) bool {
	return req.Close || hasToken(req.Header["Connection"], "close")
}

func readAll(b []byte, r io.Reader) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) > maxRequestBody {
			return b, errors.New("larger than 64 MiB")
		}
	}
}

// validToken reports whether s is an RFC 9110 token (a method or a header
// field name).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '!' || c == '#' || c == '$' || c == '%' || c == '&' || c == '\'' || c == '*' ||
			c == '+' || c == '-' || c == '.' || c == '^' || c == '_' || c == '`' || c == '|' || c == '~':
		default:
			return false
		}
	}
	return true
}

// validValue reports whether s may be a field value: no control bytes but
// horizontal tab, so no line can be injected.
func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
