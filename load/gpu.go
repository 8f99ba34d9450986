package load

import (
	"time"

	"github.com/llmprobe/llmprobe/gpu"
)

// GPUSampler takes one reading of the machine's GPUs (gpu.Collector).
type GPUSampler interface {
	Sample() (gpu.Sample, error)
}

// MaxGPUSamples bounds a run's GPU timeline (a day at one per second).
const MaxGPUSamples = 86400

// SampleGPU samples g every interval until the returned function is
// called, which returns the timeline (nil when there was nothing to read:
// no sampler, or no NVML on this machine, which ends sampling at once).
func SampleGPU(g GPUSampler, every time.Duration) (stop func() *GPUTimeline) {
	if g == nil || every <= 0 {
		return func() *GPUTimeline { return nil }
	}
	var samples []gpu.Sample
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			smp, err := g.Sample()
			if err != nil {
				return // no NVML here: nothing to sample, and no retry storm
			}
			if len(samples) < MaxGPUSamples {
				samples = append(samples, smp)
			}
			select {
			case <-quit:
				return
			case <-t.C:
			}
		}
	}()
	return func() *GPUTimeline {
		close(quit)
		<-done
		if len(samples) == 0 {
			return nil
		}
		return &GPUTimeline{Every: every, Samples: samples, Summary: gpu.Summarize(samples)}
	}
}
