package h1

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
)

// Body framings.
const (
	modeLength  = iota // Content-Length bytes
	modeChunked        // chunked transfer coding
	modeClose          // up to the connection's end
)

// States of a chunked body.
const (
	stSize    = iota // the next chunk-size line
	stData           // inside a chunk, left bytes to go
	stCRLF           // the CRLF after a chunk's data
	stTrailer        // trailer fields, up to the blank line
	stDone
)

// maxChunkLine bounds a chunk-size line (with extensions) and a trailer
// field, as net/http's 4 KiB does.
const maxChunkLine = 4 << 10

// body is a response body read from its connection's buffer. A Read
// returns what has arrived without waiting for more once it has something,
// so a chunk is delivered when it arrives, and the framing around it
// (sizes, CRLFs, the last chunk and trailers) is consumed from the buffer
// without a read system call of its own whenever it came with the data.
type body struct {
	c    *conn // nil once the body is done with it
	ctx  context.Context
	mode int
	st   int
	left int64
	keep bool
	err  error
}

// errBodyCut is a body that ended before its framing said it would.
var errBodyCut = io.ErrUnexpectedEOF

func (b *body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var err error
	switch b.mode {
	case modeChunked:
		n, err = b.readChunked(p)
	default:
		n, err = b.readPlain(p)
	}
	if err != nil {
		if err != io.EOF {
			// A canceled request's read ends on the closed connection;
			// the caller sees the context's error, as net/http's does.
			err = ctxErr(b.ctx, err)
		}
		b.err = err
		if b.c != nil {
			b.c.release(err == io.EOF && b.keep)
			b.c = nil
		}
	}
	return n, err
}

// readPlain reads a body framed by its length or by the connection's end.
func (b *body) readPlain(p []byte) (int, error) {
	c := b.c
	if b.mode == modeLength {
		if b.left == 0 {
			return 0, io.EOF
		}
		if int64(len(p)) > b.left {
			p = p[:b.left]
		}
	}
	var n int
	if c.r < c.w {
		n = copy(p, c.buf[c.r:c.w])
		c.r += n
	} else {
		var err error
		n, err = c.nc.Read(p)
		if n == 0 && err != nil {
			if err == io.EOF && b.mode == modeLength {
				return 0, errBodyCut
			}
			return 0, err
		}
	}
	if b.mode == modeLength {
		b.left -= int64(n)
		if b.left == 0 {
			return n, io.EOF
		}
	}
	return n, nil
}

// readChunked decodes the chunked coding into p.
func (b *body) readChunked(p []byte) (int, error) {
	c := b.c
	n := 0
	for n < len(p) {
		switch b.st {
		case stSize, stTrailer:
			var l []byte
			var ok bool
			if b.st == stSize {
				var err error
				if l, ok, err = c.chunkLine(); err != nil {
					return n, err
				}
			} else {
				l, ok = c.line() // trailer fields: a bare LF as in the head
			}
			if !ok {
				if c.w-c.r > maxChunkLine {
					return n, ErrMalformed{"chunk-size line too long"}
				}
				if n > 0 {
					return n, nil
				}
				if err := b.more(); err != nil {
					return 0, err
				}
				continue
			}
			if b.st == stTrailer {
				if len(l) == 0 {
					b.st = stDone
					return n, io.EOF
				}
				// A trailer field: not used, and bounded in all as
				// net/http bounds them, so that no server keeps a Read
				// from returning by sending fields without end.
				if b.left += int64(len(l)) + 2; b.left > maxChunkLine {
					return n, ErrMalformed{"trailer section too long"}
				}
				continue
			}
			size, err := chunkSize(l)
			if err != nil {
				return n, err
			}
			if size == 0 {
				b.st, b.left = stTrailer, 0
			} else {
				b.st, b.left = stData, size
			}
		case stData:
			if c.r == c.w {
				if n > 0 {
					return n, nil
				}
				if err := b.more(); err != nil {
					return 0, err
				}
			}
			k := copy(p[n:], c.buf[c.r:c.r+int(min(int64(c.w-c.r), b.left))])
			c.r += k
			n += k
			b.left -= int64(k)
			if b.left == 0 {
				b.st = stCRLF
			}
		case stCRLF:
			if c.w-c.r < 2 {
				if n > 0 {
					return n, nil
				}
				if err := b.more(); err != nil {
					return 0, err
				}
				continue
			}
			if c.buf[c.r] != '\r' || c.buf[c.r+1] != '\n' {
				return n, ErrMalformed{"chunk data not followed by CRLF"}
			}
			c.r += 2
			b.st = stSize
		default:
			return n, io.EOF
		}
	}
	return n, nil
}

// more reads what has arrived; the connection's end inside the framing is
// a cut body.
func (b *body) more() error {
	err := b.c.fill(maxChunkLine + 2)
	switch {
	case err == nil:
		return nil
	case err == io.EOF:
		return errBodyCut
	case errors.Is(err, errFull):
		return ErrMalformed{"chunk-size line too long"}
	}
	return err
}

// chunkLine returns the next chunk-size line without its CRLF, and false
// when no whole line is buffered yet. The line must end in CRLF and hold
// no other CR: a bare LF, accepted in the head, is not one here (RFC 9112
// §7.1, errata 7633), as net/http has it.
func (c *conn) chunkLine() ([]byte, bool, error) {
	i := bytes.IndexByte(c.buf[c.r:c.w], '\n')
	if i < 0 {
		return nil, false, nil
	}
	l := c.buf[c.r : c.r+i]
	c.r += i + 1
	if n := len(l); n == 0 || l[n-1] != '\r' || bytes.IndexByte(l[:n-1], '\r') >= 0 {
		return nil, true, ErrMalformed{"chunk-size line with a bare LF or CR"}
	}
	return l[:len(l)-1], true, nil
}

// chunkSize parses a chunk-size line: hex digits, then optional white
// space and extensions after ';', which are ignored.
func chunkSize(l []byte) (int64, error) {
	end := len(l)
	for i, ch := range l {
		if ch == ';' || ch == ' ' || ch == '\t' {
			end = i
			break
		}
	}
	if end == 0 || end > 16 {
		return 0, ErrMalformed{"invalid chunk size " + strconv.Quote(string(l))}
	}
	// After the digits: white space (BWS, before an extension or
	// trailing), then an extension or nothing.
	if rest := bytes.TrimLeft(l[end:], " \t"); len(rest) > 0 && rest[0] != ';' {
		return 0, ErrMalformed{"invalid chunk size " + strconv.Quote(string(l))}
	}
	var n int64
	for _, ch := range l[:end] {
		var d byte
		switch {
		case '0' <= ch && ch <= '9':
			d = ch - '0'
		case 'a' <= ch && ch <= 'f':
			d = ch - 'a' + 10
		case 'A' <= ch && ch <= 'F':
			d = ch - 'A' + 10
		default:
			return 0, ErrMalformed{"invalid chunk size " + strconv.Quote(string(l))}
		}
		if n > (1<<63-1)>>4 {
			return 0, ErrMalformed{"chunk size too large"}
		}
		n = n<<4 | int64(d)
	}
	return n, nil
}

// Close ends the body: a body not read to its end closes its connection,
// since what is left of it would be read as the next response. Unlike
// net/http's, it must not race a Read (the prober reads and closes on one
// goroutine); a read is ended from elsewhere by canceling the request's
// context, which closes the connection under it.
func (b *body) Close() error {
	if b.c != nil {
		b.c.release(false)
		b.c = nil
	}
	if b.err == nil {
		b.err = errClosed
	}
	return nil
}

var errClosed = errors.New("h1: read on closed response body")
