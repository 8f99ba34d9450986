package load

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/probe"
)

// shardStep is what one shard did in one step of a synthetic run.
type shardStep struct {
	index   int
	recs    []*probe.Record
	dropped []time.Time
	cut     int // the first cut records are cut
}

// fakeShard writes a shard's samples and builds its result as the engine
// would: each step's summary from its own requests, the run's from the
// steps.
func fakeShard(t *testing.T, dir, name string, sh Shard, origin time.Time, ctx Context, steps []shardStep) ShardRun {
	t.Helper()
	slo := sloFrom(ctx.SLO)
	path := filepath.Join(dir, name)
	sf := NewSamplesFile(SamplesPath(path), sh)
	res := &Result{Target: ctx.Target, Model: ctx.Model, Mode: ctx.Mode, Status: StatusCompleted, Started: origin, Context: ctx}
	runAgg := newAggregator(slo, origin, uint64(ctx.Seed))
	var measured time.Duration
	for _, s := range steps {
		agg := newAggregator(slo, origin, uint64(ctx.Seed)+uint64(s.index)*1000)
		st := Step{Index: s.index, Kind: StepRate, OfferedRate: 10, Start: origin.Add(time.Duration(s.index) * time.Minute)}
		st.End = st.Start
		for i, r := range s.recs {
			cut := i < s.cut
			agg.add(r, false, cut)
			sf.Request(s.index, r, cut, false)
			if r.End.After(st.End) {
				st.End = r.End
			}
			if r.Start.Before(st.Start) {
				st.Start = r.Start
			}
		}
		for _, d := range s.dropped {
			agg.addDropped(d)
			sf.Dropped(s.index, d)
		}
		st.WindowS = st.End.Sub(st.Start).Seconds()
		st.Summary = agg.summary(st.End.Sub(st.Start))
		st.ArrivalRate, st.AchievedRate = agg.rates()
		res.Steps = append(res.Steps, st)
		runAgg.merge(agg)
		measured += st.End.Sub(st.Start)
	}
	res.Summary = runAgg.summary(measured)
	res.Ended = origin.Add(time.Hour)
	if err := sf.Close(res); err != nil {
		t.Fatal(err)
	}
	smp, err := ReadSamples(SamplesPath(path))
	if err != nil {
		t.Fatal(err)
	}
	return ShardRun{Name: name, Result: res, Samples: smp}
}

// synthRec is a successful request at origin+start with a TTFT, n chunks
// of one token itl apart, and a scheduled time lag before its start.
func synthRec(origin time.Time, start, ttft, itl, lag time.Duration, n int) *probe.Record {
	r := rec(origin, start, ttft, itl, n, nil)
	r.Scheduled = r.Start.Add(-lag)
	return r
}

var testCtx = Context{Mode: ModeRate, Arrival: ArrivalConstant, Rates: []float64{10, 20}, DurationS: 60, Seed: 7,
	LagThresholdMS: 10, Target: "h:8000", Model: "m", SLO: &SLOSpec{TTFT: 150}}

// TestMergeShardsIsThePooledRun protects llmprobe merge's exactness: the
// merged result of shards is the result of all their requests together,
// computed as one run computes it: counts and tokens add up, every Dist
// (count, min, max, percentiles) is the pooled values' exactly (means and
// deviations to rounding), peaks and token windows are those of the union
// on the common start, and a shard whose requests are the only ones merges
// to its own summary.
func TestMergeShardsIsThePooledRun(t *testing.T) {
	dir := t.TempDir()
	origin := time.Unix(1_700_000_000, 0)
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 3
	perShard := make([][]shardStep, n)
	all := map[int][]*probe.Record{}
	var allDropped []time.Time
	for k := range n {
		for _, idx := range []int{1, 2} {
			base := time.Duration(idx) * time.Minute
			s := shardStep{index: idx, cut: 1}
			for i := range 40 + 7*k {
				start := base + time.Duration(rng.IntN(5000))*time.Millisecond
				r := synthRec(origin, start, time.Duration(50+rng.IntN(200))*time.Millisecond,
					time.Duration(5+rng.IntN(20))*time.Millisecond, time.Duration(rng.IntN(3000))*time.Microsecond, 2+rng.IntN(30))
				if i%17 == 3 {
					r.Result, r.Error = probe.ResultHTTP5xx, fmt.Sprintf("shard %d failed", k)
				}
				s.recs = append(s.recs, r)
				all[idx] = append(all[idx], r)
			}
			d := origin.Add(base + time.Duration(k)*time.Second)
			s.dropped = []time.Time{d}
			allDropped = append(allDropped, d)
			perShard[k] = append(perShard[k], s)
		}
	}
	var parts []ShardRun
	for k := range n {
		parts = append(parts, fakeShard(t, dir, fmt.Sprintf("s%d.json", k), Shard{k, n}, origin, testCtx, perShard[k]))
	}
	slices.Reverse(parts) // the order given does not matter
	m, err := MergeShards(parts)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Result.Steps) != 2 || m.Shards != n {
		t.Fatalf("%d steps, %d shards", len(m.Result.Steps), m.Shards)
	}
	// The reference: one aggregator per step fed every shard's requests.
	slo := sloFrom(testCtx.SLO)
	for i, st := range m.Result.Steps {
		ref := newAggregator(slo, origin, 1)
		start := origin.Add(time.Duration(st.Index) * time.Minute) // every fake shard's step start
		end := start
		for _, r := range all[st.Index] {
			ref.add(r, false, false)
			if r.End.After(end) {
				end = r.End
			}
		}
		for _, d := range allDropped {
			if d.Sub(origin) >= time.Duration(st.Index)*time.Minute && d.Sub(origin) < time.Duration(st.Index+1)*time.Minute {
				ref.addDropped(d)
			}
		}
		want := ref.summary(end.Sub(start))
		got := st.Summary
		if got.Cut != n {
			t.Errorf("step %d: %d cut, want %d (one per shard)", st.Index, got.Cut, n)
		}
		got.Cut, want.Cut = 0, 0 // the reference does not mark cuts
		sameSummary(t, fmt.Sprintf("step %d", st.Index), got, want)
		if !st.Start.Equal(start) || !st.End.Equal(end) {
			t.Errorf("step %d spans %s..%s, want the union's %s..%s", st.Index, st.Start, st.End, start, end)
		}
		if m.StartSkew[i] != 0 {
			t.Errorf("step %d: start skew %s, the shards' steps started together", st.Index, m.StartSkew[i])
		}
	}
	// The run: every request of both steps.
	var total int64
	for _, p := range parts {
		total += p.Result.Summary.Requests
	}
	if got := m.Result.Summary.Requests; got != total || got != int64(len(all[1])+len(all[2])) {
		t.Errorf("run requests %d, want the shards' sum %d", got, total)
	}
	if got := m.Result.Summary.Dropped; got != int64(len(allDropped)) {
		t.Errorf("run dropped %d, want %d", got, len(allDropped))
	}
	if len(m.Entries) != int(m.Result.Summary.Requests+m.Result.Summary.Dropped) {
		t.Errorf("%d timeline entries, want one per request and dropped arrival", len(m.Entries))
	}
	for i := 1; i < len(m.Entries); i++ {
		if a, b := m.Entries[i-1], m.Entries[i]; a.Step == b.Step && entryTime(b).Before(entryTime(a)) {
			t.Fatalf("timeline entry %d ends before entry %d", i, i-1)
		}
	}

	// One shard alone merges to its own result.
	solo := fakeShard(t, dir, "solo.json", Shard{0, 1}, origin, testCtx, perShard[1])
	m1, err := MergeShards([]ShardRun{solo})
	if err != nil {
		t.Fatal(err)
	}
	sameSummary(t, "one shard", m1.Result.Summary, solo.Result.Summary)
	for i := range solo.Result.Steps {
		sameSummary(t, fmt.Sprintf("one shard, step %d", i), m1.Result.Steps[i].Summary, solo.Result.Steps[i].Summary)
	}
}

func entryTime(e *Entry) time.Time {
	if e.End.IsZero() {
		return e.Scheduled
	}
	return e.End
}

// sameSummary compares summaries: counts, extremes and percentiles
// exactly, sums of floats to rounding.
func sameSummary(t *testing.T, what string, got, want Summary) {
	t.Helper()
	close := func(a, b float64) bool { return a == b || math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b)) }
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"requests", got.Requests, want.Requests}, {"successful", got.Successful, want.Successful},
		{"failed", got.Failed, want.Failed}, {"dropped", got.Dropped, want.Dropped}, {"cut", got.Cut, want.Cut},
		{"input tokens", got.InputTokens, want.InputTokens}, {"output tokens", got.OutputTokens, want.OutputTokens},
		{"good", got.GoodRequests, want.GoodRequests}, {"peak concurrent", got.PeakConcurrent, want.PeakConcurrent},
	} {
		if c.got != c.want {
			t.Errorf("%s: %s %d, want %d", what, c.name, c.got, c.want)
		}
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"duration", got.DurationSeconds, want.DurationSeconds}, {"request throughput", got.RequestThroughput, want.RequestThroughput},
		{"output throughput", got.OutputThroughput, want.OutputThroughput}, {"peak output throughput", got.PeakOutputThroughput, want.PeakOutputThroughput},
		{"goodput", got.Goodput, want.Goodput}, {"error ratio", got.ErrorRatio, want.ErrorRatio},
	} {
		if !close(c.got, c.want) {
			t.Errorf("%s: %s %v, want %v", what, c.name, c.got, c.want)
		}
	}
	for _, d := range []struct {
		name      string
		got, want Dist
	}{
		{"TTFT", got.TTFT, want.TTFT}, {"ITL", got.ITL, want.ITL}, {"TPOT", got.TPOT, want.TPOT}, {"E2E", got.E2E, want.E2E},
		{"lag", got.ScheduleLag, want.ScheduleLag}, {"output length", got.OutputLen, want.OutputLen},
	} {
		g, w := d.got, d.want
		if g.Count != w.Count || g.Min != w.Min || g.Max != w.Max || g.P50 != w.P50 || g.P90 != w.P90 || g.P95 != w.P95 || g.P99 != w.P99 ||
			!close(g.Mean, w.Mean) || !close(g.Stddev, w.Stddev) {
			t.Errorf("%s: %s %+v, want %+v", what, d.name, g, w)
		}
	}
	if len(got.Errors) != len(want.Errors) {
		t.Errorf("%s: errors %v, want %v", what, got.Errors, want.Errors)
	}
	for k, v := range want.Errors {
		if got.Errors[k] != v {
			t.Errorf("%s: errors[%s] %d, want %d", what, k, got.Errors[k], v)
		}
	}
}

// TestMergeRefusesForeignShards protects the merge from results that do not
// belong together: a missing or repeated shard, shards of runs split
// differently, another plan or start, a samples file of another run, and a
// sweep; each refusal names the files.
func TestMergeRefusesForeignShards(t *testing.T) {
	dir := t.TempDir()
	origin := time.Unix(1_700_000_000, 0)
	step := func(k int) []shardStep {
		return []shardStep{{index: 1, recs: []*probe.Record{synthRec(origin, time.Minute+time.Duration(k)*time.Second, 100*time.Millisecond, 10*time.Millisecond, 0, 4)}}}
	}
	mk := func(name string, sh Shard, o time.Time, ctx Context) ShardRun {
		return fakeShard(t, dir, name, sh, o, ctx, step(sh.Index))
	}
	a := mk("a.json", Shard{0, 3}, origin, testCtx)
	b := mk("b.json", Shard{1, 3}, origin, testCtx)
	c := mk("c.json", Shard{2, 3}, origin, testCtx)
	if _, err := MergeShards([]ShardRun{a, b, c}); err != nil {
		t.Fatalf("three shards of one run: %v", err)
	}
	other := testCtx
	other.Rates = []float64{10, 30}
	sweep := testCtx
	sweep.Mode = ModeSweep
	wrongSamples := mk("d.json", Shard{2, 3}, origin, testCtx)
	wrongSamples.Samples = a.Samples // another shard's file: the shard index then clashes
	foreign := mk("e.json", Shard{2, 3}, origin, testCtx)
	foreign.Result.Summary.Requests++ // its result is not the run its samples hold
	for _, tc := range []struct {
		name  string
		parts []ShardRun
		want  string
	}{
		{"missing", []ShardRun{a, c}, "shard 1/3 of 3 missing; given a.json (0/3), c.json (2/3)"},
		{"repeated", []ShardRun{a, b, c, mk("b2.json", Shard{1, 3}, origin, testCtx)}, "b.json and b2.json are both shard 1/3"},
		{"split differently", []ShardRun{a, mk("f.json", Shard{1, 2}, origin, testCtx)}, "a.json is shard 0/3, f.json is shard 1/2"},
		{"another plan", []ShardRun{a, b, mk("g.json", Shard{2, 3}, origin, other)}, "a.json and g.json are not shards of one run: context.rates [10,20] and [10,30]"},
		{"another start", []ShardRun{a, b, mk("h.json", Shard{2, 3}, origin.Add(time.Minute), testCtx)}, "h.json at 2023-11-14T22:14:20Z: shards of one run start together"},
		{"another model", []ShardRun{a, b, func() ShardRun { p := c; r := *p.Result; r.Model = "x"; p.Result = &r; return p }()}, `model "m" and "x"`},
		{"samples of another shard", []ShardRun{a, b, wrongSamples}, "a.json and d.json are both shard 0/3"},
		{"samples of another run", []ShardRun{a, b, foreign}, "e.json: its samples hold 1 requests, 0 dropped and 0 interrupted, its result 2, 0 and 0"},
		{"sweep", []ShardRun{mk("i.json", Shard{0, 1}, origin, sweep)}, "i.json: a sweep is not run in shards"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := MergeShards(tc.parts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// TestMergePastTheSampleCap protects the stated error bound of merged
// percentiles: a merged run with more values of a metric than the sample
// cap (2^18) keeps a uniform sample of them, so each percentile's rank
// among all the values is off by no more than a few standard deviations
// sqrt(q(1-q)/2^18); count, mean, min and max stay exact.
func TestMergePastTheSampleCap(t *testing.T) {
	if testing.Short() {
		t.Skip("300,000 ITL values")
	}
	dir := t.TempDir()
	origin := time.Unix(1_700_000_000, 0)
	rng := rand.New(rand.NewPCG(3, 4))
	const shards, perShard, chunks = 4, 250, 301 // 300 gaps each: 300,000 ITL values
	var itls []float64
	var parts []ShardRun
	for k := range shards {
		s := shardStep{index: 1}
		for i := range perShard {
			r := &probe.Record{Start: origin.Add(time.Minute + time.Duration(i)*time.Millisecond), Result: probe.ResultSuccess, UsageReported: true}
			var off time.Duration
			for range chunks {
				off += time.Duration(1+rng.IntN(100_000)) * time.Microsecond / 10 // 0.1 µs to 10 ms, uneven
				r.Chunks = append(r.Chunks, off)
			}
			for j := 1; j < len(r.Chunks); j++ {
				itls = append(itls, (r.Chunks[j] - r.Chunks[j-1]).Seconds()) // as the summary keeps them
			}
			r.FirstToken, r.End, r.OutputTokens = r.Start.Add(r.Chunks[0]), r.Start.Add(off), chunks
			s.recs = append(s.recs, r)
		}
		parts = append(parts, fakeShard(t, dir, fmt.Sprintf("cap%d.json", k), Shard{k, shards}, origin, testCtx, []shardStep{s}))
	}
	if len(itls) <= maxSamples {
		t.Fatalf("%d values do not pass the cap %d", len(itls), maxSamples)
	}
	m, err := MergeShards(parts)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(itls)
	d := m.Result.Summary.ITL
	var sum float64
	for _, v := range itls {
		sum += v
	}
	mean := 1000 * sum / float64(len(itls))
	if d.Count != int64(len(itls)) || d.Min != 1000*itls[0] || d.Max != 1000*itls[len(itls)-1] || math.Abs(d.Mean-mean) > 1e-9*mean {
		t.Errorf("count %d min %v max %v mean %v ms, want %d %v %v %v exactly", d.Count, d.Min, d.Max, d.Mean, len(itls), 1000*itls[0], 1000*itls[len(itls)-1], mean)
	}
	for _, q := range []struct {
		q   float64
		got float64
	}{{0.5, d.P50}, {0.9, d.P90}, {0.99, d.P99}} {
		// the share of all values below the merged percentile
		rank := float64(sortSearch(itls, q.got/1000)) / float64(len(itls))
		sd := math.Sqrt(q.q * (1 - q.q) / maxSamples)
		t.Logf("p%g: rank %.5f, off by %.2f standard deviations (%.4f %%)", 100*q.q, rank, math.Abs(rank-q.q)/sd, 100*math.Abs(rank-q.q))
		if math.Abs(rank-q.q) > 4*sd {
			t.Errorf("p%g: the merged value's rank is %.5f, more than 4 standard deviations (%.5f) from %g", 100*q.q, rank, sd, q.q)
		}
	}
}

func sortSearch(sorted []float64, v float64) int {
	i, _ := slices.BinarySearch(sorted, v)
	return i
}
