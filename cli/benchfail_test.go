package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/probe/probetest"
	"github.com/llmprobe/llmprobe/sim"
)

// TestBenchWrongModel: a model name the server does not serve is refused
// before the run, naming the models it has, within a second.
func TestBenchWrongModel(t *testing.T) {
	url := benchSim(t, sim.Config{TTFT: time.Millisecond, ITL: time.Millisecond})
	start := time.Now()
	code, out, errOut := bench(t, nil, "--url", url, "--model", "sim", "--duration", "60s")
	if took := time.Since(start); took > time.Second {
		t.Errorf("took %v", took)
	}
	if code == 0 {
		t.Errorf("exit code 0 for a model the server does not serve")
	}
	if !strings.Contains(errOut, `model "sim" is not served`) || !strings.Contains(errOut, sim.DefaultModel) {
		t.Errorf("stderr does not say which models the server has:\n%s", errOut)
	}
	if out != "" {
		t.Errorf("a run was printed:\n%s", out)
	}
}

// TestBenchNothingSucceeds: a server without /v1/models that refuses every
// request: the run stops within a second, prints the server's message with
// its class and count, keeps it in the result JSON, and exits non-zero.
func TestBenchNothingSucceeds(t *testing.T) {
	const msg = "The model `sim` does not exist."
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/models" {
			http.NotFound(w, r) // not every server lists its models
			return
		}
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"object":"error","message":%q,"type":"NotFoundError","param":null,"code":404,"error":{"message":%q}}`, msg, msg)
	}))
	defer srv.Close()
	for _, mode := range [][]string{
		{"--concurrency", "4"},
		{"--rates", "20"},
		{"--mode", "sweep", "--max-vus", "8"},
	} {
		t.Run(mode[len(mode)-1], func(t *testing.T) {
			hits.Store(0)
			result := filepath.Join(t.TempDir(), "r.json")
			start := time.Now()
			code, out, errOut := bench(t, nil, append([]string{"--url", srv.URL, "--model", "sim", "--duration", "60s",
				"--result-file", result, "--progress", "never"}, mode...)...)
			if took := time.Since(start); took > time.Second {
				t.Errorf("took %v against a server that refuses everything", took)
			}
			if code == 0 {
				t.Error("exit code 0 though nothing succeeded")
			}
			if !strings.Contains(out, "http_4xx:") || !strings.Contains(out, "HTTP 404: "+msg) {
				t.Errorf("the table does not show the class and the server's message:\n%s", out)
			}
			if !strings.Contains(out, "Stopped early: the first request failed with http_4xx") {
				t.Errorf("the table does not say why the run stopped:\n%s", out)
			}
			if !strings.Contains(errOut, "no request succeeded") || !strings.Contains(errOut, msg) {
				t.Errorf("stderr does not say nothing succeeded and why:\n%s", errOut)
			}
			b, err := os.ReadFile(result)
			if err != nil {
				t.Fatal(err)
			}
			var res load.Result
			if err := json.Unmarshal(b, &res); err != nil {
				t.Fatal(err)
			}
			if m := res.Summary.ErrorMessages["http_4xx"]; len(m) != 1 || !strings.Contains(m[0], msg) {
				t.Errorf("result JSON error messages %q", m)
			}
			if res.Passed {
				t.Error("result says passed")
			}
			if n := hits.Load(); n > 200 { // a 60 s step would send hundreds of thousands
				t.Errorf("%d requests sent to a server that refused the first ones", n)
			}
		})
	}
}

// TestBenchKeepAliveClosingServers: bench at 1, 4 and 64 users against
// servers that close keep-alive connections under it reports no failure,
// and says how many sends it repeated.
func TestBenchKeepAliveClosingServers(t *testing.T) {
	for _, tt := range []struct {
		name string
		drop bool // drop reused connections after reading the request
	}{
		{"closes after each response", false},
		{"drops reused connections", true},
	} {
		for _, users := range []string{"1", "4", "64"} {
			t.Run(tt.name+"/"+users, func(t *testing.T) {
				s := &probetest.ConnServer{TTFT: 5 * time.Millisecond, ITL: time.Millisecond, Chunks: 3,
					After: func(int) bool { return true }}
				if tt.drop {
					s.After = nil
					s.OnRequest = func(n, _ int) bool { return n > 1 }
					s.DropAfter = 20 * time.Millisecond
				}
				result := filepath.Join(t.TempDir(), "r.json")
				code, out, errOut := bench(t, nil, "--url", s.Start(t), "--model", "m", "--concurrency", users,
					"--num-requests", "128", "--result-file", result, "--progress", "never")
				if code != 0 {
					t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
				}
				b, err := os.ReadFile(result)
				if err != nil {
					t.Fatal(err)
				}
				var res load.Result
				if err := json.Unmarshal(b, &res); err != nil {
					t.Fatal(err)
				}
				if res.Summary.Failed != 0 || res.Summary.Successful != 128 {
					t.Errorf("%d failed, %d successful, want 0 and 128: %v", res.Summary.Failed, res.Summary.Successful, res.Summary.ErrorMessages)
				}
				if res.Summary.TTFT.Min < 5 {
					t.Errorf("TTFT min %.2f ms, under the server's 5 ms", res.Summary.TTFT.Min)
				}
				if tt.drop && (res.Summary.ConnectionRetries == 0 || !strings.Contains(out, "Connection retries (not failures):")) {
					t.Errorf("connection retries %d not reported:\n%s", res.Summary.ConnectionRetries, out)
				}
			})
		}
	}
}
