package daemon

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"os"
	"sort"
	"time"

	"github.com/llmprobe/llmprobe/archive"
	"github.com/llmprobe/llmprobe/collector"
	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/report"
	"github.com/llmprobe/llmprobe/stress"
)

// ProcedureSink receives what a finished procedure found: its figures and
// its verdicts (collector.ProcedureMetrics and collector.Verdicts).
type ProcedureSink struct {
	Figures  *collector.ProcedureMetrics
	Verdicts *collector.Verdicts
}

// runProcedure runs a soak in procedure mode: the stress procedure's steps
// against the job's target, each step's runs archived like any soak run
// (and feeding the request metrics under the step's phase), the procedure
// stored with its report under data_dir/procedures/ID, and its figures and
// verdicts exported. The caller holds the target's soak semaphore.
func (s *Soaks) runProcedure(ctx context.Context, j *soakJob, trigger string, log *slog.Logger, runStep func(ctx context.Context, o load.Options) (*load.Result, error)) {
	base := j.soak.LoadOptions(&j.target, &j.work, PhaseSoak)
	base.Mode = "" // each step sets its own
	var store *stress.Store
	if s.arch != nil {
		store = &stress.Store{Dir: s.arch.Dir()}
	}
	started := time.Now()
	s.sm.SetRunning(j.target.Name, j.soak.Name, true)
	defer s.sm.SetRunning(j.target.Name, j.soak.Name, false)
	log.Info("procedure started", "trigger", trigger, "steps", j.soak.Procedure.Plan().WithDefaults().Steps)

	p, err := stress.Run(ctx, stress.Config{
		Plan:    j.soak.Procedure.Plan(),
		Base:    base,
		Name:    j.soak.Name,
		Started: started,
		Store:   store,
		Report:  report.Write,
		Run: func(ctx context.Context, step string, o load.Options) (*load.Result, string, error) {
			res, err := runStep(ctx, o)
			if res == nil {
				return nil, "", err
			}
			return res, res.ID, err
		},
	})
	if p == nil {
		log.Error("cannot run the procedure", "err", err) // config validation should prevent it
		return
	}
	if err != nil {
		log.Error("the procedure ran, but saving it or its report failed", "err", err)
	}
	if p.Status == stress.StatusInterrupted {
		log.Warn("procedure interrupted; its partial report is saved", "id", p.ID, "steps", len(p.Steps))
		return // a shutdown or reload is no finding: keep the last figures
	}
	s.sm.RunDone(j.target.Name, j.soak.Name, p.Passed, p.Ended.Sub(started), p.Ended)
	s.publishProcedure(j, p, s.previousMax(store, p))

	attrs := []any{"id", p.ID, "status", p.Status, "passed", p.Passed, "took", p.Ended.Sub(started).Round(time.Second),
		"detected_max_rps", p.Numbers.DetectedMaxRPS, "knee_vus", p.Numbers.KneeVUs}
	if p.StopReason != "" {
		attrs = append(attrs, "stop_reason", p.StopReason)
	}
	for _, v := range p.Verdicts {
		if v.Failed {
			log.Warn("procedure verdict failed", "verdict", v.Name, "summary", v.Summary)
		}
	}
	if p.Passed {
		log.Info("procedure finished", attrs...)
	} else {
		log.Warn("procedure finished without passing", attrs...)
	}
}

// previousMax is the detected max of the newest earlier procedure of the
// same soak and target that found one, from the store (nil: none), so the
// comparison survives a restart of the daemon.
func (s *Soaks) previousMax(store *stress.Store, p *stress.Procedure) *float64 {
	q := s.latestProcedure(store, p.Name, p.Target, func(q *stress.Procedure) bool {
		return q.ID != p.ID && q.Started.Before(p.Started) && q.Numbers.DetectedMaxRPS > 0
	})
	if q == nil {
		return nil
	}
	v := q.Numbers.DetectedMaxRPS
	return &v
}

// latestProcedure returns the newest stored procedure of soak name against
// target that ok accepts (nil: none). IDs begin with the start time, so the
// directories are read newest first and the search stops at the first
// match; unreadable ones are skipped.
func (s *Soaks) latestProcedure(store *stress.Store, name, target string, ok func(*stress.Procedure) bool) *stress.Procedure {
	if store == nil {
		return nil
	}
	ents, err := os.ReadDir(store.ProcedureDir(""))
	if err != nil {
		return nil
	}
	var ids []string
	for _, e := range ents {
		if e.IsDir() {
			ids = append(ids, e.Name())
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(ids)))
	for _, id := range ids {
		q, err := store.Load(id)
		if err != nil {
			if !errors.Is(err, stress.ErrNotFound) {
				s.logger.Debug("skipping an unreadable procedure", "id", id, "err", err)
			}
			continue
		}
		if q.Name == name && q.Target == target && q.Status != stress.StatusRunning && ok(q) {
			return q
		}
	}
	return nil
}

// restoreProcedure shows and exports the newest stored procedure of a
// procedure soak when the job starts (the daemon started, or a reload
// added it), so its report link and figures do not wait a week for the
// next run.
func (s *Soaks) restoreProcedure(j *soakJob) {
	if s.arch == nil {
		return
	}
	store := &stress.Store{Dir: s.arch.Dir()}
	p := s.latestProcedure(store, j.soak.Name, j.target.Name, func(q *stress.Procedure) bool { return q.Status != stress.StatusInterrupted })
	if p == nil {
		return
	}
	s.publishProcedure(j, p, s.previousMax(store, p))
}

// publishProcedure exports a finished procedure's figures and verdicts and
// makes it the job's last run. The caller must not hold s.mu.
func (s *Soaks) publishProcedure(j *soakJob, p *stress.Procedure, previous *float64) {
	s.mu.Lock()
	pr := s.procSink
	s.mu.Unlock()
	if pr != nil {
		if pr.Figures != nil {
			pr.Figures.Set(j.target.Name, j.soak.Name, figures(p, previous))
		}
		if pr.Verdicts != nil {
			pr.Verdicts.Set(j.soak.Name, j.target.Name, byName(p.Verdicts))
		}
	}
	last := &archive.Run{
		ID: p.ID, Name: p.Name, Target: p.Target, Model: p.Model, Mode: "procedure",
		Status: p.Status, Passed: p.Passed, StopReason: p.StopReason, Started: p.Started, Ended: p.Ended,
	}
	if p.Numbers.DetectedMaxRPS > 0 {
		v := p.Numbers.DetectedMaxRPS
		last.DetectedMax = &v
	}
	s.mu.Lock()
	j.last, j.report = last, p.ID
	s.mu.Unlock()
}

// figures turns a procedure's numbers into the exported figures, in base
// units; what it did not measure is left out.
func figures(p *stress.Procedure, previous *float64) collector.ProcedureFigures {
	n := &p.Numbers
	f := collector.ProcedureFigures{Passed: p.Passed, EndedAt: float64(p.Ended.UnixNano()) / 1e9, PreviousDetectedMax: previous}
	pos := func(v float64) *float64 {
		if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
		return &v
	}
	ran := func(step string) bool { o := p.Outcome(step); return o != nil && len(o.Results) > 0 }
	// A slope may be negative or zero: it is a figure when its step ran.
	slope := func(v float64, steps ...string) *float64 {
		for _, st := range steps {
			if ran(st) && !math.IsNaN(v) && !math.IsInf(v, 0) {
				return &v
			}
		}
		return nil
	}
	f.DetectedMaxRequests = pos(n.DetectedMaxRPS)
	f.DetectedMaxTokens = pos(n.DetectedMaxTokensPerS)
	if n.KneeFound {
		f.KneeVUs = pos(float64(n.KneeVUs))
	}
	f.SaturationRequests = pos(n.SaturationRPS)
	f.SoakP99Seconds = pos(n.P99AtSoakMS / 1000)
	perMin := func(v float64) float64 { return v / 60 }
	f.P50DriftSecondsPerSecond = slope(perMin(n.P50DriftMSPerMin/1000), stress.StepValidation, stress.StepSoak)
	f.P99DriftSecondsPerSecond = slope(perMin(n.P99DriftMSPerMin/1000), stress.StepValidation, stress.StepSoak)
	if hasVerdict(p, stress.VerdictVRAMGrowth) {
		f.VRAMGrowthBytesPerSecond = slope(perMin(n.VRAMGrowthPerMin), stress.StepSoak)
	}
	if hasVerdict(p, load.VerdictServerMemoryGrowth) {
		f.ServerMemoryBytesPerSecond = slope(perMin(n.ServerMemPerMin), stress.StepSoak, stress.StepValidation)
	}
	return f
}

// hasVerdict reports whether p decided a verdict of that name.
func hasVerdict(p *stress.Procedure, name string) bool {
	for _, v := range p.Verdicts {
		if v.Name == name && !v.Undecided {
			return true
		}
	}
	return false
}

// byName folds a procedure's verdicts into one per name, as the exported
// family has one series per verdict name: failed when any step's failed,
// with the number of the first failing one (else of the last decided one);
// undecided only when all were.
func byName(vs []load.Verdict) []load.Verdict {
	var out []load.Verdict
	at := map[string]int{}
	for _, v := range vs {
		i, seen := at[v.Name]
		switch {
		case !seen:
			at[v.Name] = len(out)
			out = append(out, v)
		case out[i].Failed:
		case v.Failed, !v.Undecided:
			out[i] = v
		}
	}
	return out
}
