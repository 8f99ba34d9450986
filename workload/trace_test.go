package workload

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/dataset"
)

// commonPrefix is the length of the longest common prefix of a and b.
func commonPrefix(a, b string) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

var traceReqs = []dataset.TraceRequest{
	{InputTokens: 600, OutputTokens: 20, HashIDs: []int64{1, 2}},    // 0
	{InputTokens: 700, OutputTokens: 30, HashIDs: []int64{1, 3}},    // 1
	{InputTokens: 1100, OutputTokens: 9, HashIDs: []int64{1, 2, 5}}, // 2
	{InputTokens: 100, OutputTokens: 5, HashIDs: []int64{4}},        // 3
	{InputTokens: 300, OutputTokens: 7},                             // 4
	{InputTokens: 300, OutputTokens: 7},                             // 5
	{InputTokens: 1024, OutputTokens: 1, HashIDs: []int64{2, 1}},    // 6
}

func TestTracePrompts(t *testing.T) {
	g := NewTraceRequests(&config.Workload{Name: "w"}, traceReqs, 512)
	const block = 512 * 4
	p := make([]string, len(traceReqs))
	for i, r := range traceReqs {
		req := g.Request(i)
		p[i] = req.Prompt
		if len(p[i]) != r.InputTokens*4 {
			t.Errorf("request %d: %d characters, want %d (input_length × 4)", i, len(p[i]), r.InputTokens*4)
		}
		if req.MaxTokens != r.OutputTokens || req.MinTokens != r.OutputTokens || req.Cold || req.System != "" {
			t.Errorf("request %d: %+v", i, req)
		}
		if p[i] != g.Prompt(i) {
			t.Errorf("request %d: a second build differs", i)
		}
	}
	// Every pair: the text they share follows from their hash_ids alone.
	// Random words can agree for a few characters past the shared blocks
	// (40 is several words), never for a block.
	const slack = 40
	for a := range traceReqs {
		for b := range traceReqs {
			ia, ib := traceReqs[a].HashIDs, traceReqs[b].HashIDs
			k := 0
			for k < min(len(ia), len(ib)) && ia[k] == ib[k] {
				k++
			}
			shorter := min(len(p[a]), len(p[b]))
			lo, hi := min(k*block, shorter), min(k*block+slack, shorter)
			if a == b {
				lo, hi = len(p[a]), len(p[a])
			}
			if n := commonPrefix(p[a], p[b]); n < lo || n > hi {
				t.Errorf("requests %d %v and %d %v share %d characters, want %d to %d", a, ia, b, ib, n, lo, hi)
			}
		}
	}
	// 0 is a prefix of 2 (blocks 1, then the first 88 tokens of 2).
	if !strings.HasPrefix(p[2], p[0]) {
		t.Error("a partial last block is not a prefix of the same block whole")
	}
}

func TestTraceSalt(t *testing.T) {
	prompts := func(w *config.Workload) []string {
		g := NewTraceRequests(w, traceReqs, 512)
		var out []string
		for i := range traceReqs {
			out = append(out, g.Prompt(i))
		}
		return out
	}
	warm := &config.Workload{Name: "w", PrefixCache: config.PrefixCacheWarm, Seed: 3}
	a, b := prompts(warm), prompts(warm)
	other := prompts(&config.Workload{Name: "w", PrefixCache: config.PrefixCacheWarm, Seed: 4})
	c1, c2 := prompts(&config.Workload{Name: "w"}), prompts(&config.Workload{Name: "w"})
	for i := range traceReqs {
		if a[i] != b[i] {
			t.Errorf("warm, same seed: request %d differs", i)
		}
		if commonPrefix(a[i], other[i]) > 40 || commonPrefix(c1[i], c2[i]) > 40 {
			t.Errorf("request %d: another seed, or another cold run, sends the same text", i)
		}
		if len(c1[i]) != len(a[i]) {
			t.Errorf("request %d: lengths differ between runs", i)
		}
	}
}

func TestTraceGenerator(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "t.jsonl")
	if err := os.WriteFile(path, []byte(`{"timestamp": 0, "input_length": 30, "output_length": 2, "hash_ids": [9]}`+"\n"+
		`{"timestamp": 10, "input_length": 50, "output_length": 3, "hash_ids": [9, 10]}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	temp := 0.5
	w := &config.Workload{Name: "w", Temperature: &temp}
	tr := &config.Trace{File: path, BlockTokens: 32}
	g, err := NewTrace(w, config.KindCompletions, tr)
	if err != nil {
		t.Fatal(err)
	}
	if g.Len() != 2 || len(g.Prompt(1)) != 200 || !strings.HasPrefix(g.Prompt(1), g.Prompt(0)) || commonPrefix(g.Prompt(1)[128:], g.Prompt(0)) > 40 {
		t.Errorf("blocks of 32 tokens: %q / %q", g.Prompt(0), g.Prompt(1))
	}
	if r := g.Request(1); r.MaxTokens != 3 || r.Temperature == nil || *r.Temperature != 0.5 {
		t.Errorf("request %+v", r)
	}
	// Next hands them out in order, again from the first.
	if g.Next().MaxTokens != 2 || g.Next().MaxTokens != 3 || g.Next().MaxTokens != 2 {
		t.Error("Next is not the trace in order")
	}
	if _, err := NewTrace(w, config.KindEmbeddings, tr); err == nil {
		t.Error("a trace for an embeddings target")
	}
	if _, err := NewTrace(w, config.KindChat, &config.Trace{File: filepath.Join(dir, "missing.jsonl")}); err == nil {
		t.Error("a missing trace file")
	}
}
