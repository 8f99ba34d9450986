// Package workload turns a configured workload into the requests a probe or
// soak sends: prompt text and output-length options, repeatable for a seed.
package workload

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"sync"

	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/probe"
)

// WordsPerToken is the estimate used to size synthetic prompts when no
// tokenizer is configured: about 0.75 English words per token, the usual
// rule of thumb for BPE tokenizers on common words.
const WordsPerToken = 0.75

// Generator hands out requests. It is safe for concurrent use.
type Generator struct {
	w       config.Workload
	prompts []string
	mu      sync.Mutex
	rng     *rand.Rand
	seq     uint64
}

// New builds a generator for w. A dataset is read once, here.
func New(w *config.Workload) (*Generator, error) {
	g := &Generator{w: *w, rng: rand.New(rand.NewPCG(uint64(w.Seed), 0x11a9b0be))}
	switch {
	case w.Dataset != "":
		p, err := readJSONL(w.Dataset)
		if err != nil {
			return nil, fmt.Errorf("workload %q: %w", w.Name, err)
		}
		g.prompts = p
	case w.InputTokens > 0:
		g.prompts = []string{Synthetic(w.InputTokens, g.rng)}
	default:
		prompt := w.Prompt
		if prompt == "" {
			prompt = "Write a short story about a lighthouse keeper."
		}
		g.prompts = []string{prompt}
	}
	return g, nil
}

// Next returns the next request. With a cold prefix cache (the default) the
// prompt starts with a unique nonce, so a server's prefix cache cannot serve
// it and the probe measures prefill, not the cache.
func (g *Generator) Next() probe.Request {
	g.mu.Lock()
	g.seq++
	seq := g.seq
	prompt := g.prompts[g.rng.IntN(len(g.prompts))]
	n := g.outputTokens()
	nonce := g.rng.Uint32()
	g.mu.Unlock()
	if g.w.PrefixCache != "warm" {
		prompt = fmt.Sprintf("[%08x-%d] %s", nonce, seq, prompt)
	}
	return probe.Request{
		System:      g.w.System,
		Prompt:      prompt,
		MaxTokens:   n,
		MinTokens:   n,
		Temperature: g.w.Temperature,
	}
}

// outputTokens samples the requested length the way inference-benchmarker
// does: normal around num_tokens with stddev variance, clamped to
// [min_tokens, max_tokens]. Called with g.mu held.
func (g *Generator) outputTokens() int {
	d := g.w.OutputTokens
	n := d.NumTokens
	if n <= 0 {
		n = 64
	}
	if d.Variance > 0 {
		n = int(math.Round(float64(n) + g.rng.NormFloat64()*float64(d.Variance)))
	}
	if d.MinTokens > 0 && n < d.MinTokens {
		n = d.MinTokens
	}
	if d.MaxTokens > 0 && n > d.MaxTokens {
		n = d.MaxTokens
	}
	return max(n, 1)
}

var vocabulary = strings.Fields(`the of and to in is that for it as was with be by on not he this are or
his from at which but have an they you were her she there been one all we their has would when if so no
will can more about time said them some could into other then two these may first like only new after
any over very what where most made water light house sea ship night storm keeper lamp coast wave`)

// Synthetic returns a prompt of about tokens tokens (see WordsPerToken).
func Synthetic(tokens int, rng *rand.Rand) string {
	words := max(1, int(math.Round(float64(tokens)*WordsPerToken)))
	var b strings.Builder
	b.Grow(words * 5)
	for i := range words {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(vocabulary[rng.IntN(len(vocabulary))])
	}
	return b.String()
}

// readJSONL reads prompts, one per line: a JSON object with a "prompt"
// string, or a JSON string. Errors name the file and line.
func readJSONL(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var prompts []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var obj struct {
			Prompt string `json:"prompt"`
		}
		var s string
		switch {
		case b[0] == '"' && json.Unmarshal(b, &s) == nil && s != "":
			prompts = append(prompts, s)
		case json.Unmarshal(b, &obj) == nil && obj.Prompt != "":
			prompts = append(prompts, obj.Prompt)
		default:
			return nil, fmt.Errorf("%s:%d: want a JSON object with a \"prompt\" string, or a JSON string", path, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(prompts) == 0 {
		return nil, fmt.Errorf("%s: no prompts", path)
	}
	return prompts, nil
}
