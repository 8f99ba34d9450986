package stress

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/gpu"
	"github.com/llmprobe/llmprobe/load"
)

func sanityResult(ok, failed int64, ttftP99, e2eP99 float64) *load.Result {
	r := &load.Result{Status: load.StatusCompleted}
	s := &r.Summary
	s.Requests, s.Successful, s.Failed = ok+failed, ok, failed
	if ok+failed > 0 {
		s.ErrorRatio = float64(failed) / float64(ok+failed)
	}
	if failed > 0 {
		s.Errors = map[string]int64{"connection": failed}
		s.ErrorMessages = map[string][]string{"connection": {"dial tcp 127.0.0.1:1: connect: connection refused"}}
	}
	if ttftP99 > 0 {
		s.TTFT = load.Dist{Count: ok, P99: ttftP99}
	}
	s.E2E = load.Dist{Count: ok, P99: e2eP99}
	return r
}

func TestSanityVerdict(t *testing.T) {
	for _, tc := range []struct {
		name       string
		res        *load.Result
		slo        time.Duration
		fail       bool
		wantInText string
	}{
		{"all served", sanityResult(30, 0, 80, 700), 0, false, "30 of 30 requests succeeded"},
		{"1 % failed with successes", sanityResult(99, 1, 80, 700), 0, false, "1.0 % failed"},
		{"2 % failed", sanityResult(49, 1, 80, 700), 0, true, "more than 1 %: 1 connection"},
		{"nothing served", sanityResult(0, 5, 0, 0), 0, true, "no request of 5 succeeded: 5 connection, e.g. dial tcp"},
		{"TTFT at the sane bound", sanityResult(30, 0, 10000, 12000), 0, false, "within the sane bound of 10s"},
		{"TTFT past the sane bound", sanityResult(30, 0, 10001, 12000), 0, true, "beyond the sane bound of 10s"},
		{"TTFT within the objective", sanityResult(30, 0, 499, 700), 500 * time.Millisecond, false, "within the TTFT objective of 500ms"},
		{"TTFT past the objective", sanityResult(30, 0, 501, 700), 500 * time.Millisecond, true, "beyond the TTFT objective"},
		// embeddings and rerank have no tokens: their end-to-end latency is judged
		{"pooling kind within the bound", sanityResult(30, 0, 0, 9000), 0, false, "end-to-end latency p99 9000 ms"},
		{"pooling kind past the bound", sanityResult(30, 0, 0, 10500), 0, true, "end-to-end latency p99 10500 ms beyond"},
		{"pooling kind ignores a TTFT objective", sanityResult(30, 0, 0, 600), 500 * time.Millisecond, false, "within the sane bound"},
	} {
		v := sanityVerdict(tc.res, tc.slo)
		if v.Failed != tc.fail || v.Name != VerdictSanity {
			t.Errorf("%s: failed %v, want %v: %s", tc.name, v.Failed, tc.fail, v.Summary)
		}
		if !strings.Contains(v.Summary, tc.wantInText) {
			t.Errorf("%s: summary %q lacks %q", tc.name, v.Summary, tc.wantInText)
		}
	}
}

// rung is a coarse ladder rung's result: vus users, achieved req/s, median
// latency ms, error ratio.
func rung(vus int, rps, p50, errRatio float64) *load.Result {
	r := &load.Result{Status: load.StatusCompleted, Context: load.Context{VUs: vus}}
	r.Steps = []load.Step{{AchievedRate: rps}}
	r.Summary.E2E.P50 = p50
	r.Summary.ErrorRatio = errRatio
	r.Summary.Successful = 100
	return r
}

func TestFindKnee(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rungs []*load.Result
		vus   int // 0: no knee
		why   string
	}{
		{"queueing past 8 slots", []*load.Result{rung(4, 6.1, 650, 0), rung(8, 12.2, 652, 0), rung(16, 12.3, 1300, 0)}, 16, "latency jump: median latency rose 99 % (652 to 1300 ms) from 8 to 16 users while throughput grew 1 %"},
		{"latency +49 % with no throughput gain", []*load.Result{rung(8, 12, 1000, 0), rung(16, 12, 1490, 0)}, 0, ""},
		{"latency +51 %, throughput +49 % of +100 % users", []*load.Result{rung(8, 10, 1000, 0), rung(16, 14.9, 1510, 0)}, 16, "latency jump"},
		{"latency +51 %, throughput +51 % of +100 % users", []*load.Result{rung(8, 10, 1000, 0), rung(16, 15.1, 1510, 0)}, 0, ""},
		{"a batching server that scales", []*load.Result{rung(4, 8, 500, 0), rung(8, 15, 530, 0), rung(16, 28, 570, 0), rung(32, 50, 640, 0)}, 0, ""},
		{"1 % errors is not the knee", []*load.Result{rung(4, 6, 650, 0.01), rung(8, 12, 650, 0)}, 0, ""},
		{"errors past 1 %", []*load.Result{rung(4, 6, 650, 0), rung(8, 12, 650, 0.011)}, 8, "errors: 1.1 % of requests failed at 8 users"},
		{"errors at the first rung", []*load.Result{rung(4, 6, 650, 0.5)}, 4, "errors"},
		{"the first knee wins", []*load.Result{rung(4, 6, 650, 0), rung(8, 6, 1300, 0), rung(16, 6, 2600, 0.2)}, 8, "latency jump"},
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

// windows makes n windows of width s with f(i) setting each.
func windows(n int, width float64, f func(i int, w *Window)) []Window {
	ws := make([]Window, n)
	for i := range ws {
		ws[i] = Window{OffsetS: float64(i) * width, WidthS: width, Requests: 100}
		f(i, &ws[i])
	}
	return ws
}

func TestDriftVerdict(t *testing.T) {
	line := func(start, rise float64) func(i int, w *Window) {
		return func(i int, w *Window) {
			x := (float64(i) + 0.5) / 20
			w.E2EP50MS = start + rise*x
			w.E2EP99MS = 2 * (start + rise*x)
		}
	}
	for _, tc := range []struct {
		name string
		ws   []Window
		fail bool
		text string
	}{
		{"flat", windows(20, 30, line(100, 0)), false, "no drift"},
		{"rises 11 % over the step", windows(20, 30, line(100, 11)), true, "median and p99 latency drift upwards"},
		{"rises 9 % over the step", windows(20, 30, line(100, 9)), false, "no drift"},
		{"falls", windows(20, 30, line(100, -50)), false, "no drift"},
	} {
		v, p50, _ := driftVerdict(tc.ws)
		if v.Failed != tc.fail || !strings.Contains(v.Summary, tc.text) {
			t.Errorf("%s: failed %v, want %v: %s", tc.name, v.Failed, tc.fail, v.Summary)
		}
		if v.Unit != "ms/min" || v.Undecided {
			t.Errorf("%s: %+v", tc.name, v)
		}
		// 10 minutes of windows: the slope is the rise per 10 minutes / 10
		if tc.name == "rises 11 % over the step" && math.Abs(p50.line.Slope-1.1) > 1e-9 {
			t.Errorf("p50 slope %v ms/min, want 1.1", p50.line.Slope)
		}
	}
	// Only the tail drifts: p99 rises 20 %, the median stays.
	ws := windows(20, 30, func(i int, w *Window) { w.E2EP50MS, w.E2EP99MS = 100, 200+2*float64(i) })
	if v, _, _ := driftVerdict(ws); !v.Failed || !strings.Contains(v.Summary, "p99 latency drifts") || v.Value <= 0 {
		t.Errorf("p99 drift: %+v", v)
	}
	// Noise around a level is rarely drift: each series' interval misses
	// 2.5 % of the time upwards, so at most about 5 % of trials (seeded).
	rng := rand.New(rand.NewPCG(5, 6))
	drifted := 0
	for range 200 {
		ws := windows(20, 30, func(_ int, w *Window) {
			w.E2EP50MS = 100 + 5*rng.NormFloat64()
			w.E2EP99MS = 300 + 40*rng.NormFloat64()
		})
		if v, _, _ := driftVerdict(ws); v.Failed {
			drifted++
		}
	}
	if drifted > 12 {
		t.Errorf("noise called drift in %d of 200 trials", drifted)
	}
	// Windows without a successful request do not count: two left is too few.
	ws = windows(10, 1, func(i int, w *Window) {
		if i > 1 {
			w.Failed = w.Requests
		}
		w.E2EP50MS = float64(i)
	})
	if v, _, _ := driftVerdict(ws); !v.Undecided || v.Failed {
		t.Errorf("two served windows: %+v", v)
	}
}

func TestErrorAccumulationVerdict(t *testing.T) {
	for _, tc := range []struct {
		name      string
		ws        []Window
		fail, und bool
		text      string
	}{
		{"no errors", windows(20, 30, func(int, *Window) {}), false, false, "no errors in 2000 requests"},
		{"a steady 5 %", windows(20, 30, func(_ int, w *Window) { w.Failed = 5 }), false, false, "errors do not accumulate"},
		{"0 to 4 %", windows(20, 30, func(i int, w *Window) { w.Failed = i / 5 }), true, false, "errors accumulate"},
		{"rising by half a point", windows(20, 30, func(i int, w *Window) {
			w.Requests = 1000
			w.Failed = 10 + i/4 // 1 % to 1.4 %
		}), false, false, "do not accumulate"},
		{"the last quarter jumps", windows(20, 30, func(i int, w *Window) {
			w.Requests = 1000
			if i >= 15 {
				w.Failed = 30
			}
		}), true, false, "last quarter 3.0 % of 5000"},
		{"nothing ended", windows(5, 1, func(_ int, w *Window) { w.Requests = 0 }), false, true, "undecided"},
	} {
		v := errorAccumulationVerdict(tc.ws)
		if v.Failed != tc.fail || v.Undecided != tc.und || !strings.Contains(v.Summary, tc.text) {
			t.Errorf("%s: failed %v undecided %v, want %v %v: %s", tc.name, v.Failed, v.Undecided, tc.fail, tc.und, v.Summary)
		}
	}
	// Errors scattered at random rarely accumulate: each test misses 2.5 %
	// of the time upwards, so at most about 5 % of trials (seeded).
	rng := rand.New(rand.NewPCG(7, 8))
	flagged := 0
	for range 200 {
		ws := windows(20, 30, func(_ int, w *Window) {
			for range w.Requests {
				if rng.Float64() < 0.02 {
					w.Failed++
				}
			}
		})
		if errorAccumulationVerdict(ws).Failed {
			flagged++
		}
	}
	if flagged > 12 {
		t.Errorf("random 2 %% errors called accumulating in %d of 200 trials", flagged)
	}
}

func TestQueueGrowthVerdict(t *testing.T) {
	line := func(start, rise float64) func(i int, w *Window) {
		return func(i int, w *Window) { w.InFlight = start + rise*(float64(i)+0.5)/20 }
	}
	for _, tc := range []struct {
		name string
		ws   []Window
		fail bool
	}{
		{"flat", windows(20, 3, line(8, 0)), false},
		{"8 to 12", windows(20, 3, line(8, 4)), true},
		{"up 26 %", windows(20, 3, line(8, 2.1)), true},
		{"up 24 %", windows(20, 3, line(8, 1.9)), false},
		{"under one request", windows(20, 3, line(2, 0.9)), false},
	} {
		v := queueGrowthVerdict(tc.ws)
		if v.Failed != tc.fail || v.Unit != "requests/min" {
			t.Errorf("%s: failed %v, want %v: %s", tc.name, v.Failed, tc.fail, v.Summary)
		}
	}
}

func TestVRAMVerdict(t *testing.T) {
	from := time.Unix(1000, 0)
	to := from.Add(10 * time.Minute)
	timeline := func(total uint64, riseMiB float64, outside bool) *load.GPUTimeline {
		g := &load.GPUTimeline{}
		for i := range 61 {
			at := from.Add(time.Duration(i) * 10 * time.Second)
			used := 70<<30 + uint64(riseMiB*float64(1<<20)*float64(i)/60)
			g.Samples = append(g.Samples, gpu.Sample{Time: at, Devices: []gpu.DeviceSample{{Index: 0, UUID: "GPU-a", Name: "H100", MemoryUsedBytes: used, MemoryTotalBytes: total}}})
		}
		if outside { // warmup and drain samples far off do not count
			g.Samples = append(g.Samples,
				gpu.Sample{Time: from.Add(-time.Minute), Devices: []gpu.DeviceSample{{UUID: "GPU-a", MemoryUsedBytes: 1 << 30, MemoryTotalBytes: total}}},
				gpu.Sample{Time: to.Add(time.Minute), Devices: []gpu.DeviceSample{{UUID: "GPU-a", MemoryUsedBytes: 79 << 30, MemoryTotalBytes: total}}})
		}
		return g
	}
	const h100 = 80 << 30
	for _, tc := range []struct {
		name string
		g    *load.GPUTimeline
		fail bool
		und  bool
	}{
		{"flat", timeline(h100, 0, true), false, false},
		{"300 MiB on 80 GiB", timeline(h100, 300, false), true, false},
		{"200 MiB on 80 GiB", timeline(h100, 200, false), false, false},
		{"100 MiB on 8 GiB (1 % is 82 MiB)", timeline(8<<30, 100, false), true, false},
		{"70 MiB on 8 GiB", timeline(8<<30, 70, false), false, false},
		{"no GPU", nil, false, true},
		{"samples outside the step only", &load.GPUTimeline{Samples: timeline(h100, 0, true).Samples[61:]}, false, true},
	} {
		v := vramVerdict(tc.g, from, to)
		if v.Failed != tc.fail || v.Undecided != tc.und {
			t.Errorf("%s: failed %v undecided %v, want %v %v: %s", tc.name, v.Failed, v.Undecided, tc.fail, tc.und, v.Summary)
		}
	}
	// Two GPUs: the one that grows decides, whichever comes first.
	g := timeline(h100, 0, false)
	grow := timeline(h100, 1024, false)
	for i := range g.Samples {
		d := grow.Samples[i].Devices[0]
		d.UUID, d.Index = "GPU-b", 1
		g.Samples[i].Devices = append(g.Samples[i].Devices, d)
	}
	v := vramVerdict(g, from, to)
	if !v.Failed || math.Abs(v.Value-1024.0/10*(1<<20)) > 1<<20 || !strings.Contains(v.Summary, "GPU 1") {
		t.Errorf("two GPUs, one growing 1 GiB in 10 min: %+v", v)
	}
}
