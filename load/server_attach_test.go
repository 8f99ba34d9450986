package load

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/servermetrics"
)

var t0 = time.Unix(1_700_000_000, 0)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

// hist is a histogram of count observations summing to sum, all at most 10 s.
func hist(count, sum float64) *servermetrics.Hist {
	return &servermetrics.Hist{Count: count, Sum: sum, Classic: []servermetrics.Bucket{
		{Lower: 0, Upper: 10, Cumulative: count}, {Lower: 10, Upper: math.Inf(1), Cumulative: count}}}
}

func snap(ts float64, vals map[string]float64, hists map[string]*servermetrics.Hist) servermetrics.Snapshot {
	if hists == nil {
		hists = map[string]*servermetrics.Hist{}
	}
	return servermetrics.Snapshot{Time: at(ts), Server: servermetrics.VLLM, Values: vals, Hists: hists}
}

func points(snaps ...servermetrics.Snapshot) []servermetrics.Point {
	var out []servermetrics.Point
	for _, s := range snaps {
		out = append(out, servermetrics.PointOf(s))
	}
	return out
}

func TestAttachServerSteps(t *testing.T) {
	h := func(ttftN, ttftS, queueN, queueS float64) map[string]*servermetrics.Hist {
		return map[string]*servermetrics.Hist{"ttft_seconds": hist(ttftN, ttftS), "queue_time_seconds": hist(queueN, queueS)}
	}
	g := func(running, waiting, kv float64) map[string]float64 {
		return map[string]float64{"requests_running": running, "requests_waiting": waiting, "kv_cache_usage_ratio": kv, "preemptions_total": 0}
	}
	start := snap(0, g(0, 0, 0), h(0, 0, 0, 0))
	measure1 := snap(1, g(1, 0, 0.1), h(2, 0.2, 2, 0)) // after a 1 s warmup
	end1 := snap(3, g(0, 0, 0), h(12, 1.2, 12, 0))     // 10 requests, TTFT 100 ms, no queue
	end2 := snap(6, g(0, 0, 0), h(22, 4.2, 22, 2.4))   // 10 requests, TTFT 300 ms, 240 ms queued
	after := snap(7, g(0, 0, 0.01), h(22, 4.2, 22, 2.4))
	tl := &servermetrics.Timeline{Server: servermetrics.VLLM, Points: points(
		start, measure1,
		snap(2, g(2, 0, 0.2), nil), end1,
		snap(4, g(4, 3, 0.5), nil), snap(5, g(4, 5, 0.7), nil), end2, after)}
	run := &ServerRun{Timeline: tl, Settled: true, SettleS: 0.5, Marks: map[string]servermetrics.Snapshot{
		MarkStart: start, StepStartMark(1): measure1, StepEndMark(1): end1, StepEndMark(2): end2, MarkAfter: after}}
	res := &Result{Status: StatusCompleted, Summary: Summary{Requests: 20, TTFT: Dist{Count: 20, Mean: 210}}, Steps: []Step{
		{Index: 1, Start: at(1), End: at(3), Summary: Summary{TTFT: Dist{Count: 10, Mean: 110}}},
		{Index: 2, Start: at(3.001), End: at(6), Summary: Summary{TTFT: Dist{Count: 10, Mean: 310}}},
	}}
	AttachServer(res, run)

	s1, s2 := res.Steps[0].Server, res.Steps[1].Server
	if s1 == nil || s2 == nil {
		t.Fatalf("steps' server views %v %v", s1, s2)
	}
	// step 1: points at 1, 2, 3; step 2: 4, 5, 6 (3 is step 1's end)
	if s1.Scrapes != 3 || s2.Scrapes != 3 {
		t.Errorf("scrapes %d %d", s1.Scrapes, s2.Scrapes)
	}
	if *s1.RequestsWaiting != (Gauge{}) || s2.RequestsWaiting.Max != 5 || s2.RequestsWaiting.Last != 0 ||
		math.Abs(s2.RequestsWaiting.Mean-8.0/3) > 1e-9 {
		t.Errorf("waiting %+v %+v", *s1.RequestsWaiting, *s2.RequestsWaiting)
	}
	if s1.RequestsRunning.Max != 2 || s1.RequestsRunning.Mean != 1 || s2.KVCacheUsage.Max != 0.7 {
		t.Errorf("running %+v kv %+v", *s1.RequestsRunning, *s2.KVCacheUsage)
	}
	// step 1 counts from its warmup's end, not from the run's start
	if s1.TTFT.Count != 10 || math.Abs(s1.TTFT.MeanMS-100) > 1e-9 || s2.TTFT.Count != 10 || math.Abs(s2.TTFT.MeanMS-300) > 1e-9 {
		t.Errorf("ttft %+v %+v", *s1.TTFT, *s2.TTFT)
	}
	b := s2.Breakdown
	if b == nil || b.ClientTTFTMS != 310 || math.Abs(b.ServerTTFTMS-300) > 1e-9 || math.Abs(b.QueueMS-240) > 1e-9 ||
		math.Abs(b.OtherMS-10) > 1e-9 || math.Abs(b.QueueShare-240.0/310) > 1e-9 {
		t.Errorf("step 2 breakdown %+v", b)
	}
	// the run: 20 requests from the warmup's end to the last step's end
	if rb := res.Server.Breakdown; rb == nil || math.Abs(rb.ServerTTFTMS-200) > 1e-9 || math.Abs(rb.QueueMS-120) > 1e-9 || rb.ClientTTFTMS != 210 {
		t.Errorf("run breakdown %+v", rb)
	}
	want := map[string]bool{VerdictServerRestart: false, VerdictStuckRequests: false, VerdictPreemptions: false}
	for _, v := range res.Server.Verdicts {
		if f, ok := want[v.Name]; ok && (v.Failed != f || v.Undecided) {
			t.Errorf("verdict %+v", v)
		}
		if v.Name == VerdictServerMemoryGrowth && !v.Undecided {
			t.Errorf("memory verdict without the page's memory: %+v", v)
		}
	}
	if res.Server.Note != "" || res.Server.Timeline != tl {
		t.Errorf("view %+v", res.Server)
	}
}

func TestAttachServerWithoutPage(t *testing.T) {
	res := &Result{}
	AttachServer(res, nil)
	if res.Server != nil {
		t.Fatalf("no metrics page configured, yet %+v", res.Server)
	}
	AttachServer(res, &ServerRun{Timeline: &servermetrics.Timeline{Scrapes: 1, Failures: 1}, Note: "no metrics page at ...: HTTP 404"})
	if res.Server == nil || res.Server.Note != "no metrics page at ...: HTTP 404" || len(res.Server.Verdicts) != 0 {
		t.Fatalf("view %+v", res.Server)
	}
}

// memoryRun is a timeline of resident memory, one point a second for n
// seconds, from base growing by slope bytes/s with a deterministic wobble.
func memoryRun(n int, base, slope, wobble float64) (*Result, *ServerRun) {
	var pts []servermetrics.Point
	for i := range n {
		v := base + slope*float64(i) + wobble*math.Sin(float64(i)*1.7)
		pts = append(pts, servermetrics.Point{Time: at(float64(i)), Values: map[string]float64{"resident_memory_bytes": v}})
	}
	res := &Result{Status: StatusCompleted, Steps: []Step{{Index: 1, Start: at(0), End: at(float64(n - 1))}}}
	return res, &ServerRun{Timeline: &servermetrics.Timeline{Points: pts}}
}

func TestServerMemoryGrowthVerdict(t *testing.T) {
	const gib = 1 << 30
	for _, tc := range []struct {
		name                   string
		n                      int
		slope, wobble          float64
		failed, undecided      bool
		summary                string
		wantSlope, slopeWithin float64
	}{
		// 1 MiB/s on 1 GiB: 350 %/h and 6 % over a minute
		{"leak", 60, 1 << 20, 4 << 20, true, false, "a leak", 1 << 20, 0.3},
		{"flat", 60, 0, 4 << 20, false, false, "no significant growth", 0, 0},
		// 100 KiB/s: 34 %/h but 0.6 % over the minute: a warm-up, not a leak
		{"short rise", 60, 100 << 10, 1 << 10, false, false, "rising, but within", 100 << 10, 0.05},
		{"too few", 5, 1 << 20, 0, false, true, "only 5 scrapes", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, run := memoryRun(tc.n, gib, tc.slope, tc.wobble)
			v := memoryVerdict(res, run.Timeline)
			if v.Failed != tc.failed || v.Undecided != tc.undecided || !strings.Contains(v.Summary, tc.summary) {
				t.Fatalf("verdict %+v", v)
			}
			if tc.slopeWithin > 0 && math.Abs(v.Value-tc.wantSlope) > tc.slopeWithin*tc.wantSlope {
				t.Errorf("slope %v, want %v", v.Value, tc.wantSlope)
			}
			if !tc.undecided && (v.Unit != "bytes/s" || v.Lo > v.Value || v.Hi < v.Value) {
				t.Errorf("value %v [%v, %v] %s", v.Value, v.Lo, v.Hi, v.Unit)
			}
		})
	}
	// a restart midway: only the points after it are fitted, so the drop
	// is not read as shrinking memory, nor the climb before it as a leak
	res, run := memoryRun(60, gib, 1<<20, 0)
	for i := 30; i < 60; i++ {
		p := run.Timeline.Points[i]
		p.Values["resident_memory_bytes"] = gib
		run.Timeline.Points[i] = p
	}
	for i := range run.Timeline.Points {
		run.Timeline.Points[i].Values["prompt_tokens_total"] = float64(1000 + i)
		if i >= 30 {
			run.Timeline.Points[i].Values["prompt_tokens_total"] = float64(i - 30)
		}
	}
	if v := memoryVerdict(res, run.Timeline); v.Failed || v.Value != 0 {
		t.Errorf("after a restart: %+v", v)
	}
	if v := restartVerdict(res, run.Timeline); !v.Failed || v.Value != 1 || !strings.Contains(v.Summary, "backwards 30.0 s into it: prompt_tokens_total") {
		t.Errorf("restart verdict %+v", v)
	}
}

func TestStuckRequestsVerdict(t *testing.T) {
	vals := func(r, w, kv float64) map[string]float64 {
		return map[string]float64{"requests_running": r, "requests_waiting": w, "kv_cache_usage_ratio": kv}
	}
	for _, tc := range []struct {
		name              string
		before, after     map[string]float64
		server            servermetrics.Server
		status            string
		failed, undecided bool
		summary           string
	}{
		{"drained", vals(0, 0, 0), vals(0, 0, 0.01), servermetrics.VLLM, StatusCompleted, false, false, "back to the level before the run"},
		{"stuck", vals(0, 0, 0), vals(2, 1, 0.3), servermetrics.VLLM, StatusCompleted, true, false, "2 running and 1 waiting"},
		{"another client's traffic before and after", vals(3, 0, 0.2), vals(3, 0, 0.22), servermetrics.VLLM, StatusCompleted, false, false, "before the run: 3 running"},
		{"KV blocks kept", vals(0, 0, 0), vals(0, 0, 0.4), servermetrics.VLLM, StatusCompleted, true, false, "KV cache stayed more than 5 points"},
		{"llama.cpp keeps its slots' caches", vals(0, 0, 0), vals(0, 0, 0.4), servermetrics.LlamaCPP, StatusCompleted, false, false, "back to"},
		{"interrupted", vals(0, 0, 0), vals(2, 0, 0), servermetrics.VLLM, StatusInterrupted, false, true, "interrupted"},
		{"no gauges", map[string]float64{}, map[string]float64{}, servermetrics.TGI, StatusCompleted, false, true, "no running or waiting"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := servermetrics.Snapshot{Server: tc.server, Values: tc.before}
			a := servermetrics.Snapshot{Server: tc.server, Values: tc.after}
			run := &ServerRun{SettleS: 5, Marks: map[string]servermetrics.Snapshot{MarkStart: b, MarkAfter: a}}
			v := stuckVerdict(&Result{Status: tc.status}, run)
			if v.Failed != tc.failed || v.Undecided != tc.undecided || !strings.Contains(v.Summary, tc.summary) {
				t.Errorf("verdict %+v", v)
			}
		})
	}
}

func TestPreemptionsVerdict(t *testing.T) {
	for _, tc := range []struct {
		name              string
		before, after     float64
		has               bool
		failed, undecided bool
		summary           string
	}{
		{"none", 7, 7, true, false, false, "0 preemptions for 100 requests (0.0 %)"},
		{"a few", 7, 12, true, false, false, "5 preemptions for 100 requests (5.0 %): reported, within 10 %"},
		{"many", 7, 27, true, true, false, "20 preemptions for 100 requests (20.0 %): more than 10 %"},
		{"no counter", 0, 0, false, false, true, "no preemption counter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mk := func(v float64) servermetrics.Snapshot {
				s := servermetrics.Snapshot{Server: servermetrics.VLLM, Values: map[string]float64{}}
				if tc.has {
					s.Values["preemptions_total"] = v
				}
				return s
			}
			run := &ServerRun{Marks: map[string]servermetrics.Snapshot{MarkStart: mk(tc.before), MarkAfter: mk(tc.after)}}
			v := preemptionVerdict(&Result{Summary: Summary{Requests: 100}}, run)
			if v.Failed != tc.failed || v.Undecided != tc.undecided || !strings.Contains(v.Summary, tc.summary) {
				t.Errorf("verdict %+v", v)
			}
		})
	}
}
