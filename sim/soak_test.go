package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// engineValues reads s's /metrics page: gauges and counters by name (a
// finished_reason in braces), histograms as name_count and name_sum.
func engineValues(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			key := name
			for _, l := range m.GetLabel() {
				if l.GetName() == "finished_reason" {
					key += "{" + l.GetValue() + "}"
				}
			}
			switch {
			case m.GetHistogram() != nil:
				out[key+"_count"] = float64(m.GetHistogram().GetSampleCount())
				out[key+"_sum"] = m.GetHistogram().GetSampleSum()
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

// checkValues reports the values of got that differ from want.
func checkValues(t *testing.T, what string, got, want map[string]float64) {
	t.Helper()
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s: %s = %v (present %v), want %v", what, k, g, ok, v)
		}
	}
}

// do sends a request and reads its whole body; the status, or -1 when the
// request or the body failed.
func do(t *testing.T, c *http.Client, url, path, body string) int {
	t.Helper()
	resp, err := post(context.Background(), c, url+path, body)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return -1
	}
	return resp.StatusCode
}

// Requests of each kind and the prompt tokens each counts (ceil(chars/4)).
var soakRequests = []struct{ path, body string }{
	{"/v1/chat/completions", `{"messages":[{"role":"user","content":"hello"}],"stream":true}`},
	{"/v1/completions", `{"prompt":"hello"}`},
	{"/v1/embeddings", `{"input":"hello"}`},
	{"/v1/rerank", `{"query":"hi","documents":["there"]}`},
}

func TestFaultLeakBytesPerRequest(t *testing.T) {
	tests := []struct {
		name     string
		faults   Faults
		requests int
		want     float64
	}{
		{"off", Faults{}, 10, BaseResidentMemoryBytes},
		{"1000 per request", Faults{LeakBytesPerRequest: 1000}, 10, BaseResidentMemoryBytes + 10*1000},
		{"no request", Faults{LeakBytesPerRequest: 1000}, 0, BaseResidentMemoryBytes},
		// Injected 429s never reach the engine: nothing leaks for them.
		{"refused", Faults{LeakBytesPerRequest: 1000, HTTP429: 1}, 10, BaseResidentMemoryBytes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ts := newTestServer(t, fast(Config{OutputTokens: 3, Faults: tt.faults}))
			c := newClient(t)
			for i := range tt.requests {
				r := soakRequests[i%len(soakRequests)]
				do(t, c, ts.URL, r.path, r.body)
			}
			checkValues(t, "after the requests", engineValues(t, ts.URL), map[string]float64{"process_resident_memory_bytes": tt.want})
			s.Restart()
			checkValues(t, "after a restart", engineValues(t, ts.URL), map[string]float64{"process_resident_memory_bytes": BaseResidentMemoryBytes})
		})
	}
}

func TestFaultLeakSlotEvery(t *testing.T) {
	const capacity, maxConc = 1000, 4
	// Each completions request counts 2 prompt tokens ("hello") and
	// generates 3: a leaked one keeps 5 KV tokens.
	tests := []struct {
		every, requests, leaked int
	}{
		{0, 4, 0},
		{2, 4, 2},
		{3, 4, 1},
		{1, 3, 3},
		{4, 3, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("every %d of %d", tt.every, tt.requests), func(t *testing.T) {
			s, ts := newTestServer(t, fast(Config{OutputTokens: 3, MaxConcurrency: maxConc, KVCacheTokens: capacity,
				Faults: Faults{LeakSlotEvery: tt.every}}))
			c := newClient(t)
			for i := range tt.requests {
				if st := do(t, c, ts.URL, "/v1/completions", `{"prompt":"hello"}`); st != 200 {
					t.Fatalf("request %d: status %d: the client must get its whole answer", i, st)
				}
			}
			// Drained for the clients, not for the server's accounting.
			checkValues(t, "after the drain", engineValues(t, ts.URL), map[string]float64{
				"vllm:num_requests_running": float64(tt.leaked),
				"vllm:num_requests_waiting": 0,
				"vllm:kv_cache_usage_perc":  float64(5*tt.leaked) / capacity,
			})
			if st := s.Stats(); st.InFlight != 0 || st.Completed != int64(tt.requests) {
				t.Errorf("stats %+v", st)
			}

			// The lost slots are missing: of maxConc requests at once,
			// as many as were leaked have to wait.
			release := HoldDecoding(s)
			var wg sync.WaitGroup
			for range maxConc {
				wg.Go(func() { do(t, c, ts.URL, "/v1/completions", `{"prompt":"hello"}`) })
			}
			waitFor(t, 10*time.Second, "requests admitted", func() bool {
				st := s.Stats()
				return st.InFlight+st.Queued == maxConc
			})
			checkValues(t, "capacity", engineValues(t, ts.URL), map[string]float64{
				"vllm:num_requests_running": maxConc,
				"vllm:num_requests_waiting": float64(tt.leaked),
			})
			// A restart cuts them and frees every slot.
			s.Restart()
			wg.Wait()
			release()
			checkValues(t, "after a restart", engineValues(t, ts.URL), map[string]float64{
				"vllm:num_requests_running": 0,
				"vllm:num_requests_waiting": 0,
				"vllm:kv_cache_usage_perc":  0,
			})
		})
	}
}

func TestFaultSlowdownPerMinute(t *testing.T) {
	const ttft, itl, n = 20 * time.Millisecond, 10 * time.Millisecond, 6
	tests := []struct {
		name    string
		ago     time.Duration // how long the server has been up
		rate    float64
		restart bool // restarted just before the request
		factor  float64
	}{
		{"off", 10 * time.Minute, 0, false, 1},
		{"just started", 0, 0.1, false, 1},
		{"10 minutes at 0.1", 10 * time.Minute, 0.1, false, 2},
		{"30 minutes at 0.1", 30 * time.Minute, 0.1, false, 4},
		{"restarted", 30 * time.Minute, 0.1, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var start time.Time
			if tt.ago > 0 {
				start = time.Now().Add(-tt.ago)
			}
			s, ts := newTestServer(t, Config{TTFT: ttft, ITL: itl, OutputTokens: n, Start: start,
				Faults: Faults{SlowdownPerMinute: tt.rate}})
			if tt.restart {
				s.Restart()
			}
			wantTTFT := time.Duration(tt.factor * float64(ttft))
			wantITL := time.Duration(tt.factor * float64(itl))
			eventually(t, func() (p problems) {
				v0 := engineValues(t, ts.URL)
				_, _, _, gaps := streamTimes(t, ts.URL, `{"messages":[{"role":"user","content":"hi"}],"stream":true}`)
				v1 := engineValues(t, ts.URL)
				seconds := func(name string) time.Duration { return time.Duration((v1[name] - v0[name]) * 1e9) }
				gotTTFT := seconds("vllm:time_to_first_token_seconds_sum")
				busy := seconds("vllm:request_prefill_time_seconds_sum") + seconds("vllm:request_decode_time_seconds_sum")
				// Deadlines are absolute and never early: the first token
				// and the last come no sooner than slowed down.
				if gotTTFT < wantTTFT || busy < wantTTFT+(n-1)*wantITL {
					t.Errorf("too early: TTFT %v, want %v; slot to last token %v, want %v", gotTTFT, wantTTFT, busy, wantTTFT+(n-1)*wantITL)
				}
				if gotTTFT > wantTTFT+5*time.Millisecond {
					p.add("server TTFT %v, want %v", gotTTFT, wantTTFT)
				}
				events := v1["vllm:inter_token_latency_seconds_count"] - v0["vllm:inter_token_latency_seconds_count"]
				if events != n-1 {
					t.Fatalf("%v ITL observations, want %d", events, n-1)
				}
				if m := seconds("vllm:inter_token_latency_seconds_sum") / (n - 1); m < wantITL-2*time.Millisecond || m > wantITL+2*time.Millisecond {
					p.add("server's mean ITL %v, want %v ±2ms", m, wantITL)
				}
				if m := median(gaps); m < wantITL-2*time.Millisecond || m > wantITL+2*time.Millisecond {
					p.add("client's median ITL %v, want %v ±2ms", m, wantITL)
				}
				return p
			})
		})
	}
}

func TestFaultRestartCutsRequests(t *testing.T) {
	s, ts := newTestServer(t, fast(Config{OutputTokens: 3, MaxConcurrency: 1}))
	release := HoldDecoding(s)
	c := newClient(t)
	// A stream holds the slot (its role chunk read), a non-streamed
	// request waits for it.
	resp, err := post(context.Background(), c, ts.URL+"/v1/chat/completions", streamChat)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	queued := make(chan int)
	go func() { queued <- do(t, c, ts.URL, "/v1/completions", `{"prompt":"hello"}`) }()
	waitFor(t, 10*time.Second, "one running, one queued", func() bool {
		st := s.Stats()
		return st.InFlight == 1 && st.Queued == 1
	})
	s.Restart()
	// A restarted server's connections break: the stream ends without
	// [DONE] in a broken body, the queued request gets no response.
	evs, err := readSSE(resp.Body)
	if !errors.Is(err, io.ErrUnexpectedEOF) || len(evs) != 1 {
		t.Errorf("stream across a restart: %d events, %v; want the role chunk, then an unexpected EOF", len(evs), err)
	}
	if st := <-queued; st != -1 {
		t.Errorf("queued request across a restart: status %d, want a failed request", st)
	}
	// The restarted server counts nothing of them, and serves.
	release()
	checkValues(t, "after the restart", engineValues(t, ts.URL), map[string]float64{
		"vllm:num_requests_running":              0,
		"vllm:num_requests_waiting":              0,
		"vllm:request_success_total{abort}":      0,
		"vllm:e2e_request_latency_seconds_count": 0,
	})
	if st := do(t, c, ts.URL, "/v1/completions", `{"prompt":"hello"}`); st != 200 {
		t.Errorf("after the restart: status %d", st)
	}
	checkValues(t, "after a request", engineValues(t, ts.URL), map[string]float64{
		"vllm:request_success_total{stop}": 1,
		"vllm:generation_tokens_total":     3,
	})
	if st := s.Stats(); st.Restarts != 1 || st.Canceled != 2 || st.Completed != 1 || st.InFlight != 0 || st.Queued != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestFaultRestartEvery(t *testing.T) {
	s, ts := newTestServer(t, fast(Config{OutputTokens: 3, Faults: Faults{RestartEvery: 20 * time.Millisecond}}))
	c := newClient(t)
	// A restart may cut a request short: try again until one is served.
	waitFor(t, 10*time.Second, "a request served", func() bool {
		return do(t, c, ts.URL, "/v1/completions", `{"prompt":"hello"}`) == 200
	})
	// The counters go back to zero at the next restart, on their own.
	waitFor(t, 10*time.Second, "three restarts", func() bool { return s.Stats().Restarts >= 3 })
	checkValues(t, "after restarts", engineValues(t, ts.URL), map[string]float64{"vllm:generation_tokens_total": 0})
	// Close stops them.
	s.Close()
	n := s.Stats().Restarts
	time.Sleep(100 * time.Millisecond)
	if got := s.Stats().Restarts; got != n {
		t.Errorf("%d restarts after Close", got-n)
	}
}

func TestMetricsFinishedReasons(t *testing.T) {
	// Each case sends one request; want is what the page says after it.
	cancelAfterFirst := func(t *testing.T, url string) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		resp, err := post(ctx, newClient(t), url+"/v1/chat/completions", streamChat)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf []byte
		for strings.Count(string(buf), "data:") < 2 { // the role chunk, then the first token
			b := make([]byte, 512)
			n, err := resp.Body.Read(b)
			buf = append(buf, b[:n]...)
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	send := func(path, body string) func(*testing.T, string) {
		return func(t *testing.T, url string) { do(t, newClient(t), url, path, body) }
	}
	tests := []struct {
		name string
		cfg  Config
		send func(*testing.T, string)
		want map[string]float64
	}{
		{"stop", Config{OutputTokens: 4}, send("/v1/completions", `{"prompt":"hello"}`), map[string]float64{
			"vllm:request_success_total{stop}": 1, "vllm:generation_tokens_total": 4, "vllm:prompt_tokens_total": 2,
			"vllm:e2e_request_latency_seconds_count": 1, "vllm:inter_token_latency_seconds_count": 3,
		}},
		{"length", Config{OutputTokens: 4, TokensPerChunk: 2}, send("/v1/completions", `{"prompt":"hello","max_tokens":3,"stream":true}`), map[string]float64{
			"vllm:request_success_total{length}": 1, "vllm:generation_tokens_total": 3,
			"vllm:inter_token_latency_seconds_count": 1, "vllm:request_time_per_output_token_seconds_count": 1,
		}},
		{"pooling", Config{}, send("/v1/embeddings", `{"input":["hello","hi"]}`), map[string]float64{
			"vllm:request_success_total{stop}": 1, "vllm:prompt_tokens_total": 3, "vllm:generation_tokens_total": 0,
			"vllm:e2e_request_latency_seconds_count": 1, "vllm:time_to_first_token_seconds_count": 0,
			"vllm:request_decode_time_seconds_count": 0,
		}},
		{"client gone", Config{OutputTokens: 100000}, cancelAfterFirst, map[string]float64{
			"vllm:request_success_total{abort}": 1, "vllm:e2e_request_latency_seconds_count": 0,
			"vllm:time_to_first_token_seconds_count": 1, "vllm:prompt_tokens_total": 1,
		}},
		{"disconnect", Config{OutputTokens: 10, Faults: Faults{Disconnect: 1}}, send("/v1/completions", `{"prompt":"hello"}`), map[string]float64{
			"vllm:request_success_total{error}": 1, "vllm:generation_tokens_total": 5,
			"vllm:e2e_request_latency_seconds_count": 0,
		}},
		{"injected 500", Config{Faults: Faults{HTTP500: 1}}, send("/v1/completions", `{"prompt":"hello"}`), map[string]float64{
			"vllm:request_success_total{stop}": 0, "vllm:request_success_total{error}": 0, "vllm:request_success_total{abort}": 0,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ts := newTestServer(t, fast(tt.cfg))
			tt.send(t, ts.URL)
			// The handler may still be unwinding after the client's end.
			waitFor(t, 10*time.Second, "the request to end", func() bool { return s.Stats().InFlight == 0 })
			want := map[string]float64{"vllm:num_requests_running": 0, "vllm:kv_cache_usage_perc": 0}
			for k, v := range tt.want {
				want[k] = v
			}
			checkValues(t, tt.name, engineValues(t, ts.URL), want)
		})
	}
}
