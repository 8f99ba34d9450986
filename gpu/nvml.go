//go:build linux && cgo

package gpu

import (
	"fmt"
	"log/slog"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// New returns a collector over the machine's NVML (libnvidia-ml.so.1, loaded at
// run time). Without the library or a driver it exports llmprobe_gpu_up 0.
func New(logger *slog.Logger, opts Options) *Collector {
	return NewWithInterface(nvml.New(), logger, opts)
}

// NewWithInterface returns a collector over lib, such as a
// github.com/NVIDIA/go-nvml/pkg/nvml/mock Interface in tests. It calls lib.Init.
func NewWithInterface(lib nvml.Interface, logger *slog.Logger, opts Options) *Collector {
	return newCollector(&nvmlLibrary{lib: lib}, logger, opts).start()
}

// symbol is an NVML function the collector may call.
type symbol int

const (
	symDeviceCount symbol = iota
	symHandleByIndex
	symUUID
	symName
	symPCIInfo
	symUtilization
	symMemory
	symMemoryV2
	symPowerUsage
	symPowerLimit
	symTemperature
	symClockInfo
	symClocksEventReasons
	symClocksThrottleReasons
	symSupportedClocksEventReasons
	symSupportedClocksThrottleReasons
	symECCMode
	symTotalECCErrors
	symComputeProcesses
	symGraphicsProcesses
	symDriverVersion
	symCUDADriverVersion
	numSymbols
)

// symbolNames lists, for each call, the C symbols go-nvml may bind it to; the
// call is made only when one of them exists in the loaded library.
var symbolNames = [numSymbols][]string{
	symDeviceCount:                    {"nvmlDeviceGetCount_v2", "nvmlDeviceGetCount"},
	symHandleByIndex:                  {"nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex"},
	symUUID:                           {"nvmlDeviceGetUUID"},
	symName:                           {"nvmlDeviceGetName"},
	symPCIInfo:                        {"nvmlDeviceGetPciInfo_v3", "nvmlDeviceGetPciInfo_v2", "nvmlDeviceGetPciInfo"},
	symUtilization:                    {"nvmlDeviceGetUtilizationRates"},
	symMemory:                         {"nvmlDeviceGetMemoryInfo"},
	symMemoryV2:                       {"nvmlDeviceGetMemoryInfo_v2"},
	symPowerUsage:                     {"nvmlDeviceGetPowerUsage"},
	symPowerLimit:                     {"nvmlDeviceGetEnforcedPowerLimit"},
	symTemperature:                    {"nvmlDeviceGetTemperature"},
	symClockInfo:                      {"nvmlDeviceGetClockInfo"},
	symClocksEventReasons:             {"nvmlDeviceGetCurrentClocksEventReasons"},
	symClocksThrottleReasons:          {"nvmlDeviceGetCurrentClocksThrottleReasons"},
	symSupportedClocksEventReasons:    {"nvmlDeviceGetSupportedClocksEventReasons"},
	symSupportedClocksThrottleReasons: {"nvmlDeviceGetSupportedClocksThrottleReasons"},
	symECCMode:                        {"nvmlDeviceGetEccMode"},
	symTotalECCErrors:                 {"nvmlDeviceGetTotalEccErrors"},
	symComputeProcesses:               {"nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetComputeRunningProcesses_v2", "nvmlDeviceGetComputeRunningProcesses"},
	symGraphicsProcesses:              {"nvmlDeviceGetGraphicsRunningProcesses_v3", "nvmlDeviceGetGraphicsRunningProcesses_v2", "nvmlDeviceGetGraphicsRunningProcesses"},
	symDriverVersion:                  {"nvmlSystemGetDriverVersion"},
	symCUDADriverVersion:              {"nvmlSystemGetCudaDriverVersion"},
}

// nvmlLibrary implements library over go-nvml.
type nvmlLibrary struct {
	lib     nvml.Interface
	has     [numSymbols]bool
	missing []string
}

func (l *nvmlLibrary) Init() error {
	switch ret := l.lib.Init(); ret {
	case nvml.SUCCESS:
	case nvml.ERROR_LIBRARY_NOT_FOUND:
		return fmt.Errorf("nvmlInit: cannot load libnvidia-ml.so.1 (no NVIDIA driver installed?): %w", nvmlError(ret))
	default:
		return fmt.Errorf("nvmlInit: %w", nvmlError(ret))
	}
	l.lookupSymbols()
	return nil
}

// lookupSymbols records which functions the loaded library has. Where symbols
// cannot be looked up (a mock without Extensions), all are taken as present.
func (l *nvmlLibrary) lookupSymbols() {
	l.missing = nil
	ext, err := guard(func() (nvml.ExtendedInterface, error) { return l.lib.Extensions(), nil })
	for s := range numSymbols {
		l.has[s] = false
		for _, name := range symbolNames[s] {
			if err != nil || ext == nil || guard0(func() error { return ext.LookupSymbol(name) }) == nil {
				l.has[s] = true
				break
			}
		}
		if !l.has[s] {
			l.missing = append(l.missing, symbolNames[s][0])
		}
	}
}

func (l *nvmlLibrary) Shutdown() error          { return nvmlErr(l.lib.Shutdown()) }
func (l *nvmlLibrary) MissingSymbols() []string { return l.missing }

func (l *nvmlLibrary) DriverVersion() (string, error) {
	if !l.has[symDriverVersion] {
		return "", errNotSupported
	}
	v, ret := l.lib.SystemGetDriverVersion()
	return v, nvmlErr(ret)
}

func (l *nvmlLibrary) CUDADriverVersion() (int, error) {
	if !l.has[symCUDADriverVersion] {
		return 0, errNotSupported
	}
	v, ret := l.lib.SystemGetCudaDriverVersion()
	return v, nvmlErr(ret)
}

func (l *nvmlLibrary) DeviceCount() (int, error) {
	if !l.has[symDeviceCount] {
		return 0, errNotSupported
	}
	n, ret := l.lib.DeviceGetCount()
	return n, nvmlErr(ret)
}

func (l *nvmlLibrary) DeviceByIndex(i int) (device, error) {
	if !l.has[symHandleByIndex] {
		return nil, errNotSupported
	}
	d, ret := l.lib.DeviceGetHandleByIndex(i)
	if err := nvmlErr(ret); err != nil {
		return nil, err
	}
	return &nvmlDevice{d: d, has: &l.has}, nil
}

// nvmlDevice implements device over an nvml.Device handle.
type nvmlDevice struct {
	d   nvml.Device
	has *[numSymbols]bool
}

func (d *nvmlDevice) UUID() (string, error) {
	if !d.has[symUUID] {
		return "", errNotSupported
	}
	v, ret := d.d.GetUUID()
	return v, nvmlErr(ret)
}

func (d *nvmlDevice) Name() (string, error) {
	if !d.has[symName] {
		return "", errNotSupported
	}
	v, ret := d.d.GetName()
	return v, nvmlErr(ret)
}

func (d *nvmlDevice) PCIBusID() (string, error) {
	if !d.has[symPCIInfo] {
		return "", errNotSupported
	}
	pci, ret := d.d.GetPciInfo()
	if err := nvmlErr(ret); err != nil {
		return "", err
	}
	b := make([]byte, 0, len(pci.BusId))
	for _, c := range pci.BusId {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b), nil
}

func (d *nvmlDevice) Utilization() (uint32, uint32, error) {
	if !d.has[symUtilization] {
		return 0, 0, errNotSupported
	}
	u, ret := d.d.GetUtilizationRates()
	return u.Gpu, u.Memory, nvmlErr(ret)
}

// Memory prefers the v2 call, whose used figure leaves out the memory the
// driver reserves (as nvidia-smi reports it).
func (d *nvmlDevice) Memory() (memoryInfo, error) {
	if d.has[symMemoryV2] {
		m, ret := d.d.GetMemoryInfo_v2()
		if ret == nvml.SUCCESS {
			return memoryInfo{Used: m.Used, Free: m.Free, Total: m.Total}, nil
		}
		if ret != nvml.ERROR_NOT_SUPPORTED && ret != nvml.ERROR_ARGUMENT_VERSION_MISMATCH && ret != nvml.ERROR_FUNCTION_NOT_FOUND {
			return memoryInfo{}, nvmlErr(ret)
		}
	}
	if !d.has[symMemory] {
		return memoryInfo{}, errNotSupported
	}
	m, ret := d.d.GetMemoryInfo()
	return memoryInfo{Used: m.Used, Free: m.Free, Total: m.Total}, nvmlErr(ret)
}

func (d *nvmlDevice) PowerUsageMilliwatts() (uint32, error) {
	if !d.has[symPowerUsage] {
		return 0, errNotSupported
	}
	v, ret := d.d.GetPowerUsage()
	return v, nvmlErr(ret)
}

func (d *nvmlDevice) PowerLimitMilliwatts() (uint32, error) {
	if !d.has[symPowerLimit] {
		return 0, errNotSupported
	}
	v, ret := d.d.GetEnforcedPowerLimit()
	return v, nvmlErr(ret)
}

func (d *nvmlDevice) TemperatureCelsius() (uint32, error) {
	if !d.has[symTemperature] {
		return 0, errNotSupported
	}
	v, ret := d.d.GetTemperature(nvml.TEMPERATURE_GPU)
	return v, nvmlErr(ret)
}

func (d *nvmlDevice) SMClockMHz() (uint32, error)     { return d.clock(nvml.CLOCK_SM) }
func (d *nvmlDevice) MemoryClockMHz() (uint32, error) { return d.clock(nvml.CLOCK_MEM) }

func (d *nvmlDevice) clock(t nvml.ClockType) (uint32, error) {
	if !d.has[symClockInfo] {
		return 0, errNotSupported
	}
	v, ret := d.d.GetClockInfo(t)
	return v, nvmlErr(ret)
}

func (d *nvmlDevice) ClockEventReasons() (uint64, error) {
	switch {
	case d.has[symClocksEventReasons]:
		v, ret := d.d.GetCurrentClocksEventReasons()
		return v, nvmlErr(ret)
	case d.has[symClocksThrottleReasons]:
		v, ret := d.d.GetCurrentClocksThrottleReasons()
		return v, nvmlErr(ret)
	}
	return 0, errNotSupported
}

func (d *nvmlDevice) SupportedClockEventReasons() (uint64, error) {
	switch {
	case d.has[symSupportedClocksEventReasons]:
		v, ret := d.d.GetSupportedClocksEventReasons()
		return v, nvmlErr(ret)
	case d.has[symSupportedClocksThrottleReasons]:
		v, ret := d.d.GetSupportedClocksThrottleReasons()
		return v, nvmlErr(ret)
	}
	return 0, errNotSupported
}

func (d *nvmlDevice) ECCEnabled() (bool, error) {
	if !d.has[symECCMode] {
		return false, errNotSupported
	}
	current, _, ret := d.d.GetEccMode()
	return current == nvml.FEATURE_ENABLED, nvmlErr(ret)
}

func (d *nvmlDevice) VolatileECCErrors(uncorrected bool) (uint64, error) {
	if !d.has[symTotalECCErrors] {
		return 0, errNotSupported
	}
	t := nvml.MEMORY_ERROR_TYPE_CORRECTED
	if uncorrected {
		t = nvml.MEMORY_ERROR_TYPE_UNCORRECTED
	}
	v, ret := d.d.GetTotalEccErrors(t, nvml.VOLATILE_ECC)
	return v, nvmlErr(ret)
}

func (d *nvmlDevice) ComputeProcesses() ([]processInfo, error) {
	if !d.has[symComputeProcesses] {
		return nil, errNotSupported
	}
	return processes(d.d.GetComputeRunningProcesses())
}

func (d *nvmlDevice) GraphicsProcesses() ([]processInfo, error) {
	if !d.has[symGraphicsProcesses] {
		return nil, errNotSupported
	}
	return processes(d.d.GetGraphicsRunningProcesses())
}

// notAvailable is NVML_VALUE_NOT_AVAILABLE as an unsigned long long.
const notAvailable = ^uint64(0)

func processes(infos []nvml.ProcessInfo, ret nvml.Return) ([]processInfo, error) {
	if err := nvmlErr(ret); err != nil {
		return nil, err
	}
	out := make([]processInfo, len(infos))
	for i, p := range infos {
		out[i] = processInfo{PID: p.Pid, UsedBytes: p.UsedGpuMemory, Known: p.UsedGpuMemory != notAvailable}
	}
	return out, nil
}

// nvmlErr maps an NVML return code to nil or an error the collector can sort.
// An invalid argument counts as a lost device: the collector passes only valid
// enum values, so it means the handle is no longer valid.
func nvmlErr(ret nvml.Return) error {
	switch ret {
	case nvml.SUCCESS:
		return nil
	case nvml.ERROR_NOT_SUPPORTED, nvml.ERROR_FUNCTION_NOT_FOUND:
		return errNotSupported
	case nvml.ERROR_NO_PERMISSION:
		return fmt.Errorf("%w: %s", errNoPermission, ret.Error())
	case nvml.ERROR_GPU_IS_LOST, nvml.ERROR_GPU_NOT_FOUND, nvml.ERROR_INVALID_ARGUMENT, nvml.ERROR_UNINITIALIZED:
		return fmt.Errorf("%w: %s", errDeviceLost, ret.Error())
	}
	return nvmlError(ret)
}

// nvmlError is an NVML return code as an error, with NVML's own text.
type nvmlError nvml.Return

func (e nvmlError) Error() string { return nvml.Return(e).Error() }
