package config

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/common/model"

	"github.com/llmprobe/llmprobe/dataset"
)

// Conversation (issue 14) replays a dataset's multi-turn conversations turn
// by turn: each turn sends the history so far, the answers in it the
// dataset's (history: dataset) or the server's own (history: server), after
// a think time. Needs dataset:. A run's arrival (open loop) or virtual user
// (closed loop) starts a conversation, and a conversation ends after its
// last turn, at max_turns, before a turn that would pass
// max_context_tokens, or at its first failed turn.
type Conversation struct {
	// History is dataset (the default: the dataset's recorded answers)
	// or server (the server's answers, as a real user sees them).
	History string `yaml:"history,omitempty" json:"history,omitempty"`
	// ThinkTime is the pause between a turn's answer and the next turn;
	// ThinkTimeDistribution is fixed (default) or exponential (around
	// ThinkTime as its mean, seeded).
	ThinkTime             model.Duration `yaml:"think_time,omitempty" json:"think_time,omitempty"`
	ThinkTimeDistribution string         `yaml:"think_time_distribution,omitempty" json:"think_time_distribution,omitempty"`
	// HoldSlot keeps a conversation's virtual user (closed loop) or
	// in-flight slot (open loop) during its think time, as a real user's
	// session does; unset, the user serves other conversations meanwhile
	// and the slot is free.
	HoldSlot bool `yaml:"hold_slot,omitempty" json:"hold_slot,omitempty"`
	// MaxTurns caps the turns replayed per conversation (0: all).
	MaxTurns int `yaml:"max_turns,omitempty" json:"max_turns,omitempty"`
	// MaxContextTokens ends a conversation before a turn whose prompt and
	// requested output would exceed it (the model's window; 0: no limit).
	// The prompt is the previous turn's as the server counted it, plus the
	// new text at 4 characters per token.
	MaxContextTokens int `yaml:"max_context_tokens,omitempty" json:"max_context_tokens,omitempty"`

	// parsed is the dataset's conversations, read when the config was
	// loaded (see Workload.DatasetConversations).
	parsed parsedConversations
}

type parsedConversations struct {
	path  string
	convs []dataset.Conversation
}

// History and think time values (Conversation).
const (
	HistoryDataset = "dataset"
	// HistoryServer sends the server's own answers back, as a real user's
	// client does (probe.Client.DoAnswer keeps each answer's text).
	HistoryServer    = "server"
	ThinkFixed       = "fixed"
	ThinkExponential = "exponential"

	// MaxTurnsLimit bounds max_turns.
	MaxTurnsLimit = 1000
	// MaxThinkTime bounds think_time.
	MaxThinkTime = time.Hour
	// MaxPrefixGroups bounds shared_prefix.groups: each group's prefix
	// text is built at the start of every run.
	MaxPrefixGroups = 4096
	// maxPrefixText bounds groups × prefix_tokens, the text built per run
	// (half what a workload may pregenerate, so that the words each group
	// needs beyond its prefix fit too).
	maxPrefixText = 2 << 20
)

var (
	histories = []string{HistoryDataset, HistoryServer}
	thinks    = []string{ThinkFixed, ThinkExponential}
)

// SharedPrefix (issue 14) builds synthetic prompts in Groups groups: each
// prompt is its group's shared prefix of PrefixTokens tokens followed by a
// unique suffix (it starts with a nonce), the whole input_tokens long (with
// its spread: input_tokens_stddev, _min, _max), so that a server's prefix
// cache can serve the prefix. Requests take the groups in turn. With
// prefix_cache cold (the default) each group's prefix starts with a nonce
// drawn afresh for every run: shared within a run, never across runs (the
// first request of each group in a run misses the cache); warm, the
// prefixes are the same text in every run. Lengths are counted with the
// workload's tokenizer when it names one, else at 4 characters per token.
//
// The schema's first sketch had suffix_tokens; the suffix is what
// input_tokens leaves instead, because input_tokens already carries the
// length distribution and is what a tokenizer sizes (tokenizer: is refused
// without it), and a workload with no prompt source is given the default
// prompt.
type SharedPrefix struct {
	Groups       int `yaml:"groups" json:"groups"`
	PrefixTokens int `yaml:"prefix_tokens" json:"prefix_tokens"`
}

// validateConversation checks a workload's conversation block and reads its
// dataset's conversations.
func (l *loader) validateConversation(w *Workload, p string) {
	if w.Conversation == nil {
		return
	}
	cp := p + ".conversation"
	has := func(k string) bool { return l.has(cp+"."+k, conversationFieldSet(w.Conversation, k)) }
	for _, pr := range conversationProblems(w, has) {
		l.errorf(joinField(cp, pr.key), "%s", pr.msg)
	}
	if w.Dataset == "" || l.bad[p+".dataset"] {
		return
	}
	// validateWorkload resolves and checks the dataset after this; its
	// errors (unreadable, malformed) are reported there, once.
	path := resolvePath(l.dir, w.Dataset)
	if err := w.Conversation.parse(path); err != nil {
		if dataset.Check(path) == nil {
			l.errorf(p+".dataset", "%s", pathErr(err))
		}
	}
}

func joinField(p, key string) string {
	if key == "" {
		return p
	}
	return p + "." + key
}

// conversationFieldSet reports whether field k of c is non-zero (for a
// config built in code, where presence is not recorded).
func conversationFieldSet(c *Conversation, k string) bool {
	switch k {
	case "history":
		return c.History != ""
	case "think_time":
		return c.ThinkTime != 0
	case "think_time_distribution":
		return c.ThinkTimeDistribution != ""
	case "max_turns":
		return c.MaxTurns != 0
	case "max_context_tokens":
		return c.MaxContextTokens != 0
	}
	return false
}

// conversationProblems returns the problems of w's conversation block by
// its field ("" for the block itself); has reports whether a field was
// given.
func conversationProblems(w *Workload, has func(string) bool) []keyMsg {
	c := w.Conversation
	var probs []keyMsg
	bad := func(k, format string, args ...any) { probs = append(probs, keyMsg{k, fmt.Sprintf(format, args...)}) }
	switch {
	case w.Dataset == "":
		bad("", "needs dataset: (the conversations to replay)")
	case w.SharedPrefix != nil:
		bad("", "conflicts with shared_prefix: set only one")
	}
	switch c.History {
	case "", HistoryDataset, HistoryServer:
	default:
		bad("history", "invalid history %s (want %s)", quote(c.History), list(histories))
	}
	if has("think_time") && (c.ThinkTime < 0 || time.Duration(c.ThinkTime) > MaxThinkTime) {
		bad("think_time", "must be between 0s and %s", model.Duration(MaxThinkTime))
	}
	switch c.ThinkTimeDistribution {
	case "", ThinkFixed:
	case ThinkExponential:
		if c.ThinkTime <= 0 {
			bad("think_time_distribution", "exponential needs a think_time (its mean)")
		}
	default:
		bad("think_time_distribution", "invalid think_time_distribution %s (want %s)", quote(c.ThinkTimeDistribution), list(thinks))
	}
	if has("max_turns") && (c.MaxTurns < 1 || c.MaxTurns > MaxTurnsLimit) {
		bad("max_turns", "must be between 1 and %d", MaxTurnsLimit)
	}
	if has("max_context_tokens") && (c.MaxContextTokens < 1 || c.MaxContextTokens > TokensLimit) {
		bad("max_context_tokens", "must be between 1 and %d", TokensLimit)
	}
	return probs
}

// parse reads the conversations of the dataset at path.
func (c *Conversation) parse(path string) error {
	convs, err := dataset.LoadConversations(path)
	if err != nil {
		return err
	}
	c.parsed = parsedConversations{path: path, convs: convs}
	return nil
}

// DatasetConversations returns the conversations of the Dataset file, for a
// workload with a conversation block: those parsed when the config was
// loaded, else (a Workload built in code, or one whose dataset changed
// since) read now.
func (w *Workload) DatasetConversations() ([]dataset.Conversation, error) {
	if w.Conversation == nil {
		return nil, errors.New("not a conversation workload")
	}
	if pc := w.Conversation.parsed; pc.convs != nil && pc.path == w.Dataset {
		return pc.convs, nil
	}
	return dataset.LoadConversations(w.Dataset)
}

// validateSharedPrefix checks a workload's shared_prefix block.
func (l *loader) validateSharedPrefix(w *Workload, p string) {
	if w.SharedPrefix == nil {
		return
	}
	sp := p + ".shared_prefix"
	has := func(k string) bool { return l.has(sp+"."+k, sharedPrefixFieldSet(w.SharedPrefix, k)) }
	for _, pr := range sharedPrefixProblems(w, has, l.has(p+".input_tokens", w.InputTokens != 0)) {
		l.errorf(joinField(sp, pr.key), "%s", pr.msg)
	}
}

func sharedPrefixFieldSet(s *SharedPrefix, k string) bool {
	switch k {
	case "groups":
		return s.Groups != 0
	case "prefix_tokens":
		return s.PrefixTokens != 0
	}
	return false
}

// sharedPrefixProblems returns the problems of w's shared_prefix block by
// field; inputTokens says whether input_tokens was given.
func sharedPrefixProblems(w *Workload, has func(string) bool, inputTokens bool) []keyMsg {
	s := w.SharedPrefix
	var probs []keyMsg
	bad := func(k, format string, args ...any) { probs = append(probs, keyMsg{k, fmt.Sprintf(format, args...)}) }
	if !inputTokens || w.InputTokens <= 0 {
		// A prompt or dataset given instead is refused as a second
		// source by validateWorkload.
		bad("", "needs input_tokens: each prompt's length, the shared prefix and its unique suffix")
	}
	okGroups, okPrefix := true, true
	if !has("groups") {
		bad("groups", "required")
		okGroups = false
	} else if s.Groups < 1 || s.Groups > MaxPrefixGroups {
		bad("groups", "must be between 1 and %d", MaxPrefixGroups)
		okGroups = false
	}
	if !has("prefix_tokens") {
		bad("prefix_tokens", "required")
		okPrefix = false
	} else if s.PrefixTokens < 1 || s.PrefixTokens > TokensLimit {
		bad("prefix_tokens", "must be between 1 and %d", TokensLimit)
		okPrefix = false
	}
	if okGroups && okPrefix && s.Groups*s.PrefixTokens > maxPrefixText {
		bad("", "groups × prefix_tokens (%d) exceeds %d tokens of prefix text", s.Groups*s.PrefixTokens, maxPrefixText)
	}
	if okPrefix && inputTokens && w.InputTokens > 0 {
		// The shortest prompt must still have a suffix after the prefix.
		shortest, field := w.InputTokens, "input_tokens"
		if w.InputTokensMin > 0 {
			shortest, field = w.InputTokensMin, "input_tokens_min"
		}
		if shortest <= s.PrefixTokens {
			bad("prefix_tokens", "%d leaves no suffix in prompts of %s %d: make the prompts longer than the prefix", s.PrefixTokens, field, shortest)
		}
	}
	return probs
}

// CheckSessions returns what is wrong with w's conversation and
// shared_prefix blocks, each problem prefixed by its field
// (conversation.think_time: ...), for bench, whose flags build them.
func (w *Workload) CheckSessions() error {
	var errs []error
	add := func(block string, probs []keyMsg) {
		for _, pr := range probs {
			errs = append(errs, fmt.Errorf("%s: %s", joinField(block, pr.key), pr.msg))
		}
	}
	if w.Conversation != nil {
		add("conversation", conversationProblems(w, func(k string) bool { return conversationFieldSet(w.Conversation, k) }))
	}
	if w.SharedPrefix != nil {
		add("shared_prefix", sharedPrefixProblems(w, func(k string) bool { return sharedPrefixFieldSet(w.SharedPrefix, k) }, w.InputTokens != 0))
	}
	return errors.Join(errs...)
}
