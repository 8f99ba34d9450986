// Package report renders a stress procedure (or a plain load run) as one
// self-contained HTML file — verdicts, key numbers, charts and a table of
// every step — with a PNG of each chart beside it for pasting into chat.
//
// The HTML loads nothing: its CSS is inline, its charts are inline SVG drawn
// with gonum.org/v1/plot, and each chart's plotted points are embedded as
// JSON (<script type="application/json" data-chart="ID">) so the picture
// can be checked against the procedure it came from. Every file is written
// atomically (a temporary file renamed into place), so the engine can call
// Write after each step and a reader never sees half a report.
//
// This package imports stress for the procedure's types; stress must not
// import it back: the command that runs a procedure hands report.Write to
// the engine as its after-step hook.
package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/common/version"

	"github.com/llmprobe/llmprobe/atomicfile"
	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/stress"
)

// File names in a report directory.
const (
	HTMLFile    = "report.html"
	CompareFile = "compare.html"
	tmpPrefix   = ".tmp-"
)

// Options are what a report needs beyond the procedure.
type Options struct {
	// DataDir is the llmprobe data directory holding the runs' result
	// JSONs (ID.json); the report lists their paths relative to itself.
	// Empty: when the report's directory is DATA/procedures/ID (the
	// engine's layout), DATA; else the paths are left out.
	DataDir string
}

// Write renders p into dir (created if needed): report.html and a PNG per
// chart drawn (ID.png). A partial procedure — still running, interrupted,
// stopped at a failed step — renders too, saying which steps did not run.
func Write(p *stress.Procedure, dir string) error { return Options{}.Write(p, dir) }

// WriteComparison renders two procedures side by side into dir:
// compare.html and its charts' PNGs (compare-ID.png).
func WriteComparison(before, after *stress.Procedure, dir string) error {
	return Options{}.WriteComparison(before, after, dir)
}

func (o Options) dataDir(dir string) string {
	if o.DataDir != "" {
		return o.DataDir
	}
	if parent := filepath.Dir(filepath.Clean(dir)); filepath.Base(parent) == "procedures" {
		return filepath.Dir(parent)
	}
	return ""
}

// Write is Write with options.
func (o Options) Write(p *stress.Procedure, dir string) error {
	if p == nil {
		return errors.New("report: no procedure")
	}
	if dir == "" {
		// The engine passes "" for a procedure it does not store: there
		// is no directory to put its report in, and the current one is
		// not it.
		return fmt.Errorf("report: procedure %s: no directory to write to", p.ID)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	cs, err := drawCharts(charts(p), dir, "")
	if err != nil {
		return err
	}
	pv := view(p, dir, o.dataDir(dir))
	data := pageData{Title: pageTitle(p), Proc: pv, Charts: cs, Version: version.Version, Generated: when(time.Now())}
	return writeTemplate(dir, HTMLFile, "report", data)
}

// WriteComparison is WriteComparison with options.
func (o Options) WriteComparison(before, after *stress.Procedure, dir string) error {
	if before == nil || after == nil {
		return errors.New("report: a comparison needs two procedures")
	}
	if dir == "" {
		return errors.New("report: no directory to write the comparison to")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	bl, al := "before", "after"
	cs := []Chart{
		overlay(ChartThroughputP99, "Throughput vs p99 latency: before and after", bl, throughputVsP99(before), al, throughputVsP99(after)),
		overlay(ChartRateErrors, "Request rate vs error rate: before and after", bl, rateVsErrors(before), al, rateVsErrors(after)),
	}
	drawn, err := drawCharts(cs, dir, "compare-")
	if err != nil {
		return err
	}
	bv := view(before, dir, o.dataDir(dir))
	av := view(after, dir, o.dataDir(dir))
	data := pageData{
		Title:   fmt.Sprintf("Comparison: %s vs %s", before.ID, after.ID),
		Before:  &bv,
		After:   &av,
		Compare: compareRows(bv, av),
		Charts:  drawn, Version: version.Version, Generated: when(time.Now()),
	}
	return writeTemplate(dir, CompareFile, "compare", data)
}

func pageTitle(p *stress.Procedure) string {
	what := "Stress procedure"
	if isRun(p) {
		what = "Load run"
	}
	id := p.ID
	if p.Name != "" && !strings.Contains(id, p.Name) {
		id = p.Name + " " + id // archive IDs hold the name already
	}
	return strings.TrimSpace(fmt.Sprintf("%s %s: %s · %s", what, id, p.Target, p.Model))
}

// overlay puts two procedures' versions of one chart in one: series and
// marks named by their procedure, coloured by it.
func overlay(id, title, la string, a Chart, lb string, b Chart) Chart {
	c := Chart{ID: id, Title: title, XLabel: a.XLabel, ZeroX: a.ZeroX}
	var notes []string
	for _, side := range []struct {
		label string
		c     Chart
	}{{la, a}, {lb, b}} {
		for i, pn := range side.c.Panels {
			for len(c.Panels) <= i {
				c.Panels = append(c.Panels, Panel{YLabel: pn.YLabel, ZeroY: pn.ZeroY})
			}
			for _, s := range pn.Series {
				s.Name = side.label + ": " + s.Name
				s.Group = side.label
				c.Panels[i].Series = append(c.Panels[i].Series, s)
			}
			for _, m := range pn.Marks {
				m.Name = side.label + ": " + m.Name
				c.Panels[i].Marks = append(c.Panels[i].Marks, m)
			}
		}
		if side.c.Empty != "" {
			notes = append(notes, side.label+": "+side.c.Empty)
		}
		if side.c.Note != "" {
			notes = append(notes, side.c.Note)
		}
	}
	c.Note = strings.Join(notes, " ")
	if c.points() == 0 {
		c.Empty = "neither procedure has data for this chart"
	}
	return c
}

// chartView is a chart on the page.
type chartView struct {
	Chart
	SVG  template.HTML
	Data template.JS
	PNG  string
}

// drawCharts renders the charts and writes their PNGs; a chart that cannot
// be drawn says why in its place rather than failing the report.
func drawCharts(cs []Chart, dir, prefix string) ([]chartView, error) {
	var out []chartView
	for i := range cs {
		c := &cs[i]
		c.round()
		png := prefix + c.ID + ".png"
		var r rendered
		if c.Empty == "" {
			var err error
			if r, err = render(c); err != nil {
				c.Empty = "could not be drawn: " + err.Error()
			}
		}
		data, err := json.Marshal(c)
		if err != nil {
			return nil, fmt.Errorf("report: chart %s: %w", c.ID, err)
		}
		cv := chartView{Chart: *c, Data: template.JS(data)}
		if c.Empty == "" {
			if err := writeAtomic(dir, png, r.PNG); err != nil {
				return nil, fmt.Errorf("report: %w", err)
			}
			cv.SVG, cv.PNG = template.HTML(r.SVG), png
		} else if err := os.Remove(filepath.Join(dir, png)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("report: %w", err) // a stale PNG would contradict the page
		}
		out = append(out, cv)
	}
	return out, nil
}

// writeAtomic writes name in dir whole or not at all (atomicfile), readable
// by a web server.
func writeAtomic(dir, name string, data []byte) error {
	return atomicfile.Write(filepath.Join(dir, name), data, 0o644)
}

// isRun reports whether p is a plain run wrapped by FromRun: its plan has
// one step that is not the procedure's.
func isRun(p *stress.Procedure) bool {
	return len(p.Plan.Steps) == 1 && !known(p.Plan.Steps[0])
}

// FromRun wraps a plain load run (a bench run's archived result) as a
// procedure of one step, so it gets the same report. The step is named
// after the run's mode ("run (sweep)").
func FromRun(res *load.Result) *stress.Procedure {
	step := "run (" + res.Mode + ")"
	p := &stress.Procedure{
		ID: res.ID, Name: res.Name, Target: res.Target, Model: res.Model, Kind: res.Kind,
		Passed: res.Passed, StopReason: res.StopReason, Started: res.Started, Ended: res.Ended,
		Plan:     stress.Plan{Steps: []string{step}},
		Workload: res.Context.Workload, SLO: res.Context.SLO,
	}
	switch res.Status {
	case load.StatusCompleted:
		p.Status = stress.StatusCompleted
	case load.StatusInterrupted:
		p.Status = stress.StatusInterrupted
	default:
		p.Status = res.Status
	}
	o := stress.StepOutcome{Step: step, Status: stress.OutcomePassed, Why: res.StopReason, Results: []*load.Result{res}, Started: res.Started, Ended: res.Ended}
	if res.ID != "" {
		o.RunIDs = []string{res.ID}
	}
	if !res.Passed {
		o.Status = stress.OutcomeFailed
	}
	p.Steps = []stress.StepOutcome{o}
	if res.DetectedMax != nil {
		p.Numbers.DetectedMaxRPS = res.DetectedMax.RequestsPerSecond
		p.Numbers.DetectedMaxTokensPerS = res.DetectedMax.OutputTokensPerSecond
	}
	return p
}
