package servermetrics

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// livePage serves a vLLM-like page whose running gauge and TTFT histogram the
// test sets.
type livePage struct {
	running, ttftCount atomic.Int64
	hits               atomic.Int64
	status             atomic.Int64 // 0: 200
}

func (pg *livePage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	pg.hits.Add(1)
	if s := pg.status.Load(); s != 0 {
		w.WriteHeader(int(s))
		return
	}
	n := pg.ttftCount.Load()
	fmt.Fprintf(w, "# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running %d\nvllm:num_requests_waiting 0\n", pg.running.Load())
	fmt.Fprintf(w, "# TYPE vllm:time_to_first_token_seconds histogram\n")
	fmt.Fprintf(w, "vllm:time_to_first_token_seconds_bucket{le=\"0.1\"} %d\nvllm:time_to_first_token_seconds_bucket{le=\"+Inf\"} %d\n", n, n)
	fmt.Fprintf(w, "vllm:time_to_first_token_seconds_sum %g\nvllm:time_to_first_token_seconds_count %d\n", float64(n)*0.05, n)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSamplerPointsAndMarks(t *testing.T) {
	pg := &livePage{}
	pg.ttftCount.Store(10)
	srv := httptest.NewServer(pg)
	defer srv.Close()
	p := StartSampler(context.Background(), &Scraper{URL: srv.URL}, 10*time.Millisecond)
	waitFor(t, "the start mark", func() bool { _, ok := p.Snapshot(MarkStart); return ok })
	pg.running.Store(3)
	pg.ttftCount.Store(25)
	waitFor(t, "periodic points", func() bool { return len(p.Timeline().Points) >= 3 })
	p.Mark("end:1")
	p.Stop()

	start, _ := p.Snapshot(MarkStart)
	end, ok := p.Snapshot("end:1")
	if !ok {
		t.Fatal("the mark asked for before Stop was not taken")
	}
	w := Delta(start, end)
	if h := w.Hists["ttft_seconds"]; h == nil || h.Count != 15 {
		t.Fatalf("delta between the marks: %+v", h)
	}
	tl := p.Timeline()
	if tl.Server != VLLM || tl.Failures != 0 || tl.Scrapes < 4 || tl.URL != srv.URL {
		t.Errorf("timeline %+v", tl)
	}
	last := tl.Points[len(tl.Points)-1].Values
	if last["requests_running"] != 3 || last["ttft_seconds_count"] != 25 || last["ttft_seconds_sum"] != 1.25 {
		t.Errorf("last point %v", last)
	}
	if n := pg.hits.Load(); int(n) != tl.Scrapes {
		t.Errorf("%d requests, %d scrapes counted", n, tl.Scrapes)
	}
	if p.Note() != "" {
		t.Errorf("note %q", p.Note())
	}
	hits := pg.hits.Load()
	time.Sleep(50 * time.Millisecond)
	if pg.hits.Load() != hits {
		t.Error("scraping went on after Stop")
	}
}

func TestSamplerFailingPages(t *testing.T) {
	for _, tc := range []struct {
		name    string
		derived bool
		max     int64 // most scrapes in 300 ms at a 10 ms interval
		note    string
	}{
		// a derived URL is tried once and given up
		{"derived", true, 1, "no metrics page at the URL derived from the target's: server metrics"},
		// a configured one is retried with a doubling wait: 10+20+40+80+160 ms
		{"configured", false, 7, "the metrics page could not be read ("},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pg := &livePage{}
			pg.status.Store(http.StatusNotFound)
			srv := httptest.NewServer(pg)
			defer srv.Close()
			p := StartSampler(context.Background(), &Scraper{URL: srv.URL + "/metrics", Derived: tc.derived}, 10*time.Millisecond)
			time.Sleep(300 * time.Millisecond)
			p.Mark("end:1")
			p.Stop()
			n := pg.hits.Load()
			if n < 1 || n > tc.max {
				t.Errorf("%d scrapes, want 1..%d", n, tc.max)
			}
			if note := p.Note(); !strings.Contains(note, tc.note) || !strings.Contains(note, "HTTP 404") {
				t.Errorf("note %q lacks %q", note, tc.note)
			}
			if tl := p.Timeline(); len(tl.Points) != 0 || tl.Failures != tl.Scrapes || !strings.Contains(tl.LastError, "/metrics: HTTP 404") {
				t.Errorf("timeline %+v", tl)
			}
			if _, ok := p.Snapshot("end:1"); ok {
				t.Error("a failed mark has a snapshot")
			}
		})
	}
}

func TestSamplerRecoversAfterFailures(t *testing.T) {
	pg := &livePage{}
	pg.status.Store(http.StatusServiceUnavailable)
	srv := httptest.NewServer(pg)
	defer srv.Close()
	p := StartSampler(context.Background(), &Scraper{URL: srv.URL}, 5*time.Millisecond)
	waitFor(t, "two failures", func() bool { return p.Timeline().Failures >= 2 })
	pg.status.Store(0)
	waitFor(t, "a point after the recovery", func() bool { return len(p.Timeline().Points) >= 1 })
	p.Stop()
	if note := p.Note(); !strings.Contains(note, "scrapes of the metrics page failed (last: server metrics") {
		t.Errorf("note %q", note)
	}
}

func TestSamplerSettle(t *testing.T) {
	pg := &livePage{}
	pg.running.Store(2)
	srv := httptest.NewServer(pg)
	defer srv.Close()
	p := StartSampler(context.Background(), &Scraper{URL: srv.URL}, time.Hour)
	waitFor(t, "the start mark", func() bool { _, ok := p.Snapshot(MarkStart); return ok })
	p.Stop()
	idle := func(s Snapshot) bool { return s.Values["requests_running"] == 0 }

	// never settles: gives up after about 60 ms, the last scrape kept
	start := time.Now()
	last, settled, ok := p.Settle(context.Background(), "after", 60*time.Millisecond, 10*time.Millisecond, idle)
	if settled || !ok || last.Values["requests_running"] != 2 {
		t.Fatalf("settled %v ok %v last %v", settled, ok, last.Values)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v", d)
	}
	// settles on the third poll
	n := pg.hits.Load()
	go func() {
		for pg.hits.Load() < n+2 {
			time.Sleep(time.Millisecond)
		}
		pg.running.Store(0)
	}()
	last, settled, ok = p.Settle(context.Background(), "after", 5*time.Second, 10*time.Millisecond, idle)
	if !settled || !ok || last.Values["requests_running"] != 0 {
		t.Fatalf("settled %v ok %v last %v", settled, ok, last.Values)
	}
	if s, ok := p.Snapshot("after"); !ok || s.Values["requests_running"] != 0 {
		t.Errorf("the settled snapshot is not marked: %v", s.Values)
	}
	if tl := p.Timeline(); len(tl.Points) != tl.Scrapes {
		t.Errorf("%d points for %d scrapes: settle scrapes are points", len(tl.Points), tl.Scrapes)
	}
}

func TestSamplerThinsAtMaxPoints(t *testing.T) {
	defer func(n int) { maxPoints = n }(maxPoints)
	maxPoints = 8
	p := &Sampler{every: time.Second, stride: 1, snaps: map[string]Snapshot{}, ctx: context.Background(), s: &Scraper{}}
	t0 := time.Unix(1000, 0)
	for i := range 20 {
		p.record("", true, Snapshot{Time: t0.Add(time.Duration(i) * time.Second), Values: map[string]float64{"requests_running": float64(i)}}, nil)
	}
	var got []float64
	for _, pt := range p.tl.Points {
		got = append(got, pt.Values["requests_running"])
	}
	// 8 points at i=7: 0,2,4,6 kept, then every 2 s: 8..14; 8 again at
	// i=14: 0,4,8,12 kept, then every 4 s: 16
	want := []float64{0, 4, 8, 12, 16}
	if fmt.Sprint(got) != fmt.Sprint(want) || p.tl.EveryS != 4 {
		t.Errorf("points %v every %v s, want %v every 4 s", got, p.tl.EveryS, want)
	}
}
