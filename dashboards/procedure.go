package dashboards

// The stress procedure's figures (collector/procedure.go) and the verdicts
// of soaks and procedures (collector/verdicts.go), per target and soak (a
// soak with mode procedure runs the whole procedure). Set once when a run
// ends: the panels show the last run's values, and over time one step per
// run.

// procedureGauge selects a per-soak procedure gauge without instance and job.
func procedureGauge(metric string) string {
	return "max by (target, name) (" + metric + "{" + soakGaugeSel + "})"
}

// passedMapping shows 1 as passed and 0 as failed.
func passedMapping() []ValueMapping {
	return []ValueMapping{{Type: "value", Options: map[string]any{
		"0": map[string]any{"color": "red", "index": 0, "text": "FAILED"},
		"1": map[string]any{"color": "green", "index": 1, "text": "passed"},
	}}}
}

// unitOf sets the unit of the fields a query (by refId) returns.
func unitOf(refID, unit string) Override {
	return Override{Matcher: Matcher{ID: "byFrameRefID", Options: refID}, Properties: []Property{{ID: "unit", Value: unit}}}
}

func procedurePanels() []*Panel {
	last := stat("Last procedure",
		"Whether the last stress procedure of each soak and target passed (every step ran, no verdict failed), and how long ago it ended.",
		"none", 6, needs(NeedProcedure,
			q(procedureGauge("llmprobe_procedure_passed"), "{{target}} {{name}}"),
			q(`time() - `+procedureGauge("llmprobe_procedure_last_run_timestamp_seconds"), "ended ago {{target}} {{name}}"))...)
	last.FieldConfig.Overrides = []Override{
		{Matcher: Matcher{ID: "byFrameRefID", Options: "A"}, Properties: []Property{{ID: "mappings", Value: passedMapping()}}},
		unitOf("B", "s"),
	}

	detected := stat("Detected max now vs previous",
		"The last procedure's detected max throughput (its sweep step) beside the procedure's before it (from the archive; absent after the first procedure), the change between them (the capacity alert fires below -20 %), and the output tokens per second at the max.",
		"reqps", 10, needs(NeedProcedure,
			q(procedureGauge("llmprobe_procedure_detected_max_requests_per_second"), "now {{target}} {{name}}"),
			q(procedureGauge("llmprobe_procedure_previous_detected_max_requests_per_second"), "previous {{target}} {{name}}"),
			q(procedureGauge("llmprobe_procedure_detected_max_requests_per_second")+"\n/\n"+
				procedureGauge("llmprobe_procedure_previous_detected_max_requests_per_second")+" - 1", "change {{target}} {{name}}"),
			q(procedureGauge("llmprobe_procedure_detected_max_output_tokens_per_second"), "output tok/s now {{target}} {{name}}"))...)
	detected.FieldConfig.Overrides = []Override{
		{Matcher: Matcher{ID: "byFrameRefID", Options: "C"}, Properties: []Property{
			{ID: "unit", Value: "percentunit"},
			{ID: "thresholds", Value: thresholds("red", -0.2, "green")},
		}},
		unitOf("D", "short"),
	}

	knee := stat("Knee and saturation",
		"Knee: virtual users at which the coarse ladder first saw errors or a latency jump. Saturation: the lowest sweep rate the over-saturation test flagged (in-flight requests and TTFT both rising with 95 % confidence). Each is absent when the procedure found none.",
		"suffix: VUs", 4, needs(NeedProcedure,
			q(procedureGauge("llmprobe_procedure_knee_virtual_users"), "knee {{target}} {{name}}"),
			q(procedureGauge("llmprobe_procedure_saturation_requests_per_second"), "saturation {{target}} {{name}}"))...)
	knee.FieldConfig.Overrides = []Override{unitOf("B", "reqps")}

	soakP99 := stat("Soak p99",
		"End-to-end p99 latency of the procedure's long soak, run at its fraction (75 % by default) of the detected max.",
		"s", 4, needs(NeedProcedure,
			q(procedureGauge("llmprobe_procedure_soak_e2e_p99_seconds"), "{{target}} {{name}}"))...)

	drift := timeseries("Latency drift (ms/min)",
		"Slope of the median and p99 end-to-end latency over the procedure's validation and soak steps (the steepest of the two), in milliseconds per minute: the exported seconds per second times 60000. One step per procedure; the drift verdict (and its alert) decides whether a slope is significant.",
		"suffix: ms/min", needs(NeedProcedure,
			q("60000 * "+procedureGauge("llmprobe_procedure_p99_drift_seconds_per_second"), "p99 {{target}} {{name}}"),
			q("60000 * "+procedureGauge("llmprobe_procedure_p50_drift_seconds_per_second"), "p50 {{target}} {{name}}"))...)
	drift.TimeFrom = "56d"
	growth := timeseries("Memory growth (bytes/min)",
		"Slope of the local GPUs' used memory (NVML) and of the model server's resident memory (its metrics page) over the procedure's long soak, in bytes per minute: the exported bytes per second times 60. Flat is healthy; the growth verdicts (and the leak alert) decide.",
		"bytes", needs(NeedProcedure,
			// One query for both sources: a procedure measures VRAM only on
			// the GPU host and the server's memory only with a metrics page.
			q("60 * (\n"+
				`  label_replace(`+procedureGauge("llmprobe_procedure_vram_growth_bytes_per_second")+`, "memory", "VRAM", "", "")`+"\n  or\n"+
				`  label_replace(`+procedureGauge("llmprobe_procedure_server_memory_growth_bytes_per_second")+`, "memory", "server", "", "")`+"\n)",
				"{{memory}} per min {{target}} {{name}}"))...)
	growth.TimeFrom = "56d"

	verdict := func(metric string) string {
		return "max by (target, name, verdict) (" + metric + "{" + soakGaugeSel + "})"
	}
	verdicts := table("Verdicts of the last runs",
		"Every decided verdict of the last run of each soak and procedure: result and its key number (in the verdict's unit: sanity error ratio; knee users; saturation req/s; latency_drift ms/min; error_accumulation ratio/min; queue_growth requests/min; vram_growth bytes/min; server_memory_growth bytes/s; stuck_requests requests left; server_restart restarts; preemptions preemptions). Undecided verdicts (no data) are not listed. The run's report has each in words.",
		12, map[string]string{"Value #A": "result", "Value #B": "value", "name": "soak"}, nil,
		needs(NeedProcedure,
			qi(verdict("llmprobe_verdict_failed"), ""),
			qi(verdict("llmprobe_verdict_value"), ""))...)
	verdicts.FieldConfig.Defaults.Unit = "short"
	verdicts.FieldConfig.Overrides = []Override{{
		Matcher: Matcher{ID: "byName", Options: "result"},
		Properties: []Property{
			{ID: "mappings", Value: []ValueMapping{{Type: "value", Options: map[string]any{
				"0": map[string]any{"color": "green", "index": 0, "text": "passed"},
				"1": map[string]any{"color": "red", "index": 1, "text": "FAILED"},
			}}}},
			{ID: "custom.cellOptions", Value: map[string]any{"type": "color-background"}},
		},
	}}
	timeline := stateTimeline("Verdicts over time",
		"Each verdict of each soak and procedure, passed or failed, as its runs decided it (a run replaces the last run's verdicts when it ends).",
		"passed", "failed", needs(NeedProcedure,
			q(verdict("llmprobe_verdict_failed"), "{{name}} {{verdict}} {{target}}"))...)
	timeline.FieldConfig.Defaults.Unit = "none"

	return []*Panel{last, detected, knee, soakP99, drift, growth, verdicts, timeline}
}
