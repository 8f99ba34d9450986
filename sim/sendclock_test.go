package sim

import (
	"context"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestSendClockOrder: sleepers due in any order all wake, none before its
// deadline, on one shard's timer.
func TestSendClockOrder(t *testing.T) {
	c := newSendClock()
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Now()
	var wg sync.WaitGroup
	early := make(chan time.Duration, 200)
	for range 200 {
		due := start.Add(time.Duration(rng.IntN(30_000)) * time.Microsecond)
		wg.Go(func() {
			sl := c.sleeper(context.Background(), context.Background())
			defer sl.release()
			if !sl.until(due) {
				t.Error("a wait ended without its context ending")
			}
			if d := time.Until(due); d > 0 {
				early <- d
			}
		})
	}
	wg.Wait()
	close(early)
	for d := range early {
		t.Errorf("woken %v early", d)
	}
}

// TestSendClockCancel: a request's or an epoch's end ends its wait at once,
// and every later one; the sleeper leaves the heap.
func TestSendClockCancel(t *testing.T) {
	c := newSendClock()
	for _, which := range []string{"request", "epoch"} {
		req, cancelReq := context.WithCancel(context.Background())
		ep, cancelEp := context.WithCancel(context.Background())
		sl := c.sleeper(req, ep)
		done := make(chan bool)
		go func() { done <- sl.until(time.Now().Add(time.Hour)) }()
		time.Sleep(10 * time.Millisecond)
		if which == "request" {
			cancelReq()
		} else {
			cancelEp()
		}
		select {
		case ok := <-done:
			if ok {
				t.Errorf("%s ended: the wait reported its deadline", which)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s ended: the wait did not end", which)
		}
		if sl.until(time.Now().Add(time.Hour)) {
			t.Errorf("%s ended: a later wait did not end at once", which)
		}
		if sl.idx != -1 {
			t.Errorf("%s ended: the sleeper is still in the heap at %d", which, sl.idx)
		}
		sl.release()
		cancelReq()
		cancelEp()
	}
}

// TestSendClockIdleExit: a shard's goroutine goes away when it has had
// nothing to wake for a while, and comes back for the next sleeper.
func TestSendClockIdleExit(t *testing.T) {
	c := newSendClock()
	sl := c.sleeper(context.Background(), context.Background())
	sl.until(time.Now().Add(time.Millisecond))
	sl.release()
	waitFor(t, 3*clockIdle, "the shard's goroutine to exit", func() bool {
		for i := range c.shards {
			sh := &c.shards[i]
			sh.mu.Lock()
			running := sh.running
			sh.mu.Unlock()
			if running {
				return false
			}
		}
		return true
	})
	sl = c.sleeper(context.Background(), context.Background())
	defer sl.release()
	if !sl.until(time.Now().Add(time.Millisecond)) {
		t.Error("no wake-up after the shard's goroutine exited")
	}
}

// TestSendLagAndTrace: every streamed chunk is on the send lag histogram
// and in the trace, due ITL apart and never sent before it was due; the
// vLLM-named metrics are still on the page.
func TestSendLagAndTrace(t *testing.T) {
	const n, itl = 12, 2 * time.Millisecond
	s, ts := newTestServer(t, Config{TTFT: 5 * time.Millisecond, ITL: itl, OutputTokens: n})
	var mu sync.Mutex
	var traces []SendTrace
	s.TraceSends(func(tr *SendTrace) {
		mu.Lock()
		defer mu.Unlock()
		traces = append(traces, SendTrace{Remote: tr.Remote, Arrival: tr.Arrival,
			Due: append([]int64(nil), tr.Due...), Sent: append([]int64(nil), tr.Sent...)})
	})
	c := newClient(t)
	resp, err := post(context.Background(), c, ts.URL+"/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"stream":true}`)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	mu.Lock()
	if len(traces) != 1 || len(traces[0].Due) != n || len(traces[0].Sent) != n {
		t.Fatalf("traces %+v, want one of %d chunks", traces, n)
	}
	tr := traces[0]
	mu.Unlock()
	if tr.Remote == "" || tr.Arrival == 0 {
		t.Errorf("trace without its client or arrival: %+v", tr)
	}
	for i := range n {
		if tr.Sent[i] < tr.Due[i] {
			t.Errorf("chunk %d sent %v before it was due", i, time.Duration(tr.Due[i]-tr.Sent[i]))
		}
		if i > 0 && time.Duration(tr.Due[i]-tr.Due[i-1]) != itl {
			t.Errorf("chunks %d and %d due %v apart, want %v", i-1, i, time.Duration(tr.Due[i]-tr.Due[i-1]), itl)
		}
	}

	resp, err = c.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	lag := fams["llmprobe_sim_send_lag_seconds"]
	if lag == nil || len(lag.GetMetric()) != 1 {
		t.Fatalf("no send lag histogram on the page")
	}
	if got := lag.GetMetric()[0].GetHistogram().GetSampleCount(); got != n {
		t.Errorf("send lag histogram counts %d chunks, want %d", got, n)
	}
	for name := range fams {
		if !strings.HasPrefix(name, "vllm:") && name != "llmprobe_sim_send_lag_seconds" && name != "process_resident_memory_bytes" {
			t.Errorf("unexpected family %s", name)
		}
	}
	if fams["vllm:generation_tokens_total"] == nil {
		t.Error("the vLLM-named metrics are gone")
	}
}
