package sim

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// discardWriter is a flushable ResponseWriter that keeps nothing.
type discardWriter struct {
	h http.Header
	n int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Write(b []byte) (int, error) { d.n += len(b); return len(b), nil }
func (d *discardWriter) Flush()                      {}

func streamBody(tokens int) string {
	return `{"model":"sim-model","messages":[{"role":"user","content":"Hello, simulated model!"}],"stream":true,"max_tokens":` +
		strconv.Itoa(tokens) + `,"stream_options":{"include_usage":true,"continuous_usage_stats":true}}`
}

// serveOne runs one streamed request through the handler, in process.
func serveOne(s *Server, w *discardWriter, body string) {
	clear(w.h)
	r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
	s.ServeHTTP(w, r)
}

// BenchmarkStream measures the handler's own cost per streamed token (no
// network, no timer waits: TTFT and ITL are 1ns). allocs/token is the
// figure to keep near 0.
func BenchmarkStream(b *testing.B) {
	const tokens = 256
	s := New(Config{TTFT: 1, ITL: 1, OutputTokens: tokens})
	w := &discardWriter{h: http.Header{}}
	body := streamBody(tokens)
	serveOne(s, w, body) // warm the pool
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		serveOne(s, w, body)
	}
	elapsed := time.Since(start)
	runtime.ReadMemStats(&ms1)
	n := float64(b.N) * tokens
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/n, "allocs/token")
	b.ReportMetric(float64(elapsed.Nanoseconds())/n, "ns/token")
}

// BenchmarkStreamHTTP streams over loopback HTTP with a real client, many
// streams at once.
func BenchmarkStreamHTTP(b *testing.B) {
	const tokens = 64
	_, ts := newTestServer(b, Config{TTFT: 1, ITL: 1, OutputTokens: tokens})
	c := newClient(b)
	body := streamBody(tokens)
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := post(context.Background(), c, ts.URL+"/v1/chat/completions", body)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	b.ReportMetric(float64(b.N)*tokens/b.Elapsed().Seconds(), "tokens/s")
}

// TestAllocsPerToken guards the per-token allocation budget: a long stream
// must not allocate more than a short one, beyond noise.
func TestAllocsPerToken(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	s := New(Config{TTFT: 1, ITL: 1, OutputTokens: 1000})
	w := &discardWriter{h: http.Header{}}
	var mu sync.Mutex // AllocsPerRun needs a func()
	run := func(tokens int) float64 {
		body := streamBody(tokens)
		return testing.AllocsPerRun(20, func() {
			mu.Lock()
			serveOne(s, w, body)
			mu.Unlock()
		})
	}
	short, long := run(10), run(1000)
	perToken := (long - short) / 990
	t.Logf("allocs per request: %v for 10 tokens, %v for 1000: %.3f per token", short, long, perToken)
	if perToken > 0.05 {
		t.Errorf("%.3f allocations per token, want ~0", perToken)
	}
}
