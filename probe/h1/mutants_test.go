package h1

// Tests that pin exact numbers and boundaries, each written against a
// mutant that scripts/mutants.sh left alive: a limit off by one, a size
// computed with the wrong sign, a comparison turned around. They are in the
// package itself so that they can reach the buffer, the pool and the
// janitor, and use testing/synctest's clock where a timeout's boundary is
// the point.

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

const (
	mOK      = "HTTP/1.1 200 OK\r\n"
	mChunked = mOK + "Transfer-Encoding: chunked\r\n\r\n"
)

// mPipe returns a Dial whose every connection is one end of a net.Pipe; at
// the other end a server reads the request head and writes the pieces, one
// Write each (a pipe never joins two Writes in one Read), then closes.
func mPipe(pieces ...string) func(context.Context, string, string) (net.Conn, error) {
	return func(context.Context, string, string) (net.Conn, error) {
		cli, srv := net.Pipe()
		go func() {
			defer srv.Close()
			br := bufio.NewReader(srv)
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if l == "\r\n" {
					break
				}
			}
			go io.Copy(io.Discard, br)
			for _, p := range pieces {
				if _, err := io.WriteString(srv, p); err != nil {
					return
				}
			}
		}()
		return cli, nil
	}
}

type mResult struct {
	resp    *http.Response
	body    string
	rtErr   error
	bodyErr error
}

// mFetch sends a GET over a transport whose connection plays the pieces.
func mFetch(t *testing.T, tr *Transport, pieces ...string) mResult {
	t.Helper()
	tr.Dial = mPipe(pieces...)
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://pipe.test/", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.RoundTrip(req)
	if ctx.Err() != nil {
		t.Fatal("no answer in 10 s")
	}
	if err != nil {
		return mResult{rtErr: err}
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ctx.Err() != nil {
		t.Fatal("body not read in 10 s")
	}
	return mResult{resp: resp, body: string(b), bodyErr: err}
}

// malformed reports err's ErrMalformed text, or "" when it is none.
func malformed(err error) string {
	var m ErrMalformed
	if errors.As(err, &m) {
		return m.What
	}
	return ""
}

// TestChunkLineExactLimit: a chunk-size line of exactly 4 KiB (with its
// extension, before the CRLF) is read, the buffer growing from 1 KiB to
// hold it and its CRLF; one byte more is refused. The line arrives alone,
// so that the buffer holds exactly 4096 bytes of it and no LF at one point.
func TestChunkLineExactLimit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ext  int
		want string // the error, or "" for the body "a"
	}{
		{ext: maxChunkLine - 2},
		{ext: maxChunkLine - 1, want: "chunk-size line too long"},
	} {
		line := "1;" + strings.Repeat("e", tc.ext)
		r := mFetch(t, &Transport{}, mChunked, line, "\r\na\r\n0\r\n\r\n")
		if r.rtErr != nil {
			t.Fatal(r.rtErr)
		}
		if got := malformed(r.bodyErr); got != tc.want || (tc.want == "" && (r.bodyErr != nil || r.body != "a")) {
			t.Errorf("a %d-byte chunk-size line: body %q, error %v; want error %q", len(line), r.body, r.bodyErr, tc.want)
		}
	}
}

// TestChunkLineAfterDataInBigBuffer: a chunk-size line not yet whole is
// bounded by its own length, not by where it lies in a large buffer (here
// past 4 KiB of a chunk read with it).
func TestChunkLineAfterDataInBigBuffer(t *testing.T) {
	t.Parallel()
	data := strings.Repeat("a", 4096)
	r := mFetch(t, &Transport{ReadBufferSize: 16 << 10}, mChunked+"1000\r\n"+data+"\r\n1", "\r\nb\r\n0\r\n\r\n")
	if r.rtErr != nil || r.bodyErr != nil || r.body != data+"b" {
		t.Errorf("body of %d bytes, errors %v, %v; want %d bytes", len(r.body), r.rtErr, r.bodyErr, len(data)+1)
	}
}

// TestTrailerExactLimit: trailer fields of 4096 bytes in all, CRLFs
// counted, are taken; 4097 are refused.
func TestTrailerExactLimit(t *testing.T) {
	t.Parallel()
	field := func(name string, n int) string { // n bytes with the CRLF
		return name + ": " + strings.Repeat("t", n-len(name)-4) + "\r\n"
	}
	for _, tc := range []struct {
		second int
		want   string
	}{
		{second: 2048},
		{second: 2049, want: "trailer section too long"},
	} {
		trailer := field("X-A", 2048) + field("X-B", tc.second)
		r := mFetch(t, &Transport{}, mChunked, "1\r\na\r\n0\r\n"+trailer+"\r\n")
		if r.rtErr != nil {
			t.Fatal(r.rtErr)
		}
		if got := malformed(r.bodyErr); got != tc.want || (tc.want == "" && (r.bodyErr != nil || r.body != "a")) {
			t.Errorf("%d bytes of trailer: body %q, error %v; want error %q", len(trailer), r.body, r.bodyErr, tc.want)
		}
	}
}

// TestChunkFraming: the chunk framing's errors are told apart as soon as
// the bytes that make them are in, not taken for a body cut by the close
// that follows.
func TestChunkFraming(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body, read, want string
	}{
		// Two bytes after the data that are not CRLF: malformed, though
		// no byte follows them.
		{"not CRLF after data", "2\r\nokXY", "ok", "chunk data not followed by CRLF"},
		// A chunk-size line that is a bare LF, the LF first in the buffer.
		{"bare LF first", "\n0\r\n\r\n", "", "chunk-size line with a bare LF or CR"},
		// A CR first in a chunk-size line is a bare CR, not a bad digit.
		{"CR first", "\r1\r\na\r\n0\r\n\r\n", "", "chunk-size line with a bare LF or CR"},
	} {
		r := mFetch(t, &Transport{}, mChunked, tc.body)
		if r.rtErr != nil {
			t.Fatal(r.rtErr)
		}
		if got := malformed(r.bodyErr); got != tc.want || r.body != tc.read {
			t.Errorf("%s: body %q, error %v; want %q and %q", tc.name, r.body, r.bodyErr, tc.read, tc.want)
		}
	}
}

// head returns a response head of exactly n bytes, its blank line (CRLF or
// a bare LF) included, with a Content-Length of 2.
func head(n int, lf bool) string {
	eol := "\r\n"
	if lf {
		eol = "\n"
	}
	pre := "HTTP/1.1 200 OK" + eol + "Content-Length: 2" + eol + "X-Pad: "
	return pre + strings.Repeat("p", n-len(pre)-2*len(eol)) + eol + eol
}

// TestHeadExactLimit: a head of exactly MaxResponseHeaderBytes is taken,
// one byte more refused, with either line end, whether the head comes in
// one read or the buffer grows from 1 KiB over several.
func TestHeadExactLimit(t *testing.T) {
	t.Parallel()
	const limit = 4000
	for _, buf := range []int{0, 8 << 10} {
		for _, lf := range []bool{false, true} {
			for _, n := range []int{limit, limit + 1} {
				h := head(n, lf)
				if len(h) != n {
					t.Fatalf("head of %d bytes, want %d", len(h), n)
				}
				r := mFetch(t, &Transport{MaxResponseHeaderBytes: limit, ReadBufferSize: buf}, h+"ok")
				var tooLarge ErrHeaderTooLarge
				switch {
				case n <= limit && (r.err() != nil || r.body != "ok"):
					t.Errorf("buffer %d, LF %v: a head of %d bytes: %v", buf, lf, n, r.err())
				case n > limit && (!errors.As(r.rtErr, &tooLarge) || tooLarge.Limit != limit):
					t.Errorf("buffer %d, LF %v: a head of %d bytes: %v, want ErrHeaderTooLarge{%d}", buf, lf, n, r.err(), limit)
				}
			}
		}
	}
}

func (r mResult) err() error {
	if r.rtErr != nil {
		return r.rtErr
	}
	return r.bodyErr
}

// TestHeadLimitAfter1xx: the limit bounds the final head alone, not the
// informational response before it that came in the same read, whether the
// final head came whole with it or was split.
func TestHeadLimitAfter1xx(t *testing.T) {
	t.Parallel()
	const limit = 200
	info := "HTTP/1.1 100 Continue\r\nX-Pad: " + strings.Repeat("p", 150) + "\r\n\r\n"
	for _, pieces := range [][]string{
		{info + mOK + "Content-Length: 2\r\n\r\nok"},
		{info + mOK, "Content-Length: 2\r\n\r\nok"},
	} {
		r := mFetch(t, &Transport{MaxResponseHeaderBytes: limit}, pieces...)
		if r.err() != nil || r.body != "ok" {
			t.Errorf("%q: body %q, %v", pieces, r.body, r.err())
		}
	}
}

// TestHeadCutAtLimit: a head cut by the close after exactly the limit's
// bytes is a cut head (io.ErrUnexpectedEOF), not a head over the limit;
// one byte more and it is over.
func TestHeadCutAtLimit(t *testing.T) {
	t.Parallel()
	const limit = 4000
	for _, n := range []int{limit, limit + 1} {
		partial := mOK + "X-Pad: "
		partial += strings.Repeat("p", n-len(partial))
		r := mFetch(t, &Transport{MaxResponseHeaderBytes: limit}, partial)
		var tooLarge ErrHeaderTooLarge
		if n == limit && r.rtErr != io.ErrUnexpectedEOF {
			t.Errorf("a head cut after %d bytes: %v, want io.ErrUnexpectedEOF", n, r.rtErr)
		}
		if n > limit && !errors.As(r.rtErr, &tooLarge) {
			t.Errorf("a head cut after %d bytes: %v, want ErrHeaderTooLarge", n, r.rtErr)
		}
	}
}

// TestClosedBeforeResponse: a connection closed before any byte of a
// response ends the request with io.EOF, not io.ErrUnexpectedEOF.
func TestClosedBeforeResponse(t *testing.T) {
	t.Parallel()
	if r := mFetch(t, &Transport{}); r.rtErr != io.EOF {
		t.Errorf("%v, want io.EOF", r.rtErr)
	}
}

// TestHeadEndStraddlesReads: a head whose end is found only in the three
// bytes kept from the previous read (here a LF first among them).
func TestHeadEndStraddlesReads(t *testing.T) {
	t.Parallel()
	r := mFetch(t, &Transport{}, mOK+"Content-Length: 2\r\nA:", " b\r\n\r\nok")
	if r.err() != nil || r.body != "ok" || r.resp.Header.Get("A") != "b" {
		t.Errorf("body %q, %v", r.body, r.err())
	}
}

// TestHeadEnd: the index just past the blank line, for either line end.
func TestHeadEnd(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{
		"\n\n":           2,
		"\n\r\n":         3,
		"A\n\nrest":      3,
		"A\r\n\r\nrest":  5,
		"\nA: b\r\n\r\n": 9,
		"A\r\nB\r\n":     -1,
		"A\r\n\r":        -1,
	} {
		if got := headEnd([]byte(in)); got != want {
			t.Errorf("headEnd(%q) = %d, want %d", in, got, want)
		}
	}
}

// TestUnknownLength: a chunked body's and a body up to the close have no
// length: ContentLength is -1.
func TestUnknownLength(t *testing.T) {
	t.Parallel()
	for _, pieces := range [][]string{
		{mChunked, "2\r\nok\r\n0\r\n\r\n"},
		{mOK + "\r\nok"},
	} {
		r := mFetch(t, &Transport{}, pieces...)
		if r.err() != nil || r.body != "ok" || r.resp.ContentLength != -1 {
			t.Errorf("%q: body %q, %v, ContentLength %d, want -1", pieces, r.body, r.err(), r.resp.ContentLength)
		}
	}
}

// TestContentLengthZeroConflict: a Content-Length of 0 and another value
// conflict as any two different values do.
func TestContentLengthZeroConflict(t *testing.T) {
	t.Parallel()
	for _, vs := range [][]string{{"0", "5"}, {"0, 5"}} {
		if n, err := contentLength(vs); malformed(err) != "conflicting Content-Length values" {
			t.Errorf("contentLength(%q) = %d, %v", vs, n, err)
		}
	}
	r := mFetch(t, &Transport{}, mOK+"Content-Length: 0\r\nContent-Length: 5\r\n\r\nhello")
	if malformed(r.rtErr) != "conflicting Content-Length values" {
		t.Errorf("Content-Length 0 and 5: body %q, %v", r.body, r.err())
	}
}

// fakeConn is a net.Conn that only records its Close (it is no socket, so
// alive trusts it).
type fakeConn struct {
	net.Conn
	closed atomic.Bool
}

func (c *fakeConn) Close() error { c.closed.Store(true); return nil }

// TestReleaseBuffer: a connection goes back to the pool with a buffer of
// exactly its first size: a grown one is replaced, one never grown is kept
// as it is, not reallocated.
func TestReleaseBuffer(t *testing.T) {
	t.Parallel()
	tr := &Transport{}
	nc := &fakeConn{}
	c := &conn{t: tr, nc: nc, addr: "a:80", buf: make([]byte, 64), bufSize: 64}
	first := &c.buf[0]
	c.release(true)
	if tr.takeIdle("a:80") != c || nc.closed.Load() {
		t.Fatal("the connection is not idle")
	}
	if &c.buf[0] != first || len(c.buf) != 64 {
		t.Errorf("a buffer never grown: reallocated (len %d)", len(c.buf))
	}
	c.buf = make([]byte, 1000)
	c.release(true)
	if tr.takeIdle("a:80") != c {
		t.Fatal("the connection is not idle")
	}
	if len(c.buf) != 64 {
		t.Errorf("a grown buffer of 1000 bytes is %d after release, want 64", len(c.buf))
	}
}

// pooled reports whether putBuf keeps a buffer of capacity n in bufPool:
// whether the Gets right after the Put return it, tried many times with a
// fresh buffer each (a pool may drop what it is given, and other tests Put
// and Get meanwhile; a buffer is never given twice, so that no test's
// buffer is used by two). The buffers of others that the Gets return go
// back after the try.
func pooled(n int) bool {
	for range 100 {
		b := make([]byte, 0, n)
		putBuf(&b)
		var others []*[]byte
		found := false
		for range 8 {
			got := bufPool.Get().(*[]byte)
			if got == &b {
				found = true
				break
			}
			others = append(others, got)
		}
		for _, o := range others {
			bufPool.Put(o)
		}
		if found {
			return true
		}
	}
	return false
}

// TestBufPoolBound: buffers up to 256 KiB go back to the pool, larger ones
// do not.
func TestBufPoolBound(t *testing.T) {
	t.Parallel()
	for n, want := range map[int]bool{2048: true, 256 << 10: true, 256<<10 + 1: false} {
		if got := pooled(n); got != want {
			t.Errorf("a buffer of %d bytes pooled: %v, want %v", n, got, want)
		}
	}
}

// zeros is a reader of n bytes that writes nothing into what it returns.
type zeros struct{ n int }

func (z *zeros) Read(p []byte) (int, error) {
	if z.n == 0 {
		return 0, io.EOF
	}
	k := min(len(p), z.n)
	z.n -= k
	return k, nil
}

// TestRequestBodyExactLimit: a request body of exactly 64 MiB is read; one
// byte more is refused. (The buffer is large from the start, so that no
// byte of it is touched.)
func TestRequestBodyExactLimit(t *testing.T) {
	t.Parallel()
	buf := make([]byte, 0, maxRequestBody+64)
	if b, err := readAll(buf, &zeros{maxRequestBody}); err != nil || len(b) != maxRequestBody {
		t.Errorf("a body of exactly 64 MiB: %d bytes, %v", len(b), err)
	}
	if _, err := readAll(buf, &zeros{maxRequestBody + 1}); err == nil {
		t.Error("a body of 64 MiB and a byte read")
	}
}

// strictReader returns data and fails a Read into an empty buffer, which
// would make no progress.
type strictReader struct{ data string }

func (r *strictReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, errors.New("a Read into an empty buffer")
	}
	if r.data == "" {
		return 0, io.EOF
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// TestReadAllGrows: readAll grows a full buffer before the next Read.
func TestReadAllGrows(t *testing.T) {
	t.Parallel()
	data := strings.Repeat("0123456789", 10)
	if b, err := readAll(make([]byte, 0, 16), &strictReader{data}); err != nil || string(b) != data {
		t.Errorf("readAll: %q, %v", b, err)
	}
}

// TestEmptyFieldValues: an empty User-Agent is left out (and no default
// one written); any other field with an empty value is sent.
func TestEmptyFieldValues(t *testing.T) {
	t.Parallel()
	req, err := http.NewRequest(http.MethodGet, "http://h/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = http.Header{"User-Agent": {""}, "X-Empty": {""}}
	out, err := (&Transport{}).encode(req)
	if err != nil {
		t.Fatal(err)
	}
	defer putBuf(out)
	if got, want := string(*out), "GET / HTTP/1.1\r\nHost: h\r\nX-Empty: \r\n\r\n"; got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// TestIdleTimeoutBoundary: on synctest's clock, a connection idle for
// exactly IdleConnTimeout is not taken for a request (a new one is
// dialed), one idle a nanosecond less is.
func TestIdleTimeoutBoundary(t *testing.T) {
	t.Parallel()
	for _, idle := range []time.Duration{time.Minute - 1, time.Minute} {
		synctest.Test(t, func(t *testing.T) {
			dialed := &fakeConn{}
			tr := &Transport{IdleConnTimeout: time.Minute,
				Dial: func(context.Context, string, string) (net.Conn, error) { return dialed, nil }}
			nc := &fakeConn{}
			c := &conn{t: tr, nc: nc, addr: "a:80", buf: make([]byte, 64), bufSize: 64, idleSince: time.Now()}
			tr.idle = map[string][]*conn{"a:80": {c}} // no janitor to race with
			time.Sleep(idle)
			got, reused, err := tr.get(context.Background(), "a:80")
			if err != nil {
				t.Fatal(err)
			}
			if wantReused := idle < time.Minute; reused != wantReused || (got == c) != wantReused || nc.closed.Load() == wantReused {
				t.Errorf("idle %v of %v: reused %v, the idle connection closed %v", idle, tr.IdleConnTimeout, reused, nc.closed.Load())
			}
		})
	}
}

// TestSweepBoundary: on synctest's clock, the janitor closes a connection
// idle for exactly IdleConnTimeout and keeps one idle a nanosecond less.
func TestSweepBoundary(t *testing.T) {
	t.Parallel()
	for _, idle := range []time.Duration{time.Minute - 1, time.Minute} {
		synctest.Test(t, func(t *testing.T) {
			tr := &Transport{IdleConnTimeout: time.Minute}
			nc := &fakeConn{}
			c := &conn{t: tr, nc: nc, addr: "a:80", idleSince: time.Now()}
			tr.idle = map[string][]*conn{"a:80": {c}}
			tr.janitor = time.AfterFunc(time.Hour, func() {})
			defer tr.janitor.Stop()
			time.Sleep(idle)
			tr.sweep()
			kept := len(tr.idle["a:80"]) == 1
			if wantKept := idle < time.Minute; kept != wantKept || nc.closed.Load() == wantKept {
				t.Errorf("idle %v of %v: kept %v, closed %v", idle, tr.IdleConnTimeout, kept, nc.closed.Load())
			}
		})
	}
}

// TestSweepKeepsFresh: a round of the janitor closes the expired
// connections and leaves the others of the same address in the pool; an
// address left with none leaves the map.
func TestSweepKeepsFresh(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tr := &Transport{IdleConnTimeout: time.Minute}
		now := time.Now()
		old, fresh, gone := &fakeConn{}, &fakeConn{}, &fakeConn{}
		cFresh := &conn{t: tr, nc: fresh, addr: "a:80", idleSince: now}
		tr.idle = map[string][]*conn{
			"a:80": {{t: tr, nc: old, addr: "a:80", idleSince: now.Add(-time.Hour)}, cFresh},
			"b:80": {{t: tr, nc: gone, addr: "b:80", idleSince: now.Add(-time.Hour)}},
		}
		tr.janitor = time.AfterFunc(time.Hour, func() {})
		defer tr.janitor.Stop()
		tr.sweep()
		if l := tr.idle["a:80"]; len(l) != 1 || l[0] != cFresh {
			t.Errorf("a:80 idle %d connections, want the fresh one", len(l))
		}
		if _, ok := tr.idle["b:80"]; ok {
			t.Error("b:80 left in the pool with no connection")
		}
		if !old.closed.Load() || !gone.closed.Load() || fresh.closed.Load() {
			t.Errorf("closed: old %v, gone %v, fresh %v", old.closed.Load(), gone.closed.Load(), fresh.closed.Load())
		}
	})
}

// TestSweepReschedulesEarliest: the janitor's next round is when the first
// of the connections it kept expires, not the last.
func TestSweepReschedulesEarliest(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tr := &Transport{IdleConnTimeout: time.Hour}
		now := time.Now()
		var fired atomic.Bool
		tr.janitor = time.AfterFunc(10*time.Hour, func() { fired.Store(true) })
		defer tr.janitor.Stop()
		tr.idle = map[string][]*conn{"a:80": {
			{t: tr, nc: &fakeConn{}, addr: "a:80", idleSince: now.Add(-time.Hour + time.Second)}, // 1 s left
			{t: tr, nc: &fakeConn{}, addr: "a:80", idleSince: now},                               // 1 h left
			{t: tr, nc: &fakeConn{}, addr: "a:80", idleSince: now.Add(-time.Hour + time.Minute)}, // 1 min left
		}}
		tr.sweep()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if !fired.Load() {
			t.Error("the janitor did not run 1 s later, when the first connection expired")
		}
	})
}
