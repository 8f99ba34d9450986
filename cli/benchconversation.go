package cli

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/model"

	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/probe"
)

// Bench's conversation and shared-prefix flags (issue 14): the workload's
// conversation and shared_prefix blocks, checked as the config checks
// them. stress takes them too.
func init() { registerBenchFlags(benchSessionFlags) }

type benchSessions struct {
	multiTurn, holdSlot                      bool
	history, thinkTime, thinkDist, sharedPfx string
	maxTurns, maxContext                     int
}

func benchSessionFlags(flag func(group, name, help string) *kingpin.FlagClause) benchApply {
	s := &benchSessions{}
	flag(groupWorkload, "multi-turn", "Replay --dataset's conversations turn by turn (JSON lines message lists, ShareGPT or inference-benchmarker conversations): each turn sends the history so far, each conversation holds a user (throughput) or is an arrival (rate); --num-requests counts conversations. The result breaks the figures down by turn (summary.turns).").BoolVar(&s.multiTurn)
	flag(groupWorkload, "history", "With --multi-turn: whose answers each turn's history holds: dataset (the default: the dataset's) or server (the server's own, as a real user's client sends them back).").StringVar(&s.history)
	flag(groupWorkload, "think-time", "With --multi-turn: the pause between a turn's answer and the next turn (default 0s).").StringVar(&s.thinkTime)
	flag(groupWorkload, "think-time-distribution", "With --multi-turn: fixed (default) or exponential (seeded draws with --think-time as their mean).").StringVar(&s.thinkDist)
	flag(groupWorkload, "hold-slot", "With --multi-turn: a conversation keeps its user (throughput mode) or its in-flight slot (rate mode) during its think time; unset, the user serves other conversations meanwhile and the slot is free.").BoolVar(&s.holdSlot)
	flag(groupWorkload, "max-turns", "With --multi-turn: replay at most this many turns of each conversation (default all).").IntVar(&s.maxTurns)
	flag(groupWorkload, "max-context-tokens", "With --multi-turn: end a conversation before a turn whose prompt and output would exceed this many tokens (the model's window; default no limit).").IntVar(&s.maxContext)
	flag(groupWorkload, "shared-prefix", "GROUPS:PREFIX_TOKENS[:SUFFIX_TOKENS]: synthetic prompts in GROUPS groups taken in turn, each prompt its group's PREFIX_TOKENS-token prefix then a unique suffix of SUFFIX_TOKENS tokens (or the rest of --input-tokens); with a cold prefix cache (the default) the prefixes are new every run. The result has the prefix cache's TTFT gain (summary.prefix_cache).").StringVar(&s.sharedPfx)
	return s.apply
}

func (s *benchSessions) apply(o *benchOptions, _ *load.Options, ep *probe.Endpoint, w *config.Workload) error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !s.multiTurn {
		for _, f := range []struct {
			name string
			set  bool
		}{{"history", s.history != ""}, {"think-time", s.thinkTime != ""}, {"think-time-distribution", s.thinkDist != ""},
			{"hold-slot", s.holdSlot}, {"max-turns", s.maxTurns != 0}, {"max-context-tokens", s.maxContext != 0}} {
			if f.set {
				fail("--%s is only used with --multi-turn", f.name)
			}
		}
	}
	if s.multiTurn {
		errs = append(errs, s.conversation(o, ep, w)...)
	}
	if s.sharedPfx != "" {
		if s.multiTurn {
			fail("--shared-prefix and --multi-turn: give one")
		} else {
			errs = append(errs, s.sharedPrefix(o, ep, w)...)
		}
	}
	if len(errs) == 0 && (w.Conversation != nil || w.SharedPrefix != nil) {
		if err := w.CheckSessions(); err != nil {
			errs = append(errs, errors.New(benchSessionFlagNames(err.Error())))
		}
	}
	return errors.Join(errs...)
}

func (s *benchSessions) conversation(o *benchOptions, ep *probe.Endpoint, w *config.Workload) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if ep.Kind != config.KindChat {
		fail("--multi-turn sends chat messages: only with --kind chat, not %s", ep.Kind)
	}
	if w.Dataset == "" {
		fail("--multi-turn replays a dataset's conversations: give --dataset")
	}
	switch {
	case o.profile != "":
		fail("--multi-turn and --profile: the profile's prompts are single turns")
	case o.promptOptions != "":
		fail("--prompt-options cuts single prompts to a length: --multi-turn sends whole conversations")
	}
	if o.tokenizer != "" || o.tokenizerName != "" {
		fail("--tokenizer counts single prompts: with --multi-turn each turn's context is the server's count")
	}
	think, err := parseDurationFlag("think-time", s.thinkTime, 0)
	if err != nil {
		errs = append(errs, err)
	}
	if s.history != "" && s.history != config.HistoryDataset && s.history != config.HistoryServer {
		fail("--history: want dataset or server, got %q", s.history)
	}
	w.Conversation = &config.Conversation{History: s.history, ThinkTime: model.Duration(think), ThinkTimeDistribution: s.thinkDist,
		HoldSlot: s.holdSlot, MaxTurns: s.maxTurns, MaxContextTokens: s.maxContext}
	if o.extras != nil {
		o.extras.notes = append(o.extras.notes, "--multi-turn: each conversation is an arrival (rate) or a user's task (throughput); --num-requests counts conversations, the results count their turns")
	}
	return errs
}

func (s *benchSessions) sharedPrefix(o *benchOptions, ep *probe.Endpoint, w *config.Workload) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	groups, prefix, suffix, err := parseSharedPrefix(s.sharedPfx)
	if err != nil {
		return []error{err}
	}
	switch ep.Kind {
	case config.KindEmbeddings, config.KindRerank:
		fail("--shared-prefix: %s requests take no prompt of that shape (chat, completions and vision do)", ep.Kind)
	}
	if w.Dataset != "" || o.prompt != "" {
		fail("--shared-prefix makes synthetic prompts: drop --dataset and --prompt")
	}
	given := o.inputTokens != 0 || o.randomInputLen != 0 || o.promptOptions != ""
	switch {
	case suffix > 0 && given:
		fail("--shared-prefix's SUFFIX_TOKENS and --input-tokens both set the prompt length: give one")
	case suffix > 0:
		w.InputTokens = prefix + suffix
		if w.Prompt == config.DefaultPrompt {
			w.Prompt = "" // bench's default prompt, not the user's
		}
	case w.InputTokens == 0:
		fail("--shared-prefix %s: give SUFFIX_TOKENS (GROUPS:PREFIX_TOKENS:SUFFIX_TOKENS) or --input-tokens", s.sharedPfx)
	}
	w.SharedPrefix = &config.SharedPrefix{Groups: groups, PrefixTokens: prefix}
	return errs
}

// parseSharedPrefix reads GROUPS:PREFIX_TOKENS[:SUFFIX_TOKENS].
func parseSharedPrefix(v string) (groups, prefix, suffix int, err error) {
	parts := strings.Split(v, ":")
	bad := fmt.Errorf("--shared-prefix: want GROUPS:PREFIX_TOKENS[:SUFFIX_TOKENS] (positive integers), got %q", v)
	if len(parts) < 2 || len(parts) > 3 {
		return 0, 0, 0, bad
	}
	n := make([]int, 3)
	for i, p := range parts {
		if n[i], err = strconv.Atoi(strings.TrimSpace(p)); err != nil || n[i] < 1 {
			return 0, 0, 0, bad
		}
	}
	return n[0], n[1], n[2], nil
}

// benchSessionFlagNames names the flags where the config's messages name
// its fields.
func benchSessionFlagNames(msg string) string {
	return strings.NewReplacer(
		"conversation.history", "--history",
		"conversation.think_time_distribution", "--think-time-distribution",
		"conversation.think_time", "--think-time",
		"conversation.max_turns", "--max-turns",
		"conversation.max_context_tokens", "--max-context-tokens",
		"conversation: ", "--multi-turn: ",
		"shared_prefix.groups", "--shared-prefix GROUPS",
		"shared_prefix.prefix_tokens", "--shared-prefix PREFIX_TOKENS",
		"shared_prefix: ", "--shared-prefix: ",
		"groups × prefix_tokens", "GROUPS × PREFIX_TOKENS",
		"input_tokens_min", "--input-tokens",
		"input_tokens", "--input-tokens",
		"use history: dataset", "use --history dataset",
		"a think_time", "a --think-time",
	).Replace(msg)
}

// printSessions ends the text report of a run of conversations or shared
// prefixes: the results by turn, what the conversations did, and the
// prefix cache's TTFT gain.
func printSessions(w io.Writer, res *load.Result) {
	s := &res.Summary
	if len(s.Turns) > 0 {
		fmt.Fprintln(w, center(" Turns ", 86, '-'))
		fmt.Fprintf(w, "%-5s %8s %8s %10s %10s %10s %12s %12s\n", "turn", "requests", "ok", "TTFT p50", "TTFT p99", "TTFT mean", "input tokens", "cached tokens")
		for _, t := range s.Turns {
			fmt.Fprintf(w, "%-5s %8d %8d %10.1f %10.1f %10.1f %12.0f %12.0f\n", t.Turn, t.Requests, t.Successful, t.TTFT.P50, t.TTFT.P99, t.TTFT.Mean, t.InputLen.Mean, t.CachedTokens.Mean)
		}
		fmt.Fprintf(w, "Latencies in ms; tokens per request, mean; turns past %d share a row.\n", load.MaxTurnBuckets)
	}
	if c := s.Conversations; c != nil {
		var ended []string
		for _, why := range []string{load.EndCompleted, load.EndMaxTurns, load.EndMaxContext, load.EndFailed, load.EndDropped, load.EndCut} {
			if n := c.Ended[why]; n > 0 {
				ended = append(ended, fmt.Sprintf("%d %s", n, why))
			}
		}
		fmt.Fprintf(w, "Conversations: %d started (%s), %.1f turns each on average", c.Started, strings.Join(ended, ", "), c.Turns.Mean)
		if c.ThinkTime.Count > 0 {
			fmt.Fprintf(w, "; think time %.0f ms mean, %.0f to %.0f ms", c.ThinkTime.Mean, c.ThinkTime.Min, c.ThinkTime.Max)
		}
		fmt.Fprintln(w)
	}
	if g := s.PrefixCache; g != nil {
		cold, warm := "turn 1", "later turns"
		if g.Basis == load.BasisGroup {
			cold, warm = "each group's first request", "later requests"
		}
		fmt.Fprintf(w, "Prefix cache: cold (%s) TTFT p50 %.1f ms, %d of %d reported cached; warm (%s) TTFT p50 %.1f ms, %d of %d cached, %.0f cached tokens on average",
			cold, g.Cold.TTFT.P50, g.Cold.Hits, g.Cold.Successful, warm, g.Warm.TTFT.P50, g.Warm.Hits, g.Warm.Successful, g.Warm.CachedTokens.Mean)
		if g.TTFTGainRatio != nil {
			fmt.Fprintf(w, "; TTFT gain %.0f%%", 100**g.TTFTGainRatio)
		}
		fmt.Fprintln(w)
	}
}
