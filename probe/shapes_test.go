package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestVisionImagesOnLastUserMessage protects what a vision probe sends (and
// so what its TTFT measures): every image goes after the text of the last
// user message, whatever follows it and whatever precedes it.
func TestVisionImagesOnLastUserMessage(t *testing.T) {
	c := NewClient(Endpoint{URL: "http://h", Model: "m", Kind: "vision", Stream: true})
	imgs := []string{"data:image/png;base64,AAAA", "data:image/jpeg;base64,BBBB"}
	for _, tc := range []struct {
		name string
		req  Request
		at   int // index of the message that gets the images
		text string
	}{
		{"system and prompt", Request{System: "be brief", Prompt: "what is it?", Images: imgs}, 1, "what is it?"},
		{"conversation ending with the assistant",
			Request{Messages: []Message{{Role: "user", Content: "look"}, {Role: "assistant", Content: "ok"}}, Images: imgs}, 0, "look"},
		{"two user turns", Request{Messages: []Message{{Role: "user", Content: "a"}, {Role: "assistant", Content: "b"},
			{Role: "user", Content: "c"}, {Role: "assistant", Content: "d"}}, Images: imgs}, 2, "c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := c.Body(tc.req)
			if err != nil {
				t.Fatal(err)
			}
			var body struct {
				Messages []struct {
					Role    string          `json:"role"`
					Content json.RawMessage `json:"content"`
				} `json:"messages"`
			}
			if err := json.Unmarshal(b, &body); err != nil {
				t.Fatal(err)
			}
			for i, m := range body.Messages {
				var parts []struct {
					Type     string `json:"type"`
					Text     string `json:"text"`
					ImageURL *struct {
						URL string `json:"url"`
					} `json:"image_url"`
				}
				isParts := json.Unmarshal(m.Content, &parts) == nil
				if i != tc.at {
					if isParts {
						t.Errorf("message %d (%s) got parts: %s", i, m.Role, m.Content)
					}
					continue
				}
				if !isParts || len(parts) != 1+len(imgs) || parts[0].Type != "text" || parts[0].Text != tc.text {
					t.Fatalf("message %d: %s, want the text %q then %d images", i, m.Content, tc.text, len(imgs))
				}
				for j, img := range imgs {
					if p := parts[1+j]; p.Type != "image_url" || p.ImageURL == nil || p.ImageURL.URL != img {
						t.Errorf("part %d: %+v, want image %s", 1+j, p, img)
					}
				}
			}
		})
	}
}

// TestColdCacheHitEdges protects llmprobe_cold_cache_hits_total at its
// bounds: more than 32 cached tokens (the template's share) are needed; with
// the prompt's text unknown, a prompt computed but for 16 tokens or fewer
// (a server's last block) was served whole from the cache; with it known, a
// hit is when fewer than half of the text's tokens were computed.
func TestColdCacheHitEdges(t *testing.T) {
	for _, tc := range []struct {
		input, cached, text int
		want                bool
	}{
		{100, 32, 0, false}, // the template's share
		{40, 33, 0, true},   // 7 computed
		{100, 84, 0, true},  // 16 computed: the last block
		{100, 83, 0, false}, // 17 computed
		{100, 70, 61, true}, // 30 computed of a 61-token text
		{100, 70, 60, false},
	} {
		rec := &Record{Result: ResultSuccess, InputTokens: tc.input, CachedTokens: tc.cached}
		if got := ColdCacheHit(rec, tc.text); got != tc.want {
			t.Errorf("%d input, %d cached, text %d: hit %v, want %v", tc.input, tc.cached, tc.text, got, tc.want)
		}
	}
	if ColdCacheHit(&Record{Result: ResultTimeout, InputTokens: 100, CachedTokens: 99}, 0) {
		t.Error("a failed request counted as a cache hit")
	}
}

// TestModelListBound protects bench's check of the model against /v1/models:
// a list of up to 1 MiB is read, a longer body is not taken for one.
func TestModelListBound(t *testing.T) {
	for _, tc := range []struct {
		size int
		ok   bool
	}{{maxModelListBytes, true}, {maxModelListBytes + 1, false}} {
		head := `{"data":[{"id":"m"}]`
		body := head + strings.Repeat(" ", tc.size-len(head)-1) + "}"
		srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, body) }))
		ids, err := newTestClient(t, Endpoint{URL: srv.URL, Model: "m"}).Models(context.Background())
		if tc.ok && (err != nil || len(ids) != 1 || ids[0] != "m") {
			t.Errorf("%d-byte list: %v %v, want [m]", len(body), ids, err)
		}
		if !tc.ok && !errors.Is(err, ErrNoModelList) {
			t.Errorf("%d-byte list: %v %v, want ErrNoModelList", len(body), ids, err)
		}
	}
}

// TestPlainBodyErrorObject protects the protocol class of non-streamed
// answers: a 200 whose body holds an error object failed; "error": null is
// no error.
func TestPlainBodyErrorObject(t *testing.T) {
	for _, tc := range []struct {
		body string
		want Result
	}{
		{`{"error":{"message":"overloaded"},"choices":[{"message":{"content":"x"}}]}`, ResultProtocol},
		{`{"error":null,"choices":[{"message":{"content":"x"}}]}`, ResultSuccess},
	} {
		rec := doAgainst(t, Endpoint{}, Request{Prompt: "hi", MaxTokens: 4}, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, tc.body)
		})
		if rec.Result != tc.want {
			t.Errorf("%s: %s (%s), want %s", tc.body, rec.Result, rec.Error, tc.want)
		}
	}
}
