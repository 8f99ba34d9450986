package daemon

import (
	"context"
	"errors"
	"time"

	"github.com/llmprobe/llmprobe/collector"
	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/probe"
	"github.com/llmprobe/llmprobe/workload"
)

// A probe whose workload has conversations or shared prefixes (issue 14)
// sends its `requests` requests as sessions: a conversation's turns one
// after another, each after the think time, then the next conversation;
// a shared-prefix group's requests in turn, so that a run of requests >
// groups has warm requests to compare with the cold first ones. Each run
// is a run of the sessions: a cold shared prefix's groups get new nonces.
// The run's per-turn breakdown and prefix-cache gain go to its result, and
// a scheduled run's gain to the prefix-cache gauges.

// SetPrefixCacheMetrics makes scheduled probes export their prefix-cache
// gain through m. Unset, they export none.
func (d *Daemon) SetPrefixCacheMetrics(m *collector.PrefixCacheMetrics) { d.prefixCache.Store(m) }

// maxEmptySessions bounds the sessions a probe takes in a row that end
// before their first request (every conversation longer than
// max_context_tokens), so that such a probe fails instead of spinning.
const maxEmptySessions = 100

// probeSessions is one probe run's sessions.
type probeSessions struct {
	ss    load.Sessions
	plan  load.SessionPlan
	cur   load.Session
	think time.Duration // before cur's next turn; 0 for a new session
	turn  load.Turn     // of the request in flight

	recs  []*probe.Record
	turns []load.Turn
}

// newProbeSessions returns the sessions of a run of g; nil for a workload
// of independent requests.
func newProbeSessions(g *workload.Generator) (*probeSessions, error) {
	ss, err := g.Sessions()
	if err != nil || ss == nil {
		return nil, err
	}
	return &probeSessions{ss: ss, plan: ss.Plan()}, nil
}

var errNoTurn = errors.New("every conversation ends before its first turn (max_context_tokens is below its first prompt and output)")

// next returns the next request, after waiting out the think time before
// it; an error when ctx ended first or no session has a request.
func (p *probeSessions) next(ctx context.Context) (probe.Request, error) {
	for range maxEmptySessions {
		if p.cur == nil {
			p.cur, p.think = p.ss.Next(), 0
		}
		req, turn, ok := p.cur.Next()
		if !ok {
			p.cur = nil
			continue
		}
		if p.think > 0 {
			t := time.NewTimer(p.think)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return probe.Request{}, ctx.Err()
			}
		}
		p.turn = turn
		return req, nil
	}
	return probe.Request{}, errNoTurn
}

// done tells the session how the request next returned went.
func (p *probeSessions) done(rec *probe.Record) {
	p.cur.Done(rec, "")
	p.think = p.cur.Think()
	p.recs = append(p.recs, rec)
	p.turns = append(p.turns, p.turn)
}

// breakdown is the run's per-turn figures and prefix-cache gain.
func (p *probeSessions) breakdown() ([]load.TurnSummary, *load.PrefixCacheGain) {
	return load.SessionBreakdown(p.plan, p.recs, p.turns)
}

// cacheGain is g as the gauges take it; false while a side has no TTFT.
func cacheGain(g *load.PrefixCacheGain) (collector.PrefixCacheGain, bool) {
	if g == nil || g.TTFTGainRatio == nil {
		return collector.PrefixCacheGain{}, false
	}
	ratio := func(s load.CacheSide) float64 {
		if s.Successful == 0 {
			return 0
		}
		return float64(s.Hits) / float64(s.Successful)
	}
	return collector.PrefixCacheGain{
		Ratio:    *g.TTFTGainRatio,
		ColdTTFT: g.Cold.TTFT.P50 / 1000, WarmTTFT: g.Warm.TTFT.P50 / 1000,
		ColdHitRatio: ratio(g.Cold), WarmHitRatio: ratio(g.Warm),
	}, true
}
