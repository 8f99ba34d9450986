package load

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/probe"
	"github.com/llmprobe/llmprobe/servermetrics"
)

// countingServer is a sender whose requests a vLLM-like page counts in its
// TTFT histogram (each 20 ms) as they end, as a server records them before
// the client sees the end.
type countingServer struct {
	fakeSender
	done, running atomic.Int64
}

func (c *countingServer) Do(ctx context.Context, req probe.Request) *probe.Record {
	c.running.Add(1)
	rec := c.fakeSender.Do(ctx, req)
	c.done.Add(1)
	c.running.Add(-1)
	return rec
}

func (c *countingServer) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	n := c.done.Load()
	fmt.Fprintf(w, "# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running %d\n", c.running.Load())
	fmt.Fprintf(w, "# TYPE vllm:time_to_first_token_seconds histogram\n")
	fmt.Fprintf(w, "vllm:time_to_first_token_seconds_bucket{le=\"+Inf\"} %d\n", n)
	fmt.Fprintf(w, "vllm:time_to_first_token_seconds_sum %g\nvllm:time_to_first_token_seconds_count %d\n", 0.02*float64(n), n)
}

func TestServerSamplerMarksSteps(t *testing.T) {
	srv := &countingServer{fakeSender: fakeSender{latency: 20 * time.Millisecond, tokens: 2}}
	page := httptest.NewServer(srv)
	defer page.Close()
	ss := NewServerSampler(&servermetrics.Scraper{URL: page.URL}, 50*time.Millisecond)
	steps := 0
	r, err := New(srv, fixedRequests{}, Options{Mode: ModeRate, Rates: []float64{40, 80}, Duration: 500 * time.Millisecond, Warmup: 400 * time.Millisecond},
		ss.Hooks(Hooks{Step: func(*Step) { steps++ }}))
	if err != nil {
		t.Fatal(err)
	}
	ss.Start(context.Background(), r)
	res := r.Run(context.Background())
	run := ss.Finish(context.Background(), false)
	AttachServer(res, run)

	if steps != 2 {
		t.Errorf("the caller's Step hook ran %d times", steps)
	}
	for _, k := range []string{MarkStart, StepStartMark(1), StepEndMark(1), StepEndMark(2), MarkAfter} {
		if _, ok := run.Marks[k]; !ok {
			t.Errorf("no %s mark (have %v)", k, run.Marks)
		}
	}
	if !run.Settled || run.Note != "" {
		t.Errorf("settled %v note %q", run.Settled, run.Note)
	}
	s1, s2 := res.Steps[0], res.Steps[1]
	// step 2 starts at step 1's end mark, after its drain: exact
	if s2.Server == nil || s2.Server.TTFT == nil || int64(s2.Server.TTFT.Count) != s2.Summary.Requests {
		t.Fatalf("step 2: server counted %+v, the client %d", s2.Server.TTFT, s2.Summary.Requests)
	}
	// step 1 starts at the end of its warmup, seen within the runner's
	// 200 ms monitor tick and the 50 ms watch: up to 12 requests at 40/s
	if d := int64(s1.Server.TTFT.Count) - s1.Summary.Requests; d < -12 || d > 12 {
		t.Errorf("step 1: server counted %v, the client %d", s1.Server.TTFT.Count, s1.Summary.Requests)
	}
	if s2.Server.Scrapes < 5 || s2.Server.RequestsRunning == nil || s2.Server.RequestsRunning.Max < 1 || s2.Server.RequestsRunning.Last != 0 {
		t.Errorf("step 2 gauges: %d scrapes, running %+v", s2.Server.Scrapes, s2.Server.RequestsRunning)
	}
	if b := s2.Server.Breakdown; b == nil || b.ServerTTFTMS != 20 {
		t.Errorf("breakdown %+v", b)
	}
	if len(res.Server.Verdicts) != 4 {
		t.Errorf("verdicts %+v", res.Server.Verdicts)
	}
}
