package sim

import (
	"context"
	"slices"
	"testing"
	"time"
)

// streamTimes sends one streamed chat request and returns when the role
// chunk, the first output and the end of the stream arrived (relative to
// just before the request was sent) and the gaps between output chunks.
func streamTimes(t *testing.T, url, body string) (role, first, end time.Duration, gaps []time.Duration) {
	t.Helper()
	c := newClient(t)
	start := time.Now()
	resp, err := post(context.Background(), c, url+"/v1/chat/completions", body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	evs, err := readSSE(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	end = time.Since(start)
	var prev time.Time
	for _, ev := range evs {
		if ev.data == "[DONE]" {
			continue
		}
		c := parseChunk(t, ev.data)
		if len(c.Choices) == 1 && c.Choices[0].Delta != nil && c.Choices[0].Delta.Role == "assistant" {
			role = ev.at.Sub(start)
			continue
		}
		if _, _, ok := outputText(c); !ok {
			continue
		}
		if prev.IsZero() {
			first = ev.at.Sub(start)
		} else {
			gaps = append(gaps, ev.at.Sub(prev))
		}
		prev = ev.at
	}
	return role, first, end, gaps
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func TestTiming(t *testing.T) {
	const (
		ttft = 50 * time.Millisecond
		itl  = 5 * time.Millisecond
		n    = 20
	)
	_, ts := newTestServer(t, Config{TTFT: ttft, ITL: itl, OutputTokens: n})
	eventually(t, func() (p problems) {
		role, first, end, gaps := streamTimes(t, ts.URL, `{"messages":[{"role":"user","content":"hi"}],"stream":true}`)
		if len(gaps) != n-1 {
			t.Fatalf("got %d gaps, want %d", len(gaps), n-1)
		}
		want := ttft + (n-1)*itl
		t.Logf("role %v, TTFT %v, end %v (want %v), median ITL %v", role, first, end, want, median(gaps))
		// Nothing may come early.
		if first < ttft || end < want || first-role < ttft-time.Millisecond {
			t.Errorf("too early: TTFT %v (after the role chunk %v), end %v", first, first-role, end)
		}
		if role > ttft/2 {
			p.add("role chunk after %v: it must come well before TTFT", role)
		}
		// Measured by the client, TTFT includes connecting and sending;
		// measured from the role chunk (written when the server accepted
		// the request) it is the server's own precision.
		if first > ttft+8*time.Millisecond {
			p.add("TTFT %v, want %v (+8ms)", first, ttft)
		}
		if d := first - role; d > ttft+3*time.Millisecond {
			p.add("TTFT after the role chunk %v, want %v (+3ms)", d, ttft)
		}
		if end > want+15*time.Millisecond {
			p.add("stream took %v, want %v (+15ms)", end, want)
		}
		if m := median(gaps); m < itl-2*time.Millisecond || m > itl+2*time.Millisecond {
			p.add("median ITL %v, want %v ±2ms", m, itl)
		}
		return p
	})
}

func TestTimingTokensPerChunk(t *testing.T) {
	// 4 tokens per chunk: gaps of 4*ITL, total TTFT + (n-4)*ITL.
	const ttft, itl, n = 20 * time.Millisecond, 5 * time.Millisecond, 12
	_, ts := newTestServer(t, Config{TTFT: ttft, ITL: itl, OutputTokens: n, TokensPerChunk: 4})
	eventually(t, func() (p problems) {
		_, first, end, gaps := streamTimes(t, ts.URL, `{"messages":[{"role":"user","content":"hi"}],"stream":true}`)
		if len(gaps) != 2 {
			t.Fatalf("got %d gaps, want 2", len(gaps))
		}
		want := ttft + (n-4)*itl
		if first < ttft || end < want {
			t.Errorf("too early: TTFT %v, end %v", first, end)
		}
		if first > ttft+8*time.Millisecond {
			p.add("TTFT %v, want %v", first, ttft)
		}
		if end > want+15*time.Millisecond {
			p.add("stream took %v, want %v", end, want)
		}
		for _, g := range gaps {
			if g < 4*itl-3*time.Millisecond || g > 4*itl+5*time.Millisecond {
				p.add("chunk gap %v, want %v", g, 4*itl)
			}
		}
		return p
	})
}

func TestTimingNonStream(t *testing.T) {
	const ttft, itl, n = 20 * time.Millisecond, 2 * time.Millisecond, 11
	_, ts := newTestServer(t, Config{TTFT: ttft, ITL: itl, OutputTokens: n})
	c := newClient(t)
	eventually(t, func() (p problems) {
		start := time.Now()
		resp, err := post(context.Background(), c, ts.URL+"/v1/completions", `{"prompt":"x"}`)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		d, want := time.Since(start), ttft+(n-1)*itl
		if d < want {
			t.Errorf("too early: non-streamed request took %v, want %v", d, want)
		}
		if d > want+15*time.Millisecond {
			p.add("non-streamed request took %v, want %v", d, want)
		}
		return p
	})
}

func TestJitter(t *testing.T) {
	const itl = 4 * time.Millisecond
	_, ts := newTestServer(t, Config{TTFT: 10 * time.Millisecond, ITL: itl, OutputTokens: 30, Jitter: 0.5, Seed: 7})
	_, _, _, gaps := streamTimes(t, ts.URL, `{"messages":[{"role":"user","content":"hi"}],"stream":true}`)
	slices.Sort(gaps)
	// With a relative stddev of 0.5 the gaps spread widely around ITL.
	if spread := gaps[len(gaps)*9/10] - gaps[len(gaps)/10]; spread < itl/2 {
		t.Errorf("jittered gaps spread only %v: %v", spread, gaps)
	}
}

func TestDeterministicIDs(t *testing.T) {
	ids := func(seed int64) []string {
		_, ts := newTestServer(t, fast(Config{Seed: seed, Faults: Faults{HTTP500: 0.3}}))
		c := newClient(t)
		var out []string
		for range 8 {
			resp, err := post(context.Background(), c, ts.URL+"/v1/completions", `{"prompt":"x","max_tokens":1}`)
			if err != nil {
				t.Fatal(err)
			}
			body := make([]byte, 4096)
			n, _ := resp.Body.Read(body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				out = append(out, "500")
				continue
			}
			out = append(out, parseChunk(t, string(body[:n])).ID)
		}
		return out
	}
	a, b, c := ids(1), ids(1), ids(2)
	if !slices.Equal(a, b) {
		t.Errorf("same seed, different responses:\n%v\n%v", a, b)
	}
	if slices.Equal(a, c) {
		t.Errorf("different seeds, same responses: %v", a)
	}
}
