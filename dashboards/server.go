package dashboards

// The scraper of the model servers' own metrics pages (collector/server.go):
// its health per target, and the two figures that need both sides, per
// probe and soak: the client's mean TTFT minus the server's, and the
// share of the client's TTFT the request spent queued on the server.

func serverPanels() []*Panel {
	serverSel := sel(`target=~"$target"`)
	both := sel(`target=~"$target"`, `model=~"$model"`)

	up := stateTimeline("Server metrics page up",
		"Whether llmprobe could read each target's own metrics page (metrics_url) the last time it tried: during soaks, bench runs and procedures every interval, and around each probe run. Targets without a page (metrics_url: none) are not listed.",
		"down", "up", needs(NeedServerMetrics,
			q(`max by (target) (llmprobe_server_metrics_up{`+serverSel+`})`, "{{target}}"))...)
	up.FieldConfig.Defaults.Unit = "none"
	up.FieldConfig.Defaults.Mappings = []ValueMapping{{Type: "value", Options: map[string]any{
		"0": map[string]any{"color": "red", "index": 0, "text": "down"},
		"1": map[string]any{"color": "green", "index": 1, "text": "up"},
	}}}
	scrape := rightAxis(timeseries("Server metrics scrapes: duration and failures",
		"How long the last read of each target's metrics page took, and failed reads per second by reason (right axis): http (a status other than 200), not_exposition (HTML, JSON...), too_large (past metrics_max_bytes), timeout, parse, connection. llmprobe's log says more.",
		"s", needs(NeedServerMetrics,
			q(`max by (target) (llmprobe_server_metrics_scrape_duration_seconds{`+serverSel+`})`, "duration {{target}}"),
			q(`sum by (target, reason) (rate(llmprobe_server_metrics_scrape_failures_total{`+serverSel+`}[$__rate_interval]))`, "failures/s {{reason}} {{target}}"))...),
		"B", "cps")

	gap := timeseries("TTFT gap: client − server",
		"Mean time to first token as llmprobe measured it minus the server's own mean TTFT, per probe and soak: what lies outside the server (network, proxies, gateways, the client). It should be small and steady; a growing gap with a flat server TTFT is in between.",
		"s", needs(NeedServerMetrics,
			q(`max by (target, model, phase, name) (llmprobe_server_ttft_gap_seconds{`+both+`})`, "{{phase}} {{name}} {{target}}"))...)
	queue := timeseries("Queue-time share of TTFT",
		"Share of the client's mean TTFT that requests spent waiting in the server's queue before prefill, per probe and soak. Near 0 below capacity; it rises past the knee, where requests queue and latency climbs.",
		"percentunit", needs(NeedServerMetrics,
			q(`max by (target, model, phase, name) (llmprobe_server_queue_time_share{`+both+`})`, "{{phase}} {{name}} {{target}}"))...)
	queue.FieldConfig.Defaults.Min = ptr(0.0)

	return []*Panel{up, scrape, gap, queue}
}
