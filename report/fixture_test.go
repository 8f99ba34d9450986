package report

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/llmprobe/llmprobe/gpu"
	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/servermetrics"
	"github.com/llmprobe/llmprobe/stress"
)

// The fixture is a procedure against a simulator of known capacity: 8
// slots, 20 ms TTFT, 64 tokens at 10 ms, so a request takes 0.66 s and the
// server serves at most 8/0.66 = 12.1 requests/s; queueing starts there.
const (
	fixSlots   = 8
	fixService = 0.66 // seconds per request
	fixCap     = fixSlots / fixService
)

var fixStart = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

type fixture struct {
	rng   *rand.Rand
	clock time.Time
}

func boolp(b bool) *bool { return &b }

func dist(p50 float64, rng *rand.Rand) load.Dist {
	j := 1 + rng.Float64()*0.02
	return load.Dist{Count: 100, Mean: p50 * 1.02, Min: p50 * 0.9, P50: p50, P90: p50 * 1.1 * j, P95: p50 * 1.15 * j, P99: p50 * 1.3 * j, Max: p50 * 1.5}
}

// step models one load step at an offered rate (or with vus) against the
// simulated server: below capacity requests are served in service time;
// above it they queue and latency grows with the backlog.
func (f *fixture) step(idx int, kind string, rate float64, vus int, dur time.Duration) load.Step {
	var achieved, waiting float64
	switch {
	case vus > 0:
		achieved = math.Min(float64(vus)/fixService, fixCap)
		waiting = math.Max(0, float64(vus-fixSlots))
		rate = 0
	default:
		achieved = math.Min(rate, fixCap) * (0.99 + 0.01*f.rng.Float64())
		waiting = math.Max(0, (rate-fixCap)*dur.Seconds()/2)
	}
	queueMS := 0.0
	if achieved > 0 {
		queueMS = waiting / achieved * 1000
	}
	e2e := fixService*1000 + queueMS
	ttft := 20 + queueMS
	n := int64(achieved * dur.Seconds())
	errRatio := 0.0
	if rate > fixCap*1.05 {
		errRatio = 0.02 * (rate - fixCap) // timeouts once the queue is deep
	}
	failed := int64(float64(n) * errRatio)
	s := load.Step{
		Index: idx, Kind: kind, OfferedRate: rate, VUs: vus, ArrivalRate: math.Max(rate, achieved), AchievedRate: achieved,
		Start: f.clock, End: f.clock.Add(dur), WindowS: dur.Seconds(),
		Summary: load.Summary{
			Requests: n, Successful: n - failed, Failed: failed, ErrorRatio: float64(failed) / math.Max(1, float64(n)),
			DurationSeconds: dur.Seconds(), OutputTokens: 64 * (n - failed),
			RequestThroughput: achieved, OutputThroughput: achieved * 64,
			E2E: dist(e2e, f.rng), TTFT: dist(ttft, f.rng),
		},
		Server: &load.StepServer{
			Scrapes:         int(dur.Seconds()),
			RequestsRunning: &load.Gauge{Mean: math.Min(achieved*fixService, fixSlots), Max: fixSlots, Last: 0},
			RequestsWaiting: &load.Gauge{Mean: waiting, Max: waiting * 2, Last: 0},
			KVCacheUsage:    &load.Gauge{Mean: 0.1 * math.Min(achieved*fixService, fixSlots), Max: 0.8},
		},
	}
	f.clock = f.clock.Add(dur + 2*time.Second)
	return s
}

// result wraps steps as a run, with GPU samples and a server timeline
// every second over each step.
func (f *fixture) result(id, mode string, steps ...load.Step) *load.Result {
	r := &load.Result{ID: id, Target: "sim", Model: "sim-model", Kind: "chat", Mode: mode, Status: load.StatusCompleted, Passed: true, Steps: steps}
	r.Started, r.Ended = steps[0].Start, steps[len(steps)-1].End
	r.GPU = &load.GPUTimeline{Every: time.Second}
	r.Server = &load.ServerView{Timeline: &servermetrics.Timeline{URL: "http://sim/metrics", EveryS: 1}}
	for _, s := range steps {
		for t := s.Start; t.Before(s.End); t = t.Add(time.Second) {
			busy := s.AchievedRate / fixCap
			r.GPU.Samples = append(r.GPU.Samples, gpu.Sample{Time: t, Devices: []gpu.DeviceSample{{
				Index: 0, UUID: "GPU-0", Name: "Sim H100", UtilizationRatio: math.Min(1, busy*(0.9+0.1*f.rng.Float64())),
				MemoryUsedBytes: 70<<30 + uint64(busy*4*(1<<30)), MemoryTotalBytes: 80 << 30,
			}}})
			r.Server.Timeline.Points = append(r.Server.Timeline.Points, servermetrics.Point{Time: t, Values: map[string]float64{
				"requests_waiting":      s.Server.RequestsWaiting.Mean * (0.5 + f.rng.Float64()),
				"requests_running":      s.Server.RequestsRunning.Mean,
				"kv_cache_usage_ratio":  s.Server.KVCacheUsage.Mean,
				"resident_memory_bytes": 12 << 30,
			}})
		}
	}
	r.GPU.Summary = gpu.Summarize(r.GPU.Samples)
	return r
}

func id(n int, step string) string {
	return fmt.Sprintf("20250301T10%04d.000Z_stress-%s_sim", n, step)
}

// windows models a long step's latency series: width s windows over dur,
// p99 drifting by drift ms per minute.
func (f *fixture) windows(dur time.Duration, width float64, drift float64) []stress.Window {
	var ws []stress.Window
	for off := 0.0; off+width <= dur.Seconds(); off += width {
		base := fixService*1000 + drift*off/60
		noise := 1 + 0.05*f.rng.NormFloat64()
		ws = append(ws, stress.Window{OffsetS: off, WidthS: width, Requests: 90, Failed: 0, InFlight: 6 * noise,
			E2EP50MS: base * noise, E2EP99MS: base * 1.3 * noise, TTFTP50MS: 20 * noise, TTFTP99MS: 30 * noise})
	}
	return ws
}

// fullProcedure is a completed procedure of every step; soak is its soak's
// length (four hours makes the lines long enough to be downsampled).
func fullProcedure(soak time.Duration) *stress.Procedure {
	f := &fixture{rng: rand.New(rand.NewPCG(1, 2)), clock: fixStart}
	p := &stress.Procedure{
		ID: "20250301T100000.000Z_stress_sim", Target: "sim", Model: "sim-model", Kind: "chat",
		Status: stress.StatusCompleted, Passed: true, Started: fixStart,
		Plan:     stress.Plan{Scale: 1, Ladder: []int{4, 8, 16, 32}, LadderMax: 256, SweepRates: 10, Fractions: []float64{0.1, 0.25, 0.5, 0.75, 0.9}, SoakFraction: 0.75, SoakDuration: soak},
		Workload: load.WorkloadInfo{Name: "chat", Prompt: "synthetic", InputTokens: 128, Output: load.DecodeOptions{NumTokens: 64}},
	}
	add := func(o stress.StepOutcome) {
		o.Started = o.Results[0].Started
		o.Ended = o.Results[len(o.Results)-1].Ended
		for _, r := range o.Results {
			o.RunIDs = append(o.RunIDs, r.ID)
		}
		p.Steps = append(p.Steps, o)
	}
	// sanity
	san := f.result(id(1, "sanity"), load.ModeRate, f.step(1, load.StepRate, 1, 0, 30*time.Second))
	add(stress.StepOutcome{Step: stress.StepSanity, Status: stress.OutcomePassed, Results: []*load.Result{san},
		Verdicts: []load.Verdict{{Name: "sanity", Summary: "0 errors in 30 requests; TTFT p99 26 ms within the 500 ms SLO", Value: 0, Unit: "errors"}}})
	// coarse ladder
	var coarse []*load.Result
	for i, v := range []int{4, 8, 16, 32} {
		coarse = append(coarse, f.result(id(10+i, "coarse"), load.ModeThroughput, f.step(0, load.StepThroughput, 0, v, 60*time.Second)))
	}
	add(stress.StepOutcome{Step: stress.StepCoarse, Status: stress.OutcomePassed, Results: coarse,
		Verdicts: []load.Verdict{{Name: "knee", Summary: "knee at 16 VUs: p99 rose 2.0x over 8 VUs (jump threshold 1.5x)", Value: 16, Unit: "VUs"}}})
	p.Numbers.KneeVUs, p.Numbers.KneeFound = 16, true
	// sweep: a throughput phase, then 10 rates up to 110 % of it
	steps := []load.Step{f.step(0, load.StepThroughput, 0, 64, 60*time.Second)}
	maxRate := steps[0].AchievedRate
	for i := 1; i <= 10; i++ {
		s := f.step(i, load.StepRate, maxRate*1.1*float64(i)/10, 0, 120*time.Second)
		q := s.AchievedRate >= 0.95*s.OfferedRate && s.Summary.ErrorRatio <= 0.01
		s.Qualified = boolp(q)
		if !q {
			s.Verdict = fmt.Sprintf("achieved %.1f of %.1f req/s offered", s.AchievedRate, s.OfferedRate)
		}
		steps = append(steps, s)
	}
	sw := f.result(id(20, "sweep"), load.ModeSweep, steps...)
	best := 0
	for i := 1; i < len(steps); i++ {
		if *steps[i].Qualified {
			best = i
		}
	}
	sw.DetectedMax = &load.Throughput{Step: best, RequestsPerSecond: steps[best].OfferedRate, AchievedRequestsPerSec: steps[best].AchievedRate, OutputTokensPerSecond: steps[best].AchievedRate * 64}
	p.Numbers.DetectedMaxRPS, p.Numbers.DetectedMaxTokensPerS = sw.DetectedMax.RequestsPerSecond, sw.DetectedMax.OutputTokensPerSecond
	p.Numbers.SaturationRPS = steps[best+1].OfferedRate
	sw.SaturationRate = p.Numbers.SaturationRPS
	sw.Steps[best+1].OverSaturated = true
	sw.Steps[best+1].Saturation = &load.Saturation{OverSaturated: true, Windows: 12, WindowS: 10, Why: "in flight +240 % and TTFT +380 % over the step, both rising (95 % CI)"}
	add(stress.StepOutcome{Step: stress.StepSweep, Status: stress.OutcomePassed, Results: []*load.Result{sw},
		Verdicts: []load.Verdict{{Name: "saturation", Summary: fmt.Sprintf("over-saturated from %.1f req/s: offered concurrency and TTFT both rising (95 %% CI)", p.Numbers.SaturationRPS), Value: p.Numbers.SaturationRPS, Unit: "requests/s"}}})
	// fine rates
	var fine []load.Step
	for i, fr := range p.Plan.Fractions {
		fine = append(fine, f.step(i, load.StepRate, fr*p.Numbers.DetectedMaxRPS, 0, 300*time.Second))
	}
	add(stress.StepOutcome{Step: stress.StepFine, Status: stress.OutcomePassed, Results: []*load.Result{f.result(id(30, "fine"), load.ModeRate, fine...)}})
	// validation at the knee's VUs, ten minutes
	val := f.result(id(40, "validation"), load.ModeThroughput, f.step(0, load.StepThroughput, 0, 16, 600*time.Second))
	add(stress.StepOutcome{Step: stress.StepValidation, Status: stress.OutcomePassed, Results: []*load.Result{val}, Series: f.windows(600*time.Second, 10, 0),
		Verdicts: []load.Verdict{{Name: "latency_drift", Summary: "no drift: p99 slope 0.2 ms/min (95 % CI -1.1..1.5) over 600 s", Value: 0.2, Lo: -1.1, Hi: 1.5, Unit: "ms/min"}}})
	p.Numbers.P50DriftMSPerMin, p.Numbers.P99DriftMSPerMin = 0.1, 0.2
	// soak at 75 % of the max, drifting 0.5 ms/min
	if soak > 0 {
		so := f.result(id(50, "soak"), load.ModeRate, f.step(0, load.StepRate, 0.75*p.Numbers.DetectedMaxRPS, 0, soak))
		add(stress.StepOutcome{Step: stress.StepSoak, Status: stress.OutcomeFailed, Results: []*load.Result{so}, Series: f.windows(soak, 10, 0.5),
			Verdicts: []load.Verdict{
				{Name: "latency_drift", Failed: true, Summary: "p99 drifts: +0.65 ms/min (95 % CI 0.61..0.69)", Value: 0.65, Lo: 0.61, Hi: 0.69, Unit: "ms/min"},
				{Name: "error_accumulation", Summary: "no error accumulation: 0 errors", Unit: "errors/min"},
				{Name: "vram_growth", Undecided: true, Summary: "VRAM growth undecided: too few samples"},
			}})
		p.Numbers.P99AtSoakMS = so.Steps[0].Summary.E2E.P99
		p.Passed = false
	}
	p.Ended = f.clock
	for _, o := range p.Steps {
		p.Verdicts = append(p.Verdicts, o.Verdicts...)
	}
	return p
}
