package probe

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func TestModels(t *testing.T) {
	const key = "sk-canary-123"
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    []string
		err     error  // errors.Is
		errHas  string // else the error contains this
	}{
		{name: "vLLM list", handler: func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, `{"object":"list","data":[{"id":"Qwen/Qwen3-8B","object":"model","owned_by":"vllm"},{"id":"lora-a","object":"model"}]}`)
		}, want: []string{"Qwen/Qwen3-8B", "lora-a"}},
		{name: "not served", handler: http.NotFound, err: ErrNoModelList},
		{name: "not a list", handler: func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `<html>hi</html>`) }, err: ErrNoModelList},
		{name: "empty list", handler: func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `{"data":[]}`) }, err: ErrNoModelList},
		{name: "bad key", handler: func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"error":{"message":"invalid key %s"}}`, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		}, errHas: "HTTP 401: invalid key <secret>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/v1/models" || r.Method != http.MethodGet {
					t.Errorf("%s %s, want GET /v1/models", r.Method, r.URL.Path)
				}
				tt.handler(w, r)
			}))
			defer srv.Close()
			c := NewClient(Endpoint{Name: "t", URL: srv.URL + "/v1", Model: "m", APIKey: key})
			defer c.CloseIdle()
			got, err := c.Models(context.Background())
			switch {
			case tt.err != nil && !errors.Is(err, tt.err):
				t.Errorf("err %v, want %v", err, tt.err)
			case tt.errHas != "" && (err == nil || !strings.Contains(err.Error(), tt.errHas)):
				t.Errorf("err %v, want it to contain %q", err, tt.errHas)
			case err != nil && strings.Contains(err.Error(), key):
				t.Errorf("the key leaked: %v", err)
			case tt.err == nil && tt.errHas == "" && !slices.Equal(got, tt.want):
				t.Errorf("models %q (err %v), want %q", got, err, tt.want)
			}
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		c := NewClient(Endpoint{Name: "t", URL: url, Model: "m"})
		if _, err := c.Models(context.Background()); err == nil || errors.Is(err, ErrNoModelList) || !strings.Contains(err.Error(), "refused") {
			t.Errorf("err %v, want a connection refused", err)
		}
	})
}

// TestRefused: a refused connection is marked so (the load engine stops a
// run on it), a reset one is not; both are connection failures.
func TestRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	closed := srv.URL
	srv.Close()
	c := NewClient(Endpoint{Name: "t", URL: closed, Model: "m", Stream: true})
	if rec := c.Do(context.Background(), Request{Prompt: "hi"}); rec.Result != ResultConnection || !rec.Refused {
		t.Errorf("closed port: %s refused=%v (%s)", rec.Result, rec.Refused, rec.Error)
	}
	reset := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer reset.Close()
	c = NewClient(Endpoint{Name: "t", URL: reset.URL, Model: "m", Stream: true})
	if rec := c.Do(context.Background(), Request{Prompt: "hi"}); rec.Result != ResultConnection || rec.Refused {
		t.Errorf("dropped connection: %s refused=%v (%s)", rec.Result, rec.Refused, rec.Error)
	}
}
