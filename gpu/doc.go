// Package gpu exports NVML metrics of the GPUs of the machine llmprobe runs on,
// and samples them into soak timelines.
//
// # Metrics
//
// Every per-GPU series has the labels gpu (NVML index), uuid and name; join GPU
// series with other sources on uuid, since indexes can change across reboots.
//
//	llmprobe_gpu_up                              1 when NVML answered this scrape, else 0
//	llmprobe_gpu_devices                         GPUs NVML reports (only when up)
//	llmprobe_gpu_collect_errors_total{gpu}       failed NVML reads of one GPU (counter)
//	llmprobe_gpu_info{...,pci_bus_id,driver_version,cuda_driver_version}  1
//	llmprobe_gpu_utilization_ratio               GPU busy time share (0..1)
//	llmprobe_gpu_memory_utilization_ratio        memory controller busy time share (0..1)
//	llmprobe_gpu_memory_used_bytes / _free_bytes / _total_bytes
//	llmprobe_gpu_power_watts, llmprobe_gpu_power_limit_watts
//	llmprobe_gpu_temperature_celsius
//	llmprobe_gpu_sm_clock_hertz, llmprobe_gpu_memory_clock_hertz
//	llmprobe_gpu_clock_throttle_active{reason}   1 while that reason holds clocks down
//	llmprobe_gpu_ecc_errors_total{type}          volatile ECC error counts (counter)
//	llmprobe_gpu_processes                       processes with a context on the GPU
//	llmprobe_gpu_process_memory_used_bytes{pid,process}  top Options.MaxProcesses users
//
// A query NVML does not support on a GPU (ERROR_NOT_SUPPORTED, or a symbol the
// installed driver lacks) leaves that one series out. Memory used/free come from
// nvmlDeviceGetMemoryInfo_v2 where the driver has it (used excludes the memory the
// driver reserves, as nvidia-smi shows it), else from the v1 call.
//
// ECC counters are the volatile ones: errors since the driver was last loaded.
// They behave as a Prometheus counter should (a driver reload reads as a counter
// reset, which rate and increase handle), and a new error shows at once. The
// aggregate (lifetime, kept in the infoROM) counts are left out: use nvidia-smi -q
// for a GPU's history. They are exported only on GPUs with ECC mode enabled.
//
// Throttle reasons are limited to a fixed set (see reasons below), and only those
// the GPU reports as supported are exported.
//
// # No GPU is not an error
//
// When libnvidia-ml cannot be loaded or nvmlInit fails, the collector logs why once
// (at info level) and exports llmprobe_gpu_up 0; it retries Init at most once a
// minute, so a driver loaded after the daemon started is picked up. Every NVML call
// runs only after a successful Init, and only when its symbol exists in the loaded
// library: go-nvml calls a missing symbol through a null pointer, a crash that
// recover cannot catch. Go panics inside the binding are recovered per query,
// counted as a failure of that GPU and logged once.
//
// Device handles are cached; they are enumerated again when the device count
// changes, when a GPU is reported lost (ERROR_GPU_IS_LOST, an invalid handle) or
// when a GPU could not be opened the last time.
//
// # Build tags
//
// go-nvml's nvml package needs cgo (its files import "C"), and so does its mock.
// The collector (every file but nvml.go) is pure Go over a small
// internal interface (library, device). nvml.go (linux && cgo) implements it over
// nvml.Interface and provides New and NewWithInterface; nvml_other.go provides a New
// that reports no GPU, so CGO_ENABLED=0 builds work. Tests over pkg/nvml/mock carry
// the same linux && cgo constraint; the rest of the tests run in every build.
package gpu
