package dashboards

// devSel selects the chosen GPUs.
var devSel = sel(`instance=~"$instance"`, `gpu=~"$gpu"`)

// gpuQ is a per-device query of a GPU gauge.
func gpuQ(metric, legend string) *Target {
	return needs(NeedGPU, q(metric+"{"+devSel+"}", legend))[0]
}

const devLegend = "GPU {{gpu}} {{name}} {{instance}}"

func gpuDashboard() *Dashboard {
	vars := []*Variable{
		datasourceVar(),
		labelVar("instance", "Host", "llmprobe_gpu_up", "instance", "llmprobe exporters (each sees the GPUs of its own host)."),
		labelVar("gpu", "GPU", `llmprobe_gpu_info{instance=~"$instance"}`, "gpu", "GPU index as NVML numbers them; series join on the uuid label."),
		labelVar("target", "Target", "llmprobe_requests_total", "target", "Targets whose latency is shown next to the GPUs."),
		labelVar("model", "Model", `llmprobe_requests_total{target=~"$target"}`, "model", ""),
	}

	up := stat("NVML up", "1 when NVML loaded and listed the GPUs in the last scrape (no driver, no GPU or a failure give 0: see the exporter's log).",
		"none", 6, needs(NeedGPU, q(`llmprobe_gpu_up{instance=~"$instance"}`, "{{instance}}"))...)
	up.FieldConfig.Defaults.Mappings = []ValueMapping{{Type: "value", Options: map[string]any{
		"0": map[string]any{"color": "red", "index": 0, "text": "DOWN"},
		"1": map[string]any{"color": "green", "index": 1, "text": "UP"},
	}}}
	up.FieldConfig.Defaults.Thresholds = thresholds("red", 1.0, "green")
	count := stat("GPUs", "GPUs NVML reports on each host.", "none", 6,
		needs(NeedGPU, q(`llmprobe_gpu_devices{instance=~"$instance"}`, "{{instance}}"))...)
	count.FieldConfig.Defaults.Thresholds = thresholds("blue")
	info := table("Devices", "Identity, PCI bus, driver and CUDA versions of each GPU.", 12, nil,
		[]string{"__name__", "job", "Value"},
		needs(NeedGPU, qi(`llmprobe_gpu_info{`+devSel+`}`, ""))...)

	util := timeseries("GPU utilization", "Share of the last sample period in which a kernel ran on the GPU.", "percentunit",
		gpuQ("llmprobe_gpu_utilization_ratio", devLegend))
	util.FieldConfig.Defaults.Min, util.FieldConfig.Defaults.Max = ptr(0.0), ptr(1.0)
	memUtil := timeseries("Memory bandwidth utilization", "Share of the last sample period in which device memory was read or written.", "percentunit",
		gpuQ("llmprobe_gpu_memory_utilization_ratio", devLegend))
	memUtil.FieldConfig.Defaults.Min, memUtil.FieldConfig.Defaults.Max = ptr(0.0), ptr(1.0)

	vram := timeseries("VRAM used and total", "Device memory allocated (processes and driver) against the installed memory.", "bytes",
		gpuQ("llmprobe_gpu_memory_used_bytes", "used "+devLegend),
		gpuQ("llmprobe_gpu_memory_total_bytes", "total "+devLegend))
	vramRatio := thresholdLines(timeseries("VRAM used share", "Used over total device memory. Model servers reserve most of it at start (vLLM's gpu_memory_utilization): the line should stay flat.", "percentunit",
		needs(NeedGPU, q(`llmprobe_gpu_memory_used_bytes{`+devSel+`} / llmprobe_gpu_memory_total_bytes{`+devSel+`}`, devLegend))...),
		thresholds("green", 0.95, "red"))
	vramRatio.FieldConfig.Defaults.Min, vramRatio.FieldConfig.Defaults.Max = ptr(0.0), ptr(1.0)
	procs := stacked(timeseries("VRAM per process", "GPU memory held by the largest users of each GPU (process name from /proc; \"unknown\" in a container without the host's PID namespace).", "bytes",
		gpuQ("llmprobe_gpu_process_memory_used_bytes", "{{process}} ({{pid}}) GPU {{gpu}} {{instance}}")))
	procs.GridPos.W = 24

	power := timeseries("Power", "Board power draw against the enforced power limit.", "watt",
		gpuQ("llmprobe_gpu_power_watts", "draw "+devLegend),
		gpuQ("llmprobe_gpu_power_limit_watts", "limit "+devLegend))
	temp := thresholdLines(timeseries("Temperature", "GPU die temperature.", "celsius",
		gpuQ("llmprobe_gpu_temperature_celsius", devLegend)),
		thresholds("green", 83.0, "orange", 90.0, "red"))
	clocks := timeseries("Clocks", "Streaming multiprocessor and memory clocks.", "hertz",
		gpuQ("llmprobe_gpu_sm_clock_hertz", "SM "+devLegend),
		gpuQ("llmprobe_gpu_memory_clock_hertz", "memory "+devLegend))
	throttle := stateTimeline("Clock throttle reasons",
		"Reasons holding each GPU's clocks below their maximum (only reasons the GPU can report). gpu_idle is normal when idle; power and thermal slowdowns under load cost throughput.",
		"no", "throttled",
		gpuQ("llmprobe_gpu_clock_throttle_active", "GPU {{gpu}} {{instance}} {{reason}}"))

	ecc := timeseries("ECC errors", "ECC memory errors per second by type (volatile counters; a driver reload resets them). Uncorrected errors mean a failing GPU.", "short",
		needs(NeedGPU, q(`sum by (instance, gpu, type) (rate(llmprobe_gpu_ecc_errors_total{`+devSel+`}[$__rate_interval]))`, "{{type}} GPU {{gpu}} {{instance}}"))...)
	collectErrs := timeseries("NVML read errors", "Reads of a GPU in which an NVML query failed, panicked or found the GPU lost, per second.", "short",
		needs(NeedGPU, q(`sum by (instance, gpu) (rate(llmprobe_gpu_collect_errors_total{`+devSel+`}[$__rate_interval]))`, "GPU {{gpu}} {{instance}}"))...)

	sel := sel(`target=~"$target"`, `model=~"$model"`)
	ttft := timeseries("TTFT p99 (probes and soaks)", "Time to first token of the chosen targets, to line up with the GPUs' load.", "s",
		q(quantile(0.99, "llmprobe_time_to_first_token_seconds", sel, "target, phase"), "p99 {{target}} {{phase}}"))
	tokens := timeseries("Output tokens per second", "Output tokens of successful requests per second, probes and soaks.", "short",
		q(`sum by (target, phase) (rate(llmprobe_output_tokens_total{`+sel+`}[$__rate_interval]))`, "{{target}} {{phase}}"))

	return newDashboard("llmprobe-gpu.json", "llmprobe-gpu", "llmprobe / GPU",
		"Per-GPU utilization, VRAM, power, temperature, clocks and throttle reasons from NVML, as seen by llmprobe on the GPU host, with the served latency alongside.",
		vars,
		row{title: "Devices", panels: []*Panel{up, count, info}},
		row{title: "Load", panels: []*Panel{util, memUtil}},
		row{title: "Memory", panels: []*Panel{vram, vramRatio, procs}},
		row{title: "Power, thermals and clocks", panels: []*Panel{power, temp, clocks, throttle}},
		row{title: "Errors", panels: []*Panel{ecc, collectErrs}},
		row{title: "Serving latency", panels: []*Panel{ttft, tokens}},
	)
}
