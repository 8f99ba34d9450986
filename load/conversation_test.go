package load

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/probe"
)

// fakeSessions hands out conversations of turns turns each (single
// requests when turns is 1 and the plan a shared prefix); their requests'
// prompts say which conversation and turn they are ("c3 t2").
type fakeSessions struct {
	plan  SessionPlan
	turns int
	think time.Duration

	mu      sync.Mutex
	made    int
	answers map[string]string // prompt of a turn -> answer Done was told
}

func (f *fakeSessions) Plan() SessionPlan { return f.plan }

func (f *fakeSessions) NextSession() *fakeSession {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.made++
	return &fakeSession{src: f, id: f.made}
}

// sessionsOf adapts fakeSessions to Sessions (whose Next returns a Session).
type sessionsOf struct{ *fakeSessions }

func (s sessionsOf) Next() Session { return s.NextSession() }

type fakeSource struct{ f *fakeSessions }

func (s fakeSource) Next() probe.Request         { panic("a session runner asked for a single request") }
func (s fakeSource) Sessions() (Sessions, error) { return sessionsOf{s.f}, nil }

type fakeSession struct {
	src  *fakeSessions
	id   int
	n    int
	end  string
	last string
}

func (s *fakeSession) Next() (probe.Request, Turn, bool) {
	if s.end != "" {
		return probe.Request{}, Turn{}, false
	}
	if s.n == s.src.turns {
		s.end = EndCompleted
		return probe.Request{}, Turn{}, false
	}
	s.n++
	s.last = fmt.Sprintf("c%d t%d", s.id, s.n)
	idx := s.n
	if s.src.plan.Kind == SessionSharedPrefix {
		idx = 0
	}
	return probe.Request{Prompt: s.last, Cold: s.n == 1, MaxTokens: 4}, Turn{Index: idx, Warm: s.n > 1}, true
}

func (s *fakeSession) Done(rec *probe.Record, answer string) {
	if !rec.Success() {
		s.end = EndFailed
	}
	s.src.mu.Lock()
	if s.src.answers == nil {
		s.src.answers = map[string]string{}
	}
	s.src.answers[s.last] = answer
	s.src.mu.Unlock()
}

func (s *fakeSession) Think() time.Duration { return s.src.think }
func (s *fakeSession) End() string          { return s.end }

// cacheSender answers a cold request (a first turn) after cold and any
// other after warm, reporting 100 cached tokens for those, as a prefix
// cache would; a prompt holding fail fails. It records each request's
// start and end by prompt.
type cacheSender struct {
	cold, warm time.Duration
	fail       string
	inFlight   atomic.Int64
	peak       atomic.Int64

	mu    sync.Mutex
	times map[string][2]time.Time
}

func (c *cacheSender) Do(ctx context.Context, req probe.Request) *probe.Record {
	n := c.inFlight.Add(1)
	defer c.inFlight.Add(-1)
	for {
		p := c.peak.Load()
		if n <= p || c.peak.CompareAndSwap(p, n) {
			break
		}
	}
	var conv, turn int
	fmt.Sscanf(req.Prompt, "c%d t%d", &conv, &turn)
	rec := &probe.Record{Start: time.Now(), UsageReported: true, InputTokens: 50 * (turn + 1)}
	d := c.warm
	if req.Cold {
		d = c.cold
	} else {
		rec.CachedTokens = 100
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		rec.End, rec.Result = time.Now(), probe.ResultCanceled
		return rec
	}
	rec.FirstToken = time.Now()
	rec.Chunks = []time.Duration{rec.FirstToken.Sub(rec.Start)}
	rec.End = time.Now()
	rec.OutputTokens = 1
	rec.Result = probe.ResultSuccess
	if c.fail != "" && strings.Contains(req.Prompt, c.fail) {
		rec.Result = probe.ResultHTTP5xx
	}
	c.mu.Lock()
	if c.times == nil {
		c.times = map[string][2]time.Time{}
	}
	c.times[req.Prompt] = [2]time.Time{rec.Start, rec.End}
	c.mu.Unlock()
	return rec
}

// answerSender is a cacheSender that returns each request's answer text.
type answerSender struct{ cacheSender }

func (a *answerSender) DoAnswer(ctx context.Context, req probe.Request) (*probe.Record, string) {
	return a.Do(ctx, req), "answer to " + req.Prompt
}

func runSessions(t *testing.T, f *fakeSessions, send Sender, o Options) *Result {
	t.Helper()
	o.KeepRecords = true
	r, err := New(send, fakeSource{f}, o, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	return r.Run(context.Background())
}

func conversationPlan(hold bool, think time.Duration) SessionPlan {
	return SessionPlan{Kind: SessionConversation, History: "dataset", HoldSlot: hold, ThinkTimeMS: ms(think)}
}

// TestConversationsHoldingUsers: closed loop, each user runs a conversation
// to its end, waiting out every think time; the summary breaks the turns
// down and the think times are those asked.
func TestConversationsHoldingUsers(t *testing.T) {
	const think = 200 * time.Millisecond
	f := &fakeSessions{plan: conversationPlan(true, think), turns: 3, think: think}
	send := &cacheSender{cold: 20 * time.Millisecond, warm: 5 * time.Millisecond}
	res := runSessions(t, f, send, Options{Mode: ModeThroughput, VUs: 2, NumRequests: 4})
	s := &res.Summary
	if s.Requests != 12 || s.Successful != 12 {
		t.Fatalf("requests %d, successful %d, want 12 (4 conversations of 3 turns)", s.Requests, s.Successful)
	}
	if len(s.Turns) != 3 {
		t.Fatalf("turns %+v, want 3", s.Turns)
	}
	for i, tr := range s.Turns {
		if tr.Turn != fmt.Sprint(i+1) || tr.Requests != 4 || tr.InputLen.Mean != float64(50*(i+2)) {
			t.Errorf("turn %d: %+v", i+1, tr)
		}
	}
	c := s.Conversations
	if c == nil || c.Started != 4 || c.Ended[EndCompleted] != 4 || c.Turns.Mean != 3 || c.Plan == nil || !c.Plan.HoldSlot {
		t.Fatalf("conversations %+v", c)
	}
	// Each turn's start follows the previous one's end by the think time.
	if c.ThinkTime.Count != 8 || c.ThinkTime.Min < ms(think) || c.ThinkTime.Max > 1.05*ms(think) {
		t.Errorf("measured think times %+v, want 8 within 5%% above %v", c.ThinkTime, think)
	}
	// Two users, never more than two requests at once.
	if p := send.peak.Load(); p > 2 {
		t.Errorf("peak in flight %d, want at most 2", p)
	}
	g := s.PrefixCache
	if g == nil || g.Basis != BasisTurn || g.Cold.Requests != 4 || g.Warm.Requests != 8 || g.Warm.Hits != 8 || g.Cold.Hits != 0 ||
		g.Warm.CachedTokens.Mean != 100 || g.TTFTGainRatio == nil {
		t.Fatalf("prefix cache %+v", g)
	}
	// 20 ms cold, 5 ms warm: the cache saves three quarters.
	if r := *g.TTFTGainRatio; math.Abs(r-0.75) > 0.1 {
		t.Errorf("TTFT gain ratio %.3f, want about 0.75", r)
	}
}

// TestConversationsFreeUsers: without hold_slot, one user serves three
// conversations at once, each turn of a parked conversation before a new
// conversation, and every conversation completes.
func TestConversationsFreeUsers(t *testing.T) {
	const think = 40 * time.Millisecond
	f := &fakeSessions{plan: conversationPlan(false, think), turns: 2, think: think}
	send := &cacheSender{cold: 5 * time.Millisecond, warm: 5 * time.Millisecond}
	res := runSessions(t, f, send, Options{Mode: ModeThroughput, VUs: 1, NumRequests: 3})
	c := res.Summary.Conversations
	if res.Summary.Successful != 6 || c == nil || c.Started != 3 || c.Ended[EndCompleted] != 3 {
		t.Fatalf("successful %d, conversations %+v", res.Summary.Successful, c)
	}
	if p := send.peak.Load(); p != 1 {
		t.Errorf("peak in flight %d, want 1 (one user)", p)
	}
	// The user started the second conversation during the first's think
	// time: c2's first turn ran before c1's second.
	if !send.times["c2 t1"][0].Before(send.times["c1 t2"][0]) {
		t.Errorf("c2 t1 at %v, c1 t2 at %v: the user waited out the think time", send.times["c2 t1"][0], send.times["c1 t2"][0])
	}
	if c.ThinkTime.Min < ms(think) {
		t.Errorf("think time %+v below %v", c.ThinkTime, think)
	}
}

// TestConversationsOpenLoopHoldSlot: arrivals start conversations; held,
// a thinking conversation keeps its in-flight slot, so that with
// max_in_flight 2 the third arrival is dropped; not held, it is admitted.
func TestConversationsOpenLoopHoldSlot(t *testing.T) {
	for _, hold := range []bool{true, false} {
		const think = 150 * time.Millisecond
		f := &fakeSessions{plan: conversationPlan(hold, think), turns: 2, think: think}
		send := &cacheSender{cold: 5 * time.Millisecond, warm: 5 * time.Millisecond}
		// Arrivals at 0, 40 and 80 ms: the first two think until 155 and
		// 195 ms.
		res := runSessions(t, f, send, Options{Mode: ModeRate, Rates: []float64{25}, NumRequests: 3, MaxInFlight: 2})
		s := &res.Summary
		c := s.Conversations
		if hold {
			if s.Dropped != 1 || c.Started != 2 || c.Ended[EndCompleted] != 2 || s.Successful != 4 {
				t.Errorf("held: dropped %d, successful %d, conversations %+v; want the third arrival dropped", s.Dropped, s.Successful, c)
			}
		} else if s.Dropped != 0 || c.Started != 3 || c.Ended[EndCompleted] != 3 || s.Successful != 6 {
			t.Errorf("not held: dropped %d, successful %d, conversations %+v; want all three", s.Dropped, s.Successful, c)
		}
		if s.ScheduleLag.Count != s.Requests {
			t.Errorf("schedule lag of %d requests, want all %d (later turns are due at the think time's end)", s.ScheduleLag.Count, s.Requests)
		}
		if c.ThinkTime.Min < ms(think) || c.ThinkTime.Max > 1.05*ms(think) {
			t.Errorf("hold %v: think times %+v, want within 5%% above %v", hold, c.ThinkTime, think)
		}
	}
}

// TestConversationsEnd: the window cuts conversations whose next turn would
// start after it; a failed turn ends its conversation.
func TestConversationsEnd(t *testing.T) {
	f := &fakeSessions{plan: conversationPlan(true, time.Second), turns: 3, think: time.Second}
	send := &cacheSender{cold: 5 * time.Millisecond, warm: 5 * time.Millisecond}
	start := time.Now()
	res := runSessions(t, f, send, Options{Mode: ModeThroughput, VUs: 2, Duration: 200 * time.Millisecond})
	if took := time.Since(start); took > 700*time.Millisecond {
		t.Errorf("the run took %v: it waited out think times past its window", took)
	}
	c := res.Summary.Conversations
	if c == nil || c.Started != 2 || c.Ended[EndCut] != 2 || res.Summary.Successful != 2 {
		t.Fatalf("conversations %+v, successful %d; want 2 cut after their first turn", c, res.Summary.Successful)
	}

	f = &fakeSessions{plan: conversationPlan(true, 0), turns: 3}
	send = &cacheSender{cold: time.Millisecond, warm: time.Millisecond, fail: "t2"}
	res = runSessions(t, f, send, Options{Mode: ModeThroughput, VUs: 1, NumRequests: 2})
	c = res.Summary.Conversations
	if c.Ended[EndFailed] != 2 || res.Summary.Requests != 4 || res.Summary.Failed != 2 || len(res.Summary.Turns) != 2 {
		t.Errorf("conversations %+v, requests %d, failed %d, turns %d; want each to end at its failed second turn",
			c, res.Summary.Requests, res.Summary.Failed, len(res.Summary.Turns))
	}
}

// TestTurnBuckets: turns past MaxTurnBuckets share one bucket.
func TestTurnBuckets(t *testing.T) {
	f := &fakeSessions{plan: conversationPlan(true, 0), turns: 11}
	send := &cacheSender{cold: time.Millisecond, warm: time.Millisecond}
	res := runSessions(t, f, send, Options{Mode: ModeThroughput, VUs: 1, NumRequests: 1})
	var labels []string
	for _, tr := range res.Summary.Turns {
		labels = append(labels, tr.Turn)
	}
	if got := strings.Join(labels, ","); got != "1,2,3,4,5,6,7,8,9+" {
		t.Errorf("turn buckets %s", got)
	}
	if last := res.Summary.Turns[len(res.Summary.Turns)-1]; last.Requests != 3 {
		t.Errorf("bucket 9+ holds %d requests, want 3 (turns 9 to 11)", last.Requests)
	}
}

// TestSharedPrefixSessions: single requests of groups are no conversations;
// the gain compares the groups' first requests with the others, and a
// sweep's run summary merges its steps'.
func TestSharedPrefixSessions(t *testing.T) {
	f := &fakeSessions{plan: SessionPlan{Kind: SessionSharedPrefix, Groups: 2, PrefixTokens: 100}, turns: 1}
	send := &cacheSender{cold: 10 * time.Millisecond, warm: 10 * time.Millisecond}
	res := runSessions(t, f, send, Options{Mode: ModeRate, Rates: []float64{200, 200}, NumRequests: 5})
	s := &res.Summary
	if s.Conversations != nil || len(s.Turns) != 0 {
		t.Errorf("conversations %+v, turns %+v: none expected", s.Conversations, s.Turns)
	}
	// Every fake session is one cold request.
	if g := s.PrefixCache; g == nil || g.Basis != BasisGroup || g.Cold.Requests != 10 || g.Warm.Requests != 0 || g.TTFTGainRatio != nil {
		t.Errorf("prefix cache %+v", g)
	}
	if g := res.Steps[1].Summary.PrefixCache; g == nil || g.Cold.Requests != 5 {
		t.Errorf("step 2's prefix cache %+v", g)
	}
}

// TestHistoryServer: a conversation that sends the server's answers needs a
// sender that returns them, and gets each one.
func TestHistoryServer(t *testing.T) {
	plan := conversationPlan(true, 0)
	plan.History = HistoryServer
	f := &fakeSessions{plan: plan, turns: 2}
	if _, err := New(&cacheSender{}, fakeSource{f}, Options{Mode: ModeThroughput, VUs: 1, NumRequests: 1}, Hooks{}); err == nil ||
		err.Error() != "history server: the client does not return the text of the answers it streams" {
		t.Fatalf("New with a plain sender: %v", err)
	}
	if _, err := New(&cacheSender{}, fakeSource{&fakeSessions{plan: conversationPlan(true, 0)}}, Options{Mode: ModeTrace, Trace: &Trace{Arrivals: []TraceArrival{{}}, Requests: oneRequest{}, Info: TraceInfo{Speed: 1}}}, Hooks{}); err == nil ||
		!strings.Contains(err.Error(), "a trace brings its own requests") {
		t.Errorf("New in trace mode: %v", err)
	}
	if _, err := New(&cacheSender{}, fakeSource{&fakeSessions{plan: conversationPlan(true, 0)}}, Options{Mode: ModeSweep, Duration: time.Second}, Hooks{}); err == nil ||
		!strings.Contains(err.Error(), "a sweep's rates are requests per second") {
		t.Errorf("New in sweep mode: %v", err)
	}
	// Single requests of shared-prefix groups sweep as any requests.
	if _, err := New(&cacheSender{}, fakeSource{&fakeSessions{plan: SessionPlan{Kind: SessionSharedPrefix}}}, Options{Mode: ModeSweep, Duration: time.Second}, Hooks{}); err != nil {
		t.Errorf("shared prefixes in sweep mode: %v", err)
	}
	send := &answerSender{cacheSender{cold: time.Millisecond, warm: time.Millisecond}}
	runSessions(t, f, send, Options{Mode: ModeThroughput, VUs: 1, NumRequests: 1})
	if got := f.answers["c1 t2"]; got != "answer to c1 t2" {
		t.Errorf("answers %v", f.answers)
	}
}

type oneRequest struct{}

func (oneRequest) Request(int) probe.Request { return probe.Request{Prompt: "hi"} }

// TestSessionBreakdown: the figures of a probe's few requests.
func TestSessionBreakdown(t *testing.T) {
	mk := func(ttft time.Duration, cached int) *probe.Record {
		start := time.Unix(100, 0)
		return &probe.Record{Result: probe.ResultSuccess, Start: start, FirstToken: start.Add(ttft), End: start.Add(ttft), InputTokens: 200, CachedTokens: cached}
	}
	recs := []*probe.Record{mk(100*time.Millisecond, 0), mk(40*time.Millisecond, 180), mk(60*time.Millisecond, 180)}
	turns, g := SessionBreakdown(SessionPlan{Kind: SessionSharedPrefix}, recs, []Turn{{}, {Warm: true}, {Warm: true}})
	if len(turns) != 0 || g == nil || g.Cold.TTFT.P50 != 100 || g.Warm.TTFT.P50 != 50 || g.Warm.Hits != 2 || *g.TTFTGainRatio != 0.5 {
		t.Errorf("turns %+v, gain %+v", turns, g)
	}
	if turns, g := SessionBreakdown(SessionPlan{}, nil, nil); turns != nil || g != nil {
		t.Errorf("no requests: %+v %+v", turns, g)
	}
}
