//go:build !(linux && cgo)

package gpu

import "log/slog"

// New returns a collector that reports no GPU: this build has no NVML binding
// (go-nvml needs linux and cgo). It exports llmprobe_gpu_up 0.
func New(logger *slog.Logger, opts Options) *Collector {
	return newCollector(noLibrary{}, logger, opts).start()
}

// noLibrary is a library whose Init always fails; nothing else is reached.
type noLibrary struct{}

func (noLibrary) Init() error                       { return errNoBinding }
func (noLibrary) Shutdown() error                   { return nil }
func (noLibrary) MissingSymbols() []string          { return nil }
func (noLibrary) DriverVersion() (string, error)    { return "", errNoBinding }
func (noLibrary) CUDADriverVersion() (int, error)   { return 0, errNoBinding }
func (noLibrary) DeviceCount() (int, error)         { return 0, errNoBinding }
func (noLibrary) DeviceByIndex(int) (device, error) { return nil, errNoBinding }
