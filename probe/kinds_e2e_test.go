package probe_test

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/llmprobe/llmprobe/collector"
	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/probe"
	"github.com/llmprobe/llmprobe/sim"
	"github.com/llmprobe/llmprobe/workload"
)

// bodyRecorder keeps the last request body and path the simulator got.
type bodyRecorder struct {
	mu   sync.Mutex
	path string
	body []byte
	next http.Handler
}

func (b *bodyRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	b.mu.Lock()
	b.path, b.body = r.URL.Path, body
	b.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(body))
	b.next.ServeHTTP(w, r)
}

func (b *bodyRecorder) last() (string, []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.path, b.body
}

// metric returns the value of a counter, or the sample count of a
// histogram, of the series of family name with the label result (when not
// empty); -1 when absent.
func metric(t *testing.T, reg *prometheus.Registry, name, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if result != "" && label(m, "result") != result {
				continue
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return -1
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// nonceRE matches a nonce where workload puts one: at the start of a text.
var nonceRE = regexp.MustCompile(`"[0-9a-f]{12} `)

func tokens(s string) int {
	return max(1, (utf8.RuneCountInString(s)+sim.CharsPerToken-1)/sim.CharsPerToken)
}

// TestKindsAgainstSimulator sends one request of each kind, built by the
// workload package, to the simulator: the body sent matches its golden
// file, and the Record and the metrics say what the simulator did.
func TestKindsAgainstSimulator(t *testing.T) {
	srv := sim.New(sim.Config{TTFT: 5 * time.Millisecond, ITL: time.Millisecond, EmbeddingDimensions: 8, Seed: 1})
	rb := &bodyRecorder{next: srv}
	ts := httptest.NewServer(rb)
	t.Cleanup(func() { srv.Close(); ts.Close() })

	base := config.Workload{Name: "w", Prompt: "Say hi.", OutputTokens: config.DecodeOptions{NumTokens: 4}, Seed: 7}
	vision := base
	vision.Images = []string{"../testdata/probe-4x4.png"}
	emb := base
	emb.BatchSize, emb.Dimensions = 2, 8
	rr := base
	rr.Documents, rr.Query = 3, "Which one?"
	decode := base
	decode.OutputTokens = config.DecodeOptions{NumTokens: 6, MinTokens: 4, MaxTokens: 8, Variance: 2}
	decode.Seed = 3

	for _, tc := range []struct {
		name       string
		kind       probe.Kind
		w          config.Workload
		minTokens  bool // the target supports min_tokens
		rerankPath string
		path       string // what the simulator saw
		input      func(probe.Request) int
		output     int
	}{
		{"chat", "chat", base, false, "", "/v1/chat/completions",
			func(r probe.Request) int { return tokens(r.Prompt) }, 4},
		// Decode options drawn around num_tokens; min_tokens and ignore_eos
		// go to a target that supports them, and force the length.
		{"chat-min-tokens", "chat", decode, true, "", "/v1/chat/completions",
			func(r probe.Request) int { return tokens(r.Prompt) }, 4},
		{"completions", "completions", base, false, "", "/v1/completions",
			func(r probe.Request) int { return tokens(r.Prompt) }, 4},
		{"vision", "vision", vision, false, "", "/v1/chat/completions",
			func(r probe.Request) int { return tokens(r.Prompt) + sim.DefaultImageTokens }, 4},
		{"embeddings", "embeddings", emb, false, "", "/v1/embeddings",
			func(r probe.Request) int { return tokens(r.Inputs[0]) + tokens(r.Inputs[1]) }, 0},
		{"rerank", "rerank", rr, false, "", "/v1/rerank",
			func(r probe.Request) int {
				n := 0
				for _, d := range r.Documents {
					n += tokens(r.Query + d)
				}
				return n
			}, 0},
		{"rerank-cohere-path", "rerank", rr, false, "/v2/rerank", "/v2/rerank",
			func(r probe.Request) int {
				n := 0
				for _, d := range r.Documents {
					n += tokens(r.Query + d)
				}
				return n
			}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gen, err := workload.NewForKind(&tc.w, tc.kind)
			if err != nil {
				t.Fatal(err)
			}
			streams := tc.kind == "chat" || tc.kind == "completions" || tc.kind == "vision"
			c := probe.NewClient(probe.Endpoint{Name: "sim", URL: ts.URL + "/v1", Model: "sim-model", Kind: tc.kind,
				Stream: streams, SupportsMinTokens: tc.minTokens, RerankPath: tc.rerankPath})
			t.Cleanup(c.CloseIdle)
			req := gen.Next()
			rec := c.Do(context.Background(), req)
			rec.Phase, rec.Name = "probe", "p"

			// The body sent, its cold nonces (unique to each request
			// and process) replaced by <nonce>.
			path, body := rb.last()
			body = nonceRE.ReplaceAll(body, []byte(`"<nonce> `))
			if path != tc.path {
				t.Errorf("posted to %s, want %s", path, tc.path)
			}
			golden := filepath.Join("testdata/body", "sim-"+tc.name+".json")
			if f := flag.Lookup("update"); f != nil && f.Value.String() == "true" {
				if err := os.WriteFile(golden, append(body, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(body) + "\n"; got != string(want) {
				t.Errorf("body sent:\n%s\nwant (%s):\n%s", got, golden, want)
			}

			// The Record.
			if rec.Result != probe.ResultSuccess || rec.Kind != tc.kind || rec.Target != "sim" || rec.HTTPStatus != 200 {
				t.Fatalf("record %+v", rec)
			}
			if !rec.UsageReported || rec.InputTokens != tc.input(req) || rec.OutputTokens != tc.output {
				t.Errorf("tokens: in %d (want %d), out %d (want %d), reported %v",
					rec.InputTokens, tc.input(req), rec.OutputTokens, tc.output, rec.UsageReported)
			}
			ttft, hasTTFT := rec.TTFT()
			switch {
			case streams && (!hasTTFT || ttft < 5*time.Millisecond || len(rec.Chunks) != 4 || rec.FinishReason != "length"):
				t.Errorf("stream: TTFT %v, %d chunks, finish %q", ttft, len(rec.Chunks), rec.FinishReason)
			case !streams && (hasTTFT || rec.E2E() < 5*time.Millisecond || len(rec.Chunks) != 0):
				t.Errorf("pooling: TTFT %v %v, E2E %v", ttft, hasTTFT, rec.E2E())
			}

			// The metrics.
			reg := prometheus.NewPedanticRegistry()
			m := collector.New(reg, collector.Options{})
			m.InitTarget("sim", "sim-model", "probe", "p")
			m.Observe(rec)
			wantTTFT, wantITL := 0.0, 0.0
			if streams {
				wantTTFT, wantITL = 1, 3
			}
			for _, c := range []struct {
				name, result string
				want         float64
			}{
				{"llmprobe_requests_total", "success", 1},
				{"llmprobe_requests_total", "protocol", 0},
				{"llmprobe_input_tokens_total", "", float64(tc.input(req))},
				{"llmprobe_output_tokens_total", "", float64(tc.output)},
				{"llmprobe_request_duration_seconds", "", 1},
				{"llmprobe_time_to_first_token_seconds", "", wantTTFT},
				{"llmprobe_inter_token_latency_seconds", "", wantITL},
			} {
				got := metric(t, reg, c.name, c.result)
				if got == -1 && c.want == 0 {
					continue // a histogram never observed has no series
				}
				if got != c.want {
					t.Errorf("%s{result=%q} = %g, want %g", c.name, c.result, got, c.want)
				}
			}
		})
	}
}
