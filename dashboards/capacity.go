package dashboards

import "fmt"

// Soak and sweep gauges (collector/soak.go). Each sweep step's gauges carry a
// step label; they hold the last sweep of each soak and target.
const (
	sweepOffered    = "llmprobe_sweep_step_offered_requests_per_second"
	sweepAchieved   = "llmprobe_sweep_step_achieved_requests_per_second"
	sweepTTFTP99    = "llmprobe_sweep_step_time_to_first_token_p99_seconds"
	sweepDrain      = "llmprobe_sweep_step_drain_seconds"
	sweepErrorRatio = "llmprobe_sweep_step_error_ratio"
)

var (
	// soakSel selects the soaks' request series.
	soakSel = sel(`phase="soak"`, `target=~"$target"`, `model=~"$model"`, `name=~"$soak"`)
	// soakGaugeSel selects per-soak gauges (no model label).
	soakGaugeSel = sel(`target=~"$target"`, `name=~"$soak"`)
	// gpuSel selects every GPU of the chosen exporters.
	gpuSel = sel(`instance=~"$instance"`)
)

// step selects a sweep-step gauge per target, soak and step, without the
// labels (instance, job, the metric name) that would keep the table and
// chart transformations from merging one step's values into one row.
func step(metric string) string {
	return "max by (target, name, step) (" + metric + "{" + soakGaugeSel + "})"
}

func capacityDashboard() *Dashboard {
	vars := []*Variable{
		datasourceVar(),
		labelVar("target", "Target", "llmprobe_requests_total", "target", ""),
		labelVar("model", "Model", `llmprobe_requests_total{target=~"$target"}`, "model", ""),
		labelVar("soak", "Soak", `llmprobe_soak_running{target=~"$target"}`, "name", "Configured soaks, stress procedures (mode procedure) included (the name label)."),
		labelVar("instance", "GPU host", "llmprobe_gpu_up", "instance", "llmprobe exporters whose GPUs are shown."),
	}
	hide := []string{"target", "name"}

	throughputVsLatency := xychart("Achieved throughput vs p99 TTFT (last sweep)",
		"One point per step of the last sweep: where latency turns up while throughput stops growing is the server's knee. Choose one target and soak.",
		"achieved (req/s)", "p99 TTFT", "reqps", "s", hide,
		qi(step(sweepAchieved), ""), qi(step(sweepTTFTP99), ""))
	offeredVsErrors := xychart("Offered rate vs error ratio (last sweep)",
		"One point per step of the last sweep: the offered (open-loop) rate against the share of its requests that failed, dropped arrivals included.",
		"offered (req/s)", "error ratio", "reqps", "percentunit", hide,
		qi(step(sweepOffered), ""), qi(step(sweepErrorRatio), ""))
	steps := table("Last sweep steps",
		"Every step of the last sweep of each soak and target. Drain: from the step's last arrival to the end (or cut) of its last request.",
		16, map[string]string{"Value #A": "offered (req/s)", "Value #B": "achieved (req/s)", "Value #C": "p99 TTFT (s)", "Value #D": "error ratio", "Value #E": "drain (s)", "name": "soak"}, nil,
		needs(NeedSoak,
			qi(step(sweepOffered), ""),
			qi(step(sweepAchieved), ""),
			qi(step(sweepTTFTP99), ""),
			qi(step(sweepErrorRatio), ""),
			qi(step(sweepDrain), ""))...)
	detected := stat("Detected max throughput",
		"Highest offered rate of the last sweep at which achieved >= 95 % of offered, errors stayed within the configured ratio and the SLOs held.",
		"reqps", 8, needs(NeedSoak,
			q(`max by (target, name) (llmprobe_detected_max_throughput_requests_per_second{`+soakGaugeSel+`})`, "{{target}} {{name}} req/s"),
			q(`max by (target, name) (llmprobe_detected_max_throughput_output_tokens_per_second{`+soakGaugeSel+`})`, "{{target}} {{name}} output tok/s"))...)
	detected.FieldConfig.Overrides = []Override{{Matcher: Matcher{ID: "byFrameRefID", Options: "B"}, Properties: []Property{{ID: "unit", Value: "short"}}}}
	for _, t := range throughputVsLatency.Targets {
		t.Needs = NeedSoak
	}
	for _, t := range offeredVsErrors.Targets {
		t.Needs = NeedSoak
	}

	soakThroughput := rightAxis(timeseries("Soak throughput",
		"Successful requests and output tokens per second while soaks run.",
		"reqps", needs(NeedSoak,
			q(`sum by (target, name) (rate(llmprobe_requests_total{`+soakSel+`, result="success"}[$__rate_interval]))`, "req/s {{target}} {{name}}"),
			q(`sum by (target, name) (rate(llmprobe_output_tokens_total{`+soakSel+`}[$__rate_interval]))`, "output tok/s {{target}} {{name}}"))...),
		"B", "short")
	soakLatency := timeseries("Soak TTFT p50 / p99",
		"Time to first token under load (native histograms where scraped, else classic buckets).",
		"s", needs(NeedSoak,
			q(quantile(0.5, "llmprobe_time_to_first_token_seconds", soakSel, "target, name"), "p50 {{target}} {{name}}"),
			q(quantile(0.99, "llmprobe_time_to_first_token_seconds", soakSel, "target, name"), "p99 {{target}} {{name}}"))...)
	soakErrors := stacked(timeseries("Soak requests by result",
		"Soak requests per second by result class; everything but success is a failure of the run.",
		"reqps", needs(NeedSoak,
			q(`sum by (result) (rate(llmprobe_requests_total{`+soakSel+`}[$__rate_interval]))`, "{{result}}"))...))
	inFlight := rightAxis(timeseries("In-flight requests and running soaks",
		"Requests in flight per target (probes and soaks), and which soaks are running (right axis, 0 or 1).",
		"short",
		q(`sum by (target) (llmprobe_in_flight_requests{target=~"$target"})`, "in flight {{target}}"),
		needs(NeedSoak, q(`max by (target, name) (llmprobe_soak_running{`+soakGaugeSel+`})`, "running {{target}} {{name}}"))[0]),
		"B", "none")

	gpuUtil := rightAxis(timeseries("GPU utilization during soaks",
		"Share of time a kernel ran on each GPU, with the running soaks (right axis, 0 or 1) to line up load and utilization.",
		"percentunit",
		needs(NeedGPU, q(`llmprobe_gpu_utilization_ratio{`+gpuSel+`}`, "GPU {{gpu}} {{instance}}"))[0],
		needs(NeedSoak, q(`max by (name) (llmprobe_soak_running{`+soakGaugeSel+`})`, "running {{name}}"))[0]),
		"B", "none")
	vram := timeseries("VRAM during soaks",
		"Device memory used per GPU, with the installed total. Steady growth through a soak is a leak (see the VRAM alert).",
		"bytes", needs(NeedGPU,
			q(`llmprobe_gpu_memory_used_bytes{`+gpuSel+`}`, "used GPU {{gpu}} {{instance}}"),
			q(`llmprobe_gpu_memory_total_bytes{`+gpuSel+`}`, "total GPU {{gpu}} {{instance}}"))...)

	trend := rightAxis(timeseries("Detected max throughput over weeks",
		"The detected max throughput of every sweep over the last 8 weeks: a drop after a deploy or driver update is a capacity regression (see the alert).",
		"reqps", needs(NeedSoak,
			q(`max by (target, name) (llmprobe_detected_max_throughput_requests_per_second{`+soakGaugeSel+`})`, "req/s {{target}} {{name}}"),
			q(`max by (target, name) (llmprobe_detected_max_throughput_output_tokens_per_second{`+soakGaugeSel+`})`, "output tok/s {{target}} {{name}}"))...),
		"B", "short")
	trend.TimeFrom = "56d"
	lag := timeseries("Schedule lag p50 / p99 (is the client the bottleneck?)",
		"Actual minus scheduled start of open-loop arrivals. When it grows, llmprobe could not send on time: the client, not the server, limited the run.",
		"s", needs(NeedSoak,
			q(quantile(0.5, "llmprobe_schedule_lag_seconds", soakSel, "target, name"), "p50 {{target}} {{name}}"),
			q(quantile(0.99, "llmprobe_schedule_lag_seconds", soakSel, "target, name"), "p99 {{target}} {{name}}"))...)
	dropped := timeseries("Dropped arrivals",
		"Arrivals dropped because max_in_flight requests were already running, per second. They count as failures of the run.",
		"reqps", needs(NeedSoak,
			q(`sum by (target, name) (rate(llmprobe_dropped_arrivals_total{`+soakGaugeSel+`}[$__rate_interval]))`, "{{target}} {{name}}"))...)
	lastSoak := stat("Time since the last soak run",
		"Age of the last successful run and of the last run (successful or not) of each soak and target. A successful run completed, stayed within its error ratio and, for a sweep, found a max throughput.",
		"s", 12, needs(NeedSoak,
			q(`time() - max by (target, name) (llmprobe_soak_last_success_timestamp_seconds{`+soakGaugeSel+`} > 0)`, "last success {{target}} {{name}}"),
			q(`time() - max by (target, name) (llmprobe_soak_last_run_timestamp_seconds{`+soakGaugeSel+`} > 0)`, "last run {{target}} {{name}}"))...)
	lastSoak.FieldConfig.Defaults.Thresholds = thresholds("green", float64(2*86400), "orange")

	return newDashboard("llmprobe-capacity.json", "llmprobe-capacity", "llmprobe / Capacity and soaks",
		fmt.Sprintf("Sweeps and soaks: throughput against latency and errors across the last sweep's steps, %s, %s, detected max throughput over weeks, schedule lag and dropped arrivals.",
			"the last stress procedure's figures and verdicts", "the model servers' own view (metrics page up, client-server TTFT gap, queue-time share), GPU utilization and VRAM during the runs"),
		vars,
		row{title: "Last sweep", panels: []*Panel{throughputVsLatency, offeredVsErrors, steps, detected}},
		row{title: "Stress procedure", panels: procedurePanels()},
		row{title: "During soaks", panels: []*Panel{soakThroughput, soakLatency, soakErrors, inFlight}},
		row{title: "Server view", panels: serverPanels()},
		row{title: "GPU during soaks", panels: []*Panel{gpuUtil, vram}},
		row{title: "Trend and client health", panels: []*Panel{trend, lag, dropped, lastSoak}},
	)
}
