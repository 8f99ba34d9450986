package workload

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
	"unicode/utf8"

	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/dataset"
	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/probe"
	"github.com/llmprobe/llmprobe/tokenizer"
)

// Sessions (issue 14): a workload with conversation: replays its dataset's
// conversations turn by turn, one with shared_prefix: sends prompts in
// groups that share a prefix (sharedprefix.go). Either is a load.Sessions,
// which the load runner (and the daemon's probes) take from the generator
// once per run, instead of calling Next.
//
// Nonces of a conversation: prefix_cache cold starts the conversation's
// first message with a nonce, once per conversation, and every later turn
// sends the same history, nonce included: the history is what the cache is
// for, so only a conversation's first turn is a cold request
// (probe.Request.Cold), and later turns are expected to hit.

// Sessions returns the sessions of one run of g's workload: its
// conversations or its shared-prefix groups; nil, nil for a workload of
// independent requests. Each call is a run: a cold shared prefix draws new
// group nonces.
func (g *Generator) Sessions() (load.Sessions, error) {
	switch {
	case g.w.Conversation != nil:
		c, err := g.conversations()
		if err != nil {
			return nil, fmt.Errorf("workload %q: conversation: %w", g.w.Name, err)
		}
		return c, nil
	case g.w.SharedPrefix != nil:
		s, err := g.sharedPrefixes()
		if err != nil {
			return nil, fmt.Errorf("workload %q: shared_prefix: %w", g.w.Name, err)
		}
		return s, nil
	}
	return nil, nil
}

// CheckSessions reports whether g's sessions, if any, can be sent to its
// kind of target, without starting a run (for the daemon, at reload).
func (g *Generator) CheckSessions() error {
	if err := g.kindProblem(); err != nil {
		block := "conversation"
		if g.w.Conversation == nil {
			block = "shared_prefix"
		}
		return fmt.Errorf("workload %q: %s: %w", g.w.Name, block, err)
	}
	return nil
}

// kindProblem says why g's kind cannot take its sessions.
func (g *Generator) kindProblem() error {
	switch {
	case g.w.Conversation != nil && !g.wants(config.KindChat):
		return fmt.Errorf("replays chat messages: only chat targets take it, not %s", g.kind)
	case g.w.SharedPrefix != nil && !g.wants(config.KindChat) && !g.wants(config.KindCompletions) && !g.wants(config.KindVision):
		return fmt.Errorf("only chat, completions and vision targets take its prompts, not %s", g.kind)
	}
	return nil
}

// conversations is a run's conversation replay.
type conversations struct {
	g     *Generator
	convs []dataset.Conversation
	cfg   config.Conversation
	plan  load.SessionPlan
}

func (g *Generator) conversations() (*conversations, error) {
	if err := g.kindProblem(); err != nil {
		return nil, err
	}
	convs, err := g.w.DatasetConversations()
	if err != nil {
		return nil, err
	}
	if len(convs) == 0 {
		return nil, errors.New("the dataset holds no conversation")
	}
	c := *g.w.Conversation
	if c.History == "" {
		c.History = config.HistoryDataset
	}
	if c.ThinkTimeDistribution == "" {
		c.ThinkTimeDistribution = config.ThinkFixed
	}
	return &conversations{g: g, convs: convs, cfg: c, plan: load.SessionPlan{
		Kind:                  load.SessionConversation,
		History:               c.History,
		ThinkTimeMS:           float64(c.ThinkTime) / float64(time.Millisecond),
		ThinkTimeDistribution: c.ThinkTimeDistribution,
		HoldSlot:              c.HoldSlot,
		MaxTurns:              c.MaxTurns,
		MaxContextTokens:      c.MaxContextTokens,
	}}, nil
}

func (c *conversations) Plan() load.SessionPlan { return c.plan }

// Next picks a conversation (seeded, like prompts) and draws its turns'
// output lengths and its think times' seed.
func (c *conversations) Next() load.Session {
	g := c.g
	g.mu.Lock()
	conv := c.convs[g.rng.IntN(len(c.convs))]
	n := len(conv.Turns)
	if c.cfg.MaxTurns > 0 {
		n = min(n, c.cfg.MaxTurns)
	}
	lens := make([]int, n)
	for i := range lens {
		lens[i] = g.outputTokens()
	}
	seed := g.rng.Uint64()
	g.mu.Unlock()
	cv := &conversation{c: c, conv: conv, lens: lens, rng: rand.New(rand.NewPCG(seed, 0x7417c0de))}
	if g.Cold() {
		cv.nonce = newNonce()
	}
	return cv
}

// conversation is one conversation being replayed.
type conversation struct {
	c     *conversations
	conv  dataset.Conversation
	lens  []int // max_tokens of each turn
	rng   *rand.Rand
	nonce string

	msgs []probe.Message // the history, with the turn in flight's user message
	turn int             // turns done
	end  string

	// The last prompt as the server counted it (0: not reported) and the
	// characters it had, for max_context_tokens.
	servedTokens, servedChars int
}

// Next builds the next turn: the history so far and the turn's user
// message.
func (cv *conversation) Next() (probe.Request, load.Turn, bool) {
	if cv.end != "" {
		return probe.Request{}, load.Turn{}, false
	}
	if cv.turn == len(cv.lens) {
		cv.end = load.EndCompleted
		if cv.turn < len(cv.conv.Turns) {
			cv.end = load.EndMaxTurns
		}
		return probe.Request{}, load.Turn{}, false
	}
	w := &cv.c.g.w
	keep := len(cv.msgs)
	if cv.turn == 0 {
		system := cv.conv.System
		if system == "" {
			system = w.System
		}
		if system != "" {
			cv.msgs = append(cv.msgs, probe.Message{Role: "system", Content: system})
		}
	}
	user := cv.conv.Turns[cv.turn].User
	cv.msgs = append(cv.msgs, probe.Message{Role: "user", Content: user})
	if cv.turn == 0 && cv.nonce != "" {
		// The nonce leads the first message, whatever its role: a server
		// caches prefixes, so nothing before it may repeat.
		cv.msgs[0].Content = cv.nonce + " " + cv.msgs[0].Content
		if len(cv.msgs) == 1 {
			user = cv.msgs[0].Content
		}
	}
	n := cv.lens[cv.turn]
	if limit := cv.c.cfg.MaxContextTokens; limit > 0 && cv.contextTokens()+n > limit {
		cv.msgs = cv.msgs[:keep]
		cv.end = load.EndMaxContext
		return probe.Request{}, load.Turn{}, false
	}
	req := probe.Request{
		Cold:        cv.nonce != "" && cv.turn == 0,
		Prompt:      user,
		Messages:    cv.msgs[:len(cv.msgs):len(cv.msgs)], // later appends cannot reach it
		MaxTokens:   n,
		MinTokens:   n,
		Temperature: w.Temperature,
	}
	return req, load.Turn{Index: cv.turn + 1, Warm: cv.turn > 0}, true
}

// contextTokens estimates the tokens of the prompt in cv.msgs: the last
// prompt as the server counted it (its chat template included) plus what
// was added since, at tokenizer.CharsPerToken characters per token; all
// estimated before the server has said.
func (cv *conversation) contextTokens() int {
	chars := 0
	for _, m := range cv.msgs {
		chars += utf8.RuneCountInString(m.Content)
	}
	if cv.servedTokens > 0 {
		return cv.servedTokens + (chars-cv.servedChars+tokenizer.CharsPerToken-1)/tokenizer.CharsPerToken
	}
	return (chars + tokenizer.CharsPerToken - 1) / tokenizer.CharsPerToken
}

// Done adds the turn's answer to the history: the dataset's, or with
// history: server the server's own.
func (cv *conversation) Done(rec *probe.Record, answer string) {
	if !rec.Success() {
		cv.end = load.EndFailed
		return
	}
	if rec.UsageReported && rec.InputTokens > 0 {
		cv.servedTokens = rec.InputTokens
		cv.servedChars = 0
		for _, m := range cv.msgs {
			cv.servedChars += utf8.RuneCountInString(m.Content)
		}
	}
	reply := cv.conv.Turns[cv.turn].Assistant
	if cv.c.cfg.History == config.HistoryServer {
		reply = answer
	}
	cv.msgs = append(cv.msgs, probe.Message{Role: "assistant", Content: reply})
	cv.turn++
}

// Think returns the pause before the next turn: the think time, or a draw
// of the exponential distribution around it.
func (cv *conversation) Think() time.Duration {
	mean := time.Duration(cv.c.cfg.ThinkTime)
	if cv.c.cfg.ThinkTimeDistribution == config.ThinkExponential {
		return time.Duration(cv.rng.ExpFloat64() * float64(mean))
	}
	return mean
}

func (cv *conversation) End() string { return cv.end }
