package workload

import (
	"strings"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/probe"
	"github.com/llmprobe/llmprobe/sim"
	"github.com/llmprobe/llmprobe/tokenizer"
)

func sharedWorkload(cache string) config.Workload {
	return config.Workload{Name: "groups", InputTokens: 640, PrefixCache: cache, Seed: 3,
		OutputTokens: config.DecodeOptions{NumTokens: 4}, SharedPrefix: &config.SharedPrefix{Groups: 3, PrefixTokens: 512}}
}

// sharedChars is the length of the longest common prefix of a and b.
func sharedChars(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// requests takes n requests of one run of g.
func requests(t *testing.T, g *Generator, n int) ([]probe.Request, []load.Turn) {
	t.Helper()
	ss, err := g.Sessions()
	if err != nil {
		t.Fatal(err)
	}
	if p := ss.Plan(); p.Kind != load.SessionSharedPrefix || p.Groups != 3 || p.PrefixTokens != 512 {
		t.Fatalf("plan %+v", p)
	}
	var reqs []probe.Request
	var turns []load.Turn
	for range n {
		s := ss.Next()
		req, turn, ok := s.Next()
		if !ok {
			t.Fatal("a shared-prefix session without its request")
		}
		s.Done(&probe.Record{Result: probe.ResultSuccess}, "")
		if _, _, again := s.Next(); again || s.End() != load.EndCompleted {
			t.Fatalf("a shared-prefix session of more than one request (end %q)", s.End())
		}
		reqs, turns = append(reqs, req), append(turns, turn)
	}
	return reqs, turns
}

// TestSharedPrefixPrompts: requests take the groups in turn; those of one
// group share their prefix and no more, those of two groups nothing; the
// first of each group is the cold one. Cold, a second run shares nothing
// with the first; warm, it has the same prefixes.
func TestSharedPrefixPrompts(t *testing.T) {
	for _, cache := range []string{config.PrefixCacheCold, config.PrefixCacheWarm} {
		g := newGen(t, sharedWorkload(cache), config.KindChat)
		reqs, turns := requests(t, g, 9)
		prefixChars := 512 * tokenizer.CharsPerToken
		for i, r := range reqs {
			if turns[i].Warm != (i >= 3) || r.Cold != (cache == config.PrefixCacheCold && i < 3) || turns[i].Index != 0 {
				t.Errorf("%s request %d: turn %+v, cold %v", cache, i, turns[i], r.Cold)
			}
			if n := len(r.Prompt); n < 630*4 || n > 650*4 {
				t.Errorf("%s request %d: %d characters, want about 640 tokens", cache, i, n)
			}
			if i >= 3 {
				same := sharedChars(r.Prompt, reqs[i-3].Prompt)
				if same < prefixChars-8 || same > prefixChars+8 {
					t.Errorf("%s request %d shares %d characters with its group's previous request, want its prefix (%d)", cache, i, same, prefixChars)
				}
			}
			if i >= 1 && i < 3 && sharedChars(r.Prompt, reqs[i-1].Prompt) > 12 {
				t.Errorf("%s request %d shares %d characters with another group's", cache, i, sharedChars(r.Prompt, reqs[i-1].Prompt))
			}
		}
		again, _ := requests(t, g, 3)
		for i := range again {
			same := sharedChars(again[i].Prompt, reqs[i].Prompt)
			if cache == config.PrefixCacheCold && same > 12 {
				t.Errorf("cold: run 2's group %d shares %d characters with run 1's", i, same)
			}
			if cache == config.PrefixCacheWarm && same < prefixChars-8 {
				t.Errorf("warm: run 2's group %d shares only %d characters with run 1's", i, same)
			}
		}
	}
}

// TestSharedPrefixTokenizer: with a tokenizer the prefix is prefix_tokens
// of its tokens.
func TestSharedPrefixTokenizer(t *testing.T) {
	tk, err := tokenizer.Load(tokenizerFixture)
	if err != nil {
		t.Fatal(err)
	}
	w := sharedWorkload(config.PrefixCacheWarm)
	w.Tokenizer = tokenizerFixture
	reqs, _ := requests(t, newGen(t, w, config.KindChat), 6)
	prefix := reqs[0].Prompt[:sharedChars(reqs[0].Prompt, reqs[3].Prompt)]
	if n := tk.Count(prefix); n < 505 || n > 519 {
		t.Errorf("the shared prefix is %d tokens, want about 512", n)
	}
	if n := tk.Count(reqs[0].Prompt); n < 630 || n > 650 {
		t.Errorf("the prompt is %d tokens, want about 640", n)
	}
}

// TestSharedPrefixAgainstSim: against the simulator's prefix cache, warm
// and cold shared prefixes both show a TTFT gain within a run (each
// group's later requests find its prefix cached), and differ across runs:
// cold, a second run's first requests of each group miss again; warm, they
// hit (and the gain is gone: every request is served from the cache).
// Plain cold prompts share nothing: no request is served beyond the
// template's block.
func TestSharedPrefixAgainstSim(t *testing.T) {
	c := startSim(t, 60*time.Millisecond)
	opts := load.Options{Mode: load.ModeThroughput, VUs: 1, NumRequests: 12}
	for _, cache := range []string{config.PrefixCacheCold, config.PrefixCacheWarm} {
		g := newGen(t, sharedWorkload(cache), config.KindChat)
		first := runGen(t, c, g, opts).Summary.PrefixCache
		if first == nil || first.Basis != load.BasisGroup || first.Cold.Requests != 3 || first.Warm.Requests != 9 || first.TTFTGainRatio == nil {
			t.Fatalf("%s run 1: %+v", cache, first)
		}
		// The prefix (512 of about 660 tokens with the template) cuts
		// TTFT by 0.9 * 512/660: from about 59 ms to 17 ms.
		if *first.TTFTGainRatio < 0.5 || first.Cold.Hits != 0 || first.Warm.Hits != 9 || first.Warm.CachedTokens.Min < 496 {
			t.Errorf("%s run 1: gain %.2f, cold hits %d, warm hits %d, warm cached %v", cache, *first.TTFTGainRatio, first.Cold.Hits, first.Warm.Hits, first.Warm.CachedTokens.Min)
		}
		second := runGen(t, c, g, opts).Summary.PrefixCache
		t.Logf("%s: run 1 gain %.2f (cold p50 %.1f ms, warm p50 %.1f ms); run 2 cold side: %d of 3 hits, p50 %.1f ms",
			cache, *first.TTFTGainRatio, first.Cold.TTFT.P50, first.Warm.TTFT.P50, second.Cold.Hits, second.Cold.TTFT.P50)
		switch cache {
		case config.PrefixCacheCold:
			if second.Cold.Hits != 0 || second.Cold.CachedTokens.Max > sim.DefaultPrefixCacheBlockTokens || *second.TTFTGainRatio < 0.5 {
				t.Errorf("cold run 2: %+v; want its groups' first requests to miss", second)
			}
		case config.PrefixCacheWarm:
			if second.Cold.Hits != 3 || *second.TTFTGainRatio > 0.2 {
				t.Errorf("warm run 2: %+v; want its groups' first requests served from run 1's prefixes", second)
			}
		}
	}

	plain := config.Workload{Name: "plain", InputTokens: 640, Seed: 3, OutputTokens: config.DecodeOptions{NumTokens: 4}}
	res := runGen(t, c, newGen(t, plain, config.KindChat), opts)
	for _, rec := range res.Records {
		if rec.CachedTokens > sim.DefaultPrefixCacheBlockTokens {
			t.Errorf("a plain cold prompt had %d tokens cached", rec.CachedTokens)
		}
	}
	if res.Summary.PrefixCache != nil || res.Summary.ColdCacheHits != 0 || res.Summary.TTFT.P50 < 55 {
		t.Errorf("plain cold prompts: prefix cache %+v, %d cold hits, TTFT p50 %.1f ms", res.Summary.PrefixCache, res.Summary.ColdCacheHits, res.Summary.TTFT.P50)
	}
	t.Logf("plain cold prompts: TTFT p50 %.1f ms, no request cached beyond the template's block", res.Summary.TTFT.P50)
}

// TestSharedPrefixSystem: a cold workload's system message leads with its
// group's nonce, so the system prompt is not a prefix shared by all groups.
func TestSharedPrefixSystem(t *testing.T) {
	w := sharedWorkload(config.PrefixCacheCold)
	w.System = "You are terse."
	reqs, _ := requests(t, newGen(t, w, config.KindChat), 6)
	for i, r := range reqs {
		if !strings.HasSuffix(r.System, " You are terse.") || len(r.System) != nonceDigits+len(" You are terse.") {
			t.Errorf("request %d: system %q", i, r.System)
		}
		if i >= 3 && r.System != reqs[i-3].System {
			t.Errorf("request %d: system %q, its group's %q", i, r.System, reqs[i-3].System)
		}
	}
	if reqs[0].System == reqs[1].System {
		t.Error("two groups share a system message")
	}
}
