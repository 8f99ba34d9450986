package cli

import (
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/llmprobe/llmprobe/archive"
	"github.com/llmprobe/llmprobe/daemon"
	engine "github.com/llmprobe/llmprobe/load"
)

var soakSection = template.Must(template.New("soaks").Funcs(template.FuncMap{
	"until": func(t time.Time) string {
		if t.IsZero() {
			return "on demand"
		}
		return "in " + time.Until(t).Round(time.Second).String()
	},
	"f1":   func(v float64) string { return fmt.Sprintf("%.1f", v) },
	"pct":  func(v float64) string { return fmt.Sprintf("%.1f %%", 100*v) },
	"dur":  func(d time.Duration) string { return d.Round(time.Second).String() },
	"when": func(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05") },
}).Parse(`
<h2>Soaks</h2>
<table id="soaks"><thead><tr><th>Soak</th><th>Target</th><th>Mode</th><th>State</th><th>Last run</th><th>Next run</th></tr></thead><tbody>
{{range .Soaks}}<tr class="soak" data-soak="{{.Soak}}" data-target="{{.Target}}"><td>{{.Soak}}</td><td>{{.Target}}</td><td>{{.Mode}}</td>
<td>{{if .Running}}{{with .Progress}}<span class="ok">running</span> {{.Phase}}, step {{.Step}}/{{.Steps}}, {{dur .Elapsed}}: {{.Sent}} sent, {{.Succeeded}} ok, {{.Failed}} failed, {{.InFlight}} in flight{{else}}<span class="ok">running</span>{{end}}{{else}}idle{{end}}</td>
<td>{{with .Last}}<a href="/api/v1/runs/{{.ID}}">{{.Status}}</a>{{if .Passed}} <span class="ok">passed</span>{{else}} <span class="fail">not passed</span>{{end}}{{else}}<span class="none">never</span>{{end}}</td>
<td>{{until .Next}}</td></tr>
{{else}}<tr><td colspan="6" class="none">No soaks configured.</td></tr>{{end}}
</tbody></table>
{{if .Sweep}}<h3>Last sweep: {{.SweepName}}</h3>{{.Sweep}}{{end}}
<h2>Recent runs</h2>
<table id="runs"><thead><tr><th>Started</th><th>Soak</th><th>Target</th><th>Mode</th><th>Status</th><th>Requests</th><th>Errors</th><th>Req/s</th><th>Output tok/s</th><th>Detected max</th><th></th></tr></thead><tbody>
{{range .Runs}}<tr><td>{{when .Started}}</td><td>{{.Name}}</td><td>{{.Target}}</td><td>{{.Mode}}</td><td>{{.Status}}</td><td>{{.Requests}}</td><td>{{pct .ErrorRatio}}</td><td>{{f1 .RequestThroughput}}</td><td>{{f1 .OutputThroughput}}</td><td>{{with .DetectedMax}}{{f1 .}} req/s{{else}}-{{end}}</td>
<td><a href="/api/v1/runs/{{.ID}}">result</a> · <a href="/api/v1/runs/{{.ID}}/timeline">timeline</a></td></tr>
{{else}}<tr><td colspan="11" class="none">No runs archived yet.</td></tr>{{end}}
</tbody></table>
`))

// soakSectionHTML renders the soaks part of the status page: soak states
// with live progress, the last sweep as a chart, and the recent runs.
func soakSectionHTML(s *daemon.Soaks, arch *archive.Archive) template.HTML {
	data := struct {
		Soaks     []daemon.SoakStatus
		Runs      []archive.Run
		Sweep     template.HTML
		SweepName string
	}{Soaks: s.Statuses()}
	runs, _ := arch.List()
	for _, r := range runs {
		if r.Mode == engine.ModeSweep {
			data.Sweep, data.SweepName = lastSweep.get(arch, r)
			break
		}
	}
	if len(runs) > 10 {
		runs = runs[:10]
	}
	data.Runs = runs
	var b strings.Builder
	if err := soakSection.Execute(&b, data); err != nil {
		return template.HTML(template.HTMLEscapeString(err.Error()))
	}
	return template.HTML(b.String()) //nolint:gosec // rendered by html/template above
}

// sweepChart remembers the chart of the last sweep, so that the status page
// reads and parses a run's result (megabytes with a long GPU timeline) once,
// not on every view.
type sweepChart struct {
	mu   sync.Mutex
	id   string // archive directory and run id
	svg  template.HTML
	name string
}

var lastSweep sweepChart

func (c *sweepChart) get(arch *archive.Archive, r archive.Run) (template.HTML, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := arch.Dir() + "/" + r.ID
	if c.id == key {
		return c.svg, c.name
	}
	b, err := arch.Result(r.ID)
	if err != nil {
		return "", ""
	}
	var res engine.Result
	if json.Unmarshal(b, &res) != nil {
		return "", ""
	}
	c.id, c.svg = key, sweepSVG(&res)
	c.name = fmt.Sprintf("%s on %s, %s", r.Name, r.Target, r.Started.Local().Format("2006-01-02 15:04"))
	return c.svg, c.name
}

// sweepSVG draws achieved throughput against p99 TTFT for a sweep's rate
// steps: the capacity curve whose knee is the endpoint's limit.
func sweepSVG(res *engine.Result) template.HTML {
	type pt struct{ x, y float64 }
	var pts []pt
	for _, st := range res.Steps {
		if st.Kind != engine.StepRate {
			continue
		}
		pts = append(pts, pt{st.AchievedRate, st.Summary.TTFT.P99})
	}
	if len(pts) == 0 {
		return ""
	}
	const w, h, l, b, r, t = 560.0, 260.0, 60.0, 40.0, 20.0, 15.0
	maxX, maxY := 0.0, 0.0
	for _, p := range pts {
		maxX, maxY = math.Max(maxX, p.x), math.Max(maxY, p.y)
	}
	maxX, maxY = niceCeil(maxX), niceCeil(maxY)
	sx := func(v float64) float64 { return l + v/maxX*(w-l-r) }
	sy := func(v float64) float64 { return h - b - v/maxY*(h-t-b) }
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg id="sweep-chart" xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" viewBox="0 0 %g %g" role="img" aria-label="achieved throughput vs p99 TTFT">`, w, h, w, h)
	fmt.Fprintf(&sb, `<rect x="%g" y="%g" width="%g" height="%g" fill="#fafbfd" stroke="#ccd"/>`, l, t, w-l-r, h-t-b)
	for i := 0; i <= 4; i++ {
		fx, fy := maxX*float64(i)/4, maxY*float64(i)/4
		fmt.Fprintf(&sb, `<text x="%.1f" y="%g" font-size="11" text-anchor="middle">%.3g</text>`, sx(fx), h-b+15, fx)
		fmt.Fprintf(&sb, `<text x="%g" y="%.1f" font-size="11" text-anchor="end">%.3g</text>`, l-5, sy(fy)+4, fy)
	}
	fmt.Fprintf(&sb, `<text x="%g" y="%g" font-size="12" text-anchor="middle">achieved throughput (req/s)</text>`, (l+w-r)/2, h-5)
	fmt.Fprintf(&sb, `<text x="14" y="%g" font-size="12" text-anchor="middle" transform="rotate(-90 14 %g)">p99 TTFT (ms)</text>`, (t+h-b)/2, (t+h-b)/2)
	sb.WriteString(`<polyline fill="none" stroke="#3b4a6b" stroke-width="2" points="`)
	for _, p := range pts {
		fmt.Fprintf(&sb, "%.1f,%.1f ", sx(p.x), sy(p.y))
	}
	sb.WriteString(`"/>`)
	for _, p := range pts {
		fmt.Fprintf(&sb, `<circle class="step" cx="%.1f" cy="%.1f" r="4" fill="#3b4a6b"><title>%.2f req/s, p99 TTFT %.1f ms</title></circle>`, sx(p.x), sy(p.y), p.x, p.y)
	}
	if m := res.DetectedMax; m != nil {
		fmt.Fprintf(&sb, `<line x1="%.1f" x2="%.1f" y1="%g" y2="%g" stroke="#177a2b" stroke-dasharray="4 3"/>`, sx(m.RequestsPerSecond), sx(m.RequestsPerSecond), t, h-b)
		fmt.Fprintf(&sb, `<text x="%.1f" y="%g" font-size="11" fill="#177a2b">detected max %.2f req/s</text>`, sx(m.RequestsPerSecond)+4, t+12, m.RequestsPerSecond)
	}
	sb.WriteString(`</svg>`)
	return template.HTML(sb.String()) //nolint:gosec // numbers only
}

// niceCeil rounds up to 1, 2 or 5 times a power of ten, for axis ends.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}
