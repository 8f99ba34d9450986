package load

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/llmprobe/llmprobe/probe"
)

// Sessions (issue 14): requests that belong together. A conversation's
// turns go one after another, each after the previous one's answer and a
// think time, with the history in its prompt; a shared-prefix group's
// requests are single requests whose place in the group says whether the
// server's prefix cache should hold their prefix. Where the Requests of a
// run are sessions (a workload with conversation: or shared_prefix:), an
// open-loop arrival starts one, and a virtual user runs one, instead of
// sending one request; every turn is a request of its own for the summary,
// the timeline and the metrics, and the summary adds a breakdown by turn,
// the conversations' figures and the prefix cache's TTFT gain (turns.go).
//
// hold_slot decides what a conversation holds during its think time. Held,
// a virtual user waits out its conversation's think time (a user reading
// the answer), and an open-loop conversation keeps counting against
// max_in_flight until its last turn ends. Not held, a virtual user serves
// other conversations meanwhile (a parked conversation's next turn goes to
// the first free user once its think time is over, before any new
// conversation), and an open-loop conversation's later turns meet the
// in-flight cap as new arrivals do: refused, the conversation ends
// "dropped".
//
// In both loops a conversation whose next turn would start after the
// step's window ends there ("cut"); so does one whose think time the run's
// stop or the drain bound interrupts. With num_requests, a step counts the
// sessions it starts, not their turns; a rate step's rate is conversations
// per second (its achieved rate counts their turns), and a sweep, whose
// rates come from requests per second, refuses conversations.

// SessionSource is a Requests whose requests come in sessions;
// *workload.Generator is one.
type SessionSource interface {
	// Sessions returns the sessions of one run (a cold shared prefix
	// draws its group nonces here), nil when the requests are independent.
	Sessions() (Sessions, error)
}

// Sessions hands out the sessions of a run. It must be safe for concurrent
// use.
type Sessions interface {
	Plan() SessionPlan
	Next() Session
}

// Session is one conversation, or one request of a shared-prefix group. It
// is used by one goroutine at a time.
type Session interface {
	// Next returns the request of the next turn, built from the history so
	// far; false when the session is over (End says why).
	Next() (probe.Request, Turn, bool)
	// Done tells the session how the turn Next returned went; answer is
	// the text the server streamed ("" where the sender does not keep it).
	Done(rec *probe.Record, answer string)
	// Think returns the pause between the end of the turn Done was told of
	// and the start of the next one.
	Think() time.Duration
	// End says why the session is over, once Next returned false: one of
	// EndCompleted, EndMaxTurns, EndMaxContext or EndFailed.
	End() string
}

// Turn is what a request is in its session.
type Turn struct {
	// Index is the 1-based turn of a conversation; 0 for a single request.
	Index int
	// Warm: the server's prefix cache should hold the prompt's prefix (a
	// conversation's later turn, a shared-prefix group's later request).
	Warm bool
}

// Why sessions end (ConversationSummary.Ended).
const (
	EndCompleted  = "completed"
	EndMaxTurns   = "max_turns"
	EndMaxContext = "max_context_tokens"
	EndFailed     = "failed"
	EndDropped    = "dropped"
	EndCut        = "cut"
)

// Session kinds (SessionPlan.Kind).
const (
	SessionConversation = "conversation"
	SessionSharedPrefix = "shared_prefix"
)

// SessionPlan is how a run's sessions are replayed, for the runner and the
// result.
type SessionPlan struct {
	Kind string `json:"kind"` // SessionConversation or SessionSharedPrefix
	// Conversations.
	History               string  `json:"history,omitempty"` // dataset or server
	ThinkTimeMS           float64 `json:"think_time_ms,omitempty"`
	ThinkTimeDistribution string  `json:"think_time_distribution,omitempty"`
	HoldSlot              bool    `json:"hold_slot,omitempty"`
	MaxTurns              int     `json:"max_turns,omitempty"`
	MaxContextTokens      int     `json:"max_context_tokens,omitempty"`
	// Shared prefixes.
	Groups       int `json:"groups,omitempty"`
	PrefixTokens int `json:"prefix_tokens,omitempty"`
}

// HistoryServer is the SessionPlan.History whose sessions need the text of
// each answer: their sender must be an AnswerSender.
const HistoryServer = "server"

// AnswerSender is a Sender that also returns the text each answer streamed,
// which a conversation with history: server sends back in its next turn.
// probe.Client does not keep that text yet, so config refuses history:
// server; a sender built in code can be one.
type AnswerSender interface {
	DoAnswer(ctx context.Context, req probe.Request) (*probe.Record, string)
}

// sessionRun is the runner's part of a run's sessions.
type sessionRun struct {
	src     Sessions
	plan    SessionPlan
	answers AnswerSender // history: server
}

// initSessions sets r.sess when the run's requests are sessions.
func (r *Runner) initSessions() error {
	src, ok := r.reqs.(SessionSource)
	if !ok {
		return nil
	}
	s, err := src.Sessions()
	if err != nil || s == nil {
		return err
	}
	if r.o.Mode == ModeTrace {
		return errors.New("a trace brings its own requests: conversations and shared prefixes cannot replay one")
	}
	sr := &sessionRun{src: s, plan: s.Plan()}
	if sr.conversation() && r.o.Mode == ModeSweep {
		// A sweep offers rates from the requests per second its users
		// achieved, and judges each step by them: an arrival of several
		// turns offers more than its rate says.
		return errors.New("a sweep's rates are requests per second, and a conversation is several: run conversations in rate mode (conversations per second) or throughput mode")
	}
	if sr.plan.History == HistoryServer {
		a, ok := r.send.(AnswerSender)
		if !ok {
			return fmt.Errorf("history %s: the client does not return the text of the answers it streams", HistoryServer)
		}
		sr.answers = a
	}
	r.sess = sr
	return nil
}

// conversation reports whether the sessions are conversations (more than
// one turn each, think times, hold_slot).
func (sr *sessionRun) conversation() bool { return sr.plan.Kind == SessionConversation }

// liveSession is a session being replayed.
type liveSession struct {
	s     Session
	warm  bool      // started during warmup: all its turns are warmup
	sched time.Time // open loop: when its first turn was due

	req  probe.Request // the next turn, built
	turn Turn
	end  string // why it ended; "" while it goes on

	turns   int       // turns sent
	prevEnd time.Time // end of the last turn sent
	due     time.Time // when the next turn is due
	held    bool      // open loop, hold_slot: it holds an in-flight slot in its think time
	index   int       // in the parked heap
}

// start takes the run's next session and builds its first turn, before
// any waiting so that it adds no schedule lag.
func (sr *sessionRun) start() *liveSession {
	ls := &liveSession{s: sr.src.Next()}
	ls.prepare()
	return ls
}

// prepare builds the next turn; false (and ls.end set) when there is none.
func (ls *liveSession) prepare() bool {
	req, t, ok := ls.s.Next()
	if !ok {
		ls.end = ls.s.End()
		if ls.end == "" {
			ls.end = EndCompleted
		}
		return false
	}
	ls.req, ls.turn = req, t
	return true
}

// startSession starts the session of an open-loop arrival due at sched,
// which the in-flight cap let in; it runs in its own goroutine.
func (r *Runner) startSession(st *stepRun, ls *liveSession, sched time.Time, warm bool) {
	ls.sched, ls.warm = sched, warm
	st.wg.Add(1)
	go func() {
		defer st.wg.Done()
		r.runSession(st, ls, r.windowEnd(st), true, nil)
	}()
}

// windowEnd is when the step's arrivals end (zero: no time limit).
func (r *Runner) windowEnd(st *stepRun) time.Time {
	if r.o.Duration <= 0 {
		return time.Time{}
	}
	return st.start.Add(r.o.Duration)
}

// runSession sends every turn of ls in order, waiting out each think time,
// and accounts the session when it ends. open: an open-loop arrival's;
// started (may be nil) is told of every turn's start.
func (r *Runner) runSession(st *stepRun, ls *liveSession, end time.Time, open bool, started func()) {
	defer r.endSession(st, ls)
	for ls.end == "" {
		if ls.turns > 0 {
			if !r.think(st, ls.due, end) {
				ls.end = EndCut
				return
			}
			if open && !r.sess.plan.HoldSlot && r.inflight.Load() >= int64(r.o.MaxInFlight) {
				r.drop(st, ls.due, ls.warm)
				ls.end = EndDropped
				return
			}
		}
		if started != nil {
			started()
		}
		r.sendTurn(st, ls, open)
	}
}

// think waits until due, the end of a think time; false when the session
// must end instead: the turn would start after the step's window (end; the
// session then thinks until the window ends, as a user would, holding what
// it holds), or the run or the step stopped meanwhile.
func (r *Runner) think(st *stepRun, due, end time.Time) bool {
	wake, past := due, false
	if !end.IsZero() && !due.Before(end) {
		wake, past = end, true
	}
	if d := time.Until(wake); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-st.ctx.Done(): // the run's context, or the drain bound
			return false
		case <-r.stop:
			return false
		case <-st.halt:
			return false
		}
	}
	return !past && st.ctx.Err() == nil && !r.stopped() && !st.halted()
}

// sendTurn sends ls's next turn and builds the one after it.
func (r *Runner) sendTurn(st *stepRun, ls *liveSession, open bool) {
	if ls.held {
		// The slot the conversation held through its think time is the
		// request's: it is counted in flight already.
		ls.held = false
		r.sent.Add(1)
		if r.h.InFlight != nil {
			r.h.InFlight(1)
		}
	} else {
		r.begin()
	}
	req, turn := ls.req, ls.turn
	var rec *probe.Record
	answer := ""
	if r.sess.answers != nil {
		rec, answer = r.sess.answers.DoAnswer(st.ctx, req)
	} else {
		rec = r.send.Do(st.ctx, req)
	}
	if open {
		rec.Scheduled = ls.sched
		if ls.turns > 0 {
			rec.Scheduled = ls.due
		}
	}
	var gap time.Duration
	if ls.turns > 0 {
		gap = rec.Start.Sub(ls.prevEnd)
	}
	ls.turns++
	ls.prevEnd = rec.End

	ls.s.Done(rec, answer)
	interrupted, cut := r.outcome(st, rec)
	more := ls.prepare()
	if interrupted || cut {
		ls.end, more = EndCut, false // the run's end, not the server's failure
	}
	if more {
		ls.due = rec.End.Add(ls.s.Think())
		if open && r.sess.plan.HoldSlot {
			// Held before the request's slot is released, so the count
			// never dips below what the conversation holds.
			r.inflight.Add(1)
			ls.held = true
		}
	}
	r.finish(st, rec, ls.warm)
	if !ls.warm {
		st.agg.addTurn(&r.sess.plan, rec, turn, gap, interrupted)
	}
}

// outcome says whether a failed record was interrupted (the run was
// stopped) or cut (at the step's drain bound): neither says anything of
// the server.
func (r *Runner) outcome(st *stepRun, rec *probe.Record) (interrupted, cut bool) {
	interrupted = !rec.Success() && r.hard.Err() != nil
	cut = !rec.Success() && !interrupted && errors.Is(context.Cause(st.ctx), errCut)
	return interrupted, cut
}

// endSession releases what ls held and accounts it.
func (r *Runner) endSession(st *stepRun, ls *liveSession) {
	if ls.held {
		r.inflight.Add(-1)
		ls.held = false
	}
	if ls.end == "" {
		ls.end = EndCut
	}
	if !ls.warm && r.sess.conversation() {
		st.agg.addSession(&r.sess.plan, ls.turns, ls.end)
	}
	st.conv.ended()
}

// sessionUser is a closed-loop virtual user whose requests are sessions.
// It returns when the user stops issuing: the window ended, the run or the
// step stopped, or the step's sessions are all started and ended.
func (r *Runner) sessionUser(ctx context.Context, st *stepRun, end time.Time, lastStart *atomic.Int64) {
	started := func() { lastStart.Store(time.Now().UnixNano()) }
	hold := r.sess.plan.HoldSlot || !r.sess.conversation()
	defer func() {
		if !hold {
			// Parked conversations whose turn will not come are cut.
			for _, ls := range st.conv.takeAll() {
				r.endSession(st, ls)
			}
		}
	}()
	for {
		if ctx.Err() != nil || r.stopped() || st.halted() || (!end.IsZero() && !time.Now().Before(end)) {
			return
		}
		if !hold {
			if ls := st.conv.popReady(time.Now()); ls != nil {
				r.userTurn(st, ls, end, started)
				continue
			}
		}
		if !r.takeSession(st) {
			if hold || !st.conv.wait(st, r.stop, end) {
				return
			}
			continue
		}
		ls := r.sess.start()
		ls.warm = time.Now().Before(st.start)
		if hold {
			r.runSession(st, ls, end, false, started)
			continue
		}
		st.conv.begun()
		if ls.end != "" {
			r.endSession(st, ls)
			continue
		}
		r.userTurn(st, ls, end, started)
	}
}

// takeSession counts a new session against the step's num_requests; false
// when they are all started.
func (r *Runner) takeSession(st *stepRun) bool {
	warm := time.Now().Before(st.start)
	if warm {
		return true
	}
	n := st.measured.Add(1)
	if r.o.NumRequests > 0 && n > int64(r.o.NumRequests) {
		return false
	}
	return true
}

// userTurn sends one turn of a conversation that does not hold its user,
// then parks it for its think time, or ends it.
func (r *Runner) userTurn(st *stepRun, ls *liveSession, end time.Time, started func()) {
	if ls.turns > 0 && (!end.IsZero() && !ls.due.Before(end)) {
		ls.end = EndCut
		r.endSession(st, ls)
		return
	}
	started()
	r.sendTurn(st, ls, false)
	if ls.end != "" {
		r.endSession(st, ls)
		return
	}
	st.conv.park(ls)
}

// convStep is a closed-loop step's conversations that do not hold their
// user: those parked in their think time, soonest due first, and how many
// are live (started, not ended), so that an idle user waits for them
// rather than stop while they may still park. The zero value is ready.
type convStep struct {
	mu      sync.Mutex
	parked  parkedHeap
	live    int
	changed chan struct{} // closed, and replaced, when parked or live change
}

func (c *convStep) notify() {
	if c.changed != nil {
		close(c.changed)
	}
	c.changed = make(chan struct{})
}

func (c *convStep) begun() {
	c.mu.Lock()
	c.live++
	c.notify()
	c.mu.Unlock()
}

func (c *convStep) ended() {
	c.mu.Lock()
	if c.live > 0 { // only conversations that do not hold their user are live
		c.live--
		c.notify()
	}
	c.mu.Unlock()
}

func (c *convStep) park(ls *liveSession) {
	c.mu.Lock()
	heap.Push(&c.parked, ls)
	c.notify()
	c.mu.Unlock()
}

// popReady returns the parked conversation due soonest if it is due by now.
func (c *convStep) popReady(now time.Time) *liveSession {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.parked) == 0 || c.parked[0].due.After(now) {
		return nil
	}
	return heap.Pop(&c.parked).(*liveSession)
}

// takeAll empties the heap.
func (c *convStep) takeAll() []*liveSession {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := []*liveSession(c.parked)
	c.parked = nil
	return out
}

// wait blocks an idle user until a parked conversation is due or the
// conversations change; false when there is nothing left to wait for (no
// live conversation), or the run, the step or the window ended.
func (c *convStep) wait(st *stepRun, stop <-chan struct{}, end time.Time) bool {
	c.mu.Lock()
	if c.live == 0 {
		c.mu.Unlock()
		return false
	}
	if c.changed == nil {
		c.changed = make(chan struct{})
	}
	changed := c.changed
	var due time.Time
	if len(c.parked) > 0 {
		due = c.parked[0].due
	}
	c.mu.Unlock()
	var timeout <-chan time.Time
	if !due.IsZero() {
		t := time.NewTimer(time.Until(due))
		defer t.Stop()
		timeout = t.C
	}
	var window <-chan time.Time
	if !end.IsZero() {
		t := time.NewTimer(time.Until(end))
		defer t.Stop()
		window = t.C
	}
	select {
	case <-changed:
	case <-timeout:
	case <-window:
		return false
	case <-st.ctx.Done():
		return false
	case <-stop:
		return false
	case <-st.halt:
		return false
	}
	return true
}

// parkedHeap orders parked conversations by when their next turn is due.
type parkedHeap []*liveSession

func (h parkedHeap) Len() int           { return len(h) }
func (h parkedHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h parkedHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *parkedHeap) Push(x any) {
	ls := x.(*liveSession)
	ls.index = len(*h)
	*h = append(*h, ls)
}
func (h *parkedHeap) Pop() any {
	old := *h
	ls := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return ls
}
