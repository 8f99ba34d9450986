package load

import (
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/llmprobe/llmprobe/probe"
)

// What the requests of sessions add to a Summary: a breakdown by turn
// index, the conversations' own figures, and the prefix cache's TTFT gain
// (conversation.go runs the sessions).

// MaxTurnBuckets is how many turn indexes the breakdown keeps apart: turns
// 1 to MaxTurnBuckets, then one bucket for every later turn, so that a
// long conversation cannot grow a result (or a label) without bound.
const MaxTurnBuckets = 8

// turnLabel names the bucket of a 1-based turn index.
func turnLabel(i int) string {
	if i > MaxTurnBuckets {
		return strconv.Itoa(MaxTurnBuckets+1) + "+"
	}
	return strconv.Itoa(i)
}

// TurnSummary is what the requests of one turn index measured: turn 1 of
// every conversation, turn 2, ... Its input tokens grow with the history,
// and with a prefix cache its TTFT should not grow with them.
type TurnSummary struct {
	Turn       string `json:"turn"` // "1" .. "8", then "9+"
	Requests   int64  `json:"requests"`
	Successful int64  `json:"successful_requests"`
	TTFT       Dist   `json:"ttft_ms"`
	// InputLen is the context length: the prompt tokens the server
	// counted, the whole history included.
	InputLen Dist `json:"input_tokens_per_request"`
	// CachedTokens is what the server reported as served from its prefix
	// cache (usage.prompt_tokens_details.cached_tokens).
	CachedTokens Dist `json:"cached_tokens_per_request"`
}

// ConversationSummary is what the conversations started in a run (or
// step) did. Conversations started during warmup are left out.
type ConversationSummary struct {
	Plan    *SessionPlan `json:"plan,omitempty"`
	Started int64        `json:"started"`
	// Ended counts conversations by why they ended: completed (every
	// turn), max_turns, max_context_tokens (stopped before a turn that
	// would exceed the window), failed (a turn failed), dropped (open
	// loop: the in-flight cap refused a later turn) or cut (the step's
	// window or drain bound, or the run, ended first).
	Ended map[string]int64 `json:"ended,omitempty"`
	// Turns is the turns each ended conversation sent.
	Turns Dist `json:"turns_per_conversation"`
	// ThinkTime is the measured pause from a turn's end to the next
	// turn's start, in ms: the think time, plus (closed loop without
	// hold_slot) the wait for a free virtual user.
	ThinkTime Dist `json:"think_time_ms"`
}

// CacheSide is one side of the prefix-cache comparison.
type CacheSide struct {
	Requests   int64 `json:"requests"`
	Successful int64 `json:"successful_requests"`
	// Hits counts successful requests for which the server reported more
	// cached tokens than a chat template's share (probe.ColdCacheFloor).
	Hits         int64 `json:"cache_hits"`
	TTFT         Dist  `json:"ttft_ms"`
	CachedTokens Dist  `json:"cached_tokens_per_request"`
}

// Bases of the comparison (PrefixCacheGain.Basis).
const (
	// BasisTurn: cold is turn 1 of each conversation, warm every later
	// turn (whose history the cache holds from the turn before).
	BasisTurn = "turn"
	// BasisGroup: cold is the first request of each shared-prefix group
	// in the run, warm every later one.
	BasisGroup = "group"
)

// PrefixCacheGain compares the TTFT of requests whose prefix the server's
// cache should hold (warm) with those whose prefix it cannot hold yet
// (cold), as the workload placed them; the cached tokens and hits the
// server reported say whether it did.
type PrefixCacheGain struct {
	Basis string    `json:"basis"` // BasisTurn or BasisGroup
	Cold  CacheSide `json:"cold"`
	Warm  CacheSide `json:"warm"`
	// TTFTGainRatio is (cold p50 TTFT - warm p50 TTFT) / cold p50 TTFT:
	// the share of a cold TTFT the cache saves (0: none; negative: warm
	// requests were slower). MeanTTFTGainRatio is the same over means.
	// Absent while either side has no TTFT.
	TTFTGainRatio     *float64 `json:"ttft_gain_ratio,omitempty"`
	MeanTTFTGainRatio *float64 `json:"mean_ttft_gain_ratio,omitempty"`
}

// turnAgg accumulates one TurnSummary, or one CacheSide.
type turnAgg struct {
	requests, success, hits int64
	ttft, inLen, cached     *sampleSet
}

func newTurnAgg(seed uint64) *turnAgg {
	return &turnAgg{ttft: newSampleSet(seed + 1), inLen: newSampleSet(seed + 2), cached: newSampleSet(seed + 3)}
}

func (t *turnAgg) add(rec *probe.Record) {
	t.requests++
	if !rec.Success() {
		return
	}
	t.success++
	if rec.CachedTokens > probe.ColdCacheFloor {
		t.hits++
	}
	if d, ok := rec.TTFT(); ok {
		t.ttft.add(d.Seconds())
	}
	t.inLen.add(float64(rec.InputTokens))
	t.cached.add(float64(rec.CachedTokens))
}

func (t *turnAgg) merge(b *turnAgg) {
	t.requests += b.requests
	t.success += b.success
	t.hits += b.hits
	t.ttft.mergeFrom(b.ttft)
	t.inLen.mergeFrom(b.inLen)
	t.cached.mergeFrom(b.cached)
}

func (t *turnAgg) side() CacheSide {
	return CacheSide{Requests: t.requests, Successful: t.success, Hits: t.hits, TTFT: t.ttft.dist(1000), CachedTokens: t.cached.dist(1)}
}

// sessionAggs is what an aggregator keeps of sessions; nil until the first
// one, so runs without them carry nothing.
type sessionAggs struct {
	plan       *SessionPlan
	turns      map[string]*turnAgg
	cold, warm *turnAgg
	// conversations
	started    int64
	ended      map[string]int64
	turnCounts *sampleSet
	think      *sampleSet
}

func (a *aggregator) sessionsAgg(plan *SessionPlan) *sessionAggs {
	if a.sess == nil {
		a.sess = &sessionAggs{
			plan: plan, turns: map[string]*turnAgg{}, ended: map[string]int64{},
			cold: newTurnAgg(a.seed + 20), warm: newTurnAgg(a.seed + 30),
			turnCounts: newSampleSet(a.seed + 40), think: newSampleSet(a.seed + 41),
		}
	}
	return a.sess
}

// addTurn accounts the breakdowns of one request of a session. gap is the
// time since the session's previous turn ended (0 for a first turn).
func (a *aggregator) addTurn(plan *SessionPlan, rec *probe.Record, turn Turn, gap time.Duration, interrupted bool) {
	if interrupted {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.sessionsAgg(plan)
	if turn.Index > 0 {
		label := turnLabel(turn.Index)
		t := s.turns[label]
		if t == nil {
			t = newTurnAgg(a.seed + 50 + uint64(min(turn.Index, MaxTurnBuckets+1))*4)
			s.turns[label] = t
		}
		t.add(rec)
		if turn.Index > 1 && gap > 0 {
			s.think.add(gap.Seconds())
		}
	}
	if turn.Warm {
		s.warm.add(rec)
	} else {
		s.cold.add(rec)
	}
}

// addSession accounts a conversation that ended after turns turns, for why
// (single requests of shared-prefix groups are not conversations).
func (a *aggregator) addSession(plan *SessionPlan, turns int, why string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.sessionsAgg(plan)
	s.started++
	s.ended[why]++
	s.turnCounts.add(float64(turns))
}

func (s *sessionAggs) merge(b *sessionAggs) {
	if s.plan == nil {
		s.plan = b.plan
	}
	for k, t := range b.turns {
		if s.turns[k] == nil {
			s.turns[k] = newTurnAgg(50 + uint64(turnOrder(k))*4)
		}
		s.turns[k].merge(t)
	}
	s.cold.merge(b.cold)
	s.warm.merge(b.warm)
	s.started += b.started
	for k, v := range b.ended {
		s.ended[k] += v
	}
	s.turnCounts.mergeFrom(b.turnCounts)
	s.think.mergeFrom(b.think)
}

// fill puts the sessions' figures into sum.
func (s *sessionAggs) fill(sum *Summary) {
	conversation := s.plan != nil && s.plan.Kind == SessionConversation
	labels := slices.Collect(maps.Keys(s.turns))
	slices.SortFunc(labels, func(x, y string) int { return turnOrder(x) - turnOrder(y) })
	for _, k := range labels {
		t := s.turns[k]
		sum.Turns = append(sum.Turns, TurnSummary{Turn: k, Requests: t.requests, Successful: t.success,
			TTFT: t.ttft.dist(1000), InputLen: t.inLen.dist(1), CachedTokens: t.cached.dist(1)})
	}
	if conversation {
		sum.Conversations = &ConversationSummary{Plan: s.plan, Started: s.started, Ended: maps.Clone(s.ended),
			Turns: s.turnCounts.dist(1), ThinkTime: s.think.dist(1000)}
	}
	g := &PrefixCacheGain{Basis: BasisGroup, Cold: s.cold.side(), Warm: s.warm.side()}
	if conversation {
		g.Basis = BasisTurn
	}
	if c, w := g.Cold.TTFT, g.Warm.TTFT; c.Count > 0 && w.Count > 0 {
		if c.P50 > 0 {
			r := (c.P50 - w.P50) / c.P50
			g.TTFTGainRatio = &r
		}
		if c.Mean > 0 {
			r := (c.Mean - w.Mean) / c.Mean
			g.MeanTTFTGainRatio = &r
		}
	}
	if g.Cold.Requests+g.Warm.Requests > 0 {
		sum.PrefixCache = g
	}
}

// turnOrder sorts "1" .. "8" before "9+".
func turnOrder(label string) int {
	n, err := strconv.Atoi(label)
	if err != nil {
		return MaxTurnBuckets + 1
	}
	return n
}

// SessionBreakdown returns the per-turn breakdown and the prefix-cache gain
// of requests sent outside a Runner (a scheduled probe's few sequential
// requests), recs[i] being the request of turns[i].
func SessionBreakdown(plan SessionPlan, recs []*probe.Record, turns []Turn) ([]TurnSummary, *PrefixCacheGain) {
	a := newAggregator(probe.SLO{}, time.Time{}, 0)
	for i, rec := range recs {
		if i < len(turns) {
			a.addTurn(&plan, rec, turns[i], 0, false)
		}
	}
	if a.sess == nil {
		return nil, nil
	}
	var s Summary
	a.sess.fill(&s)
	return s.Turns, s.PrefixCache
}
