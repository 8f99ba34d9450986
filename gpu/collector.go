package gpu

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultMaxProcesses is the per-GPU cap on per-process series when
// Options.MaxProcesses is not set.
const DefaultMaxProcesses = 16

// initRetryInterval is how often a failed NVML Init is tried again.
const initRetryInterval = time.Minute

// maxLogged bounds the set of "logged once" keys.
const maxLogged = 256

const upHelp = "1 when NVML could be loaded and listed the GPUs in this scrape, 0 when not (no driver, no GPU, or a failure: see the log)."

// Options tune the collector. The zero value exports no per-process series;
// DefaultOptions is what the daemon uses.
type Options struct {
	// ProcessMetrics exports llmprobe_gpu_processes and
	// llmprobe_gpu_process_memory_used_bytes{pid,process}.
	ProcessMetrics bool
	// MaxProcesses caps the per-process series per GPU, largest memory users
	// first; zero or less means DefaultMaxProcesses.
	MaxProcesses int
	// ProcessName names a process by PID; nil reads /proc/PID/comm. A failure
	// gives the name "unknown" (in a container without the host's PID namespace,
	// NVML's PIDs are not in /proc).
	ProcessName func(pid uint32) (string, error)
}

// DefaultOptions returns process metrics on, capped at DefaultMaxProcesses.
func DefaultOptions() Options {
	return Options{ProcessMetrics: true, MaxProcesses: DefaultMaxProcesses}
}

// Collector is a prometheus.Collector of NVML GPU metrics. It is safe for
// concurrent use; scrapes and samples are serialised.
type Collector struct {
	lib    library
	logger *slog.Logger
	opts   Options
	now    func() time.Time

	mu            sync.Mutex
	ready         bool
	closed        bool
	noRetry       bool // Init cannot succeed in this build
	lastInit      time.Time
	initErr       error
	initLogged    bool
	lastErr       error // why the last pass found NVML unusable
	driverVersion string
	cudaVersion   string
	count         int // devices NVML reported in the last pass
	devices       []*deviceState
	stale         bool
	failures      map[int]uint64 // failed reads by GPU index
	logged        map[string]struct{}
}

type deviceState struct {
	index    int
	dev      device
	uuid     string
	name     string
	pciBusID string
	labels   []string // gpu, uuid, name
	ecc      bool
	reasons  uint64 // supported clock event reasons
}

func newCollector(lib library, logger *slog.Logger, opts Options) *Collector {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxProcesses <= 0 {
		opts.MaxProcesses = DefaultMaxProcesses
	}
	if opts.ProcessName == nil {
		opts.ProcessName = procComm
	}
	c := &Collector{
		lib:      lib,
		logger:   logger,
		opts:     opts,
		now:      time.Now,
		failures: make(map[int]uint64),
		logged:   make(map[string]struct{}),
	}
	return c
}

// start initialises NVML now, so that the log says at start-up whether GPU
// metrics will be there; without it the first scrape or sample does so.
func (c *Collector) start() *Collector {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readyLocked()
	return c
}

// Close shuts NVML down. Afterwards the collector exports llmprobe_gpu_up 0 and
// Sample returns ErrUnavailable.
func (c *Collector) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	c.devices = nil
	if !c.ready {
		return nil
	}
	c.ready = false
	if err := guard0(c.lib.Shutdown); err != nil {
		return fmt.Errorf("gpu: NVML shutdown: %w", err)
	}
	return nil
}

var (
	deviceLabels = []string{"gpu", "uuid", "name"}

	upDesc      = prometheus.NewDesc("llmprobe_gpu_up", upHelp, nil, nil)
	devicesDesc = prometheus.NewDesc("llmprobe_gpu_devices",
		"Number of GPUs NVML reports on this machine.",
		nil, nil)
	collectErrorsDesc = prometheus.NewDesc("llmprobe_gpu_collect_errors_total",
		"Reads of one GPU (scrapes and timeline samples) in which an NVML query failed, panicked or found the GPU lost; unsupported queries are not counted.",
		[]string{"gpu"}, nil)
	infoDesc = prometheus.NewDesc("llmprobe_gpu_info",
		"Always 1: identity of each GPU, its PCI bus ID, the NVIDIA driver version and the CUDA version the driver supports.",
		append(deviceLabels[:3:3], "pci_bus_id", "driver_version", "cuda_driver_version"), nil)
	utilizationDesc = prometheus.NewDesc("llmprobe_gpu_utilization_ratio",
		"Share of the last sample period (1/6 s to 1 s, by product) in which one or more kernels ran on the GPU, 0 to 1.",
		deviceLabels, nil)
	memoryUtilizationDesc = prometheus.NewDesc("llmprobe_gpu_memory_utilization_ratio",
		"Share of the last sample period in which device memory was read or written, 0 to 1.",
		deviceLabels, nil)
	memoryUsedDesc = prometheus.NewDesc("llmprobe_gpu_memory_used_bytes",
		"Allocated device memory, in bytes; memory the driver and firmware reserve is left out where NVML reports it apart (nvmlDeviceGetMemoryInfo_v2).",
		deviceLabels, nil)
	memoryFreeDesc = prometheus.NewDesc("llmprobe_gpu_memory_free_bytes",
		"Unallocated device memory, in bytes.",
		deviceLabels, nil)
	memoryTotalDesc = prometheus.NewDesc("llmprobe_gpu_memory_total_bytes",
		"Total physical device memory, in bytes.",
		deviceLabels, nil)
	powerDesc = prometheus.NewDesc("llmprobe_gpu_power_watts",
		"Power drawn by the GPU board, in watts.",
		deviceLabels, nil)
	powerLimitDesc = prometheus.NewDesc("llmprobe_gpu_power_limit_watts",
		"Power limit the GPU enforces now, in watts.",
		deviceLabels, nil)
	temperatureDesc = prometheus.NewDesc("llmprobe_gpu_temperature_celsius",
		"GPU die temperature, in degrees Celsius.",
		deviceLabels, nil)
	smClockDesc = prometheus.NewDesc("llmprobe_gpu_sm_clock_hertz",
		"Current streaming multiprocessor clock, in hertz.",
		deviceLabels, nil)
	memoryClockDesc = prometheus.NewDesc("llmprobe_gpu_memory_clock_hertz",
		"Current memory clock, in hertz.",
		deviceLabels, nil)
	throttleDesc = prometheus.NewDesc("llmprobe_gpu_clock_throttle_active",
		"1 while the given reason holds the GPU's clocks below their maximum, else 0; only reasons the GPU can report are exported.",
		append(deviceLabels[:3:3], "reason"), nil)
	eccDesc = prometheus.NewDesc("llmprobe_gpu_ecc_errors_total",
		"ECC memory errors since the driver was loaded (NVML volatile counters; a driver reload resets them), by type corrected or uncorrected; only on GPUs with ECC enabled.",
		append(deviceLabels[:3:3], "type"), nil)
	processesDesc = prometheus.NewDesc("llmprobe_gpu_processes",
		"Processes with a compute or graphics context on the GPU, including those beyond the cap on per-process series.",
		deviceLabels, nil)
	processMemoryDesc = prometheus.NewDesc("llmprobe_gpu_process_memory_used_bytes",
		"GPU memory held by one process, in bytes; only the largest users of each GPU, up to a configured cap. process is the name in /proc/PID/comm.",
		append(deviceLabels[:3:3], "pid", "process"), nil)
)

// clockEventReasons are the exported reasons, with their nvml.h bits
// (nvmlClocksEventReason*, formerly nvmlClocksThrottleReason*).
var clockEventReasons = [...]struct {
	bit  uint64
	name string
}{
	{0x1, "gpu_idle"},
	{0x2, "applications_clocks_setting"},
	{0x4, "sw_power_cap"},
	{0x8, "hw_slowdown"},
	{0x10, "sync_boost"},
	{0x20, "sw_thermal_slowdown"},
	{0x40, "hw_thermal_slowdown"},
	{0x80, "hw_power_brake_slowdown"},
	{0x100, "display_clock_setting"},
}

const allClockEventReasons = 0x1ff

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		upDesc, devicesDesc, collectErrorsDesc, infoDesc,
		utilizationDesc, memoryUtilizationDesc,
		memoryUsedDesc, memoryFreeDesc, memoryTotalDesc,
		powerDesc, powerLimitDesc, temperatureDesc,
		smClockDesc, memoryClockDesc, throttleDesc, eccDesc,
		processesDesc, processMemoryDesc,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: one pass of NVML queries, no
// processes spawned.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()

	devs, ok := c.devicesLocked()
	up := 0.0
	if ok {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, up)
	if ok {
		ch <- prometheus.MustNewConstMetric(devicesDesc, prometheus.GaugeValue, float64(c.count))
		for _, d := range devs {
			r := c.readLocked(d, allFields)
			if r.lost {
				continue
			}
			c.emit(ch, d, &r)
		}
	}
	c.emitFailures(ch, devs)
}

func (c *Collector) emitFailures(ch chan<- prometheus.Metric, devs []*deviceState) {
	for _, d := range devs {
		if _, ok := c.failures[d.index]; !ok {
			c.failures[d.index] = 0
		}
	}
	for i, n := range c.failures {
		ch <- prometheus.MustNewConstMetric(collectErrorsDesc, prometheus.CounterValue, float64(n), strconv.Itoa(i))
	}
}

func (c *Collector) emit(ch chan<- prometheus.Metric, d *deviceState, r *reading) {
	gauge := func(desc *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, d.labels...)
	}
	ch <- prometheus.MustNewConstMetric(infoDesc, prometheus.GaugeValue, 1,
		d.labels[0], d.labels[1], d.labels[2], d.pciBusID, c.driverVersion, c.cudaVersion)
	if r.has(fUtil) {
		gauge(utilizationDesc, float64(r.gpuUtil)/100)
		gauge(memoryUtilizationDesc, float64(r.memUtil)/100)
	}
	if r.has(fMemory) {
		gauge(memoryUsedDesc, float64(r.mem.Used))
		gauge(memoryFreeDesc, float64(r.mem.Free))
		gauge(memoryTotalDesc, float64(r.mem.Total))
	}
	if r.has(fPower) {
		gauge(powerDesc, float64(r.powerMW)/1000)
	}
	if r.has(fPowerLimit) {
		gauge(powerLimitDesc, float64(r.limitMW)/1000)
	}
	if r.has(fTemperature) {
		gauge(temperatureDesc, float64(r.tempC))
	}
	if r.has(fSMClock) {
		gauge(smClockDesc, float64(r.smMHz)*1e6)
	}
	if r.has(fMemoryClock) {
		gauge(memoryClockDesc, float64(r.memMHz)*1e6)
	}
	if r.has(fReasons) {
		for _, reason := range clockEventReasons {
			if d.reasons&reason.bit == 0 {
				continue
			}
			v := 0.0
			if r.reasons&reason.bit != 0 {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(throttleDesc, prometheus.GaugeValue, v,
				d.labels[0], d.labels[1], d.labels[2], reason.name)
		}
	}
	if r.has(fECCCorrected) {
		ch <- prometheus.MustNewConstMetric(eccDesc, prometheus.CounterValue, float64(r.eccCorrected),
			d.labels[0], d.labels[1], d.labels[2], "corrected")
	}
	if r.has(fECCUncorrected) {
		ch <- prometheus.MustNewConstMetric(eccDesc, prometheus.CounterValue, float64(r.eccUncorrected),
			d.labels[0], d.labels[1], d.labels[2], "uncorrected")
	}
	if r.has(fProcesses) {
		gauge(processesDesc, float64(r.procCount))
		for _, p := range r.procs {
			ch <- prometheus.MustNewConstMetric(processMemoryDesc, prometheus.GaugeValue, float64(p.UsedBytes),
				d.labels[0], d.labels[1], d.labels[2], strconv.FormatUint(uint64(p.PID), 10), c.processName(p.PID))
		}
	}
}

func (c *Collector) processName(pid uint32) string {
	name, err := c.opts.ProcessName(pid)
	if err != nil || name == "" {
		return "unknown"
	}
	return validUTF8(name)
}

// validUTF8 makes s fit for a label value: NVML and /proc hand over bytes.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// readyLocked initialises NVML if it is not yet, at most once per
// initRetryInterval, and reports whether it is.
func (c *Collector) readyLocked() bool {
	if c.ready {
		return true
	}
	if c.closed {
		c.lastErr = fmt.Errorf("%w: collector closed", ErrUnavailable)
		return false
	}
	now := c.now()
	if c.noRetry || !c.lastInit.IsZero() && now.Sub(c.lastInit) < initRetryInterval {
		c.lastErr = fmt.Errorf("%w: %w", ErrUnavailable, c.initErr)
		return false
	}
	c.lastInit = now
	if err := guard0(c.lib.Init); err != nil {
		c.initErr = err
		c.lastErr = fmt.Errorf("%w: %w", ErrUnavailable, err)
		c.noRetry = errors.Is(err, errNoBinding)
		if !c.initLogged {
			c.initLogged = true
			c.logger.Info("NVML unavailable: no GPU metrics, llmprobe_gpu_up is 0", "err", err, "retry", !c.noRetry)
		}
		return false
	}
	c.ready = true
	c.initErr = nil
	c.stale = true
	if v, err := guard(c.lib.DriverVersion); err == nil {
		c.driverVersion = validUTF8(v)
	}
	if v, err := guard(c.lib.CUDADriverVersion); err == nil && v > 0 {
		c.cudaVersion = fmt.Sprintf("%d.%d", v/1000, v%1000/10)
	}
	c.logger.Info("NVML initialized", "driver_version", c.driverVersion, "cuda_driver_version", c.cudaVersion)
	if missing := c.lib.MissingSymbols(); len(missing) > 0 {
		c.logger.Info("NVML library lacks some functions; their metrics are left out", "functions", missing)
	}
	return true
}

// devicesLocked returns the GPUs to read this pass, enumerating handles again
// when needed. It reports false when NVML is unusable (c.lastErr says why).
func (c *Collector) devicesLocked() ([]*deviceState, bool) {
	if !c.readyLocked() {
		return nil, false
	}
	n, err := guard(c.lib.DeviceCount)
	if err != nil {
		c.lastErr = fmt.Errorf("%w: device count: %w", ErrUnavailable, err)
		c.logOnce("count", "NVML device count failed", "err", err)
		c.stale = true
		return nil, false
	}
	c.count = n
	if c.stale || n != len(c.devices) {
		c.enumerateLocked(n)
	}
	return c.devices, true
}

func (c *Collector) enumerateLocked(n int) {
	devs := make([]*deviceState, 0, n)
	for i := range n {
		d, err := c.open(i)
		if err != nil {
			c.failures[i]++
			c.logOnce(fmt.Sprintf("open %d %v", i, err), "cannot open GPU", "gpu", i, "err", err)
			continue
		}
		devs = append(devs, d)
	}
	c.devices = devs
	c.stale = false
	c.logger.Debug("NVML devices enumerated", "count", n, "opened", len(devs))
}

func (c *Collector) open(i int) (*deviceState, error) {
	dev, err := guard(func() (device, error) { return c.lib.DeviceByIndex(i) })
	if err != nil {
		return nil, fmt.Errorf("handle: %w", err)
	}
	uuid, err := guard(dev.UUID)
	if err != nil {
		return nil, fmt.Errorf("uuid: %w", err)
	}
	d := &deviceState{index: i, dev: dev, uuid: validUTF8(uuid), reasons: allClockEventReasons}
	if name, err := guard(dev.Name); err == nil {
		d.name = validUTF8(name)
	}
	if id, err := guard(dev.PCIBusID); err == nil {
		d.pciBusID = validUTF8(id)
	}
	if on, err := guard(dev.ECCEnabled); err == nil {
		d.ecc = on
	}
	if mask, err := guard(dev.SupportedClockEventReasons); err == nil {
		d.reasons = mask
	}
	d.labels = []string{strconv.Itoa(i), d.uuid, d.name}
	return d, nil
}

// fieldSet selects what a read queries.
type fieldSet uint32

const (
	fUtil fieldSet = 1 << iota
	fMemory
	fPower
	fPowerLimit
	fTemperature
	fSMClock
	fMemoryClock
	fReasons
	fECCCorrected
	fECCUncorrected
	fProcesses

	allFields    = fProcesses<<1 - 1
	sampleFields = fUtil | fMemory | fPower | fTemperature
)

// reading holds one pass over one GPU; ok says which fields hold a value.
type reading struct {
	ok                           fieldSet
	gpuUtil, memUtil             uint32
	mem                          memoryInfo
	powerMW, limitMW             uint32
	tempC                        uint32
	smMHz, memMHz                uint32
	reasons                      uint64
	eccCorrected, eccUncorrected uint64
	procs                        []processInfo
	procCount                    int
	failed                       bool // a query failed: counted once per read
	lost                         bool // the handle is gone
}

func (r *reading) has(f fieldSet) bool { return r.ok&f != 0 }

// readLocked queries the fields in want, stopping early if the GPU is lost.
// A Go panic outside the per-query guards is recovered here as well.
func (c *Collector) readLocked(d *deviceState, want fieldSet) (r reading) {
	defer func() {
		if p := recover(); p != nil {
			r.failed = true
			c.logOnce(fmt.Sprintf("panic %d", d.index), "panic while reading GPU", "gpu", d.index, "panic", p)
		}
		if r.failed {
			c.failures[d.index]++
		}
		if r.lost {
			c.stale = true
		}
	}()

	if want&fUtil != 0 {
		g, m, err := guard2(d.dev.Utilization)
		if c.check(d, &r, "utilization", err) {
			r.gpuUtil, r.memUtil = g, m
			r.ok |= fUtil
		}
	}
	if want&fMemory != 0 && !r.lost {
		m, err := guard(d.dev.Memory)
		if c.check(d, &r, "memory", err) {
			r.mem = m
			r.ok |= fMemory
		}
	}
	c.readUint32(d, &r, want, fPower, "power", d.dev.PowerUsageMilliwatts, &r.powerMW)
	c.readUint32(d, &r, want, fPowerLimit, "power limit", d.dev.PowerLimitMilliwatts, &r.limitMW)
	c.readUint32(d, &r, want, fTemperature, "temperature", d.dev.TemperatureCelsius, &r.tempC)
	c.readUint32(d, &r, want, fSMClock, "sm clock", d.dev.SMClockMHz, &r.smMHz)
	c.readUint32(d, &r, want, fMemoryClock, "memory clock", d.dev.MemoryClockMHz, &r.memMHz)
	if want&fReasons != 0 && !r.lost {
		v, err := guard(d.dev.ClockEventReasons)
		if c.check(d, &r, "clock event reasons", err) {
			r.reasons = v
			r.ok |= fReasons
		}
	}
	if d.ecc {
		for _, uncorrected := range []bool{false, true} {
			f, what, dst := fECCCorrected, "corrected ECC errors", &r.eccCorrected
			if uncorrected {
				f, what, dst = fECCUncorrected, "uncorrected ECC errors", &r.eccUncorrected
			}
			if want&f == 0 || r.lost {
				continue
			}
			v, err := guard(func() (uint64, error) { return d.dev.VolatileECCErrors(uncorrected) })
			if c.check(d, &r, what, err) {
				*dst = v
				r.ok |= f
			}
		}
	}
	if want&fProcesses != 0 && c.opts.ProcessMetrics && !r.lost {
		c.readProcesses(d, &r)
	}
	return r
}

func (c *Collector) readUint32(d *deviceState, r *reading, want, f fieldSet, what string, fn func() (uint32, error), dst *uint32) {
	if want&f == 0 || r.lost {
		return
	}
	v, err := guard(fn)
	if c.check(d, r, what, err) {
		*dst = v
		r.ok |= f
	}
}

func (c *Collector) readProcesses(d *deviceState, r *reading) {
	compute, cerr := guard(d.dev.ComputeProcesses)
	cok := c.check(d, r, "compute processes", cerr)
	if r.lost {
		return
	}
	graphics, gerr := guard(d.dev.GraphicsProcesses)
	gok := c.check(d, r, "graphics processes", gerr)
	if !cok && !gok {
		return
	}
	// A process with both kinds of context is listed twice with the same memory.
	procs := make([]processInfo, 0, len(compute)+len(graphics))
	for _, list := range [2][]processInfo{compute, graphics} {
		for _, p := range list {
			if j := slices.IndexFunc(procs, func(q processInfo) bool { return q.PID == p.PID }); j >= 0 {
				if p.Known && (!procs[j].Known || p.UsedBytes > procs[j].UsedBytes) {
					procs[j] = p
				}
				continue
			}
			procs = append(procs, p)
		}
	}
	r.procCount = len(procs)
	known := procs[:0]
	for _, p := range procs {
		if p.Known {
			known = append(known, p)
		}
	}
	sort.Slice(known, func(i, j int) bool {
		if known[i].UsedBytes != known[j].UsedBytes {
			return known[i].UsedBytes > known[j].UsedBytes
		}
		return known[i].PID < known[j].PID
	})
	if len(known) > c.opts.MaxProcesses {
		known = known[:c.opts.MaxProcesses]
	}
	r.procs = known
	r.ok |= fProcesses
}

// check sorts a query's error: nil → true; unsupported → false, silently;
// anything else → false, counted as a failure of the read and logged once.
func (c *Collector) check(d *deviceState, r *reading, what string, err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, errNotSupported):
		return false
	case errors.Is(err, errNoPermission):
		c.logOnce("perm "+what, "NVML query not permitted; its metric is left out", "query", what, "err", err)
		return false
	case errors.Is(err, errDeviceLost):
		r.lost = true
	}
	r.failed = true
	c.logOnce(fmt.Sprintf("%s %s %v", d.uuid, what, err), "NVML query failed", "gpu", d.index, "uuid", d.uuid, "query", what, "err", err)
	return false
}

// logOnce logs at warning level the first time key is seen.
func (c *Collector) logOnce(key, msg string, args ...any) {
	if _, ok := c.logged[key]; ok || len(c.logged) >= maxLogged {
		return
	}
	c.logged[key] = struct{}{}
	c.logger.Warn(msg, args...)
}
