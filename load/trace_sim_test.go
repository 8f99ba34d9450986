package load_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/dataset"
	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/probe"
	"github.com/llmprobe/llmprobe/sim"
	"github.com/llmprobe/llmprobe/sim/simtest"
	"github.com/llmprobe/llmprobe/workload"
)

// mooncakeTrace writes a Mooncake-format trace of n requests, seeded, in
// the shape of the FAST'25 traces: arrivals about every 50 ms (whole
// milliseconds, some at the same one); 40 groups whose requests open with
// the group's 1 to 4 shared blocks (a system prompt, a document); one in
// ten a follow-up that extends an earlier request's blocks (a
// conversation's next turn); one in ten sharing nothing; each request's
// own blocks after that, the last one partial; 1 to 8 output tokens.
func mooncakeTrace(t *testing.T, n int) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(14, 1000))
	next := int64(0)
	id := func() int64 { next++; return next - 1 }
	groups := make([][]int64, 40)
	for g := range groups {
		for range 1 + rng.IntN(4) {
			groups[g] = append(groups[g], id())
		}
	}
	var b strings.Builder
	var prev [][]int64
	ms := 0.0
	for i := range n {
		var ids []int64
		switch r := rng.Float64(); {
		case r < 0.1 && len(prev) > 0:
			ids = slices.Clone(prev[rng.IntN(len(prev))])
		case r < 0.2:
		default:
			ids = slices.Clone(groups[rng.IntN(len(groups))])
		}
		for range 1 + rng.IntN(3) {
			ids = append(ids, id())
		}
		prev = append(prev, ids)
		in := (len(ids)-1)*dataset.MooncakeBlockTokens + 1 + rng.IntN(dataset.MooncakeBlockTokens)
		fmt.Fprintf(&b, `{"timestamp": %d, "input_length": %d, "output_length": %d, "hash_ids": %s}`+"\n",
			int(ms), in, 1+rng.IntN(8), strings.ReplaceAll(fmt.Sprint(ids), " ", ", "))
		if i == 0 {
			ms = 0
		}
		ms += rng.ExpFloat64() * 50
	}
	path := filepath.Join(t.TempDir(), "mooncake.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// sent keeps every request a sender was asked to send, and its record.
type sent struct {
	load.Sender
	mu   sync.Mutex
	reqs []probe.Request
	recs map[string]*probe.Record // by prompt
}

func (s *sent) Do(ctx context.Context, req probe.Request) *probe.Record {
	s.mu.Lock()
	s.reqs = append(s.reqs, req)
	s.mu.Unlock()
	rec := s.Sender.Do(ctx, req)
	s.mu.Lock()
	s.recs[req.Prompt] = rec
	s.mu.Unlock()
	return rec
}

// The acceptance run: a Mooncake-format trace of 1,000 requests
// replayed at 10x against the simulator (its prefix cache on) starts every
// request on time (schedule lag p99 within 5 ms), and the requests that
// were sent share exactly the prompt prefixes their hash_ids share.
func TestMooncakeTraceReplay(t *testing.T) {
	const n, speed = 1000, 10
	path := mooncakeTrace(t, n)
	tr := &config.Trace{File: path, Speed: speed}
	if err := tr.Parse(); err != nil {
		t.Fatal(err)
	}
	reqs, _ := tr.Requests()
	// A replay whose lag is past the bound is run again, four times at most: the
	// bound is the client's, and a machine busy with other test packages
	// can steal its CPU for a few milliseconds; a client that cannot keep
	// it misses it every time. Each attempt has its own simulator and its
	// own (cold) text, so the prefix cache starts empty.
	const attempts = 5
	var (
		res   *load.Result
		s     *sent
		gen   *workload.TraceGenerator
		sched *load.Trace
	)
	for attempt := 1; ; attempt++ {
		var err error
		if sched, err = tr.Schedule(); err != nil {
			t.Fatal(err)
		}
		if gen, err = workload.NewTrace(&config.Workload{Name: "trace"}, config.KindChat, tr); err != nil {
			t.Fatal(err)
		}
		sched.Requests = gen
		url := simtest.Start(t, sim.Config{TTFT: 2 * time.Millisecond, ITL: time.Millisecond,
			PrefixCache: sim.PrefixCache{Enabled: true, Blocks: 1 << 17}})
		client := probe.NewClient(probe.Endpoint{Name: "sim", URL: url, Model: "sim-model", Kind: config.KindChat, Stream: true, SupportsMinTokens: true})
		defer client.CloseIdle()
		s = &sent{Sender: client, recs: map[string]*probe.Record{}}
		r, err := load.New(s, gen, load.Options{Mode: load.ModeTrace, Trace: sched, KeepRecords: true, Name: "trace"}, load.Hooks{})
		if err != nil {
			t.Fatal(err)
		}
		res = r.Run(context.Background())
		sum := res.Summary
		lag := sum.ScheduleLag
		t.Logf("attempt %d: %d requests over %.2f s (trace span %.1f s at %dx): schedule lag p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms; %d dropped",
			attempt, sum.Requests, res.Steps[0].WindowS, res.Context.Trace.SpanS*speed, speed, lag.P50, lag.P90, lag.P99, lag.Max, sum.Dropped)
		if res.Status != load.StatusCompleted || sum.Successful != n || sum.Dropped != 0 || len(s.reqs) != n {
			t.Fatalf("status %s: %d successful, %d dropped, %d sent of %d (errors %v)", res.Status, sum.Successful, sum.Dropped, len(s.reqs), n, sum.Errors)
		}
		if lag.Count != n {
			t.Fatalf("schedule lag of %d requests, want %d", lag.Count, n)
		}
		if lag.P99 <= lagBound && !res.ClientBottleneck {
			break
		}
		if attempt == attempts {
			t.Fatalf("schedule lag p99 %.3f ms in each of %d attempts, want at most %v ms", lag.P99, attempts, lagBound)
		}
	}

	// Each request sent is one of the trace's, once, with its lengths.
	index := map[string]int{}
	for i := range reqs {
		index[gen.Prompt(i)] = i
	}
	if len(index) != n {
		t.Fatalf("%d distinct prompts for %d requests", len(index), n)
	}
	byIndex := make([]string, n)
	for _, req := range s.reqs {
		i, ok := index[req.Prompt]
		if !ok || byIndex[i] != "" {
			t.Fatalf("a request sent that is not the trace's, or twice (%d characters)", len(req.Prompt))
		}
		byIndex[i] = req.Prompt
		if len(req.Prompt) != reqs[i].InputTokens*4 || req.MaxTokens != reqs[i].OutputTokens || req.MinTokens != reqs[i].OutputTokens {
			t.Fatalf("request %d: %d characters, max_tokens %d, want %d and %d", i, len(req.Prompt), req.MaxTokens, reqs[i].InputTokens*4, reqs[i].OutputTokens)
		}
	}
	// The prompts sent share what their hash_ids share: the same text for
	// the blocks both begin with, different text from the first block in
	// which they differ (random words may agree a few characters on).
	const block, slack = dataset.MooncakeBlockTokens * 4, 40
	pairs, sharing := 0, 0
	for a := range n {
		for b := a + 1; b < n; b++ {
			ia, ib := reqs[a].HashIDs, reqs[b].HashIDs
			k := 0
			for k < min(len(ia), len(ib)) && ia[k] == ib[k] {
				k++
			}
			pa, pb := byIndex[a], byIndex[b]
			shared := min(k*block, len(pa), len(pb))
			if pa[:shared] != pb[:shared] {
				t.Fatalf("requests %d and %d share %d blocks but not their text", a, b, k)
			}
			// (Where either ends within slack characters of the shared text,
			// a few characters can agree by chance: not checked.)
			if end := shared + slack; end <= min(len(pa), len(pb)) && pa[shared:end] == pb[shared:end] {
				t.Fatalf("requests %d and %d differ from block %d but their text goes on alike", a, b, k)
			}
			pairs++
			if k > 0 {
				sharing++
			}
		}
	}
	t.Logf("%d pairs of requests sent checked, %d of them sharing a prefix", pairs, sharing)
	if sharing < pairs/100 {
		t.Fatalf("only %d of %d pairs share a prefix: the trace does not exercise sharing", sharing, pairs)
	}

	// The server saw it too: a request whose first blocks an earlier one
	// (done a second before) sent had them served from its prefix cache;
	// one that shares nothing with an earlier request had at most the chat
	// template's.
	hits, misses := 0, 0
	arr := sched.Arrivals
	for j, a := range arr {
		i := a.Index
		rec := s.recs[byIndex[i]]
		best, early := 0, 0
		for _, e := range arr[:j] {
			ie, ii := reqs[e.Index].HashIDs, reqs[i].HashIDs
			k := 0
			for k < min(len(ie), len(ii)) && ie[k] == ii[k] {
				k++
			}
			best = max(best, k)
			if a.At-e.At > time.Second {
				early = max(early, min(k*dataset.MooncakeBlockTokens, reqs[e.Index].InputTokens, reqs[i].InputTokens-1))
			}
		}
		switch {
		case best == 0:
			misses++
			if rec.CachedTokens > sim.ChatTemplateTokens {
				t.Errorf("request %d shares nothing with an earlier one, yet %d tokens came from the cache", i, rec.CachedTokens)
			}
		case early > 0:
			hits++
			if rec.CachedTokens < early-16 {
				t.Errorf("request %d: %d cached tokens, want at least the %d an earlier request sent", i, rec.CachedTokens, early)
			}
		}
	}
	t.Logf("server prefix cache: %d requests checked for hits, %d for misses", hits, misses)
	if hits < 100 || misses < 50 {
		t.Errorf("%d hits and %d misses checked: too few", hits, misses)
	}
}
