package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// usageOf posts body to url and returns the usage of the non-streamed
// answer and how long it took.
func usageOf(t *testing.T, c *http.Client, url, body string) (prompt, cached int, took time.Duration) {
	t.Helper()
	prompt, cached, took, err := tryUsage(c, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return prompt, cached, took
}

func tryUsage(c *http.Client, url, body string) (prompt, cached int, took time.Duration, err error) {
	start := time.Now()
	resp, err := post(context.Background(), c, url, body)
	if err != nil {
		return 0, 0, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	took = time.Since(start)
	if err != nil || resp.StatusCode != http.StatusOK {
		return 0, 0, 0, fmt.Errorf("status %d, %v: %s", resp.StatusCode, err, b)
	}
	var r struct {
		Usage struct {
			PromptTokens        int `json:"prompt_tokens"`
			PromptTokensDetails struct {
				CachedTokens int `json:"cached_tokens"`
			} `json:"prompt_tokens_details"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return 0, 0, 0, err
	}
	return r.Usage.PromptTokens, r.Usage.PromptTokensDetails.CachedTokens, took, nil
}

func chatBody(messages ...string) string {
	var b strings.Builder
	b.WriteString(`{"max_tokens":1,"messages":[`)
	for i, m := range messages {
		if i > 0 {
			b.WriteByte(',')
		}
		c, _ := json.Marshal(m)
		fmt.Fprintf(&b, `{"role":"user","content":%s}`, c)
	}
	b.WriteString("]}")
	return b.String()
}

// text returns n characters: a prefix, then filler.
func text(prefix string, n int) string {
	return prefix + strings.Repeat("abcd", n/4+1)[:n-len(prefix)]
}

// TestPrefixCacheTokens: with the cache on, a chat prompt counts the
// template header; a new prompt has only the header's full block cached, a
// repeated one all its full blocks but the last token's, a prompt sharing a
// prefix the full blocks within it; completions have no header.
func TestPrefixCacheTokens(t *testing.T) {
	if ChatTemplateTokens != 20 || len(ChatTemplateHeader)%CharsPerToken != 0 {
		t.Fatalf("template header of %d characters", len(ChatTemplateHeader))
	}
	_, ts := newTestServer(t, Config{TTFT: time.Nanosecond, ITL: time.Nanosecond, PrefixCache: PrefixCache{Enabled: true}})
	c := newClient(t)
	chat, cmpl := ts.URL+"/v1/chat/completions", ts.URL+"/v1/completions"

	a := text("A", 400) // 100 tokens: with the header 120, 7 full blocks
	if p, k, _ := usageOf(t, c, chat, chatBody(a)); p != 120 || k != 0 {
		t.Errorf("empty cache: prompt %d cached %d, want 120 and 0", p, k)
	}
	if p, k, _ := usageOf(t, c, chat, chatBody(a)); p != 120 || k != 112 {
		t.Errorf("repeated prompt: prompt %d cached %d, want 120 and 112", p, k)
	}
	// Exactly 7 blocks: the last token is computed, so 6 are cached.
	b := text("B", 368)
	if _, k, _ := usageOf(t, c, chat, chatBody(b)); k != 16 {
		t.Errorf("new prompt: cached %d, want 16 (the header's block)", k)
	}
	if p, k, _ := usageOf(t, c, chat, chatBody(b)); p != 112 || k != 96 {
		t.Errorf("block-aligned prompt: prompt %d cached %d, want 112 and 96", p, k)
	}
	// Shares a's first 200 characters, in two messages: the header and a
	// are one text, so blocks cover the first 280 characters' 4 blocks.
	if p, k, _ := usageOf(t, c, chat, chatBody(a[:150], a[150:200]+"X"+a[201:])); p != 120 || k != 64 {
		t.Errorf("shared prefix: prompt %d cached %d, want 120 and 64", p, k)
	}
	// A unique start: the header's block only.
	if _, k, _ := usageOf(t, c, chat, chatBody("0123456789ab "+a)); k != 16 {
		t.Errorf("nonce first: cached %d, want 16", k)
	}
	cp := `{"max_tokens":1,"prompt":"` + a + `"}`
	if p, k, _ := usageOf(t, c, cmpl, cp); p != 100 || k != 0 {
		t.Errorf("new completions prompt: prompt %d cached %d", p, k)
	}
	if p, k, _ := usageOf(t, c, cmpl, cp); p != 100 || k != 96 {
		t.Errorf("repeated completions prompt: prompt %d cached %d, want 100 and 96", p, k)
	}
	// Text after an image is never cached.
	img := `{"max_tokens":1,"messages":[{"role":"user","content":[{"type":"text","text":"` + a[:100] + `"},` +
		`{"type":"image_url","image_url":{"url":"https://example.com/i.png"}},{"type":"text","text":"` + a[100:] + `"}]}]}`
	usageOf(t, c, chat, img)
	if p, k, _ := usageOf(t, c, chat, img); p != 120+DefaultImageTokens || k != 32 {
		t.Errorf("image: prompt %d cached %d, want %d and 32 (the 2 blocks of the 180 characters before it)", p, k, 120+DefaultImageTokens)
	}
}

// TestPrefixCacheOff: off by default, nothing is cached and prompts count
// no header.
func TestPrefixCacheOff(t *testing.T) {
	s, ts := newTestServer(t, Config{TTFT: time.Nanosecond, ITL: time.Nanosecond})
	c := newClient(t)
	for range 2 {
		if p, k, _ := usageOf(t, c, ts.URL+"/v1/chat/completions", chatBody(text("A", 400))); p != 100 || k != 0 {
			t.Errorf("prompt %d cached %d, want 100 and 0", p, k)
		}
	}
	if s.cache != nil || s.Stats().CachedTokens != 0 {
		t.Error("a cache without PrefixCache.Enabled")
	}
}

// TestPrefixCacheTTFT: TTFT shrinks with the cached share of the prompt.
func TestPrefixCacheTTFT(t *testing.T) {
	const ttft = 200 * time.Millisecond
	p := PrefixCache{Enabled: true}.withDefaults()
	if got, want := p.ttft(ttft, 992, 1000), 21440*time.Microsecond; got < want-time.Microsecond || got > want+time.Microsecond {
		t.Errorf("ttft %v, want %v", got, want)
	}
	if got := p.ttft(ttft, 0, 1000); got != ttft {
		t.Errorf("uncached ttft %v", got)
	}
	_, ts := newTestServer(t, Config{TTFT: ttft, ITL: time.Nanosecond, PrefixCache: PrefixCache{Enabled: true}})
	c := newClient(t)
	usageOf(t, c, ts.URL+"/v1/chat/completions", chatBody("the header's block is cached from now on"))
	eventually(t, func() (pr problems) {
		body := chatBody(text(fmt.Sprint(time.Now().UnixNano()), 4000)) // 1020 tokens
		_, k1, cold := usageOf(t, c, ts.URL+"/v1/chat/completions", body)
		_, k2, warm := usageOf(t, c, ts.URL+"/v1/chat/completions", body)
		if k1 != 16 || k2 != 1008 {
			t.Fatalf("cached %d then %d, want 16 then 1008", k1, k2)
		}
		// 200 ms * (1 - 0.9*16/1020) = 197 ms, then 200 ms * (1 -
		// 0.9*1008/1020) = 22 ms; timers only come out late.
		if cold < 197*time.Millisecond {
			t.Errorf("cold TTFT %v, under 197 ms", cold)
		}
		if warm < 22*time.Millisecond {
			t.Errorf("warm TTFT %v, under 22 ms", warm)
		}
		if cold > 240*time.Millisecond || warm > 60*time.Millisecond {
			pr.add("cold %v (want 197 ms), warm %v (want 22 ms)", cold, warm)
		}
		return pr
	})
}

// TestPrefixCacheLRU: the cache holds Blocks blocks, evicting the least
// recently used and a prompt's last blocks first.
func TestPrefixCacheLRU(t *testing.T) {
	c := newPrefixCache(4)
	a, b := []uint64{1, 2, 3}, []uint64{4, 5, 6}
	if n := c.lookup(a); n != 0 {
		t.Errorf("new a: %d blocks hit", n)
	}
	if n := c.lookup(a); n != 3 {
		t.Errorf("a again: %d blocks hit, want 3", n)
	}
	if n := c.lookup(b); n != 0 || c.len() != 4 {
		t.Errorf("b: %d hit, %d cached", n, c.len())
	}
	// b evicted a's last two blocks; its first is left.
	if n := c.lookup(a); n != 1 || c.len() != 4 {
		t.Errorf("a after b: %d hit, want 1; %d cached", n, c.len())
	}
	// A block after a miss does not count: the chain is broken.
	if n := c.lookup([]uint64{9, 4}); n != 0 {
		t.Errorf("a miss then a cached block: %d hit", n)
	}
}

func TestPrefixCacheValidate(t *testing.T) {
	for _, p := range []PrefixCache{{Blocks: -1}, {BlockTokens: -1}, {BlockTokens: maxBlockTokens + 1}, {PrefillShare: 1.5}, {PrefillShare: -0.1}} {
		if err := (Config{PrefixCache: p}).Validate(); err == nil {
			t.Errorf("%+v: valid", p)
		}
	}
}

// TestPrefixCacheConcurrent: requests in parallel share the cache safely
// (run under the race detector by scripts/test.sh), and what they report
// adds up to the server's count.
func TestPrefixCacheConcurrent(t *testing.T) {
	s, ts := newTestServer(t, Config{TTFT: time.Nanosecond, ITL: time.Nanosecond, PrefixCache: PrefixCache{Enabled: true, Blocks: 64}})
	c := newClient(t)
	const workers, each = 8, 20
	sums, errs := make(chan int, workers), make(chan error, workers)
	for w := range workers {
		go func() {
			sum := 0
			for i := range each {
				// Two prompts per worker, repeated, over a cache too
				// small for all of them: hits and evictions.
				_, k, _, err := tryUsage(c, ts.URL+"/v1/chat/completions", chatBody(text(fmt.Sprint(w, i%2), 600)))
				if err != nil {
					errs <- err
					return
				}
				sum += k
			}
			sums <- sum
		}()
	}
	total := 0
	for range workers {
		select {
		case sum := <-sums:
			total += sum
		case err := <-errs:
			t.Fatal(err)
		}
	}
	if got := s.Stats().CachedTokens; got != int64(total) || total == 0 {
		t.Errorf("server counted %d cached tokens, responses %d", got, total)
	}
	if n := s.cache.len(); n > 64 {
		t.Errorf("%d blocks cached, capacity 64", n)
	}
}
