package web

import (
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/common/version"

	"github.com/llmprobe/llmprobe/archive"
	"github.com/llmprobe/llmprobe/daemon"
	"github.com/llmprobe/llmprobe/load"
)

//go:embed templates/*.html
var templates embed.FS

// The pages are parsed once, at start; they are constants, not state.
var (
	statusTemplate = template.Must(template.New("status.html").Funcs(template.FuncMap{
		"ms": func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) },
		"ago": func(t time.Time) string {
			if t.IsZero() {
				return "never"
			}
			return time.Since(t).Round(time.Second).String() + " ago"
		},
		"until": func(t time.Time) string {
			if t.IsZero() {
				return "-"
			}
			return "in " + time.Until(t).Round(time.Second).String()
		},
		"ttft": func(r *daemon.ProbeResult) string {
			var sum time.Duration
			n := 0
			for _, rec := range r.Records {
				if d, ok := rec.TTFT(); ok && rec.Success() {
					sum += d
					n++
				}
			}
			if n == 0 {
				return "-"
			}
			return fmt.Sprintf("%.1f ms", float64(sum)/float64(n)/1e6)
		},
		"e2e": func(r *daemon.ProbeResult) string {
			var sum time.Duration
			n := 0
			for _, rec := range r.Records {
				if rec.Success() {
					sum += rec.E2E()
					n++
				}
			}
			if n == 0 {
				return "-"
			}
			return fmt.Sprintf("%.1f ms", float64(sum)/float64(n)/1e6)
		},
	}).ParseFS(templates, "templates/status.html"))
	soakTemplate = template.Must(template.New("soaks.html").Funcs(template.FuncMap{
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
	}).ParseFS(templates, "templates/soaks.html"))
)

// statusJSON serves every probe's last result as JSON. Records carry no
// secrets: the API key lives only in the client.
func (h *handler) statusJSON(w http.ResponseWriter, _ *http.Request) {
	st := map[string]any{"probes": h.o.Daemon.Statuses()}
	if h.o.Shard != "" {
		st["shard"] = h.o.Shard // which of N daemons this is, and so why targets are missing
	}
	writeJSON(w, http.StatusOK, st)
}

// statusPageData is what the status page shows; Extra is HTML that other
// parts of the daemon (soaks) add.
type statusPageData struct {
	Version     string
	MetricsPath string
	Probes      []daemon.Status
	Links       []struct{ Address, Text string }
	Extra       template.HTML
}

func (h *handler) statusPage(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	data := statusPageData{Version: version.Info(), MetricsPath: h.o.MetricsPath, Probes: h.o.Daemon.Statuses()}
	if h.o.Soaks != nil {
		data.Extra = h.soakSection()
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := statusTemplate.Execute(w, data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// soakSectionHTML renders the soaks part of the status page: soak states
// with live progress, the last sweep as a chart, and the recent runs.
func (h *handler) soakSection() template.HTML {
	s, arch := h.o.Soaks, h.o.Archive
	data := struct {
		Soaks     []daemon.SoakStatus
		Runs      []archive.Run
		Sweep     template.HTML
		SweepName string
	}{Soaks: s.Statuses()}
	var runs []archive.Run
	if arch != nil {
		runs, _ = arch.List()
	}
	for _, r := range runs {
		if r.Mode == load.ModeSweep {
			data.Sweep, data.SweepName = h.sweep.get(arch, r)
			break
		}
	}
	if len(runs) > 10 {
		runs = runs[:10]
	}
	data.Runs = runs
	var b strings.Builder
	if err := soakTemplate.Execute(&b, data); err != nil {
		return template.HTML(template.HTMLEscapeString(err.Error()))
	}
	return template.HTML(b.String()) //nolint:gosec // rendered by html/template above
}

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
	var res load.Result
	if json.Unmarshal(b, &res) != nil {
		return "", ""
	}
	c.id, c.svg = key, sweepSVG(&res)
	c.name = fmt.Sprintf("%s on %s, %s", r.Name, r.Target, r.Started.Local().Format("2006-01-02 15:04"))
	return c.svg, c.name
}

// sweepSVG draws achieved throughput against p99 TTFT for a sweep's rate
// steps: the capacity curve whose knee is the endpoint's limit.
func sweepSVG(res *load.Result) template.HTML {
	type pt struct{ x, y float64 }
	var pts []pt
	for _, st := range res.Steps {
		if st.Kind != load.StepRate {
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
