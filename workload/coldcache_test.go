package workload

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/llmprobe/llmprobe/collector"
	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/probe"
	"github.com/llmprobe/llmprobe/sim"
)

// coldBench sends a workload's requests through a real client and feeds
// the metrics as a probe does; the client marks the cold hits of a cold
// generator's requests, or of those labelled cold.
type coldBench struct {
	t      *testing.T
	client *probe.Client
	reg    *prometheus.Registry
	m      *collector.Metrics
}

func newColdBench(t *testing.T, url string) *coldBench {
	c := probe.NewClient(probe.Endpoint{Name: "sim", URL: url + "/v1", Model: "sim-model", Kind: config.KindChat, Stream: true})
	t.Cleanup(c.CloseIdle)
	reg := prometheus.NewPedanticRegistry()
	return &coldBench{t: t, client: c, reg: reg, m: collector.New(reg, collector.Options{})}
}

// send sends n requests of g as probe name; labelledCold checks them as
// cold whatever g is.
func (b *coldBench) send(g *Generator, name string, n int, labelledCold bool) []*probe.Record {
	b.t.Helper()
	b.m.InitTarget("sim", "sim-model", "probe", name)
	var recs []*probe.Record
	for range n {
		req := g.Next()
		req.Cold = req.Cold || labelledCold
		rec := b.client.Do(context.Background(), req)
		rec.Phase, rec.Name = "probe", name
		if !rec.Success() {
			b.t.Fatalf("request failed: %s %s", rec.Result, rec.Error)
		}
		b.m.Observe(rec)
		recs = append(recs, rec)
	}
	return recs
}

// hits returns llmprobe_cold_cache_hits_total of probe name.
func (b *coldBench) hits(name string) float64 {
	b.t.Helper()
	mfs, err := b.reg.Gather()
	if err != nil {
		b.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "llmprobe_cold_cache_hits_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "name" && l.GetValue() == name {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	b.t.Fatalf("no llmprobe_cold_cache_hits_total{name=%q}", name)
	return 0
}

func medianTTFT(recs []*probe.Record) time.Duration {
	var ds []time.Duration
	for _, r := range recs {
		if d, ok := r.TTFT(); ok {
			ds = append(ds, d)
		}
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// TestColdAgainstPrefixCache runs probes against the simulator with its
// prefix cache on, as a vLLM server with automatic prefix caching: cold
// probes of one workload — two probes, then the first restarted with the
// same seed — get only the chat template's block from the cache and count
// no hit; a warm probe gets nearly its whole prompt from it, with a shorter
// TTFT, and the same requests checked as cold all count as hits.
func TestColdAgainstPrefixCache(t *testing.T) {
	const ttft = 60 * time.Millisecond
	srv := sim.New(sim.Config{TTFT: ttft, ITL: time.Millisecond, OutputTokens: 4, PrefixCache: sim.PrefixCache{Enabled: true}})
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { srv.Close(); ts.Close() })
	b := newColdBench(t, ts.URL)

	w := config.Workload{Name: "w", InputTokens: 512, System: "You are a concise assistant.", Seed: 1,
		OutputTokens: config.DecodeOptions{NumTokens: 4}}
	var cold []*probe.Record
	cold = append(cold, b.send(newGen(t, w, config.KindChat), "a", 8, false)...)
	cold = append(cold, b.send(newGen(t, w, config.KindChat), "b", 8, false)...)
	cold = append(cold, b.send(newGen(t, w, config.KindChat), "a", 8, false)...) // restarted
	maxCold := 0
	for i, r := range cold {
		maxCold = max(maxCold, r.CachedTokens)
		// The template header's 20 tokens hold one full block of 16.
		if r.CachedTokens > sim.DefaultPrefixCacheBlockTokens || r.InputTokens < 512 {
			t.Errorf("cold request %d: %d of %d input tokens cached, want at most the template's block of 16", i, r.CachedTokens, r.InputTokens)
		}
	}
	if ha, hb := b.hits("a"), b.hits("b"); ha != 0 || hb != 0 {
		t.Errorf("cold cache hits: a %g, b %g, want 0", ha, hb)
	}

	warmW := w
	warmW.PrefixCache = config.PrefixCacheWarm
	warm := b.send(newGen(t, warmW, config.KindChat), "warm", 8, false)
	for i, r := range warm[1:] {
		// All the prompt's full blocks but the last token's.
		if want := (r.InputTokens - 1) / 16 * 16; r.CachedTokens != want {
			t.Errorf("warm request %d: %d of %d input tokens cached, want %d", i+1, r.CachedTokens, r.InputTokens, want)
		}
	}
	coldTTFT, warmTTFT := medianTTFT(cold), medianTTFT(warm[1:])
	t.Logf("cold: at most %d of %d input tokens cached, median TTFT %v; warm: %d of %d cached, median TTFT %v",
		maxCold, cold[1].InputTokens, coldTTFT, warm[1].CachedTokens, warm[1].InputTokens, warmTTFT)
	// 60 ms * (1 - 0.9*16/539) = 58 ms against 60 ms * (1 - 0.9*528/539)
	// = 7 ms: a scheduling delay cannot close that gap.
	if coldTTFT < 58*time.Millisecond || warmTTFT > coldTTFT/2 {
		t.Errorf("median TTFT cold %v, warm %v: want about 58 ms and 6 ms", coldTTFT, warmTTFT)
	}

	// A warm workload labelled cold: every request after the first is a
	// hit.
	b.send(newGen(t, warmW, config.KindChat), "mislabelled", 5, true)
	if h := b.hits("mislabelled"); h != 5 {
		t.Errorf("warm requests checked as cold: %g hits, want 5 (the prompt was cached by the warm probe)", h)
	}

	// The old layout, a system prompt before the nonce: the server caches
	// it, and the check says so once it is more than half the text.
	old := probe.Request{System: text(400 * 4), Prompt: newNonce() + " Why?", MaxTokens: 4}
	b.client.Do(context.Background(), old)
	old.Prompt = newNonce() + " Why?"
	rec := b.client.Do(context.Background(), old)
	if rec.CachedTokens < 400 || !probe.ColdCacheHit(rec, old.TextTokens()) {
		t.Errorf("system prompt before the nonce: %d of %d cached, hit %v", rec.CachedTokens, rec.InputTokens, probe.ColdCacheHit(rec, old.TextTokens()))
	}
}

// text returns n characters of words.
func text(n int) string {
	return strings.Repeat("the storm keeper watched the light ", n/35+1)[:n]
}

// cachingServer always reports all but the last prompt token as cached, as
// a server whose cache the prompts hit would.
func cachingServer(t *testing.T) *httptest.Server {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req struct {
			Messages []struct{ Content string }
		}
		if err := json.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		prompt := 20 // a template header
		for _, m := range req.Messages {
			prompt += (len(m.Content) + 3) / 4
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for _, c := range []string{`{"choices":[{"index":0,"delta":{"role":"assistant"}}]}`,
			`{"choices":[{"index":0,"delta":{"content":"Hi"}}]}`,
			`{"choices":[{"index":0,"delta":{"content":" there"}}]}`,
			`{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
			fmt.Sprintf(`{"choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":%d}}}`, prompt, prompt-1),
			`[DONE]`} {
			fmt.Fprintf(w, "data: %s\n\n", c)
		}
	}))
	t.Cleanup(ts.Close)
	return ts
}

// TestColdCacheHitsCounted: against a server that serves every prompt from
// its cache, every request of a cold probe is counted, and the /probe check
// (text unknown) agrees.
func TestColdCacheHitsCounted(t *testing.T) {
	b := newColdBench(t, cachingServer(t).URL)
	recs := b.send(newGen(t, config.Workload{Name: "w", OutputTokens: config.DecodeOptions{NumTokens: 2}}, config.KindChat), "cold", 4, false)
	if h := b.hits("cold"); h != 4 {
		t.Errorf("%g hits, want 4", h)
	}
	for _, r := range recs {
		if !probe.ColdCacheHit(r, 0) {
			t.Errorf("%d of %d cached: not a hit with the text unknown", r.CachedTokens, r.InputTokens)
		}
	}
}
