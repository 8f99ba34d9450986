package probe

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestKeyHeader: a key for a server that takes it in a header of its own
// (Azure OpenAI's api-key) is sent there as it is, and not as a bearer
// token; by default it is a bearer token in Authorization. /v1/models gets
// it the same way.
func TestKeyHeader(t *testing.T) {
	const key = "sk-header-canary"
	for _, tc := range []struct {
		header, wantHeader, wantValue string
	}{
		{"", "Authorization", "Bearer " + key},
		{"authorization", "Authorization", "Bearer " + key},
		{"api-key", "Api-Key", key},
		{"X-API-Key", "X-Api-Key", key},
	} {
		got := map[string]http.Header{}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got[r.URL.Path] = r.Header.Clone()
			if r.URL.Path == "/v1/models" {
				_, _ = w.Write([]byte(`{"data":[{"id":"m"}]}`))
				return
			}
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = w.Write([]byte("data: {\"choices\":[{\"delta\":{\"content\":\"a\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n"))
		}))
		c := NewClient(Endpoint{Name: "t", URL: srv.URL, Model: "m", Stream: true, APIKey: key, APIKeyHeader: tc.header})
		if rec := c.Do(context.Background(), Request{Prompt: "hi"}); !rec.Success() {
			t.Fatalf("%s: %s %s", tc.header, rec.Result, rec.Error)
		}
		if _, err := c.Models(context.Background()); err != nil {
			t.Fatalf("%s: models: %v", tc.header, err)
		}
		for path, h := range got {
			if v := h.Get(tc.wantHeader); v != tc.wantValue {
				t.Errorf("api_key_header %q: %s got %s %q, want %q", tc.header, path, tc.wantHeader, v, tc.wantValue)
			}
			if tc.wantHeader != "Authorization" && h.Get("Authorization") != "" {
				t.Errorf("api_key_header %q: %s also got an Authorization header", tc.header, path)
			}
		}
		c.CloseIdle()
		srv.Close()
	}
}
