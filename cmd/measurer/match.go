package main

import (
	"cmp"
	"context"
	"math"
	"net"
	"net/http/httptrace"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/llmprobe/llmprobe/probe"
)

// clientTrace is one sampled request as the client saw it: the port of its
// connection, and its start, end and every output chunk's arrival stamp,
// wall-clock Unix nanoseconds.
type clientTrace struct {
	Port       int
	Start, End int64
	Arrivals   []int64
}

// tracedSender is the client the load engine drives: probe.Client, plus a
// connection trace that tells each request's local port, so that its
// record can be matched with the simulator's trace of the same response.
type tracedSender struct {
	c     *probe.Client
	every int          // connection sampling, as the child's
	from  atomic.Int64 // window start (Unix ns); 0: keep nothing
	// The first staggered requests wait i*stagger/streams before they
	// start (see measure).
	stagger time.Duration
	streams int
	started atomic.Int64

	mu   sync.Mutex
	kept []clientTrace
}

func (t *tracedSender) Do(ctx context.Context, req probe.Request) *probe.Record {
	if t.stagger > 0 {
		if i := t.started.Add(1) - 1; i < int64(t.streams) {
			time.Sleep(time.Duration(i) * t.stagger / time.Duration(t.streams))
		}
	}
	var port atomic.Int64 // the transport may call GotConn off this goroutine
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
		if a, ok := i.Conn.LocalAddr().(*net.TCPAddr); ok {
			port.Store(int64(a.Port))
		}
	}})
	rec := t.c.Do(ctx, req)
	p, from := int(port.Load()), t.from.Load()
	if from == 0 || !rec.Success() || rec.Start.UnixNano() < from || !sampled(p, t.every) {
		return rec
	}
	start := rec.Start.UnixNano()
	ct := clientTrace{Port: p, Start: start, End: start + int64(rec.End.Sub(rec.Start)), Arrivals: make([]int64, len(rec.Chunks))}
	for i, d := range rec.Chunks {
		ct.Arrivals[i] = start + int64(d)
	}
	t.mu.Lock()
	t.kept = append(t.kept, ct)
	t.mu.Unlock()
	return rec
}

// open starts the window: requests that start from now on are kept.
func (t *tracedSender) open(now int64) { t.from.Store(now) }

// take ends the window and returns what was kept.
func (t *tracedSender) take() []clientTrace {
	t.from.Store(0)
	t.mu.Lock()
	defer t.mu.Unlock()
	k := t.kept
	t.kept = nil
	return k
}

// comparison is the client's timing error against the simulator's own
// send times, in milliseconds: TTFT error is the first output chunk's
// arrival stamp minus its send time, ITL error each gap's measured length
// minus its length at the sender. lag is the simulator's own: each chunk's
// send time minus its due time.
type comparison struct {
	TTFT, ITL, Lag []float64
	Matched        int // client requests matched with a simulator trace
	Unmatched      int // client requests with none (or a different chunk count)
}

// compare matches each client trace with the simulator's trace on the same
// port whose arrival falls within the request (a connection carries one
// request at a time, so at most one does).
func compare(cl []clientTrace, sv []sendTrace) comparison {
	byPort := map[int][]*sendTrace{}
	var c comparison
	for i := range sv {
		s := &sv[i]
		byPort[s.Port] = append(byPort[s.Port], s)
		for j := range s.Sent {
			c.Lag = append(c.Lag, ms(s.Sent[j]-s.Due[j]))
		}
	}
	for _, ss := range byPort {
		slices.SortFunc(ss, func(a, b *sendTrace) int { return cmp.Compare(a.Arrival, b.Arrival) })
	}
	for _, ct := range cl {
		ss := byPort[ct.Port]
		i, _ := slices.BinarySearchFunc(ss, ct.Start, func(s *sendTrace, t int64) int { return cmp.Compare(s.Arrival, t) })
		if i == len(ss) || ss[i].Arrival > ct.End || len(ss[i].Sent) != len(ct.Arrivals) || len(ct.Arrivals) == 0 {
			c.Unmatched++
			continue
		}
		s := ss[i]
		c.Matched++
		c.TTFT = append(c.TTFT, ms(ct.Arrivals[0]-s.Sent[0]))
		for j := 1; j < len(s.Sent); j++ {
			c.ITL = append(c.ITL, ms((ct.Arrivals[j]-ct.Arrivals[j-1])-(s.Sent[j]-s.Sent[j-1])))
		}
	}
	return c
}

func ms(ns int64) float64 { return float64(ns) / 1e6 }

// quantile is the nearest-rank q-quantile of xs (sorted in place); NaN
// for none.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	if !slices.IsSorted(xs) {
		slices.Sort(xs)
	}
	i := int(math.Ceil(q*float64(len(xs)))) - 1
	return xs[min(max(i, 0), len(xs)-1)]
}
