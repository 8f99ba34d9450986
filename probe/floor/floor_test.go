//go:build linux

package floor

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The reader must see each chunked response end exactly once however the
// server's writes fall into reads, and only at its end, so that what it
// costs is the cost of reading whole streams.
func TestReaderReadsStreamsToTheirEnd(t *testing.T) {
	var served atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fl := w.(http.Flusher)
		for i := range 20 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			fl.Flush()
			if i%5 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		served.Add(1)
	}))
	defer ts.Close()
	const n, rounds = 4, 3
	req := []byte("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
	var ends [n]atomic.Int64
	got := make(chan int, n*rounds)
	var r *Reader
	r, err := New(strings.TrimPrefix(ts.URL, "http://"), n, req, func(i int) error {
		got <- i
		if ends[i].Add(1) < rounds {
			return r.Send(i)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	errc := make(chan error, 1)
	go func() { errc <- r.Run() }()
	for i := range n {
		if err := r.Send(i); err != nil {
			t.Fatal(err)
		}
	}
	for range n * rounds {
		select {
		case <-got:
		case err := <-errc:
			t.Fatalf("Run returned early: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("responses did not end")
		}
	}
	r.Stop()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if e := ends[i].Load(); e != rounds {
			t.Errorf("stream %d: %d ends, want %d", i, e, rounds)
		}
	}
	if s := served.Load(); s != n*rounds {
		t.Errorf("server served %d responses, want %d", s, n*rounds)
	}
}

func TestNewRefusesWhatItCannotDial(t *testing.T) {
	for _, addr := range []string{"localhost", "[::1]:80", "127.0.0.1:x"} {
		if _, err := New(addr, 1, nil, nil); err == nil {
			t.Errorf("New(%q) = nil error", addr)
		}
	}
}
