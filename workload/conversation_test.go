package workload

import (
	"context"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/common/model"

	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/probe"
	"github.com/llmprobe/llmprobe/sim"
)

// threeTurns is a dataset of one conversation of three turns, with the
// dataset's answers, behind a long system message (about 500 tokens) that
// a prefix cache serves from turn 2 on.
var threeTurns = []probe.Message{
	{Role: "system", Content: strings.Repeat("You keep a lighthouse on a rock far out at sea and answer in one sentence. ", 26)},
	{Role: "user", Content: "What does a lighthouse keeper do all night long?"},
	{Role: "assistant", Content: "The keeper tends the lamp, winds the clockwork and logs the weather every few hours."},
	{Role: "user", Content: "Was it a lonely job on the rock stations far out at sea?"},
	{Role: "assistant", Content: "Very: keepers went weeks without seeing the mainland, with two others for company."},
	{Role: "user", Content: "Are there still keepers today?"},
}

func writeConversations(t *testing.T, msgs []probe.Message) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("[")
	for i, m := range msgs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(`{"role": "` + m.Role + `", "content": "` + m.Content + `"}`)
	}
	b.WriteString("]\n")
	path := filepath.Join(t.TempDir(), "conversations.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// startSim serves the simulator with its prefix cache on.
func startSim(t *testing.T, ttft time.Duration) *probe.Client {
	t.Helper()
	srv := sim.New(sim.Config{TTFT: ttft, ITL: time.Millisecond, OutputTokens: 4, PrefixCache: sim.PrefixCache{Enabled: true}})
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { srv.Close(); ts.Close() })
	c := probe.NewClient(probe.Endpoint{Name: "sim", URL: ts.URL + "/v1", Model: "sim-model", Kind: config.KindChat, Stream: true})
	t.Cleanup(c.CloseIdle)
	return c
}

func runGen(t *testing.T, c *probe.Client, g *Generator, o load.Options) *load.Result {
	t.Helper()
	o.KeepRecords = true
	r, err := load.New(c, g, o, load.Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	res := r.Run(context.Background())
	if res.Summary.Failed > 0 {
		t.Fatalf("failures: %v", res.Summary.ErrorMessages)
	}
	return res
}

// simPromptTokens is what the simulator counts for a chat prompt: its
// template header, then the messages at 4 characters per token.
func simPromptTokens(msgs []probe.Message, nonce int) int {
	chars := nonce
	for _, m := range msgs {
		chars += utf8.RuneCountInString(m.Content)
	}
	return (chars+3)/4 + sim.ChatTemplateTokens
}

// TestConversationAgainstSim replays a 3-turn conversation against the
// simulator with its prefix cache: each turn's prompt is the history so far
// (the server's count grows exactly as the history does), turn 1 misses the
// cache (its nonce is new), later turns find their history in it and get
// their first token sooner, and every think time is the one asked, within
// 5 %.
func TestConversationAgainstSim(t *testing.T) {
	const think = 250 * time.Millisecond
	c := startSim(t, 80*time.Millisecond)
	w := config.Workload{Name: "conv", Dataset: writeConversations(t, threeTurns), Seed: 7,
		OutputTokens: config.DecodeOptions{NumTokens: 4},
		Conversation: &config.Conversation{ThinkTime: model.Duration(think), HoldSlot: true}}
	res := runGen(t, c, newGen(t, w, config.KindChat), load.Options{Mode: load.ModeThroughput, VUs: 2, NumRequests: 4})
	s := &res.Summary
	if len(s.Turns) != 3 || s.Successful != 12 {
		t.Fatalf("%d successful requests in turns %+v, want 4 conversations of 3 turns", s.Successful, s.Turns)
	}
	nonce := nonceDigits + 1 // the nonce and its space lead the system message
	for i, tr := range s.Turns {
		want := simPromptTokens(threeTurns[:2+2*i], nonce)
		if tr.Requests != 4 || tr.InputLen.Min != float64(want) || tr.InputLen.Max != float64(want) {
			t.Errorf("turn %d: %d requests of %v..%v input tokens, want 4 of %d", i+1, tr.Requests, tr.InputLen.Min, tr.InputLen.Max, want)
		}
		if i > 0 && tr.InputLen.Mean <= s.Turns[i-1].InputLen.Mean {
			t.Errorf("turn %d's context (%v tokens) did not grow from turn %d's (%v)", i+1, tr.InputLen.Mean, i, s.Turns[i-1].InputLen.Mean)
		}
		t.Logf("turn %d: input tokens %v, cached %v, TTFT p50 %.1f ms", i+1, tr.InputLen.Mean, tr.CachedTokens.Mean, tr.TTFT.P50)
	}
	if s.Turns[0].CachedTokens.Max > sim.DefaultPrefixCacheBlockTokens {
		t.Errorf("turn 1: %v tokens cached, want at most the template's block", s.Turns[0].CachedTokens.Max)
	}
	if s.ColdCacheHits != 0 {
		t.Errorf("%d cold cache hits, want 0", s.ColdCacheHits)
	}
	for _, tr := range s.Turns[1:] {
		// All of the previous turn's prompt but its last block.
		if tr.CachedTokens.Min < float64(s.Turns[0].InputLen.Min-16) || tr.TTFT.P50 >= s.Turns[0].TTFT.P50 {
			t.Errorf("turn %s: %v tokens cached, TTFT p50 %.1f ms against turn 1's %.1f ms", tr.Turn, tr.CachedTokens.Min, tr.TTFT.P50, s.Turns[0].TTFT.P50)
		}
	}
	g := s.PrefixCache
	if g == nil || g.Basis != load.BasisTurn || g.TTFTGainRatio == nil || *g.TTFTGainRatio < 0.3 || g.Cold.Hits != 0 || g.Warm.Hits != 8 {
		t.Errorf("prefix cache %+v", g)
	} else {
		t.Logf("prefix cache TTFT gain %.2f (cold p50 %.1f ms, warm p50 %.1f ms)", *g.TTFTGainRatio, g.Cold.TTFT.P50, g.Warm.TTFT.P50)
	}
	cv := s.Conversations
	if cv == nil || cv.Started != 4 || cv.Ended[load.EndCompleted] != 4 {
		t.Fatalf("conversations %+v", cv)
	}
	lo, hi := float64(think)/1e6, 1.05*float64(think)/1e6
	if cv.ThinkTime.Count != 8 || cv.ThinkTime.Min < lo || cv.ThinkTime.Max > hi {
		t.Errorf("measured think times %+v, want 8 in [%.1f, %.1f] ms", cv.ThinkTime, lo, hi)
	}
	t.Logf("measured think times: min %.2f ms, mean %.2f ms, max %.2f ms for %v", cv.ThinkTime.Min, cv.ThinkTime.Mean, cv.ThinkTime.Max, think)

	// Every turn of a conversation starts with the same nonce, and the
	// conversations' nonces differ.
	nonces := map[string]int{}
	gen := newGen(t, w, config.KindChat)
	ss, err := gen.Sessions()
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		sess := ss.Next()
		var first string
		for turn := 1; ; turn++ {
			req, tr, ok := sess.Next()
			if !ok {
				break
			}
			if tr.Index != turn || tr.Warm != (turn > 1) || req.Cold != (turn == 1) {
				t.Errorf("turn %d: %+v, cold %v", turn, tr, req.Cold)
			}
			lead := req.Messages[0].Content[:nonceDigits]
			if first == "" {
				first = lead
				nonces[lead]++
			} else if lead != first {
				t.Errorf("turn %d starts with %q, turn 1 with %q", turn, lead, first)
			}
			if got := len(req.Messages); got != 2*turn {
				t.Errorf("turn %d sends %d messages, want %d", turn, got, 2*turn)
			}
			sess.Done(&probe.Record{Result: probe.ResultSuccess}, "")
		}
		if sess.End() != load.EndCompleted {
			t.Errorf("end %q", sess.End())
		}
	}
	if len(nonces) != 3 {
		t.Errorf("nonces %v: want one per conversation", nonces)
	}
}

// TestConversationMaxContext: a conversation stops before the turn whose
// prompt and output would pass max_context_tokens; max_turns stops it too.
func TestConversationMaxContext(t *testing.T) {
	c := startSim(t, time.Millisecond)
	// Turn 2's prompt fits with its 4 output tokens, turn 3's does not.
	limit := simPromptTokens(threeTurns[:4], nonceDigits+1) + 10
	w := config.Workload{Name: "conv", Dataset: writeConversations(t, threeTurns), OutputTokens: config.DecodeOptions{NumTokens: 4},
		Conversation: &config.Conversation{MaxContextTokens: limit, HoldSlot: true}}
	res := runGen(t, c, newGen(t, w, config.KindChat), load.Options{Mode: load.ModeThroughput, VUs: 1, NumRequests: 3})
	cv := res.Summary.Conversations
	if cv == nil || cv.Ended[load.EndMaxContext] != 3 || len(res.Summary.Turns) != 2 || cv.Turns.Mean != 2 {
		t.Errorf("conversations %+v, turns %d: want 3 stopped after 2 turns by max_context_tokens %d", cv, len(res.Summary.Turns), limit)
	}
	for _, rec := range res.Records {
		if rec.InputTokens+4 > limit {
			t.Errorf("a request of %d input tokens was sent, past max_context_tokens %d", rec.InputTokens, limit)
		}
	}

	w.Conversation = &config.Conversation{MaxTurns: 1}
	res = runGen(t, c, newGen(t, w, config.KindChat), load.Options{Mode: load.ModeThroughput, VUs: 1, NumRequests: 2})
	if cv := res.Summary.Conversations; cv.Ended[load.EndMaxTurns] != 2 || res.Summary.Successful != 2 {
		t.Errorf("max_turns 1: %+v", cv)
	}
}

// TestThinkTimes: fixed think times are the value; exponential ones are
// seeded draws around it as their mean.
func TestThinkTimes(t *testing.T) {
	path := writeConversations(t, threeTurns)
	draws := func(dist string, seed int64) []time.Duration {
		w := config.Workload{Name: "conv", Dataset: path, Seed: seed, OutputTokens: config.DecodeOptions{NumTokens: 4},
			Conversation: &config.Conversation{ThinkTime: model.Duration(time.Second), ThinkTimeDistribution: dist}}
		ss, err := newGen(t, w, config.KindChat).Sessions()
		if err != nil {
			t.Fatal(err)
		}
		var out []time.Duration
		for range 1000 {
			s := ss.Next()
			out = append(out, s.Think(), s.Think())
		}
		return out
	}
	for _, d := range draws(config.ThinkFixed, 1) {
		if d != time.Second {
			t.Fatalf("fixed think time %v", d)
		}
	}
	exp := draws(config.ThinkExponential, 1)
	var sum, sq float64
	for _, d := range exp {
		sum += d.Seconds()
		sq += d.Seconds() * d.Seconds()
	}
	mean := sum / float64(len(exp))
	sd := math.Sqrt(sq/float64(len(exp)) - mean*mean)
	// An exponential's standard deviation is its mean.
	if math.Abs(mean-1) > 0.05 || math.Abs(sd-1) > 0.1 {
		t.Errorf("exponential think times: mean %.3f s, sd %.3f s, want 1 and 1", mean, sd)
	}
	again := draws(config.ThinkExponential, 1)
	for i := range exp {
		if exp[i] != again[i] {
			t.Fatalf("draw %d: %v then %v with the same seed", i, exp[i], again[i])
		}
	}
	if other := draws(config.ThinkExponential, 2); other[0] == exp[0] && other[1] == exp[1] {
		t.Error("another seed drew the same think times")
	}
}

// TestSessionsKinds: conversations go to chat targets only, shared
// prefixes to those that take prompts.
func TestSessionsKinds(t *testing.T) {
	conv := config.Workload{Name: "c", Dataset: writeConversations(t, threeTurns), Conversation: &config.Conversation{}}
	if err := newGen(t, conv, config.KindCompletions).CheckSessions(); err == nil ||
		err.Error() != `workload "c": conversation: replays chat messages: only chat targets take it, not completions` {
		t.Errorf("completions: %v", err)
	}
	if _, err := newGen(t, conv, config.KindVision).Sessions(); err == nil {
		t.Error("vision: no error")
	}
	sp := config.Workload{Name: "s", InputTokens: 64, SharedPrefix: &config.SharedPrefix{Groups: 2, PrefixTokens: 32}}
	if err := newGen(t, sp, config.KindEmbeddings).CheckSessions(); err == nil ||
		err.Error() != `workload "s": shared_prefix: only chat, completions and vision targets take its prompts, not embeddings` {
		t.Errorf("embeddings: %v", err)
	}
	for _, k := range []probe.Kind{config.KindChat, config.KindCompletions, ""} {
		if err := newGen(t, sp, k).CheckSessions(); err != nil {
			t.Errorf("%q: %v", k, err)
		}
	}
	if ss, err := newGen(t, config.Workload{Name: "plain", Prompt: "hi"}, config.KindChat).Sessions(); ss != nil || err != nil {
		t.Errorf("a plain workload: %v, %v", ss, err)
	}
}
