package config

import "github.com/prometheus/common/model"

// Conversation (issue 14) replays a dataset's multi-turn conversations turn
// by turn: each turn sends the history so far, with the server's own
// answers (history: server, the default) or the dataset's (history:
// dataset), after a think time. Needs dataset:.
type Conversation struct {
	// History is server (default: the server's real answers) or dataset.
	History string `yaml:"history,omitempty" json:"history,omitempty"`
	// ThinkTime is the pause between a turn's answer and the next turn;
	// ThinkTimeDistribution is fixed (default) or exponential (around
	// ThinkTime as its mean, seeded).
	ThinkTime             model.Duration `yaml:"think_time,omitempty" json:"think_time,omitempty"`
	ThinkTimeDistribution string         `yaml:"think_time_distribution,omitempty" json:"think_time_distribution,omitempty"`
	// HoldSlot keeps a conversation's virtual user (or in-flight slot)
	// during its think time, as a real user's session does.
	HoldSlot bool `yaml:"hold_slot,omitempty" json:"hold_slot,omitempty"`
	// MaxTurns caps the turns replayed per conversation (0: all).
	MaxTurns int `yaml:"max_turns,omitempty" json:"max_turns,omitempty"`
	// MaxContextTokens ends a conversation before a turn whose history
	// would exceed it (the model's window; 0: no limit).
	MaxContextTokens int `yaml:"max_context_tokens,omitempty" json:"max_context_tokens,omitempty"`
}

// SharedPrefix (issue 14) builds prompts in Groups groups: each request's
// prompt is its group's shared prefix of PrefixTokens tokens, then a unique
// suffix of SuffixTokens tokens, so a server's prefix cache can serve the
// prefix (prefix_cache: warm) or not (cold: a nonce first).
type SharedPrefix struct {
	Groups       int `yaml:"groups" json:"groups"`
	PrefixTokens int `yaml:"prefix_tokens" json:"prefix_tokens"`
	SuffixTokens int `yaml:"suffix_tokens,omitempty" json:"suffix_tokens,omitempty"`
}

// validateConversation checks a workload's conversation block.
func (l *loader) validateConversation(w *Workload, p string) {
	if w.Conversation == nil {
		return
	}
	// Filled in by the multi-turn work (issue 14).
}

// validateSharedPrefix checks a workload's shared_prefix block.
func (l *loader) validateSharedPrefix(w *Workload, p string) {
	if w.SharedPrefix == nil {
		return
	}
	// Filled in by the shared-prefix work (issue 14).
}
