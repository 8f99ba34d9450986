package load

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/gpu"
)

type countingGPU struct {
	n   atomic.Int64
	err error
}

func (c *countingGPU) Sample() (gpu.Sample, error) {
	if c.err != nil {
		return gpu.Sample{}, c.err
	}
	i := c.n.Add(1)
	return gpu.Sample{Time: time.Now(), Devices: []gpu.DeviceSample{{UUID: "GPU-0", UtilizationRatio: 0.25, MemoryUsedBytes: uint64(i) << 20}}}, nil
}

func TestSampleGPU(t *testing.T) {
	if tl := SampleGPU(nil, time.Millisecond)(); tl != nil {
		t.Fatal("timeline without a sampler")
	}
	broken := &countingGPU{err: errors.New("no NVML")}
	if tl := SampleGPU(broken, time.Millisecond)(); tl != nil {
		t.Fatal("timeline without a readable GPU")
	}
	g := &countingGPU{}
	stop := SampleGPU(g, 10*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	tl := stop()
	n := len(tl.Samples)
	if n < 3 || n > 12 {
		t.Fatalf("%d samples in 100ms at 10ms", n)
	}
	if tl.Summary.PeakMemoryUsedBytes != uint64(n)<<20 || tl.Summary.MeanUtilizationRatio != 0.25 {
		t.Fatalf("summary %+v", tl.Summary)
	}
	after := g.n.Load()
	time.Sleep(30 * time.Millisecond)
	if g.n.Load() != after {
		t.Fatal("sampling went on after stop")
	}
}
