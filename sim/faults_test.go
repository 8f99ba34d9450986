package sim

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

const streamChat = `{"messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`

func TestFaultHTTPErrors(t *testing.T) {
	tests := []struct {
		name       string
		faults     Faults
		status     int
		retryAfter string
		count      func(Stats) int64
	}{
		{"429", Faults{HTTP429: 1}, 429, "1", func(s Stats) int64 { return s.HTTP429 }},
		{"500", Faults{HTTP500: 1}, 500, "", func(s Stats) int64 { return s.HTTP500 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ts := newTestServer(t, fast(Config{Faults: tt.faults}))
			for _, body := range []string{streamChat, `{"prompt":"x"}`} {
				path := "/v1/chat/completions"
				if !strings.Contains(body, "messages") {
					path = "/v1/completions"
				}
				resp, err := post(context.Background(), newClient(t), ts.URL+path, body)
				if err != nil {
					t.Fatal(err)
				}
				var e struct {
					Error struct {
						Message string `json:"message"`
						Code    int    `json:"code"`
					} `json:"error"`
				}
				err = json.NewDecoder(resp.Body).Decode(&e)
				resp.Body.Close()
				if err != nil || resp.StatusCode != tt.status || e.Error.Code != tt.status || e.Error.Message == "" {
					t.Errorf("%s: status %d, error %+v, %v", path, resp.StatusCode, e, err)
				}
				if ra := resp.Header.Get("Retry-After"); ra != tt.retryAfter {
					t.Errorf("%s: Retry-After %q, want %q", path, ra, tt.retryAfter)
				}
			}
			if st := s.Stats(); tt.count(st) != 2 || st.InFlight != 0 || st.Completed != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestFaultDisconnect(t *testing.T) {
	s, ts := newTestServer(t, fast(Config{OutputTokens: 10, Faults: Faults{Disconnect: 1}}))
	resp, err := post(context.Background(), newClient(t), ts.URL+"/v1/chat/completions", streamChat)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := readSSE(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("read error %v, want unexpected EOF", err)
	}
	shape, _ := describeStream(t, evs, "chat.completion.chunk", "chatcmpl-")
	if got := strings.Join(shape, " "); got != "role C1 C1 C1 C1 C1" {
		t.Errorf("stream before the disconnect: %s", got)
	}
	// Non-streamed: the connection closes without a response.
	_, err = post(context.Background(), newClient(t), ts.URL+"/v1/completions", `{"prompt":"x"}`)
	if err == nil {
		t.Errorf("non-streamed request did not fail")
	}
	waitFor(t, time.Second, "slots freed", func() bool { return s.Stats().InFlight == 0 })
	if st := s.Stats(); st.Disconnects != 2 || st.Completed != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestFaultStall(t *testing.T) {
	s, ts := newTestServer(t, fast(Config{OutputTokens: 10, MaxConcurrency: 1, Faults: Faults{Stall: 1}}))
	c := newClient(t)
	c.Timeout = 200 * time.Millisecond
	start := time.Now()
	resp, err := post(context.Background(), c, ts.URL+"/v1/chat/completions", streamChat)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := readSSE(resp.Body)
	resp.Body.Close()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("read error %v, want a timeout", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("stream ended after %v, before the client's timeout", d)
	}
	if len(evs) != 6 { // role and 5 tokens
		t.Errorf("got %d events before the stall, want 6", len(evs))
	}
	waitFor(t, time.Second, "slot freed", func() bool {
		st := s.Stats()
		return st.InFlight == 0 && st.Stalls == 1
	})
	// Non-streamed stall: the client times out without a response.
	if _, err := post(context.Background(), c, ts.URL+"/v1/completions", `{"prompt":"x"}`); err == nil {
		t.Errorf("non-streamed stalled request did not fail")
	}
	waitFor(t, time.Second, "slot freed", func() bool { return s.Stats().InFlight == 0 })
}

func TestFaultCloseEndsStall(t *testing.T) {
	s, ts := newTestServer(t, fast(Config{Faults: Faults{Stall: 1}}))
	resp, err := post(context.Background(), newClient(t), ts.URL+"/v1/chat/completions", streamChat)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	waitFor(t, time.Second, "stall", func() bool { return s.Stats().Stalls == 1 })
	s.Close()
	if _, err := readSSE(resp.Body); err != nil {
		t.Errorf("after Close: %v", err)
	}
	if st := s.Stats(); st.InFlight != 0 {
		t.Errorf("stats %+v", st)
	}
	resp2, err := post(context.Background(), newClient(t), ts.URL+"/v1/completions", `{"prompt":"x"}`)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("after Close: status %d, want 503", resp2.StatusCode)
	}
}

func TestFaultRatios(t *testing.T) {
	// Half the requests get each error; draws are independent and the
	// first drawn fault in field order applies: 429 with p=0.5, 500 with
	// p=0.25, success with p=0.25.
	s, ts := newTestServer(t, fast(Config{OutputTokens: 1, Seed: 3, Faults: Faults{HTTP429: 0.5, HTTP500: 0.5}}))
	c := newClient(t)
	const n = 400
	for range n {
		resp, err := post(context.Background(), c, ts.URL+"/v1/completions", `{"prompt":"x"}`)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	st := s.Stats()
	t.Logf("stats %+v", st)
	if st.HTTP429 < n*0.4 || st.HTTP429 > n*0.6 || st.HTTP500 < n*0.15 || st.HTTP500 > n*0.35 || st.Completed != n-st.HTTP429-st.HTTP500 {
		t.Errorf("fault counts off: %+v", st)
	}
}

func TestListen(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hs, addr, err := Listen(ctx, "127.0.0.1:0", fast(Config{Faults: Faults{Stall: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	if hs == nil {
		t.Fatal("nil *http.Server")
	}
	url := "http://" + addr.String()
	c := newClient(t)
	resp, err := c.Get(url + "/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("health: %d", resp.StatusCode)
	}
	// A stalled stream ends when ctx does, and the server stops.
	resp, err = post(context.Background(), c, url+"/v1/chat/completions", streamChat)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	done := make(chan error, 1)
	go func() { _, err := readSSE(resp.Body); done <- err }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("stalled stream did not end after ctx ended")
	}
	waitFor(t, 2*time.Second, "listener closed", func() bool {
		conn, err := net.DialTimeout("tcp", addr.String(), 100*time.Millisecond)
		if err == nil {
			conn.Close()
		}
		return err != nil
	})
}
