package load

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/llmprobe/llmprobe/probe"
)

// Merging the runs of N shards (llmprobe bench --shard I/N, then llmprobe
// merge) into the one result a single process running the whole load would
// have written. The rules:
//
//   - The shards must be one run: the same count N and every index 0..N-1
//     once, the same plan (target, model, kind, mode and the whole
//     context: rates, users, durations, seed, workload, SLO) and the same
//     start (--start-at), each result with its own samples file.
//   - Every figure is computed again from the pooled samples with the
//     code a single run uses (the aggregator of summary.go), fed each
//     step's requests of every shard in the order they ended: counts and
//     token totals are the shards' sums exactly; throughputs divide them by
//     the merged step's span (its first shard's start to its last shard's
//     end); percentiles, means and the peak output rate are those of the
//     pooled values, with 1-second token windows on the common start.
//   - Steps are merged by index. A step's percentiles are exact while it
//     holds at most maxSamples (2^18) values of a metric, and the run's
//     while the run does; past that, as in a single run, they come from a
//     uniform random sample of 2^18 values, whose rank error has a
//     standard deviation of sqrt(q(1-q)/2^18): 0.098 % of the values at the
//     median, 0.019 % at p99 (TestMergePastTheSampleCap).
//   - The server's view is shard 0's (every shard read the same metrics
//     page; its client-side breakdown is shard 0's requests); GPU samples,
//     of each shard's own machine, are left out.

// ShardRun is one shard's result and samples.
type ShardRun struct {
	Name    string // the result file, as messages name it
	Result  *Result
	Samples *Samples
}

// Merged is the result of a run's shards.
type Merged struct {
	Result *Result
	Shards int
	// StartSkew is, per merged step, the time between its first and last
	// shard's start: 0 for the first step of shards that started together,
	// the spread of the shards' drains for later ones.
	StartSkew []time.Duration
	// Entries is the pooled timeline (the timeline file a single run
	// would have written), in the order the requests ended.
	Entries []*Entry
	// Notes say what the merge left out.
	Notes []string
}

// pooled is one sample line of one shard, in the order of the replay.
type pooled struct {
	shard, seq int
	at         time.Time
	line       *sampleLine
	rec        *probe.Record
}

// MergeShards merges the runs of a run's shards; it refuses runs that do
// not belong together, naming the files.
func MergeShards(parts []ShardRun) (*Merged, error) {
	if err := checkShards(parts); err != nil {
		return nil, err
	}
	n := len(parts)
	byIndex := make([]*ShardRun, n)
	for i := range parts {
		byIndex[parts[i].Samples.Shard.Index] = &parts[i]
	}
	first := byIndex[0].Result
	ctx := first.Context
	origin := first.Started
	slo := sloFrom(ctx.SLO)

	// Each step's pooled lines, in the order the requests ended (a dropped
	// arrival at its scheduled time); ties by shard and file order, so the
	// merge is repeatable.
	perStep := map[int][]pooled{}
	for k, p := range byIndex {
		for seq := range p.Samples.lines {
			l := &p.Samples.lines[seq]
			it := pooled{shard: k, seq: seq, line: l}
			if l.Dropped != nil {
				it.at = *l.Dropped
			} else {
				it.rec = l.record()
				it.at = it.rec.End
				if it.at.IsZero() {
					it.at = it.rec.Start
				}
			}
			perStep[l.Step] = append(perStep[l.Step], it)
		}
	}
	for _, items := range perStep {
		slices.SortFunc(items, func(a, b pooled) int {
			if c := a.at.Compare(b.at); c != 0 {
				return c
			}
			if a.shard != b.shard {
				return a.shard - b.shard
			}
			return a.seq - b.seq
		})
	}

	stepIdx := map[int]bool{}
	for _, p := range byIndex {
		for _, st := range p.Result.Steps {
			stepIdx[st.Index] = true
		}
	}
	for idx := range perStep {
		if !stepIdx[idx] {
			return nil, fmt.Errorf("samples of step %d, which no result has", idx)
		}
	}

	m := &Merged{Shards: n}
	res := &Result{
		Name: first.Name, Target: first.Target, Model: first.Model, Kind: first.Kind, Mode: first.Mode,
		Status: StatusCompleted, Started: origin, Context: ctx,
	}
	runAgg := newAggregator(slo, origin, uint64(ctx.Seed))
	var measured time.Duration
	var stops, sinkErrs []string
	for _, idx := range slices.Sorted(maps.Keys(stepIdx)) {
		agg := newAggregator(slo, origin, uint64(ctx.Seed)+uint64(idx)*1000)
		for _, it := range perStep[idx] {
			if it.line.Dropped != nil {
				agg.addDropped(it.at)
			} else {
				agg.add(it.rec, it.line.Interrupted, it.line.Cut)
			}
		}
		s, skew := mergeStep(byIndex, idx, agg)
		res.Steps = append(res.Steps, *s)
		m.StartSkew = append(m.StartSkew, skew)
		runAgg.merge(agg)
		measured += s.End.Sub(s.Start)
	}
	for k, p := range byIndex {
		r := p.Result
		if r.Status == StatusInterrupted {
			res.Status = StatusInterrupted
		}
		if r.Ended.After(res.Ended) {
			res.Ended = r.Ended
		}
		if r.StopReason != "" {
			stops = append(stops, fmt.Sprintf("shard %d/%d: %s", k, n, r.StopReason))
		}
		if r.SinkError != "" {
			sinkErrs = append(sinkErrs, fmt.Sprintf("shard %d/%d: %s", k, n, r.SinkError))
		}
		if r.GPU != nil && len(m.Notes) == 0 {
			m.Notes = append(m.Notes, "the shards' GPU samples (each of its own machine) are not merged")
		}
	}
	res.StopReason = strings.Join(stops, "; ")
	res.SinkError = strings.Join(sinkErrs, "; ")
	res.Summary = runAgg.summary(measured)
	res.Passed = res.Success(ctx.ErrorRatio)
	if lag := res.Summary.ScheduleLag; lag.Count > 0 && lag.P99 > ctx.LagThresholdMS {
		res.ClientBottleneck = true
		res.ClientNote = fmt.Sprintf("schedule lag p99 %.1f ms exceeded %.1f ms: the clients could not start requests on time, so they, not the server, limited the offered load",
			lag.P99, ctx.LagThresholdMS)
	}
	if sv := first.Server; sv != nil {
		v := *sv
		v.Note = strings.TrimSpace("shard 0's view of the server (every shard read the same page; the client side of its breakdown is shard 0's requests). " + v.Note)
		res.Server = &v
	}
	phase := byIndex[0].Samples.End.Phase
	for _, idx := range slices.Sorted(maps.Keys(perStep)) {
		for _, it := range perStep[idx] {
			if it.line.Dropped != nil {
				m.Entries = append(m.Entries, &Entry{Step: idx, Phase: phase, Scheduled: it.at, Result: ResultDropped})
			} else {
				m.Entries = append(m.Entries, entryOf(idx, it.rec, it.line.Cut, it.line.Interrupted))
			}
		}
	}
	m.Result = res
	return m, nil
}

// mergeStep builds merged step idx from the shards' steps of that index and
// the pooled aggregator; it returns the spread of the shards' starts.
func mergeStep(shards []*ShardRun, idx int, agg *aggregator) (*Step, time.Duration) {
	var s *Step
	var windowEnd, lastStart time.Time
	exact := true
	var stopped []string
	for k, p := range shards {
		i := slices.IndexFunc(p.Result.Steps, func(st Step) bool { return st.Index == idx })
		if i < 0 {
			stopped = append(stopped, fmt.Sprintf("shard %d/%d did not run this step", k, len(shards)))
			exact = false
			continue
		}
		st := p.Result.Steps[i]
		if s == nil {
			s = &Step{Index: st.Index, Kind: st.Kind, OfferedRate: st.OfferedRate, VUs: st.VUs, Start: st.Start, End: st.End}
		}
		if st.Start.Before(s.Start) {
			s.Start = st.Start
		}
		if st.Start.After(lastStart) {
			lastStart = st.Start
		}
		if st.End.After(s.End) {
			s.End = st.End
		}
		if we := st.Start.Add(time.Duration(st.WindowS * float64(time.Second))); we.After(windowEnd) {
			windowEnd = we
		}
		// A shard of a constant-rate step reports its exact share.
		share := st.OfferedRate / float64(len(shards))
		exact = exact && st.Kind == StepRate && st.OfferedRate > 0 && math.Abs(st.ArrivalRate-share) <= 1e-9*share
		if st.Stopped != "" {
			stopped = append(stopped, fmt.Sprintf("shard %d/%d: %s", k, len(shards), st.Stopped))
		}
		if k == 0 {
			s.Server = st.Server
		}
	}
	s.WindowS = windowEnd.Sub(s.Start).Seconds()
	s.DrainS = s.End.Sub(windowEnd).Seconds()
	s.Summary = agg.summary(s.End.Sub(s.Start))
	s.ArrivalRate, s.AchievedRate = agg.rates()
	if exact && s.Summary.Requests+s.Summary.Dropped >= 2 {
		s.ArrivalRate = s.OfferedRate
	}
	s.Stopped = strings.Join(stopped, "; ")
	return s, lastStart.Sub(s.Start)
}

// sloFrom is the SLO a result's context records, back in durations.
func sloFrom(s *SLOSpec) probe.SLO {
	if s == nil {
		return probe.SLO{}
	}
	d := func(ms float64) time.Duration { return time.Duration(math.Round(ms * float64(time.Millisecond))) }
	return probe.SLO{TTFT: d(s.TTFT), ITL: d(s.ITL), TPOT: d(s.TPOT), E2E: d(s.E2E)}
}

// checkShards refuses shards that are not all of one run.
func checkShards(parts []ShardRun) error {
	if len(parts) == 0 {
		return errors.New("no results to merge")
	}
	n := parts[0].Samples.Shard.Count
	byIndex := make([]*ShardRun, n)
	var errs []error
	for i := range parts {
		p := &parts[i]
		sh := p.Samples.Shard
		if sh.Count != n {
			return fmt.Errorf("%s is shard %s, %s is shard %s: shards of runs split %d and %d ways", parts[0].Name,
				parts[0].Samples.Shard, p.Name, sh, n, sh.Count)
		}
		if prev := byIndex[sh.Index]; prev != nil {
			return fmt.Errorf("%s and %s are both shard %s", prev.Name, p.Name, sh)
		}
		byIndex[sh.Index] = p
	}
	var have, missing []string
	for i, p := range byIndex {
		if p == nil {
			missing = append(missing, Shard{i, n}.String())
		} else {
			have = append(have, fmt.Sprintf("%s (%s)", p.Name, p.Samples.Shard))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("shard %s of %d missing; given %s", strings.Join(missing, ", "), n, strings.Join(have, ", "))
	}
	ref := byIndex[0]
	for _, p := range byIndex {
		if err := sameRun(ref, p); err != nil {
			errs = append(errs, err)
		}
		if err := samplesMatch(p); err != nil {
			errs = append(errs, err)
		}
	}
	if ref.Result.Mode == ModeSweep {
		errs = append(errs, fmt.Errorf("%s: a sweep is not run in shards (its rates come from its own throughput phase), so it is not merged", ref.Name))
	}
	return errors.Join(errs...)
}

// sameRun refuses a shard whose plan or start differs from shard 0's,
// naming the field.
func sameRun(ref, p *ShardRun) error {
	a, b := ref.Result, p.Result
	for _, f := range []struct{ name, x, y string }{
		{"target", a.Target, b.Target}, {"model", a.Model, b.Model}, {"kind", string(a.Kind), string(b.Kind)},
		{"mode", a.Mode, b.Mode}, {"name", a.Name, b.Name},
	} {
		if f.x != f.y {
			return fmt.Errorf("%s and %s are not shards of one run: %s %q and %q", ref.Name, p.Name, f.name, f.x, f.y)
		}
	}
	if field, x, y := contextDiff(a.Context, b.Context); field != "" {
		return fmt.Errorf("%s and %s are not shards of one run: context.%s %s and %s", ref.Name, p.Name, field, x, y)
	}
	if !a.Started.Equal(b.Started) {
		return fmt.Errorf("%s started at %s, %s at %s: shards of one run start together (--start-at)", ref.Name,
			a.Started.Format(time.RFC3339Nano), p.Name, b.Started.Format(time.RFC3339Nano))
	}
	return nil
}

// contextDiff returns the first field (in JSON) in which two contexts
// differ, with both values; "" when they are the same.
func contextDiff(a, b Context) (field, x, y string) {
	ma, mb := map[string]json.RawMessage{}, map[string]json.RawMessage{}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	_ = json.Unmarshal(ja, &ma)
	_ = json.Unmarshal(jb, &mb)
	keys := slices.Sorted(maps.Keys(ma))
	for k := range mb {
		if _, ok := ma[k]; !ok {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		if string(ma[k]) != string(mb[k]) {
			show := func(v json.RawMessage) string {
				if v == nil {
					return "(none)"
				}
				return string(v)
			}
			return k, show(ma[k]), show(mb[k])
		}
	}
	return "", "", ""
}

// samplesMatch refuses a samples file that is not its result's.
func samplesMatch(p *ShardRun) error {
	e, s := p.Samples.End, p.Result.Summary
	if !e.Started.Equal(p.Result.Started) || e.Status != p.Result.Status {
		return fmt.Errorf("%s: its samples are of a run started at %s (%s), not of this one (%s, %s)", p.Name,
			e.Started.Format(time.RFC3339Nano), e.Status, p.Result.Started.Format(time.RFC3339Nano), p.Result.Status)
	}
	if e.Requests != s.Requests || e.Dropped != s.Dropped || e.Interrupted != s.Interrupted {
		return fmt.Errorf("%s: its samples hold %d requests, %d dropped and %d interrupted, its result %d, %d and %d",
			p.Name, e.Requests, e.Dropped, e.Interrupted, s.Requests, s.Dropped, s.Interrupted)
	}
	return nil
}
