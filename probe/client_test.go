package probe

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// captureEvents returns a captured stream's events, each with its blank line.
func captureEvents(t testing.TB, name string) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata/captures", name+".sse"))
	if err != nil {
		t.Fatal(err)
	}
	var evs []string
	for _, blk := range strings.SplitAfter(string(raw), "\n\n") {
		if blk != "" {
			evs = append(evs, blk)
		}
	}
	return evs
}

// captureHeaders returns a capture's response headers, less those that
// net/http writes itself (framing, date).
func captureHeaders(t testing.TB, name string) http.Header {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata/captures", name+".headers"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	resp, err := http.ReadResponse(bufio.NewReader(f), nil)
	if err != nil {
		t.Fatal(err)
	}
	h := resp.Header.Clone()
	for _, k := range []string{"Transfer-Encoding", "Content-Length", "Date", "Keep-Alive"} {
		h.Del(k)
	}
	return h
}

// stepClock is the client's clock in tests that need a lower bound on
// inter-token gaps however loaded the machine: it tells the server each
// time the client stamps a read, so the server can wait for the client to
// have received a chunk before it starts the delay to the next one.
type stepClock struct{ read chan struct{} }

func newStepClock() *stepClock { return &stepClock{read: make(chan struct{}, 1)} }

func (c *stepClock) now() time.Time {
	t := time.Now()
	select {
	case c.read <- struct{}{}:
	default:
	}
	return t
}

// stream describes what a test server streams.
type stream struct {
	header http.Header
	events []string                  // raw, each with its line ends
	delay  func(i int) time.Duration // before event i (i > 0)
	clock  *stepClock                // if set, each delay starts when the client read the previous event
	stall  bool                      // after the events, hold the stream open until the client leaves
}

// captured holds the last request a test server received.
type captured struct {
	mu   sync.Mutex
	req  *http.Request
	body []byte
}

// record keeps r and its body. It reads the body even for a nil c: only
// then does net/http watch the connection, so that a stalled handler's
// context ends when the client goes.
func (c *captured) record(r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.req, c.body = r.Clone(context.Background()), body
}

func (c *captured) get() (*http.Request, []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.req, c.body
}

func (s stream) handler(t testing.TB, got *captured) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		got.record(r)
		for k, v := range s.header {
			w.Header()[k] = v
		}
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "text/event-stream")
		}
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		_ = rc.Flush()
		for i, ev := range s.events {
			if i > 0 && s.delay != nil {
				if s.clock != nil {
					select {
					case <-s.clock.read:
					case <-time.After(5 * time.Second):
						t.Errorf("client never read event %d", i-1)
					case <-r.Context().Done():
						return
					}
				}
				select {
				case <-time.After(s.delay(i)):
				case <-r.Context().Done():
					return
				}
			}
			if s.clock != nil {
				for len(s.clock.read) > 0 { // forget stamps of earlier reads
					<-s.clock.read
				}
			}
			if _, err := io.WriteString(w, ev); err != nil {
				return
			}
			_ = rc.Flush()
		}
		if s.stall {
			<-r.Context().Done()
		}
	}
}

func serve(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func newTestClient(t testing.TB, ep Endpoint) *Client {
	t.Helper()
	c := NewClient(ep)
	t.Cleanup(c.CloseIdle)
	return c
}

// chatChunk is a vLLM-style chunk with the given delta fields.
func chatChunk(delta string, extra string) string {
	return `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1795767020,"model":"m","choices":[{"index":0,"delta":{` +
		delta + `},"finish_reason":null}]` + extra + "}\n\n"
}

const (
	roleChunk   = `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}` + "\n\n"
	finishChunk = `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\n"
	doneEvent   = "data: [DONE]\n\n"
)

func usageChunk(prompt, completion int) string {
	return fmt.Sprintf(`data: {"id":"chatcmpl-1","choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`+"\n\n",
		prompt, completion, prompt+completion)
}

// TestDoCaptures replays real servers' streams, headers included, with a
// delay between chunks, and checks the Record.
func TestDoCaptures(t *testing.T) {
	const firstDelay = 50 * time.Millisecond
	tests := []struct {
		capture       string
		kind          Kind
		roleOnlyFirst bool
		in, out       int
		cached        int
		prefill       time.Duration
		decode        time.Duration
		finish        string
		chunks        int
	}{
		{"llama-server-chat-stream", "chat", true, 61, 6, 0, 7691 * time.Microsecond, 935 * time.Microsecond, "length", 6},
		{"llama-server-completions-stream", "completions", false, 11, 6, 2, 339 * time.Microsecond, 488 * time.Microsecond, "length", 6},
		{"vllm-sim-chat-stream", "chat", true, 7, 6, 0, 0, 0, "length", 6},
		{"vllm-sim-completions-stream", "completions", false, 2, 1, 0, 0, 0, "stop", 1},
	}
	for _, tt := range tests {
		t.Run(tt.capture, func(t *testing.T) {
			var cap captured
			s := stream{
				header: captureHeaders(t, tt.capture),
				events: captureEvents(t, tt.capture),
				delay: func(i int) time.Duration {
					if i == 1 {
						return firstDelay // role chunk -> first content
					}
					return 5 * time.Millisecond
				},
			}
			srv := serve(t, s.handler(t, &cap))
			c := newTestClient(t, Endpoint{Name: "t", URL: srv.URL + "/v1/", Model: "m", Kind: tt.kind, Stream: true})
			rec := c.Do(context.Background(), Request{Prompt: "hi", MaxTokens: 6})
			got, body := cap.get()

			if rec.Result != ResultSuccess || rec.Error != "" || rec.HTTPStatus != 200 {
				t.Fatalf("result %s (%q), status %d", rec.Result, rec.Error, rec.HTTPStatus)
			}
			wantPath := map[Kind]string{"chat": "/v1/chat/completions", "completions": "/v1/completions"}[tt.kind]
			if got.URL.Path != wantPath || got.Method != http.MethodPost {
				t.Errorf("request %s %s, want POST %s", got.Method, got.URL.Path, wantPath)
			}
			if got.Header.Get("Accept") != "text/event-stream" || got.Header.Get("Content-Type") != "application/json" {
				t.Errorf("request headers %v", got.Header)
			}
			if !bytes.Contains(body, []byte(`"stream":true,"stream_options":{"include_usage":true}`)) {
				t.Errorf("request body %s does not ask for a stream with usage", body)
			}
			if rec.Target != "t" || rec.Model != "m" || rec.Kind != tt.kind {
				t.Errorf("record labels %q %q %q", rec.Target, rec.Model, rec.Kind)
			}
			if !rec.UsageReported || rec.InputTokens != tt.in || rec.OutputTokens != tt.out || rec.CachedTokens != tt.cached {
				t.Errorf("usage reported %v, tokens in %d out %d cached %d; want in %d out %d cached %d",
					rec.UsageReported, rec.InputTokens, rec.OutputTokens, rec.CachedTokens, tt.in, tt.out, tt.cached)
			}
			if rec.ServerPrefill != tt.prefill || rec.ServerDecode != tt.decode {
				t.Errorf("server prefill %v decode %v, want %v %v", rec.ServerPrefill, rec.ServerDecode, tt.prefill, tt.decode)
			}
			if rec.FinishReason != tt.finish {
				t.Errorf("finish reason %q, want %q", rec.FinishReason, tt.finish)
			}
			if len(rec.Chunks) != tt.chunks || rec.ChunkTokens != nil {
				t.Errorf("%d output chunks (tokens %v), want %d", len(rec.Chunks), rec.ChunkTokens, tt.chunks)
			}
			ttft, ok := rec.TTFT()
			if !ok || rec.FirstToken.Sub(rec.Start) != rec.Chunks[0] {
				t.Fatalf("TTFT %v, %v; first chunk at %v", ttft, ok, rec.Chunks[0])
			}
			if tt.roleOnlyFirst && ttft < firstDelay {
				// The role-only chunk came at once; the first content 50ms later.
				t.Errorf("TTFT %v < %v: the role-only chunk was counted as the first token", ttft, firstDelay)
			}
			if !tt.roleOnlyFirst && ttft > firstDelay+time.Second {
				t.Errorf("TTFT %v", ttft)
			}
			if !rec.FirstAnswer.Equal(rec.FirstToken) {
				t.Errorf("first answer %v, first token %v", rec.FirstAnswer, rec.FirstToken)
			}
			if e2e := rec.E2E(); e2e < ttft || e2e > 5*time.Second {
				t.Errorf("E2E %v, TTFT %v", e2e, ttft)
			}
			n, prev := 0, rec.Chunks[0]
			for _, d := range rec.Chunks[1:] {
				if d < prev {
					t.Errorf("chunk offsets not increasing: %v", rec.Chunks)
				}
				prev = d
			}
			rec.EachITL(func(itl time.Duration, w int) {
				n++
				if w != 1 || itl < 0 || itl > 5*time.Second {
					t.Errorf("ITL %v weight %d", itl, w)
				}
			})
			if n != tt.chunks-1 {
				t.Errorf("%d ITL samples, want %d", n, tt.chunks-1)
			}
			if tpot, ok := rec.TPOT(); ok != (tt.out >= 2) || tpot < 0 {
				t.Errorf("TPOT %v, %v", tpot, ok)
			}
		})
	}
}

// TestDoITL streams 4 content chunks 20ms apart (each delay starting once the
// client has read the previous chunk) and checks TTFT, ITL and TPOT.
func TestDoITL(t *testing.T) {
	const gap = 20 * time.Millisecond
	clk := newStepClock()
	s := stream{
		events: []string{
			roleChunk,
			chatChunk(`"content":"a"`, ""), chatChunk(`"content":"b"`, ""),
			chatChunk(`"content":"c"`, ""), chatChunk(`"content":"d"`, ""),
			finishChunk, usageChunk(5, 4), doneEvent,
		},
		delay: func(i int) time.Duration {
			if i >= 1 && i <= 4 {
				return gap
			}
			return 0
		},
		clock: clk,
	}
	srv := serve(t, s.handler(t, nil))
	c := newTestClient(t, Endpoint{URL: srv.URL, Model: "m", Stream: true})
	c.now = clk.now
	rec := c.Do(context.Background(), Request{Prompt: "hi"})
	if rec.Result != ResultSuccess {
		t.Fatalf("result %s: %s", rec.Result, rec.Error)
	}
	if len(rec.Chunks) != 4 || rec.OutputTokens != 4 || rec.InputTokens != 5 || rec.FinishReason != "stop" {
		t.Fatalf("chunks %v, tokens %d/%d, finish %q", rec.Chunks, rec.InputTokens, rec.OutputTokens, rec.FinishReason)
	}
	if ttft, _ := rec.TTFT(); ttft < gap {
		t.Errorf("TTFT %v < %v: the role chunk counted", ttft, gap)
	}
	var itls []time.Duration
	rec.EachITL(func(itl time.Duration, w int) {
		if w != 1 {
			t.Errorf("weight %d, want 1", w)
		}
		itls = append(itls, itl)
	})
	if len(itls) != 3 {
		t.Fatalf("%d ITL samples, want 3", len(itls))
	}
	for _, itl := range itls {
		if itl < gap || itl > gap+2*time.Second {
			t.Errorf("ITL %v, want about %v", itl, gap)
		}
	}
	tpot, ok := rec.TPOT()
	if !ok || tpot < gap || tpot > gap+2*time.Second {
		t.Errorf("TPOT %v, %v; want about %v", tpot, ok, gap)
	}
}

// TestDoContinuousUsage: with vLLM's continuous usage stats a chunk of k
// tokens gives k ITL samples of gap/k.
func TestDoContinuousUsage(t *testing.T) {
	const gap = 20 * time.Millisecond
	clk := newStepClock()
	u := func(n int) string {
		return fmt.Sprintf(`,"usage":{"prompt_tokens":3,"completion_tokens":%d,"total_tokens":%d}`, n, n+3)
	}
	s := stream{
		events: []string{
			chatChunk(`"role":"assistant"`, u(0)),
			chatChunk(`"content":"ab"`, u(2)),
			chatChunk(`"content":"cd"`, u(4)),
			chatChunk(`"content":"efg"`, u(7)),
			finishChunk, usageChunk(3, 7), doneEvent,
		},
		delay: func(i int) time.Duration {
			if i >= 1 && i <= 3 {
				return gap
			}
			return 0
		},
		clock: clk,
	}
	var cap captured
	srv := serve(t, s.handler(t, &cap))
	c := newTestClient(t, Endpoint{URL: srv.URL, Model: "m", Stream: true, SupportsMinTokens: true})
	c.now = clk.now
	rec := c.Do(context.Background(), Request{Prompt: "hi", MinTokens: 7, MaxTokens: 7})
	if rec.Result != ResultSuccess {
		t.Fatalf("result %s: %s", rec.Result, rec.Error)
	}
	_, body := cap.get()
	if !bytes.Contains(body, []byte(`"continuous_usage_stats":true`)) {
		t.Errorf("body %s does not ask for continuous usage stats", body)
	}
	if fmt.Sprint(rec.ChunkTokens) != "[2 2 3]" || !rec.UsageReported || rec.OutputTokens != 7 || rec.InputTokens != 3 {
		t.Fatalf("chunk tokens %v, usage %v %d/%d", rec.ChunkTokens, rec.UsageReported, rec.InputTokens, rec.OutputTokens)
	}
	var weights []int
	rec.EachITL(func(itl time.Duration, w int) {
		weights = append(weights, w)
		if itl < gap/time.Duration(w) || itl > gap+2*time.Second {
			t.Errorf("ITL %v over %d tokens, want about %v", itl, w, gap/time.Duration(w))
		}
	})
	if fmt.Sprint(weights) != "[2 3]" {
		t.Errorf("ITL weights %v, want [2 3]", weights)
	}
	// The raw chunk gaps are kept too.
	if d := rec.Chunks[2] - rec.Chunks[1]; d < gap {
		t.Errorf("raw chunk gap %v < %v", d, gap)
	}
}

func TestDoNoUsage(t *testing.T) {
	s := stream{events: []string{
		roleChunk, chatChunk(`"content":"a"`, ""), chatChunk(`"content":"b"`, ""),
		chatChunk(`"content":"c"`, `,"usage":null`), finishChunk, doneEvent,
	}}
	srv := serve(t, s.handler(t, nil))
	rec := newTestClient(t, Endpoint{URL: srv.URL, Model: "m", Stream: true}).Do(context.Background(), Request{Prompt: "hi"})
	if rec.Result != ResultSuccess || rec.UsageReported || rec.OutputTokens != 3 || rec.InputTokens != 0 {
		t.Fatalf("result %s (%s), usage reported %v, tokens %d/%d; want 3 output tokens counted from chunks",
			rec.Result, rec.Error, rec.UsageReported, rec.InputTokens, rec.OutputTokens)
	}
}

// TestDoReasoning: TTFT counts the first reasoning chunk, TTFA the first
// answer chunk; reasoning tokens are kept apart.
func TestDoReasoning(t *testing.T) {
	const gap = 30 * time.Millisecond
	clk := newStepClock()
	s := stream{
		events: []string{
			roleChunk,
			chatChunk(`"reasoning_content":"Let"`, ""),
			chatChunk(`"reasoning_content":" me think","content":null`, ""),
			chatChunk(`"content":"Yes"`, ""),
			chatChunk(`"content":"."`, ""),
			finishChunk,
			`data: {"choices":[],"usage":{"prompt_tokens":4,"completion_tokens":4,"completion_tokens_details":{"reasoning_tokens":2}}}` + "\n\n",
			doneEvent,
		},
		delay: func(i int) time.Duration {
			if i <= 3 {
				return gap
			}
			return 0
		},
		clock: clk,
	}
	srv := serve(t, s.handler(t, nil))
	c := newTestClient(t, Endpoint{URL: srv.URL, Model: "m", Stream: true})
	c.now = clk.now
	rec := c.Do(context.Background(), Request{Prompt: "hi"})
	if rec.Result != ResultSuccess || rec.OutputTokens != 4 || rec.ReasoningTokens != 2 || len(rec.Chunks) != 4 {
		t.Fatalf("result %s (%s), tokens %d reasoning %d, %d chunks", rec.Result, rec.Error, rec.OutputTokens, rec.ReasoningTokens, len(rec.Chunks))
	}
	ttft, _ := rec.TTFT()
	ttfa, ok := rec.TTFA()
	if !ok || ttft != rec.Chunks[0] || ttfa != rec.Chunks[2] {
		t.Errorf("TTFT %v TTFA %v, chunks %v: want first reasoning and first answer chunk", ttft, ttfa, rec.Chunks)
	}
	if ttft < gap || ttfa-ttft < 2*gap {
		t.Errorf("TTFT %v, TTFA %v", ttft, ttfa)
	}
}

// TestDoReasoningField accepts "reasoning", some servers' name for it.
func TestDoReasoningField(t *testing.T) {
	clk := newStepClock()
	s := stream{
		events: []string{roleChunk, chatChunk(`"reasoning":"hm"`, ""), chatChunk(`"content":"ok"`, ""), finishChunk, doneEvent},
		delay: func(i int) time.Duration {
			if i == 2 {
				return 20 * time.Millisecond
			}
			return 0
		},
		clock: clk,
	}
	srv := serve(t, s.handler(t, nil))
	c := newTestClient(t, Endpoint{URL: srv.URL, Stream: true})
	c.now = clk.now
	rec := c.Do(context.Background(), Request{Prompt: "hi"})
	if rec.Result != ResultSuccess || len(rec.Chunks) != 2 || rec.FirstAnswer.Sub(rec.FirstToken) < 20*time.Millisecond {
		t.Fatalf("result %s (%s), %d chunks, first answer %v after first token", rec.Result, rec.Error, len(rec.Chunks), rec.FirstAnswer.Sub(rec.FirstToken))
	}
}

// TestDoPartialUsage: a usage object that leaves fields out reads them as
// zero; an empty one counts as no usage.
func TestDoPartialUsage(t *testing.T) {
	tests := []struct {
		usage        string
		reported     bool
		in, out      int
		cached, reas int
	}{
		{`{"completion_tokens":2}`, true, 0, 2, 0, 0},
		{`{"prompt_tokens":9}`, true, 9, 0, 0, 0},
		{`{"prompt_tokens":9,"completion_tokens":2,"prompt_tokens_details":null,"completion_tokens_details":null}`, true, 9, 2, 0, 0},
		{`{"prompt_tokens":9,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":8},"completion_tokens_details":{"reasoning_tokens":1}}`, true, 9, 2, 8, 1},
		{`{}`, false, 0, 3, 0, 0},
		{`null`, false, 0, 3, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.usage, func(t *testing.T) {
			s := stream{events: []string{
				chatChunk(`"content":"a"`, ""), chatChunk(`"content":"b"`, ""), chatChunk(`"content":"c"`, ""), finishChunk,
				`data: {"choices":[],"usage":` + tt.usage + "}\n\n", doneEvent,
			}}
			srv := serve(t, s.handler(t, nil))
			rec := newTestClient(t, Endpoint{URL: srv.URL, Stream: true}).Do(context.Background(), Request{Prompt: "hi"})
			if rec.Result != ResultSuccess || rec.UsageReported != tt.reported || rec.InputTokens != tt.in || rec.OutputTokens != tt.out ||
				rec.CachedTokens != tt.cached || rec.ReasoningTokens != tt.reas {
				t.Errorf("result %s, usage %v: in %d out %d cached %d reasoning %d", rec.Result, rec.UsageReported,
					rec.InputTokens, rec.OutputTokens, rec.CachedTokens, rec.ReasoningTokens)
			}
		})
	}
}

// TestDoReusesConnections: after a complete stream the connection goes back
// to the pool, for a stream and for a non-streamed answer alike.
func TestDoReusesConnections(t *testing.T) {
	for _, streamed := range []bool{true, false} {
		s := stream{events: captureEvents(t, "llama-server-chat-stream")}
		h := s.handler(t, nil)
		if !streamed {
			raw, err := os.ReadFile("testdata/captures/llama-server-chat.json")
			if err != nil {
				t.Fatal(err)
			}
			h = func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(raw)
			}
		}
		srv := httptest.NewUnstartedServer(h)
		var conns atomic.Int32
		srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				conns.Add(1)
			}
		}
		srv.Start()
		t.Cleanup(srv.Close)
		c := newTestClient(t, Endpoint{URL: srv.URL, Stream: streamed})
		for range 5 {
			if rec := c.Do(context.Background(), Request{Prompt: "hi"}); rec.Result != ResultSuccess {
				t.Fatalf("result %s: %s", rec.Result, rec.Error)
			}
		}
		if n := conns.Load(); n != 1 {
			t.Errorf("streamed %v: 5 sequential requests opened %d connections, want 1", streamed, n)
		}
	}
}

// TestDoEndWithoutDone: a body that ends after a finish_reason, without
// [DONE], is complete (some servers omit it).
func TestDoEndWithoutDone(t *testing.T) {
	s := stream{events: []string{chatChunk(`"content":"a"`, ""), finishChunk, usageChunk(1, 1)}}
	srv := serve(t, s.handler(t, nil))
	rec := newTestClient(t, Endpoint{URL: srv.URL, Stream: true}).Do(context.Background(), Request{Prompt: "hi"})
	if rec.Result != ResultSuccess || rec.OutputTokens != 1 {
		t.Fatalf("result %s (%s), %d tokens", rec.Result, rec.Error, rec.OutputTokens)
	}
}

// TestDoReturnsPromptlyAfterDone: a server (or proxy) that holds the stream
// open after [DONE] must not hold the caller for the idle timeout.
func TestDoReturnsPromptlyAfterDone(t *testing.T) {
	s := stream{events: captureEvents(t, "vllm-sim-chat-stream"), stall: true}
	srv := serve(t, s.handler(t, nil))
	c := newTestClient(t, Endpoint{URL: srv.URL, Stream: true, IdleTimeout: 10 * time.Second})
	start := time.Now()
	rec := c.Do(context.Background(), Request{Prompt: "hi"})
	if rec.Result != ResultSuccess {
		t.Fatalf("result %s: %s", rec.Result, rec.Error)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Do took %v after [DONE]", d)
	}
}

func TestDoPlain(t *testing.T) {
	tests := []struct {
		capture          string
		in, out, cached  int
		prefill, decode  time.Duration
		finish           string
		contentTypeParam string
	}{
		{"llama-server-chat", 61, 6, 60, 406 * time.Microsecond, 595 * time.Microsecond, "length", "; charset=utf-8"},
		{"vllm-sim-chat", 7, 2, 0, 0, 0, "stop", ""},
	}
	for _, tt := range tests {
		t.Run(tt.capture, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata/captures", tt.capture+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var cap captured
			srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				cap.record(r)
				w.Header().Set("Content-Type", "application/json"+tt.contentTypeParam)
				_, _ = w.Write(raw)
			}))
			rec := newTestClient(t, Endpoint{URL: srv.URL, Model: "m"}).Do(context.Background(), Request{Prompt: "hi"})
			if rec.Result != ResultSuccess || rec.Error != "" {
				t.Fatalf("result %s: %s", rec.Result, rec.Error)
			}
			_, body := cap.get()
			if !bytes.Contains(body, []byte(`"stream":false`)) || bytes.Contains(body, []byte("stream_options")) {
				t.Errorf("request body %s", body)
			}
			if !rec.UsageReported || rec.InputTokens != tt.in || rec.OutputTokens != tt.out || rec.CachedTokens != tt.cached {
				t.Errorf("tokens in %d out %d cached %d", rec.InputTokens, rec.OutputTokens, rec.CachedTokens)
			}
			if rec.ServerPrefill != tt.prefill || rec.ServerDecode != tt.decode || rec.FinishReason != tt.finish {
				t.Errorf("prefill %v decode %v finish %q", rec.ServerPrefill, rec.ServerDecode, rec.FinishReason)
			}
			if _, ok := rec.TTFT(); ok || rec.E2E() <= 0 {
				t.Errorf("non-streamed record has a TTFT, or E2E %v", rec.E2E())
			}
		})
	}
}

func TestBody(t *testing.T) {
	temp := func(f float64) *float64 { return &f }
	tests := []struct {
		golden string
		ep     Endpoint
		req    Request
	}{
		{"chat-stream", Endpoint{Model: "qwen", Kind: "chat", Stream: true}, Request{Prompt: "Hello", MaxTokens: 80}},
		{"chat-system-temperature", Endpoint{Model: "qwen", Stream: true}, Request{System: "Be brief.", Prompt: "Hello", MaxTokens: 80, Temperature: temp(0.7)}},
		{"chat-temperature-zero", Endpoint{Model: "qwen", Stream: true}, Request{Prompt: "Hello", Temperature: temp(0)}},
		{"chat-min-tokens", Endpoint{Model: "qwen", Stream: true, SupportsMinTokens: true}, Request{Prompt: "Hello", MaxTokens: 100, MinTokens: 60}},
		{"chat-min-tokens-unsupported", Endpoint{Model: "qwen", Stream: true}, Request{Prompt: "Hello", MaxTokens: 100, MinTokens: 60}},
		{"chat-plain", Endpoint{Model: "qwen"}, Request{Prompt: "Hello \"quoted\" <tag> ü", MaxTokens: 5}},
		{"completions-stream", Endpoint{Model: "qwen", Kind: "completions", Stream: true}, Request{Prompt: "Once upon", MaxTokens: 80}},
		{"completions-system-temperature", Endpoint{Model: "qwen", Kind: "completions", Stream: true}, Request{System: "Be brief. ", Prompt: "Once upon", MaxTokens: 80, Temperature: temp(1)}},
		{"completions-min-tokens", Endpoint{Model: "qwen", Kind: "completions", Stream: true, SupportsMinTokens: true}, Request{Prompt: "Once upon", MaxTokens: 100, MinTokens: 60}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			got, err := NewClient(tt.ep).Body(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(got) {
				t.Fatalf("invalid JSON: %s", got)
			}
			path := filepath.Join("testdata/body", tt.golden+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != strings.TrimSuffix(string(want), "\n") {
				t.Errorf("body\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestDoHeaders(t *testing.T) {
	var cap captured
	s := stream{events: captureEvents(t, "vllm-sim-chat-stream")}
	srv := serve(t, s.handler(t, &cap))

	c := newTestClient(t, Endpoint{URL: srv.URL, Stream: true, APIKey: "sk-secret-123", Headers: map[string]string{"X-Team": "infra"}})
	if rec := c.Do(context.Background(), Request{Prompt: "hi"}); rec.Result != ResultSuccess {
		t.Fatalf("result %s: %s", rec.Result, rec.Error)
	}
	got, _ := cap.get()
	if a := got.Header.Get("Authorization"); a != "Bearer sk-secret-123" {
		t.Errorf("Authorization %q", a)
	}
	if h := got.Header.Get("X-Team"); h != "infra" {
		t.Errorf("X-Team %q", h)
	}
	if h := got.Header.Get("Accept-Encoding"); h != "" {
		t.Errorf("Accept-Encoding %q: a compressed stream is buffered", h)
	}

	c = newTestClient(t, Endpoint{URL: srv.URL, Stream: true})
	if rec := c.Do(context.Background(), Request{Prompt: "hi"}); rec.Result != ResultSuccess {
		t.Fatalf("result %s: %s", rec.Result, rec.Error)
	}
	got, _ = cap.get()
	if _, ok := got.Header["Authorization"]; ok {
		t.Errorf("Authorization sent without an API key")
	}
}

func TestMSDuration(t *testing.T) {
	for ms, want := range map[float64]time.Duration{
		0: 0, 7.691: 7691 * time.Microsecond, 1.001: 1001 * time.Microsecond, 0.0005: 500, 123456.789: 123456789 * time.Microsecond,
	} {
		if got := msDuration(ms); got != want {
			t.Errorf("msDuration(%v) = %v, want %v", ms, got, want)
		}
	}
}

func TestEndpointDefaults(t *testing.T) {
	tests := []struct {
		ep                   Endpoint
		wantURL              string
		wantTimeout, wantIdl time.Duration
	}{
		{Endpoint{URL: "http://h:1"}, "http://h:1/v1/chat/completions", DefaultTimeout, DefaultIdleTimeout},
		{Endpoint{URL: "http://h:1/v1/", Kind: "completions"}, "http://h:1/v1/completions", DefaultTimeout, DefaultIdleTimeout},
		{Endpoint{URL: "http://h:1/v1", Timeout: 5 * time.Second}, "http://h:1/v1/chat/completions", 5 * time.Second, 5 * time.Second},
		{Endpoint{URL: "http://h:1", Timeout: 5 * time.Second, IdleTimeout: time.Second}, "http://h:1/v1/chat/completions", 5 * time.Second, time.Second},
		{Endpoint{URL: "http://h:1", Timeout: 5 * time.Second, IdleTimeout: time.Minute}, "http://h:1/v1/chat/completions", 5 * time.Second, 5 * time.Second},
	}
	for _, tt := range tests {
		c := NewClient(tt.ep)
		ep := c.Endpoint()
		if c.url != tt.wantURL || ep.Timeout != tt.wantTimeout || ep.IdleTimeout != tt.wantIdl || ep.MaxResponseBytes != DefaultMaxResponseBytes || ep.Kind == "" {
			t.Errorf("%+v: url %s, timeout %v idle %v max %d kind %q", tt.ep, c.url, ep.Timeout, ep.IdleTimeout, ep.MaxResponseBytes, ep.Kind)
		}
	}
}

// vllmBody is n vLLM-style content chunks, a finish chunk, usage and [DONE];
// with usage every chunk reports the tokens so far (continuous usage stats).
func vllmBody(n int, continuous bool) []byte {
	var b bytes.Buffer
	b.WriteString(`data: {"id":"chatcmpl-044289f2-cb9c-57eb-861a-9eefba77f332","model":"sim-model","object":"chat.completion.chunk","created":1795767020,"usage":null,"choices":[{"index":0,"finish_reason":null,"delta":{"role":"assistant"}}]}` + "\n\n")
	for i := range n {
		u := "null"
		if continuous {
			u = fmt.Sprintf(`{"prompt_tokens":7,"completion_tokens":%d,"total_tokens":%d}`, i+1, i+8)
		}
		fmt.Fprintf(&b, `data: {"id":"chatcmpl-044289f2-cb9c-57eb-861a-9eefba77f332","model":"sim-model","object":"chat.completion.chunk","created":1795767020,"usage":%s,"choices":[{"index":0,"finish_reason":null,"delta":{"content":"tok%d "}}]}`+"\n\n", u, i%10)
	}
	b.WriteString(`data: {"id":"chatcmpl-044289f2-cb9c-57eb-861a-9eefba77f332","model":"sim-model","object":"chat.completion.chunk","created":1795767020,"usage":null,"choices":[{"index":0,"finish_reason":"length","delta":{}}]}` + "\n\n")
	fmt.Fprintf(&b, `data: {"id":"chatcmpl-044289f2-cb9c-57eb-861a-9eefba77f332","model":"sim-model","object":"chat.completion.chunk","created":1795767020,"usage":{"prompt_tokens":7,"completion_tokens":%d,"total_tokens":%d,"prompt_tokens_details":{"cached_tokens":0}},"choices":[]}`+"\n\n", n, n+7)
	b.WriteString(doneEvent)
	return b.Bytes()
}

// TestReadStreamAllocs: after the reader's and the record's buffers are
// sized, parsing a chunk does not allocate.
func TestReadStreamAllocs(t *testing.T) {
	c := NewClient(Endpoint{Stream: true})
	for _, continuous := range []bool{false, true} {
		allocs := func(n int) float64 {
			body := vllmBody(n, continuous)
			return testing.AllocsPerRun(20, func() {
				rec := &Record{Start: time.Now()}
				c.readStream(context.Background(), rec, nil, bytes.NewReader(body))
				if rec.Result != ResultSuccess || rec.OutputTokens != n {
					t.Fatalf("result %s (%s), %d tokens", rec.Result, rec.Error, rec.OutputTokens)
				}
			})
		}
		small, large := allocs(100), allocs(1100)
		if perChunk := (large - small) / 1000; perChunk > 0.05 {
			t.Errorf("continuous usage %v: %.3f allocations per chunk (%v for 100 chunks, %v for 1100)", continuous, perChunk, small, large)
		}
	}
}

// BenchmarkReadStream parses a stream of 1000 vLLM-style chunks from memory.
func BenchmarkReadStream(b *testing.B) {
	for _, continuous := range []bool{false, true} {
		b.Run(fmt.Sprintf("continuous_usage=%v", continuous), func(b *testing.B) {
			const n = 1000
			body := vllmBody(n, continuous)
			c := NewClient(Endpoint{Stream: true})
			rd := bytes.NewReader(body)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				rd.Reset(body)
				rec := &Record{Start: time.Now()}
				c.readStream(context.Background(), rec, nil, rd)
				if rec.Result != ResultSuccess {
					b.Fatal(rec.Error)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/chunk")
		})
	}
}

// FuzzClientStream feeds any body to the stream parser: it must not panic,
// and the record it leaves must be consistent.
func FuzzClientStream(f *testing.F) {
	files, _ := filepath.Glob("testdata/captures/*.sse")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(vllmBody(3, true))
	f.Add([]byte("data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"error\":{\"message\":1}}\n\n"))
	c := NewClient(Endpoint{Stream: true})
	valid := map[Result]bool{}
	for _, r := range Results {
		valid[r] = true
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := &Record{Start: time.Now()}
		c.readStream(context.Background(), rec, nil, bytes.NewReader(body))
		if !valid[rec.Result] {
			t.Fatalf("result %q", rec.Result)
		}
		if (rec.Result == ResultSuccess) != (rec.Error == "") {
			t.Fatalf("result %s with error %q", rec.Result, rec.Error)
		}
		if rec.Result == ResultSuccess && len(rec.Chunks) == 0 {
			t.Fatal("success without output chunks")
		}
		if rec.FirstToken.IsZero() != (len(rec.Chunks) == 0) {
			t.Fatalf("first token %v with %d chunks", rec.FirstToken, len(rec.Chunks))
		}
		if rec.ChunkTokens != nil && len(rec.ChunkTokens) != len(rec.Chunks) {
			t.Fatalf("%d chunk token counts for %d chunks", len(rec.ChunkTokens), len(rec.Chunks))
		}
		if !rec.UsageReported && rec.OutputTokens < len(rec.Chunks) {
			t.Fatalf("%d output tokens counted from %d chunks", rec.OutputTokens, len(rec.Chunks))
		}
		if rec.End.IsZero() {
			t.Fatal("no end time")
		}
		if rec.InputTokens < 0 || rec.OutputTokens < 0 {
			t.Fatalf("tokens in %d out %d", rec.InputTokens, rec.OutputTokens)
		}
		for i := 1; i < len(rec.Chunks); i++ {
			if rec.Chunks[i] < rec.Chunks[i-1] {
				t.Fatalf("chunk offsets %v", rec.Chunks)
			}
		}
	})
}
