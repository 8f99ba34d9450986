package workload

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/probe"
	"github.com/llmprobe/llmprobe/tokenizer"
)

const tokenizerFixture = "../tokenizer/testdata/bpe-tokenizer.json"

func newGen(t *testing.T, w config.Workload, kind probe.Kind) *Generator {
	t.Helper()
	if w.Name == "" {
		w.Name = "w"
	}
	if w.OutputTokens.NumTokens == 0 {
		w.OutputTokens.NumTokens = 64
	}
	g, err := NewForKind(&w, kind)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// lengths returns the mean, min and max of count over n prompts.
func lengths(g *Generator, n int, count func(string) int) (mean float64, lo, hi int) {
	lo, hi = math.MaxInt, 0
	total := 0
	for range n {
		c := count(g.Next().Prompt)
		total += c
		lo, hi = min(lo, c), max(hi, c)
	}
	return float64(total) / float64(n), lo, hi
}

// TestSyntheticLengthWithTokenizer: asked for 512 input tokens, prompts
// measure 512 tokens on average with the tokenizer that sized them, nonce
// included.
func TestSyntheticLengthWithTokenizer(t *testing.T) {
	tk, err := tokenizer.Load(tokenizerFixture)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		w      config.Workload
		n      int
		tol    float64 // of the mean, relative
		lo, hi int
	}{
		// What the issue asks: within 2 % of 512 on average.
		{"fixed", config.Workload{InputTokens: 512, Tokenizer: tokenizerFixture, Seed: 1}, 100, 0.02, 505, 519},
		// Drawn lengths (stddev 64) stay in [min, max]; the mean is as
		// close as 60 draws allow.
		{"spread", config.Workload{InputTokens: 512, InputTokensStddev: 64, InputTokensMin: 400, InputTokensMax: 600,
			Tokenizer: tokenizerFixture, Seed: 2}, 60, 0.04, 398, 602},
		{"warm", config.Workload{InputTokens: 512, Tokenizer: tokenizerFixture, PrefixCache: "warm", Seed: 3}, 20, 0.02, 510, 514},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGen(t, tc.w, config.KindChat)
			mean, lo, hi := lengths(g, tc.n, tk.Count)
			t.Logf("mean %.2f tokens (%+.2f%% off 512), range [%d, %d]", mean, 100*(mean-512)/512, lo, hi)
			if math.Abs(mean-512) > tc.tol*512 {
				t.Errorf("mean length %.1f, want 512 ± %g%%", mean, 100*tc.tol)
			}
			if lo < tc.lo || hi > tc.hi {
				t.Errorf("lengths in [%d, %d], want within [%d, %d]", lo, hi, tc.lo, tc.hi)
			}
		})
	}
}

// TestSyntheticLengthEstimated: without a tokenizer the prompt holds about
// 4 characters per token, which is how the simulator counts.
func TestSyntheticLengthEstimated(t *testing.T) {
	g := newGen(t, config.Workload{InputTokens: 512, Seed: 1}, config.KindChat)
	mean, lo, hi := lengths(g, 200, tokenizer.Estimate{}.Count)
	if math.Abs(mean-512) > 2 || lo < 509 || hi > 515 {
		t.Errorf("estimated lengths: mean %.2f, range [%d, %d]", mean, lo, hi)
	}
	if got := (tokenizer.Estimate{}).Count(Synthetic(100, g.rng)); got < 98 || got > 102 {
		t.Errorf("Synthetic(100) is %d tokens", got)
	}
}

// TestDeterministic: the seed decides prompt choice and lengths; the
// nonces, which it must not decide, are the only difference.
func TestDeterministic(t *testing.T) {
	w := config.Workload{InputTokens: 64, InputTokensStddev: 8, BatchSize: 2, Documents: 3, Seed: 9,
		OutputTokens: config.DecodeOptions{NumTokens: 50, Variance: 10}}
	a, b := newGen(t, w, ""), newGen(t, w, "")
	for range 20 {
		ra, rb := a.Next(), b.Next()
		na, nb := stripNonces(t, &ra), stripNonces(t, &rb)
		if !reflect.DeepEqual(ra, rb) {
			t.Fatalf("same seed, different requests:\n%+v\n%+v", ra, rb)
		}
		if len(na) != 4 || reflect.DeepEqual(na, nb) {
			t.Fatalf("nonces %q and %q: want 4 each (prompt, 2 inputs, query), different", na, nb)
		}
	}
	other := w
	other.Seed = 10
	c, d := newGen(t, other, ""), newGen(t, w, "")
	rc, rd := c.Next(), d.Next()
	stripNonces(t, &rc)
	stripNonces(t, &rd)
	if reflect.DeepEqual(rc, rd) {
		t.Error("different seeds, same request")
	}
}

func TestOutputTokens(t *testing.T) {
	g := newGen(t, config.Workload{Prompt: "hi", OutputTokens: config.DecodeOptions{NumTokens: 80, MinTokens: 60, MaxTokens: 100, Variance: 30}}, config.KindChat)
	sum := 0
	for range 2000 {
		r := g.Next()
		if r.MaxTokens < 60 || r.MaxTokens > 100 || r.MinTokens != r.MaxTokens {
			t.Fatalf("max_tokens %d, min_tokens %d", r.MaxTokens, r.MinTokens)
		}
		sum += r.MaxTokens
	}
	if mean := float64(sum) / 2000; mean < 75 || mean > 85 {
		t.Errorf("mean %.1f, want about 80", mean)
	}
}

func TestKinds(t *testing.T) {
	w := config.Workload{Prompt: "hello", BatchSize: 3, Dimensions: 8, Documents: 4, Query: "why?", System: "sys",
		Images: []string{"../testdata/probe-4x4.png", "../testdata/probe-4x4.jpg"}, ImagesPerRequest: 1, Seed: 5}

	// The system message comes first, so the nonce starts it.
	chat := newGen(t, w, config.KindChat).Next()
	if !nonceRE.MatchString(chat.System) || !strings.HasSuffix(chat.System, " sys") || chat.Prompt != "hello" ||
		chat.Inputs != nil || chat.Documents != nil || chat.Images != nil {
		t.Errorf("chat request %+v", chat)
	}

	vis := newGen(t, w, config.KindVision)
	seen := map[string]bool{}
	for range 20 {
		r := vis.Next()
		if len(r.Images) != 1 || !strings.HasPrefix(r.Images[0], "data:image/") {
			t.Fatalf("vision request images %v", r.Images)
		}
		seen[r.Images[0][:15]] = true
	}
	if len(seen) != 2 {
		t.Errorf("images drawn: %v", seen)
	}

	emb := newGen(t, w, config.KindEmbeddings).Next()
	if len(emb.Inputs) != 3 || emb.Dimensions != 8 || emb.Prompt != "" || emb.Documents != nil {
		t.Fatalf("embeddings request %+v", emb)
	}
	if emb.Inputs[0] == emb.Inputs[1] || !nonceRE.MatchString(emb.Inputs[2]) || !strings.HasSuffix(emb.Inputs[2], " hello") {
		t.Errorf("inputs %q: each should have its own nonce", emb.Inputs)
	}

	rr := newGen(t, w, config.KindRerank).Next()
	if !nonceRE.MatchString(rr.Query) || !strings.HasSuffix(rr.Query, " why?") || len(rr.Documents) != 4 || rr.Documents[0] != "hello" || rr.Inputs != nil {
		t.Errorf("rerank request %+v", rr)
	}

	// Defaults: a batch of one, 8 documents, the default query; and warm
	// prompts have no nonce.
	def := newGen(t, config.Workload{Prompt: "p", PrefixCache: "warm"}, "").Next()
	if len(def.Inputs) != 1 || def.Inputs[0] != "p" || len(def.Documents) != config.DefaultDocuments ||
		def.Query != config.DefaultQuery || def.Prompt != "p" {
		t.Errorf("defaults %+v", def)
	}
}

func TestDataset(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "d.jsonl")
	if err := os.WriteFile(p, []byte(`[{"role":"system","content":"Be brief."},{"role":"user","content":"Why?"}]`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g := newGen(t, config.Workload{Dataset: p, Seed: 1}, "")
	r := g.Next()
	// The nonce starts the first message, the system turn.
	want := []probe.Message{{Role: "system", Content: r.Messages[0].Content}, {Role: "user", Content: "Why?"}}
	nonce, _, _ := strings.Cut(r.Messages[0].Content, " ")
	if !reflect.DeepEqual(r.Messages, want) || !nonceRE.MatchString(r.Messages[0].Content) ||
		r.Messages[0].Content != nonce+" Be brief." || r.Prompt != nonce+" Why?" ||
		!nonceRE.MatchString(r.Inputs[0]) || !strings.HasSuffix(r.Inputs[0], " Why?") {
		t.Errorf("request %+v", r)
	}
	// Completions send the prompt only: no conversation.
	if c := newGen(t, config.Workload{Dataset: p, Seed: 1}, config.KindCompletions).Next(); c.Messages != nil || !nonceRE.MatchString(c.Prompt) {
		t.Errorf("completions request %+v", c)
	}
	if _, err := New(&config.Workload{Name: "x", Dataset: filepath.Join(dir, "missing.jsonl")}); err == nil ||
		!strings.Contains(err.Error(), `workload "x"`) {
		t.Errorf("missing dataset: %v", err)
	}
}
