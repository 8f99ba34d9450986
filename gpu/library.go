package gpu

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// library is the part of NVML the collector uses. nvml.go implements it over
// go-nvml; tests may implement it directly. Methods return the errors below so
// that the collector can tell "not there" from "broken" from "gone".
type library interface {
	// Init loads and initialises NVML. Nothing else is called before it succeeds.
	Init() error
	Shutdown() error
	// MissingSymbols names the NVML functions the loaded library lacks, after Init.
	MissingSymbols() []string
	DriverVersion() (string, error)
	// CUDADriverVersion is the CUDA version the driver supports, as NVML encodes
	// it (1000*major + 10*minor).
	CUDADriverVersion() (int, error)
	DeviceCount() (int, error)
	DeviceByIndex(index int) (device, error)
}

// device is one GPU handle.
type device interface {
	UUID() (string, error)
	Name() (string, error)
	PCIBusID() (string, error)
	// Utilization returns GPU and memory controller busy percentages.
	Utilization() (gpu, memory uint32, err error)
	Memory() (memoryInfo, error)
	PowerUsageMilliwatts() (uint32, error)
	PowerLimitMilliwatts() (uint32, error)
	TemperatureCelsius() (uint32, error)
	SMClockMHz() (uint32, error)
	MemoryClockMHz() (uint32, error)
	// ClockEventReasons is the bitmask of reasons clocks are held down now.
	ClockEventReasons() (uint64, error)
	// SupportedClockEventReasons is the bitmask of reasons the GPU can report.
	SupportedClockEventReasons() (uint64, error)
	ECCEnabled() (bool, error)
	// VolatileECCErrors counts ECC errors since the driver was loaded.
	VolatileECCErrors(uncorrected bool) (uint64, error)
	ComputeProcesses() ([]processInfo, error)
	GraphicsProcesses() ([]processInfo, error)
}

type memoryInfo struct {
	Used, Free, Total uint64
}

type processInfo struct {
	PID uint32
	// UsedBytes is the GPU memory the process holds; valid only when Known.
	UsedBytes uint64
	Known     bool
}

// Kinds of query failure. A library wraps them (errors.Is) with detail.
var (
	// errNotSupported: the GPU or driver cannot answer this query; the series is
	// left out and nothing is counted.
	errNotSupported = errors.New("not supported")
	// errNoPermission: like errNotSupported, but logged once.
	errNoPermission = errors.New("no permission")
	// errDeviceLost: the handle is no longer valid; handles are enumerated again.
	errDeviceLost = errors.New("device lost")
	// errPanic: the binding panicked.
	errPanic = errors.New("panic in NVML binding")
	// errNoBinding: this build has no NVML binding; Init is not retried.
	errNoBinding = errors.New("built without NVML support (needs linux and cgo)")
)

// ErrUnavailable is returned (wrapped, with the reason) by Sample when NVML cannot
// be used: no library, no driver, a failed Init, or a closed collector.
var ErrUnavailable = errors.New("gpu: NVML unavailable")

// guard calls fn and turns a panic inside it into an error wrapping errPanic.
func guard[T any](fn func() (T, error)) (v T, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", errPanic, p)
		}
	}()
	return fn()
}

// guard2 is guard for calls returning two values.
func guard2[T, U any](fn func() (T, U, error)) (t T, u U, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", errPanic, p)
		}
	}()
	return fn()
}

// guard0 is guard for calls returning only an error.
func guard0(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", errPanic, p)
		}
	}()
	return fn()
}

// procComm names a process from /proc/PID/comm.
func procComm(pid uint32) (string, error) {
	b, err := os.ReadFile("/proc/" + strconv.FormatUint(uint64(pid), 10) + "/comm")
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\n"), nil
}
