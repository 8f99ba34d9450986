package probe

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestIdleTimer: the timer fires after a silence, not after the first
// reads; reset shortens the silence allowed; stop keeps it from firing.
func TestIdleTimer(t *testing.T) {
	const after = 40 * time.Millisecond
	var fired atomic.Int64
	start := time.Now()
	it := newIdleTimer(after, func() { fired.Store(int64(time.Since(start))) })
	defer it.stop()
	for range 5 { // reads every after/2 keep it quiet
		time.Sleep(after / 2)
		it.touch()
	}
	quiet := time.Since(start)
	if fired.Load() != 0 {
		t.Fatalf("fired at %v while reads came every %v", time.Duration(fired.Load()), after/2)
	}
	for deadline := time.Now().Add(5 * time.Second); fired.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if got := time.Duration(fired.Load()); got < quiet+after-5*time.Millisecond {
		t.Errorf("fired at %v, before the silence after the last read at %v ended", got, quiet)
	}

	var short atomic.Bool
	it2 := newIdleTimer(time.Hour, func() { short.Store(true) })
	defer it2.stop()
	it2.reset(time.Millisecond)
	for deadline := time.Now().Add(5 * time.Second); !short.Load() && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if !short.Load() {
		t.Error("reset to 1ms did not fire")
	}

	var stopped atomic.Bool
	it3 := newIdleTimer(time.Millisecond, func() { stopped.Store(true) })
	it3.stop()
	time.Sleep(20 * time.Millisecond)
	if stopped.Load() {
		t.Error("fired after stop")
	}
}
