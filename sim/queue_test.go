package sim

import (
	"context"
	"io"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"
)

// startStreams sends the requests one after another (each admitted, since
// a stream's headers come back on admission, before the next is sent) and
// reads their bodies concurrently; done receives each one's end time.
func startStreams(t *testing.T, c *http.Client, url string, n int, body string) []time.Time {
	t.Helper()
	ends := make([]time.Time, n)
	var wg sync.WaitGroup
	for i := range n {
		resp, err := post(context.Background(), c, url, body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: status %d", i, resp.StatusCode)
		}
		wg.Go(func() {
			defer resp.Body.Close()
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				t.Errorf("request %d: %v", i, err)
			}
			ends[i] = time.Now()
		})
	}
	wg.Wait()
	return ends
}

func TestConcurrencyCap(t *testing.T) {
	const ttft, itl, n = 40 * time.Millisecond, 5 * time.Millisecond, 5
	const service = ttft + (n-1)*itl // 60ms
	s, ts := newTestServer(t, Config{TTFT: ttft, ITL: itl, OutputTokens: n, MaxConcurrency: 2})
	c := newClient(t)
	eventually(t, func() (p problems) {
		start := time.Now()
		statsc := make(chan Stats, 1)
		go func() {
			time.Sleep(service / 2)
			statsc <- s.Stats()
		}()
		ends := startStreams(t, c, ts.URL+"/v1/chat/completions", 4, `{"messages":[{"role":"user","content":"hi"}],"stream":true}`)
		if st := <-statsc; st.InFlight != 2 || st.Queued != 2 {
			p.add("during the run: stats %+v, want 2 in flight and 2 queued", st)
		}
		for i, e := range ends {
			d := e.Sub(start)
			want := service
			if i >= 2 {
				want = 2 * service
			}
			if d < want {
				t.Errorf("request %d ended after %v, before %v", i, d, want)
			}
			if d > want+20*time.Millisecond {
				p.add("request %d ended after %v, want %v (+20ms)", i, d, want)
			}
		}
		return p
	})
	if st := s.Stats(); st.InFlight != 0 || st.Queued != 0 || st.Canceled != 0 || st.Completed != st.Requests {
		t.Errorf("after: stats %+v", st)
	}
}

func TestQueueFIFO(t *testing.T) {
	// One slot, five requests of which each takes 12ms: they must finish
	// in arrival order, one service time apart.
	const ttft, itl, n = 8 * time.Millisecond, 2 * time.Millisecond, 3
	const service = ttft + (n-1)*itl
	_, ts := newTestServer(t, Config{TTFT: ttft, ITL: itl, OutputTokens: n, MaxConcurrency: 1})
	c := newClient(t)
	eventually(t, func() (p problems) {
		ends := startStreams(t, c, ts.URL+"/v1/completions", 5, `{"prompt":"x","stream":true}`)
		for i := 1; i < len(ends); i++ {
			gap := ends[i].Sub(ends[i-1])
			if gap < 0 {
				t.Errorf("request %d ended before request %d: not FIFO", i, i-1)
			}
			if gap < service-3*time.Millisecond || gap > service+10*time.Millisecond {
				p.add("request %d ended %v after request %d, want %v", i, gap, i-1, service)
			}
		}
		return p
	})
}

func TestQueueFull(t *testing.T) {
	s, ts := newTestServer(t, Config{TTFT: 100 * time.Millisecond, OutputTokens: 1, MaxConcurrency: 1, MaxQueue: 1})
	c := newClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var resps []*http.Response
	for i := range 3 {
		resp, err := post(ctx, c, ts.URL+"/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"stream":true}`)
		if err != nil {
			t.Fatal(err)
		}
		resps = append(resps, resp)
		want := 200
		if i == 2 {
			want = 429
		}
		if resp.StatusCode != want {
			t.Errorf("request %d: status %d, want %d", i, resp.StatusCode, want)
		}
	}
	if ra := resps[2].Header.Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After %q", ra)
	}
	cancel()
	for _, r := range resps {
		r.Body.Close()
	}
	waitFor(t, time.Second, "slots freed", func() bool {
		st := s.Stats()
		return st.InFlight == 0 && st.Queued == 0 && st.Canceled == 2
	})
	if st := s.Stats(); st.Rejected != 1 || st.Requests != 3 {
		t.Errorf("stats %+v", st)
	}
}

// TestCancelFreesEverything cancels requests in every state (queued, before
// the first token, mid-stream, non-streamed) and checks that slots, queue
// places, timers and goroutines are all given back.
func TestCancelFreesEverything(t *testing.T) {
	s, ts := newTestServer(t, Config{TTFT: 30 * time.Millisecond, ITL: 5 * time.Millisecond, OutputTokens: 1000, MaxConcurrency: 4})
	c := newClient(t)
	// Warm up so that the baseline includes the server's own goroutines.
	resp, err := post(context.Background(), c, ts.URL+"/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"max_tokens":1}`)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	c.CloseIdleConnections()
	time.Sleep(20 * time.Millisecond)
	baseline := runtime.NumGoroutine()

	const total = 12
	var wg sync.WaitGroup
	for i := range total {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(20+10*(i%4))*time.Millisecond)
		wg.Go(func() {
			defer cancel()
			body := `{"messages":[{"role":"user","content":"hi"}],"stream":true}`
			if i%3 == 0 {
				body = `{"messages":[{"role":"user","content":"hi"}]}`
			}
			resp, err := post(ctx, c, ts.URL+"/v1/chat/completions", body)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			io.Copy(io.Discard, resp.Body)
		})
	}
	wg.Wait()
	// On a slow machine a request may be given up before it reaches the
	// handler, or while its body is read (a 400).
	waitFor(t, 2*time.Second, "all requests canceled", func() bool {
		st := s.Stats()
		return st.InFlight == 0 && st.Queued == 0 && st.Canceled > 0 && st.Canceled+st.BadRequests == st.Requests-1
	})
	c.CloseIdleConnections()
	waitFor(t, 2*time.Second, "goroutines back to baseline", func() bool {
		return runtime.NumGoroutine() <= baseline+1
	})
	if st := s.Stats(); st.Completed != 1 {
		t.Errorf("stats %+v", st)
	}
	// The slots are usable again.
	resp, err = post(context.Background(), c, ts.URL+"/v1/completions", `{"prompt":"x","max_tokens":2}`)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("after cancellations: status %d", resp.StatusCode)
	}
}
