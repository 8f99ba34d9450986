package report

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/stress"
)

// header is the title block of one procedure.
type header struct {
	ID, Title, Target, Model, Kind string
	Started, Ended, Duration       string
	Status, StatusClass            string
	StopReason                     string
	Workload                       string
	Scale                          string
	// Partial says what did not run, when something did not.
	Partial string
}

type verdictView struct {
	Name, Label, Badge, Class, Summary, Value, Where string
}

type numberView struct {
	Label, Value, Note string
	// value and known feed the comparison's differences.
	value float64
	known bool
	unit  string
}

type stepView struct {
	Name, Status, Class, Why string
	Rows                     []stepRow
}

type stepRow struct {
	Run, Step, Offered, Achieved, Requests, E2E, TTFT, Errors, Tokens, Note string
}

type runView struct {
	Step, ID, Path string
	Found          bool
}

// procView is everything the page shows of one procedure.
type procView struct {
	Header   header
	Verdicts []verdictView
	Numbers  []numberView
	Steps    []stepView
	Runs     []runView
}

// statusOf says the procedure's state in one word and its badge class.
func statusOf(p *stress.Procedure) (string, string) {
	switch p.Status {
	case stress.StatusRunning:
		return "running", "running"
	case stress.StatusInterrupted:
		return "interrupted", "undecided"
	case stress.StatusFailed:
		return "failed", "fail"
	case stress.StatusCompleted:
		if p.Passed {
			return "passed", "pass"
		}
		return "completed with failed verdicts", "fail"
	}
	if p.Status == "" {
		return "unknown", "undecided"
	}
	return p.Status, "undecided"
}

func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// planned lists the steps the procedure's plan selects, in procedure order,
// then the steps it ran that no plan names (a wrapped run).
func planned(p *stress.Procedure) []string {
	var out []string
	for _, s := range stress.Steps {
		if selected(p, s) {
			out = append(out, s)
		}
	}
	for _, s := range orderedSteps(p) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// notRunWhy says why a planned step has no outcome.
func notRunWhy(p *stress.Procedure) string {
	switch p.Status {
	case stress.StatusRunning:
		return "not run yet: the procedure is still running"
	case stress.StatusInterrupted:
		return "not run: the procedure was interrupted (--resume continues it)"
	case stress.StatusFailed:
		if p.StopReason != "" {
			return "not run: the procedure stopped: " + p.StopReason
		}
		return "not run: the procedure stopped at a failed step"
	}
	return "not run"
}

func buildHeader(p *stress.Procedure) header {
	h := header{
		ID: p.ID, Target: p.Target, Model: p.Model, Kind: string(p.Kind),
		Started: when(p.Started), Ended: when(p.Ended), StopReason: p.StopReason,
	}
	h.Title = "Stress procedure"
	if p.Name != "" {
		h.Title += " " + p.Name
	}
	if !p.Started.IsZero() && !p.Ended.IsZero() && p.Ended.After(p.Started) {
		h.Duration = p.Ended.Round(0).Sub(p.Started.Round(0)).Round(time.Second).String()
	}
	h.Status, h.StatusClass = statusOf(p)
	if p.Plan.Scale > 0 && p.Plan.Scale != 1 {
		h.Scale = fmt.Sprintf("durations scaled by %g", p.Plan.Scale)
	}
	h.Workload = workloadText(p.Workload)
	var missing []string
	for _, s := range planned(p) {
		if outcome(p, s) == nil {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		h.Partial = fmt.Sprintf("This report is partial: %s (%s).", strings.Join(missing, ", "), notRunWhy(p))
	} else if p.Status == stress.StatusRunning {
		h.Partial = "This report is partial: the procedure is still running."
	}
	return h
}

func workloadText(w load.WorkloadInfo) string {
	var parts []string
	if w.Name != "" {
		parts = append(parts, w.Name)
	}
	if w.Prompt != "" {
		parts = append(parts, w.Prompt+" prompts")
	}
	if w.Dataset != "" {
		parts = append(parts, "dataset "+w.Dataset)
	}
	if w.InputTokens > 0 {
		parts = append(parts, fmt.Sprintf("%d input tokens", w.InputTokens))
	}
	if o := w.Output; o.NumTokens > 0 || o.MaxTokens > 0 {
		s := fmt.Sprintf("%d output tokens", o.NumTokens)
		if o.MinTokens > 0 || o.MaxTokens > 0 {
			s += fmt.Sprintf(" (min %d, max %d)", o.MinTokens, o.MaxTokens)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// verdictLabels says each verdict's name in words.
var verdictLabels = map[string]string{
	"sanity":               "Sanity check",
	"knee":                 "Coarse limit (knee)",
	"saturation":           "Over-saturation",
	"latency_drift":        "Latency drift",
	"error_accumulation":   "Error accumulation",
	"queue_growth":         "Queue growth",
	"memory_growth":        "Memory growth",
	"vram_growth":          "VRAM growth",
	"server_memory_growth": "Server memory growth",
	"stuck_requests":       "Stuck requests",
	"server_restart":       "Server restart",
	"preemptions":          "Preemptions",
}

func verdictOf(v load.Verdict, where string) verdictView {
	vv := verdictView{Name: v.Name, Label: verdictLabels[v.Name], Summary: v.Summary, Where: where}
	if vv.Label == "" {
		vv.Label = v.Name
	}
	switch {
	case v.Undecided:
		vv.Badge, vv.Class = "UNDECIDED", "undecided"
	case v.Failed:
		vv.Badge, vv.Class = "FAIL", "fail"
	default:
		vv.Badge, vv.Class = "PASS", "pass"
	}
	if v.Unit != "" || v.Value != 0 {
		vv.Value = num(v.Value) + " " + v.Unit
		if v.Lo != 0 || v.Hi != 0 {
			vv.Value += fmt.Sprintf(" (95 %% interval %s..%s)", num(v.Lo), num(v.Hi))
		}
	}
	return vv
}

// verdicts lists the procedure's verdicts, then those of its steps that
// the procedure's list lacks (a partial procedure has them only there), then
// the failed server verdicts of its runs.
func verdicts(p *stress.Procedure) []verdictView {
	var out []verdictView
	seen := map[[2]string]bool{}
	add := func(v load.Verdict, where string) {
		k := [2]string{v.Name, v.Summary}
		if seen[k] {
			return
		}
		seen[k] = true
		out = append(out, verdictOf(v, where))
	}
	// A procedure verdict that a step also holds is that step's.
	stepOf := map[[2]string]string{}
	for i := range p.Steps {
		for _, v := range p.Steps[i].Verdicts {
			stepOf[[2]string{v.Name, v.Summary}] = p.Steps[i].Step
		}
	}
	for _, v := range p.Verdicts {
		add(v, stepOf[[2]string{v.Name, v.Summary}])
	}
	for i := range p.Steps {
		o := &p.Steps[i]
		for _, v := range o.Verdicts {
			add(v, o.Step)
		}
		for _, r := range o.Results {
			if r != nil && r.Server != nil {
				for _, v := range r.Server.Verdicts {
					// The engine lifts the long steps' server verdicts into
					// the step's; of every other run only a problem found
					// is news (a restart during the sweep), not each
					// run's "no restart".
					if v.Failed {
						add(v, o.Step+" (server)")
					}
				}
			}
		}
	}
	return out
}

func ran(p *stress.Procedure, steps ...string) bool {
	for _, s := range steps {
		if o := outcome(p, s); o != nil && len(o.Results) > 0 {
			return true
		}
	}
	return false
}

func hasGPU(p *stress.Procedure) bool {
	for i := range p.Steps {
		for _, r := range p.Steps[i].Results {
			if r != nil && r.GPU != nil && len(r.GPU.Samples) > 0 {
				return true
			}
		}
	}
	return false
}

func hasServer(p *stress.Procedure) bool {
	for i := range p.Steps {
		for _, r := range p.Steps[i].Results {
			if r != nil && r.Server != nil && r.Server.Timeline != nil && len(r.Server.Timeline.Points) > 0 {
				return true
			}
		}
	}
	return false
}

const mib = 1 << 20

// decided reports whether p has a decided verdict of that name; when not,
// the reason is the undecided verdict's own summary, else why.
func decided(p *stress.Procedure, name, why string) (bool, string) {
	for _, v := range p.Verdicts {
		if v.Name != name {
			continue
		}
		if !v.Undecided {
			return true, ""
		}
		why = v.Summary
	}
	return false, why
}

// numbers lists the key figures, each "not measured" with the reason when
// the step that finds it did not run.
func numbers(p *stress.Procedure) []numberView {
	n := p.Numbers
	var out []numberView
	add := func(label string, v float64, unit string, known bool, why string) {
		nv := numberView{Label: label, value: v, known: known, unit: unit}
		if known {
			nv.Value = num(v) + " " + unit
		} else {
			nv.Value = "—"
			nv.Note = why
		}
		out = append(out, nv)
	}
	if isRun(p) {
		runNumbers(p, add)
		return out
	}
	sweep := ran(p, stress.StepSweep) || n.DetectedMaxRPS > 0
	switch {
	case sweep && n.DetectedMaxRPS == 0:
		add("Detected max throughput", 0, "requests/s", false, "the sweep found no rate that qualified")
	default:
		add("Detected max throughput", n.DetectedMaxRPS, "requests/s", sweep, "the sweep has not run")
	}
	add("Output tokens/s at the detected max", n.DetectedMaxTokensPerS, "tokens/s", sweep && n.DetectedMaxRPS > 0, "no detected max")
	coarse := ran(p, stress.StepCoarse)
	switch {
	case coarse && !n.KneeFound:
		max := p.Plan.LadderMax
		why := "no VU count of the ladder had errors or a latency jump"
		if max > 0 {
			why = fmt.Sprintf("no knee up to %d VUs", max)
		}
		add("Knee (coarse ladder)", 0, "VUs", false, why)
	default:
		add("Knee (coarse ladder)", float64(n.KneeVUs), "VUs", coarse && n.KneeFound, "the coarse ladder has not run")
	}
	switch {
	case sweep && n.SaturationRPS == 0:
		add("Over-saturation from", 0, "requests/s offered", false, "the over-saturation test flagged no sweep rate")
	default:
		add("Over-saturation from", n.SaturationRPS, "requests/s offered", sweep, "the sweep has not run")
	}
	frac := p.Plan.SoakFraction
	label := "p99 latency in the soak"
	if frac > 0 {
		label = fmt.Sprintf("p99 latency at %g %% of the max (soak)", frac*100)
	}
	add(label, n.P99AtSoakMS, "ms", ran(p, stress.StepSoak), "the soak has not run")
	drift := ran(p, stress.StepValidation, stress.StepSoak)
	add("p50 latency drift", n.P50DriftMSPerMin, "ms/min", drift, "neither the validation nor the soak has run")
	add("p99 latency drift", n.P99DriftMSPerMin, "ms/min", drift, "neither the validation nor the soak has run")
	// A growth figure is shown only when its verdict was decided: an
	// undecided one (too few samples) has no slope, and 0 would read as
	// "measured flat".
	vram, vramWhy := decided(p, stress.VerdictVRAMGrowth, "no GPU samples over a long step (run on the GPU host)")
	add("VRAM growth", n.VRAMGrowthPerMin/mib, "MiB/min", hasGPU(p) && drift && vram, vramWhy)
	mem, memWhy := decided(p, load.VerdictServerMemoryGrowth, "no server memory over a long step (the server's /metrics was not scraped)")
	add("Server memory growth", n.ServerMemPerMin/mib, "MiB/min", hasServer(p) && drift && mem, memWhy)
	return out
}

// runNumbers are a plain run's key figures: its summary over every step.
func runNumbers(p *stress.Procedure, add func(string, float64, string, bool, string)) {
	var res *load.Result
	if len(p.Steps) > 0 && len(p.Steps[0].Results) > 0 {
		res = p.Steps[0].Results[0]
	}
	if res == nil {
		add("Request throughput", 0, "requests/s", false, "the run has no result")
		return
	}
	s := res.Summary
	some := s.Successful > 0
	add("Requests", float64(s.Requests+s.Dropped), "sent", true, "")
	add("Error ratio", s.ErrorRatio*100, "%", s.Requests+s.Dropped > 0, "no request was sent")
	add("Request throughput", s.RequestThroughput, "requests/s", some, "no request succeeded")
	add("Output throughput", s.OutputThroughput, "tokens/s", some, "no request succeeded")
	add("p99 end-to-end latency", s.E2E.P99, "ms", some, "no request succeeded")
	add("p99 TTFT", s.TTFT.P99, "ms", some && s.TTFT.Count > 0, "no streamed first token")
	if res.Mode == load.ModeSweep {
		add("Detected max throughput", p.Numbers.DetectedMaxRPS, "requests/s", p.Numbers.DetectedMaxRPS > 0, "no sweep rate qualified")
	}
	if res.GPU != nil && res.GPU.Summary.Samples > 0 {
		add("Peak VRAM used (one GPU)", float64(res.GPU.Summary.PeakMemoryUsedBytes)/gib, "GiB", true, "")
		add("Mean GPU utilization", res.GPU.Summary.MeanUtilizationRatio*100, "%", true, "")
	}
}

func ms3(d load.Dist) string {
	if d.Count == 0 {
		return "—"
	}
	return fmt.Sprintf("%s / %s / %s", num(d.P50), num(d.P95), num(d.P99))
}

func stepsView(p *stress.Procedure) []stepView {
	var out []stepView
	for _, name := range planned(p) {
		o := outcome(p, name)
		if o == nil {
			out = append(out, stepView{Name: name, Status: "not run", Class: "undecided", Why: notRunWhy(p)})
			continue
		}
		sv := stepView{Name: name, Status: o.Status, Why: o.Why}
		switch o.Status {
		case stress.OutcomePassed:
			sv.Class = "pass"
		case stress.OutcomeFailed:
			sv.Class = "fail"
		default:
			sv.Class = "undecided"
		}
		for i, r := range o.Results {
			if r == nil {
				continue
			}
			run := r.ID
			if i < len(o.RunIDs) && o.RunIDs[i] != "" {
				run = o.RunIDs[i]
			}
			for j := range r.Steps {
				s := &r.Steps[j]
				row := stepRow{
					Run:      run,
					Step:     fmt.Sprintf("%d %s", s.Index, s.Kind),
					Achieved: num(s.AchievedRate) + " req/s",
					Requests: fmt.Sprintf("%d of %d", s.Summary.Successful, s.Summary.Requests+s.Summary.Dropped),
					E2E:      ms3(s.Summary.E2E),
					TTFT:     ms3(s.Summary.TTFT),
					Errors:   num(s.Summary.ErrorRatio*100) + " %",
					Tokens:   num(s.Summary.OutputThroughput),
				}
				switch {
				case s.OfferedRate > 0:
					row.Offered = num(s.OfferedRate) + " req/s"
				case s.VUs > 0:
					row.Offered = fmt.Sprintf("%d VUs", s.VUs)
				default:
					row.Offered = "—"
				}
				var notes []string
				if s.Verdict != "" {
					notes = append(notes, s.Verdict)
				}
				if s.OverSaturated && s.Saturation != nil {
					notes = append(notes, "over-saturated: "+s.Saturation.Why)
				}
				if s.Stopped != "" {
					notes = append(notes, "stopped: "+s.Stopped)
				}
				row.Note = strings.Join(notes, "; ")
				sv.Rows = append(sv.Rows, row)
			}
			if len(r.Steps) == 0 {
				sv.Rows = append(sv.Rows, stepRow{Run: run, Step: "—", Note: "the run measured no step: " + r.StopReason})
			}
		}
		out = append(out, sv)
	}
	return out
}

// runsView lists every archived run with the path of its result JSON
// relative to the report, when the data directory is known.
func runsView(p *stress.Procedure, reportDir, dataDir string) []runView {
	var out []runView
	for i := range p.Steps {
		o := &p.Steps[i]
		ids := slices.Clone(o.RunIDs)
		if len(ids) == 0 {
			for _, r := range o.Results {
				if r != nil && r.ID != "" {
					ids = append(ids, r.ID)
				}
			}
		}
		for _, id := range ids {
			if id == "" {
				continue
			}
			rv := runView{Step: o.Step, ID: id}
			if dataDir != "" {
				file := filepath.Join(dataDir, id+".json")
				rv.Path = file
				if rel, err := filepath.Rel(reportDir, file); err == nil {
					rv.Path = filepath.ToSlash(rel)
				}
				_, err := os.Stat(file)
				rv.Found = err == nil
			}
			out = append(out, rv)
		}
	}
	return out
}

func view(p *stress.Procedure, reportDir, dataDir string) procView {
	return procView{
		Header:   buildHeader(p),
		Verdicts: verdicts(p),
		Numbers:  numbers(p),
		Steps:    stepsView(p),
		Runs:     runsView(p, reportDir, dataDir),
	}
}
