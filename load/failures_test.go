package load

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/probe"
)

// TestDeadEndpointStopsAtOnce: a server that refuses every request (here
// the wrong model name, as vLLM words it) ends the run within a second in
// every mode, with the server's message as the reason, instead of being
// hammered for the step's duration.
func TestDeadEndpointStopsAtOnce(t *testing.T) {
	const msg = "The model `sim` does not exist."
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"error":{"message":%q,"type":"NotFoundError","code":404}}`, msg)
	}))
	defer srv.Close()
	c := probe.NewClient(probe.Endpoint{Name: "t", URL: srv.URL, Model: "sim", Stream: true})
	defer c.CloseIdle()

	for _, o := range []Options{
		{Mode: ModeThroughput, VUs: 4, Duration: time.Minute},
		{Mode: ModeThroughput, VUs: 1, Duration: time.Minute, Warmup: 30 * time.Second},
		{Mode: ModeRate, Rates: []float64{50, 100}, Duration: time.Minute},
		{Mode: ModeSweep, MaxVUs: 8, NumRates: 10, Duration: 2 * time.Minute, Warmup: 30 * time.Second},
	} {
		t.Run(fmt.Sprintf("%s warmup %s", o.Mode, o.Warmup), func(t *testing.T) {
			hits.Store(0)
			start := time.Now()
			res := run(o, c)
			if took := time.Since(start); took > time.Second {
				t.Errorf("the run took %v against a dead endpoint", took)
			}
			if !strings.Contains(res.StopReason, "the first request failed with http_4xx") || !strings.Contains(res.StopReason, msg) {
				t.Errorf("stop reason %q, want the dead-endpoint verdict with the server's message", res.StopReason)
			}
			if len(res.Steps) != 1 {
				t.Errorf("%d steps ran, want 1", len(res.Steps))
			}
			// A step of 60 s against a server refusing in microseconds would
			// send hundreds of thousands; the stop lets a few through (once
			// seen, under a loaded CI machine, 82 for 4 users).
			if n := hits.Load(); n > 200 {
				t.Errorf("%d requests sent to a dead endpoint (summary: %d requests)", n, res.Summary.Requests)
			}
			if res.Summary.Successful != 0 || res.Passed {
				t.Errorf("successful %d, passed %v", res.Summary.Successful, res.Passed)
			}
			if o.Warmup == 0 {
				got := res.Summary.ErrorMessages[string(probe.ResultHTTP4xx)]
				if len(got) != 1 || !strings.Contains(got[0], msg) {
					t.Errorf("error messages %q, want the server's one message", got)
				}
			}
		})
	}
}

// flakySender fails its first n calls with the given message, then
// succeeds (fail < 0: fails every call after the first success).
type flakySender struct {
	fakeSender
	n     int64
	after bool // fail after the first success instead
}

func (f *flakySender) Do(ctx context.Context, req probe.Request) *probe.Record {
	i := f.calls.Load() // fakeSender.Do increments
	rec := f.fakeSender.Do(ctx, req)
	if (!f.after && i < f.n) || (f.after && i > 0) {
		rec.Result, rec.Error = probe.ResultHTTP5xx, "HTTP 500: busy"
		rec.Chunks, rec.OutputTokens = nil, 0
	}
	return rec
}

// TestDeadEndpointUnmendable: a refused connection stops a 1 req/s run at
// its first request, within a second, as a 404 does.
func TestDeadEndpointUnmendable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	c := probe.NewClient(probe.Endpoint{Name: "t", URL: url, Model: "m", Stream: true})
	start := time.Now()
	res := run(Options{Mode: ModeRate, Rates: []float64{1}, Duration: 30 * time.Second, Warmup: 10 * time.Second}, c)
	if took := time.Since(start); took > time.Second || !strings.Contains(res.StopReason, "connection refused") ||
		res.Summary.Requests+res.Summary.Interrupted > 1 {
		t.Errorf("took %v, stop reason %q, %d requests", took, res.StopReason, res.Summary.Requests)
	}
}

// TestDeadEndpointThreshold: four failures before a success, or failures
// after one, are not a dead endpoint.
func TestDeadEndpointThreshold(t *testing.T) {
	for _, tt := range []struct {
		name string
		s    *flakySender
		dead bool
	}{
		{"4 failures then successes", &flakySender{n: DeadEndpointFailures - 1}, false},
		{"5 failures", &flakySender{n: DeadEndpointFailures}, true},
		{"one success then failures", &flakySender{after: true}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := run(Options{Mode: ModeThroughput, VUs: 1, NumRequests: 12, StopErrorRatio: 1}, tt.s)
			dead := strings.Contains(res.StopReason, "all failed")
			if dead != tt.dead {
				t.Errorf("stop reason %q; dead endpoint %v, want %v", res.StopReason, dead, tt.dead)
			}
			if !tt.dead && res.Summary.Requests != 12 {
				t.Errorf("%d requests, want all 12", res.Summary.Requests)
			}
		})
	}
}

// msgSender fails every request with a message from msgs in turn, and
// reports conn retries on each.
type msgSender struct {
	msgs    []string
	i       atomic.Int64
	retries int
}

func (m *msgSender) Do(context.Context, probe.Request) *probe.Record {
	i := m.i.Add(1) - 1
	now := time.Now()
	rec := &probe.Record{Start: now, End: now.Add(time.Millisecond), ConnRetries: m.retries}
	if msg := m.msgs[int(i)%len(m.msgs)]; msg != "" {
		rec.Result, rec.Error = probe.ResultProtocol, msg
	} else {
		rec.Result, rec.OutputTokens, rec.Chunks = probe.ResultSuccess, 1, []time.Duration{time.Microsecond}
		rec.FirstToken = now.Add(time.Microsecond)
	}
	return rec
}

func TestErrorMessagesBounded(t *testing.T) {
	long := strings.Repeat("é", 400) // cut inside a rune must stay valid UTF-8
	s := &msgSender{msgs: []string{"", "a", "a", "b", long, "c", "d"}, retries: 2}
	res := run(Options{Mode: ModeRate, Rates: []float64{200, 200}, NumRequests: 14, StopErrorRatio: 1}, s)
	got := res.Summary.ErrorMessages[string(probe.ResultProtocol)]
	if len(got) != maxMessagesPerClass || got[0] != "a" || got[1] != "b" {
		t.Fatalf("messages %q, want the first %d distinct: a, b, then the long one", got, maxMessagesPerClass)
	}
	if !strings.HasSuffix(got[2], "…") || len(got[2]) > maxMessageBytes+len("…") || !strings.HasPrefix(got[2], "éé") {
		t.Errorf("long message kept as %d bytes %q…", len(got[2]), got[2][:10])
	}
	for _, st := range res.Steps {
		if n := len(st.Summary.ErrorMessages[string(probe.ResultProtocol)]); n != maxMessagesPerClass {
			t.Errorf("step %d keeps %d messages", st.Index, n)
		}
	}
	// Every request carried 2 connection retries, failed or not.
	if want := 2 * (res.Summary.Requests); res.Summary.ConnectionRetries != want {
		t.Errorf("connection retries %d, want %d", res.Summary.ConnectionRetries, want)
	}
	if res.Summary.Requests != 28 {
		t.Errorf("%d requests, want 28", res.Summary.Requests)
	}
}

// cachedSender succeeds, every other request marked a cold cache hit.
type cachedSender struct{ fakeSender }

func (c *cachedSender) Do(ctx context.Context, req probe.Request) *probe.Record {
	i := c.calls.Load()
	rec := c.fakeSender.Do(ctx, req)
	rec.ColdCacheHit = i%2 == 0
	return rec
}

// TestColdCacheHitsInSummary: the run's summary says how many cold requests
// the server's prefix cache served, over every step.
func TestColdCacheHitsInSummary(t *testing.T) {
	res := run(Options{Mode: ModeRate, Rates: []float64{200, 200}, NumRequests: 10}, &cachedSender{})
	if res.Summary.ColdCacheHits != 10 || res.Summary.Successful != 20 {
		t.Errorf("%d cold cache hits of %d successful, want 10 of 20", res.Summary.ColdCacheHits, res.Summary.Successful)
	}
	for _, st := range res.Steps {
		if st.Summary.ColdCacheHits != 5 {
			t.Errorf("step %d: %d cold cache hits, want 5", st.Index, st.Summary.ColdCacheHits)
		}
	}
}
