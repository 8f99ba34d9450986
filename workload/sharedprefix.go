package workload

import (
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/probe"
	"github.com/llmprobe/llmprobe/tokenizer"
)

// Shared prefixes (issue 14, config.SharedPrefix): a run's requests take
// the groups in turn, so that the first Groups requests are the first of
// their group (cold: the cache cannot hold their prefix yet) and every
// later one should find its group's prefix cached (warm).
//
// The prefix texts are synthetic words drawn from the workload's seed
// alone, so they are the same text in every run; with prefix_cache cold
// each group's prefix starts with a nonce drawn for the run (the system
// message, where the workload has one, comes first and starts with it
// instead), so that no run finds another's prefixes cached. Each request's
// suffix starts with a nonce of its own, so that no two prompts are the
// same beyond their group's prefix; the prompt's length (prefix and
// suffix) is drawn from input_tokens as for any synthetic prompt.

// sharedPrefixes is one run's groups.
type sharedPrefixes struct {
	g        *Generator
	system   []string // per group: the system message (nonce-led when cold)
	prefixes []string // per group
	suffix   *synthetic
	plan     load.SessionPlan

	mu   sync.Mutex
	next int
}

func (g *Generator) sharedPrefixes() (*sharedPrefixes, error) {
	if err := g.kindProblem(); err != nil {
		return nil, err
	}
	w := &g.w
	sp := *w.SharedPrefix
	if sp.Groups < 1 || sp.PrefixTokens < 1 || w.InputTokens <= sp.PrefixTokens {
		return nil, errors.New("needs groups, prefix_tokens and input_tokens above prefix_tokens")
	}
	var counter tokenizer.Counter = tokenizer.Estimate{}
	if w.Tokenizer != "" {
		tk, err := tokenizer.Load(w.Tokenizer)
		if err != nil {
			return nil, err
		}
		counter = tk
	}
	s := &sharedPrefixes{g: g, plan: load.SessionPlan{Kind: load.SessionSharedPrefix, Groups: sp.Groups, PrefixTokens: sp.PrefixTokens}}

	// The prefixes: the same words in every run.
	bodies := newSyntheticLen(sp.PrefixTokens, counter, rand.New(rand.NewPCG(uint64(w.Seed), 0x5a4ed9f1)), sp.Groups)
	if len(bodies.bodies) < sp.Groups {
		return nil, errors.New("groups × prefix_tokens is more prefix text than a run may build")
	}
	nonceTokens := averageNonceTokens(bodies, counter)
	for i := range sp.Groups {
		system, prefix := w.System, ""
		switch {
		case !g.Cold():
			prefix = strings.TrimPrefix(bodies.cut(i, float64(sp.PrefixTokens)), " ")
		case system != "":
			system = newNonce() + " " + system
			prefix = strings.TrimPrefix(bodies.cut(i, float64(sp.PrefixTokens)), " ")
		default:
			// The nonce is part of the group's prefix, and of its length.
			prefix = newNonce() + bodies.cut(i, float64(sp.PrefixTokens)-nonceTokens)
		}
		s.system = append(s.system, system)
		s.prefixes = append(s.prefixes, prefix)
	}

	// The suffixes: what input_tokens leaves after the prefix, each led by
	// a nonce of its own.
	lo, hi := 0, 0
	if w.InputTokensMin > 0 {
		lo = max(w.InputTokensMin-sp.PrefixTokens, 1)
	}
	if w.InputTokensMax > 0 {
		hi = max(w.InputTokensMax-sp.PrefixTokens, 1)
	}
	g.mu.Lock()
	s.suffix = newSyntheticLen(w.InputTokens-sp.PrefixTokens, counter, g.rng, 16, w.InputTokensStddev, lo, hi)
	g.mu.Unlock()
	s.suffix.nonceTokens = averageNonceTokens(s.suffix, counter)
	return s, nil
}

// averageNonceTokens is the tokens of a nonce with its leading text, on
// average, measured on fixed samples (not drawn: lengths must stay those
// of the seed), as newSynthetic measures it.
func averageNonceTokens(s *synthetic, counter tokenizer.Counter) float64 {
	const samples = 32
	total := 0.0
	for i := range samples {
		total += s.cost(counter, formatNonce(mix48(uint64(i)*0x5851f42d4c95)))
	}
	return total / samples
}

func (s *sharedPrefixes) Plan() load.SessionPlan { return s.plan }

// Next returns the next request, of the next group in turn, as a session
// of one request.
func (s *sharedPrefixes) Next() load.Session {
	s.mu.Lock()
	k := s.next
	s.next++
	s.mu.Unlock()
	groups := len(s.prefixes)
	group, first := k%groups, k < groups
	g := s.g
	req := probe.Request{System: s.system[group], Temperature: g.w.Temperature, Cold: g.Cold() && first}
	g.mu.Lock()
	suffix := s.suffix.prompt(newNonce(), g.rng)
	n := g.outputTokens()
	if g.wants(config.KindVision) && len(g.images) > 0 {
		req.Images = g.pickImages()
	}
	g.mu.Unlock()
	req.Prompt = s.prefixes[group] + " " + suffix
	req.MaxTokens, req.MinTokens = n, n
	return &single{req: req, turn: load.Turn{Warm: !first}}
}

// single is a session of one request.
type single struct {
	req  probe.Request
	turn load.Turn
	sent bool
	end  string
}

func (s *single) Next() (probe.Request, load.Turn, bool) {
	if s.sent {
		if s.end == "" {
			s.end = load.EndCompleted
		}
		return probe.Request{}, load.Turn{}, false
	}
	s.sent = true
	return s.req, s.turn, true
}

func (s *single) Done(rec *probe.Record, _ string) {
	if !rec.Success() {
		s.end = load.EndFailed
	}
}

func (*single) Think() time.Duration { return 0 }
func (s *single) End() string        { return s.end }
