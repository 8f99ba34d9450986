package gpu

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeLibrary is a library in plain Go, so these tests run in every build
// (the go-nvml mock needs cgo: see nvml_test.go).
type fakeLibrary struct {
	mu       sync.Mutex
	initErr  error
	inits    int
	countErr error
	devices  []*fakeDevice
}

func (l *fakeLibrary) Init() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inits++
	return l.initErr
}
func (l *fakeLibrary) Shutdown() error                 { return nil }
func (l *fakeLibrary) MissingSymbols() []string        { return nil }
func (l *fakeLibrary) DriverVersion() (string, error)  { return "580.65.06", nil }
func (l *fakeLibrary) CUDADriverVersion() (int, error) { return 13000, nil }
func (l *fakeLibrary) DeviceCount() (int, error)       { return len(l.devices), l.countErr }
func (l *fakeLibrary) DeviceByIndex(i int) (device, error) {
	return l.devices[i], nil
}

// fakeDevice answers the sampled queries; the rest are unsupported.
type fakeDevice struct {
	uuid, name string
	util       uint32
	mem        memoryInfo
	powerMW    uint32
	tempC      uint32
	err        error // returned by the sampled queries when set
}

func (d *fakeDevice) UUID() (string, error)     { return d.uuid, nil }
func (d *fakeDevice) Name() (string, error)     { return d.name, nil }
func (d *fakeDevice) PCIBusID() (string, error) { return "", errNotSupported }
func (d *fakeDevice) Utilization() (uint32, uint32, error) {
	return d.util, 0, d.err
}
func (d *fakeDevice) Memory() (memoryInfo, error)           { return d.mem, d.err }
func (d *fakeDevice) PowerUsageMilliwatts() (uint32, error) { return d.powerMW, d.err }
func (d *fakeDevice) PowerLimitMilliwatts() (uint32, error) { return 0, errNotSupported }
func (d *fakeDevice) TemperatureCelsius() (uint32, error)   { return d.tempC, d.err }
func (d *fakeDevice) SMClockMHz() (uint32, error)           { return 0, errNotSupported }
func (d *fakeDevice) MemoryClockMHz() (uint32, error)       { return 0, errNotSupported }
func (d *fakeDevice) ClockEventReasons() (uint64, error)    { return 0, errNotSupported }
func (d *fakeDevice) SupportedClockEventReasons() (uint64, error) {
	return 0, errNotSupported
}
func (d *fakeDevice) ECCEnabled() (bool, error)                 { return false, errNotSupported }
func (d *fakeDevice) VolatileECCErrors(bool) (uint64, error)    { return 0, errNotSupported }
func (d *fakeDevice) ComputeProcesses() ([]processInfo, error)  { return nil, errNotSupported }
func (d *fakeDevice) GraphicsProcesses() ([]processInfo, error) { return nil, errNotSupported }

func twoFakeGPUs() *fakeLibrary {
	return &fakeLibrary{devices: []*fakeDevice{
		{uuid: "GPU-0", name: "NVIDIA H100 80GB HBM3", util: 50, mem: memoryInfo{Used: 40 << 30, Total: 80 << 30}, powerMW: 350500, tempC: 55},
		{uuid: "GPU-1", name: "NVIDIA H100 80GB HBM3", util: 100, mem: memoryInfo{Used: 70 << 30, Total: 80 << 30}, powerMW: 690000, tempC: 71},
	}}
}

// logBuffer is a goroutine-safe log sink.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testLogger() (*slog.Logger, *logBuffer) {
	buf := &logBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

func TestInitFailureExportsDownAndLogsOnce(t *testing.T) {
	lib := &fakeLibrary{initErr: errors.New("nvmlInit: ERROR_LIBRARY_NOT_FOUND")}
	logger, logs := testLogger()
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := newCollector(lib, logger, DefaultOptions())
	c.now = func() time.Time { return clock }
	c.start()

	want := "# HELP llmprobe_gpu_up " + upHelp + "\n# TYPE llmprobe_gpu_up gauge\nllmprobe_gpu_up 0\n"
	for range 3 {
		if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Sample(); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "LIBRARY_NOT_FOUND") {
		t.Errorf("Sample error = %v, want ErrUnavailable with the reason", err)
	}
	if got := strings.Count(logs.String(), "NVML unavailable"); got != 1 {
		t.Errorf("logged %d times, want once:\n%s", got, logs)
	}
	if lib.inits != 1 {
		t.Errorf("Init called %d times within a minute, want 1", lib.inits)
	}

	// A minute later Init is tried again; still logged only once.
	clock = clock.Add(initRetryInterval)
	testutil.CollectAndCount(c)
	if lib.inits != 2 {
		t.Errorf("Init called %d times after a minute, want 2", lib.inits)
	}
	if got := strings.Count(logs.String(), "NVML unavailable"); got != 1 {
		t.Errorf("logged %d times, want once", got)
	}

	// The driver shows up: the next retry succeeds.
	lib.initErr = nil
	clock = clock.Add(initRetryInterval)
	if err := testutil.CollectAndCompare(c, strings.NewReader(
		"# HELP llmprobe_gpu_up "+upHelp+"\n# TYPE llmprobe_gpu_up gauge\nllmprobe_gpu_up 1\n"), "llmprobe_gpu_up"); err != nil {
		t.Fatal(err)
	}
}

func TestNewWithoutGPU(t *testing.T) {
	// On a machine without libnvidia-ml (or in a !cgo build) this must be a
	// quiet llmprobe_gpu_up 0; on a GPU machine, 1.
	c := New(nil, DefaultOptions())
	defer c.Close()
	if probs, err := testutil.CollectAndLint(c); err != nil || len(probs) > 0 {
		t.Fatalf("lint: %v %v", probs, err)
	}
	if _, err := c.Sample(); err != nil && !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Sample error %v does not wrap ErrUnavailable", err)
	}
}

func TestCloseMakesUnavailable(t *testing.T) {
	c := newCollector(twoFakeGPUs(), nil, Options{})
	if _, err := c.Sample(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sample(); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Sample after Close: %v", err)
	}
}

func TestSample(t *testing.T) {
	lib := twoFakeGPUs()
	c := newCollector(lib, nil, Options{})
	at := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	c.now = func() time.Time { return at }
	s, err := c.Sample()
	if err != nil {
		t.Fatal(err)
	}
	want := Sample{Time: at, Devices: []DeviceSample{
		{Index: 0, UUID: "GPU-0", Name: "NVIDIA H100 80GB HBM3", UtilizationRatio: 0.5, MemoryUsedBytes: 40 << 30, MemoryTotalBytes: 80 << 30, PowerWatts: 350.5, TemperatureC: 55},
		{Index: 1, UUID: "GPU-1", Name: "NVIDIA H100 80GB HBM3", UtilizationRatio: 1, MemoryUsedBytes: 70 << 30, MemoryTotalBytes: 80 << 30, PowerWatts: 690, TemperatureC: 71},
	}}
	if !sampleEqual(s, want) {
		t.Fatalf("Sample:\n got %+v\nwant %+v", s, want)
	}

	// A failing GPU stays in the sample with zeros and counts a failure.
	lib.devices[1].err = errors.New("ERROR_UNKNOWN")
	s, err = c.Sample()
	if err != nil {
		t.Fatal(err)
	}
	want.Devices[1] = DeviceSample{Index: 1, UUID: "GPU-1", Name: "NVIDIA H100 80GB HBM3"}
	if !sampleEqual(s, want) {
		t.Fatalf("Sample:\n got %+v\nwant %+v", s, want)
	}
	if got := c.failures[1]; got != 1 {
		t.Errorf("failures of gpu 1 = %d, want 1", got)
	}

	// A lost GPU is left out.
	lib.devices[1].err = errDeviceLost
	if s, _ = c.Sample(); len(s.Devices) != 1 || s.Devices[0].UUID != "GPU-0" {
		t.Errorf("Sample with gpu 1 lost: %+v", s.Devices)
	}
}

func sampleEqual(a, b Sample) bool {
	if !a.Time.Equal(b.Time) || len(a.Devices) != len(b.Devices) {
		return false
	}
	for i := range a.Devices {
		if a.Devices[i] != b.Devices[i] {
			return false
		}
	}
	return true
}

func TestSampleJSON(t *testing.T) {
	b, err := json.Marshal(DeviceSample{Index: 1, UUID: "GPU-1", Name: "L4", UtilizationRatio: 0.25,
		MemoryUsedBytes: 1, MemoryTotalBytes: 2, PowerWatts: 72.5, TemperatureC: 40})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"index":1,"uuid":"GPU-1","name":"L4","utilization_ratio":0.25,"memory_used_bytes":1,"memory_total_bytes":2,"power_watts":72.5,"temperature_celsius":40}`
	if string(b) != want {
		t.Errorf("JSON:\n got %s\nwant %s", b, want)
	}
}

func TestSummarize(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := func(util float64, used uint64, watts, temp float64) DeviceSample {
		return DeviceSample{Index: 0, UUID: "GPU-a", Name: "A", UtilizationRatio: util, MemoryUsedBytes: used, MemoryTotalBytes: 100, PowerWatts: watts, TemperatureC: temp}
	}
	b := func(util float64, used uint64) DeviceSample {
		return DeviceSample{Index: 1, UUID: "GPU-b", Name: "B", UtilizationRatio: util, MemoryUsedBytes: used, MemoryTotalBytes: 200}
	}
	for _, tc := range []struct {
		name    string
		samples []Sample
		want    Summary
	}{
		{name: "none", samples: nil, want: Summary{}},
		{name: "no GPUs", samples: []Sample{{Time: t0}, {Time: t0.Add(time.Second)}}, want: Summary{Samples: 2}},
		{
			name: "one GPU",
			samples: []Sample{
				{Time: t0, Devices: []DeviceSample{a(0.5, 10, 100, 50)}},
				{Time: t0.Add(time.Second), Devices: []DeviceSample{a(1, 30, 300, 70)}},
				{Time: t0.Add(2 * time.Second), Devices: []DeviceSample{a(0, 20, 200, 60)}},
			},
			want: Summary{Samples: 3, PeakMemoryUsedBytes: 30, MeanUtilizationRatio: 0.5, Devices: []DeviceSummary{
				{Index: 0, UUID: "GPU-a", Name: "A", Samples: 3, PeakMemoryUsedBytes: 30, MemoryTotalBytes: 100, MeanUtilizationRatio: 0.5, MeanPowerWatts: 200, PeakTemperatureC: 70},
			}},
		},
		{
			name: "two GPUs, one missing from a sample",
			samples: []Sample{
				{Time: t0, Devices: []DeviceSample{b(1, 150), a(0.5, 10, 0, 0)}},
				{Time: t0.Add(time.Second), Devices: []DeviceSample{a(0, 90, 0, 0)}},
			},
			want: Summary{Samples: 2, PeakMemoryUsedBytes: 150, MeanUtilizationRatio: 0.5, Devices: []DeviceSummary{
				{Index: 0, UUID: "GPU-a", Name: "A", Samples: 2, PeakMemoryUsedBytes: 90, MemoryTotalBytes: 100, MeanUtilizationRatio: 0.25},
				{Index: 1, UUID: "GPU-b", Name: "B", Samples: 1, PeakMemoryUsedBytes: 150, MemoryTotalBytes: 200, MeanUtilizationRatio: 1},
			}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Summarize(tc.samples)
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(tc.want)
			if string(gj) != string(wj) {
				t.Errorf("Summarize:\n got %s\nwant %s", gj, wj)
			}
		})
	}
}

func TestSampler(t *testing.T) {
	c := newCollector(twoFakeGPUs(), nil, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan Sample, 100)
	done := make(chan error, 1)
	go func() {
		done <- Sampler(ctx, c, time.Millisecond, func(s Sample) {
			got <- s
			if len(got) == 3 {
				cancel()
			}
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Sampler returned %v, want nil after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Sampler did not stop after its context was canceled")
	}
	if n := len(got); n < 3 {
		t.Errorf("got %d samples, want at least 3", n)
	}
	if s := <-got; len(s.Devices) != 2 {
		t.Errorf("sample has %d devices, want 2", len(s.Devices))
	}
}

func TestSamplerErrors(t *testing.T) {
	ctx := context.Background()
	noop := func(Sample) { t.Error("fn called") }
	down := newCollector(&fakeLibrary{initErr: errors.New("no driver")}, nil, Options{})
	for _, tc := range []struct {
		name  string
		c     *Collector
		every time.Duration
		want  error
	}{
		{"no NVML", down, time.Second, ErrUnavailable},
		{"nil collector", nil, time.Second, ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := Sampler(ctx, tc.c, tc.every, noop); !errors.Is(err, tc.want) {
				t.Errorf("Sampler = %v, want %v", err, tc.want)
			}
		})
	}
	if err := Sampler(ctx, down, 0, noop); err == nil || err.Error() != "gpu: sampler interval 0s: must be positive" {
		t.Errorf("Sampler with interval 0 = %v", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := Sampler(canceled, down, time.Second, noop); err != nil {
		t.Errorf("Sampler with a done context = %v, want nil", err)
	}
}

func TestDeviceCountFailure(t *testing.T) {
	lib := twoFakeGPUs()
	lib.countErr = errors.New("ERROR_UNKNOWN")
	c := newCollector(lib, nil, Options{})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(
		"# HELP llmprobe_gpu_up "+upHelp+"\n# TYPE llmprobe_gpu_up gauge\nllmprobe_gpu_up 0\n"), "llmprobe_gpu_up"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sample(); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Sample = %v, want ErrUnavailable", err)
	}
}

func TestNoBindingIsNotRetried(t *testing.T) {
	lib := &fakeLibrary{initErr: errNoBinding}
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := newCollector(lib, nil, Options{})
	c.now = func() time.Time { return clock }
	for range 3 {
		testutil.CollectAndCount(c)
		clock = clock.Add(2 * initRetryInterval)
	}
	if lib.inits != 1 {
		t.Errorf("Init called %d times in a build without NVML, want 1", lib.inits)
	}
	if _, err := c.Sample(); !errors.Is(err, ErrUnavailable) || !errors.Is(err, errNoBinding) {
		t.Errorf("Sample = %v", err)
	}
}

func TestProcComm(t *testing.T) {
	if _, err := os.Stat("/proc/self/comm"); err != nil {
		t.Skip("no /proc")
	}
	want, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	got, err := procComm(uint32(os.Getpid()))
	if err != nil || got != strings.TrimSpace(string(want)) || got == "" {
		t.Errorf("procComm(self) = %q, %v; want %q", got, err, want)
	}
	if _, err := procComm(0); err == nil {
		t.Error("procComm(0) succeeded")
	}
}
