package load

import (
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/llmprobe/llmprobe/probe"
)

// Dist summarises a distribution: latencies in milliseconds, lengths in
// tokens (the field holding a Dist names its unit). The standard deviation is
// the population one and percentiles interpolate linearly between ranks, as
// numpy's defaults (and so vLLM's bench serve) compute them.
type Dist struct {
	Count  int64   `json:"count"`
	Mean   float64 `json:"mean"`
	Stddev float64 `json:"stddev"`
	Min    float64 `json:"min"`
	P50    float64 `json:"p50"`
	P90    float64 `json:"p90"`
	P95    float64 `json:"p95"`
	P99    float64 `json:"p99"`
	Max    float64 `json:"max"`
}

// maxSamples bounds the values a sample set keeps for percentiles. Mean,
// standard deviation, minimum and maximum are exact over every value; past
// maxSamples the percentiles come from a uniform random sample of this size
// (reservoir sampling, seeded), whose rank error at p99 is about 0.02 %. It
// keeps an hours-long soak's memory flat.
const maxSamples = 1 << 18

// sampleSet accumulates values for a Dist.
type sampleSet struct {
	n             int64
	mean, m2      float64 // Welford's running mean and sum of squares
	min, max      float64
	vals          []float64
	limit         int
	rng           *rand.Rand
	sorted, dirty bool
}

func newSampleSet(seed uint64) *sampleSet {
	return &sampleSet{limit: maxSamples, rng: rand.New(rand.NewPCG(seed, 0x5a3b1e))}
}

func (s *sampleSet) add(v float64) {
	s.n++
	if s.n == 1 || v < s.min {
		s.min = v
	}
	if s.n == 1 || v > s.max {
		s.max = v
	}
	d := v - s.mean
	s.mean += d / float64(s.n)
	s.m2 += d * (v - s.mean)
	s.dirty = true
	if len(s.vals) < s.limit {
		s.vals = append(s.vals, v)
		return
	}
	if j := s.rng.Int64N(s.n); j < int64(s.limit) {
		s.vals[j] = v
	}
}

// quantile returns the q-quantile (0..1) of the kept values, interpolated
// linearly between closest ranks.
func (s *sampleSet) quantile(q float64) float64 {
	if len(s.vals) == 0 {
		return 0
	}
	if s.dirty {
		slices.Sort(s.vals)
		s.dirty = false
	}
	pos := q * float64(len(s.vals)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(s.vals)-1)
	return s.vals[lo] + (s.vals[hi]-s.vals[lo])*(pos-float64(lo))
}

// dist returns the summary, each value multiplied by scale (1000 turns
// seconds into milliseconds).
func (s *sampleSet) dist(scale float64) Dist {
	if s.n == 0 {
		return Dist{}
	}
	return Dist{
		Count:  s.n,
		Mean:   s.mean * scale,
		Stddev: math.Sqrt(s.m2/float64(s.n)) * scale,
		Min:    s.min * scale,
		P50:    s.quantile(0.50) * scale,
		P90:    s.quantile(0.90) * scale,
		P95:    s.quantile(0.95) * scale,
		P99:    s.quantile(0.99) * scale,
		Max:    s.max * scale,
	}
}

// Summary is what a run, or one step of it, measured. It is computed from the
// Records of the measured requests (warmup excluded), never from the
// Prometheus histograms. Latency distributions cover successful requests
// only; the error ratio stands next to them, so a server that refuses work
// never looks faster.
type Summary struct {
	// Requests were sent (failed ones included, dropped arrivals not).
	Requests   int64 `json:"requests"`
	Successful int64 `json:"successful_requests"`
	// Failed counts every failure of the run: failed requests, arrivals
	// dropped by the in-flight cap and requests cut at the drain bound.
	Failed int64 `json:"failed_requests"`
	// Dropped arrivals found max_in_flight requests already in flight.
	Dropped int64 `json:"dropped_arrivals"`
	// Cut requests were still running when the drain bound after their
	// step's last arrival expired; they are failures of class "canceled".
	Cut int64 `json:"cut_requests"`
	// Interrupted requests were canceled because the run itself was
	// stopped (Ctrl-C, shutdown). They say nothing of the server and are
	// left out of every other figure.
	Interrupted int64 `json:"interrupted_requests"`
	// ErrorRatio is Failed / (Requests + Dropped).
	ErrorRatio float64 `json:"error_ratio"`
	// Errors counts failures by class (probe.Result values, and "dropped").
	Errors map[string]int64 `json:"errors,omitempty"`
	// ErrorMessages holds, per error class, the first few distinct messages
	// (the server's own where it gave one), so a failed run says why.
	ErrorMessages map[string][]string `json:"error_messages,omitempty"`
	// ConnectionRetries counts sends repeated on a fresh connection after a
	// reused one had been closed by the server (not failures).
	ConnectionRetries int64 `json:"connection_retries"`
	// ColdCacheHits counts successful cold requests the server served from
	// its prefix cache beyond the chat template's share: their TTFT is not
	// a cold prefill's.
	ColdCacheHits int64 `json:"cold_cache_hits"`

	// DurationSeconds is the measured time: each step from its first
	// arrival to its last request's end (the drain included).
	DurationSeconds float64 `json:"duration_s"`
	InputTokens     int64   `json:"total_input_tokens"`
	OutputTokens    int64   `json:"total_output_tokens"`
	// EstimatedOutputTokens: some output counts were counted from chunks
	// because the server reported no usage.
	EstimatedOutputTokens bool `json:"estimated_output_tokens,omitempty"`

	RequestThroughput    float64  `json:"request_throughput"`     // successful requests/s
	OutputThroughput     float64  `json:"output_throughput"`      // output tokens/s
	TotalTokenThroughput float64  `json:"total_token_throughput"` // input+output tokens/s
	PeakOutputThroughput float64  `json:"peak_output_throughput"` // most output tokens in one 1-second window
	PeakConcurrent       int64    `json:"peak_concurrent_requests"`
	GoodRequests         int64    `json:"good_requests"`  // successful and met every SLO
	Goodput              float64  `json:"goodput"`        // GoodRequests / duration
	SLOAttainment        float64  `json:"slo_attainment"` // GoodRequests / Successful
	SLO                  *SLOSpec `json:"slo,omitempty"`

	TTFT        Dist `json:"ttft_ms"`
	ITL         Dist `json:"itl_ms"`
	TPOT        Dist `json:"tpot_ms"`
	E2E         Dist `json:"e2e_latency_ms"`
	ScheduleLag Dist `json:"schedule_lag_ms"` // open-loop arrivals only
	InputLen    Dist `json:"input_tokens_per_request"`
	OutputLen   Dist `json:"output_tokens_per_request"`

	// Turns breaks the requests of conversations down by turn index
	// (turns.go); Conversations is what the conversations did; PrefixCache
	// compares the TTFT of requests the server's prefix cache should serve
	// with those it cannot (conversations and shared-prefix groups).
	Turns         []TurnSummary        `json:"turns,omitempty"`
	Conversations *ConversationSummary `json:"conversations,omitempty"`
	PrefixCache   *PrefixCacheGain     `json:"prefix_cache,omitempty"`
}

// SLOSpec is the per-request objective goodput was judged against, in
// milliseconds (zero: not checked).
type SLOSpec struct {
	TTFT float64 `json:"ttft_ms,omitempty"`
	ITL  float64 `json:"itl_ms,omitempty"`
	TPOT float64 `json:"tpot_ms,omitempty"`
	E2E  float64 `json:"e2e_ms,omitempty"`
}

func sloSpec(s probe.SLO) *SLOSpec {
	if s == (probe.SLO{}) {
		return nil
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return &SLOSpec{TTFT: ms(s.TTFT), ITL: ms(s.ITL), TPOT: ms(s.TPOT), E2E: ms(s.E2E)}
}

// aggregator accumulates a Summary from Records as they finish. It keeps a
// few numbers per request (start, end) and bounded sample sets, so a long
// soak does not hold its Records.
type aggregator struct {
	mu  sync.Mutex
	slo probe.SLO

	requests, success, failed, dropped, cut, interrupted, good int64
	errors                                                     map[string]int64
	messages                                                   map[string][]string
	connRetries, coldHits                                      int64
	inTok, outTok                                              int64
	estimated                                                  bool

	ttft, itl, tpot, e2e, lag, inLen, outLen *sampleSet

	origin    time.Time         // reference of the 1-second token windows
	tokens    map[int64]float64 // output tokens per window
	intervals [][2]int64        // start, end (ns since origin) of every measured request
	ends      []int64           // end of successful requests (ns since origin)
	arrivals  []int64           // scheduled (or start) time of every arrival, dropped included

	seed uint64
	sess *sessionAggs // conversations and shared prefixes (turns.go)
}

func newAggregator(slo probe.SLO, origin time.Time, seed uint64) *aggregator {
	return &aggregator{
		slo:    slo,
		errors: map[string]int64{},
		ttft:   newSampleSet(seed + 1),
		itl:    newSampleSet(seed + 2),
		tpot:   newSampleSet(seed + 3),
		e2e:    newSampleSet(seed + 4),
		lag:    newSampleSet(seed + 5),
		inLen:  newSampleSet(seed + 6),
		outLen: newSampleSet(seed + 7),
		origin: origin,
		tokens: map[int64]float64{},
		seed:   seed,
	}
}

func (a *aggregator) since(t time.Time) int64 { return int64(t.Sub(a.origin)) }

// addDropped counts an arrival that the in-flight cap refused.
func (a *aggregator) addDropped(sched time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.dropped++
	a.failed++
	a.errors[ResultDropped]++
	a.addMessage(ResultDropped, "arrival dropped: max_in_flight requests were already in flight")
	a.arrivals = append(a.arrivals, a.since(sched))
}

// add accounts one finished request. interrupted: canceled because the run
// was stopped; cut: canceled at its step's drain bound.
func (a *aggregator) add(rec *probe.Record, interrupted, cut bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if interrupted {
		a.interrupted++
		return
	}
	arrival := rec.Start
	if !rec.Scheduled.IsZero() {
		arrival = rec.Scheduled
		a.lag.add(rec.Start.Sub(rec.Scheduled).Seconds())
	}
	a.arrivals = append(a.arrivals, a.since(arrival))
	a.requests++
	a.intervals = append(a.intervals, [2]int64{a.since(rec.Start), a.since(rec.End)})
	if cut {
		a.cut++
	}
	a.connRetries += int64(rec.ConnRetries)
	if !rec.Success() {
		a.failed++
		a.errors[string(rec.Result)]++
		a.addMessage(string(rec.Result), rec.Error)
		return
	}
	a.success++
	if rec.ColdCacheHit {
		a.coldHits++
	}
	a.ends = append(a.ends, a.since(rec.End))
	if a.slo.Check(rec) == nil {
		a.good++
	}
	a.inTok += int64(rec.InputTokens)
	a.outTok += int64(rec.OutputTokens)
	if !rec.UsageReported {
		a.estimated = true
	}
	a.inLen.add(float64(rec.InputTokens))
	a.outLen.add(float64(rec.OutputTokens))
	a.e2e.add(rec.E2E().Seconds())
	if d, ok := rec.TTFT(); ok {
		a.ttft.add(d.Seconds())
	}
	if d, ok := rec.TPOT(); ok {
		a.tpot.add(d.Seconds())
	}
	rec.EachITL(func(d time.Duration, k int) {
		for range k {
			a.itl.add(d.Seconds())
		}
	})
	a.addTokens(rec)
}

// Bounds of Summary.ErrorMessages: a few distinct messages per class, each
// cut short, so a run of a million failures keeps a few hundred bytes.
const (
	maxMessagesPerClass = 3
	maxMessageBytes     = 300
)

// addMessage keeps msg as one of its class's first distinct messages.
func (a *aggregator) addMessage(class, msg string) {
	if msg == "" {
		return
	}
	if len(msg) > maxMessageBytes {
		msg = strings.ToValidUTF8(msg[:maxMessageBytes], "") + "…"
	}
	if a.messages == nil {
		a.messages = map[string][]string{}
	}
	m := a.messages[class]
	if len(m) < maxMessagesPerClass && !slices.Contains(m, msg) {
		a.messages[class] = append(m, msg)
	}
}

// addTokens puts a request's output tokens in the 1-second windows their
// chunks arrived in. Tokens are counted, not chunks: a chunk's share is
// what the server said it held, else the reported total spread evenly over
// the chunks.
func (a *aggregator) addTokens(rec *probe.Record) {
	if len(rec.Chunks) == 0 {
		a.tokens[a.since(rec.End)/int64(time.Second)] += float64(rec.OutputTokens)
		return
	}
	per := 1.0
	if rec.ChunkTokens == nil && rec.OutputTokens > 0 {
		per = float64(rec.OutputTokens) / float64(len(rec.Chunks))
	}
	base := a.since(rec.Start)
	for i, off := range rec.Chunks {
		w := per
		if rec.ChunkTokens != nil && i < len(rec.ChunkTokens) {
			w = float64(rec.ChunkTokens[i])
		}
		a.tokens[(base+int64(off))/int64(time.Second)] += w
	}
}

// summary returns the Summary for a measured duration.
func (a *aggregator) summary(duration time.Duration) Summary {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := Summary{
		Requests:              a.requests,
		Successful:            a.success,
		Failed:                a.failed,
		Dropped:               a.dropped,
		Cut:                   a.cut,
		Interrupted:           a.interrupted,
		InputTokens:           a.inTok,
		OutputTokens:          a.outTok,
		EstimatedOutputTokens: a.estimated,
		GoodRequests:          a.good,
		SLO:                   sloSpec(a.slo),
		DurationSeconds:       duration.Seconds(),
		TTFT:                  a.ttft.dist(1000),
		ITL:                   a.itl.dist(1000),
		TPOT:                  a.tpot.dist(1000),
		E2E:                   a.e2e.dist(1000),
		ScheduleLag:           a.lag.dist(1000),
		InputLen:              a.inLen.dist(1),
		OutputLen:             a.outLen.dist(1),
	}
	if len(a.errors) > 0 {
		s.Errors = maps.Clone(a.errors)
	}
	if len(a.messages) > 0 {
		s.ErrorMessages = make(map[string][]string, len(a.messages))
		for k, v := range a.messages {
			s.ErrorMessages[k] = slices.Clone(v)
		}
	}
	s.ConnectionRetries = a.connRetries
	s.ColdCacheHits = a.coldHits
	if n := a.requests + a.dropped; n > 0 {
		s.ErrorRatio = float64(a.failed) / float64(n)
	}
	if a.success > 0 {
		s.SLOAttainment = float64(a.good) / float64(a.success)
	}
	if d := duration.Seconds(); d > 0 {
		s.RequestThroughput = float64(a.success) / d
		s.OutputThroughput = float64(a.outTok) / d
		s.TotalTokenThroughput = float64(a.inTok+a.outTok) / d
		s.Goodput = float64(a.good) / d
	}
	for _, v := range a.tokens {
		s.PeakOutputThroughput = max(s.PeakOutputThroughput, v)
	}
	s.PeakConcurrent = peakConcurrency(a.intervals)
	if a.sess != nil {
		a.sess.fill(&s)
	}
	return s
}

// peakConcurrency returns the most intervals open at once; an interval
// ending exactly when another starts does not overlap it.
func peakConcurrency(iv [][2]int64) int64 {
	if len(iv) == 0 {
		return 0
	}
	starts := make([]int64, len(iv))
	ends := make([]int64, len(iv))
	for i, v := range iv {
		starts[i], ends[i] = v[0], v[1]
	}
	slices.Sort(starts)
	slices.Sort(ends)
	var cur, peak int64
	j := 0
	for _, s := range starts {
		for j < len(ends) && ends[j] <= s {
			j++
			cur--
		}
		cur++
		peak = max(peak, cur)
	}
	return peak
}

// middleRate estimates the steady rate of a series of event times (ns): the
// slope of the cumulative event count over the middle 80 % of the events
// (least squares), so that neither the ramp at the start of a step nor the
// drain at its end biases it, and neither does one late event or a batch
// of simultaneous ones. With fewer than 10 events it falls back to
// (n-1) / span.
func middleRate(times []int64) float64 {
	n := len(times)
	if n < 2 {
		return 0
	}
	t := slices.Clone(times)
	slices.Sort(t)
	if n < 10 {
		span := time.Duration(t[n-1] - t[0]).Seconds()
		if span <= 0 {
			return 0
		}
		return float64(n-1) / span
	}
	lo := int(math.Round(0.1 * float64(n-1)))
	hi := int(math.Round(0.9 * float64(n-1)))
	m := float64(hi - lo + 1)
	var mx, my float64
	for i := lo; i <= hi; i++ {
		mx += time.Duration(t[i] - t[lo]).Seconds()
		my += float64(i)
	}
	mx, my = mx/m, my/m
	var sxy, sxx float64
	for i := lo; i <= hi; i++ {
		dx := time.Duration(t[i]-t[lo]).Seconds() - mx
		sxy += dx * (float64(i) - my)
		sxx += dx * dx
	}
	if sxx <= 0 {
		return 0
	}
	return sxy / sxx
}

// rates returns the step's arrival rate and its completion (achieved) rate,
// both estimated with middleRate.
func (a *aggregator) rates() (arrival, achieved float64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return middleRate(a.arrivals), middleRate(a.ends)
}

// counts returns finished and failed measured requests so far.
func (a *aggregator) counts() (finished, failed int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.requests + a.dropped, a.failed
}

// merge folds b into a (for the run summary over several steps). Sample
// sets are merged by re-adding b's kept values, so the run's percentiles
// stay exact while no set has overflowed.
func (a *aggregator) merge(b *aggregator) {
	a.mu.Lock()
	defer a.mu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	a.requests += b.requests
	a.success += b.success
	a.failed += b.failed
	a.dropped += b.dropped
	a.cut += b.cut
	a.interrupted += b.interrupted
	a.good += b.good
	a.inTok += b.inTok
	a.outTok += b.outTok
	a.estimated = a.estimated || b.estimated
	for k, v := range b.errors {
		a.errors[k] += v
	}
	a.connRetries += b.connRetries
	a.coldHits += b.coldHits
	for _, k := range slices.Sorted(maps.Keys(b.messages)) {
		for _, m := range b.messages[k] {
			a.addMessage(k, m)
		}
	}
	for _, p := range [][2]*sampleSet{{a.ttft, b.ttft}, {a.itl, b.itl}, {a.tpot, b.tpot}, {a.e2e, b.e2e},
		{a.lag, b.lag}, {a.inLen, b.inLen}, {a.outLen, b.outLen}} {
		p[0].mergeFrom(p[1])
	}
	// every aggregator of a run shares the run's origin, so token windows
	// and intervals line up
	for k, v := range b.tokens {
		a.tokens[k] += v
	}
	a.intervals = append(a.intervals, b.intervals...)
	if b.sess != nil {
		a.sessionsAgg(b.sess.plan).merge(b.sess)
	}
}

// mergeFrom adds b's values into s: exact moments (Chan's parallel
// algorithm) and b's kept samples.
func (s *sampleSet) mergeFrom(b *sampleSet) {
	if b.n == 0 {
		return
	}
	if s.n == 0 {
		s.min, s.max = b.min, b.max
	} else {
		s.min, s.max = min(s.min, b.min), max(s.max, b.max)
	}
	n := s.n + b.n
	d := b.mean - s.mean
	s.m2 += b.m2 + d*d*float64(s.n)*float64(b.n)/float64(n)
	s.mean += d * float64(b.n) / float64(n)
	// keep b's samples in proportion to its share of the values
	for _, v := range b.vals {
		if len(s.vals) < s.limit {
			s.vals = append(s.vals, v)
		} else if j := s.rng.Int64N(n); j < int64(s.limit) {
			s.vals[j] = v
		}
	}
	s.n = n
	s.dirty = true
}

// SortedErrors returns the error classes of s in order, for stable output.
func (s *Summary) SortedErrors() []string {
	keys := make([]string, 0, len(s.Errors))
	for k := range s.Errors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
