package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/sim"
)

// TestBenchPoolingKinds: `bench --kind embeddings` and `--kind rerank`
// print requests/s, input tokens/s and latency percentiles, and save the
// JSON result like a chat run.
func TestBenchPoolingKinds(t *testing.T) {
	url := benchSim(t, sim.Config{TTFT: 2 * time.Millisecond, EmbeddingDimensions: 32})
	for _, tc := range []struct {
		kind  string
		args  []string
		input int64 // total input tokens the simulator reports
	}{
		// 10 requests of 3 inputs of 64 estimated tokens.
		{"embeddings", []string{"--batch-size", "3", "--dimensions", "32", "--input-tokens", "64"}, 10 * 3 * 64},
		// 10 requests of 4 documents, each counted with the query.
		{"rerank", []string{"--documents", "4", "--query", "abcd", "--prompt", "efgh", "--rerank-path", "/rerank"}, 0},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			result := filepath.Join(t.TempDir(), "result.json")
			args := append([]string{"--url", url, "--model", sim.DefaultModel, "--kind", tc.kind, "--num-requests", "10",
				"--concurrency", "2", "--result-file", result, "--progress", "never"}, tc.args...)
			code, out, errOut := bench(t, nil, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			for _, want := range []string{"Successful requests:                     10", "Failed requests:                         0",
				"Request throughput (req/s):", "Input token throughput (tok/s):", "Request Latency",
				"Median latency (ms):", "P99 latency (ms):"} {
				if !strings.Contains(out, want) {
					t.Errorf("table lacks %q:\n%s", want, out)
				}
			}
			for _, unwanted := range []string{"Time to First Token", "Total generated tokens"} {
				if strings.Contains(out, unwanted) {
					t.Errorf("table of a %s run shows %q", tc.kind, unwanted)
				}
			}
			b, err := os.ReadFile(result)
			if err != nil {
				t.Fatal(err)
			}
			var res load.Result
			if err := json.Unmarshal(b, &res); err != nil {
				t.Fatal(err)
			}
			s := res.Summary
			// Synthetic inputs are cut at word ends nearest the length asked
			// for, so their total is within a few tokens of it.
			if string(res.Kind) != tc.kind || s.Successful != 10 || s.Failed != 0 || s.E2E.Count != 10 || s.TTFT.Count != 0 ||
				s.OutputTokens != 0 || s.InputTokens == 0 || (tc.input > 0 && (s.InputTokens < tc.input*98/100 || s.InputTokens > tc.input*102/100)) {
				t.Errorf("result kind %s: %+v", res.Kind, s)
			}
			if tc.kind == "rerank" {
				// Per pair: the nonce-prefixed query and "efgh".
				q := len("[00000000-1] abcd")
				if want := int64(10 * 4 * ((q + 4 + 3) / 4)); s.InputTokens < want-40 || s.InputTokens > want+40 {
					t.Errorf("rerank input tokens %d, want about %d", s.InputTokens, want)
				}
			}
		})
	}
}

func TestBenchKindFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--kind", "vision"}, "--kind vision needs at least one --image"},
		{[]string{"--image", "../x.png"}, "--image is only sent with --kind vision"},
		{[]string{"--kind", "embeddings", "--batch-size", "0"}, "--batch-size: must be between 1 and 4096"},
		{[]string{"--kind", "rerank", "--rerank-path", "rerank"}, `--rerank-path: want a path such as /v1/rerank, got "rerank"`},
		{[]string{"--tokenizer", "t.json"}, "--tokenizer sizes --input-tokens prompts: give --input-tokens too"},
	} {
		code, _, errOut := bench(t, nil, append([]string{"--url", "http://127.0.0.1:1", "--model", "m", "--progress", "never"}, tc.args...)...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, errOut, tc.want)
		}
	}
	// A malformed dataset is refused with its file and line before any request.
	ds := filepath.Join(t.TempDir(), "d.jsonl")
	if err := os.WriteFile(ds, []byte("\"ok\"\n{\"nope\": 1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := bench(t, nil, "--url", "http://127.0.0.1:1", "--model", "m", "--kind", "embeddings", "--dataset", ds, "--progress", "never")
	if code == 0 || !strings.Contains(errOut, ds+":2: ") {
		t.Errorf("bad dataset: exit %d, stderr %q", code, errOut)
	}
}
