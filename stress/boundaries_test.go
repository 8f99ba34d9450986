package stress

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/gpu"
	"github.com/llmprobe/llmprobe/load"
)

// Tests at the verdicts' thresholds, on both sides and at the exact
// boundary (the series below are chosen so that the fitted rises are exact
// in floating point), and of the numbers the verdicts and the series are
// built from.

// span builds n windows of width seconds from offset o0 (the first window's
// start); f sets each, with x the window's middle in minutes from o0.
func span(n int, o0, width float64, f func(i int, x float64, w *Window)) []Window {
	ws := make([]Window, n)
	for i := range ws {
		ws[i] = Window{OffsetS: o0 + float64(i)*width, WidthS: width, Requests: 100}
		f(i, (float64(i)+0.5)*width/60, &ws[i])
	}
	return ws
}

// latency sets the windows' p50 and p99 to a50+b50·x and a99+b99·x: over
// a step of s minutes each rises by b·s, b·s/a of its fitted start.
func latency(a50, b50, a99, b99 float64) func(int, float64, *Window) {
	return func(_ int, x float64, w *Window) {
		w.E2EP50MS, w.E2EP99MS = a50+b50*x, a99+b99*x
	}
}

func TestDriftVerdictAtItsThreshold(t *testing.T) {
	for _, tc := range []struct {
		name string
		ws   []Window
		fail bool
		text []string
	}{
		// 10 windows of a minute from 0: the median rises 10 ms over the
		// step from 100 ms, exactly 10 %: not more than 10 %.
		{"median up exactly 10 %", span(10, 0, 60, latency(100, 1, 200, 0)), false, []string{
			"no drift: p50 +1.0 ms/min (95 % CI 1.0..1.0, +10 % over the step), p99 +0.0 ms/min",
			"over 600 s in 10 windows (drift: rising with 95 % confidence and by more than 10 %)",
		}},
		{"p99 up exactly 10 %", span(10, 0, 60, latency(100, 0, 200, 2)), false, []string{"no drift", "p99 +2.0 ms/min (95 % CI 2.0..2.0, +10 % over the step)"}},
		// 20 windows of 30 s from 30 s (a step's series starts after its
		// first offset): 10 minutes, the rise relative to the value at the
		// first window's start.
		{"median up 10.01 %", span(20, 30, 30, latency(100, 1.001, 200, 0)), true, []string{"median latency drifts upwards", "over 600 s in 20 windows"}},
		{"median up 9.99 %", span(20, 30, 30, latency(100, 0.999, 200, 0)), false, []string{"no drift"}},
		{"p99 up 10.01 %", span(20, 30, 30, latency(100, 0, 200, 2.002)), true, []string{"p99 latency drifts upwards"}},
		{"p99 up 9.99 %", span(20, 30, 30, latency(100, 0, 200, 1.998)), false, []string{"no drift"}},
		{"both up 10.01 %", span(20, 30, 30, latency(100, 1.001, 200, 2.002)), true, []string{"median and p99 latency drift upwards"}},
	} {
		v, _, _ := driftVerdict(tc.ws)
		if v.Failed != tc.fail || v.Undecided {
			t.Errorf("%s: failed %v undecided %v, want failed %v: %s", tc.name, v.Failed, v.Undecided, tc.fail, v.Summary)
		}
		for _, s := range tc.text {
			if !strings.Contains(v.Summary, s) {
				t.Errorf("%s: summary %q lacks %q", tc.name, v.Summary, s)
			}
		}
	}
	// Exactly three windows with successes are enough for a line.
	ws := span(10, 0, 60, func(i int, x float64, w *Window) {
		w.E2EP50MS, w.E2EP99MS = 100+50*x, 200+100*x
		if i >= 3 {
			w.Failed = w.Requests
		}
	})
	if v, p50, _ := driftVerdict(ws); v.Undecided || p50.line.N != 3 {
		t.Errorf("three served windows: %+v (n %d)", v, p50.line.N)
	}
}

func TestFitTrendRelativeRise(t *testing.T) {
	// A line from 0: its rise is relative to the step's middle instead.
	ws := span(10, 0, 60, func(_ int, x float64, w *Window) { w.InFlight = 2 * x })
	tr := fitTrend(ws, func(w Window) (float64, bool) { return w.InFlight, true })
	if tr.abs != 20 || tr.rel != 2 {
		t.Errorf("from 0 to 20: rise %v, relative %v; want 20, 2 (of the middle, 10)", tr.abs, tr.rel)
	}
	// A flat 0: no relative rise (not NaN).
	ws = span(10, 0, 60, func(int, float64, *Window) {})
	tr = fitTrend(ws, func(w Window) (float64, bool) { return w.InFlight, true })
	if tr.abs != 0 || tr.rel != 0 {
		t.Errorf("flat 0: rise %v, relative %v", tr.abs, tr.rel)
	}
	// The middle of each window, in minutes; the span from the first
	// window's start to the last one's end.
	ws = span(3, 30, 60, func(int, float64, *Window) {})
	if xs := seriesX(ws); xs[0] != 1 || xs[2] != 3 {
		t.Errorf("window middles %v min, want 1, 2, 3", xs)
	}
	if x0, s := seriesSpan(ws); x0 != 0.5 || s != 3 {
		t.Errorf("span from %v min, %v min long; want 0.5, 3", x0, s)
	}
}

// failures makes windows of requests each with the failures f(i).
func failures(n, requests int, f func(i int) int) []Window {
	ws := make([]Window, n)
	for i := range ws {
		ws[i] = Window{OffsetS: 60 * float64(i), WidthS: 60, Requests: requests, Failed: f(i)}
	}
	return ws
}

// quarters makes 20 windows of 5000 requests: the first five with first
// failures each, the last five with last[i] (cycled), and the middle ones
// alternating 0 and 50 % failed, so the fitted line is far too uncertain to
// rise with confidence and the quarters decide.
func quarters(first int, last ...int) []Window {
	return failures(20, 5000, func(i int) int {
		switch {
		case i < 5:
			return first
		case i >= 15:
			return last[(i-15)%len(last)]
		case i%2 == 1:
			return 2500
		}
		return 0
	})
}

func TestErrorAccumulationAtItsThresholds(t *testing.T) {
	for _, tc := range []struct {
		name string
		ws   []Window
		fail bool
		text []string
	}{
		// The fitted line alone: 0 to 0.8 % in five windows of 500
		// requests, a rise of exactly 1 point over the step (the quarters,
		// one window each, differ by 0.8 points).
		{"line up exactly 1 point", failures(5, 500, func(i int) int { return i }), true, []string{
			"errors accumulate: 10 of 2500 requests failed", "+1.0 points over the step", "first quarter 0.0 % of 500, last quarter 0.8 % of 500",
		}},
		{"line up 0.998 points", failures(5, 501, func(i int) int { return i }), false, []string{"errors do not accumulate"}},
		// The quarters alone: 0 % to exactly 1 % (z 15.8).
		{"last quarter up exactly 1 point", quarters(0, 50), true, []string{
			"errors accumulate", "first quarter 0.0 % of 25000, last quarter 1.0 % of 25000 (z 15.85)",
		}},
		{"last quarter up 0.996 points", quarters(0, 50, 50, 50, 50, 49), false, []string{"errors do not accumulate", "last quarter 1.0 % of 25000"}},
		// 1 % to 1.9 %: far beyond chance (z 8.42) but under a point.
		{"1 % to 1.9 %", quarters(50, 95), false, []string{
			"errors do not accumulate", "first quarter 1.0 % of 25000, last quarter 1.9 % of 25000 (z 8.42)",
		}},
		{"1 % to 3 %", quarters(50, 150), true, []string{"errors accumulate", "first quarter 1.0 % of 25000, last quarter 3.0 % of 25000 (z 15.97)"}},
		// Errors only between the quarters: the quarters' pooled ratio is
		// 0, so is z.
		{"errors between the quarters", quarters(0, 0), false, []string{"first quarter 0.0 % of 25000, last quarter 0.0 % of 25000 (z 0.00)"}},
		// A quarter without requests has no ratio.
		{"no request in the first quarter", func() []Window {
			ws := failures(8, 100, func(i int) int { return i % 3 })
			ws[0].Requests, ws[1].Requests, ws[0].Failed, ws[1].Failed = 0, 0, 0, 0
			return ws
		}(), false, []string{"first quarter 0.0 % of 0, last quarter 0.5 % of 200 (z 0.00)"}},
		{"no request in the last quarter", func() []Window {
			ws := failures(8, 100, func(i int) int { return i % 3 })
			ws[6].Requests, ws[7].Requests, ws[6].Failed, ws[7].Failed = 0, 0, 0, 0
			return ws
		}(), false, []string{"first quarter 0.5 % of 200, last quarter 0.0 % of 0 (z 0.00)"}},
	} {
		v := errorAccumulationVerdict(tc.ws)
		if v.Failed != tc.fail || v.Undecided {
			t.Errorf("%s: failed %v undecided %v, want failed %v: %s", tc.name, v.Failed, v.Undecided, tc.fail, v.Summary)
		}
		for _, s := range tc.text {
			if !strings.Contains(v.Summary, s) {
				t.Errorf("%s: summary %q lacks %q", tc.name, v.Summary, s)
			}
		}
	}
}

func TestQueueGrowthAtItsThresholds(t *testing.T) {
	// inFlight sets the windows' mean in flight to a+b·x.
	inFlight := func(a, b float64) func(int, float64, *Window) {
		return func(_ int, x float64, w *Window) { w.InFlight = a + b*x }
	}
	for _, tc := range []struct {
		name string
		ws   []Window
		fail bool
		und  bool
		text string
	}{
		// Eight windows of a minute: a rise of b·8 requests.
		{"exactly 1 request and 25 %", span(8, 0, 60, inFlight(4, 0.125)), true, false,
			"+1.0 requests (+25 %) over the step (growth: rising with 95 % confidence, by at least 1 request and 25 %)"},
		{"exactly 1 request, 50 %", span(8, 0, 60, inFlight(2, 0.125)), true, false, "+1.0 requests (+50 %)"},
		{"0.99 requests, 50 %", span(8, 0, 60, inFlight(1.98, 0.12375)), false, false, "the queue does not grow"},
		{"2 requests, exactly 25 %", span(8, 0, 60, inFlight(8, 0.25)), true, false, "+2.0 requests (+25 %)"},
		{"2 requests, 24.9 %", span(8, 0, 60, inFlight(8.032, 0.25)), false, false, "the queue does not grow"},
		{"three windows", span(3, 0, 60, inFlight(2, 1)), true, false, "the queue grows"},
		{"two windows", span(2, 0, 60, inFlight(2, 1)), false, true, "undecided: too few windows"},
	} {
		v := queueGrowthVerdict(tc.ws)
		if v.Failed != tc.fail || v.Undecided != tc.und || !strings.Contains(v.Summary, tc.text) {
			t.Errorf("%s: failed %v undecided %v, want %v %v with %q: %s", tc.name, v.Failed, v.Undecided, tc.fail, tc.und, tc.text, v.Summary)
		}
	}
}

func TestVRAMVerdictAtItsThreshold(t *testing.T) {
	from := time.Unix(1000, 0)
	to := from.Add(8 * time.Minute)
	type gpuSeries struct {
		index int
		uuid  string
		total uint64
		used  func(i int) uint64 // at minute i
	}
	timeline := func(gs ...gpuSeries) *load.GPUTimeline {
		g := &load.GPUTimeline{}
		for i := range 9 {
			s := gpu.Sample{Time: from.Add(time.Duration(i) * time.Minute)}
			for _, d := range gs {
				s.Devices = append(s.Devices, gpu.DeviceSample{Index: d.index, UUID: d.uuid, Name: "H100", MemoryUsedBytes: d.used(i), MemoryTotalBytes: d.total})
			}
			g.Samples = append(g.Samples, s)
		}
		return g
	}
	const mib, h100 = 1 << 20, 80 << 30
	rising := func(perMin uint64) func(int) uint64 {
		return func(i int) uint64 { return 70<<30 + uint64(i)*perMin }
	}
	for _, tc := range []struct {
		name string
		g    *load.GPUTimeline
		fail bool
		text []string
	}{
		// 32 MiB a minute for 8 minutes: exactly 256 MiB, not more.
		{"exactly 256 MiB", timeline(gpuSeries{0, "GPU-a", h100, rising(32 * mib)}), false, []string{
			"VRAM is stable: GPU 0 (H100) +32.0 MiB/min (95 % CI 32.0..32.0), +256 MiB over the step (limit 256 MiB)",
		}},
		{"256 MiB and 8 bytes", timeline(gpuSeries{0, "GPU-a", h100, rising(32*mib + 1)}), true, []string{"VRAM grows"}},
		// No total: the 256 MiB bound alone.
		{"no total", timeline(gpuSeries{0, "GPU-a", 0, rising(16 * mib)}), false, []string{"+128 MiB over the step (limit 256 MiB)"}},
		// GPUs without a UUID are told apart by their index.
		{"two GPUs without UUIDs", timeline(gpuSeries{0, "", h100, rising(0)}, gpuSeries{1, "", h100, rising(64 * mib)}), true, []string{
			"GPU 0 (H100) +0.0 MiB/min", "GPU 1 (H100) +64.0 MiB/min",
		}},
	} {
		v := vramVerdict(tc.g, from, to)
		if v.Failed != tc.fail || v.Undecided {
			t.Errorf("%s: failed %v undecided %v, want failed %v: %s", tc.name, v.Failed, v.Undecided, tc.fail, v.Summary)
		}
		for _, s := range tc.text {
			if !strings.Contains(v.Summary, s) {
				t.Errorf("%s: summary %q lacks %q", tc.name, v.Summary, s)
			}
		}
	}

	// Which GPU's line the verdict reports.
	small := uint64(8 << 30) // 1 %: 81.92 MiB
	for _, tc := range []struct {
		name       string
		g          *load.GPUTimeline
		fail       bool
		slope      float64 // MiB/min
		tightFirst bool    // the first GPU's exact line (Lo == Hi)
	}{
		// The growing GPU decides even when another rises more below its
		// own limit.
		{"grows on 8 GiB, rises more on 80 GiB", timeline(gpuSeries{0, "a", small, rising(12 * mib)}, gpuSeries{1, "b", h100, rising(25 * mib)}), true, 12, false},
		// Neither grows: the one that rises most.
		{"neither grows, the second rises more", timeline(gpuSeries{0, "a", h100, rising(5 * mib)}, gpuSeries{1, "b", h100, rising(15 * mib)}), false, 15, false},
		{"both grow, the second more", timeline(gpuSeries{0, "a", h100, rising(40 * mib)}, gpuSeries{1, "b", h100, rising(60 * mib)}), true, 60, false},
		// The same rise: the first keeps it (the second's line is as
		// steep, but bent, so its interval is wider).
		{"the same rise", timeline(gpuSeries{0, "a", h100, rising(5 * mib)}, gpuSeries{1, "b", h100, func(i int) uint64 {
			return rising(5*mib)(i) + uint64(3*(i-4)*(i-4))*mib
		}}), false, 5, true},
	} {
		v := vramVerdict(tc.g, from, to)
		if v.Failed != tc.fail || math.Abs(v.Value-tc.slope*mib) > 1 {
			t.Errorf("%s: failed %v value %.1f MiB/min, want %v %.1f: %s", tc.name, v.Failed, v.Value/mib, tc.fail, tc.slope, v.Summary)
		}
		if tc.tightFirst && (v.Lo != v.Hi || v.Lo != v.Value) {
			t.Errorf("%s: interval %v..%v, want the first GPU's exact line", tc.name, v.Lo, v.Hi)
		}
	}
}

func TestFindKneeAtItsThresholds(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rungs []*load.Result
		vus   int // 0: no knee
		why   string
	}{
		{"latency exactly +50 %, no throughput gain", []*load.Result{rung(8, 10, 1000, 0), rung(16, 10, 1500, 0)}, 0, ""},
		{"latency +50.1 %, no throughput gain", []*load.Result{rung(8, 10, 1000, 0), rung(16, 10, 1501, 0)}, 16, "median latency rose 50 % (1000 to 1501 ms) from 8 to 16 users while throughput grew 0 % (10.00 to 10.00 req/s) for 100 % more users"},
		{"throughput exactly half the users added", []*load.Result{rung(8, 10, 1000, 0), rung(16, 15, 1510, 0)}, 0, ""},
		// Four times the users (+300 %): under +150 % throughput is the knee.
		{"4× users, throughput +100 %", []*load.Result{rung(8, 10, 1000, 0), rung(32, 20, 1600, 0)}, 32, "for 300 % more users"},
		{"4× users, throughput exactly +150 %", []*load.Result{rung(8, 10, 1000, 0), rung(32, 25, 1600, 0)}, 0, ""},
		{"4× users, throughput +149 %", []*load.Result{rung(8, 10, 1000, 0), rung(32, 24.9, 1600, 0)}, 32, "throughput grew 149 %"},
		// A previous rung without a latency, a throughput or users is no
		// base to compare with.
		{"previous rung without latency", []*load.Result{rung(8, 10, 0, 0), rung(16, 10, 2000, 0)}, 0, ""},
		{"previous rung without throughput", []*load.Result{rung(8, 0, 1000, 0), rung(16, 10, 2000, 0)}, 0, ""},
		{"previous rung without users", []*load.Result{rung(0, 10, 1000, 0), rung(16, 10, 2000, 0)}, 0, ""},
		{"errors just past 1 %", []*load.Result{rung(4, 6, 650, 0.0101)}, 4, "errors: 1.0 % of requests failed at 4 users (more than 1 %)"},
	} {
		k := findKnee(tc.rungs)
		if tc.vus == 0 {
			if k.found {
				t.Errorf("%s: knee at %d users: %s", tc.name, k.vus, k.why)
			}
			continue
		}
		if !k.found || k.vus != tc.vus || !strings.Contains(k.why, tc.why) {
			t.Errorf("%s: knee %+v, want %d users with %q", tc.name, k, tc.vus, tc.why)
		}
	}
}

func TestRungThroughput(t *testing.T) {
	r := &load.Result{}
	r.Summary.RequestThroughput = 5
	if got := rungThroughput(r); got != 5 {
		t.Errorf("no steps: %v, want the summary's 5", got)
	}
	r.Steps = []load.Step{{AchievedRate: 0}}
	if got := rungThroughput(r); got != 5 {
		t.Errorf("a step without an achieved rate: %v, want the summary's 5", got)
	}
	r.Steps[0].AchievedRate = 3
	if got := rungThroughput(r); got != 3 {
		t.Errorf("achieved 3: %v", got)
	}
}

func TestFailureHint(t *testing.T) {
	for _, tc := range []struct {
		errs map[string]int64
		msgs map[string][]string
		want string
	}{
		{map[string]int64{"connection": 5, "timeout": 1}, nil, ": 5 connection (is the server up at that address?)"},
		{map[string]int64{"http_429": 1, "timeout": 2}, nil, ": 2 timeout (the server does not answer within the request timeout)"},
		// a tie: the first by name
		{map[string]int64{"http_5xx": 3, "timeout": 3}, map[string][]string{"http_5xx": {"HTTP 503"}}, ": 3 http_5xx, e.g. HTTP 503 (the server fails requests: see its log)"},
		{map[string]int64{"http_4xx": 2}, map[string][]string{"http_4xx": {}}, ": 2 http_4xx (does it serve the model at that path, and accept the key?)"},
		{nil, nil, ""},
	} {
		s := &load.Summary{Errors: tc.errs, ErrorMessages: tc.msgs}
		if got := failureHint(s); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.errs, got, tc.want)
		}
	}
}

func TestSanityVerdictCountsDroppedArrivals(t *testing.T) {
	r := sanityResult(28, 0, 80, 700)
	r.Summary.Dropped, r.Summary.Failed, r.Summary.ErrorRatio = 2, 2, 2.0/30
	if v := sanityVerdict(r, 0); !v.Failed || !strings.Contains(v.Summary, "28 of 30 requests succeeded (6.7 % failed, more than 1 %") {
		t.Errorf("%+v", v)
	}
	r = sanityResult(0, 5, 0, 0)
	r.Summary.Dropped = 2
	if v := sanityVerdict(r, 0); !v.Failed || !strings.Contains(v.Summary, "no request of 7 succeeded") {
		t.Errorf("%+v", v)
	}
}

func TestPlanValidateBoundaries(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(p *Plan)
		want string // "": valid
	}{
		{"scale 0", func(p *Plan) { p.Scale = 0 }, "scale 0: must be above 0"},
		{"scale 100", func(p *Plan) { p.Scale = 100 }, ""},
		{"scale 100.01", func(p *Plan) { p.Scale = 100.01 }, "scale 100.01"},
		{"sanity rate 0", func(p *Plan) { p.SanityRate = 0 }, "sanity rate 0: must be a positive number"},
		{"sanity rate +Inf", func(p *Plan) { p.SanityRate = math.Inf(1) }, "sanity rate +Inf"},
		{"sanity rate 0.01", func(p *Plan) { p.SanityRate = 0.01 }, ""},
		{"a duration of 0", func(p *Plan) { p.SoakDuration, p.SanityWarmup = 0, 0 }, ""},
		{"a duration of -1 ns", func(p *Plan) { p.DriftWarmup = -1 }, "drift warmup -1ns: must not be negative"},
		{"one sweep rate", func(p *Plan) { p.SweepRates = 1 }, ""},
		{"no sweep rate", func(p *Plan) { p.SweepRates = 0 }, "sweep rates 0"},
		{"50 sweep rates", func(p *Plan) { p.SweepRates = 50 }, ""},
		{"fraction 1", func(p *Plan) { p.Fractions = []float64{1} }, ""},
		{"fraction 0", func(p *Plan) { p.Fractions = []float64{0} }, "fraction 0: must be above 0"},
		{"soak fraction 1", func(p *Plan) { p.SoakFraction = 1 }, ""},
		{"soak fraction 0", func(p *Plan) { p.SoakFraction = 0 }, "soak fraction 0: must be above 0"},
		{"max rps 0", func(p *Plan) { p.MaxRPS = 0 }, ""},
		{"max rps NaN", func(p *Plan) { p.MaxRPS = math.NaN() }, "max rps NaN"},
		{"one user", func(p *Plan) { p.Ladder = []int{1} }, ""},
		{"a rung at the ladder's max and max_in_flight", func(p *Plan) { p.Ladder, p.LadderMax = []int{4, 64}, 64 }, ""},
		{"a rung equal to the one before", func(p *Plan) { p.Ladder = []int{4, 4} }, "ladder rung 4: must be larger"},
		{"no step", func(p *Plan) { p.Steps = nil }, "no step selected"},
	} {
		p := DefaultPlan().WithDefaults()
		tc.edit(&p)
		err := p.Validate(64)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestPlanDurationPerStep(t *testing.T) {
	for _, tc := range []struct {
		plan Plan
		want time.Duration
	}{
		{Plan{Steps: []string{StepSanity}}, 40 * time.Second},
		{Plan{Steps: []string{StepCoarse}}, 240 * time.Second},
		{Plan{Steps: []string{StepCoarse}, Ladder: []int{1, 2, 3}, CoarseDuration: 10 * time.Second}, 30 * time.Second},
		// the throughput phase and every rate
		{Plan{Steps: []string{StepSweep}}, 1350 * time.Second},
		{Plan{Steps: []string{StepSweep}, SweepRates: 3, SweepWarmup: time.Second, SweepDuration: 10 * time.Second}, 41 * time.Second},
		{Plan{Steps: []string{StepFine}}, 1500 * time.Second},
		{Plan{Steps: []string{StepFine}, Fractions: []float64{0.5}}, 300 * time.Second},
		{Plan{Steps: []string{StepValidation}}, 610 * time.Second},
		{Plan{Steps: []string{StepSoak}, DriftWarmup: time.Second, SoakDuration: time.Minute}, 61 * time.Second},
		{Plan{Steps: []string{StepValidation, StepSoak}, Scale: 2}, 2 * (610 + 3610) * time.Second},
		{Plan{Steps: []string{StepSanity}, Scale: 0.5}, 20 * time.Second},
	} {
		if got := tc.plan.Duration(); got != tc.want {
			t.Errorf("%v: %s, want %s", tc.plan.Steps, got, tc.want)
		}
	}
}

func TestPlanScaledAtTheFloor(t *testing.T) {
	p := Plan{Scale: 0.5}.WithDefaults()
	for _, tc := range []struct {
		d, floor, want time.Duration
	}{
		{60 * time.Second, 30 * time.Second, 30 * time.Second},
		{60 * time.Second, 30*time.Second + 1, 30*time.Second + 1},
		{60 * time.Second, 60 * time.Second, 60 * time.Second},
		{60 * time.Second, 61 * time.Second, 60 * time.Second},
		{60 * time.Second, 0, 30 * time.Second},
	} {
		if got := p.scaled(tc.d, tc.floor); got != tc.want {
			t.Errorf("%s at 0.5, floor %s: %s, want %s", tc.d, tc.floor, got, tc.want)
		}
	}
	p.Scale = 1
	if got := p.scaled(time.Second, time.Minute); got != time.Second {
		t.Errorf("unscaled with a floor above: %s", got)
	}
}

func TestSeriesSinkWindows(t *testing.T) {
	origin := time.Unix(100, 0)
	at := func(sec float64) time.Time { return origin.Add(time.Duration(sec * float64(time.Second))) }
	s := newSeriesSink(origin, 20*time.Second) // 10 windows of 2 s
	for _, e := range []*load.Entry{
		// 1.5 s in the first window, 1.5 s in the second
		{Phase: "soak", Start: at(0.5), End: at(3.5), Result: "success", E2EMS: 3000, TTFTMS: 100},
		// a kind without TTFT beside one with it: the TTFT of 0 is left out
		{Phase: "soak", Start: at(0.5), End: at(1.5), Result: "success", E2EMS: 1000, TTFTMS: 0},
		{Phase: "soak", Start: at(0.6), End: at(1.6), Result: "success", E2EMS: 1000, TTFTMS: 100},
	} {
		if err := s.WriteEntry(e); err != nil {
			t.Fatal(err)
		}
	}
	ws := s.windows(origin.Add(-time.Second))
	if len(ws) != 10 || ws[0].WidthS != 2 || ws[0].OffsetS != 1 || ws[3].OffsetS != 7 {
		t.Fatalf("windows %+v", ws[:4])
	}
	if g := ws[0]; g.Requests != 2 || math.Abs(g.InFlight-(1.5+1+1)/2) > 1e-9 || g.TTFTP50MS != 100 || g.TTFTP99MS != 100 || g.E2EP50MS != 1000 {
		t.Errorf("window 0: %+v", g)
	}
	if g := ws[1]; g.Requests != 1 || math.Abs(g.InFlight-1.5/2) > 1e-9 || g.E2EP99MS != 3000 {
		t.Errorf("window 1: %+v", g)
	}

	// A step too short for windows of any width takes nothing (and does
	// not divide by zero).
	z := newSeriesSink(origin, 0)
	if err := z.WriteEntry(&load.Entry{Phase: "soak", Start: at(0), End: at(1), Result: "success", E2EMS: 1000}); err != nil {
		t.Fatal(err)
	}
	if len(z.wins) != MinWindows || z.wins[0].requests != 0 {
		t.Errorf("zero-width windows: %+v", z.wins[0])
	}
}

// A window keeps at most maxWindowSamples latencies, a uniform sample of
// all it saw. (With the sink's seeded source, the 29295th latency draws
// the slot just past the sample: 30000 of them reach it.)
func TestSeriesSinkSamplesABusyWindow(t *testing.T) {
	origin := time.Unix(100, 0)
	s := newSeriesSink(origin, 10*time.Second)
	n := maxWindowSamples + 10000
	for i := range n {
		e := &load.Entry{Phase: "soak", Start: origin, End: origin.Add(500 * time.Millisecond), Result: "success", E2EMS: float64(i % 1000), TTFTMS: 1}
		if err := s.WriteEntry(e); err != nil {
			t.Fatal(err)
		}
	}
	w := s.wins[0]
	if w.requests != n || w.seen != int64(n) || len(w.e2e) != maxWindowSamples || len(w.ttft) != maxWindowSamples {
		t.Fatalf("requests %d seen %d, %d latencies kept", w.requests, w.seen, len(w.e2e))
	}
	if p50 := s.windows(origin)[0].E2EP50MS; math.Abs(p50-500) > 20 {
		t.Errorf("sampled median %v, want about 500", p50)
	}
}

func TestStoreNumbersSameSecondProcedures(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	at := time.Unix(1e9, 0)
	var ids []string
	for range 4 {
		p := &Procedure{Started: at, Target: "h:1"}
		if err := s.Create(p); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.ID)
	}
	want := []string{"20010909T014640Z_h-1", "20010909T014640Z_h-1_2", "20010909T014640Z_h-1_3", "20010909T014640Z_h-1_4"}
	if strings.Join(ids, " ") != strings.Join(want, " ") {
		t.Errorf("ids %v, want %v", ids, want)
	}
}
