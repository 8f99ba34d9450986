package probe

import (
	"errors"
	"net/http"
	"net/url"
	"testing"

	"github.com/llmprobe/llmprobe/probe/h1"
)

// Which transport a target gets: h1's only for plain HTTP reached
// directly; HTTPS and anything a proxy is configured for keep net/http's,
// which speaks TLS and proxies.
func TestLeanTarget(t *testing.T) {
	direct := func(*http.Request) (*url.URL, error) { return nil, nil }
	proxied := func(*http.Request) (*url.URL, error) { return url.Parse("http://proxy:3128") }
	broken := func(*http.Request) (*url.URL, error) { return nil, errors.New("bad proxy setting") }
	tests := []struct {
		url   string
		proxy func(*http.Request) (*url.URL, error)
		want  bool
	}{
		{"http://vllm:8000", direct, true},
		{"http://vllm:8000/v1", direct, true},
		{"https://vllm:8000", direct, false},
		{"http://vllm:8000", proxied, false},
		{"http://vllm:8000", broken, false},
		{"http:///v1", direct, false}, // no host
		{"vllm:8000", direct, false},  // no scheme
		{"http://[::1", direct, false},
	}
	for _, tt := range tests {
		if got := leanTarget(tt.url, tt.proxy); got != tt.want {
			t.Errorf("leanTarget(%q) = %v, want %v", tt.url, got, tt.want)
		}
	}
	// And the pool builds the transport that says.
	if _, ok := NewClient(Endpoint{URL: "http://127.0.0.1:1"}).pool.cur.Load().Transport.(*h1.Transport); !ok {
		t.Error("a plain-HTTP target on loopback did not get h1's transport")
	}
	if _, ok := NewClient(Endpoint{URL: "https://127.0.0.1:1"}).pool.cur.Load().Transport.(*http.Transport); !ok {
		t.Error("an HTTPS target did not get net/http's transport")
	}
}
