package sim

import (
	"container/list"
	"context"
	"sync"
)

// limiter hands out decode slots, queueing excess requests first in, first
// out. A nil *limiter means unlimited concurrency.
type limiter struct {
	max      int
	maxQueue int // 0: unlimited

	mu     sync.Mutex
	active int
	queue  list.List // of *waiter
}

type waiter struct {
	ready   chan struct{} // closed when granted
	granted bool          // under limiter.mu
	elem    *list.Element
}

func newLimiter(max, maxQueue int) *limiter {
	if max <= 0 {
		return nil
	}
	return &limiter{max: max, maxQueue: maxQueue}
}

// admit takes a slot at once (nil waiter, true), queues the caller (waiter,
// true) or refuses because the queue is full (nil, false).
func (l *limiter) admit() (*waiter, bool) {
	if l == nil {
		return nil, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.active < l.max && l.queue.Len() == 0 {
		l.active++
		return nil, true
	}
	if l.maxQueue > 0 && l.queue.Len() >= l.maxQueue {
		return nil, false
	}
	w := &waiter{ready: make(chan struct{})}
	w.elem = l.queue.PushBack(w)
	return w, true
}

// wait blocks until w is granted a slot (true) or ctx or done ends (false;
// w then holds no slot and no queue place).
func (l *limiter) wait(ctx context.Context, done <-chan struct{}, w *waiter) bool {
	select {
	case <-w.ready:
		return true
	case <-ctx.Done():
	case <-done:
	}
	l.abandon(w)
	return false
}

// abandon gives up w's queue place, or the slot it was just granted.
func (l *limiter) abandon(w *waiter) {
	l.mu.Lock()
	if w.granted {
		// Granted while we were giving up: pass the slot on.
		l.mu.Unlock()
		l.release()
		return
	}
	l.queue.Remove(w.elem)
	l.mu.Unlock()
}

// release returns a slot, handing it to the oldest waiter if any.
func (l *limiter) release() {
	if l == nil {
		return
	}
	l.mu.Lock()
	if e := l.queue.Front(); e != nil {
		w := l.queue.Remove(e).(*waiter)
		w.granted = true
		close(w.ready)
	} else {
		l.active--
	}
	l.mu.Unlock()
}
