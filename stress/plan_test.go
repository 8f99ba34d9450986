package stress

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/load"
)

func TestPlanDefaultsAndDuration(t *testing.T) {
	p := Plan{Steps: []string{StepSoak, StepSanity}}.WithDefaults()
	if !slices.Equal(p.Steps, []string{StepSanity, StepSoak}) {
		t.Errorf("steps %v: want them in procedure order", p.Steps)
	}
	if p.Scale != 1 || p.LadderMax != 256 || p.SoakFraction != 0.75 || len(p.Fractions) != 5 || p.DriftWarmup != 10*time.Second {
		t.Errorf("defaults: %+v", p)
	}
	// The README's figure: 40 s + 240 s + 1350 s + 1500 s + 610 s + 3610 s.
	if d := DefaultPlan().Duration(); d != 7350*time.Second {
		t.Errorf("default procedure: %s", d)
	}
	if d := (Plan{Scale: 0.01}).Duration(); d != 73500*time.Millisecond {
		t.Errorf("scaled procedure: %s", d)
	}
	if d := (Plan{Steps: []string{StepSanity}}).Duration(); d != 40*time.Second {
		t.Errorf("sanity alone: %s", d)
	}
	if lm := (Plan{Ladder: []int{100, 400}}).WithDefaults().LadderMax; lm != 400 {
		t.Errorf("a ladder past the default max raises it: %d", lm)
	}
}

func TestPlanValidate(t *testing.T) {
	for _, tc := range []struct {
		plan Plan
		want string
	}{
		{Plan{Ladder: []int{8, 4}}, "ladder rung 4: must be larger than the rung before it (8)"},
		{Plan{Ladder: []int{0, 4}}, "ladder rung 0: must be at least 1 user"},
		{Plan{Ladder: []int{4, 64}, LadderMax: 32}, "ladder rung 64: above the ladder's max 32"},
		{Plan{Ladder: []int{4, 2048}}, "ladder rung 2048: above max_in_flight 1024"},
		{Plan{Fractions: []float64{0.5, 1.5}}, "fraction 1.5: must be above 0 and at most 1"},
		{Plan{Scale: 200}, "scale 200: must be above 0 and at most 100"},
		{Plan{SoakFraction: -1}, "soak fraction -1"},
		{Plan{SweepRates: 51}, "sweep rates 51"},
		{Plan{FineDuration: -time.Second}, "fine duration -1s: must not be negative"},
		{Plan{MaxRPS: -2}, "max rps -2"},
	} {
		err := tc.plan.WithDefaults().Validate(load.DefaultMaxInFlight)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.plan, err, tc.want)
		}
	}
	if err := DefaultPlan().WithDefaults().Validate(load.DefaultMaxInFlight); err != nil {
		t.Errorf("the default plan: %v", err)
	}
}

// Scale shrinks durations down to the floors, never past the unscaled
// duration, and only when shrinking.
func TestPlanScaledFloors(t *testing.T) {
	p := Plan{Scale: 0.01}.WithDefaults()
	if d := p.scaled(60*time.Second, 0); d != 600*time.Millisecond {
		t.Errorf("60 s at 0.01: %s", d)
	}
	if d := p.scaled(60*time.Second, 3*time.Second); d != 3*time.Second {
		t.Errorf("60 s at 0.01 with a 3 s floor: %s", d)
	}
	if d := p.scaled(2*time.Second, 3*time.Second); d != 2*time.Second {
		t.Errorf("a floor above the unscaled duration: %s", d)
	}
	p.Scale = 2
	if d := p.scaled(60*time.Second, 500*time.Second); d != 120*time.Second {
		t.Errorf("scale 2 ignores floors: %s", d)
	}
}

func TestWindowCount(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want int
	}{
		{time.Second, MinWindows}, {6 * time.Second, MinWindows}, {600 * time.Second, 60}, {time.Hour, 120}, {4 * time.Hour, MaxWindows},
	} {
		if got := windowCount(tc.d); got != tc.want {
			t.Errorf("%s: %d windows, want %d", tc.d, got, tc.want)
		}
	}
}

func TestSeriesSink(t *testing.T) {
	origin := time.Unix(100, 0)
	s := newSeriesSink(origin, 10*time.Second) // 10 windows of 1 s
	at := func(sec float64) time.Time { return origin.Add(time.Duration(sec * float64(time.Second))) }
	entries := []*load.Entry{
		// a warmup request running into the first window counts in flight only
		{Phase: load.PhaseWarmup, Start: at(-0.5), End: at(0.5), Result: "success", E2EMS: 1000},
		{Phase: "validation", Start: at(0.2), End: at(0.7), Result: "success", E2EMS: 500, TTFTMS: 50},
		{Phase: "validation", Start: at(0.5), End: at(1.5), Result: "success", E2EMS: 1000, TTFTMS: 80},
		{Phase: "validation", Start: at(1.1), End: at(1.2), Result: "http_5xx"},
		{Phase: "validation", Scheduled: at(2.5), Result: load.ResultDropped},
		{Phase: "validation", Start: at(3), End: at(3.5), Result: "canceled", Interrupted: true},
		// the drain: counted in the last window
		{Phase: "validation", Start: at(9.5), End: at(12), Result: "success", E2EMS: 2500, TTFTMS: 100},
	}
	for _, e := range entries {
		if err := s.WriteEntry(e); err != nil {
			t.Fatal(err)
		}
	}
	ws := s.windows(origin.Add(-100 * time.Millisecond)) // the run's start came 0.1 s earlier
	if len(ws) != 10 || math.Abs(ws[0].OffsetS-0.1) > 1e-9 || ws[0].WidthS != 1 {
		t.Fatalf("windows %+v", ws[:1])
	}
	type want struct {
		req, failed   int
		p50, inflight float64
	}
	for i, w := range []want{{1, 0, 500, 0.5 + 0.5 + 0.5}, {2, 1, 1000, 0.5 + 0.1}, {1, 1, 0, 0}, {0, 0, 0, 0}, {}, {}, {}, {}, {}, {1, 0, 2500, 0.5}} {
		g := ws[i]
		if g.Requests != w.req || g.Failed != w.failed || g.E2EP50MS != w.p50 || math.Abs(g.InFlight-w.inflight) > 1e-9 {
			t.Errorf("window %d: %+v, want %+v", i, g, w)
		}
	}
	if ws[0].TTFTP50MS != 50 || ws[1].TTFTP99MS != 80 {
		t.Errorf("TTFT: %+v %+v", ws[0], ws[1])
	}
}
