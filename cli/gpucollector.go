package cli

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/llmprobe/llmprobe/gpu"
)

// registerGPU registers the NVML collector when enabled and returns it (nil
// when disabled) so that soaks can sample it. Without a GPU or driver it
// exports llmprobe_gpu_up 0 and the daemon runs on.
func registerGPU(reg prometheus.Registerer, logger *slog.Logger, enabled bool) *gpu.Collector {
	if !enabled {
		return nil
	}
	c := gpu.New(logger.With("collector", "gpu"), gpu.DefaultOptions())
	reg.MustRegister(c)
	return c
}
