package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/llmprobe/llmprobe/probe/floor"
	"github.com/llmprobe/llmprobe/sim"
)

// measureFloor runs package floor's reader at n closed-loop streams (each
// sends its next request when a response ends), their first requests
// spread over one request's length in the warmup, and measures both sides'
// CPU over the window after it: the floor the client's CPU per token is
// held to.
func measureFloor(child *simChild, scenario string, n int, duration, warmup time.Duration) (row, error) {
	stagger := injectedTTFT + outputTokens*injectedITL
	if warmup < 2*stagger {
		return row{}, fmt.Errorf("scenario %q: the warmup must be at least %s, to spread the streams", scenario, 2*stagger)
	}
	u, err := url.Parse(child.url)
	if err != nil {
		return row{}, err
	}
	body, _ := json.Marshal(map[string]any{
		"model": sim.DefaultModel, "stream": true, "max_tokens": outputTokens,
		"messages": []map[string]string{{"role": "user", "content": "Tell me about lighthouses."}},
	})
	req := fmt.Appendf(nil, "POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", u.Host, len(body), body)
	var requests atomic.Int64
	var f *floor.Reader
	f, err = floor.New(u.Host, n, req, func(i int) error {
		requests.Add(1)
		return f.Send(i)
	})
	if err != nil {
		return row{}, fmt.Errorf("scenario %s: %w", scenario, err)
	}
	defer f.Close()
	errc := make(chan error, 1)
	go func() { errc <- f.Run() }()
	defer f.Stop()
	start := time.Now()
	for i := range n {
		time.Sleep(time.Until(start.Add(stagger * time.Duration(i) / time.Duration(n))))
		if err := f.Send(i); err != nil {
			return row{}, fmt.Errorf("scenario %s: %w", scenario, err)
		}
	}
	time.Sleep(time.Until(start.Add(warmup)))
	// Every stream's trace is left out: the floor is measured for its CPU.
	if err := child.mark(1 << 30); err != nil {
		return row{}, fmt.Errorf("scenario %s: %w", scenario, err)
	}
	markAt, cpu0, req0 := time.Now(), cpuSeconds(), requests.Load()
	select {
	case err := <-errc:
		return row{}, fmt.Errorf("scenario %s: %w", scenario, err)
	case <-time.After(duration):
	}
	cpu, reqs, window := cpuSeconds()-cpu0, requests.Load()-req0, time.Since(markAt).Seconds()
	win, err := child.collect()
	if err != nil {
		return row{}, fmt.Errorf("scenario %s: %w", scenario, err)
	}
	// Timing and memory columns are not the floor's to fill: it keeps no
	// records, and its memory is its sockets'.
	out := row{Scenario: scenario, Floor: true, Requests: reqs, Tokens: win.Tokens, PeakInFlight: int64(n)}
	if win.Tokens > 0 {
		out.ClientCPUPerToken = cpu / float64(win.Tokens) * 1e6
		out.SimCPUPerToken = win.CPUSeconds / float64(win.Tokens) * 1e6
	}
	if window > 0 {
		out.ClientCores, out.SimCores = cpu/window, win.CPUSeconds/window
	}
	return out, nil
}
