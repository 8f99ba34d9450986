package stress

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/load"
)

// Tests of the ways a step fails and of the setup errors, and of what the
// later steps take from a ladder without a knee.

// unserved is o's steady run in which nothing succeeded.
func unserved(o load.Options) *load.Result {
	res := steady(o)
	for i := range res.Steps {
		s := &res.Steps[i].Summary
		s.Successful, s.Failed, s.ErrorRatio = 0, s.Requests, 1
		s.Errors = map[string]int64{"http_5xx": s.Requests}
	}
	res.Summary = res.Steps[0].Summary
	return res
}

func TestStepFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		step   string
		answer func(o load.Options) (*load.Result, string, error)
		why    string
	}{
		{"a rung served nothing", StepCoarse, func(o load.Options) (*load.Result, string, error) { return unserved(o), "", nil },
			"no request succeeded at 4 users: 200 http_5xx (the server fails requests: see its log)"},
		{"no detected max", StepSweep, func(o load.Options) (*load.Result, string, error) {
			res := steady(o)
			res.StopReason = "2.00 req/s failed 5 % of its requests"
			return res, "", nil
		}, "no detected max: 2.00 req/s failed 5 % of its requests"},
		{"no detected max, no reason", StepSweep, func(o load.Options) (*load.Result, string, error) { return steady(o), "", nil },
			"no detected max: no rate achieved 95 % of its offered rate within the error ratio and the SLO"},
		{"the sweep served nothing", StepSweep, func(o load.Options) (*load.Result, string, error) { return unserved(o), "", nil },
			"no request succeeded in the sweep: 200 http_5xx (the server fails requests: see its log)"},
		{"a fine rate served nothing", StepFine, func(o load.Options) (*load.Result, string, error) {
			res := steady(o)
			res.Steps[1] = unserved(o).Steps[1]
			return res, "", nil
		}, "no request succeeded at 2.50 req/s: 1 http_5xx (the server fails requests: see its log)"},
		{"the validation served nothing", StepValidation, func(o load.Options) (*load.Result, string, error) { return unserved(o), "", nil },
			"no request succeeded at 32 users (the plan's last ladder rung, the coarse step did not run): 200 http_5xx (the server fails requests: see its log)"},
		{"the runner ran nothing and said nothing", StepSanity, func(load.Options) (*load.Result, string, error) { return nil, "", nil },
			"the runner returned no result"},
		{"an unknown step", "warp", nil, `unknown step "warp"`},
	} {
		rec := &recorder{}
		if tc.answer != nil {
			rec.answer = func(_ context.Context, _ string, o load.Options) (*load.Result, string, error) { return tc.answer(o) }
		}
		r := stepRunner(Plan{Scale: 0.01, MaxRPS: 10, Ladder: []int{4, 8, 16, 32}}, rec.run, nil)
		o := r.step(context.Background(), tc.step)
		if o.Status != OutcomeFailed || o.Why != tc.why {
			t.Errorf("%s: %s %q, want %q", tc.name, o.Status, o.Why, tc.why)
		}
	}
}

// Without a knee, the sweep and the validation take the ladder's last
// rung; with one, the sweep twice the knee's users within the ladder's
// max, the validation the knee's.
func TestUsersFromTheLadder(t *testing.T) {
	coarse := func(rungs ...*load.Result) StepOutcome {
		return StepOutcome{Step: StepCoarse, Status: OutcomePassed, Results: rungs}
	}
	for _, tc := range []struct {
		name              string
		ladder            StepOutcome
		sweep, validation int
		why               string
	}{
		{"no knee", coarse(rung(4, 16, 650, 0), rung(8, 32, 660, 0)), 8, 8, "8 users (the ladder's last rung, no knee found)"},
		{"a knee at 8", coarse(rung(4, 16, 650, 0), rung(8, 16, 1300, 0)), 12, 8, "8 users (the knee's users)"},
	} {
		rec := &recorder{}
		r := stepRunner(Plan{Scale: 0.01, Ladder: []int{4, 8}, LadderMax: 12}, rec.run, nil)
		r.p.Steps = []StepOutcome{tc.ladder}
		r.step(context.Background(), StepSweep)
		o := r.step(context.Background(), StepValidation)
		if sw := rec.calls[0].o; sw.MaxVUs != tc.sweep {
			t.Errorf("%s: sweep with %d users, want %d", tc.name, sw.MaxVUs, tc.sweep)
		}
		if v := rec.calls[1].o; v.VUs != tc.validation || !strings.HasPrefix(o.Why, tc.why) {
			t.Errorf("%s: validation with %d users (%q), want %d", tc.name, v.VUs, o.Why, tc.validation)
		}
	}
}

// The server's own verdicts of a validation or soak are the step's too.
func TestServerVerdictsJoinTheStep(t *testing.T) {
	rec := &recorder{answer: func(_ context.Context, _ string, o load.Options) (*load.Result, string, error) {
		res := steady(o)
		res.Server = &load.ServerView{Verdicts: []load.Verdict{{Name: load.VerdictServerMemoryGrowth, Failed: true, Value: 2, Unit: "bytes/s"}}}
		return res, "", nil
	}}
	r := stepRunner(Plan{Scale: 0.01}, rec.run, nil)
	o := r.step(context.Background(), StepValidation)
	last := o.Verdicts[len(o.Verdicts)-1]
	if o.Status != OutcomeFailed || last.Name != load.VerdictServerMemoryGrowth || !strings.HasSuffix(o.Why, "; failed: "+load.VerdictServerMemoryGrowth) {
		t.Errorf("%s %q: %+v", o.Status, o.Why, o.Verdicts)
	}
}

func TestSetupErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	withRequests := base()
	withRequests.NumRequests = 10
	for _, tc := range []struct {
		name string
		c    Config
		want string
	}{
		{"no runner", Config{Base: base()}, "stress: no runner"},
		{"a number of requests", Config{Base: withRequests, Run: (&recorder{}).run}, "the procedure's steps are timed"},
		{"an invalid plan", Config{Base: base(), Run: (&recorder{}).run, Plan: Plan{Scale: 200}}, "scale 200"},
		{"a store that cannot be", Config{Base: base(), Run: (&recorder{}).run, Store: &Store{Dir: file}}, "procedure store"},
	} {
		p, err := Run(context.Background(), tc.c)
		if p != nil || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, %v; want %q", tc.name, p, err, tc.want)
		}
	}
	p := &Procedure{ID: "x", Target: "sim:8000", Model: "m", Status: StatusInterrupted}
	if q, err := Resume(context.Background(), Config{Base: base()}, p); q != nil || err == nil || !strings.Contains(err.Error(), "no runner") {
		t.Errorf("resume without a runner: %v, %v", q, err)
	}
}

func TestStoreRefusesBadFiles(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	if err := s.Save(&Procedure{ID: "../x"}); err == nil || !strings.Contains(err.Error(), "invalid id") {
		t.Errorf("save ../x: %v", err)
	}
	if err := os.MkdirAll(s.ProcedureDir("bad"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.ProcedureDir("bad"), FileName), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load("bad"); err == nil || !strings.Contains(err.Error(), "procedure bad: procedure.json") {
		t.Errorf("a broken file: %v", err)
	}
	if err := s.Save(&Procedure{ID: "a"}); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(s.ProcedureDir("a"), FileName), filepath.Join(s.ProcedureDir("bad"), FileName)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load("bad"); err == nil || !strings.Contains(err.Error(), `its file names it "a"`) {
		t.Errorf("another procedure's file: %v", err)
	}
	if id := NewID(time.Unix(1e9, 0), ""); id != "20010909T014640Z_procedure" {
		t.Errorf("no target: %q", id)
	}
}

func TestSmallPieces(t *testing.T) {
	if got := failureHint(&load.Summary{Errors: map[string]int64{"http_429": 4}}); got != ": 4 http_429 (the server refuses the load: rate limited)" {
		t.Errorf("429: %q", got)
	}
	if x0, s := seriesSpan(nil); x0 != 0 || s != 0 {
		t.Errorf("no windows: %v %v", x0, s)
	}
	// A rise past the largest float is no rise.
	ws := span(3, 0, 60, func(i int, _ float64, w *Window) { w.InFlight = float64(i-1) * math.MaxFloat64 })
	if tr := fitTrend(ws, func(w Window) (float64, bool) { return w.InFlight, true }); tr.abs != 0 || tr.rel != 0 {
		t.Errorf("overflowing rise: %v %v", tr.abs, tr.rel)
	}
	p := Plan{Steps: []string{StepSoak}}.WithDefaults()
	if !p.Selected(StepSoak) || p.Selected(StepSanity) {
		t.Errorf("selected %v", p.Steps)
	}
	// An entry without an end (nor dropped) is nobody's.
	s := newSeriesSink(time.Unix(100, 0), 10*time.Second)
	if err := s.WriteEntry(&load.Entry{Phase: "soak", Result: "success"}); err != nil {
		t.Fatal(err)
	}
	for i, w := range s.wins {
		if w.requests != 0 {
			t.Errorf("window %d: %+v", i, w)
		}
	}
}

// A run that reports itself interrupted interrupts its step, whichever.
func TestInterruptedRuns(t *testing.T) {
	for _, step := range []string{StepSanity, StepCoarse, StepSweep, StepFine, StepValidation, StepSoak} {
		rec := &recorder{answer: func(_ context.Context, _ string, o load.Options) (*load.Result, string, error) {
			res := steady(o)
			if o.VUs != 4 { // the ladder's first rung completes
				res.Status = load.StatusInterrupted
			}
			return res, "", nil
		}}
		r := stepRunner(Plan{Scale: 0.01, MaxRPS: 10, Ladder: []int{4, 8}, LadderMax: 8}, rec.run, nil)
		o := r.step(context.Background(), step)
		if o.Status != OutcomeInterrupted || len(o.Verdicts) != 0 || len(o.Series) != 0 {
			t.Errorf("%s: %s %q, verdicts %+v", step, o.Status, o.Why, o.Verdicts)
		}
	}
}
