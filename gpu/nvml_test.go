//go:build linux && cgo

package gpu

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// gpuSpec describes one mocked GPU.
type gpuSpec struct {
	uuid, name, bus            string
	util, memUtil              uint32
	used, reserved, total      uint64
	powerMW, limitMW, tempC    uint32
	smMHz, memMHz              uint32
	reasons, supported         uint64
	ecc                        bool
	corrected, uncorrected     uint64
	compute, graphics          []nvml.ProcessInfo
	memoryV1Only               bool // GetMemoryInfo_v2 unsupported
	eventReasonsUnsupported    bool
	throttleReasonsUnsupported bool
}

func busID(s string) (b [32]int8) {
	for i := range len(s) {
		b[i] = int8(s[i])
	}
	return b
}

// mockDevice returns a go-nvml mock device answering from s.
func mockDevice(s gpuSpec) *mock.Device {
	return &mock.Device{
		GetUUIDFunc: func() (string, nvml.Return) { return s.uuid, nvml.SUCCESS },
		GetNameFunc: func() (string, nvml.Return) { return s.name, nvml.SUCCESS },
		GetPciInfoFunc: func() (nvml.PciInfo, nvml.Return) {
			return nvml.PciInfo{BusId: busID(s.bus)}, nvml.SUCCESS
		},
		GetUtilizationRatesFunc: func() (nvml.Utilization, nvml.Return) {
			return nvml.Utilization{Gpu: s.util, Memory: s.memUtil}, nvml.SUCCESS
		},
		GetMemoryInfo_v2Func: func() (nvml.Memory_v2, nvml.Return) {
			if s.memoryV1Only {
				return nvml.Memory_v2{}, nvml.ERROR_NOT_SUPPORTED
			}
			return nvml.Memory_v2{Total: s.total, Reserved: s.reserved, Used: s.used, Free: s.total - s.reserved - s.used}, nvml.SUCCESS
		},
		GetMemoryInfoFunc: func() (nvml.Memory, nvml.Return) {
			return nvml.Memory{Total: s.total, Used: s.used + s.reserved, Free: s.total - s.reserved - s.used}, nvml.SUCCESS
		},
		GetPowerUsageFunc:         func() (uint32, nvml.Return) { return s.powerMW, nvml.SUCCESS },
		GetEnforcedPowerLimitFunc: func() (uint32, nvml.Return) { return s.limitMW, nvml.SUCCESS },
		GetTemperatureFunc: func(sensor nvml.TemperatureSensors) (uint32, nvml.Return) {
			if sensor != nvml.TEMPERATURE_GPU {
				return 0, nvml.ERROR_INVALID_ARGUMENT
			}
			return s.tempC, nvml.SUCCESS
		},
		GetClockInfoFunc: func(clock nvml.ClockType) (uint32, nvml.Return) {
			switch clock {
			case nvml.CLOCK_SM:
				return s.smMHz, nvml.SUCCESS
			case nvml.CLOCK_MEM:
				return s.memMHz, nvml.SUCCESS
			}
			return 0, nvml.ERROR_INVALID_ARGUMENT
		},
		GetCurrentClocksEventReasonsFunc: func() (uint64, nvml.Return) {
			if s.eventReasonsUnsupported {
				return 0, nvml.ERROR_NOT_SUPPORTED
			}
			return s.reasons, nvml.SUCCESS
		},
		GetCurrentClocksThrottleReasonsFunc: func() (uint64, nvml.Return) {
			if s.throttleReasonsUnsupported {
				return 0, nvml.ERROR_NOT_SUPPORTED
			}
			return s.reasons, nvml.SUCCESS
		},
		GetSupportedClocksEventReasonsFunc:    func() (uint64, nvml.Return) { return s.supported, nvml.SUCCESS },
		GetSupportedClocksThrottleReasonsFunc: func() (uint64, nvml.Return) { return s.supported, nvml.SUCCESS },
		GetEccModeFunc: func() (nvml.EnableState, nvml.EnableState, nvml.Return) {
			if s.ecc {
				return nvml.FEATURE_ENABLED, nvml.FEATURE_ENABLED, nvml.SUCCESS
			}
			return nvml.FEATURE_DISABLED, nvml.FEATURE_DISABLED, nvml.SUCCESS
		},
		GetTotalEccErrorsFunc: func(t nvml.MemoryErrorType, c nvml.EccCounterType) (uint64, nvml.Return) {
			if c != nvml.VOLATILE_ECC {
				return 0, nvml.ERROR_INVALID_ARGUMENT
			}
			if t == nvml.MEMORY_ERROR_TYPE_UNCORRECTED {
				return s.uncorrected, nvml.SUCCESS
			}
			return s.corrected, nvml.SUCCESS
		},
		GetComputeRunningProcessesFunc:  func() ([]nvml.ProcessInfo, nvml.Return) { return s.compute, nvml.SUCCESS },
		GetGraphicsRunningProcessesFunc: func() ([]nvml.ProcessInfo, nvml.Return) { return s.graphics, nvml.SUCCESS },
	}
}

// mockNVML is a go-nvml mock library over devices; missing names symbols the
// "installed driver" lacks.
func mockNVML(devices []*mock.Device, missing ...string) *mock.Interface {
	return &mock.Interface{
		InitFunc:     func() nvml.Return { return nvml.SUCCESS },
		ShutdownFunc: func() nvml.Return { return nvml.SUCCESS },
		ExtensionsFunc: func() nvml.ExtendedInterface {
			return &mock.ExtendedInterface{LookupSymbolFunc: func(name string) error {
				for _, m := range missing {
					if m == name {
						return fmt.Errorf("%s: undefined symbol", name)
					}
				}
				return nil
			}}
		},
		SystemGetDriverVersionFunc:     func() (string, nvml.Return) { return "580.65.06", nvml.SUCCESS },
		SystemGetCudaDriverVersionFunc: func() (int, nvml.Return) { return 13000, nvml.SUCCESS },
		DeviceGetCountFunc:             func() (int, nvml.Return) { return len(devices), nvml.SUCCESS },
		DeviceGetHandleByIndexFunc: func(i int) (nvml.Device, nvml.Return) {
			if i < 0 || i >= len(devices) {
				return nil, nvml.ERROR_INVALID_ARGUMENT
			}
			return devices[i], nvml.SUCCESS
		},
	}
}

const gib = 1 << 30

func h100() gpuSpec {
	return gpuSpec{
		uuid: "GPU-5e8a2f5c-3c1d-4a6b-9f0e-1b2c3d4e5f60", name: "NVIDIA H100 80GB HBM3", bus: "00000000:18:00.0",
		util: 87, memUtil: 45,
		used: 60 * gib, reserved: 540 << 20, total: 81559 << 20,
		powerMW: 512345, limitMW: 700000, tempC: 61,
		smMHz: 1980, memMHz: 2619,
		reasons: 0x4, supported: 0x1ff,
		ecc: true, corrected: 3, uncorrected: 0,
		compute: []nvml.ProcessInfo{
			{Pid: 4343, UsedGpuMemory: 1 * gib},
			{Pid: 4242, UsedGpuMemory: 58 * gib},
			{Pid: 4444, UsedGpuMemory: 512 << 20},
			{Pid: 5000, UsedGpuMemory: ^uint64(0)}, // NVML_VALUE_NOT_AVAILABLE
		},
		graphics: []nvml.ProcessInfo{{Pid: 4242, UsedGpuMemory: 58 * gib}},
	}
}

func l4() gpuSpec {
	return gpuSpec{
		uuid: "GPU-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", name: "NVIDIA L4", bus: "00000000:3B:00.0",
		util: 0, memUtil: 0,
		used: 0, reserved: 300 << 20, total: 23034 << 20,
		powerMW: 16250, limitMW: 72000, tempC: 38,
		smMHz: 210, memMHz: 405,
		reasons: 0x1, supported: 0x1 | 0x4 | 0x20 | 0x40 | 0x80,
		ecc: false,
	}
}

func processNames(pid uint32) (string, error) {
	switch pid {
	case 4242:
		return "vllm", nil
	case 4343:
		return "python3", nil
	}
	return "", os.ErrNotExist
}

func testOptions() Options {
	return Options{ProcessMetrics: true, MaxProcesses: 2, ProcessName: processNames}
}

// compareGolden compares c's exposition with testdata/name; -update rewrites
// the file instead. Either way c is collected once, so counters advance by one
// read per call.
func compareGolden(t *testing.T, c prometheus.Collector, name string, metrics ...string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(c)
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		for _, mf := range mfs {
			if len(metrics) == 0 || slices.Contains(metrics, mf.GetName()) {
				if _, err := expfmt.MetricFamilyToText(&got, mf); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := testutil.CollectAndCompare(c, f, metrics...); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func TestCollectTwoGPUs(t *testing.T) {
	lib := mockNVML([]*mock.Device{mockDevice(h100()), mockDevice(l4())})
	c := NewWithInterface(lib, nil, testOptions())
	defer c.Close()

	compareGolden(t, c, "two_gpus.prom")
	probs, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range probs {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("pedantic registry: %v", err)
	}
}

func TestProcessMetricsOff(t *testing.T) {
	lib := mockNVML([]*mock.Device{mockDevice(h100())})
	c := NewWithInterface(lib, nil, Options{ProcessMetrics: false, ProcessName: processNames})
	if n := testutil.CollectAndCount(c, "llmprobe_gpu_process_memory_used_bytes", "llmprobe_gpu_processes"); n != 0 {
		t.Errorf("%d process series with ProcessMetrics off", n)
	}
	dev := lib.DeviceGetHandleByIndexFunc
	d, _ := dev(0)
	if n := len(d.(*mock.Device).GetComputeRunningProcessesCalls()); n != 0 {
		t.Errorf("processes queried %d times with ProcessMetrics off", n)
	}
}

func TestUnsupportedLeavesMetricOut(t *testing.T) {
	spec := l4()
	spec.memoryV1Only = true
	spec.eventReasonsUnsupported = true
	spec.throttleReasonsUnsupported = true
	d := mockDevice(spec)
	d.GetPowerUsageFunc = func() (uint32, nvml.Return) { return 0, nvml.ERROR_NOT_SUPPORTED }
	d.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) { return nvml.Utilization{}, nvml.ERROR_NOT_SUPPORTED }
	d.GetEccModeFunc = func() (nvml.EnableState, nvml.EnableState, nvml.Return) { return 0, 0, nvml.ERROR_NOT_SUPPORTED }
	// An old driver without these functions: they must never be called.
	lib := mockNVML([]*mock.Device{d}, "nvmlDeviceGetEnforcedPowerLimit", "nvmlDeviceGetMemoryInfo_v2")
	logger, logs := testLogger()
	c := NewWithInterface(lib, logger, testOptions())

	for range 2 {
		compareGolden(t, c, "unsupported.prom")
	}
	if n := len(d.GetEnforcedPowerLimitCalls()); n != 0 {
		t.Errorf("missing symbol nvmlDeviceGetEnforcedPowerLimit called %d times", n)
	}
	if n := len(d.GetMemoryInfo_v2Calls()); n != 0 {
		t.Errorf("missing symbol nvmlDeviceGetMemoryInfo_v2 called %d times", n)
	}
	if !strings.Contains(logs.String(), "nvmlDeviceGetEnforcedPowerLimit") {
		t.Errorf("missing functions not logged:\n%s", logs)
	}
}

func TestInitFails(t *testing.T) {
	lib := mockNVML(nil)
	lib.InitFunc = func() nvml.Return { return nvml.ERROR_LIBRARY_NOT_FOUND }
	logger, logs := testLogger()
	c := NewWithInterface(lib, logger, DefaultOptions())
	want := "# HELP llmprobe_gpu_up " + upHelp + "\n# TYPE llmprobe_gpu_up gauge\nllmprobe_gpu_up 0\n"
	for range 3 {
		if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Sample(); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Sample = %v, want ErrUnavailable", err)
	}
	if got := strings.Count(logs.String(), "NVML unavailable"); got != 1 {
		t.Errorf("logged %d times, want once:\n%s", got, logs)
	}
	if n := len(lib.DeviceGetCountCalls()) + len(lib.SystemGetDriverVersionCalls()) + len(lib.ExtensionsCalls()); n != 0 {
		t.Errorf("%d NVML calls after a failed Init", n)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if n := len(lib.ShutdownCalls()); n != 0 {
		t.Errorf("Shutdown called %d times without a successful Init", n)
	}
}

func TestDeviceDisappears(t *testing.T) {
	devs := []*mock.Device{mockDevice(h100()), mockDevice(l4())}
	lib := mockNVML(devs)
	count := 2
	lib.DeviceGetCountFunc = func() (int, nvml.Return) { return count, nvml.SUCCESS }
	handleLost := false
	lib.DeviceGetHandleByIndexFunc = func(i int) (nvml.Device, nvml.Return) {
		if i >= count {
			return nil, nvml.ERROR_INVALID_ARGUMENT
		}
		if i == 1 && handleLost {
			return nil, nvml.ERROR_GPU_IS_LOST
		}
		return devs[i], nvml.SUCCESS
	}
	logger, logs := testLogger()
	c := NewWithInterface(lib, logger, Options{})
	metrics := []string{"llmprobe_gpu_up", "llmprobe_gpu_devices", "llmprobe_gpu_collect_errors_total", "llmprobe_gpu_utilization_ratio"}
	handles := func() int { return len(lib.DeviceGetHandleByIndexCalls()) }

	// 1: both GPUs.
	compareGolden(t, c, "lost_1_both.prom", metrics...)
	if n := handles(); n != 2 {
		t.Errorf("%d handle lookups, want 2", n)
	}
	// 2: handles are cached.
	compareGolden(t, c, "lost_1_both.prom", metrics...)
	if n := handles(); n != 2 {
		t.Errorf("%d handle lookups after a second scrape, want 2 (cached)", n)
	}

	// 3: GPU 1 falls off the bus: its queries say so; GPU 0 is unaffected.
	devs[1].GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
		return nvml.Utilization{}, nvml.ERROR_GPU_IS_LOST
	}
	handleLost = true
	compareGolden(t, c, "lost_2_gone.prom", metrics...)
	if n := len(devs[1].GetPowerUsageCalls()); n != 2 {
		t.Errorf("lost GPU queried on after the loss: %d power reads, want 2", n)
	}

	// 4: handles are enumerated again; GPU 1 cannot be opened: another failure.
	compareGolden(t, c, "lost_3_reopen_failed.prom", metrics...)
	if n := handles(); n != 4 {
		t.Errorf("%d handle lookups, want 4 (re-enumerated)", n)
	}

	// 5: the driver drops it from the count; its error counter stays.
	count = 1
	compareGolden(t, c, "lost_4_one.prom", metrics...)

	// 6: it comes back.
	count = 2
	handleLost = false
	devs[1] = mockDevice(l4())
	compareGolden(t, c, "lost_5_back.prom", metrics...)
	if got := strings.Count(logs.String(), "GPU is lost") + strings.Count(logs.String(), "ERROR_GPU_IS_LOST"); got != 2 {
		t.Errorf("loss logged %d times, want 2 (query, open):\n%s", got, logs)
	}
}

func TestPanicInBindingIsRecovered(t *testing.T) {
	d0, d1 := mockDevice(h100()), mockDevice(l4())
	d0.GetTemperatureFunc = func(nvml.TemperatureSensors) (uint32, nvml.Return) { panic("boom") }
	d1.GetPowerUsageFunc = nil // the mock itself panics: "method is nil"
	lib := mockNVML([]*mock.Device{d0, d1})
	logger, logs := testLogger()
	c := NewWithInterface(lib, logger, testOptions())
	for range 2 {
		if n := testutil.CollectAndCount(c, "llmprobe_gpu_temperature_celsius"); n != 1 {
			t.Errorf("%d temperature series, want 1 (gpu 1)", n)
		}
		if n := testutil.CollectAndCount(c, "llmprobe_gpu_power_watts"); n != 1 {
			t.Errorf("%d power series, want 1 (gpu 0)", n)
		}
		if n := testutil.CollectAndCount(c, "llmprobe_gpu_utilization_ratio"); n != 2 {
			t.Errorf("%d utilization series, want 2", n)
		}
	}
	// Three scrapes per round, two rounds, and this one: seven failed reads of each GPU.
	want := `# HELP llmprobe_gpu_collect_errors_total Reads of one GPU (scrapes and timeline samples) in which an NVML query failed, panicked or found the GPU lost; unsupported queries are not counted.
# TYPE llmprobe_gpu_collect_errors_total counter
llmprobe_gpu_collect_errors_total{gpu="0"} 7
llmprobe_gpu_collect_errors_total{gpu="1"} 7
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "llmprobe_gpu_collect_errors_total"); err != nil {
		t.Error(err)
	}
	if got := strings.Count(logs.String(), "panic in NVML binding"); got != 2 {
		t.Errorf("panics logged %d times, want once per GPU:\n%s", got, logs)
	}

	// A panic in enumeration or Init leaves llmprobe_gpu_up 0, no crash.
	lib.DeviceGetCountFunc = nil
	c2 := NewWithInterface(lib, nil, testOptions())
	if err := testutil.CollectAndCompare(c2, strings.NewReader(
		"# HELP llmprobe_gpu_up "+upHelp+"\n# TYPE llmprobe_gpu_up gauge\nllmprobe_gpu_up 0\n"), "llmprobe_gpu_up"); err != nil {
		t.Error(err)
	}
	lib.InitFunc = nil
	c3 := NewWithInterface(lib, nil, testOptions())
	if _, err := c3.Sample(); !errors.Is(err, ErrUnavailable) || !errors.Is(err, errPanic) {
		t.Errorf("Sample with a panicking Init = %v", err)
	}
}

func TestSampleOverMock(t *testing.T) {
	lib := mockNVML([]*mock.Device{mockDevice(h100()), mockDevice(l4())})
	c := NewWithInterface(lib, nil, testOptions())
	s, err := c.Sample()
	if err != nil {
		t.Fatal(err)
	}
	want := []DeviceSample{
		{Index: 0, UUID: h100().uuid, Name: "NVIDIA H100 80GB HBM3", UtilizationRatio: 0.87, MemoryUsedBytes: 60 * gib, MemoryTotalBytes: 81559 << 20, PowerWatts: 512.345, TemperatureC: 61},
		{Index: 1, UUID: l4().uuid, Name: "NVIDIA L4", UtilizationRatio: 0, MemoryUsedBytes: 0, MemoryTotalBytes: 23034 << 20, PowerWatts: 16.25, TemperatureC: 38},
	}
	if len(s.Devices) != len(want) {
		t.Fatalf("Sample: %+v", s)
	}
	for i := range want {
		if s.Devices[i] != want[i] {
			t.Errorf("device %d:\n got %+v\nwant %+v", i, s.Devices[i], want[i])
		}
	}
	// One cheap pass: four queries per GPU, no process or clock queries.
	d, _ := lib.DeviceGetHandleByIndexFunc(0)
	md := d.(*mock.Device)
	if n := len(md.GetComputeRunningProcessesCalls()) + len(md.GetClockInfoCalls()); n != 0 {
		t.Errorf("Sample made %d process/clock queries", n)
	}
}

func TestClockReasonBitsMatchNVML(t *testing.T) {
	want := map[string]uint64{
		"gpu_idle":                    nvml.ClocksEventReasonGpuIdle,
		"applications_clocks_setting": nvml.ClocksEventReasonApplicationsClocksSetting,
		"sw_power_cap":                nvml.ClocksEventReasonSwPowerCap,
		"hw_slowdown":                 nvml.ClocksThrottleReasonHwSlowdown,
		"sync_boost":                  nvml.ClocksEventReasonSyncBoost,
		"sw_thermal_slowdown":         nvml.ClocksEventReasonSwThermalSlowdown,
		"hw_thermal_slowdown":         nvml.ClocksThrottleReasonHwThermalSlowdown,
		"hw_power_brake_slowdown":     nvml.ClocksThrottleReasonHwPowerBrakeSlowdown,
		"display_clock_setting":       nvml.ClocksEventReasonDisplayClockSetting,
	}
	var all uint64
	for _, r := range clockEventReasons {
		if want[r.name] != r.bit {
			t.Errorf("reason %s: bit %#x, nvml.h says %#x", r.name, r.bit, want[r.name])
		}
		all |= r.bit
	}
	if all != allClockEventReasons || len(clockEventReasons) != len(want) {
		t.Errorf("reason set %#x, want %#x", all, allClockEventReasons)
	}
}

func BenchmarkCollect8GPUs(b *testing.B) {
	devs := make([]*mock.Device, 8)
	for i := range devs {
		s := h100()
		s.uuid = fmt.Sprintf("GPU-00000000-0000-0000-0000-00000000000%d", i)
		devs[i] = mockDevice(s)
	}
	c := NewWithInterface(mockNVML(devs), nil, testOptions())
	ch := make(chan prometheus.Metric, 1024)
	n := 0
	for b.Loop() {
		c.Collect(ch)
		n = len(ch)
		for len(ch) > 0 {
			<-ch
		}
	}
	b.ReportMetric(float64(n), "metrics/op")
}
