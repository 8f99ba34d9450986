package dashboards

import "fmt"

// probeSel selects the probes' request series (never the soaks', whose load
// would distort the SLOs).
var probeSel = sel(`phase="probe"`, `target=~"$target"`, `model=~"$model"`, `name=~"$probe"`)

// successRatio is the share of the probes' requests that succeeded over a
// window, per target. Requests the prober itself canceled (shutdown, reload)
// count neither way.
func successRatio(window string) string {
	return fmt.Sprintf(`sum by (target) (increase(llmprobe_requests_total{%s, result="success"}[%s]))
/
sum by (target) (increase(llmprobe_requests_total{%s, result!="canceled"}[%s]))`, probeSel, window, probeSel, window)
}

// burnRate is how fast the error budget is spent over a window: 1 spends it
// exactly in the SLO period.
func burnRate(window string) string {
	return fmt.Sprintf(`(
  1 - sum by (target) (rate(llmprobe_requests_total{%s, result="success"}[%s]))
    / sum by (target) (rate(llmprobe_requests_total{%s, result!="canceled"}[%s]))
) / (1 - $objective)`, probeSel, window, probeSel, window)
}

// ttftWithin is the share of successful probe requests whose TTFT was within
// the chosen threshold over 30 days: exact from the classic bucket whose
// boundary is the threshold (Prometheus 3 writes le="2.0", 2.x le="2"), else
// from the native histogram.
func ttftWithin(window string) string {
	return fmt.Sprintf(`sum by (target) (increase(llmprobe_time_to_first_token_seconds_bucket{%s, le=~"${ttft_slo}(\\.0)?"}[%s]))
/
sum by (target) (increase(llmprobe_time_to_first_token_seconds_count{%s}[%s]))
or
histogram_fraction(0, $ttft_slo, sum by (target) (increase(llmprobe_time_to_first_token_seconds{%s}[%s])))`,
		probeSel, window, probeSel, window, probeSel, window)
}

var latencyHistograms = []struct {
	title, metric, description string
}{
	{"Time to first token", "llmprobe_time_to_first_token_seconds",
		"Request written to the first streamed chunk carrying output (role-only chunks do not count). Successful probe requests only."},
	{"Inter-token latency", "llmprobe_inter_token_latency_seconds",
		"Every gap between output-carrying chunks after the first, one sample per gap (a gap over k tokens counts as k samples of gap/k)."},
	{"Time per output token", "llmprobe_time_per_output_token_seconds",
		"Per request: (end - first token) / (output tokens - 1), requests with at least two output tokens."},
	{"End-to-end latency", "llmprobe_request_duration_seconds",
		"Request written to stream end. Successful requests only: failures are in the requests panel."},
}

func sloDashboard() *Dashboard {
	vars := []*Variable{
		datasourceVar(),
		labelVar("target", "Target", "llmprobe_requests_total", "target", "Configured targets (the target's name, never its URL)."),
		labelVar("model", "Model", `llmprobe_requests_total{target=~"$target"}`, "model", ""),
		labelVar("probe", "Probe", `llmprobe_probe_success{target=~"$target"}`, "name", "Configured probes (the name label)."),
		customVar("objective", "Success objective", "Share of probe requests that must succeed over 30 days; the alert rules use 0.995.", "0.995",
			"0.99", "0.995", "0.999", "0.9995"),
		customVar("ttft_slo", "TTFT threshold (s)", "TTFT objective threshold in seconds. Exact when it is a classic bucket boundary: the defaults and every configured SLO are.", "2",
			"0.5", "1", "2", "3", "5"),
	}

	budget := bargauge("Error budget left (30 days)",
		"1 - (failed share / allowed failed share) over 30 days, per target. Below 0 the objective is missed.",
		"percentunit", 6, q(fmt.Sprintf("1 - (1 - (\n%s\n)) / (1 - $objective)", successRatio("30d")), "{{target}}"))
	budget.FieldConfig.Defaults.Min = ptr(0.0)
	budget.FieldConfig.Defaults.Max = ptr(1.0)
	budget.FieldConfig.Defaults.Thresholds = thresholds("red", 0.0, "orange", 0.25, "yellow", 0.5, "green")

	success := stat("Request success (30 days)",
		"Share of probe requests that succeeded over 30 days, per target (canceled requests left out).",
		"percentunit", 6, q(successRatio("30d"), "{{target}}"))
	success.FieldConfig.Defaults.Decimals = ptr(3)
	success.FieldConfig.Defaults.Thresholds = thresholds("red", 0.99, "orange", 0.995, "green")

	ttft := stat("TTFT within ${ttft_slo}s (30 days)",
		"Share of successful probe requests whose time to first token was within the threshold over 30 days.",
		"percentunit", 6, q(ttftWithin("30d"), "{{target}}"))
	ttft.FieldConfig.Defaults.Decimals = ptr(2)
	ttft.FieldConfig.Defaults.Thresholds = thresholds("red", 0.95, "orange", 0.99, "green")

	passing := stat("Probe runs passing (30 days)",
		"Share of time the last run of each probe had passed (every request succeeded and met the probe's SLOs).",
		"percentunit", 6, q(`avg by (target) (avg_over_time(llmprobe_probe_success{target=~"$target", name=~"$probe"}[30d]))`, "{{target}}"))
	passing.FieldConfig.Defaults.Decimals = ptr(2)
	passing.FieldConfig.Defaults.Thresholds = thresholds("red", 0.95, "orange", 0.99, "green")

	last := table("Last probe runs",
		"Result, age and duration of the last run of each probe against each target. Probes run on their schedule, not at scrape time: a growing age means the prober is stuck or down.",
		12, map[string]string{"Value #A": "passed", "Value #B": "age (s)", "Value #C": "duration (s)", "name": "probe"}, nil,
		qi(`max by (target, name) (llmprobe_probe_success{target=~"$target", name=~"$probe"})`, ""),
		qi(`time() - max by (target, name) (llmprobe_probe_last_timestamp_seconds{target=~"$target", name=~"$probe"})`, ""),
		qi(`max by (target, name) (llmprobe_probe_duration_seconds{target=~"$target", name=~"$probe"})`, ""))
	last.FieldConfig.Overrides = []Override{{
		Matcher: Matcher{ID: "byName", Options: "passed"},
		Properties: []Property{
			{ID: "mappings", Value: []ValueMapping{{Type: "value", Options: map[string]any{
				"0": map[string]any{"color": "red", "index": 0, "text": "FAIL"},
				"1": map[string]any{"color": "green", "index": 1, "text": "OK"},
			}}}},
			{ID: "custom.cellOptions", Value: map[string]any{"type": "color-background"}},
		},
	}}

	burn := thresholdLines(timeseries("Error budget burn rate",
		"Budget spent per unit of time over the last 1 h and 6 h: 1 spends the 30-day budget in 30 days. The dashed lines are the alerting burn rates (14.4 and 6 page, 3 and 1 open a ticket).",
		"none", q(burnRate("1h"), "1h {{target}}"), q(burnRate("6h"), "6h {{target}}")),
		thresholds("green", 1.0, "yellow", 3.0, "orange", 6.0, "red", 14.4, "dark-red"))

	var latency, classic []*Panel
	for _, h := range latencyHistograms {
		latency = append(latency, timeseries(h.title+" p50 / p90 / p99", h.description+" Native histograms where Prometheus scrapes them, else the classic buckets.",
			"s", quantiles(h.metric, probeSel, "target", "{{target}}", quantile)...))
		classic = append(classic, timeseries(h.title+" (classic buckets)", "The same quantiles from the classic buckets only, interpolated within buckets: compare with the native-histogram figures above.",
			"s", quantiles(h.metric, probeSel, "target", "{{target}}", classicQuantile)...))
	}

	requests := stacked(timeseries("Requests by result",
		"Probe requests per second by result class: success, http_4xx, http_429, http_5xx, timeout, connection, protocol, invalid_output (tool calls or structured output that failed their checks), canceled.",
		"reqps", q(`sum by (result) (rate(llmprobe_requests_total{`+probeSel+`}[$__rate_interval]))`, "{{result}}")))
	tokens := timeseries("Tokens per second",
		"Output and prompt tokens of successful probe requests per second, per target (the server's usage figures where it sends them).",
		"short",
		q(`sum by (target) (rate(llmprobe_output_tokens_total{`+probeSel+`}[$__rate_interval]))`, "output {{target}}"),
		q(`sum by (target) (rate(llmprobe_input_tokens_total{`+probeSel+`}[$__rate_interval]))`, "input {{target}}"))

	// What could make the measurements lie, next to the traffic: sends
	// repeated because the server closed a kept-alive connection (not
	// failures), and cold requests its prefix cache served anyway.
	honesty := timeseries("Connection retries and cold-cache hits",
		"Per target: requests sent again on a fresh connection because the server had closed the kept-alive one (not failures), and cold probe requests the server's prefix cache served beyond the chat template (their TTFT under-reports prefill; LLMProbeColdPromptsCached).",
		"short",
		q(`sum by (target) (increase(llmprobe_connection_retries_total{`+probeSel+`}[$__rate_interval]))`, "retries {{target}}"),
		q(`sum by (target) (increase(llmprobe_cold_cache_hits_total{`+probeSel+`}[$__rate_interval]))`, "cold hits {{target}}"))

	return newDashboard("llmprobe-slo.json", "llmprobe-slo", "llmprobe / SLO overview",
		"Probe success and latency objectives per target: 30-day success ratio and error budget, burn rate, TTFT/ITL/TPOT/E2E quantiles, requests by result and tokens per second.",
		vars,
		row{title: "Objectives (30 days)", panels: []*Panel{success, budget, ttft, passing}},
		row{title: "Now", panels: []*Panel{last, burn}},
		row{title: "Latency (probes)", panels: latency},
		row{title: "Traffic", panels: []*Panel{requests, tokens, honesty}},
		row{title: "Classic-bucket quantiles", collapsed: true, panels: classic},
	)
}
