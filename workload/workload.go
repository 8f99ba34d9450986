// Package workload turns a configured workload into the requests a probe or
// soak sends: prompt texts, conversations, embeddings inputs, rerank
// documents, images and output-length options, repeatable for a seed.
//
// Prompts come from one of three sources: a fixed prompt, a dataset file
// (see package dataset) or synthetic text of a target length in tokens.
// Synthetic lengths are counted with the workload's tokenizer.json when it
// names one, else estimated at tokenizer.CharsPerToken characters per token
// (the simulator counts the same way, so its usage then matches).
//
// With a cold prefix cache (the default) every request starts with a unique
// nonce (see nonce.go), so that a server's prefix cache cannot serve it.
// Servers cache prefixes of the prompt as they tokenize it (vLLM in blocks
// of 16 tokens whose hashes chain from the start, SGLang and llama.cpp
// token by token), so the nonce is the first text sent: it starts the
// system message where the workload has one (chat sends it first,
// completions prepend it to the prompt), else the first message of a
// dataset conversation, whatever its role, else the prompt; only the chat
// template's own header comes before it. Each embeddings input starts with
// a nonce of its own, and a rerank query with one (every query+document
// pair is then new). Synthetic lengths include the nonce.
package workload

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/dataset"
	"github.com/llmprobe/llmprobe/probe"
	"github.com/llmprobe/llmprobe/tokenizer"
)

// WordsPerToken is the ratio of the old estimate, kept for callers of
// Synthetic; sizing now counts characters (tokenizer.CharsPerToken).
const WordsPerToken = 0.75

// Generator hands out requests. It is safe for concurrent use.
type Generator struct {
	w    config.Workload
	kind probe.Kind // "" fills the fields of every kind

	entries []dataset.Entry   // dataset or fixed prompt
	synth   *synthetic        // input_tokens
	images  []string          // data: URIs
	answer  *probe.AnswerSpec // tools and json_schema (tools.go); nil: none

	mu  sync.Mutex
	rng *rand.Rand // prompt choice and lengths; never nonces
}

// New builds a generator for w whose requests carry the fields of every
// kind (a chat prompt, embeddings inputs, rerank documents). The dataset
// and images are those parsed when w's config was loaded (a Workload built
// in code has them read here); the tokenizer comes from tokenizer.Load's
// cache.
func New(w *config.Workload) (*Generator, error) { return NewForKind(w, "") }

// NewForKind builds a generator for w whose requests carry only what a
// target of kind (config.KindChat, ...) sends.
func NewForKind(w *config.Workload, kind probe.Kind) (*Generator, error) {
	g := &Generator{w: *w, kind: kind, rng: rand.New(rand.NewPCG(uint64(w.Seed), 0x11a9b0be))}
	fail := func(err error) (*Generator, error) { return nil, fmt.Errorf("workload %q: %w", w.Name, err) }
	switch {
	case w.Dataset != "":
		e, err := w.DatasetEntries()
		if err != nil {
			return fail(err)
		}
		g.entries = e
	case w.InputTokens > 0:
		var counter tokenizer.Counter = tokenizer.Estimate{}
		if w.Tokenizer != "" {
			// Cached by tokenizer.Load for an unchanged file; a file
			// changed since validation is checked again.
			tk, err := tokenizer.Load(w.Tokenizer)
			if err != nil {
				return fail(err)
			}
			counter = tk
		}
		g.synth = newSynthetic(w, counter, g.rng)
	default:
		prompt := w.Prompt
		if prompt == "" {
			prompt = config.DefaultPrompt
		}
		g.entries = []dataset.Entry{{Prompt: prompt}}
	}
	images, err := w.ImageURIs()
	if err != nil {
		return fail(err)
	}
	g.images = images
	if g.answer, err = answerSpec(w, kind); err != nil {
		return fail(err)
	}
	return g, nil
}

func (g *Generator) wants(kind probe.Kind) bool { return g.kind == "" || g.kind == kind }

// Cold reports whether the generator's prompts start with a unique nonce
// (prefix_cache cold, the default): a server's prefix cache should then
// serve none of them (probe.ColdCacheHit).
func (g *Generator) Cold() bool { return g.w.PrefixCache != config.PrefixCacheWarm }

// Next returns the next request.
func (g *Generator) Next() probe.Request {
	g.mu.Lock()
	defer g.mu.Unlock()
	req := probe.Request{System: g.w.System, Temperature: g.w.Temperature, Cold: g.Cold()}
	n := g.outputTokens()
	req.MaxTokens, req.MinTokens = n, n

	// The chat / completions / vision prompt, or conversation.
	if g.wants(config.KindChat) || g.wants(config.KindCompletions) || g.wants(config.KindVision) {
		nonce := g.nonce()
		e := g.entry(nonce)
		req.Prompt = e.Prompt
		if g.wants(config.KindChat) || g.wants(config.KindVision) {
			req.Messages = messages(e.Messages) // completions send the prompt only
		}
		if nonce != "" && req.System != "" {
			// The system message comes first (chat sends it before
			// the prompt, completions prepend it): the nonce leads it,
			// lest the system prompt be a prefix every request shares
			// and the server caches. A conversation replaces both in
			// chat and has the nonce in its first message already.
			req.System = nonce + " " + req.System
			req.Prompt = strings.TrimPrefix(req.Prompt, nonce+" ")
		}
	}
	if g.wants(config.KindVision) && len(g.images) > 0 {
		req.Images = g.pickImages()
	}
	if g.wants(config.KindChat) || g.wants(config.KindVision) {
		req.Answer = g.answer
	}
	if g.wants(config.KindEmbeddings) {
		size := g.w.BatchSize
		if size <= 0 {
			size = config.DefaultBatchSize
		}
		req.Inputs = make([]string, size)
		for i := range req.Inputs {
			req.Inputs[i] = g.entry(g.nonce()).Prompt
		}
		req.Dimensions = g.w.Dimensions
	}
	if g.wants(config.KindRerank) {
		q := g.w.Query
		if q == "" {
			q = config.DefaultQuery
		}
		if nonce := g.nonce(); nonce != "" {
			q = nonce + " " + q
		}
		req.Query = q
		docs := g.w.Documents
		if docs <= 0 {
			docs = config.DefaultDocuments
		}
		req.Documents = make([]string, docs)
		for i := range req.Documents {
			req.Documents[i] = g.entry("").Prompt
		}
	}
	return req
}

// nonce returns a unique prefix for a cold prompt, "" for a warm one. It
// draws nothing from g.rng, so that prompt choice and lengths stay those of
// the seed.
func (g *Generator) nonce() string {
	if !g.Cold() {
		return ""
	}
	return newNonce()
}

// entry picks a prompt, prefixed with nonce (a conversation gets it at the
// start of its first message). Called with g.mu held.
func (g *Generator) entry(nonce string) dataset.Entry {
	if g.synth != nil {
		return dataset.Entry{Prompt: g.synth.prompt(nonce, g.rng)}
	}
	e := g.entries[g.rng.IntN(len(g.entries))]
	if nonce == "" {
		return e
	}
	if len(e.Messages) > 0 {
		msgs := make([]dataset.Message, len(e.Messages))
		copy(msgs, e.Messages)
		msgs[0].Content = nonce + " " + msgs[0].Content
		e.Messages = msgs
		if e.Messages[0].Role == "user" && len(e.Messages) == 1 {
			e.Prompt = e.Messages[0].Content
		} else {
			e.Prompt = nonce + " " + e.Prompt
		}
		return e
	}
	e.Prompt = nonce + " " + e.Prompt
	return e
}

// messages converts a dataset conversation.
func messages(ms []dataset.Message) []probe.Message {
	if ms == nil {
		return nil
	}
	out := make([]probe.Message, len(ms))
	for i, m := range ms {
		out[i] = probe.Message{Role: m.Role, Content: m.Content}
	}
	return out
}

// pickImages draws ImagesPerRequest of the images, in a random order.
// Called with g.mu held.
func (g *Generator) pickImages() []string {
	k := g.w.ImagesPerRequest
	if k <= 0 || k >= len(g.images) {
		return g.images
	}
	out := make([]string, k)
	for i, j := range g.rng.Perm(len(g.images))[:k] {
		out[i] = g.images[j]
	}
	return out
}

// outputTokens samples the requested length the way inference-benchmarker
// does: normal around num_tokens with stddev variance, clamped to
// [min_tokens, max_tokens]. Called with g.mu held.
func (g *Generator) outputTokens() int {
	d := g.w.OutputTokens
	n := d.NumTokens
	if n <= 0 {
		n = config.DefaultNumTokens
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

// Synthetic returns a prompt of about tokens tokens, estimated at
// tokenizer.CharsPerToken characters per token.
func Synthetic(tokens int, rng *rand.Rand) string {
	s := newSyntheticLen(tokens, tokenizer.Estimate{}, rng, 1)
	return strings.TrimPrefix(s.cut(0, float64(tokens)), " ")
}

// synthetic makes prompts of a drawn length from pregenerated bodies of
// random words: each body is cut where its cumulative token count is
// nearest the length wanted, less the nonce's tokens.
type synthetic struct {
	mean, stddev float64
	lo, hi       int
	nonceTokens  float64 // average tokens of a nonce
	bodies       []body
	estimate     bool
}

// body is " w1 w2 ...": every word with its leading space, so that token
// counts add up word by word (tokenizers split on that space first).
type body struct {
	text string
	ends []int     // ends[i]: end of word i in text
	cum  []float64 // cum[i]: tokens of text[:ends[i]]
}

// maxSyntheticTokens bounds the text pregenerated for a workload.
const maxSyntheticTokens = 4 << 20

func newSynthetic(w *config.Workload, counter tokenizer.Counter, rng *rand.Rand) *synthetic {
	bodies := 1
	if w.PrefixCache != config.PrefixCacheWarm {
		bodies = 16 // distinct texts behind the nonces
	}
	s := newSyntheticLen(w.InputTokens, counter, rng, bodies, w.InputTokensStddev, w.InputTokensMin, w.InputTokensMax)
	if w.PrefixCache != config.PrefixCacheWarm {
		// The average nonce, measured on fixed samples of the shape Next
		// sends (not drawn: lengths must stay those of the seed).
		const samples = 32
		total := 0.0
		for i := range samples {
			total += s.cost(counter, formatNonce(mix48(uint64(i)*0x5851f42d4c95)))
		}
		s.nonceTokens = total / samples
	}
	return s
}

// newSyntheticLen pregenerates the bodies. spread is stddev, min, max.
func newSyntheticLen(mean int, counter tokenizer.Counter, rng *rand.Rand, bodies int, spread ...int) *synthetic {
	s := &synthetic{mean: float64(mean), lo: 1, hi: math.MaxInt}
	_, s.estimate = counter.(tokenizer.Estimate)
	if len(spread) == 3 {
		s.stddev = float64(spread[0])
		if spread[1] > 0 {
			s.lo = spread[1]
		}
		if spread[2] > 0 {
			s.hi = spread[2]
		}
	}
	longest := mean
	if s.hi != math.MaxInt {
		longest = s.hi
	} else if s.stddev > 0 {
		longest = mean + int(math.Ceil(4*s.stddev))
	}
	longest += 8 // room for the nearest cut above the target
	bodies = max(1, min(bodies, maxSyntheticTokens/max(longest, 1)))

	costs := make([]float64, len(vocabulary))
	for i, v := range vocabulary {
		costs[i] = s.cost(counter, " "+v)
	}
	for range bodies {
		var b strings.Builder
		var bd body
		total := 0.0
		for total < float64(longest) {
			i := rng.IntN(len(vocabulary))
			b.WriteByte(' ')
			b.WriteString(vocabulary[i])
			total += costs[i]
			bd.ends = append(bd.ends, b.Len())
			bd.cum = append(bd.cum, total)
		}
		bd.text = b.String()
		s.bodies = append(s.bodies, bd)
	}
	return s
}

// cost is the tokens of text: counted, or estimated in fractions of a
// token so that estimated lengths add up across words.
func (s *synthetic) cost(counter tokenizer.Counter, text string) float64 {
	if s.estimate {
		return float64(utf8.RuneCountInString(text)) / tokenizer.CharsPerToken
	}
	return float64(counter.Count(text))
}

// prompt returns nonce followed by a body cut to a drawn length. Called
// with the generator's lock held (rng).
func (s *synthetic) prompt(nonce string, rng *rand.Rand) string {
	n := s.mean
	if s.stddev > 0 {
		n = math.Round(s.mean + rng.NormFloat64()*s.stddev)
	}
	n = math.Max(float64(s.lo), math.Min(float64(s.hi), n))
	i := 0
	if len(s.bodies) > 1 {
		i = rng.IntN(len(s.bodies))
	}
	if nonce == "" {
		return strings.TrimPrefix(s.cut(i, n), " ")
	}
	return nonce + s.cut(i, n-s.nonceTokens)
}

// cut returns the words of body i whose token count is nearest want (at
// least one word).
func (s *synthetic) cut(i int, want float64) string {
	bd := &s.bodies[i]
	k := sort.SearchFloat64s(bd.cum, want) // first cum >= want
	if k >= len(bd.cum) {
		k = len(bd.cum) - 1
	}
	if k > 0 && want-bd.cum[k-1] < bd.cum[k]-want {
		k--
	}
	return bd.text[:bd.ends[k]]
}
