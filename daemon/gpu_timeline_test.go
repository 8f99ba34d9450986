package daemon

import (
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/gpu"
	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/sim"
	"github.com/llmprobe/llmprobe/sim/simtest"
)

// fakeGPU reads VRAM growing by 1 MiB per sample and a fixed utilization.
type fakeGPU struct {
	n   atomic.Int64
	err error
}

func (f *fakeGPU) Sample() (gpu.Sample, error) {
	if f.err != nil {
		return gpu.Sample{}, f.err
	}
	i := f.n.Add(1)
	return gpu.Sample{Time: time.Now(), Devices: []gpu.DeviceSample{{
		Index: 0, UUID: "GPU-0", Name: "Fake", UtilizationRatio: 0.5,
		MemoryUsedBytes: uint64(i) << 20, MemoryTotalBytes: 80 << 30,
	}}}, nil
}

func TestSoakResultHoldsGPUTimeline(t *testing.T) {
	url := simtest.Start(t, sim.Config{TTFT: 5 * time.Millisecond, ITL: 2 * time.Millisecond})
	cfg := soakConfig(t, url, `
  - {name: quick, targets: [a], workload: w, mode: rate, rates: [20], duration: 600ms}
`)
	env := newSoakEnv(t, cfg, t.TempDir())
	defer env.soaks.Stop(time.Second)
	fake := &fakeGPU{}
	env.soaks.SetGPU(fake, 50*time.Millisecond)
	if _, _, err := env.soaks.RunNow("quick", ""); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, env.soaks, 10*time.Second)
	runs, err := env.arch.List()
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs %v %v", runs, err)
	}
	b, err := env.arch.Result(runs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	var res load.Result
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if res.GPU == nil {
		t.Fatal("archived result has no GPU timeline")
	}
	n := len(res.GPU.Samples)
	// 600 ms at one sample per 50 ms, plus drain: about a dozen.
	if n < 8 || n > 40 {
		t.Errorf("%d GPU samples for a 600 ms run at 50 ms", n)
	}
	if got, want := res.GPU.Summary.PeakMemoryUsedBytes, uint64(n)<<20; got != want {
		t.Errorf("peak VRAM %d, want %d (the last sample)", got, want)
	}
	if res.GPU.Summary.MeanUtilizationRatio != 0.5 {
		t.Errorf("mean utilization %v, want 0.5", res.GPU.Summary.MeanUtilizationRatio)
	}
	// Sampling stopped with the run.
	after := fake.n.Load()
	time.Sleep(150 * time.Millisecond)
	if fake.n.Load() != after {
		t.Error("GPU sampling went on after the soak ended")
	}
}

func TestSoakWithoutGPUHasNoTimeline(t *testing.T) {
	url := simtest.Start(t, sim.Config{TTFT: 5 * time.Millisecond, ITL: 2 * time.Millisecond})
	cfg := soakConfig(t, url, `
  - {name: quick, targets: [a], workload: w, mode: rate, rates: [20], duration: 200ms}
`)
	env := newSoakEnv(t, cfg, t.TempDir())
	defer env.soaks.Stop(time.Second)
	fake := &fakeGPU{err: errors.New("nvml: library not found")}
	env.soaks.SetGPU(fake, 10*time.Millisecond)
	env.soaks.RunNow("quick", "")
	waitIdle(t, env.soaks, 10*time.Second)
	runs, _ := env.arch.List()
	b, _ := env.arch.Result(runs[0].ID)
	var res load.Result
	json.Unmarshal(b, &res)
	if res.GPU != nil || fake.n.Load() != 0 {
		t.Fatalf("timeline %v without a GPU", res.GPU)
	}
}
