package gpu

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// Sample is one reading of every GPU, for soak timelines.
type Sample struct {
	Time    time.Time      `json:"time"`
	Devices []DeviceSample `json:"devices"`
}

// DeviceSample is one GPU in a Sample. A value NVML cannot give on that GPU
// (unsupported or failed) reads 0.
type DeviceSample struct {
	Index            int     `json:"index"`
	UUID             string  `json:"uuid"`
	Name             string  `json:"name"`
	UtilizationRatio float64 `json:"utilization_ratio"`
	MemoryUsedBytes  uint64  `json:"memory_used_bytes"`
	MemoryTotalBytes uint64  `json:"memory_total_bytes"`
	PowerWatts       float64 `json:"power_watts"`
	TemperatureC     float64 `json:"temperature_celsius"`
}

// Sample reads utilization, memory, power and temperature of every GPU in one
// NVML pass (four queries per GPU). It returns an error wrapping ErrUnavailable
// when NVML cannot be used. A GPU found lost during the pass is left out of the
// sample; failed reads count in llmprobe_gpu_collect_errors_total as in scrapes.
func (c *Collector) Sample() (Sample, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	devs, ok := c.devicesLocked()
	if !ok {
		return Sample{}, c.lastErr
	}
	s := Sample{Time: c.now(), Devices: make([]DeviceSample, 0, len(devs))}
	for _, d := range devs {
		r := c.readLocked(d, sampleFields)
		if r.lost {
			continue
		}
		ds := DeviceSample{Index: d.index, UUID: d.uuid, Name: d.name}
		if r.has(fUtil) {
			ds.UtilizationRatio = float64(r.gpuUtil) / 100
		}
		if r.has(fMemory) {
			ds.MemoryUsedBytes, ds.MemoryTotalBytes = r.mem.Used, r.mem.Total
		}
		if r.has(fPower) {
			ds.PowerWatts = float64(r.powerMW) / 1000
		}
		if r.has(fTemperature) {
			ds.TemperatureC = float64(r.tempC)
		}
		s.Devices = append(s.Devices, ds)
	}
	return s, nil
}

// Summary condenses a timeline of samples. The top-level figures are over all
// GPUs: PeakMemoryUsedBytes is the most memory any one GPU held in any sample
// (how close the run came to running a GPU out of memory; not a sum over GPUs),
// and MeanUtilizationRatio is the mean of every GPU reading in every sample.
// Devices has the same per GPU, by index.
type Summary struct {
	Samples              int             `json:"samples"`
	PeakMemoryUsedBytes  uint64          `json:"peak_memory_used_bytes"`
	MeanUtilizationRatio float64         `json:"mean_utilization_ratio"`
	Devices              []DeviceSummary `json:"devices,omitempty"`
}

// DeviceSummary condenses the readings of one GPU, keyed by UUID.
type DeviceSummary struct {
	Index                int     `json:"index"`
	UUID                 string  `json:"uuid"`
	Name                 string  `json:"name"`
	Samples              int     `json:"samples"`
	PeakMemoryUsedBytes  uint64  `json:"peak_memory_used_bytes"`
	MemoryTotalBytes     uint64  `json:"memory_total_bytes"`
	MeanUtilizationRatio float64 `json:"mean_utilization_ratio"`
	MeanPowerWatts       float64 `json:"mean_power_watts"`
	PeakTemperatureC     float64 `json:"peak_temperature_celsius"`
}

// Summarize condenses samples (see Summary). Samples counts the samples given,
// including those without GPUs; a Summary of none is zero.
func Summarize(samples []Sample) Summary {
	sum := Summary{Samples: len(samples)}
	byUUID := make(map[string]*DeviceSummary)
	var utilSum float64
	var readings int
	for _, s := range samples {
		for _, d := range s.Devices {
			ds, ok := byUUID[d.UUID]
			if !ok {
				ds = &DeviceSummary{Index: d.Index, UUID: d.UUID, Name: d.Name}
				byUUID[d.UUID] = ds
			}
			ds.Samples++
			ds.PeakMemoryUsedBytes = max(ds.PeakMemoryUsedBytes, d.MemoryUsedBytes)
			ds.MemoryTotalBytes = max(ds.MemoryTotalBytes, d.MemoryTotalBytes)
			ds.PeakTemperatureC = max(ds.PeakTemperatureC, d.TemperatureC)
			// Running sums, turned into means below.
			ds.MeanUtilizationRatio += d.UtilizationRatio
			ds.MeanPowerWatts += d.PowerWatts
			utilSum += d.UtilizationRatio
			readings++
		}
	}
	if readings > 0 {
		sum.MeanUtilizationRatio = utilSum / float64(readings)
	}
	for _, ds := range byUUID {
		ds.MeanUtilizationRatio /= float64(ds.Samples)
		ds.MeanPowerWatts /= float64(ds.Samples)
		sum.PeakMemoryUsedBytes = max(sum.PeakMemoryUsedBytes, ds.PeakMemoryUsedBytes)
		sum.Devices = append(sum.Devices, *ds)
	}
	sort.Slice(sum.Devices, func(i, j int) bool {
		a, b := sum.Devices[i], sum.Devices[j]
		if a.Index != b.Index {
			return a.Index < b.Index
		}
		return a.UUID < b.UUID
	})
	return sum
}

// Sampler calls fn with a Sample now and then every interval, in the calling
// goroutine, until ctx is done; then it returns nil. If the first Sample fails
// (no NVML: the error wraps ErrUnavailable) it returns that error at once; later
// failures skip that tick. A slow fn delays the next sample, it never stacks up.
func Sampler(ctx context.Context, c *Collector, every time.Duration, fn func(Sample)) error {
	if every <= 0 {
		return fmt.Errorf("gpu: sampler interval %v: must be positive", every)
	}
	if c == nil {
		return fmt.Errorf("%w: no collector", ErrUnavailable)
	}
	if ctx.Err() != nil {
		return nil
	}
	s, err := c.Sample()
	if err != nil {
		return err
	}
	fn(s)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if ctx.Err() != nil {
			return nil
		}
		if s, err := c.Sample(); err == nil {
			fn(s)
		}
	}
}
