package servermetrics

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func TestScrapeFailures(t *testing.T) {
	var written atomic.Int64
	stop := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/404", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	mux.HandleFunc("/html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte("<!DOCTYPE html><html><body>dashboard</body></html>"))
	})
	mux.HandleFunc("/html-as-text", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("<html><body>login</body></html>"))
	})
	mux.HandleFunc("/endless", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		line := []byte("vllm:num_requests_running{model_name=\"m\"} 1\n")
		for {
			n, err := w.Write(line)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "2000000")
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	})
	mux.HandleFunc("/garbage", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("vllm:num_requests_running{model_name=\"m\" 1\n"))
	})
	mux.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"error":"no"}`))
	})
	mux.HandleFunc("/auth", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer sekrit-key" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte("vllm:num_requests_waiting 5\n"))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer close(stop)
	withPass := strings.Replace(srv.URL, "http://", "http://user:hunter2@", 1)

	for _, tc := range []struct {
		path, key string
		max       int64
		want      string
		class     string
	}{
		{"/404", "", 0, "HTTP 404", FailHTTP},
		{"/html", "", 0, "not a metrics exposition (Content-Type \"text/html; charset=utf-8\")", FailNotExposition},
		{"/html-as-text", "", 0, "not a metrics exposition (an HTML page)", FailNotExposition},
		{"/json", "", 0, "not a metrics exposition", FailNotExposition},
		{"/endless", "", 1 << 20, "page larger than the 1 MiB cap", FailTooLarge},
		{"/big", "", 1 << 20, "larger than the 1 MiB cap", FailTooLarge},
		{"/hang", "", 0, "timed out after 200ms", FailTimeout},
		{"/garbage", "", 0, "unparsable exposition", FailParse},
		{"/auth", "wrong-key", 0, "HTTP 401", FailHTTP},
	} {
		t.Run(tc.path, func(t *testing.T) {
			s := &Scraper{URL: withPass + tc.path, Key: tc.key, MaxBytes: tc.max, Timeout: 200 * time.Millisecond}
			start := time.Now()
			_, err := s.Scrape(context.Background())
			if err == nil {
				t.Fatal("no error")
			}
			if c := Class(err); c != tc.class {
				t.Errorf("class %q, want %q", c, tc.class)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q lacks %q", msg, tc.want)
			}
			if strings.Contains(msg, "hunter2") || (tc.key != "" && strings.Contains(msg, tc.key)) {
				t.Errorf("error %q shows a credential", msg)
			}
			if !strings.Contains(msg, "user:xxxxx@") || !strings.Contains(msg, tc.path) {
				t.Errorf("error %q does not name the redacted URL", msg)
			}
			if time.Since(start) > 3*time.Second {
				t.Errorf("took %v", time.Since(start))
			}
		})
	}
	if n := written.Load(); n > 8<<20 {
		t.Errorf("the endless page was read to %d bytes, past the 1 MiB cap", n)
	}

	s := &Scraper{URL: srv.URL + "/auth", Key: "sekrit-key"}
	snap, err := s.Scrape(context.Background())
	if err != nil || snap.Values["requests_waiting"] != 5 || snap.Server != VLLM {
		t.Fatalf("with the key: %+v %v", snap, err)
	}
}

func TestScrapeCaptureOverHTTP(t *testing.T) {
	page, err := os.ReadFile("testdata/vllm-sim-metrics.txt")
	if err != nil {
		t.Fatal(err)
	}
	var accept string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		accept = r.Header.Get("Accept")
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = w.Write(page)
	}))
	defer srv.Close()
	snap, err := (&Scraper{URL: srv.URL, Server: VLLM}).Scrape(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if snap.Values["prompt_tokens_total"] != 16 || snap.Hists["ttft_seconds"].Count != 3 {
		t.Errorf("snapshot %+v", snap.Values)
	}
	if !strings.HasPrefix(accept, "application/vnd.google.protobuf") || !strings.Contains(accept, "text/plain") {
		t.Errorf("Accept %q", accept)
	}
}

// TestNativeHistogramOverProtobuf serves a real native histogram with
// client_golang's registry and promhttp; the scraper negotiates protobuf.
func TestNativeHistogramOverProtobuf(t *testing.T) {
	reg := prometheus.NewRegistry()
	ttft := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "vllm:time_to_first_token_seconds", Help: "TTFT.", NativeHistogramBucketFactor: 1.1,
	})
	running := prometheus.NewGauge(prometheus.GaugeOpts{Name: "vllm:num_requests_running", Help: "running"})
	reg.MustRegister(ttft, running)
	running.Set(2)
	for i := 1; i <= 100; i++ {
		ttft.Observe(float64(i) / 100) // 0.01 … 1.00
	}
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	sc := &Scraper{URL: srv.URL}
	before, err := sc.Scrape(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h := before.Hists["ttft_seconds"]
	if h == nil || h.Native == nil {
		t.Fatalf("ttft %+v: not native", h)
	}
	if h.Count != 100 || math.Abs(h.Sum-50.5) > 1e-9 || before.Values["requests_running"] != 2 {
		t.Errorf("count %v sum %v running %v", h.Count, h.Sum, before.Values["requests_running"])
	}
	for _, q := range []struct{ q, want float64 }{{0.5, 0.5}, {0.9, 0.9}, {0.99, 0.99}} {
		got, ok := h.Quantile(q.q)
		if !ok || math.Abs(got-q.want) > 0.1*q.want { // a bucket factor of 1.1 is within 10 %
			t.Errorf("q%v = %v, want about %v", q.q, got, q.want)
		}
	}
	for i := 0; i < 50; i++ {
		ttft.Observe(2)
	}
	after, err := sc.Scrape(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	w := Delta(before, after)
	d := w.Hists["ttft_seconds"]
	if d == nil || d.Native == nil || d.Count != 50 || math.Abs(d.Sum-100) > 1e-9 || len(w.Resets) != 0 {
		t.Fatalf("delta %+v resets %v", d, w.Resets)
	}
	if m, _ := d.Mean(); m != 2 {
		t.Errorf("delta mean %v", m)
	}
	if q, _ := d.Quantile(0.5); math.Abs(q-2) > 0.2 {
		t.Errorf("delta median %v, want about 2", q)
	}

}

func TestScrapeKeyHeaderObserveRedirect(t *testing.T) {
	var sawHeader, sawAuth string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawAuth = r.Header.Get("api-key") // a key here would have travelled
		_, _ = w.Write([]byte("vllm:num_requests_waiting 9\n"))
	}))
	defer other.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		sawHeader = r.Header.Get("api-key")
		if r.Header.Get("Authorization") != "" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		_, _ = w.Write([]byte("vllm:num_requests_waiting 4\n"))
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/metrics", http.StatusFound) })
	mux.HandleFunc("/away", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/metrics", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	var observed []string
	s := &Scraper{URL: srv.URL + "/moved", Key: "azure-key", KeyHeader: "api-key",
		Observe: func(took time.Duration, err error) { observed = append(observed, Class(err)) }}
	snap, err := s.Scrape(context.Background())
	if err != nil || snap.Values["requests_waiting"] != 4 || sawHeader != "azure-key" {
		t.Fatalf("same-host redirect with the key header: %v %v header %q", snap.Values, err, sawHeader)
	}
	s.URL = srv.URL + "/away"
	_, err = s.Scrape(context.Background())
	if err == nil || Class(err) != FailConnection || !strings.Contains(err.Error(), "another host") || sawAuth != "" {
		t.Fatalf("cross-host redirect: %v (key seen there: %q)", err, sawAuth)
	}
	if strings.Contains(err.Error(), "azure-key") {
		t.Errorf("error %q shows the key", err)
	}
	s.URL = "http://127.0.0.1:1/metrics" // nothing listens on port 1
	if _, err := s.Scrape(context.Background()); Class(err) != FailConnection {
		t.Errorf("refused connection: class %q (%v)", Class(err), err)
	}
	if want := []string{"", FailConnection, FailConnection}; strings.Join(observed, ",") != strings.Join(want, ",") {
		t.Errorf("observed %q, want %q", observed, want)
	}
	if Class(nil) != "" || Class(context.Canceled) != FailConnection {
		t.Error("Class of nil or a plain error")
	}
}

// A scrape its caller canceled is not the page's failure: Observe is not told.
func TestObserveSkipsCanceledScrapes(t *testing.T) {
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	defer srv.Close()
	defer close(stop)
	var observed []error
	s := &Scraper{URL: srv.URL, Timeout: 100 * time.Millisecond, Observe: func(_ time.Duration, err error) { observed = append(observed, err) }}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	if _, err := s.Scrape(ctx); err == nil {
		t.Fatal("a canceled scrape succeeded")
	}
	if _, err := s.Scrape(context.Background()); Class(err) != FailTimeout {
		t.Fatalf("hang: %v", err)
	}
	if len(observed) != 1 || Class(observed[0]) != FailTimeout {
		t.Errorf("observed %v, want the timeout only", observed)
	}
}
