package h1_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/probe/h1"
)

// FuzzResponse feeds arbitrary bytes, as a server's response written in
// pieces of split bytes (0: one write), to h1's Transport and to
// net/http's. Neither may panic or hang; where net/http takes the
// response and reads its body without an error, h1 must give the same
// status, the same body and the same fields, but for the cases below,
// where h1 is stricter or reads otherwise on purpose, each skipped by
// what marks it and nothing broader.
func FuzzResponse(f *testing.F) {
	for _, fc := range framings {
		f.Add([]byte(strings.Join(fc.pieces, "")), uint8(0))
	}
	for _, s := range []string{
		chunked + "5\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n",
		ok200 + "Content-Length: 5\r\n\r\nhello",
		info + ok200 + "X-A: a\r\n b\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.0 200 OK\r\n\r\nclose",
		"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n3\r\nabc\r\n0\r\n\n",
	} {
		for _, split := range []uint8{0, 1, 3, 7} {
			f.Add([]byte(s), split)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		if len(data) > 16<<10 {
			return // the head limit's paths are TestFraming's; a byte a write stays fast
		}
		var pieces []string
		for rest := string(data); len(rest) > 0; {
			k := len(rest)
			if split > 0 {
				k = min(k, int(split))
			}
			pieces, rest = append(pieces, rest[:k]), rest[k:]
		}
		// A hang the context cannot end (a loop that never reads) fails
		// with every goroutine's stack.
		watchdog := time.AfterFunc(20*time.Second, func() {
			buf := make([]byte, 1<<20)
			panic("WATCHDOG\n" + string(buf[:runtime.Stack(buf, true)]))
		})
		defer watchdog.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ht := &http.Transport{DialContext: pipeDial(pieces...), DisableKeepAlives: true, DisableCompression: true}
		// The informational responses' fields, which net/http reads and
		// drops.
		var infoKeys []string
		nctx := httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{Got1xxResponse: func(_ int, h textproto.MIMEHeader) error {
			infoKeys = append(infoKeys, keys(http.Header(h))...)
			return nil
		}})
		n := fetch(nctx, ht, http.MethodGet, "http://pipe.test/")
		ht.CloseIdleConnections()
		tr := &h1.Transport{Dial: pipeDial(pieces...)}
		h := fetch(ctx, tr, http.MethodGet, "http://pipe.test/")
		tr.CloseIdleConnections()
		if ctx.Err() != nil {
			t.Fatalf("no answer in 10 s: net/http: %v; h1: %v", n.err(), h.err())
		}
		if n.err() != nil {
			return // net/http refuses it; h1 may too, or take it where RFC 9112 lets it
		}
		// Where h1 is stricter than net/http, on purpose:
		switch {
		case n.resp.ProtoMajor != 1:
			return // HTTP/1.x only; net/http takes any HTTP/d.d
		case n.resp.StatusCode < 100:
			return // a status code is 100 to 599 (RFC 9110 §15); net/http takes 000 to 099
		case n.resp.StatusCode == http.StatusSwitchingProtocols:
			return // no upgrades: net/http gives the connection as the body, h1 closes it
		case slices.ContainsFunc(slices.Concat(keys(n.resp.Header), infoKeys), func(k string) bool { return strings.ContainsAny(k, " \t") }):
			return // white space before a field's colon (RFC 9112 §5.1); net/http keeps such names
		}
		if n.resp.ProtoMinor == 0 && h.resp != nil && h.resp.TransferEncoding != nil {
			// HTTP/1.0 with Transfer-Encoding: chunked: net/http ignores
			// the field and gives the chunks raw up to the close; RFC
			// 9112 §6.1 has it faulty framing; h1 decodes the chunks,
			// and refuses them where they are no chunked coding.
			return
		}
		if h.err() != nil {
			var m h1.ErrMalformed
			switch {
			case errors.As(h.err(), &m) && m.What == "too many 1xx informational responses":
				return // at most five 1xx; Go 1.26's net/http bounds them by its head limit only
			case errors.As(h.err(), &m) && otherMajor(m.What):
				return // HTTP/1.x only, in a 1xx as well; net/http takes any HTTP/d.d there
			case errors.As(h.err(), &h1.ErrHeaderTooLarge{}):
				return // a 64 KiB head limit here, 10 MB in net/http
			case n.resp.ProtoMinor == 0 && errors.As(h.err(), &m) && strings.HasPrefix(m.What, "unsupported transfer encoding"):
				return // HTTP/1.0 with a Transfer-Encoding: net/http ignores the field
			}
			t.Fatalf("net/http: %d %q; h1: %v", n.resp.StatusCode, n.body, h.err())
		}
		if n.resp.StatusCode != h.resp.StatusCode || !bytes.Equal(n.body, h.body) {
			t.Fatalf("net/http: %d %q; h1: %d %q", n.resp.StatusCode, n.body, h.resp.StatusCode, h.body)
		}
		if n.resp.ProtoMinor != h.resp.ProtoMinor {
			t.Fatalf("net/http: %s; h1: %s", n.resp.Proto, h.resp.Proto)
		}
		// The fields, but those net/http rewrites: the framing's, which
		// it removes or folds, Connection (it drops "close"), and
		// Cache-Control (it adds one for Pragma: no-cache).
		for _, k := range union(keys(n.resp.Header), keys(h.resp.Header)) {
			switch k {
			case "Transfer-Encoding", "Content-Length", "Trailer", "Connection", "Cache-Control":
				continue
			}
			if nv, hv := n.resp.Header[k], h.resp.Header[k]; !slices.Equal(nv, hv) {
				t.Fatalf("%s: net/http: %q; h1: %q", k, nv, hv)
			}
		}
	})
}

// otherMajor reports whether h1's error is for a version net/http takes,
// HTTP/d.d, of a major version not 1.
func otherMajor(what string) bool {
	q, ok := strings.CutPrefix(what, "unsupported protocol version ")
	if !ok {
		return false
	}
	v, err := strconv.Unquote(q)
	return err == nil && len(v) == 8 && strings.HasPrefix(v, "HTTP/") && v[6] == '.' &&
		v[5] != '1' && '0' <= v[5] && v[5] <= '9' && '0' <= v[7] && v[7] <= '9'
}

func keys(h http.Header) []string {
	ks := make([]string, 0, len(h))
	for k := range h {
		ks = append(ks, k)
	}
	return ks
}

func union(a, b []string) []string {
	u := slices.Concat(a, b)
	slices.Sort(u)
	return slices.Compact(u)
}
