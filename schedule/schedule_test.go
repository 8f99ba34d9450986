package schedule

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestIntervalRunsAndSkips(t *testing.T) {
	var skipped atomic.Int32
	s := New(0, func(string) { skipped.Add(1) })
	var runs atomic.Int32
	release := make(chan struct{})
	// The first run blocks, so the following ticks must be skipped, not
	// stacked up.
	err := s.Add("p", "@every 1s", true, func(ctx context.Context) {
		if runs.Add(1) == 1 {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2300 * time.Millisecond)
	if got := runs.Load(); got != 1 {
		t.Fatalf("runs = %d while the first was still going, want 1", got)
	}
	if skipped.Load() < 1 {
		t.Fatalf("skipped = %d, want >= 1", skipped.Load())
	}
	close(release)
	time.Sleep(1200 * time.Millisecond)
	if runs.Load() < 2 {
		t.Fatalf("runs = %d after release, want >= 2", runs.Load())
	}
	if !s.Stop(time.Second) {
		t.Fatal("stop did not finish within grace")
	}
}

func TestStopCancelsRunningJob(t *testing.T) {
	s := New(0, nil)
	started := make(chan struct{})
	ended := make(chan struct{})
	if err := s.Add("slow", "@every 1h", true, func(ctx context.Context) {
		close(started)
		<-ctx.Done()
		close(ended)
	}); err != nil {
		t.Fatal(err)
	}
	<-started
	if s.Stop(50 * time.Millisecond) {
		t.Fatal("Stop reported success for a job that ignored the grace period")
	}
	select {
	case <-ended:
	case <-time.After(time.Second):
		t.Fatal("running job was not canceled")
	}
}

func TestJitterDelaysAndRemoveCancels(t *testing.T) {
	s := New(time.Hour, nil) // a jitter far longer than the test
	var ran atomic.Bool
	if err := s.Add("j", "@every 1h", true, func(context.Context) { ran.Store(true) }); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	s.Remove("j") // must cancel the jitter wait
	if !s.Stop(time.Second) {
		t.Fatal("jitter wait was not canceled by Remove")
	}
	if ran.Load() {
		t.Fatal("job ran despite jitter")
	}
}

func TestBadSpec(t *testing.T) {
	s := New(0, nil)
	defer s.Stop(time.Second)
	if err := s.Add("x", "every 5s", false, func(context.Context) {}); err == nil {
		t.Fatal("want error for a bad spec")
	}
	if err := s.Add("c", "*/5 * * * *", false, func(context.Context) {}); err != nil {
		t.Fatal(err)
	}
	if next := s.Next("c"); next.IsZero() || next.Minute()%5 != 0 {
		t.Fatalf("next run %v, want on a 5-minute boundary", next)
	}
	if !s.Trigger("c", func(context.Context) {}) {
		t.Fatal("Trigger did not start")
	}
}
