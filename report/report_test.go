package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/stress"
)

var dataBlock = regexp.MustCompile(`(?s)<script type="application/json" data-chart="([^"]+)">(.*?)</script>`)

// chartData returns the charts embedded in a report page, by ID.
func chartData(t *testing.T, page string) map[string]Chart {
	t.Helper()
	out := map[string]Chart{}
	for _, m := range dataBlock.FindAllStringSubmatch(page, -1) {
		var c Chart
		if err := json.Unmarshal([]byte(m[2]), &c); err != nil {
			t.Fatalf("chart %s: data block: %v", m[1], err)
		}
		if c.ID != m[1] {
			t.Fatalf("data block %s holds chart %q", m[1], c.ID)
		}
		out[c.ID] = c
	}
	return out
}

// svgOf returns the inline SVG of chart id.
func svgOf(page, id string) string {
	i := strings.Index(page, `<svg id="svg-`+id+`"`)
	if i < 0 {
		return ""
	}
	j := strings.Index(page[i:], "</svg>")
	if j < 0 {
		return ""
	}
	return page[i : i+j+len("</svg>")]
}

// roundTrip stores p as the engine does and reads it back: the report is
// checked against the JSON, not against the values the fixture built.
func roundTrip(t *testing.T, p *stress.Procedure, dir string) *stress.Procedure {
	t.Helper()
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "procedure.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	var q stress.Procedure
	if err := json.Unmarshal(b, &q); err != nil {
		t.Fatal(err)
	}
	return &q
}

func writeReport(t *testing.T, p *stress.Procedure) (dir, page string) {
	t.Helper()
	dir = t.TempDir()
	q := roundTrip(t, p, dir)
	start := time.Now()
	if err := Write(q, dir); err != nil {
		t.Fatalf("Write: %v", err)
	}
	t.Logf("report built in %v", time.Since(start))
	b, err := os.ReadFile(filepath.Join(dir, HTMLFile))
	if err != nil {
		t.Fatal(err)
	}
	return dir, string(b)
}

// distinctColours counts the colours of an image, sampling every pixel.
func distinctColours(img image.Image) int {
	seen := map[[4]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[[4]uint32{r, g, bl, a}] = true
		}
	}
	return len(seen)
}

var allCharts = []string{ChartThroughputP99, ChartRateErrors, ChartGPU, ChartValidation, ChartSoak, ChartOfferedServed, ChartServerOverTime}

// axisLabels are the labels, with their units, each chart's SVG must show.
var axisLabels = map[string][]string{
	ChartThroughputP99:  {labelAchieved, labelP99},
	ChartRateErrors:     {labelOffered, labelErrors},
	ChartGPU:            {labelSinceStart, labelGPUUtil, labelVRAM},
	ChartValidation:     {labelSinceStep, labelLatency, labelInFlight, labelWindowError},
	ChartSoak:           {labelSinceStep, labelLatency, labelInFlight, labelWindowError},
	ChartOfferedServed:  {labelOffered, labelRate, labelWaitingMax},
	ChartServerOverTime: {labelSinceStart, labelTTFTP50, labelRequests, labelKV, labelServerMem},
}

func TestReportOfAFullProcedure(t *testing.T) {
	p := fullProcedure(4 * time.Hour)
	p.Steps[2].Results[0].Server.Verdicts = []load.Verdict{
		{Name: "server_restart", Failed: true, Summary: "the server restarted: 2 counters went backwards"},
		{Name: "preemptions", Summary: "0 preemptions"},
	}
	dir, page := writeReport(t, p)
	if !strings.Contains(page, `<b>Server restart</b> (sweep (server)): the server restarted`) || strings.Contains(page, "0 preemptions") {
		t.Error("a run's server verdicts: the failed one must show, the passing one not")
	}
	cs := chartData(t, page)
	for _, id := range allCharts {
		c, ok := cs[id]
		if !ok {
			t.Errorf("chart %s missing", id)
			continue
		}
		if c.Empty != "" {
			t.Errorf("chart %s not drawn: %s", id, c.Empty)
			continue
		}
		svg := svgOf(page, id)
		if svg == "" {
			t.Errorf("chart %s has no inline SVG", id)
		}
		for _, l := range axisLabels[id] {
			if !strings.Contains(svg, ">"+l+"<") {
				t.Errorf("chart %s: SVG lacks the axis label %q", id, l)
			}
		}
		f, err := os.Open(filepath.Join(dir, id+".png"))
		if err != nil {
			t.Errorf("chart %s: %v", id, err)
			continue
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Errorf("chart %s: PNG: %v", id, err)
			continue
		}
		if n := distinctColours(img); n < 20 {
			t.Errorf("chart %s: PNG has %d colours: blank?", id, n)
		}
	}
	// The verdicts come first, in words and numbers, each with its badge.
	if v, c := strings.Index(page, `id="verdicts"`), strings.Index(page, `id="charts"`); v < 0 || c < 0 || v > c {
		t.Errorf("verdicts (at %d) do not come before the charts (at %d)", v, c)
	}
	for _, want := range []string{
		`data-verdict="sanity"><span class="badge">PASS</span><b>Sanity check</b>`,
		`<li class="verdict fail" data-verdict="latency_drift"><span class="badge">FAIL</span><b>Latency drift</b> (soak)`,
		`p99 drifts: &#43;0.65 ms/min (95 % CI 0.61..0.69) <span class="value">[0.65 ms/min (95 % interval 0.61..0.69)]</span>`,
		`<span class="badge">UNDECIDED</span><b>VRAM growth</b>`,
		`<th>Knee (coarse ladder)</th><td class="num">16 VUs</td>`,
		`<th>p99 latency at 75 % of the max (soak)</th>`,
		`data-status="completed with failed verdicts"`,
		"20250301T100050.000Z_stress-soak_sim", // a run ID
		"over-saturated: in flight &#43;240 % and TTFT &#43;380 % over the step",
		`<tr class="outcome pass" data-step="sweep">`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(page, `id="partial"`) {
		t.Error("a completed procedure is called partial")
	}
	// The step table has a row per load step: 1 sanity, 4 ladder, 11
	// sweep, 5 fine, 1 validation, 1 soak.
	if n := strings.Count(page, "<tr><td></td><td><code>"); n != 23 {
		t.Errorf("step table has %d load-step rows, want 23", n)
	}
	// One file, loading nothing.
	for _, asset := range []string{"<link", `src="`, "@import", "url(", "http://", "https://"} {
		if i := strings.Index(page, asset); i >= 0 && !strings.Contains(page[max(0, i-200):i], "http://www.w3.org") && !strings.HasPrefix(page[i:], "http://www.w3.org") {
			t.Errorf("report refers to something outside itself: %q", page[max(0, i-40):min(len(page), i+60)])
		}
	}
	// A four-hour soak stays a small page: every line is downsampled.
	if len(page) > 3<<20 {
		t.Errorf("report is %d bytes", len(page))
	}
	for id, c := range cs {
		for _, pn := range c.Panels {
			for _, s := range pn.Series {
				if len(s.Points) > MaxLinePoints {
					t.Errorf("chart %s series %s: %d points", id, s.Name, len(s.Points))
				}
			}
		}
	}
	if !strings.Contains(cs[ChartGPU].Note, "downsampled") {
		t.Errorf("the GPU chart of a four-hour soak does not say it is downsampled: %q", cs[ChartGPU].Note)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, tmpPrefix+"*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

// near: the page keeps Precision significant digits.
func near(a, b float64) bool {
	return math.Abs(a-b) <= 1e-5*max(math.Abs(a), math.Abs(b))+1e-12
}

// sig rounds as the page does, for comparing sets of points exactly.
func sig(pts [][2]float64) [][2]float64 {
	out := make([][2]float64, len(pts))
	for i, p := range pts {
		for j := range 2 {
			out[i][j], _ = strconv.ParseFloat(strconv.FormatFloat(p[j], 'g', Precision, 64), 64)
		}
	}
	return out
}

func samePoints(t *testing.T, what string, got, want [][2]float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d points, want %d: %v vs %v", what, len(got), len(want), got, want)
		return
	}
	for i := range got {
		if !near(got[i][0], want[i][0]) || !near(got[i][1], want[i][1]) {
			t.Errorf("%s: point %d is %v, want %v", what, i, got[i], want[i])
		}
	}
}

func series(c Chart, panel int, name string) (Series, bool) {
	if panel >= len(c.Panels) {
		return Series{}, false
	}
	for _, s := range c.Panels[panel].Series {
		if s.Name == name {
			return s, true
		}
	}
	return Series{}, false
}

// allPoints joins the segments of a series split at gaps.
func allPoints(c Chart, panel int, name string) (pts [][2]float64, source int) {
	for _, s := range c.Panels[panel].Series {
		if s.Name == name {
			pts = append(pts, s.Points...)
			source += max(s.SourcePoints, len(s.Points))
		}
	}
	return pts, source
}

func sortX(pts [][2]float64) [][2]float64 {
	slices.SortStableFunc(pts, func(a, b [2]float64) int {
		if a[0] < b[0] {
			return -1
		}
		if a[0] > b[0] {
			return 1
		}
		return 0
	})
	return pts
}

// checkDownsampled: got is a downsampling of raw: within the bound, made
// of raw's points, with raw's extremes and ends.
func checkDownsampled(t *testing.T, what string, got [][2]float64, source int, raw [][2]float64) {
	t.Helper()
	raw = sig(sortX(raw))
	if len(raw) <= MaxLinePoints {
		samePoints(t, what, got, raw)
		return
	}
	if source != len(raw) {
		t.Errorf("%s: source_points %d, want %d", what, source, len(raw))
	}
	if len(got) > MaxLinePoints+100 || len(got) < MaxLinePoints/2 {
		t.Errorf("%s: %d points from %d", what, len(got), len(raw))
	}
	in := map[[2]float64]bool{}
	lo, hi := raw[0][1], raw[0][1]
	for _, p := range raw {
		in[p] = true
		lo, hi = min(lo, p[1]), max(hi, p[1])
	}
	glo, ghi := got[0][1], got[0][1]
	for _, p := range got {
		if !in[p] {
			t.Errorf("%s: point %v is not in the data", what, p)
			return
		}
		glo, ghi = min(glo, p[1]), max(ghi, p[1])
	}
	if glo != lo || ghi != hi {
		t.Errorf("%s: range %v..%v, data's %v..%v", what, glo, ghi, lo, hi)
	}
	if got[0] != raw[0] || got[len(got)-1] != raw[len(raw)-1] {
		t.Errorf("%s: ends %v..%v, data's %v..%v", what, got[0], got[len(got)-1], raw[0], raw[len(raw)-1])
	}
}

// checkChartsMatch recomputes every chart's points from the procedure
// (as read back from its JSON) and compares them with those the page
// embeds beside each SVG.
func checkChartsMatch(t *testing.T, p *stress.Procedure, cs map[string]Chart) {
	t.Helper()
	outcomeOf := func(name string) *stress.StepOutcome {
		for i := range p.Steps {
			if p.Steps[i].Step == name {
				return &p.Steps[i]
			}
		}
		t.Fatalf("procedure has no %s step", name)
		return nil
	}
	// Throughput vs p99: sweep rate steps, fine steps and the ladder.
	tp := cs[ChartThroughputP99]
	for _, c := range []struct {
		step, name string
		rateOnly   bool
	}{{stress.StepSweep, "sweep", true}, {stress.StepFine, "fine rates", false}, {stress.StepCoarse, "coarse (VU ladder)", false}} {
		var want [][2]float64
		for _, r := range outcomeOf(c.step).Results {
			for _, s := range r.Steps {
				if c.rateOnly && s.Kind != load.StepRate {
					continue
				}
				want = append(want, [2]float64{s.AchievedRate, s.Summary.E2E.P99})
			}
		}
		got, ok := series(tp, 0, c.name)
		if !ok {
			t.Errorf("throughput-vs-p99 has no %s series", c.name)
			continue
		}
		samePoints(t, "throughput-vs-p99 "+c.name, got.Points, sortX(want))
	}
	// Its marks: the detected max's step, the step over-saturation was
	// found at, and the first sweep step whose server queue grows.
	sw := outcomeOf(stress.StepSweep).Results[0]
	dm := sw.Steps[sw.DetectedMax.Step]
	var sat, queue *load.Step
	for i := range sw.Steps {
		s := &sw.Steps[i]
		if s.Kind == load.StepRate && s.OverSaturated && sat == nil {
			sat = s
		}
		if s.Kind == load.StepRate && queue == nil && s.Server.RequestsWaiting.Mean >= 1 {
			queue = s
		}
	}
	if sat == nil || queue == nil {
		t.Fatal("fixture has no saturated step or no growing queue")
	}
	marks := map[string]Mark{}
	for _, m := range tp.Panels[0].Marks {
		marks[strings.SplitN(m.Name, " (", 2)[0]] = m
	}
	for name, want := range map[string][2]float64{"detected max": {dm.AchievedRate, dm.Summary.E2E.P99}, "over-saturation": {sat.AchievedRate, sat.Summary.E2E.P99}} {
		m, ok := marks[name]
		if !ok || m.Y == nil || !near(m.X, want[0]) || !near(*m.Y, want[1]) {
			t.Errorf("throughput-vs-p99: mark %s is %+v, want at %v", name, m, want)
		}
	}
	if m, ok := marks["queue grows"]; !ok || !near(m.X, queue.AchievedRate) {
		t.Errorf("throughput-vs-p99: queue mark %+v, want at %v req/s", m, queue.AchievedRate)
	}
	// Rate vs errors: every step at its offered rate.
	re := cs[ChartRateErrors]
	for _, c := range []struct{ step, name string }{{stress.StepSanity, "sanity"}, {stress.StepSweep, "sweep"}, {stress.StepFine, "fine rates"}, {stress.StepSoak, "soak"}} {
		var want [][2]float64
		for _, r := range outcomeOf(c.step).Results {
			for _, s := range r.Steps {
				x := s.OfferedRate
				if x == 0 {
					x = s.ArrivalRate
				}
				want = append(want, [2]float64{x, 100 * s.Summary.ErrorRatio})
			}
		}
		got, ok := series(re, 0, c.name)
		if !ok {
			t.Errorf("rate-vs-errors has no %s series", c.name)
			continue
		}
		samePoints(t, "rate-vs-errors "+c.name, got.Points, sortX(want))
	}
	// GPU: every sample of every run on the procedure's clock.
	var util, vram [][2]float64
	for _, o := range p.Steps {
		for _, r := range o.Results {
			for _, smp := range r.GPU.Samples {
				x := smp.Time.Sub(p.Started).Seconds()
				util = append(util, [2]float64{x, 100 * smp.Devices[0].UtilizationRatio})
				vram = append(vram, [2]float64{x, float64(smp.Devices[0].MemoryUsedBytes) / (1 << 30)})
			}
		}
	}
	g := cs[ChartGPU]
	got, src := allPoints(g, 0, "GPU 0")
	checkDownsampled(t, "gpu utilization", got, src, util)
	got, src = allPoints(g, 1, "GPU 0 used")
	checkDownsampled(t, "gpu vram", got, src, vram)
	// Latency over time: the windows of the long steps, and the fit.
	for _, c := range []struct{ step, chart string }{{stress.StepValidation, ChartValidation}, {stress.StepSoak, ChartSoak}} {
		var p50, p99 [][2]float64
		for _, w := range outcomeOf(c.step).Series {
			p50 = append(p50, [2]float64{w.OffsetS + w.WidthS/2, w.E2EP50MS})
			p99 = append(p99, [2]float64{w.OffsetS + w.WidthS/2, w.E2EP99MS})
		}
		var fl [][2]float64
		for _, w := range outcomeOf(c.step).Series {
			fl = append(fl, [2]float64{w.OffsetS + w.WidthS/2, w.InFlight})
		}
		got, src := allPoints(cs[c.chart], 1, "in flight (client)")
		checkDownsampled(t, c.chart+" in flight", got, src, fl)
		got, src = allPoints(cs[c.chart], 0, "p50")
		checkDownsampled(t, c.chart+" p50", got, src, p50)
		got, src = allPoints(cs[c.chart], 0, "p99")
		checkDownsampled(t, c.chart+" p99", got, src, p99)
	}
	// The charts with a drift verdict draw the least-squares lines of the
	// windows, labelled with their slopes.
	for _, c := range []struct{ step, chart string }{{stress.StepValidation, ChartValidation}, {stress.StepSoak, ChartSoak}} {
		var fits []Series
		for _, s := range cs[c.chart].Panels[0].Series {
			if s.Dashed {
				fits = append(fits, s)
			}
		}
		if len(fits) != 2 {
			t.Errorf("%s: %d fitted lines, want 2", c.chart, len(fits))
			continue
		}
		ws := outcomeOf(c.step).Series
		for i, pick := range []func(stress.Window) float64{
			func(w stress.Window) float64 { return w.E2EP50MS },
			func(w stress.Window) float64 { return w.E2EP99MS },
		} {
			var n, sx, sy, sxx, sxy float64
			for _, w := range ws {
				x, y := w.OffsetS+w.WidthS/2, pick(w)
				n, sx, sy, sxx, sxy = n+1, sx+x, sy+y, sxx+x*x, sxy+x*y
			}
			slope := (n*sxy - sx*sy) / (n*sxx - sx*sx)
			icpt := (sy - slope*sx) / n
			name := fmt.Sprintf("%s fit (%+.2f ms/min)", []string{"p50", "p99"}[i], slope*60)
			f := fits[i]
			x0, x1 := ws[0].OffsetS+ws[0].WidthS/2, ws[len(ws)-1].OffsetS+ws[len(ws)-1].WidthS/2
			if f.Name != name || !near(f.Points[0][1], icpt+slope*x0) || !near(f.Points[1][1], icpt+slope*x1) {
				t.Errorf("%s: fit %q %v, want %q from %v to %v", c.chart, f.Name, f.Points, name, icpt+slope*x0, icpt+slope*x1)
			}
		}
	}
	// Offered vs served: every fixed-rate step of the sweep and the fine
	// rates, with the server's max waiting requests.
	var ach, wait [][2]float64
	for _, name := range []string{stress.StepSweep, stress.StepFine} {
		for _, s := range outcomeOf(name).Results[0].Steps {
			if s.Kind == load.StepRate {
				ach = append(ach, [2]float64{s.OfferedRate, s.AchievedRate})
				wait = append(wait, [2]float64{s.OfferedRate, s.Server.RequestsWaiting.Max})
			}
		}
	}
	ov := cs[ChartOfferedServed]
	if s, ok := series(ov, 0, "served (achieved)"); ok {
		samePoints(t, "offered-vs-served achieved", s.Points, sortX(ach))
	} else {
		t.Error("offered-vs-served has no achieved series")
	}
	if s, ok := series(ov, 1, "requests waiting (server)"); ok {
		samePoints(t, "offered-vs-served waiting", s.Points, sortX(wait))
	} else {
		t.Error("offered-vs-served has no server queue series")
	}
	// Server over time: the server's own waiting requests and KV usage.
	var waiting, kv [][2]float64
	for _, o := range p.Steps {
		for _, r := range o.Results {
			for _, pt := range r.Server.Timeline.Points {
				x := pt.Time.Sub(p.Started).Seconds()
				waiting = append(waiting, [2]float64{x, pt.Values["requests_waiting"]})
				kv = append(kv, [2]float64{x, 100 * pt.Values["kv_cache_usage_ratio"]})
			}
		}
	}
	so := cs[ChartServerOverTime]
	got, src = allPoints(so, 1, "waiting")
	checkDownsampled(t, "server waiting", got, src, waiting)
	got, src = allPoints(so, 2, "KV cache")
	checkDownsampled(t, "server kv", got, src, kv)
}

func TestChartDataMatchesProcedureJSON(t *testing.T) {
	for _, soak := range []time.Duration{10 * time.Minute, 4 * time.Hour} {
		t.Run(soak.String(), func(t *testing.T) {
			dir, page := writeReport(t, fullProcedure(soak))
			b, err := os.ReadFile(filepath.Join(dir, "procedure.json"))
			if err != nil {
				t.Fatal(err)
			}
			var p stress.Procedure
			if err := json.Unmarshal(b, &p); err != nil {
				t.Fatal(err)
			}
			checkChartsMatch(t, &p, chartData(t, page))
		})
	}
}

func TestDownsampleKeepsTheShape(t *testing.T) {
	var pts [][2]float64
	for i := range 10007 {
		pts = append(pts, [2]float64{float64(i), float64(i % 97)})
	}
	pts[5000][1] = 1e6 // one spike
	pts[7000][1] = -5  // one dip
	got, ok := downsample(pts, MaxLinePoints)
	if !ok {
		t.Fatal("10007 points not downsampled")
	}
	checkDownsampled(t, "spiky line", got, len(pts), pts)
	if !slices.IsSortedFunc(got, func(a, b [2]float64) int { return int(a[0] - b[0]) }) {
		t.Error("downsampled points out of order")
	}
	short := pts[:MaxLinePoints]
	if got, ok := downsample(short, MaxLinePoints); ok || len(got) != MaxLinePoints {
		t.Errorf("a line of %d points was changed to %d", MaxLinePoints, len(got))
	}
}

func TestPartialProcedureSaysWhatDidNotRun(t *testing.T) {
	full := fullProcedure(0)
	p := *full
	p.Steps = p.Steps[:2] // sanity and coarse ran
	p.Verdicts = nil      // the engine may fill the procedure's list only at the end
	p.Numbers = stress.Numbers{KneeVUs: 16, KneeFound: true}
	p.Status, p.Passed, p.Ended = stress.StatusRunning, false, time.Time{}
	for i := range p.Steps {
		for _, r := range p.Steps[i].Results {
			r.GPU = nil
		}
	}
	_, page := writeReport(t, &p)
	cs := chartData(t, page)
	for _, want := range []string{
		`<p class="partial" id="partial">This report is partial: sweep, fine, validation, soak (not run yet: the procedure is still running).</p>`,
		`<tr class="outcome undecided" data-step="sweep"><td><b>sweep</b></td><td colspan="10"><span class="badge">not run</span>`,
		`data-verdict="knee"`, // from the step, though the procedure's list is empty
		`<th>Detected max throughput</th><td class="num">—</td><td class="note">the sweep has not run</td>`,
		`data-status="running"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("partial report lacks %q", want)
		}
	}
	if c := cs[ChartGPU]; c.Empty != "no GPU samples (run on the GPU host to get them)" || svgOf(page, ChartGPU) != "" {
		t.Errorf("GPU chart without samples: %+v", c.Empty)
	}
	if !strings.Contains(page, `<div class="nochart" data-empty="gpu-over-time"><b>GPU utilization and VRAM over time</b>: no GPU samples (run on the GPU host to get them)</div>`) {
		t.Error("the GPU note is not on the page")
	}
	if c := cs[ChartValidation]; c.Empty != "the validation step has not run" {
		t.Errorf("validation chart: %q", c.Empty)
	}
	// The ladder is on the throughput chart already, with its knee.
	tp := cs[ChartThroughputP99]
	if tp.Empty != "" || len(tp.Panels[0].Marks) != 1 || tp.Panels[0].Marks[0].Name != "knee (16 VUs)" {
		t.Errorf("throughput chart of a partial procedure: %+v", tp)
	}
}

func TestInterruptedAndFailedProcedures(t *testing.T) {
	for _, c := range []struct {
		status, stop, want string
	}{
		{stress.StatusInterrupted, "", "not run: the procedure was interrupted (--resume continues it)"},
		{stress.StatusFailed, "sanity: 30 of 30 requests failed (connection refused)", "not run: the procedure stopped: sanity: 30 of 30 requests failed (connection refused)"},
	} {
		p := fullProcedure(0)
		p.Steps = p.Steps[:1]
		p.Status, p.StopReason = c.status, c.stop
		_, page := writeReport(t, p)
		if !strings.Contains(page, c.want) {
			t.Errorf("%s: page lacks %q", c.status, c.want)
		}
	}
}

func TestEmptyProcedureRenders(t *testing.T) {
	dir := t.TempDir()
	if err := Write(&stress.Procedure{}, dir); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, HTMLFile))
	page := string(b)
	if !strings.Contains(page, "No verdict yet.") || !strings.Contains(page, "This report is partial: sanity, coarse, sweep, fine, validation, soak") {
		t.Errorf("empty procedure page:\n%s", page)
	}
	if pngs, _ := filepath.Glob(filepath.Join(dir, "*.png")); len(pngs) != 0 {
		t.Errorf("charts drawn without data: %v", pngs)
	}
	if err := Write(nil, dir); err == nil {
		t.Error("Write(nil) succeeded")
	}
	if err := Write(&stress.Procedure{ID: "x"}, ""); err == nil || err.Error() != "report: procedure x: no directory to write to" {
		t.Errorf("Write without a directory: %v", err)
	}
}

func TestRewriteReplacesTheReport(t *testing.T) {
	p := fullProcedure(0)
	dir := t.TempDir()
	p.Steps[0].Results[0].GPU.Samples = p.Steps[0].Results[0].GPU.Samples[:3]
	if err := Write(p, dir); err != nil {
		t.Fatal(err)
	}
	// A later write without GPU samples must not leave the old chart's PNG
	// contradicting the page.
	for i := range p.Steps {
		for _, r := range p.Steps[i].Results {
			r.GPU = nil
		}
	}
	if err := Write(p, dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, ChartGPU+".png")); !os.IsNotExist(err) {
		t.Errorf("stale GPU PNG: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ChartThroughputP99+".png")); err != nil {
		t.Error(err)
	}
}

func TestReportOfAPlainRun(t *testing.T) {
	full := fullProcedure(0)
	res := full.Steps[2].Results[0] // the sweep, as bench archives it
	dir := t.TempDir()
	if err := Write(FromRun(res), dir); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, HTMLFile))
	page := string(b)
	cs := chartData(t, page)
	for _, want := range []string{"<h1>Load run " + res.ID + ": sim · sim-model</h1>", `data-step="run (sweep)"`, "<th>Detected max throughput</th>", "<th>Peak VRAM used (one GPU)</th>"} {
		if !strings.Contains(page, want) {
			t.Errorf("run report lacks %q", want)
		}
	}
	if strings.Contains(page, `id="partial"`) || strings.Contains(page, "validation") {
		t.Error("a plain run's report speaks of procedure steps")
	}
	s, ok := series(cs[ChartThroughputP99], 0, "run (sweep)")
	if !ok || len(s.Points) != len(res.Steps) {
		t.Errorf("run's throughput series: %+v", s)
	}
	if cs[ChartThroughputP99].Panels[0].Marks[0].Name != "detected max ("+num(res.DetectedMax.RequestsPerSecond)+" req/s offered)" {
		t.Errorf("marks: %+v", cs[ChartThroughputP99].Panels[0].Marks)
	}
}

func TestComparison(t *testing.T) {
	before := fullProcedure(0)
	after := fullProcedure(0)
	after.ID = "20250308T100000.000Z_stress_sim"
	// After the change the server is slower: every rate served 20 % less
	// and the knee came one ladder step earlier.
	for i := range after.Steps {
		for _, r := range after.Steps[i].Results {
			for j := range r.Steps {
				r.Steps[j].AchievedRate *= 0.8
			}
		}
	}
	after.Numbers.DetectedMaxRPS *= 0.8
	after.Numbers.KneeVUs = 8
	after.Verdicts[1] = load.Verdict{Name: "knee", Failed: true, Summary: "knee at 8 VUs"}
	dir := t.TempDir()
	if err := WriteComparison(before, after, dir); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, CompareFile))
	page := string(b)
	cs := chartData(t, page)
	if len(cs) != 2 {
		t.Fatalf("comparison has %d charts, want 2", len(cs))
	}
	for _, id := range []string{ChartThroughputP99, ChartRateErrors} {
		if _, err := os.Stat(filepath.Join(dir, "compare-"+id+".png")); err != nil {
			t.Error(err)
		}
	}
	bs, ok1 := series(cs[ChartThroughputP99], 0, "before: sweep")
	as, ok2 := series(cs[ChartThroughputP99], 0, "after: sweep")
	if !ok1 || !ok2 || len(bs.Points) != len(as.Points) || !near(as.Points[0][0], bs.Points[0][0]*0.8) {
		t.Errorf("overlaid sweeps: %v / %v", bs.Points, as.Points)
	}
	if bs.Group == as.Group {
		t.Error("before and after share a colour")
	}
	want := "<th>Detected max throughput</th><td class=\"num\">" + num(before.Numbers.DetectedMaxRPS) + " requests/s</td><td class=\"num\">" + num(after.Numbers.DetectedMaxRPS) + " requests/s</td><td class=\"num worse\">"
	if !strings.Contains(page, want) {
		t.Errorf("comparison lacks %q", want)
	}
	if !strings.Contains(page, `<td class="num worse">-8 VUs (-50 %)</td>`) {
		t.Error("the knee's difference is not shown as worse")
	}
	if !strings.Contains(page, `<th>Coarse limit (knee) <span class="worse">changed</span></th>`) {
		t.Error("the knee verdict's change is not flagged")
	}
}

// TestHostileProcedures: values a corrupt or hand-edited procedure.json can
// hold render (or fail with an error), never crash.
func TestHostileProcedures(t *testing.T) {
	for name, edit := range map[string]func(p *stress.Procedure){
		"nil results": func(p *stress.Procedure) {
			p.Steps[1].Results = []*load.Result{nil, nil}
		},
		"huge values": func(p *stress.Procedure) {
			s := &p.Steps[2].Results[0].Steps[3]
			s.AchievedRate, s.Summary.E2E.P99, s.Summary.ErrorRatio = 1e308, 1.7e308, -1e308
		},
		"samples out of order and far apart": func(p *stress.Procedure) {
			g := p.Steps[0].Results[0].GPU.Samples
			g[0].Time = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
			g[1].Time = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
			g[2].Devices = nil
		},
		"empty timelines": func(p *stress.Procedure) {
			for _, r := range p.Steps[3].Results {
				r.Server.Timeline.Points = nil
				r.Steps = nil
			}
		},
		"odd windows": func(p *stress.Procedure) {
			p.Steps[4].Series = append(p.Steps[4].Series, stress.Window{OffsetS: -1e300, WidthS: 1e300, Requests: -5, Failed: 7})
		},
		"unknown step and status": func(p *stress.Procedure) {
			p.Steps[0].Step, p.Status, p.Steps[0].Status = "<script>alert(1)</script>", "weird", "odd"
		},
	} {
		t.Run(name, func(t *testing.T) {
			p := fullProcedure(0)
			edit(p)
			dir := t.TempDir()
			if err := Write(p, dir); err != nil {
				t.Logf("Write: %v", err)
			}
			b, _ := os.ReadFile(filepath.Join(dir, HTMLFile))
			if bytes.Contains(b, []byte("<script>alert")) {
				t.Error("a step name reached the page unescaped")
			}
		})
	}
}

func FuzzWriteProcedureJSON(f *testing.F) {
	b, _ := json.Marshal(fullProcedure(0))
	f.Add(b)
	f.Add([]byte(`{"steps":[{"step":"sweep","results":[{"mode":"sweep","steps":[{"kind":"rate","offered_rate":1e308,"achieved_rate":-1}],"detected_max_throughput":{"step":99}}]}],"numbers":{"saturation_rps":-3}}`))
	f.Add([]byte(`{"steps":[{"step":"soak","series":[{"offset_s":1e308,"width_s":1e308,"requests":1}],"verdicts":[{"name":"latency_drift"}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var p stress.Procedure
		if json.Unmarshal(data, &p) != nil {
			return
		}
		dir := t.TempDir()
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = Write(&p, dir) // an error is fine; a panic or a hang is not
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("Write has not returned after 10 s")
		}
	})
}

// An undecided growth verdict (too few samples) shows no figure: 0 would
// read as "measured flat".
func TestUndecidedGrowthShowsNoFigure(t *testing.T) {
	p := fullProcedure(10 * time.Minute)
	p.Numbers.ServerMemPerMin = 0
	p.Verdicts = append(p.Verdicts, load.Verdict{Name: load.VerdictServerMemoryGrowth, Undecided: true,
		Summary: "only 7 scrapes of resident memory during the run (at least 10 needed)"})
	_, page := writeReport(t, p)
	if strings.Contains(page, "0 MiB/min") || !strings.Contains(page, "only 7 scrapes of resident memory") {
		t.Errorf("an undecided server memory growth must give its reason, not 0 MiB/min")
	}
	p.Verdicts[len(p.Verdicts)-1] = load.Verdict{Name: load.VerdictServerMemoryGrowth, Summary: "flat", Value: 0}
	p.Numbers.ServerMemPerMin = 3 << 20
	_, page = writeReport(t, p)
	if !strings.Contains(page, "3 MiB/min") {
		t.Errorf("a decided server memory growth must show its figure")
	}
}
