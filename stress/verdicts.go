package stress

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/stats"
)

// Verdict names of the procedure (load.Verdict.Name); the server's own
// (server_memory_growth, stuck_requests, server_restart, preemptions) are
// lifted from each run's server view.
const (
	VerdictSanity            = "sanity"
	VerdictKnee              = "knee"
	VerdictSaturation        = "saturation"
	VerdictLatencyDrift      = "latency_drift"
	VerdictErrorAccumulation = "error_accumulation"
	VerdictQueueGrowth       = "queue_growth"
	VerdictVRAMGrowth        = "vram_growth"
)

// Thresholds of the verdicts (README, "The stress procedure").
const (
	// SanityErrorRatio: the sanity check passes with no failure, or with
	// at most this share failed and at least one success.
	SanityErrorRatio = 0.01
	// SaneTTFT bounds the sanity check's p99 TTFT when no TTFT objective is
	// given (its p99 end-to-end latency for kinds without tokens): at
	// 1 req/s nothing queues, so a first token later than this is a server
	// that is not well, whatever the model.
	SaneTTFT = 10 * time.Second

	// KneeErrorRatio: a rung with more failures than this is the knee.
	KneeErrorRatio = 0.01
	// KneeLatencyRise and KneeScaling define the latency jump: the rung's
	// median end-to-end latency rose by more than KneeLatencyRise over the
	// previous rung's while its throughput grew by less than KneeScaling
	// of the users added (doubling the users, under +50 % throughput):
	// the added users queue instead of being served.
	KneeLatencyRise = 0.5
	KneeScaling     = 0.5

	// DriftMinRise: latency drifts when its fitted line rises with 95 %
	// confidence and by more than this share of its fitted start over the
	// step.
	DriftMinRise = 0.10
	// ErrorAccumulationMin is the smallest rise of the error ratio (as a
	// ratio: 0.01 is one percentage point) that counts as accumulation,
	// over the step's fitted line or from its first quarter to its last.
	ErrorAccumulationMin = 0.01
	// zQuarters is the quarters' two-proportion test's bound: one-sided
	// 97.5 %, the confidence with which the fitted line's interval must
	// lie above 0.
	zQuarters = 1.96
	// VRAMGrowthMin and VRAMGrowthShare: VRAM grows when a GPU's used
	// memory rises with 95 % confidence by more than VRAMGrowthMin or
	// VRAMGrowthShare of its total, whichever is smaller, over the step
	// (model servers allocate their KV cache up front, so VRAM is flat).
	VRAMGrowthMin   = 256 << 20
	VRAMGrowthShare = 0.01
)

// sanityVerdict judges the sanity check's run; ttftSLO is the TTFT
// objective (0: none, SaneTTFT applies).
func sanityVerdict(res *load.Result, ttftSLO time.Duration) load.Verdict {
	s := &res.Summary
	v := load.Verdict{Name: VerdictSanity, Value: s.ErrorRatio, Unit: "ratio"}
	total := s.Requests + s.Dropped
	if s.Successful == 0 {
		v.Failed = true
		v.Summary = fmt.Sprintf("no request of %d succeeded%s", total, failureHint(s))
		return v
	}
	errorsOK := s.Failed == 0 || s.ErrorRatio <= SanityErrorRatio
	what, lat := "TTFT", s.TTFT
	if lat.Count == 0 {
		what, lat = "end-to-end latency", s.E2E
	}
	bound, boundWhy := SaneTTFT, "the sane bound"
	if ttftSLO > 0 && what == "TTFT" {
		bound, boundWhy = ttftSLO, "the TTFT objective"
	}
	latOK := lat.P99 <= ms(bound)
	v.Failed = !errorsOK || !latOK
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d requests succeeded (%.1f %% failed", s.Successful, total, 100*s.ErrorRatio)
	if !errorsOK {
		fmt.Fprintf(&b, ", more than %.0f %%%s", 100*SanityErrorRatio, failureHint(s))
	}
	fmt.Fprintf(&b, "), %s p99 %.0f ms ", what, lat.P99)
	if latOK {
		fmt.Fprintf(&b, "within %s of %s", boundWhy, bound)
	} else {
		fmt.Fprintf(&b, "beyond %s of %s: the server is slow even unloaded", boundWhy, bound)
	}
	v.Summary = b.String()
	return v
}

// failureHint names the most frequent failure and what it usually means.
func failureHint(s *load.Summary) string {
	best := ""
	for _, k := range s.SortedErrors() {
		if best == "" || s.Errors[k] > s.Errors[best] {
			best = k
		}
	}
	if best == "" {
		return ""
	}
	msg := ""
	if m := s.ErrorMessages[best]; len(m) > 0 {
		msg = ", e.g. " + m[0]
	}
	hint := ""
	switch best {
	case "connection":
		hint = " (is the server up at that address?)"
	case "http_4xx":
		hint = " (does it serve the model at that path, and accept the key?)"
	case "http_5xx":
		hint = " (the server fails requests: see its log)"
	case "timeout":
		hint = " (the server does not answer within the request timeout)"
	case "http_429":
		hint = " (the server refuses the load: rate limited)"
	}
	return fmt.Sprintf(": %d %s%s%s", s.Errors[best], best, msg, hint)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// knee is what the coarse ladder found.
type knee struct {
	found bool
	index int // rung index
	vus   int
	why   string
}

// rungThroughput is a rung's served rate: successes over the middle 80 %
// of its completions (the ramp and drain left out), else over its time.
func rungThroughput(r *load.Result) float64 {
	if len(r.Steps) > 0 && r.Steps[0].AchievedRate > 0 {
		return r.Steps[0].AchievedRate
	}
	return r.Summary.RequestThroughput
}

// findKnee returns the first rung with errors or a latency jump.
func findKnee(rungs []*load.Result) knee { return findKneeFrom(nil, rungs) }

// findKneeFrom is findKnee with the sanity check's summary as the baseline
// of errors (nil: none). With a baseline, a rung's errors make the knee only
// when its error ratio is also significantly above the baseline's pooled with
// the rungs before it (one-sided two-proportion z > 1.96): a server failing
// a steady share of requests at any load has no knee in its errors, and two
// random failures in a short rung are not one.
func findKneeFrom(base *load.Summary, rungs []*load.Result) knee {
	var bf, bn float64 // the baseline's failures and requests so far
	if base != nil {
		bn = float64(base.Requests + base.Dropped)
		bf = base.ErrorRatio * bn
	}
	for i, r := range rungs {
		vus := r.Context.VUs
		n := float64(r.Summary.Requests + r.Summary.Dropped)
		er := r.Summary.ErrorRatio
		above := base == nil || errorsAbove(er*n, n, bf, bn)
		bf, bn = bf+er*n, bn+n
		if er > KneeErrorRatio && above {
			return knee{true, i, vus, fmt.Sprintf("errors: %.1f %% of requests failed at %d users (more than %.0f %%)%s",
				100*er, vus, 100*KneeErrorRatio, failureHint(&r.Summary))}
		}
		if i == 0 {
			continue
		}
		p := rungs[i-1]
		pl, l := p.Summary.E2E.P50, r.Summary.E2E.P50
		pt, t := rungThroughput(p), rungThroughput(r)
		pv := p.Context.VUs
		if pl <= 0 || pt <= 0 || pv <= 0 {
			continue
		}
		latRise, thrGain, userGain := l/pl-1, t/pt-1, float64(vus)/float64(pv)-1
		if latRise > KneeLatencyRise && thrGain < KneeScaling*userGain {
			return knee{true, i, vus, fmt.Sprintf("latency jump: median latency rose %.0f %% (%.0f to %.0f ms) from %d to %d users while throughput grew %.0f %% (%.2f to %.2f req/s) for %.0f %% more users: the added users queue",
				100*latRise, pl, l, pv, vus, 100*thrGain, pt, t, 100*userGain)}
		}
	}
	return knee{}
}

// errorsAbove reports whether f failures of n are significantly more than
// bf of bn (one-sided two-proportion z test at 95 %).
func errorsAbove(f, n, bf, bn float64) bool {
	if n <= 0 {
		return false
	}
	if bn <= 0 {
		return true // nothing to compare with: the threshold alone decides
	}
	p := (f + bf) / (n + bn)
	se := math.Sqrt(p * (1 - p) * (1/n + 1/bn))
	if se == 0 {
		return f/n > bf/bn
	}
	return (f/n-bf/bn)/se > 1.96
}

// seriesX is each window's middle in minutes from the step's start.
func seriesX(ws []Window) []float64 {
	xs := make([]float64, len(ws))
	for i, w := range ws {
		xs[i] = (w.OffsetS + w.WidthS/2) / 60
	}
	return xs
}

// seriesSpan is the series' first window start and its length, in minutes.
func seriesSpan(ws []Window) (x0, span float64) {
	if len(ws) == 0 {
		return 0, 0
	}
	x0 = ws[0].OffsetS / 60
	last := ws[len(ws)-1]
	return x0, (last.OffsetS+last.WidthS)/60 - x0
}

// trend is a fitted line over a step with its rise.
type trend struct {
	line stats.Line
	// rise over the step, absolute (y's unit) and relative to the fitted
	// start.
	abs, rel float64
}

func fitTrend(ws []Window, y func(Window) (float64, bool)) trend {
	xs := seriesX(ws)
	ys := make([]float64, len(ws))
	for i, w := range ws {
		v, ok := y(w)
		if !ok {
			v = math.NaN() // Fit skips it
		}
		ys[i] = v
	}
	l := stats.Fit(xs, ys)
	x0, span := seriesSpan(ws)
	t := trend{line: load.FiniteLine(l), abs: l.Slope * span}
	if base := l.At(x0); base > 0 {
		t.rel = t.abs / base
	} else if mid := l.At(x0 + span/2); mid > 0 {
		t.rel = t.abs / mid
	}
	if math.IsNaN(t.abs) || math.IsInf(t.abs, 0) {
		t.abs, t.rel = 0, 0
	}
	return t
}

func (t trend) rising() bool { return t.line.Rising() }

func served(w Window) bool { return w.Requests > w.Failed }

// driftVerdict judges the drift of a step's median and p99 end-to-end
// latency. It returns the two fits too, for the numbers.
func driftVerdict(ws []Window) (v load.Verdict, p50, p99 trend) {
	p50 = fitTrend(ws, func(w Window) (float64, bool) { return w.E2EP50MS, served(w) })
	p99 = fitTrend(ws, func(w Window) (float64, bool) { return w.E2EP99MS, served(w) })
	v = load.Verdict{Name: VerdictLatencyDrift, Unit: "ms/min"}
	_, span := seriesSpan(ws)
	if p50.line.N < 3 {
		v.Undecided = true
		v.Summary = fmt.Sprintf("undecided: only %d windows with successful requests", p50.line.N)
		return v, p50, p99
	}
	d50 := p50.rising() && p50.rel > DriftMinRise
	d99 := p99.rising() && p99.rel > DriftMinRise
	v.Failed = d50 || d99
	pick := p99
	if d50 && !d99 {
		pick = p50
	}
	v.Value, v.Lo, v.Hi = pick.line.Slope, pick.line.SlopeLo, pick.line.SlopeHi
	desc := func(name string, t trend) string {
		return fmt.Sprintf("%s %+.1f ms/min (95 %% CI %.1f..%.1f, %+.0f %% over the step)", name, t.line.Slope, t.line.SlopeLo, t.line.SlopeHi, 100*t.rel)
	}
	verdict := "no drift"
	switch {
	case d50 && d99:
		verdict = "median and p99 latency drift upwards"
	case d50:
		verdict = "median latency drifts upwards"
	case d99:
		verdict = "p99 latency drifts upwards"
	}
	v.Summary = fmt.Sprintf("%s: %s, %s, over %.0f s in %d windows (drift: rising with 95 %% confidence and by more than %.0f %%)",
		verdict, desc("p50", p50), desc("p99", p99), span*60, len(ws), 100*DriftMinRise)
	return v, p50, p99
}

// errorAccumulationVerdict judges whether errors accumulate over a step:
// the windows' error ratio rises with 95 % confidence by at least
// ErrorAccumulationMin over the step, or the last quarter's error ratio
// exceeds the first quarter's by at least that much with one-sided 97.5 %
// confidence (a two-proportion z test, z > 1.96).
func errorAccumulationVerdict(ws []Window) load.Verdict {
	v := load.Verdict{Name: VerdictErrorAccumulation, Unit: "ratio/min"}
	var total, failed int
	for _, w := range ws {
		total += w.Requests
		failed += w.Failed
	}
	if total == 0 {
		v.Undecided = true
		v.Summary = "undecided: no request ended in the step"
		return v
	}
	if failed == 0 {
		v.Summary = fmt.Sprintf("no errors in %d requests", total)
		return v
	}
	t := fitTrend(ws, func(w Window) (float64, bool) {
		if w.Requests == 0 {
			return 0, false
		}
		return float64(w.Failed) / float64(w.Requests), true
	})
	v.Value, v.Lo, v.Hi = t.line.Slope, t.line.SlopeLo, t.line.SlopeHi
	rising := t.rising() && t.abs >= ErrorAccumulationMin
	q := max(len(ws)/4, 1)
	n1, f1 := sumWindows(ws[:q])
	n2, f2 := sumWindows(ws[len(ws)-q:])
	var p1, p2, z float64
	if n1 > 0 {
		p1 = float64(f1) / float64(n1)
	}
	if n2 > 0 {
		p2 = float64(f2) / float64(n2)
	}
	if n1 > 0 && n2 > 0 {
		p := float64(f1+f2) / float64(n1+n2)
		if se := math.Sqrt(p * (1 - p) * (1/float64(n1) + 1/float64(n2))); se > 0 {
			z = (p2 - p1) / se
		}
	}
	quarters := n1 > 0 && n2 > 0 && p2-p1 >= ErrorAccumulationMin && z > zQuarters
	v.Failed = rising || quarters
	verdict := "errors do not accumulate"
	if v.Failed {
		verdict = "errors accumulate"
	}
	v.Summary = fmt.Sprintf("%s: %d of %d requests failed; error ratio %+.4f/min (95 %% CI %.4f..%.4f, %+.1f points over the step); first quarter %.1f %% of %d, last quarter %.1f %% of %d (z %.2f)",
		verdict, failed, total, t.line.Slope, t.line.SlopeLo, t.line.SlopeHi, 100*t.abs, 100*p1, n1, 100*p2, n2, z)
	return v
}

func sumWindows(ws []Window) (n, failed int) {
	for _, w := range ws {
		n += w.Requests
		failed += w.Failed
	}
	return n, failed
}

// queueGrowthVerdict judges whether the requests in flight of an open-loop
// step grow (a server losing capacity over time queues a fixed rate's
// excess): rising with 95 % confidence, by at least load.SaturationMinQueue
// requests and load.SaturationMinRise of the level at the start, the
// over-saturation test's thresholds over the whole step.
func queueGrowthVerdict(ws []Window) load.Verdict {
	v := load.Verdict{Name: VerdictQueueGrowth, Unit: "requests/min"}
	t := fitTrend(ws, func(w Window) (float64, bool) { return w.InFlight, true })
	if t.line.N < 3 {
		v.Undecided = true
		v.Summary = "undecided: too few windows"
		return v
	}
	v.Value, v.Lo, v.Hi = t.line.Slope, t.line.SlopeLo, t.line.SlopeHi
	v.Failed = t.rising() && t.abs >= load.SaturationMinQueue && t.rel >= load.SaturationMinRise
	verdict := "the queue does not grow"
	if v.Failed {
		verdict = "the queue grows: the server serves less than the offered rate as time goes on"
	}
	v.Summary = fmt.Sprintf("%s: requests in flight %+.2f/min (95 %% CI %.2f..%.2f), %+.1f requests (%+.0f %%) over the step (growth: rising with 95 %% confidence, by at least %.0f request and %.0f %%)",
		verdict, t.line.Slope, t.line.SlopeLo, t.line.SlopeHi, t.abs, 100*t.rel, load.SaturationMinQueue, 100*load.SaturationMinRise)
	return v
}

// vramVerdict judges the VRAM of every GPU sampled between from and to (the
// step's measured time): the worst GPU's growth decides.
func vramVerdict(g *load.GPUTimeline, from, to time.Time) load.Verdict {
	v := load.Verdict{Name: VerdictVRAMGrowth, Unit: "bytes/min"}
	type series struct {
		name   string
		total  uint64
		xs, ys []float64
	}
	byUUID := map[string]*series{}
	var order []string
	if g != nil {
		for _, s := range g.Samples {
			if s.Time.Before(from) || s.Time.After(to) {
				continue
			}
			for _, d := range s.Devices {
				key := d.UUID
				if key == "" {
					key = fmt.Sprint(d.Index)
				}
				sr, ok := byUUID[key]
				if !ok {
					sr = &series{name: fmt.Sprintf("GPU %d (%s)", d.Index, d.Name), total: d.MemoryTotalBytes}
					byUUID[key] = sr
					order = append(order, key)
				}
				sr.xs = append(sr.xs, s.Time.Sub(from).Minutes())
				sr.ys = append(sr.ys, float64(d.MemoryUsedBytes))
			}
		}
	}
	if len(order) == 0 {
		v.Undecided = true
		v.Summary = "undecided: no GPU samples in the step (VRAM is read with NVML on the machine that runs llmprobe: run it on the GPU host)"
		return v
	}
	span := to.Sub(from).Minutes()
	picked := false
	var worstRise float64
	var parts []string
	for _, k := range order {
		sr := byUUID[k]
		l := stats.Fit(sr.xs, sr.ys)
		rise := l.Slope * span
		limit := float64(VRAMGrowthMin)
		if sr.total > 0 {
			limit = min(limit, VRAMGrowthShare*float64(sr.total))
		}
		grows := l.Rising() && rise > limit
		fl := load.FiniteLine(l)
		parts = append(parts, fmt.Sprintf("%s %+.1f MiB/min (95 %% CI %.1f..%.1f), %+.0f MiB over the step (limit %.0f MiB)",
			sr.name, fl.Slope/(1<<20), fl.SlopeLo/(1<<20), fl.SlopeHi/(1<<20), rise/(1<<20), limit/(1<<20)))
		// the GPU that grows, and among equals the one that rises most
		if !picked || (grows && !v.Failed) || (grows == v.Failed && rise > worstRise) {
			picked, worstRise = true, rise
			v.Value, v.Lo, v.Hi = fl.Slope, fl.SlopeLo, fl.SlopeHi
			v.Failed = grows
		}
	}
	verdict := "VRAM is stable"
	if v.Failed {
		verdict = "VRAM grows"
	}
	v.Summary = verdict + ": " + strings.Join(parts, "; ")
	return v
}
