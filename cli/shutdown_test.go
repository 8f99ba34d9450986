package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/sim"
)

// TestShutdownMidSoak sends SIGTERM while a rate soak started through the
// API is running against the simulator. The daemon must stop new arrivals
// at once, give the requests in flight --shutdown.grace (cancelling the
// ones still running after it), archive the partial result marked
// interrupted with no temporary file left, and exit 0.
func TestShutdownMidSoak(t *testing.T) {
	tests := []struct {
		name  string
		sim   sim.Config
		rate  float64
		grace time.Duration
		// requests in flight at SIGTERM finish (true) or are cut at the
		// grace (false)
		finish bool
	}{
		{
			// 20 tokens at 20 ms: about 0.45 s a request, well within
			// the grace.
			name: "in-flight requests finish within the grace",
			sim:  sim.Config{TTFT: 50 * time.Millisecond, ITL: 20 * time.Millisecond, OutputTokens: 20},
			rate: 10, grace: 10 * time.Second, finish: true,
		},
		{
			// 30 tokens at 50 ms: about 1.5 s a request, so at SIGTERM
			// some requests finish within the grace and the youngest
			// are canceled at it.
			name: "in-flight requests are canceled at the grace",
			sim:  sim.Config{TTFT: 50 * time.Millisecond, ITL: 50 * time.Millisecond, OutputTokens: 30},
			rate: 5, grace: 700 * time.Millisecond, finish: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			http.DefaultTransport.(*http.Transport).CloseIdleConnections()
			baseG := runtime.NumGoroutine()
			baseHeap := heapInUse()

			simCtx, stopSim := context.WithCancel(context.Background())
			defer stopSim()
			srv := sim.New(tt.sim)
			_, addr, err := srv.Listen(simCtx, "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			dataDir := filepath.Join(t.TempDir(), "data")
			d := startDaemon(t, fmt.Sprintf(`
global: {data_dir: %q}
targets: [{name: sim, url: "http://%s", model: sim-model}]
workloads: [{name: w, prompt: hello}]
soaks:
  - {name: long, targets: [sim], workload: w, mode: rate, rates: [%g], duration: 1h}
`, dataDir, addr, tt.rate), "--web.enable-unauthenticated-writes", fmt.Sprintf("--shutdown.grace=%s", tt.grace))

			if code, body := post(t, "http://"+d.addr+"/api/v1/soaks/long/run"); code != http.StatusAccepted {
				t.Fatalf("starting the soak: %d %s", code, body)
			}
			waitFor(t, 15*time.Second, "requests in flight", func() bool {
				st := srv.Stats()
				return st.InFlight >= 2 && st.Completed >= 3
			})
			before := srv.Stats()
			sent := time.Now()
			code := stopDaemon(t, d, tt.grace+15*time.Second)
			took := time.Since(sent)
			after := srv.Stats()
			t.Logf("exit %d after %v; sim before SIGTERM %+v, after %+v", code, took.Round(time.Millisecond), before, after)
			if code != 0 {
				t.Errorf("exit code %d, want 0", code)
			}
			// Arrivals stop at once: at most the ones already due while the
			// signal was being handled (a 2-core machine under load).
			if extra := after.Requests - before.Requests; extra > 3 {
				t.Errorf("%d requests reached the server after SIGTERM", extra)
			}
			if tt.finish {
				if after.Canceled != 0 || after.Completed < before.Completed+before.InFlight {
					t.Errorf("requests in flight did not finish: %d canceled, %d completed (%d + %d in flight before)",
						after.Canceled, after.Completed, before.Completed, before.InFlight)
				}
				if took > tt.grace/2 {
					t.Errorf("shutdown took %v though every request ends within 0.5 s", took)
				}
			} else {
				if after.Canceled == 0 {
					t.Error("no request was canceled at the grace")
				}
				if took < tt.grace || took > tt.grace+5*time.Second {
					t.Errorf("shutdown took %v, want the grace (%v) and a little more", took, tt.grace)
				}
			}

			// The archive: one result, marked interrupted, and its
			// timeline; nothing temporary.
			ents, err := os.ReadDir(dataDir)
			if err != nil {
				t.Fatal(err)
			}
			var results, timelines []string
			for _, e := range ents {
				switch n := e.Name(); {
				case strings.HasPrefix(n, ".tmp-"):
					t.Errorf("shutdown left the temporary file %s", n)
				case strings.HasSuffix(n, ".timeline.jsonl"):
					timelines = append(timelines, n)
				case strings.HasSuffix(n, ".json"):
					results = append(results, n)
				default:
					t.Errorf("unexpected file %s", n)
				}
			}
			if len(results) != 1 || len(timelines) != 1 {
				t.Fatalf("archive holds results %v and timelines %v, want one of each", results, timelines)
			}
			b, err := os.ReadFile(filepath.Join(dataDir, results[0]))
			if err != nil {
				t.Fatal(err)
			}
			var res load.Result
			if err := json.Unmarshal(b, &res); err != nil {
				t.Fatalf("result %s: %v", results[0], err)
			}
			s := res.Summary
			t.Logf("result: status %s, passed %v, %d requests (%d ok, %d failed), %d interrupted, %d dropped",
				res.Status, res.Passed, s.Requests, s.Successful, s.Failed, s.Interrupted, s.Dropped)
			if res.Status != load.StatusInterrupted || res.Passed {
				t.Errorf("result status %q passed %v, want interrupted and not passed", res.Status, res.Passed)
			}
			if s.Successful < before.Completed || s.Failed != 0 || s.Dropped != 0 {
				t.Errorf("summary %d successful (server completed %d before SIGTERM), %d failed, %d dropped",
					s.Successful, before.Completed, s.Failed, s.Dropped)
			}
			if tt.finish && s.Interrupted != 0 {
				t.Errorf("%d requests interrupted, want none: they had time to finish", s.Interrupted)
			}
			if !tt.finish && s.Interrupted == 0 {
				t.Error("no request counted as interrupted")
			}
			lines, err := os.ReadFile(filepath.Join(dataDir, timelines[0]))
			if err != nil {
				t.Fatal(err)
			}
			if n := int64(strings.Count(string(lines), "\n")); n < s.Requests {
				t.Errorf("timeline has %d lines for %d requests", n, s.Requests)
			}

			stopSim()
			settle(t, "after shutdown", baseG, 2, baseHeap, 8<<20)
		})
	}
}
