package report

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/stats"
	"github.com/llmprobe/llmprobe/stress"
)

// Chart IDs: the data-chart attribute of each chart in the HTML and the
// name of its PNG (ID + ".png").
const (
	ChartThroughputP99  = "throughput-vs-p99"
	ChartRateErrors     = "rate-vs-errors"
	ChartGPU            = "gpu-over-time"
	ChartValidation     = "latency-validation"
	ChartSoak           = "latency-soak"
	ChartOfferedServed  = "offered-vs-served"
	ChartServerOverTime = "server-over-time"
)

// Axis labels, each with its unit.
const (
	labelAchieved    = "achieved throughput (requests/s)"
	labelOffered     = "offered rate (requests/s)"
	labelP99         = "p99 end-to-end latency (ms)"
	labelErrors      = "error ratio (%)"
	labelSinceStart  = "time (s since start)"
	labelSinceStep   = "time (s since step start)"
	labelLatency     = "end-to-end latency (ms)"
	labelGPUUtil     = "GPU utilization (%)"
	labelVRAM        = "VRAM used (GiB)"
	labelRate        = "rate (requests/s)"
	labelWaitingMax  = "server queue, max waiting (requests)"
	labelTTFTP50     = "TTFT p50 (ms)"
	labelRequests    = "server requests (requests)"
	labelKV          = "KV cache usage (%)"
	labelServerMem   = "server resident memory (GiB)"
	labelWindowError = "errors per window (%)"
	labelInFlight    = "mean requests in flight (requests)"
)

// queueGrowing is the mean of the server's waiting requests over a step
// from which the queue counts as growing: below capacity arrivals that
// find every slot busy wait a moment, so a max of one says little; a mean
// of one request always waiting does not happen below capacity.
const queueGrowing = 1.0

const gib = 1 << 30

// charts builds every chart of a procedure, in the report's order.
func charts(p *stress.Procedure) []Chart {
	cs := []Chart{throughputVsP99(p), rateVsErrors(p), gpuOverTime(p)}
	for _, step := range []string{stress.StepValidation, stress.StepSoak} {
		if selected(p, step) {
			cs = append(cs, latencyOverTime(p, step))
		}
	}
	cs = append(cs, offeredVsServed(p))
	cs = append(cs, serverOverTime(p))
	return cs
}

// selected reports whether the procedure's plan runs step.
func selected(p *stress.Procedure, step string) bool {
	if len(p.Plan.Steps) == 0 {
		return slices.Contains(stress.Steps, step)
	}
	return slices.Contains(p.Plan.Steps, step)
}

// known reports whether step is one of the procedure's own steps (not a
// plain run wrapped by FromRun).
func known(step string) bool { return slices.Contains(stress.Steps, step) }

// rateSteps returns the load steps of an outcome that sit on the
// throughput-vs-latency curve: the sweep's rate steps (not its throughput
// phase), every fine step, the coarse ladder's VU steps, and every step of
// a wrapped run.
func rateSteps(o *stress.StepOutcome) []*load.Step {
	var out []*load.Step
	for _, r := range o.Results {
		if r == nil {
			continue
		}
		for i := range r.Steps {
			s := &r.Steps[i]
			switch o.Step {
			case stress.StepSweep:
				if s.Kind != load.StepRate {
					continue
				}
			case stress.StepFine, stress.StepCoarse:
			default:
				if known(o.Step) {
					continue
				}
			}
			out = append(out, s)
		}
	}
	return out
}

// offered is the rate a step offered: its configured rate, or for
// virtual users the rate at which they issued requests.
func offered(s *load.Step) float64 {
	if s.OfferedRate > 0 {
		return s.OfferedRate
	}
	return s.ArrivalRate
}

func byX(pts [][2]float64) {
	slices.SortStableFunc(pts, func(a, b [2]float64) int { return cmp.Compare(a[0], b[0]) })
}

// points builds a series of a few points (one per step: never downsampled).
func points(name string, pts [][2]float64, joined bool) Series {
	pts = slices.DeleteFunc(pts, func(p [2]float64) bool { return !finite(p[0], p[1]) })
	if pts == nil {
		pts = [][2]float64{}
	}
	byX(pts)
	return Series{Name: name, Line: joined, Glyphs: true, Points: pts}
}

func outcome(p *stress.Procedure, step string) *stress.StepOutcome {
	for i := range p.Steps {
		if p.Steps[i].Step == step {
			return &p.Steps[i]
		}
	}
	return nil
}

// sweepSteps returns the sweep's rate steps in offered order.
func sweepSteps(p *stress.Procedure) []*load.Step {
	o := outcome(p, stress.StepSweep)
	if o == nil {
		return nil
	}
	ss := rateSteps(o)
	slices.SortStableFunc(ss, func(a, b *load.Step) int { return cmp.Compare(a.OfferedRate, b.OfferedRate) })
	return ss
}

// queueGrowsAt returns the first sweep rate step whose server queue grows
// (mean waiting >= queueGrowing): the knee seen from inside the server.
func queueGrowsAt(p *stress.Procedure) *load.Step {
	for _, s := range sweepSteps(p) {
		if s.Server != nil && s.Server.RequestsWaiting != nil && s.Server.RequestsWaiting.Mean >= queueGrowing {
			return s
		}
	}
	return nil
}

// saturationStep returns the sweep step the over-saturation test flagged:
// the first marked OverSaturated, else the one at Numbers.SaturationRPS
// (its offered rate) for procedures stored before steps were marked.
func saturationStep(p *stress.Procedure) *load.Step {
	steps := sweepSteps(p)
	for _, s := range steps {
		if s.OverSaturated {
			return s
		}
	}
	rps := p.Numbers.SaturationRPS
	if rps <= 0 {
		return nil
	}
	var best *load.Step
	for _, s := range steps {
		if best == nil || math.Abs(s.OfferedRate-rps) < math.Abs(best.OfferedRate-rps) {
			best = s
		}
	}
	if best == nil || math.Abs(best.OfferedRate-rps) > 0.02*rps {
		return nil // no step at that rate: the mark would point at another one
	}
	return best
}

// detectedMax returns the sweep's detected max and its step, when known.
func detectedMax(p *stress.Procedure) (*load.Throughput, *load.Step) {
	for i := range p.Steps {
		o := &p.Steps[i]
		if o.Step != stress.StepSweep && known(o.Step) {
			continue
		}
		for _, r := range o.Results {
			if r == nil || r.DetectedMax == nil {
				continue
			}
			for j := range r.Steps {
				if r.Steps[j].Index == r.DetectedMax.Step {
					return r.DetectedMax, &r.Steps[j]
				}
			}
			return r.DetectedMax, nil
		}
	}
	return nil, nil
}

func kneeStep(p *stress.Procedure) *load.Step {
	if !p.Numbers.KneeFound {
		return nil
	}
	o := outcome(p, stress.StepCoarse)
	if o == nil {
		return nil
	}
	for _, s := range rateSteps(o) {
		if s.VUs == p.Numbers.KneeVUs {
			return s
		}
	}
	return nil
}

func stepLabel(step string) string {
	switch step {
	case stress.StepCoarse:
		return "coarse (VU ladder)"
	case stress.StepSweep:
		return "sweep"
	case stress.StepFine:
		return "fine rates"
	}
	return step
}

func throughputVsP99(p *stress.Procedure) Chart {
	c := Chart{ID: ChartThroughputP99, Title: "Throughput vs p99 latency", XLabel: labelAchieved, ZeroX: true}
	panel := Panel{YLabel: labelP99, ZeroY: true}
	for _, step := range orderedSteps(p) {
		o := outcome(p, step)
		if o == nil {
			continue
		}
		var pts [][2]float64
		for _, s := range rateSteps(o) {
			if s.Summary.Successful == 0 {
				continue // no latency to place; the table shows its errors
			}
			pts = append(pts, [2]float64{s.AchievedRate, s.Summary.E2E.P99})
		}
		if len(pts) > 0 {
			panel.Series = append(panel.Series, points(stepLabel(step), pts, step != stress.StepFine))
		}
	}
	if dm, s := detectedMax(p); dm != nil && s != nil && s.Summary.Successful > 0 {
		panel.Marks = append(panel.Marks, Mark{Name: fmt.Sprintf("detected max (%s req/s offered)", num(dm.RequestsPerSecond)), X: s.AchievedRate, Y: ptr(s.Summary.E2E.P99)})
	} else if p.Numbers.DetectedMaxRPS > 0 {
		panel.Marks = append(panel.Marks, Mark{Name: fmt.Sprintf("detected max (%s req/s offered)", num(p.Numbers.DetectedMaxRPS)), X: p.Numbers.DetectedMaxRPS})
	}
	if s := saturationStep(p); s != nil && s.Summary.Successful > 0 {
		panel.Marks = append(panel.Marks, Mark{Name: fmt.Sprintf("over-saturation (%s req/s offered)", num(s.OfferedRate)), X: s.AchievedRate, Y: ptr(s.Summary.E2E.P99)})
	} else if s := kneeStep(p); s != nil && s.Summary.Successful > 0 {
		panel.Marks = append(panel.Marks, Mark{Name: fmt.Sprintf("knee (%d VUs)", s.VUs), X: s.AchievedRate, Y: ptr(s.Summary.E2E.P99)})
	}
	if s := queueGrowsAt(p); s != nil {
		panel.Marks = append(panel.Marks, Mark{Name: "queue grows", X: s.AchievedRate})
		c.Note = fmt.Sprintf("The server's queue grows from the sweep step at %s req/s offered (%s requests waiting on average, %s at most).",
			num(s.OfferedRate), num(s.Server.RequestsWaiting.Mean), num(s.Server.RequestsWaiting.Max))
	}
	c.Panels = []Panel{panel}
	if len(panel.Series) == 0 {
		c.Empty = "no sweep, fine-rate or ladder step served a request yet"
	}
	return c
}

func rateVsErrors(p *stress.Procedure) Chart {
	c := Chart{ID: ChartRateErrors, Title: "Request rate vs error rate", XLabel: labelOffered, ZeroX: true}
	panel := Panel{YLabel: labelErrors, ZeroY: true}
	vus := false
	for _, step := range orderedSteps(p) {
		o := outcome(p, step)
		if o == nil {
			continue
		}
		var pts [][2]float64
		for _, r := range o.Results {
			if r == nil {
				continue
			}
			for i := range r.Steps {
				s := &r.Steps[i]
				if s.Summary.Requests+s.Summary.Dropped == 0 {
					continue
				}
				if s.OfferedRate <= 0 {
					vus = true
				}
				pts = append(pts, [2]float64{offered(s), s.Summary.ErrorRatio * 100})
			}
		}
		if len(pts) > 0 {
			panel.Series = append(panel.Series, points(stepLabel(step), pts, step == stress.StepSweep || step == stress.StepCoarse))
		}
	}
	if p.Numbers.DetectedMaxRPS > 0 {
		panel.Marks = append(panel.Marks, Mark{Name: "detected max", X: p.Numbers.DetectedMaxRPS})
	}
	if p.Numbers.SaturationRPS > 0 {
		panel.Marks = append(panel.Marks, Mark{Name: "over-saturation", X: p.Numbers.SaturationRPS})
	}
	c.Panels = []Panel{panel}
	if vus {
		c.Note = "Virtual-user steps (no configured rate) stand at the rate their users issued requests."
	}
	if len(panel.Series) == 0 {
		c.Empty = "no step sent a request yet"
	}
	return c
}

// origin is the procedure's clock zero.
func origin(p *stress.Procedure) time.Time {
	if !p.Started.IsZero() {
		return p.Started
	}
	var t time.Time
	for i := range p.Steps {
		for _, r := range p.Steps[i].Results {
			if r != nil && !r.Started.IsZero() && (t.IsZero() || r.Started.Before(t)) {
				t = r.Started
			}
		}
	}
	return t
}

// since is t in seconds after o on the wall clock (Round(0) drops the
// monotonic reading), so a report built from the engine's procedure in
// memory is the one rebuilt from its JSON, which has wall times only.
func since(o, t time.Time) float64 { return t.Round(0).Sub(o.Round(0)).Seconds() }

// stepMarks marks where each procedure step started on a time axis.
func stepMarks(p *stress.Procedure, o time.Time) []Mark {
	var ms []Mark
	for i := range p.Steps {
		s := &p.Steps[i]
		t := s.Started
		if t.IsZero() {
			for _, r := range s.Results {
				if r != nil {
					t = r.Started
					break
				}
			}
		}
		if !t.IsZero() {
			ms = append(ms, Mark{Name: s.Step, X: since(o, t)})
		}
	}
	return ms
}

// segmented turns one long timeline into series: sorted, cut where samples
// are more than gap seconds apart (between two runs), each segment
// downsampled to its share of MaxLinePoints, all of group name.
func segmented(name string, pts [][2]float64, gap float64, dashed bool) []Series {
	all := slices.DeleteFunc(slices.Clone(pts), func(p [2]float64) bool { return !finite(p[0], p[1]) })
	byX(all)
	var out []Series
	for _, seg := range splitGaps(all, gap) {
		s := Series{Name: name, Group: name, Line: true, Dashed: dashed, Points: seg}
		if d, ok := downsample(seg, MaxLinePoints*len(seg)/len(all)); ok {
			s.Points, s.SourcePoints = d, len(seg)
		}
		out = append(out, s)
	}
	return out
}

func downsampledAny(ss []Series) bool {
	for _, s := range ss {
		if s.SourcePoints > 0 {
			return true
		}
	}
	return false
}

func gpuOverTime(p *stress.Procedure) Chart {
	c := Chart{ID: ChartGPU, Title: "GPU utilization and VRAM over time", XLabel: labelSinceStart}
	o := origin(p)
	type dev struct {
		name       string
		util, vram [][2]float64
		total      uint64
		every      float64
	}
	devs := map[string]*dev{}
	var order []string
	for i := range p.Steps {
		for _, r := range p.Steps[i].Results {
			if r == nil || r.GPU == nil {
				continue
			}
			for _, smp := range r.GPU.Samples {
				x := since(o, smp.Time)
				for _, d := range smp.Devices {
					key := d.UUID
					if key == "" {
						key = strconv.Itoa(d.Index)
					}
					g, ok := devs[key]
					if !ok {
						g = &dev{name: fmt.Sprintf("GPU %d", d.Index)}
						devs[key] = g
						order = append(order, key)
					}
					g.every = max(g.every, r.GPU.Every.Seconds())
					g.util = append(g.util, [2]float64{x, d.UtilizationRatio * 100})
					g.vram = append(g.vram, [2]float64{x, float64(d.MemoryUsedBytes) / gib})
					g.total = max(g.total, d.MemoryTotalBytes)
				}
			}
		}
	}
	if len(order) == 0 {
		c.Empty = "no GPU samples (run on the GPU host to get them)"
		return c
	}
	util := Panel{YLabel: labelGPUUtil, ZeroY: true, Marks: stepMarks(p, o)}
	vram := Panel{YLabel: labelVRAM, ZeroY: true}
	sort.SliceStable(order, func(i, j int) bool { return devs[order[i]].name < devs[order[j]].name })
	downsampled := false
	for _, key := range order {
		g := devs[key]
		// Samples further apart than a few intervals belong to two runs.
		gap := 5 * max(g.every, 1)
		us := segmented(g.name, g.util, gap, false)
		vs := segmented(g.name+" used", g.vram, gap, false)
		if len(us) == 0 || len(vs) == 0 {
			continue
		}
		downsampled = downsampled || downsampledAny(us) || downsampledAny(vs)
		util.Series = append(util.Series, us...)
		vram.Series = append(vram.Series, vs...)
		if g.total > 0 {
			first, last := vs[0].Points[0][0], vs[len(vs)-1].Points[len(vs[len(vs)-1].Points)-1][0]
			t := float64(g.total) / gib
			vram.Series = append(vram.Series, Series{Name: g.name + " total", Line: true, Dashed: true, Points: [][2]float64{{first, t}, {last, t}}})
		}
	}
	c.Panels = []Panel{util, vram}
	if downsampled {
		c.Note = fmt.Sprintf("Lines downsampled to at most %d points each (each bucket's minimum and maximum kept).", MaxLinePoints)
	}
	return c
}

// windowMid is a window's midpoint in seconds from its step's start.
func windowMid(w stress.Window) float64 { return w.OffsetS + w.WidthS/2 }

// hasVerdict reports whether the step outcome holds a decided verdict of
// that name (the step's own verdicts: a procedure's list does not say which
// step a verdict judges by name).
func hasVerdict(o *stress.StepOutcome, name string) bool {
	for _, v := range o.Verdicts {
		if v.Name == name && !v.Undecided {
			return true
		}
	}
	return false
}

func latencyOverTime(p *stress.Procedure, step string) Chart {
	id, title := ChartValidation, "Latency over time: concurrency validation"
	if step == stress.StepSoak {
		id, title = ChartSoak, "Latency over time: soak"
	}
	c := Chart{ID: id, Title: title, XLabel: labelSinceStep}
	o := outcome(p, step)
	if o == nil {
		c.Empty = fmt.Sprintf("the %s step has not run", step)
		return c
	}
	var p50, p99, errs, inFlight [][2]float64
	for _, w := range o.Series {
		x := windowMid(w)
		if w.InFlight > 0 {
			inFlight = append(inFlight, [2]float64{x, w.InFlight})
		}
		if w.Requests > 0 {
			errs = append(errs, [2]float64{x, 100 * float64(w.Failed) / float64(w.Requests)})
		}
		if w.Requests-w.Failed <= 0 {
			continue // no successful request: no latency in this window
		}
		p50 = append(p50, [2]float64{x, w.E2EP50MS})
		p99 = append(p99, [2]float64{x, w.E2EP99MS})
	}
	if len(errs) == 0 {
		c.Empty = fmt.Sprintf("the %s step has no latency windows", step)
		return c
	}
	lat := Panel{YLabel: labelLatency, ZeroY: true, Series: []Series{line("p50", p50), line("p99", p99)}}
	for i := range lat.Series {
		lat.Series[i].Glyphs = len(lat.Series[i].Points) <= 60
	}
	if hasVerdict(o, "latency_drift") {
		for _, s := range []struct {
			name string
			pts  [][2]float64
		}{{"p50", p50}, {"p99", p99}} {
			if fit, ok := fitLine(s.pts); ok {
				lat.Series = append(lat.Series, Series{
					Name: fmt.Sprintf("%s fit (%+.2f ms/min)", s.name, fit.Slope*60), Group: s.name, Line: true, Dashed: true,
					Points: [][2]float64{{s.pts[0][0], fit.At(s.pts[0][0])}, {s.pts[len(s.pts)-1][0], fit.At(s.pts[len(s.pts)-1][0])}},
				})
			}
		}
	}
	errPanel := Panel{YLabel: labelWindowError, ZeroY: true, Series: []Series{line("errors", errs)}}
	c.Panels = []Panel{lat, errPanel}
	if len(inFlight) > 0 {
		// The client's view of the queue: a server that keeps up holds
		// a steady number in flight; one falling behind, a growing one.
		c.Panels = []Panel{lat, {YLabel: labelInFlight, ZeroY: true, Series: []Series{line("in flight (client)", inFlight)}}, errPanel}
	}
	var notes []string
	if len(lat.Series) > 2 {
		notes = append(notes, "Dashed: least-squares lines through the windows shown, as the drift verdict fits them.")
	}
	if lat.Series[0].SourcePoints > 0 || lat.Series[1].SourcePoints > 0 {
		notes = append(notes, fmt.Sprintf("Lines downsampled to at most %d points each (each bucket's minimum and maximum kept).", MaxLinePoints))
	}
	c.Note = strings.Join(notes, " ")
	return c
}

// fitLine fits latency against time (seconds) over every window, as the
// drift verdict does over the same windows.
func fitLine(pts [][2]float64) (stats.Line, bool) {
	if len(pts) < 2 {
		return stats.Line{}, false
	}
	xs, ys := make([]float64, len(pts)), make([]float64, len(pts))
	for i, p := range pts {
		xs[i], ys[i] = p[0], p[1]
	}
	l := stats.Fit(xs, ys)
	return l, l.N >= 2 && finite(l.Slope, l.Intercept)
}

func offeredVsServed(p *stress.Procedure) Chart {
	c := Chart{ID: ChartOfferedServed, Title: "Offered load vs served throughput", XLabel: labelOffered, ZeroX: true}
	var steps []*load.Step
	for _, step := range orderedSteps(p) {
		o := outcome(p, step)
		if o == nil || step == stress.StepCoarse {
			continue // VU steps have no offered rate: they follow the server
		}
		for _, s := range rateSteps(o) {
			if s.Kind == load.StepRate && s.OfferedRate > 0 {
				steps = append(steps, s)
			}
		}
	}
	if len(steps) == 0 {
		c.Empty = "no fixed-rate step has run yet"
		return c
	}
	server := true
	for _, s := range steps {
		if s.Server == nil || s.Server.RequestsWaiting == nil {
			server = false
		}
	}
	var off, ach, queue [][2]float64
	for _, s := range steps {
		off = append(off, [2]float64{s.OfferedRate, s.OfferedRate})
		ach = append(ach, [2]float64{s.OfferedRate, s.AchievedRate})
		switch {
		case server:
			queue = append(queue, [2]float64{s.OfferedRate, s.Server.RequestsWaiting.Max})
		case s.Summary.Successful > 0:
			queue = append(queue, [2]float64{s.OfferedRate, s.Summary.TTFT.P50})
		}
	}
	rates := Panel{YLabel: labelRate, ZeroY: true, Series: []Series{
		{Name: "offered", Line: true, Dashed: true, Points: sortedCopy(off)},
		points("served (achieved)", ach, true),
	}}
	q := Panel{YLabel: labelWaitingMax, ZeroY: true, Series: []Series{points("requests waiting (server)", queue, true)}}
	if !server {
		q = Panel{YLabel: labelTTFTP50, ZeroY: true, Series: []Series{points("TTFT p50 (client)", queue, true)}}
		c.Note = "No server queue metrics for every step: the client's TTFT p50 stands for queueing (requests that wait for a slot wait for their first token)."
	}
	if s := queueGrowsAt(p); s != nil {
		q.Marks = append(q.Marks, Mark{Name: "queue grows", X: s.OfferedRate})
	}
	if p.Numbers.DetectedMaxRPS > 0 {
		rates.Marks = append(rates.Marks, Mark{Name: "detected max", X: p.Numbers.DetectedMaxRPS})
	}
	c.Panels = []Panel{rates, q}
	return c
}

func sortedCopy(pts [][2]float64) [][2]float64 {
	pts = slices.Clone(pts)
	byX(pts)
	return pts
}

func serverOverTime(p *stress.Procedure) Chart {
	c := Chart{ID: ChartServerOverTime, Title: "Server queue and KV cache beside TTFT", XLabel: labelSinceStart}
	o := origin(p)
	series := map[string][][2]float64{}
	every := 1.0
	note := ""
	for i := range p.Steps {
		for _, r := range p.Steps[i].Results {
			if r == nil || r.Server == nil {
				continue
			}
			if r.Server.Note != "" && note == "" {
				note = r.Server.Note
			}
			tl := r.Server.Timeline
			if tl == nil {
				continue
			}
			every = max(every, tl.EveryS)
			for _, pt := range tl.Points {
				x := since(o, pt.Time)
				for _, k := range []string{"requests_waiting", "requests_running", "kv_cache_usage_ratio", "resident_memory_bytes"} {
					if v, ok := pt.Values[k]; ok {
						series[k] = append(series[k], [2]float64{x, v})
					}
				}
			}
		}
	}
	if len(series) == 0 {
		c.Empty = "no server metrics in these runs (the target's /metrics page was not scraped)"
		if note != "" {
			c.Empty += ": " + note
		}
		return c
	}
	// Client TTFT: each load step's p50 at its middle, and the windows of
	// the long steps.
	var ttft [][2]float64
	for i := range p.Steps {
		so := &p.Steps[i]
		for _, r := range so.Results {
			if r == nil {
				continue
			}
			for j := range r.Steps {
				s := &r.Steps[j]
				if s.Summary.Successful > 0 && !s.Start.IsZero() && !s.End.IsZero() {
					ttft = append(ttft, [2]float64{since(o, s.Start.Round(0).Add(s.End.Round(0).Sub(s.Start.Round(0))/2)), s.Summary.TTFT.P50})
				}
			}
		}
		if start := stepStart(so); !start.IsZero() {
			for _, w := range so.Series {
				if w.Requests-w.Failed > 0 {
					ttft = append(ttft, [2]float64{since(o, start) + windowMid(w), w.TTFTP50MS})
				}
			}
		}
	}
	gap := 5 * every
	marks := stepMarks(p, o)
	if s := queueGrowsAt(p); s != nil && !s.Start.IsZero() {
		marks = append(marks, Mark{Name: "queue grows", X: since(o, s.Start)})
	}
	tp := Panel{YLabel: labelTTFTP50, ZeroY: true, Series: []Series{line("client TTFT p50", ttft)}, Marks: marks}
	tp.Series[0].Glyphs = len(tp.Series[0].Points) <= 60
	panels := []Panel{tp}
	if len(series["requests_waiting"])+len(series["requests_running"]) > 0 {
		q := Panel{YLabel: labelRequests, ZeroY: true}
		q.Series = append(q.Series, segmented("waiting", series["requests_waiting"], gap, false)...)
		q.Series = append(q.Series, segmented("running", series["requests_running"], gap, false)...)
		panels = append(panels, q)
	}
	if kv := series["kv_cache_usage_ratio"]; len(kv) > 0 {
		pct := make([][2]float64, len(kv))
		for i, v := range kv {
			pct[i] = [2]float64{v[0], v[1] * 100}
		}
		panels = append(panels, Panel{YLabel: labelKV, ZeroY: true, Series: segmented("KV cache", pct, gap, false)})
	}
	if mem := series["resident_memory_bytes"]; len(mem) > 0 {
		g := make([][2]float64, len(mem))
		for i, v := range mem {
			g[i] = [2]float64{v[0], v[1] / gib}
		}
		panels = append(panels, Panel{YLabel: labelServerMem, ZeroY: true, Series: segmented("resident memory", g, gap, false)})
	}
	c.Panels = panels
	for _, pn := range panels {
		for _, s := range pn.Series {
			if s.SourcePoints > 0 {
				c.Note = fmt.Sprintf("Lines downsampled to at most %d points each (each bucket's minimum and maximum kept).", MaxLinePoints)
			}
		}
	}
	return c
}

// stepStart is when a procedure step started: its own time, else its
// first run's.
func stepStart(o *stress.StepOutcome) time.Time {
	if !o.Started.IsZero() {
		return o.Started
	}
	for _, r := range o.Results {
		if r != nil && !r.Started.IsZero() {
			return r.Started
		}
	}
	return time.Time{}
}

// orderedSteps lists the step names of a procedure: its own in procedure
// order, then any other (a wrapped run) in the order they appear.
func orderedSteps(p *stress.Procedure) []string {
	var out []string
	for _, s := range stress.Steps {
		if outcome(p, s) != nil {
			out = append(out, s)
		}
	}
	for i := range p.Steps {
		if !known(p.Steps[i].Step) && !slices.Contains(out, p.Steps[i].Step) {
			out = append(out, p.Steps[i].Step)
		}
	}
	return out
}

// num formats a number for a label: about three significant digits, no
// trailing zeros, no exponent for ordinary magnitudes.
func num(v float64) string {
	var s string
	switch a := math.Abs(v); {
	case a == 0:
		return "0"
	case v == math.Trunc(v) && a < 1e15, a >= 100 && a < 1e15:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10 && a < 1e15:
		s = strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 0.01 && a < 1e15:
		s = strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}
