package h1_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/probe/h1"
)

// How net/http's Transport takes the same bytes, asserted for every case.
type verdict int

const (
	same      verdict = iota // the same status, headers named and body; or an error from both
	stricter                 // h1 refuses what net/http takes; why says why
	lenient                  // h1 takes what net/http refuses; why says why
	differ                   // both take it, with different bodies; why says why
	noCompare                // the limits differ (net/http's head limit is 10 MB)
)

// framing is one response as a server writes it and what the client must
// make of it.
type framing struct {
	name    string
	method  string   // GET if empty
	pieces  []string // the response's writes; the connection closes after them
	maxHead int      // the transport's MaxResponseHeaderBytes

	status  int
	header  map[string]string // a field's one value; "" for a field that must be absent
	body    string            // the body, or what was read of it before bodyErr
	rtErr   string            // RoundTrip fails with an error saying this
	bodyErr string            // the body's read fails with an error saying this
	cut     bool              // the body's read fails with io.ErrUnexpectedEOF

	nethttp verdict
	why     string
}

const (
	ok200   = "HTTP/1.1 200 OK\r\n"
	chunked = ok200 + "Transfer-Encoding: chunked\r\n\r\n"
)

var (
	x31          = strings.Repeat("x", 31)
	longExt      = "1;" + strings.Repeat("e", 5000) + "\r\nx\r\n0\r\n\r\n"
	okExt        = "1;" + strings.Repeat("e", 4000) + "\r\nx\r\n0\r\n\r\n"
	longTrailer  = "0\r\n" + strings.Repeat("X-Pad: "+strings.Repeat("p", 90)+"\r\n", 100) + "\r\n"
	bigHead      = ok200 + "X-Big: " + strings.Repeat("b", 2000) + "\r\nContent-Length: 2\r\n\r\nok"
	hugeHead     = ok200 + strings.Repeat("X-Big: "+strings.Repeat("b", 1000)+"\r\n", 70) + "Content-Length: 2\r\n\r\nok"
	nearHead     = ok200 + "X-Big: " + strings.Repeat("b", 900) + "\r\nContent-Length: 2\r\n\r\nok"
	info         = "HTTP/1.1 100 Continue\r\n\r\n"
	earlyHints   = "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
	final        = ok200 + "Content-Length: 2\r\n\r\nok"
	fiveInfos    = strings.Repeat(info, 4) + earlyHints
	sixInfos     = strings.Repeat(info, 5) + earlyHints
	obsFold      = ok200 + "X-Folded: a\r\n  b \r\n\tc\r\nContent-Length: 2\r\n\r\nok"
	obsFoldFirst = ok200 + " X-Folded: a\r\nContent-Length: 2\r\n\r\nok"
)

var framings = []framing{
	// The chunked coding.
	{name: "chunked/coalesced", pieces: []string{chunked + "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"}, status: 200, body: "hello world"},
	{name: "chunked/split", pieces: []string{chunked, "5\r\nhel", "lo\r", "\n6\r\n world", "\r\n0\r\n\r\n"}, status: 200, body: "hello world"},
	{name: "chunked/last chunk with the data", pieces: []string{chunked, "5\r\nhello\r\n0\r\n\r\n"}, status: 200, body: "hello"},
	{name: "chunked/head and all in one", pieces: []string{chunked + "5\r\nhello\r\n0\r\n\r\n"}, status: 200, body: "hello",
		header: map[string]string{"Transfer-Encoding": ""}},
	{name: "chunked/extensions", pieces: []string{chunked, "5;foo=bar\r\nhello\r\n6;q=\"a;b\"\r\n world\r\n0;last\r\n\r\n"}, status: 200, body: "hello world"},
	{name: "chunked/hex cases", pieces: []string{chunked, "A\r\n0123456789\r\na\r\nabcdefghij\r\n1F\r\n" + x31 + "\r\n1f\r\n" + x31 + "\r\n0\r\n\r\n"},
		status: 200, body: "0123456789abcdefghij" + x31 + x31},
	{name: "chunked/leading zeros", pieces: []string{chunked, "0005\r\nhello\r\n000\r\n\r\n"}, status: 200, body: "hello"},
	{name: "chunked/white space after size", pieces: []string{chunked, "5 \r\nhello\r\n0\t\r\n\r\n"}, status: 200, body: "hello"},
	{name: "chunked/trailers", pieces: []string{chunked, "5\r\nhello\r\n0\r\nX-Trailer: 1\r\nY: 2\r\n\r\n"}, status: 200, body: "hello"},
	{name: "chunked/trailers split", pieces: []string{chunked, "5\r\nhello\r\n0\r\nX-Tra", "iler: 1\r", "\n\r", "\n"}, status: 200, body: "hello"},
	{name: "chunked/empty", pieces: []string{chunked + "0\r\n\r\n"}, status: 200, body: ""},
	{name: "chunked/coding name's case", pieces: []string{ok200 + "Transfer-Encoding: Chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"}, status: 200, body: "hello"},
	{name: "chunked/with a Content-Length", pieces: []string{ok200 + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
		status: 200, body: "hello", header: map[string]string{"Content-Length": ""}},
	{name: "chunked/extension at 4000 bytes", pieces: []string{chunked, okExt}, status: 200, body: "x"},
	{name: "chunked/BWS before an extension", pieces: []string{chunked, "5 ;a=b\r\nhello\r\n0\r\n\r\n"}, status: 200, body: "hello",
		nethttp: lenient, why: "RFC 9112 §7.1.1 allows BWS before ';'; net/http trims only trailing white space"},

	{name: "chunked/invalid size", pieces: []string{chunked, "zz\r\nhello\r\n0\r\n\r\n"}, status: 200, bodyErr: "invalid chunk size"},
	{name: "chunked/negative size", pieces: []string{chunked, "-5\r\nhello\r\n0\r\n\r\n"}, status: 200, bodyErr: "invalid chunk size"},
	{name: "chunked/0x prefix", pieces: []string{chunked, "0x5\r\nhello\r\n0\r\n\r\n"}, status: 200, bodyErr: "invalid chunk size"},
	{name: "chunked/empty size line", pieces: []string{chunked, "\r\nhello\r\n0\r\n\r\n"}, status: 200, bodyErr: "invalid chunk size"},
	{name: "chunked/junk after the size", pieces: []string{chunked, "5 x\r\nhello\r\n0\r\n\r\n"}, status: 200, bodyErr: "invalid chunk size"},
	{name: "chunked/size line ends in a bare LF", pieces: []string{chunked, "5\nhello\r\n0\r\n\r\n"}, status: 200, bodyErr: "chunk"},
	{name: "chunked/CR inside the size line", pieces: []string{chunked, "5\r;a\r\nhello\r\n0\r\n\r\n"}, status: 200, bodyErr: "chunk"},
	{name: "chunked/size line over 4 KiB", pieces: []string{chunked, longExt}, status: 200, bodyErr: "too long"},
	{name: "chunked/size line over 4 KiB in pieces", pieces: []string{chunked, longExt[:1000], longExt[1000:3000], longExt[3000:]}, status: 200, bodyErr: "too long"},
	{name: "chunked/no CRLF after the data", pieces: []string{chunked, "5\r\nhelloXX\r\n0\r\n\r\n"}, status: 200, body: "hello", bodyErr: "CRLF"},
	{name: "chunked/LF after the data", pieces: []string{chunked, "5\r\nhello\n0\r\n\r\n"}, status: 200, body: "hello", bodyErr: "CRLF"},
	{name: "chunked/cut inside a chunk", pieces: []string{chunked, "5\r\nhel"}, status: 200, body: "hel", cut: true},
	{name: "chunked/cut in the size line", pieces: []string{chunked, "5"}, status: 200, cut: true},
	{name: "chunked/cut before the data's CRLF", pieces: []string{chunked, "5\r\nhello"}, status: 200, body: "hello", cut: true},
	{name: "chunked/cut in the trailers", pieces: []string{chunked, "5\r\nhello\r\n0\r\n"}, status: 200, body: "hello", cut: true},
	{name: "chunked/cut in a trailer", pieces: []string{chunked, "5\r\nhello\r\n0\r\nX-T: 1\r\n"}, status: 200, body: "hello", cut: true},
	{name: "chunked/huge declared size", pieces: []string{chunked, "7fffffffffffffff\r\nabc"}, status: 200, body: "abc", cut: true},
	{name: "chunked/size over int64", pieces: []string{chunked, "8000000000000000\r\nabc"}, status: 200, bodyErr: "too large"},
	{name: "chunked/17 hex digits", pieces: []string{chunked, "10000000000000000\r\nabc"}, status: 200, bodyErr: "chunk size"},
	{name: "chunked/trailers over 4 KiB", pieces: []string{chunked, "5\r\nhello\r\n" + longTrailer}, status: 200, body: "hello", bodyErr: "trailer"},

	// Content-Length.
	{name: "length/exact", pieces: []string{ok200 + "Content-Length: 5\r\n\r\nhello"}, status: 200, body: "hello"},
	{name: "length/split", pieces: []string{ok200 + "Content-Length: 5\r\n", "\r\nhe", "l", "lo"}, status: 200, body: "hello"},
	{name: "length/zero", pieces: []string{ok200 + "Content-Length: 0\r\n\r\n"}, status: 200, body: ""},
	{name: "length/cut short", pieces: []string{ok200 + "Content-Length: 10\r\n\r\n", "hello"}, status: 200, body: "hello", cut: true},
	{name: "length/more bytes than declared", pieces: []string{ok200 + "Content-Length: 2\r\n\r\nokEXTRA"}, status: 200, body: "ok"},
	{name: "length/duplicates that agree", pieces: []string{ok200 + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"}, status: 200, body: "hello"},
	{name: "length/duplicates that conflict", pieces: []string{ok200 + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"}, rtErr: "Content-Length"},
	{name: "length/list that agrees", pieces: []string{ok200 + "Content-Length: 5, 5\r\n\r\nhello"}, status: 200, body: "hello",
		nethttp: lenient, why: "RFC 9110 §8.6 lets a recipient take a list of one repeated value"},
	{name: "length/list that conflicts", pieces: []string{ok200 + "Content-Length: 5, 6\r\n\r\nhello!"}, rtErr: "Content-Length"},
	{name: "length/not a number", pieces: []string{ok200 + "Content-Length: abc\r\n\r\nhello"}, rtErr: "Content-Length"},
	{name: "length/negative", pieces: []string{ok200 + "Content-Length: -1\r\n\r\nhello"}, rtErr: "Content-Length"},
	{name: "length/plus sign", pieces: []string{ok200 + "Content-Length: +5\r\n\r\nhello"}, rtErr: "Content-Length"},
	{name: "length/empty", pieces: []string{ok200 + "Content-Length: \r\n\r\nhello"}, rtErr: "Content-Length"},
	{name: "length/over int63", pieces: []string{ok200 + "Content-Length: 99999999999999999999\r\n\r\nhello"}, rtErr: "Content-Length"},

	// Up to the close.
	{name: "close/HTTP/1.1", pieces: []string{ok200 + "\r\n", "until ", "the close"}, status: 200, body: "until the close"},
	{name: "close/HTTP/1.0", pieces: []string{"HTTP/1.0 200 OK\r\n\r\nuntil the close"}, status: 200, body: "until the close"},
	{name: "close/empty", pieces: []string{ok200 + "\r\n"}, status: 200, body: ""},

	// No body.
	{name: "nobody/204", pieces: []string{"HTTP/1.1 204 No Content\r\n\r\n"}, status: 204, body: ""},
	{name: "nobody/304 with a length", pieces: []string{"HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n"}, status: 304, body: ""},
	{name: "nobody/HEAD with a length", method: http.MethodHead, pieces: []string{ok200 + "Content-Length: 100\r\n\r\n"}, status: 200, body: ""},
	{name: "nobody/HEAD chunked", method: http.MethodHead, pieces: []string{chunked}, status: 200, body: ""},
	{name: "nobody/101 without an upgrade", pieces: []string{"HTTP/1.1 101 Switching Protocols\r\n\r\n"}, status: 101, body: ""},

	// HTTP/1.0 and versions.
	{name: "version/HTTP/1.0 with a length", pieces: []string{"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"}, status: 200, body: "ok"},
	{name: "version/HTTP/1.2 is read as 1.1", pieces: []string{"HTTP/1.2 200 OK\r\nContent-Length: 2\r\n\r\nok"}, status: 200, body: "ok"},
	{name: "version/HTTP/2.0", pieces: []string{"HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok"}, rtErr: "version",
		nethttp: stricter, why: "this transport speaks HTTP/1.x only (RFC 9112 §2.3 is for minor versions)"},
	{name: "version/HTTP/1.0 chunked", pieces: []string{"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"}, status: 200, body: "hello",
		nethttp: differ, why: "net/http ignores Transfer-Encoding in HTTP/1.0 and gives the raw chunks up to the close; RFC 9112 §6.1 calls it faulty framing, to close after; the chunks are decoded here"},

	// Informational responses.
	{name: "1xx/100 and 103 in one write", pieces: []string{info + earlyHints + final}, status: 200, body: "ok",
		header: map[string]string{"Link": ""}},
	{name: "1xx/each apart", pieces: []string{info, earlyHints, ok200, "Content-Length: 2\r\n\r\n", "ok"}, status: 200, body: "ok"},
	{name: "1xx/five", pieces: []string{fiveInfos + final}, status: 200, body: "ok"},
	{name: "1xx/six", pieces: []string{sixInfos + final}, rtErr: "1xx",
		nethttp: stricter, why: "net/http once allowed five, as h1 does; Go 1.26's bounds them by its head limit only"},

	// Status lines.
	{name: "status/no reason", pieces: []string{"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok"}, status: 200, body: "ok"},
	{name: "status/two spaces", pieces: []string{"HTTP/1.1  200 OK\r\nContent-Length: 2\r\n\r\nok"}, status: 200, body: "ok"},
	{name: "status/letters", pieces: []string{"HTTP/1.1 2OO OK\r\n\r\n"}, rtErr: "status"},
	{name: "status/two digits", pieces: []string{"HTTP/1.1 20 OK\r\n\r\n"}, rtErr: "status"},
	{name: "status/four digits", pieces: []string{"HTTP/1.1 2000 OK\r\n\r\n"}, rtErr: "status"},
	{name: "status/no code", pieces: []string{"HTTP/1.1\r\n\r\n"}, rtErr: "status line"},
	{name: "status/not HTTP", pieces: []string{"ICY 200 OK\r\n\r\n"}, rtErr: "version"},
	{name: "status/below 100", pieces: []string{"HTTP/1.1 099 Low\r\nContent-Length: 2\r\n\r\nok"}, rtErr: "status",
		nethttp: stricter, why: "RFC 9110 §15: a status code is 100 to 599"},
	{name: "status/empty line", pieces: []string{"\r\n" + final}, rtErr: "status line"},

	// Header fields.
	{name: "header/no colon", pieces: []string{ok200 + "NoColon\r\nContent-Length: 2\r\n\r\nok"}, rtErr: "header"},
	{name: "header/empty name", pieces: []string{ok200 + ": v\r\nContent-Length: 2\r\n\r\nok"}, rtErr: "header"},
	{name: "header/space before the colon", pieces: []string{ok200 + "X-A : b\r\nContent-Length: 2\r\n\r\nok"}, rtErr: "header",
		nethttp: stricter, why: "RFC 9112 §5.1: no white space between name and colon; a known smuggling vector"},
	{name: "header/control byte in a value", pieces: []string{ok200 + "X-A: a\x01b\r\nContent-Length: 2\r\n\r\nok"}, rtErr: "header"},
	{name: "header/obs-fold", pieces: []string{obsFold}, status: 200, body: "ok", header: map[string]string{"X-Folded": "a b c"}},
	{name: "header/obs-fold split", pieces: []string{obsFold[:len(ok200)+12], obsFold[len(ok200)+12:]}, status: 200, body: "ok", header: map[string]string{"X-Folded": "a b c"}},
	{name: "header/obs-fold first", pieces: []string{obsFoldFirst}, rtErr: "header"},
	{name: "header/bare LF", pieces: []string{"HTTP/1.1 200 OK\nX-A: b\nContent-Length: 2\n\nok"}, status: 200, body: "ok", header: map[string]string{"X-A": "b"}},
	{name: "header/mixed line ends", pieces: []string{"HTTP/1.1 200 OK\r\nX-A: b\nContent-Length: 2\r\n\nok"}, status: 200, body: "ok"},
	{name: "header/values trimmed", pieces: []string{ok200 + "X-A: \t b \t\r\nContent-Length: 2\r\n\r\nok"}, status: 200, body: "ok", header: map[string]string{"X-A": "b"}},
	{name: "header/case of names", pieces: []string{ok200 + "x-lower-CASE: v\r\ncontent-length: 2\r\n\r\nok"}, status: 200, body: "ok", header: map[string]string{"X-Lower-Case": "v"}},
	{name: "header/the end split", pieces: []string{ok200 + "Content-Length: 2\r", "\n", "\r", "\nok"}, status: 200, body: "ok"},
	{name: "header/over the limit", maxHead: 1024, pieces: []string{bigHead}, rtErr: "headers exceeded", nethttp: noCompare},
	{name: "header/over the limit in pieces", maxHead: 1024, pieces: []string{bigHead[:500], bigHead[500:1500], bigHead[1500:]}, rtErr: "headers exceeded", nethttp: noCompare},
	{name: "header/over the default limit", pieces: []string{hugeHead}, rtErr: "headers exceeded", nethttp: noCompare},
	{name: "header/under the limit", maxHead: 1024, pieces: []string{nearHead}, status: 200, body: "ok"},

	// Transfer codings.
	{name: "coding/gzip", pieces: []string{ok200 + "Transfer-Encoding: gzip\r\n\r\nxx"}, rtErr: "transfer encoding"},
	{name: "coding/gzip, chunked", pieces: []string{ok200 + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"}, rtErr: "transfer encoding"},
	{name: "coding/identity", pieces: []string{ok200 + "Transfer-Encoding: identity\r\nContent-Length: 2\r\n\r\nok"}, rtErr: "transfer encoding"},
	{name: "coding/chunked twice", pieces: []string{ok200 + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"}, rtErr: "transfer encoding"},

	// The connection's end.
	{name: "eof/nothing", pieces: nil, rtErr: "EOF"},
	{name: "eof/in the head", pieces: []string{ok200 + "Content-Len"}, rtErr: "unexpected EOF"},
	{name: "eof/after the status line", pieces: []string{ok200}, rtErr: "unexpected EOF"},
}

// TestFraming reads every response of the table through h1, written as
// the table splits it, in one write, and a byte a write, over a pipe (each
// write one read), and as the table splits it over TCP with pauses.
func TestFraming(t *testing.T) {
	t.Parallel()
	for _, fc := range framings {
		t.Run(fc.name, func(t *testing.T) {
			t.Parallel()
			for mode, pieces := range splits(fc.pieces) {
				tr := newH1()
				tr.MaxResponseHeaderBytes = fc.maxHead
				tr.Dial = pipeDial(pieces...)
				fc.check(t, "pipe/"+mode, fetchBounded(t, tr, fc.method, "http://pipe.test/x"))
				tr.CloseIdleConnections()
			}
			s := newServer(t, scripted(2*time.Millisecond, fc.pieces...))
			tr := newH1()
			tr.MaxResponseHeaderBytes = fc.maxHead
			fc.check(t, "tcp", fetchBounded(t, tr, fc.method, s.url+"/x"))
			tr.CloseIdleConnections()
		})
	}
}

// TestFramingNetHTTP reads the same bytes through net/http's Transport
// and holds h1 to its answers, except where the table says otherwise and
// why.
func TestFramingNetHTTP(t *testing.T) {
	t.Parallel()
	for _, fc := range framings {
		if fc.nethttp == noCompare {
			continue
		}
		t.Run(fc.name, func(t *testing.T) {
			t.Parallel()
			for mode, pieces := range splits(fc.pieces) {
				ht := &http.Transport{DialContext: pipeDial(pieces...), DisableKeepAlives: true, DisableCompression: true}
				n := fetchBounded(t, ht, fc.method, "http://pipe.test/x")
				ht.CloseIdleConnections()
				tr := newH1()
				tr.MaxResponseHeaderBytes = fc.maxHead
				tr.Dial = pipeDial(pieces...)
				h := fetchBounded(t, tr, fc.method, "http://pipe.test/x")
				tr.CloseIdleConnections()
				nerr, herr := n.err(), h.err()
				switch fc.nethttp {
				case same:
					switch {
					case nerr != nil && herr != nil:
					case nerr != nil || herr != nil:
						t.Errorf("%s: net/http: %v; h1: %v", mode, nerr, herr)
					default:
						if n.resp.StatusCode != h.resp.StatusCode || string(n.body) != string(h.body) {
							t.Errorf("%s: net/http: %d %q; h1: %d %q", mode, n.resp.StatusCode, n.body, h.resp.StatusCode, h.body)
						}
						for k := range fc.header {
							if nv, hv := n.resp.Header.Values(k), h.resp.Header.Values(k); strings.Join(nv, "\n") != strings.Join(hv, "\n") {
								t.Errorf("%s: %s: net/http: %q; h1: %q", mode, k, nv, hv)
							}
						}
					}
				case stricter:
					if nerr != nil || herr == nil {
						t.Errorf("%s: stricter (%s) no longer holds: net/http: %v; h1: %v", mode, fc.why, nerr, herr)
					}
				case lenient:
					if nerr == nil || herr != nil {
						t.Errorf("%s: lenient (%s) no longer holds: net/http: %v; h1: %v", mode, fc.why, nerr, herr)
					}
				case differ:
					if nerr != nil || herr != nil || string(n.body) == string(h.body) {
						t.Errorf("%s: differ (%s) no longer holds: net/http: %v %q; h1: %v %q", mode, fc.why, nerr, n.body, herr, h.body)
					}
				}
			}
		})
	}
}

// splits gives the table's pieces, the whole in one write, and one byte a
// write.
func splits(pieces []string) map[string][]string {
	whole := strings.Join(pieces, "")
	bytes := make([]string, len(whole))
	for i := range whole {
		bytes[i] = whole[i : i+1]
	}
	return map[string][]string{"as written": pieces, "one write": {whole}, "a byte a write": bytes}
}

func fetchBounded(t *testing.T, rt http.RoundTripper, method, url string) result {
	t.Helper()
	if method == "" {
		method = http.MethodGet
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := fetch(ctx, rt, method, url)
	if ctx.Err() != nil {
		t.Fatalf("no answer in 10 s: %v", r.err())
	}
	return r
}

func (fc framing) check(t *testing.T, mode string, r result) {
	t.Helper()
	if fc.rtErr != "" {
		if r.rtErr == nil {
			t.Errorf("%s: RoundTrip: no error, want one saying %q (status %d, body %q)", mode, fc.rtErr, r.resp.StatusCode, r.body)
		} else if !strings.Contains(r.rtErr.Error(), fc.rtErr) {
			t.Errorf("%s: RoundTrip: %v, want one saying %q", mode, r.rtErr, fc.rtErr)
		}
		return
	}
	if r.rtErr != nil {
		t.Errorf("%s: RoundTrip: %v", mode, r.rtErr)
		return
	}
	if r.resp.StatusCode != fc.status {
		t.Errorf("%s: status %d, want %d", mode, r.resp.StatusCode, fc.status)
	}
	if string(r.body) != fc.body {
		t.Errorf("%s: body %q, want %q", mode, r.body, fc.body)
	}
	for k, v := range fc.header {
		if got := r.resp.Header.Values(k); v == "" && len(got) > 0 || v != "" && (len(got) != 1 || got[0] != v) {
			t.Errorf("%s: %s: %q, want %q", mode, k, got, v)
		}
	}
	switch {
	case fc.cut:
		if !errors.Is(r.bodyErr, io.ErrUnexpectedEOF) {
			t.Errorf("%s: body's error %v, want io.ErrUnexpectedEOF", mode, r.bodyErr)
		}
	case fc.bodyErr != "":
		if r.bodyErr == nil || !strings.Contains(r.bodyErr.Error(), fc.bodyErr) {
			t.Errorf("%s: body's error %v, want one saying %q", mode, r.bodyErr, fc.bodyErr)
		}
		var m h1.ErrMalformed
		if !errors.As(r.bodyErr, &m) {
			t.Errorf("%s: body's error %T is no h1.ErrMalformed", mode, r.bodyErr)
		}
	case r.bodyErr != nil:
		t.Errorf("%s: body's error %v", mode, r.bodyErr)
	}
}
