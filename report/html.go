package report

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
)

// pageData is what the templates render: one procedure (Proc), or two
// side by side (Before, After, Compare).
type pageData struct {
	Title         string
	Proc          procView
	Before, After *procView
	Compare       comparison
	Charts        []chartView
	Version       string
	Generated     string
}

type comparison struct {
	Verdicts []verdictPair
	Numbers  []compareRow
}

type verdictPair struct {
	Label         string
	Before, After *verdictView
	Changed       bool
}

type compareRow struct {
	Label, Before, After, Diff, Class string
}

// direction says whether a bigger number is better (+1), worse (-1) or
// neither (0), by its unit.
func direction(unit string) int {
	switch unit {
	case "requests/s", "tokens/s", "VUs", "requests/s offered":
		return 1
	case "ms", "ms/min", "MiB/min", "%":
		return -1
	}
	return 0
}

func compareRows(a, b procView) comparison {
	var c comparison
	key := func(v verdictView) string { return v.Name + "\x00" + v.Where }
	idx := map[string]int{}
	for _, side := range []struct {
		vs    []verdictView
		after bool
	}{{a.Verdicts, false}, {b.Verdicts, true}} {
		for i := range side.vs {
			v := &side.vs[i]
			k := key(*v)
			j, ok := idx[k]
			if !ok {
				label := v.Label
				if v.Where != "" {
					label += " (" + v.Where + ")"
				}
				c.Verdicts = append(c.Verdicts, verdictPair{Label: label})
				j = len(c.Verdicts) - 1
				idx[k] = j
			}
			if side.after {
				c.Verdicts[j].After = v
			} else {
				c.Verdicts[j].Before = v
			}
		}
	}
	for i := range c.Verdicts {
		p := &c.Verdicts[i]
		p.Changed = p.Before == nil || p.After == nil || p.Before.Class != p.After.Class
	}
	for i, na := range a.Numbers {
		row := compareRow{Label: na.Label, Before: na.Value, After: "—"}
		if i < len(b.Numbers) && b.Numbers[i].Label == na.Label {
			nb := b.Numbers[i]
			row.After = nb.Value
			if na.known && nb.known {
				row.Diff, row.Class = diff(na.value, nb.value, na.unit)
			}
		}
		c.Numbers = append(c.Numbers, row)
	}
	return c
}

// diff says how much after differs from before, and whether that is
// better or worse.
func diff(before, after float64, unit string) (string, string) {
	d := after - before
	s := fmt.Sprintf("%s%s %s", sign(d), num(d), unit)
	if before != 0 {
		s += fmt.Sprintf(" (%s%s %%)", sign(d), num(100*d/math.Abs(before)))
	}
	class := ""
	if d != 0 {
		switch direction(unit) * int(math.Copysign(1, d)) {
		case 1:
			class = "better"
		case -1:
			class = "worse"
		}
	}
	return s, class
}

func sign(d float64) string {
	if d > 0 {
		return "+"
	}
	return ""
}

func writeTemplate(dir, name, tmpl string, data pageData) error {
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, tmpl, data); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := writeAtomic(dir, name, b.Bytes()); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

var templates = template.Must(template.New("").Parse(pageTemplates))

const pageTemplates = `
{{define "css"}}<style>
body{font-family:"Liberation Sans",Arial,Helvetica,sans-serif;margin:1.5em auto;max-width:1200px;padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.5em;margin:0 0 .3em}
h2{font-size:1.2em;margin:1.6em 0 .5em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.meta{color:#555;margin:.2em 0}
.badge{display:inline-block;min-width:5.5em;text-align:center;font-weight:bold;font-size:.85em;padding:.1em .5em;border-radius:.3em;color:#fff;margin-right:.5em}
.pass .badge,.badge.pass{background:#1a7f37}
.fail .badge,.badge.fail{background:#c62828}
.undecided .badge,.badge.undecided{background:#777}
.running .badge,.badge.running{background:#0b62a3}
.partial{background:#fff7d6;border:1px solid #e8d48a;padding:.5em .8em;border-radius:.3em}
ul.verdicts{list-style:none;padding:0}
ul.verdicts li{margin:.35em 0}
.value{color:#555}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f4f4f4}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.outcome td{background:#fafafa}
.note{color:#666;font-size:.9em}
figure.chart{margin:1em 0 2em}
figure.chart figcaption{color:#555;font-size:.9em;margin-top:.3em}
svg.chart-svg{max-width:100%;height:auto;border:1px solid #eee}
.nochart{border:1px dashed #bbb;padding:1.5em;color:#555;background:#fafafa}
.better{color:#1a7f37}.worse{color:#c62828}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:1.5em}
code{font-size:.9em}
</style>{{end}}

{{define "header"}}<div class="meta">target <b>{{.Target}}</b> · model <b>{{.Model}}</b>{{if .Kind}} · kind {{.Kind}}{{end}}{{if .Started}} · started {{.Started}}{{end}}{{if .Duration}} · took {{.Duration}}{{end}}</div>
<div class="meta">procedure <code>{{.ID}}</code>{{if .Workload}} · workload: {{.Workload}}{{end}}{{if .Scale}} · {{.Scale}}{{end}}</div>
<p class="status {{.StatusClass}}" data-status="{{.Status}}"><span class="badge">{{.Status}}</span>{{if .StopReason}}{{.StopReason}}{{end}}</p>
{{if .Partial}}<p class="partial" id="partial">{{.Partial}}</p>{{end}}{{end}}

{{define "verdict"}}<span class="badge">{{.Badge}}</span><b>{{.Label}}</b>{{if .Where}} ({{.Where}}){{end}}: {{.Summary}}{{if .Value}} <span class="value">[{{.Value}}]</span>{{end}}{{end}}

{{define "chart"}}<figure class="chart" id="chart-{{.ID}}" data-chart="{{.ID}}">
{{if .Empty}}<div class="nochart" data-empty="{{.ID}}"><b>{{.Title}}</b>: {{.Empty}}</div>
{{else}}{{.SVG}}{{end}}
<script type="application/json" data-chart="{{.ID}}">{{.Data}}</script>
{{if or .Note .PNG}}<figcaption>{{.Note}}{{if .PNG}} PNG: <a href="{{.PNG}}">{{.PNG}}</a>{{end}}</figcaption>{{end}}
</figure>{{end}}

{{define "report"}}<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>{{template "css"}}</head>
<body>
<h1>{{.Title}}</h1>
{{template "header" .Proc.Header}}
<h2 id="verdicts">Verdicts</h2>
{{if .Proc.Verdicts}}<ul class="verdicts">{{range .Proc.Verdicts}}<li class="verdict {{.Class}}" data-verdict="{{.Name}}">{{template "verdict" .}}</li>
{{end}}</ul>{{else}}<p class="note">No verdict yet.</p>{{end}}
<h2 id="numbers">Key numbers</h2>
<table class="numbers"><tbody>{{range .Proc.Numbers}}<tr><th>{{.Label}}</th><td class="num">{{.Value}}</td><td class="note">{{.Note}}</td></tr>
{{end}}</tbody></table>
<h2 id="charts">Charts</h2>
{{range .Charts}}{{template "chart" .}}
{{end}}
<h2 id="steps">Steps</h2>
<table class="steps"><thead><tr><th>step</th><th>run</th><th>load step</th><th>offered</th><th>achieved</th><th>served of sent</th><th>e2e p50 / p95 / p99 (ms)</th><th>TTFT p50 / p95 / p99 (ms)</th><th>errors</th><th>output tokens/s</th><th>note</th></tr></thead>
<tbody>{{range .Proc.Steps}}<tr class="outcome {{.Class}}" data-step="{{.Name}}"><td><b>{{.Name}}</b></td><td colspan="10"><span class="badge">{{.Status}}</span>{{.Why}}</td></tr>
{{range .Rows}}<tr><td></td><td><code>{{.Run}}</code></td><td>{{.Step}}</td><td class="num">{{.Offered}}</td><td class="num">{{.Achieved}}</td><td class="num">{{.Requests}}</td><td class="num">{{.E2E}}</td><td class="num">{{.TTFT}}</td><td class="num">{{.Errors}}</td><td class="num">{{.Tokens}}</td><td class="note">{{.Note}}</td></tr>
{{end}}{{end}}</tbody></table>
<h2 id="runs">Archived runs</h2>
{{if .Proc.Runs}}<table class="runs"><thead><tr><th>step</th><th>run ID</th><th>result JSON</th></tr></thead><tbody>
{{range .Proc.Runs}}<tr><td>{{.Step}}</td><td><code>{{.ID}}</code></td><td>{{if .Path}}{{if .Found}}<a href="{{.Path}}">{{.Path}}</a>{{else}}<code>{{.Path}}</code> (not found){{end}}{{else}}<span class="note">in the data directory as {{.ID}}.json</span>{{end}}</td></tr>
{{end}}</tbody></table>{{else}}<p class="note">No run archived yet.</p>{{end}}
<p class="note">procedure.json beside this file holds everything shown here; <code>llmprobe report {{.Proc.Header.ID}}</code> rebuilds this page. Generated by llmprobe {{.Version}} at {{.Generated}}.</p>
</body></html>
{{end}}

{{define "compare"}}<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>{{template "css"}}</head>
<body>
<h1>{{.Title}}</h1>
<div class="cols"><div data-side="before"><h2>Before: {{.Before.Header.ID}}</h2>{{template "header" .Before.Header}}</div>
<div data-side="after"><h2>After: {{.After.Header.ID}}</h2>{{template "header" .After.Header}}</div></div>
<h2 id="verdicts">Verdicts</h2>
<table class="verdicts"><thead><tr><th>verdict</th><th>before</th><th>after</th></tr></thead><tbody>
{{range .Compare.Verdicts}}<tr{{if .Changed}} class="changed"{{end}}><th>{{.Label}}{{if .Changed}} <span class="worse">changed</span>{{end}}</th>
<td{{with .Before}} class="{{.Class}}"{{end}}>{{with .Before}}<span class="badge">{{.Badge}}</span>{{.Summary}}{{else}}—{{end}}</td>
<td{{with .After}} class="{{.Class}}"{{end}}>{{with .After}}<span class="badge">{{.Badge}}</span>{{.Summary}}{{else}}—{{end}}</td></tr>
{{end}}</tbody></table>
<h2 id="numbers">Key numbers</h2>
<table class="numbers"><thead><tr><th></th><th>before</th><th>after</th><th>difference</th></tr></thead><tbody>
{{range .Compare.Numbers}}<tr><th>{{.Label}}</th><td class="num">{{.Before}}</td><td class="num">{{.After}}</td><td class="num {{.Class}}">{{.Diff}}</td></tr>
{{end}}</tbody></table>
<h2 id="charts">Charts</h2>
{{range .Charts}}{{template "chart" .}}
{{end}}
<p class="note">Each procedure's own report has every chart and step. Generated by llmprobe {{.Version}} at {{.Generated}}.</p>
</body></html>
{{end}}
`
