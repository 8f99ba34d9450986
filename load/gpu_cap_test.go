package load

import (
	"testing"
	"time"
)

// TestSampleGPUKeepsAtMostADay protects a run's GPU timeline (gpu.samples
// in the result): it keeps at most MaxGPUSamples samples (a day at one a
// second), however long the run, and the summary covers those.
func TestSampleGPUKeepsAtMostADay(t *testing.T) {
	g := &countingGPU{}
	stop := SampleGPU(g, time.Nanosecond)
	deadline := time.Now().Add(20 * time.Second)
	for g.n.Load() <= MaxGPUSamples+10 {
		if time.Now().After(deadline) {
			t.Skipf("only %d samples in 20 s", g.n.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	tl := stop()
	if len(tl.Samples) != MaxGPUSamples {
		t.Errorf("kept %d of %d samples, want %d", len(tl.Samples), g.n.Load(), MaxGPUSamples)
	}
}
