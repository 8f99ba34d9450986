package probe

import (
	"sync/atomic"
	"time"
)

// idleTimer ends a request after a silence: the allowed time with nothing
// read. A read only notes its time (an atomic store); the timer, when it
// fires, re-arms itself for what is left of the silence since the last
// read. Resetting a runtime timer on every read of a stream cost more than
// parsing the chunk the read brought.
type idleTimer struct {
	t       *time.Timer
	base    time.Time    // origin of last (its monotonic reading)
	last    atomic.Int64 // the last read, or reset, in ns since base
	after   atomic.Int64 // the silence allowed, ns
	stopped atomic.Bool
	fire    func()
}

func newIdleTimer(after time.Duration, fire func()) *idleTimer {
	it := &idleTimer{base: time.Now(), fire: fire}
	it.after.Store(int64(after))
	it.t = time.AfterFunc(after, it.check)
	return it
}

// touch notes a read now.
func (it *idleTimer) touch() { it.last.Store(int64(time.Since(it.base))) }

// reset allows a silence of after from now.
func (it *idleTimer) reset(after time.Duration) {
	it.after.Store(int64(after))
	it.touch()
	it.t.Reset(after)
}

func (it *idleTimer) stop() {
	it.stopped.Store(true)
	it.t.Stop()
}

func (it *idleTimer) check() {
	if it.stopped.Load() {
		return
	}
	if left := time.Duration(it.last.Load()+it.after.Load()) - time.Since(it.base); left > 0 {
		it.t.Reset(left)
		return
	}
	it.fire()
}
