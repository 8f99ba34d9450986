package load

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/llmprobe/llmprobe/probe"
)

// fakeSender answers every request after latency with a streamed success of
// tokens chunks, or with result when set.
type fakeSender struct {
	latency time.Duration
	tokens  int
	result  probe.Result
	calls   atomic.Int64
}

func (f *fakeSender) Do(ctx context.Context, _ probe.Request) *probe.Record {
	f.calls.Add(1)
	rec := &probe.Record{Target: "t", Model: "m", Kind: "chat", Start: time.Now()}
	if f.latency > 0 {
		t := time.NewTimer(f.latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			rec.End = time.Now()
			rec.Result = probe.ResultCanceled
			return rec
		}
	}
	rec.End = time.Now()
	if f.result != "" && f.result != probe.ResultSuccess {
		rec.Result = f.result
		return rec
	}
	n := max(f.tokens, 1)
	e2e := rec.End.Sub(rec.Start)
	for i := range n {
		rec.Chunks = append(rec.Chunks, e2e*time.Duration(i+1)/time.Duration(n+1))
	}
	rec.FirstToken = rec.Start.Add(rec.Chunks[0])
	rec.OutputTokens = n
	rec.InputTokens = 10
	rec.UsageReported = true
	rec.Result = probe.ResultSuccess
	return rec
}

type fixedRequests struct{}

func (fixedRequests) Next() probe.Request { return probe.Request{Prompt: "hi", MaxTokens: 4} }

func run(o Options, s Sender) *Result {
	r, err := New(s, fixedRequests{}, o, Hooks{})
	if err != nil {
		panic(err)
	}
	return r.Run(context.Background())
}

func measured(recs []*probe.Record) []*probe.Record {
	var out []*probe.Record
	for _, r := range recs {
		if r.Phase != PhaseWarmup {
			out = append(out, r)
		}
	}
	return out
}
