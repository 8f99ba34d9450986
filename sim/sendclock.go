package sim

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// sendClock wakes streams when their next chunk is due: one timer per
// shard for all the streams in it, instead of a timer (and a three-way
// select on it, the request and the epoch) per stream and per chunk. A
// stream's goroutine parks on a channel of its own; the shard's goroutine
// sleeps until the earliest deadline of its heap and wakes every stream
// then due, so that under load one timer wake-up serves many chunks. The
// streams write their chunks themselves: a client that stops reading
// blocks its own stream, never the clock. Deadlines are absolute, as
// before, so a late wake-up never delays the chunks after it.
type sendClock struct {
	shards []clockShard
	next   atomic.Uint32
}

// clockBase is the origin of the clock's nanosecond readings (monotonic).
var clockBase = time.Now()

func clockNow() int64           { return int64(time.Since(clockBase)) }
func clockAt(t time.Time) int64 { return int64(t.Sub(clockBase)) }

// clockIdle is how long a shard's goroutine waits for work before it
// exits: a quiet server keeps no goroutine, a busy one does not start one
// per chunk.
const clockIdle = time.Second

type clockShard struct {
	mu      sync.Mutex
	heap    []*sleeper // by due, earliest first
	running bool       // the shard's goroutine is up
	armed   int64      // when its timer fires; pushes earlier than this kick it
	kick    chan struct{}
}

func newSendClock() *sendClock {
	c := &sendClock{shards: make([]clockShard, runtime.GOMAXPROCS(0))}
	for i := range c.shards {
		c.shards[i].kick = make(chan struct{}, 1)
	}
	return c
}

// sleeper is one request's place on the clock.
type sleeper struct {
	shard *clockShard
	due   int64
	idx   int           // in shard.heap; -1 when not there
	wake  chan struct{} // one token per wake-up
	done  atomic.Bool   // the request or its epoch ended
	stops [2]func() bool
}

// sleeper returns a request's sleeper, woken early for good when ctx or
// epoch ends; release must be called when the request is done with it.
func (c *sendClock) sleeper(ctx, epoch context.Context) *sleeper {
	sh := &c.shards[int(c.next.Add(1))%len(c.shards)]
	sl := &sleeper{shard: sh, idx: -1, wake: make(chan struct{}, 1)}
	sl.stops[0] = context.AfterFunc(ctx, sl.cancel)
	sl.stops[1] = context.AfterFunc(epoch, sl.cancel)
	return sl
}

func (sl *sleeper) release() {
	sl.stops[0]()
	sl.stops[1]()
	sl.shard.remove(sl)
}

// cancel ends the sleeper's waits, the one in progress included.
func (sl *sleeper) cancel() {
	sl.done.Store(true)
	sl.shard.remove(sl)
	select {
	case sl.wake <- struct{}{}:
	default:
	}
}

// until waits for due; false when the request or its epoch ended.
func (sl *sleeper) until(due time.Time) bool {
	if sl.done.Load() {
		return false
	}
	d := clockAt(due)
	if d <= clockNow() {
		return true
	}
	sl.due = d
	sl.shard.push(sl)
	<-sl.wake
	return !sl.done.Load()
}

func (sh *clockShard) push(sl *sleeper) {
	sh.mu.Lock()
	sl.idx = len(sh.heap)
	sh.heap = append(sh.heap, sl)
	sh.up(sl.idx)
	start := !sh.running
	kick := !start && sl.due < sh.armed
	if start {
		sh.running = true
	}
	sh.mu.Unlock()
	switch {
	case start:
		go sh.run()
	case kick:
		select {
		case sh.kick <- struct{}{}:
		default:
		}
	}
}

func (sh *clockShard) remove(sl *sleeper) {
	sh.mu.Lock()
	if i := sl.idx; i >= 0 {
		last := len(sh.heap) - 1
		sh.swap(i, last)
		sh.heap[last] = nil
		sh.heap = sh.heap[:last]
		sl.idx = -1
		if i < last {
			sh.down(i)
			sh.up(i)
		}
	}
	sh.mu.Unlock()
}

// run wakes the shard's due sleepers until it has had none for clockIdle.
func (sh *clockShard) run() {
	t := time.NewTimer(clockIdle)
	var due []*sleeper
	for {
		sh.mu.Lock()
		now := clockNow()
		for len(sh.heap) > 0 && sh.heap[0].due <= now {
			sl := sh.heap[0]
			last := len(sh.heap) - 1
			sh.swap(0, last)
			sh.heap[last] = nil
			sh.heap = sh.heap[:last]
			sl.idx = -1
			sh.down(0)
			due = append(due, sl)
		}
		wait := clockIdle
		if len(sh.heap) > 0 {
			sh.armed = sh.heap[0].due
			wait = time.Duration(sh.armed - now)
		} else {
			sh.armed = now + int64(clockIdle)
		}
		sh.mu.Unlock()
		// Woken outside the lock: streams that wake push their next
		// deadline at once.
		for i, sl := range due {
			select {
			case sl.wake <- struct{}{}:
			default:
			}
			due[i] = nil
		}
		due = due[:0]
		t.Reset(wait)
		select {
		case <-t.C:
			sh.mu.Lock()
			if len(sh.heap) == 0 && clockNow() >= sh.armed {
				sh.running = false
				sh.mu.Unlock()
				return
			}
			sh.mu.Unlock()
		case <-sh.kick:
			t.Stop()
		}
	}
}

func (sh *clockShard) less(i, j int) bool { return sh.heap[i].due < sh.heap[j].due }

func (sh *clockShard) swap(i, j int) {
	h := sh.heap
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}

func (sh *clockShard) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !sh.less(i, p) {
			return
		}
		sh.swap(i, p)
		i = p
	}
}

func (sh *clockShard) down(i int) {
	n := len(sh.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && sh.less(r, l) {
			m = r
		}
		if !sh.less(m, i) {
			return
		}
		sh.swap(i, m)
		i = m
	}
}

// sendLagBuckets reach from a timer's precision to a stalled simulator.
var sendLagBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}

// newSendLag returns the histogram of the simulator's own lateness and the
// registry it is on. It is the process's, not the simulated engine's, so a
// simulated restart does not reset it; /metrics serves it beside the
// engine's vLLM-named metrics.
func newSendLag() (prometheus.Histogram, *prometheus.Registry) {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "llmprobe_sim_send_lag_seconds",
		Help: "Time from when each streamed chunk was due to when the simulator wrote it. " +
			"When it grows the simulator, not the client, is late.",
		Buckets:                        sendLagBuckets,
		NativeHistogramBucketFactor:    1.1,
		NativeHistogramMaxBucketNumber: 100,
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(h)
	return h, reg
}
