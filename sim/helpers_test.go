package sim

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// newTestServer starts s on a loopback httptest server, closed at cleanup.
func newTestServer(t testing.TB, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	s := New(cfg)
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		s.Close() // ends stalled handlers so that ts.Close does not wait
		ts.Close()
	})
	return s, ts
}

// newClient returns a client with its own connection pool.
func newClient(t testing.TB) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func post(ctx context.Context, c *http.Client, url, body string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return c.Do(req)
}

// sseEvent is one "data:" event and when the client read it.
type sseEvent struct {
	at   time.Time
	data string
}

// readSSE reads events until the body ends; err is the read error, if any
// (nil at a clean end of body).
func readSSE(body io.Reader) ([]sseEvent, error) {
	br := bufio.NewReader(body)
	var evs []sseEvent
	for {
		line, err := br.ReadString('\n')
		if strings.HasPrefix(line, "data: ") && strings.HasSuffix(line, "\n") {
			evs = append(evs, sseEvent{at: time.Now(), data: strings.TrimSuffix(line[len("data: "):], "\n")})
		} else if line != "\n" && line != "" {
			return evs, &protocolError{line}
		}
		if err == io.EOF {
			return evs, nil
		}
		if err != nil {
			return evs, err
		}
	}
}

type protocolError struct{ line string }

func (e *protocolError) Error() string { return "unexpected SSE line: " + e.line }

type tChunk struct {
	ID      string    `json:"id"`
	Object  string    `json:"object"`
	Model   string    `json:"model"`
	Created int64     `json:"created"`
	Usage   *tUsage   `json:"usage"`
	Choices []tChoice `json:"choices"`
}

type tChoice struct {
	Index        int     `json:"index"`
	FinishReason *string `json:"finish_reason"`
	Text         *string `json:"text"`
	Delta        *tDelta `json:"delta"`
	Message      *tDelta `json:"message"`
}

type tDelta struct {
	Role             string  `json:"role"`
	Content          *string `json:"content"`
	ReasoningContent *string `json:"reasoning_content"`
}

type tUsage struct {
	PromptTokens            int `json:"prompt_tokens"`
	CompletionTokens        int `json:"completion_tokens"`
	TotalTokens             int `json:"total_tokens"`
	CompletionTokensDetails *struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`
}

func parseChunk(t testing.TB, data string) tChunk {
	t.Helper()
	var c tChunk
	if err := json.Unmarshal([]byte(data), &c); err != nil {
		t.Fatalf("chunk %q: %v", data, err)
	}
	return c
}

// outputText returns the output text of a chunk and whether it is
// reasoning; ok is false for chunks without output.
func outputText(c tChunk) (text string, reasoning, ok bool) {
	if len(c.Choices) != 1 {
		return "", false, false
	}
	ch := c.Choices[0]
	switch {
	case ch.Text != nil && *ch.Text != "":
		return *ch.Text, false, true
	case ch.Delta != nil && ch.Delta.ReasoningContent != nil && *ch.Delta.ReasoningContent != "":
		return *ch.Delta.ReasoningContent, true, true
	case ch.Delta != nil && ch.Delta.Content != nil && *ch.Delta.Content != "":
		return *ch.Delta.Content, false, true
	}
	return "", false, false
}

// tokenText returns the concatenation of tokens [from, to) of a kind.
func tokenText(reasoning bool, from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		if reasoning {
			b.WriteString(reasoningToken(i))
		} else {
			b.WriteString(contentToken(i))
		}
	}
	return b.String()
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// problems collects the failed checks of one timing attempt.
type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// eventually runs a timing attempt up to 8 times until one has no
// problems. On a shared, noisy 2-core machine delays only ever come out
// late, so one clean attempt shows the server's own precision, while a
// server that is always off fails every attempt. Checks that noise cannot
// break (nothing early) belong in t.Errorf inside the attempt instead.
// Under the race detector, whose slowdown makes timing meaningless, the
// problems are only logged.
func eventually(t *testing.T, attempt func() problems) {
	t.Helper()
	for try := 1; ; try++ {
		p := attempt()
		if len(p) == 0 {
			return
		}
		if try == 8 {
			for _, s := range p {
				if raceEnabled {
					t.Log("race detector on, not checked: " + s)
				} else {
					t.Error(s)
				}
			}
			return
		}
		t.Logf("attempt %d: %s", try, strings.Join(p, "; "))
	}
}
