package load

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/llmprobe/llmprobe/servermetrics"
	"github.com/llmprobe/llmprobe/stats"
)

// AttachServer fills res.Server and every step's Server from what the
// server's metrics page said during the run: the timeline; per step the
// gauges over the step's scrapes, the histograms' and counters' deltas
// between the step's start and end marks, and the latency breakdown; for
// the run its breakdown and the health verdicts. A nil run (no metrics page
// configured) leaves res.Server nil; a page that could not be read leaves
// only its Note.
func AttachServer(res *Result, run *ServerRun) {
	if run == nil {
		return
	}
	v := &ServerView{Timeline: run.Timeline, Note: run.Note}
	res.Server = v
	if run.Timeline == nil || len(run.Timeline.Points) == 0 {
		if v.Note == "" {
			v.Note = "the metrics page gave no data"
		}
		return
	}
	prev := run.Marks[MarkStart]
	havePrev := hasMark(run, MarkStart)
	for i := range res.Steps {
		st := &res.Steps[i]
		start, okStart := run.Marks[StepStartMark(st.Index)]
		if !okStart {
			start, okStart = prev, havePrev
		}
		end, okEnd := run.Marks[StepEndMark(st.Index)]
		st.Server = stepServer(st, run.Timeline, start, end, okStart && okEnd)
		prev, havePrev = end, okEnd
	}
	if len(res.Steps) > 0 {
		first, last := &res.Steps[0], &res.Steps[len(res.Steps)-1]
		start, ok1 := run.Marks[StepStartMark(first.Index)]
		if !ok1 {
			start, ok1 = run.Marks[MarkStart]
		}
		end, ok2 := run.Marks[StepEndMark(last.Index)]
		if ok1 && ok2 {
			w := servermetrics.Delta(start, end)
			v.Breakdown = breakdown(res.Summary.TTFT, serverHist(w.Hists["ttft_seconds"]),
				serverHist(w.Hists["queue_time_seconds"]), serverHist(w.Hists["prefill_time_seconds"]))
		}
	}
	if v.Breakdown == nil && res.Summary.TTFT.Count > 0 && run.Timeline.Server != "" {
		if _, ok := run.Marks[MarkStart].Hists["ttft_seconds"]; !ok && hasMark(run, MarkStart) {
			v.Note = joinNote(v.Note, fmt.Sprintf("the %s page has no TTFT histogram: no latency breakdown", run.Timeline.Server))
		}
	}
	v.Verdicts = serverVerdicts(res, run)
}

func hasMark(run *ServerRun, key string) bool {
	_, ok := run.Marks[key]
	return ok
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// stepServer is the server's view of one step: gauges from the timeline's
// points within [Start, End], deltas between the step's marks.
func stepServer(st *Step, tl *servermetrics.Timeline, start, end servermetrics.Snapshot, marked bool) *StepServer {
	var pts []servermetrics.Point
	for _, p := range tl.Points {
		if !p.Time.Before(st.Start) && !p.Time.After(st.End) {
			pts = append(pts, p)
		}
	}
	if len(pts) == 0 && !marked {
		return nil
	}
	ss := &StepServer{Scrapes: len(pts)}
	var last map[string]float64
	if marked {
		last = end.Values
	} else if len(pts) > 0 {
		last = pts[len(pts)-1].Values
	}
	ss.RequestsRunning = gaugeOver(pts, "requests_running", last)
	ss.RequestsWaiting = gaugeOver(pts, "requests_waiting", last)
	ss.KVCacheUsage = gaugeOver(pts, "kv_cache_usage_ratio", last)
	ss.ResidentMemory = gaugeOver(pts, "resident_memory_bytes", last)
	if marked {
		w := servermetrics.Delta(start, end)
		ss.QueueTime = serverHist(w.Hists["queue_time_seconds"])
		ss.TTFT = serverHist(w.Hists["ttft_seconds"])
		ss.ITL = serverHist(w.Hists["itl_seconds"])
		ss.TPOT = serverHist(w.Hists["tpot_seconds"])
		ss.Prefill = serverHist(w.Hists["prefill_time_seconds"])
		ss.Decode = serverHist(w.Hists["decode_time_seconds"])
		ss.E2E = serverHist(w.Hists["e2e_latency_seconds"])
		ss.Preemptions = w.Increase["preemptions_total"]
		ss.PromptTokens = w.Increase["prompt_tokens_total"]
		ss.GenerationTokens = w.Increase["generation_tokens_total"]
		ss.Resets = w.Resets
		ss.Breakdown = breakdown(st.Summary.TTFT, ss.TTFT, ss.QueueTime, ss.Prefill)
	}
	return ss
}

// gaugeOver is a gauge's mean and max over the points that have it, and
// its value in last (the step's end mark, after the drain); nil when no
// point has it.
func gaugeOver(pts []servermetrics.Point, name string, last map[string]float64) *Gauge {
	g, n := &Gauge{}, 0
	for _, p := range pts {
		v, ok := p.Values[name]
		if !ok {
			continue
		}
		if n == 0 || v > g.Max {
			g.Max = v
		}
		g.Mean += v
		n++
	}
	lv, lok := last[name]
	if n == 0 && !lok {
		return nil
	}
	if n > 0 {
		g.Mean /= float64(n)
	}
	if lok {
		g.Last = lv
		if n == 0 {
			g.Mean, g.Max = lv, lv
		}
	}
	return g
}

// serverHist is a histogram delta in milliseconds; nil without observations.
func serverHist(h *servermetrics.Hist) *ServerHist {
	mean, ok := h.Mean()
	if !ok {
		return nil
	}
	out := &ServerHist{Count: h.Count, MeanMS: mean * 1000}
	if q, ok := h.Quantile(0.5); ok {
		out.P50MS = q * 1000
	}
	if q, ok := h.Quantile(0.99); ok {
		out.P99MS = q * 1000
	}
	return out
}

// breakdown compares the client's mean TTFT with the server's: nil without
// both (TGI and llama.cpp export no TTFT histogram).
func breakdown(client Dist, ttft, queue, prefill *ServerHist) *Breakdown {
	if client.Count == 0 || ttft == nil {
		return nil
	}
	b := &Breakdown{ClientTTFTMS: client.Mean, ServerTTFTMS: ttft.MeanMS, OtherMS: client.Mean - ttft.MeanMS}
	if queue != nil {
		b.HasQueueTime = true
		b.QueueMS = queue.MeanMS
		if client.Mean > 0 {
			b.QueueShare = queue.MeanMS / client.Mean
		}
	}
	if prefill != nil {
		b.PrefillMS = prefill.MeanMS
	}
	return b
}

// serverVerdicts are the health verdicts of a run, in a fixed order.
func serverVerdicts(res *Result, run *ServerRun) []Verdict {
	return []Verdict{
		memoryVerdict(res, run.Timeline),
		stuckVerdict(res, run),
		restartVerdict(res, run.Timeline),
		preemptionVerdict(res, run),
	}
}

// measuredSpan is the run from its first step's start (after the warmup)
// to its last step's end.
func measuredSpan(res *Result) (time.Time, time.Time) {
	if len(res.Steps) == 0 {
		return res.Started, res.Ended
	}
	return res.Steps[0].Start, res.Steps[len(res.Steps)-1].End
}

// restarts returns the times at which a counter or a histogram's count
// went backwards between consecutive points: the server restarted between
// them. Gauges move both ways and are not looked at.
func restarts(tl *servermetrics.Timeline) ([]time.Time, []string) {
	kinds := servermetrics.Names()
	isCounter := func(name string) bool {
		if k, ok := kinds[name]; ok {
			return k == servermetrics.Counter
		}
		base, ok := strings.CutSuffix(name, "_count")
		return ok && kinds[base] == servermetrics.Histogram
	}
	var at []time.Time
	seen := map[string]bool{}
	for i := 1; i < len(tl.Points); i++ {
		a, b := tl.Points[i-1].Values, tl.Points[i].Values
		reset := false
		for name, v := range b {
			if old, ok := a[name]; ok && isCounter(name) && v < old {
				reset = true
				seen[name] = true
			}
		}
		if reset {
			at = append(at, tl.Points[i].Time)
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return at, names
}

func undecided(name, why string) Verdict {
	return Verdict{Name: name, Undecided: true, Summary: why}
}

// memoryVerdict: resident memory's slope over the measured run (after the
// last restart, if any), with its 95 % interval.
func memoryVerdict(res *Result, tl *servermetrics.Timeline) Verdict {
	const name = VerdictServerMemoryGrowth
	from, to := measuredSpan(res)
	if at, _ := restarts(tl); len(at) > 0 && at[len(at)-1].After(from) {
		from = at[len(at)-1] // memory starts again at a restart
	}
	var xs, ys []float64
	for _, p := range tl.Points {
		v, ok := p.Values["resident_memory_bytes"]
		if !ok || p.Time.Before(from) || p.Time.After(to) {
			continue
		}
		xs = append(xs, p.Time.Sub(from).Seconds())
		ys = append(ys, v)
	}
	switch {
	case len(xs) == 0:
		return undecided(name, "the metrics page has no process_resident_memory_bytes")
	case len(xs) < MinMemoryPoints:
		return undecided(name, fmt.Sprintf("only %d scrapes of resident memory during the run (at least %d needed)", len(xs), MinMemoryPoints))
	}
	l := stats.Fit(xs, ys)
	span := xs[len(xs)-1] - xs[0]
	base := l.At(xs[0])
	if !(base > 0) {
		base = ys[0]
	}
	perHour := l.Slope * 3600 / base
	overRun := l.Slope * span / base
	v := Verdict{Name: name, Value: l.Slope, Unit: "bytes/s"}
	if !math.IsInf(l.SlopeLo, 0) {
		v.Lo, v.Hi = l.SlopeLo, l.SlopeHi
	}
	v.Failed = l.Rising() && perHour > MemoryGrowthPerHour && overRun > MemoryGrowthOverRun
	desc := fmt.Sprintf("resident memory %s %s (95 %% CI %s..%s), %+.2f %%/h of the %s at the start and %+.2f %% over %s (%d scrapes)",
		map[bool]string{true: "grows", false: "changes"}[l.Slope > 0], perHourBytes(l.Slope), perHourBytes(l.SlopeLo), perHourBytes(l.SlopeHi),
		100*perHour, bytesText(base), 100*overRun, time.Duration(span*float64(time.Second)).Round(time.Second), len(xs))
	switch {
	case v.Failed:
		v.Summary = desc + fmt.Sprintf(": more than %.0f %%/h and %.0f %% over the run, a leak", 100*MemoryGrowthPerHour, 100*MemoryGrowthOverRun)
	case l.Rising():
		v.Summary = desc + fmt.Sprintf(": rising, but within %.0f %%/h or %.0f %% over the run", 100*MemoryGrowthPerHour, 100*MemoryGrowthOverRun)
	default:
		v.Summary = desc + ": no significant growth"
	}
	return v
}

// perHourBytes writes a slope in bytes per second as MiB or GiB per hour.
func perHourBytes(perSecond float64) string {
	if math.IsInf(perSecond, 0) || math.IsNaN(perSecond) {
		return "?"
	}
	return bytesText(perSecond*3600) + "/h"
}

// bytesText writes bytes in MiB, or GiB from 10 GiB on.
func bytesText(b float64) string {
	if math.Abs(b) >= 10<<30 {
		return fmt.Sprintf("%.1f GiB", b/(1<<30))
	}
	return fmt.Sprintf("%.1f MiB", b/(1<<20))
}

// stuckVerdict: after the drain and the settle, running and waiting
// requests (and the KV cache) back to where they were before the run.
func stuckVerdict(res *Result, run *ServerRun) Verdict {
	const name = VerdictStuckRequests
	if res.Status == StatusInterrupted {
		return undecided(name, "the run was interrupted: its requests were canceled, not drained")
	}
	before, ok1 := run.Marks[MarkStart]
	after, ok2 := run.Marks[MarkAfter]
	if !ok1 || !ok2 {
		return undecided(name, "no scrape of the metrics page before the run and after its drain")
	}
	_, hasR := after.Values["requests_running"]
	_, hasW := after.Values["requests_waiting"]
	if !hasR && !hasW {
		return undecided(name, "the metrics page has no running or waiting requests")
	}
	ra, wa := after.Values["requests_running"], after.Values["requests_waiting"]
	rb, wb := before.Values["requests_running"], before.Values["requests_waiting"]
	v := Verdict{Name: name, Value: ra + wa, Unit: "requests"}
	v.Failed = !drained(before, after)
	kv := ""
	if ka, ok := after.Values["kv_cache_usage_ratio"]; ok {
		kv = fmt.Sprintf(", KV cache %.1f %% (%.1f %% before)", 100*ka, 100*before.Values["kv_cache_usage_ratio"])
	}
	desc := fmt.Sprintf("%g running and %g waiting %.1f s after the drain%s (before the run: %g running, %g waiting)",
		ra, wa, run.SettleS, kv, rb, wb)
	if v.Failed {
		v.Summary = desc + ": requests or KV blocks the server did not release"
		if after.Server == servermetrics.LlamaCPP || ra+wa <= rb+wb {
			v.Summary = desc + fmt.Sprintf(": the KV cache stayed more than %.0f points above its level before the run", 100*StuckKVMargin)
		}
	} else {
		v.Summary = desc + ": back to the level before the run"
	}
	return v
}

// restartVerdict: counters that went backwards between scrapes.
func restartVerdict(res *Result, tl *servermetrics.Timeline) Verdict {
	const name = VerdictServerRestart
	if len(tl.Points) < 2 {
		return undecided(name, "fewer than two scrapes of the metrics page")
	}
	at, names := restarts(tl)
	v := Verdict{Name: name, Value: float64(len(at)), Unit: "restarts", Failed: len(at) > 0}
	if v.Failed {
		origin := res.Started
		if origin.IsZero() {
			origin = tl.Points[0].Time
		}
		times := make([]string, 0, len(at))
		for _, t := range at {
			times = append(times, fmt.Sprintf("%.1f s", t.Sub(origin).Seconds()))
		}
		if len(names) > 3 {
			names = append(names[:3], fmt.Sprintf("%d more", len(names)-3))
		}
		v.Summary = fmt.Sprintf("the server restarted %d time(s) during the run (counters went backwards %s into it: %s)",
			len(at), strings.Join(times, ", "), strings.Join(names, ", "))
	} else {
		v.Summary = fmt.Sprintf("no counter went backwards over %d scrapes", len(tl.Points))
	}
	return v
}

// preemptionVerdict: the server's preemptions during the run, against the
// run's requests.
func preemptionVerdict(res *Result, run *ServerRun) Verdict {
	const name = VerdictPreemptions
	before, ok1 := run.Marks[MarkStart]
	after, ok2 := run.Marks[MarkAfter]
	if !ok2 && len(res.Steps) > 0 {
		after, ok2 = run.Marks[StepEndMark(res.Steps[len(res.Steps)-1].Index)]
	}
	if !ok1 || !ok2 {
		return undecided(name, "no scrape of the metrics page before and after the run")
	}
	if _, ok := after.Values["preemptions_total"]; !ok {
		return undecided(name, fmt.Sprintf("the %s page has no preemption counter", after.Server))
	}
	n := servermetrics.Delta(before, after).Increase["preemptions_total"]
	reqs := float64(res.Summary.Requests)
	share := 0.0
	if reqs > 0 {
		share = n / reqs
	}
	v := Verdict{Name: name, Value: n, Unit: "preemptions", Failed: share > PreemptionShare}
	desc := fmt.Sprintf("%g preemptions for %d requests (%.1f %%)", n, res.Summary.Requests, 100*share)
	switch {
	case v.Failed:
		v.Summary = desc + fmt.Sprintf(": more than %.0f %%, the KV cache is too small for this load and requests are recomputed", 100*PreemptionShare)
	case n > 0:
		v.Summary = desc + fmt.Sprintf(": reported, within %.0f %%", 100*PreemptionShare)
	default:
		v.Summary = desc
	}
	return v
}

// BreakdownOf compares a client's TTFTs (count of them, their mean in ms)
// with a server window's TTFT, queue and prefill histograms: the breakdown
// of a probe run, whose requests are few and not a Result. Nil without
// both sides.
func BreakdownOf(count int64, meanMS float64, w servermetrics.Window) *Breakdown {
	return breakdown(Dist{Count: count, Mean: meanMS}, serverHist(w.Hists["ttft_seconds"]),
		serverHist(w.Hists["queue_time_seconds"]), serverHist(w.Hists["prefill_time_seconds"]))
}
