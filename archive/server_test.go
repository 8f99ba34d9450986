package archive

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/probe"
	"github.com/llmprobe/llmprobe/servermetrics"
	"github.com/llmprobe/llmprobe/sim"
	"github.com/llmprobe/llmprobe/sim/simtest"
)

type tokensRequests int

func (n tokensRequests) Next() probe.Request { return probe.Request{Prompt: "hi", MaxTokens: int(n)} }

// simJob is a job against the simulator at url, its metrics page scraped
// every 50 ms.
func simJob(url string, o load.Options, tokens int) *Job {
	client := probe.NewClient(probe.Endpoint{Name: "sim", URL: url, Model: sim.DefaultModel, Kind: probe.Chat, Stream: true, Timeout: 30 * time.Second})
	return &Job{
		Started: time.Now(), Send: client, Requests: tokensRequests(tokens), Options: o,
		Server: &servermetrics.Scraper{URL: url + "/metrics"}, ServerEvery: 50 * time.Millisecond,
		ServerSettle: time.Second,
	}
}

func verdict(t *testing.T, res *load.Result, name string) load.Verdict {
	t.Helper()
	if res.Server == nil {
		t.Fatal("no server view")
	}
	for _, v := range res.Server.Verdicts {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("no %s verdict in %+v", name, res.Server.Verdicts)
	return load.Verdict{}
}

// TestServerViewPastCapacity drives the simulator (4 slots, 95 ms a
// request: about 42 req/s) at rates below and above its capacity: the
// server's waiting requests are above zero exactly in the overloaded
// steps, and the server's queue time explains the client's TTFT growth
// within 10 %.
func TestServerViewPastCapacity(t *testing.T) {
	url := simtest.Start(t, sim.Config{TTFT: 50 * time.Millisecond, ITL: 5 * time.Millisecond, OutputTokens: 10, MaxConcurrency: 4})
	rates := []float64{10, 20, 60, 80}
	overloaded := []bool{false, false, true, true}
	res, err := RunJob(context.Background(), nil, simJob(url, load.Options{
		Mode: load.ModeRate, Rates: rates, Duration: 1500 * time.Millisecond, Name: "overload", Target: "sim",
	}, 10))
	if res == nil || err != nil {
		t.Fatal(res, err)
	}
	if len(res.Steps) != len(rates) || res.Summary.Failed != 0 {
		t.Fatalf("%d steps, %d failed: %s", len(res.Steps), res.Summary.Failed, res.StopReason)
	}
	if res.Server == nil || res.Server.Timeline == nil || res.Server.Timeline.Server != servermetrics.VLLM || res.Server.Note != "" {
		t.Fatalf("server view %+v", res.Server)
	}
	base := res.Steps[0].Server.Breakdown
	for i, st := range res.Steps {
		ss := st.Server
		if ss == nil || ss.RequestsWaiting == nil || ss.Breakdown == nil || ss.QueueTime == nil {
			t.Fatalf("step %d: server view %+v", st.Index, ss)
		}
		if got := ss.RequestsWaiting.Max > 0; got != overloaded[i] {
			t.Errorf("step %d at %g req/s: waiting max %g, overloaded %v", st.Index, rates[i], ss.RequestsWaiting.Max, overloaded[i])
		}
		if int64(ss.TTFT.Count) != st.Summary.Successful {
			t.Errorf("step %d: the server counted %g TTFTs, the client %d requests", st.Index, ss.TTFT.Count, st.Summary.Successful)
		}
		b := ss.Breakdown
		t.Logf("step %d %4g req/s: waiting max %3g, KV max %.3f, client TTFT %7.1f ms, server %7.1f (queue %7.1f, prefill %5.1f), other %.1f, queue share %.2f",
			st.Index, rates[i], ss.RequestsWaiting.Max, ss.KVCacheUsage.Max, b.ClientTTFTMS, b.ServerTTFTMS, b.QueueMS, b.PrefillMS, b.OtherMS, b.QueueShare)
		if !overloaded[i] {
			continue
		}
		growth := b.ClientTTFTMS - base.ClientTTFTMS
		queued := b.QueueMS - base.QueueMS
		if growth < 100 || math.Abs(growth-queued) > 0.1*growth {
			t.Errorf("step %d: client TTFT grew %.1f ms, server queue time %.1f ms: not within 10 %%", st.Index, growth, queued)
		}
	}
	for _, name := range []string{load.VerdictStuckRequests, load.VerdictServerRestart, load.VerdictServerMemoryGrowth, load.VerdictPreemptions} {
		if v := verdict(t, res, name); v.Failed || v.Undecided {
			t.Errorf("%s: %+v", name, v)
		}
	}
}

// TestServerVerdictsAgainstSimFaults: the simulator's leak, restart and
// lost-slot faults each fail their verdict; the same soak without them
// fails none.
func TestServerVerdictsAgainstSimFaults(t *testing.T) {
	soak := load.Options{Mode: load.ModeRate, Rates: []float64{50}, Duration: 2 * time.Second, Name: "soak", Target: "sim"}
	for _, tc := range []struct {
		name   string
		faults sim.Faults
		failed string // the verdict that must fail; "" none
		why    string
	}{
		{"healthy", sim.Faults{}, "", ""},
		{"leak", sim.Faults{LeakBytesPerRequest: 1 << 20}, load.VerdictServerMemoryGrowth, "a leak"},
		{"restart", sim.Faults{RestartEvery: 700 * time.Millisecond}, load.VerdictServerRestart, "the server restarted"},
		{"lost slots", sim.Faults{LeakSlotEvery: 40}, load.VerdictStuckRequests, "did not release"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := simtest.Start(t, sim.Config{TTFT: 5 * time.Millisecond, ITL: 2 * time.Millisecond, OutputTokens: 5, MaxConcurrency: 8, Faults: tc.faults})
			res, err := RunJob(context.Background(), nil, simJob(url, soak, 5))
			if res == nil || err != nil {
				t.Fatal(res, err)
			}
			for _, v := range res.Server.Verdicts {
				want := v.Name == tc.failed
				if v.Failed != want {
					t.Errorf("%s failed %v, want %v: %s", v.Name, v.Failed, want, v.Summary)
				}
				if want && !strings.Contains(v.Summary, tc.why) {
					t.Errorf("%s: %q lacks %q", v.Name, v.Summary, tc.why)
				}
				if v.Name == load.VerdictServerMemoryGrowth && v.Undecided {
					t.Errorf("memory growth undecided: %s", v.Summary)
				}
				t.Logf("%s: failed %v: %s", v.Name, v.Failed, v.Summary)
			}
		})
	}
}

// TestRunJobWithoutMetricsPage: a target without a page runs its soak as
// ever; the result says why there is no server view.
func TestRunJobWithoutMetricsPage(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	j := jobOf(tiny)
	j.Server = &servermetrics.Scraper{URL: srv.URL + "/metrics", Derived: true}
	res, err := RunJob(context.Background(), nil, j)
	if res == nil || err != nil || res.Summary.Successful != 3 {
		t.Fatalf("RunJob: %+v %v", res, err)
	}
	if res.Server == nil || !strings.Contains(res.Server.Note, "no metrics page at the URL derived from the target's") ||
		!strings.Contains(res.Server.Note, "HTTP 404") || len(res.Server.Verdicts) != 0 {
		t.Fatalf("server view %+v", res.Server)
	}
	if res.Steps[0].Server != nil {
		t.Errorf("a step view without a page: %+v", res.Steps[0].Server)
	}
}

// TestRunJobWithHangingMetricsPage: a page that never answers delays the
// run's start by load.StartWait at most and its end not at all.
func TestRunJobWithHangingMetricsPage(t *testing.T) {
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	defer srv.Close()
	defer close(stop)
	j := jobOf(tiny)
	j.Server = &servermetrics.Scraper{URL: srv.URL + "/metrics", Timeout: time.Minute}
	start := time.Now()
	res, err := RunJob(context.Background(), nil, j)
	took := time.Since(start)
	if res == nil || err != nil || res.Summary.Successful != 3 {
		t.Fatalf("RunJob: %+v %v", res, err)
	}
	if took > load.StartWait+2*time.Second {
		t.Errorf("took %v with a hanging page", took)
	}
	if res.Server == nil || res.Server.Note != "the metrics page gave no answer during the run" {
		t.Errorf("server view %+v", res.Server)
	}
}
