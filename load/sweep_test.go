package load

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/probe"
	"github.com/llmprobe/llmprobe/sim"
)

type lengthRequests int

func (n lengthRequests) Next() probe.Request {
	return probe.Request{Prompt: "hello", MaxTokens: int(n), MinTokens: int(n)}
}

// A sweep against a simulator that decodes at most 8 sequences at once finds
// the simulator's analytical capacity: 8 / service time.
func TestSweepFindsSimulatorCapacity(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a sweep for about 13 s")
	}
	const (
		slots  = 8
		tokens = 20
		ttft   = 50 * time.Millisecond
		itl    = 10 * time.Millisecond
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, addr, err := sim.Listen(ctx, "127.0.0.1:0", sim.Config{TTFT: ttft, ITL: itl, OutputTokens: tokens, MaxConcurrency: slots, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	client := probe.NewClient(probe.Endpoint{Name: "sim", URL: "http://" + addr.String(), Model: sim.DefaultModel, Stream: true, Timeout: 30 * time.Second})
	defer client.CloseIdle()
	service := ttft + (tokens-1)*itl // the sim holds a slot from TTFT to the last token
	capacity := slots / service.Seconds()

	var steps []Step
	r, err := New(client, lengthRequests(tokens), Options{
		Mode: ModeSweep, MaxVUs: 2 * slots, NumRates: 6, Duration: 1500 * time.Millisecond,
		Target: "sim", Model: sim.DefaultModel, Seed: 1,
	}, Hooks{Step: func(s *Step) { steps = append(steps, *s) }})
	if err != nil {
		t.Fatal(err)
	}
	res := r.Run(ctx)
	for _, s := range res.Steps {
		q := "-"
		if s.Qualified != nil {
			q = map[bool]string{true: "yes", false: "no"}[*s.Qualified]
		}
		t.Logf("step %d %-10s offered %6.2f arrival %6.2f achieved %6.2f drain %.3fs p99 TTFT %6.1f ms errors %.3f qualified %s %s",
			s.Index, s.Kind, s.OfferedRate, s.ArrivalRate, s.AchievedRate, s.DrainS, s.Summary.TTFT.P99, s.Summary.ErrorRatio, q, s.Verdict)
	}
	if len(steps) != len(res.Steps) {
		t.Errorf("step hook saw %d steps, result has %d", len(steps), len(res.Steps))
	}
	if res.MaxThroughput == nil || res.DetectedMax == nil {
		t.Fatalf("no max found: %+v (stop: %s)", res, res.StopReason)
	}
	got := res.DetectedMax.RequestsPerSecond
	t.Logf("capacity %.2f req/s, throughput phase %.2f req/s, detected max %.2f req/s (%.1f%%), %.0f output tokens/s",
		capacity, res.MaxThroughput.RequestsPerSecond, got, 100*(got/capacity-1), res.DetectedMax.OutputTokensPerSecond)
	if math.Abs(got/capacity-1) > 0.15 {
		t.Errorf("detected max %.2f req/s is not within 15%% of the capacity %.2f req/s", got, capacity)
	}
	if tps := res.DetectedMax.OutputTokensPerSecond; math.Abs(tps/(got*tokens)-1) > 0.15 {
		t.Errorf("detected max %.0f output tokens/s, want about %.0f", tps, got*tokens)
	}
	if res.Summary.Failed != 0 {
		t.Errorf("%d failures: %v", res.Summary.Failed, res.Summary.Errors)
	}
}
