package workload

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"

	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/dataset"
	"github.com/llmprobe/llmprobe/probe"
	"github.com/llmprobe/llmprobe/tokenizer"
)

// Prompts of a replayed trace. Each request asks for the trace's output
// length (max_tokens, and min_tokens with ignore_eos where the target
// supports them) and sends a synthetic prompt of its input length, built
// block by block from its hash_ids: a block's text is drawn from a seed of
// its id alone, so requests whose ids begin alike begin with the same text
// (the prefix a server's cache can share) and distinct ids give distinct
// text. The last block is cut to the length left; a block id that is a
// partial last block in one request and a whole one in another yields a
// prefix of the same text in both. A request without hash_ids (a CSV
// trace) gets text of its own, shared with nothing.
//
// Lengths are in llmprobe's estimate of CharsPerToken characters per token
// (exactly input_length·4 characters), which the simulator counts; a real
// tokenizer splits the words a little differently, so the server's prompt
// counts (in the result) are what it prefilled.
//
// The text is salted: with prefix_cache cold (the default) the salt is new
// for every generator, so every run of a trace soak (and every bench run)
// shares prefixes within itself but none with an earlier run that the
// server may still cache; with prefix_cache warm the salt comes from the
// workload's seed, so repeated runs send the same text. Requests carry no
// nonce and are not marked cold: the trace's sharing is the point.

// TraceGenerator builds a trace's requests; it implements load's
// TraceRequests (and Requests, handing them out in order).
type TraceGenerator struct {
	reqs  []dataset.TraceRequest
	block int
	salt  uint64
	temp  *float64

	mu     sync.Mutex
	blocks map[int64]string // whole blocks' text, bounded
	next   int
}

// maxCachedBlocks bounds the block texts kept (about 16 MiB of Mooncake's
// 512-token blocks); the cache is a convenience, every text can be drawn
// again.
const maxCachedBlocks = 8192

// NewTrace builds the requests of trace t (its parsed requests) for a
// target of kind, with w's temperature, prefix cache and seed.
func NewTrace(w *config.Workload, kind probe.Kind, t *config.Trace) (*TraceGenerator, error) {
	if kind != config.KindChat && kind != config.KindCompletions && kind != "" {
		return nil, fmt.Errorf("workload %q: a trace replays chat or completions requests, not %s", w.Name, kind)
	}
	reqs, err := t.Requests()
	if err != nil {
		return nil, err
	}
	return NewTraceRequests(w, reqs, t.Blocks()), nil
}

// NewTraceRequests builds the requests of reqs, whose hash_ids name blocks
// of blockTokens tokens.
func NewTraceRequests(w *config.Workload, reqs []dataset.TraceRequest, blockTokens int) *TraceGenerator {
	salt := rand.Uint64() // cold: shared with no earlier run
	if w.PrefixCache == config.PrefixCacheWarm {
		salt = mix64(uint64(w.Seed) ^ 0x7ace5eed)
	}
	return &TraceGenerator{reqs: reqs, block: max(blockTokens, 1), salt: salt, temp: w.Temperature, blocks: map[int64]string{}}
}

// Len is the number of the trace's requests.
func (g *TraceGenerator) Len() int { return len(g.reqs) }

// Request returns the request of the trace's request i.
func (g *TraceGenerator) Request(i int) probe.Request {
	r := g.reqs[i]
	return probe.Request{Prompt: g.Prompt(i), MaxTokens: r.OutputTokens, MinTokens: r.OutputTokens, Temperature: g.temp}
}

// Next returns the trace's requests in order, from the first again after
// the last.
func (g *TraceGenerator) Next() probe.Request {
	g.mu.Lock()
	i := g.next
	g.next = (g.next + 1) % len(g.reqs)
	g.mu.Unlock()
	return g.Request(i)
}

// Prompt is the prompt of the trace's request i.
func (g *TraceGenerator) Prompt(i int) string {
	r := g.reqs[i]
	chars := r.InputTokens * tokenizer.CharsPerToken
	if len(r.HashIDs) == 0 {
		// A stream of its own: seeded by the index, apart from block ids.
		return words(rand.New(rand.NewPCG(g.salt^0x0dd5eed5, uint64(i))), chars)
	}
	var b strings.Builder
	b.Grow(chars)
	whole := g.block * tokenizer.CharsPerToken
	for _, id := range r.HashIDs {
		text := g.blockText(id, whole)
		b.WriteString(text[:min(len(text), chars-b.Len())])
	}
	return b.String()
}

// blockText is the text of block id, whole characters long.
func (g *TraceGenerator) blockText(id int64, whole int) string {
	g.mu.Lock()
	text, ok := g.blocks[id]
	g.mu.Unlock()
	if ok {
		return text
	}
	text = words(rand.New(rand.NewPCG(g.salt, uint64(id))), whole)
	g.mu.Lock()
	if len(g.blocks) >= maxCachedBlocks {
		clear(g.blocks)
	}
	g.blocks[id] = text
	g.mu.Unlock()
	return text
}

// words is n characters of random words of the vocabulary, each followed
// by a space (the last one cut where n ends).
func words(rng *rand.Rand, n int) string {
	var b strings.Builder
	b.Grow(n + 16)
	for b.Len() < n {
		b.WriteString(vocabulary[rng.IntN(len(vocabulary))])
		b.WriteByte(' ')
	}
	return b.String()[:n]
}

// mix64 is SplitMix64's finalizer: a seed spread over all bits.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
