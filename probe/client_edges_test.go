package probe

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// doAgainst sends one chat request to a server running h.
func doAgainst(t *testing.T, ep Endpoint, req Request, h http.HandlerFunc) *Record {
	t.Helper()
	srv := serve(t, h)
	ep.Name, ep.URL, ep.Model = "t", srv.URL, "m"
	if ep.Timeout == 0 {
		ep.Timeout = 5 * time.Second
	}
	return newTestClient(t, ep).Do(context.Background(), req)
}

// TestIdleTimeoutEqualToTimeout protects a target's idle_timeout: one equal
// to the whole-request timeout is kept (only a longer one is capped).
func TestIdleTimeoutEqualToTimeout(t *testing.T) {
	c := NewClient(Endpoint{URL: "http://h", Timeout: 90 * time.Second, IdleTimeout: 90 * time.Second})
	if got := c.Endpoint().IdleTimeout; got != 90*time.Second {
		t.Errorf("idle timeout %v, want the configured 90s", got)
	}
	c = NewClient(Endpoint{URL: "http://h", Timeout: 90 * time.Second, IdleTimeout: 91 * time.Second})
	if got := c.Endpoint().IdleTimeout; got != DefaultIdleTimeout {
		t.Errorf("idle timeout over the timeout: %v, want the default %v", got, DefaultIdleTimeout)
	}
}

// TestMinTokensOnlyWhenAsked protects "min_tokens / ignore_eos are sent only
// when asked, to targets that declare supports_min_tokens": a request
// without a minimum sends neither, even to such a target (ignore_eos alone
// would make the server run to max_tokens).
func TestMinTokensOnlyWhenAsked(t *testing.T) {
	c := NewClient(Endpoint{URL: "http://h", Model: "m", Stream: true, SupportsMinTokens: true})
	for _, tc := range []struct {
		min  int
		want bool
	}{{0, false}, {1, true}, {60, true}} {
		b, err := c.Body(Request{Prompt: "hi", MaxTokens: 100, MinTokens: tc.min})
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		_, hasMin := got["min_tokens"]
		_, hasEOS := got["ignore_eos"]
		if hasMin != tc.want || hasEOS != tc.want {
			t.Errorf("min_tokens %d: body %s; want min_tokens and ignore_eos sent: %v", tc.min, b, tc.want)
		}
	}
}

// TestColdCacheHitMarked protects llmprobe_cold_cache_hits_total: a cold
// request the server reports as served from its prefix cache (all but one
// token cached) is marked; the same numbers on a warm request are not.
func TestColdCacheHitMarked(t *testing.T) {
	usage := `data: {"choices":[],"usage":{"prompt_tokens":100,"completion_tokens":1,"prompt_tokens_details":{"cached_tokens":99}}}` + "\n\n"
	h := func(w http.ResponseWriter, r *http.Request) {
		sse(w, roleChunk, contentChunk, finishChunk, usage, doneEvent)
	}
	prompt := strings.Repeat("a long enough prompt ", 20)
	rec := doAgainst(t, Endpoint{Stream: true}, Request{Cold: true, Prompt: prompt, MaxTokens: 4}, h)
	if rec.Result != ResultSuccess || rec.CachedTokens != 99 || !rec.ColdCacheHit {
		t.Errorf("cold request, 99 of 100 cached: %s cached %d hit %v, want a hit", rec.Result, rec.CachedTokens, rec.ColdCacheHit)
	}
	rec = doAgainst(t, Endpoint{Stream: true}, Request{Prompt: prompt, MaxTokens: 4}, h)
	if rec.ColdCacheHit {
		t.Error("a warm request marked as a cold cache hit")
	}
}

// TestAny2xxIsAResponse protects the result classes: every 2xx status is a
// response to read (a 299 stream succeeds), 300 and up are not.
func TestAny2xxIsAResponse(t *testing.T) {
	for _, tc := range []struct {
		status int
		want   Result
	}{{200, ResultSuccess}, {299, ResultSuccess}, {300, ResultProtocol}} {
		rec := doAgainst(t, Endpoint{Stream: true}, Request{Prompt: "hi", MaxTokens: 4}, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(tc.status)
			_, _ = fmt.Fprint(w, roleChunk, contentChunk, finishChunk, doneEvent)
		})
		if rec.Result != tc.want || rec.HTTPStatus != tc.status {
			t.Errorf("HTTP %d: %s (status %d, %s), want %s", tc.status, rec.Result, rec.HTTPStatus, rec.Error, tc.want)
		}
	}
}

// TestErrorBodyExcerpt protects the error messages of failed requests (the
// summaries' error_messages, logs, /probe?debug): the server's own message
// is quoted, whole up to 200 bytes and cut with "…" past that; a body
// without an error field adds nothing after the status.
func TestErrorBodyExcerpt(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"no error field", `{"detail":"x"}`, "HTTP 500"},
		{"error object", `{"error":{"message":"engine died"}}`, "HTTP 500: engine died"},
		{"error string", `{"error":"out of memory"}`, "HTTP 500: out of memory"},
		{"message of 200 bytes", `{"error":"` + strings.Repeat("m", 200) + `"}`, "HTTP 500: " + strings.Repeat("m", 200)},
		{"message of 201 bytes", `{"error":"` + strings.Repeat("m", 201) + `"}`, "HTTP 500: " + strings.Repeat("m", 200) + "…"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := doAgainst(t, Endpoint{Stream: true}, Request{Prompt: "hi", MaxTokens: 4}, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = fmt.Fprint(w, tc.body)
			})
			if rec.Result != ResultHTTP5xx || rec.Error != tc.want {
				t.Errorf("%s %q, want http_5xx %q", rec.Result, rec.Error, tc.want)
			}
		})
	}
}

// TestChunkTrailingData protects the protocol class of streams: a chunk with
// anything but white space after its JSON value is invalid (as
// json.Unmarshal would say), while trailing spaces and tabs are fine.
func TestChunkTrailingData(t *testing.T) {
	content := strings.TrimSuffix(strings.TrimPrefix(contentChunk, "data: "), "\n\n")
	for _, tc := range []struct {
		name, trail string
		want        Result
	}{
		{"spaces", "   ", ResultSuccess},
		{"a tab", "\t", ResultSuccess},
		{"a second value", ` {"choices":[]}`, ResultProtocol},
		{"a letter", "x", ResultProtocol},
		{"a letter after a tab", "\tx", ResultProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := doAgainst(t, Endpoint{Stream: true}, Request{Prompt: "hi", MaxTokens: 4}, func(w http.ResponseWriter, r *http.Request) {
				sse(w, roleChunk, "data: "+content+tc.trail+"\n\n", finishChunk, doneEvent)
			})
			if rec.Result != tc.want {
				t.Errorf("chunk followed by %q: %s (%s), want %s", tc.trail, rec.Result, rec.Error, tc.want)
			}
		})
	}
}

// TestZeroUsageIsReported protects output tokens and
// estimated_output_tokens: a usage object that says zero tokens, or gives
// one count and leaves the other out, is the server's word (UsageReported),
// not a missing usage to be replaced by a count of chunks; an empty usage
// object is no usage.
func TestZeroUsageIsReported(t *testing.T) {
	for _, tc := range []struct {
		usage    string
		reported bool
		output   int
	}{
		{`{"prompt_tokens":0,"completion_tokens":0}`, true, 0},
		{`{"completion_tokens":0}`, true, 0},
		{`{"prompt_tokens":0}`, true, 0},
		{`{"prompt_tokens":5,"completion_tokens":3}`, true, 3},
		{`{}`, false, 2},
		{`null`, false, 2},
	} {
		rec := doAgainst(t, Endpoint{Stream: true}, Request{Prompt: "hi", MaxTokens: 4}, func(w http.ResponseWriter, r *http.Request) {
			sse(w, roleChunk, contentChunk, contentChunk, finishChunk, `data: {"choices":[],"usage":`+tc.usage+"}\n\n", doneEvent)
		})
		if rec.Result != ResultSuccess || rec.UsageReported != tc.reported || rec.OutputTokens != tc.output {
			t.Errorf("usage %s: %s, usage reported %v, output tokens %d; want %v, %d", tc.usage, rec.Result, rec.UsageReported, rec.OutputTokens, tc.reported, tc.output)
		}
	}
}

// TestContinuousUsageUnchanged protects peak output throughput and ITL
// weights: with continuous usage stats, an output chunk whose running
// count did not grow still holds one token, not zero.
func TestContinuousUsageUnchanged(t *testing.T) {
	withUsage := func(n int) string {
		return chatChunk(`"content":"a"`, fmt.Sprintf(`,"usage":{"prompt_tokens":3,"completion_tokens":%d}`, n))
	}
	rec := doAgainst(t, Endpoint{Stream: true}, Request{Prompt: "hi", MaxTokens: 4}, func(w http.ResponseWriter, r *http.Request) {
		sse(w, roleChunk, withUsage(1), withUsage(1), withUsage(4), finishChunk, doneEvent)
	})
	if rec.Result != ResultSuccess || len(rec.Chunks) != 3 {
		t.Fatalf("%s (%s), %d chunks", rec.Result, rec.Error, len(rec.Chunks))
	}
	want := []int32{1, 1, 3}
	for i, k := range want {
		if i >= len(rec.ChunkTokens) || rec.ChunkTokens[i] != k {
			t.Fatalf("chunk tokens %v, want %v", rec.ChunkTokens, want)
		}
	}
}
