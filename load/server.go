package load

import (
	"context"
	"strconv"
	"time"

	"github.com/llmprobe/llmprobe/servermetrics"
)

// ServerView is the model server's own account of a run (issue 13): its
// metrics page scraped during the run, and the health verdicts drawn from it.
// Nil when no metrics page was configured or found; Note says which.
type ServerView struct {
	Timeline *servermetrics.Timeline `json:"timeline,omitempty"`
	Verdicts []Verdict               `json:"verdicts,omitempty"`
	// Note says why there is no timeline, or what it lacks, in plain words.
	Note string `json:"note,omitempty"`
	// Breakdown is the run's latency breakdown: the client's mean TTFT over
	// every measured request against the server's over the measured steps.
	Breakdown *Breakdown `json:"breakdown,omitempty"`
}

// Gauge sums up a server gauge over a step: its mean and max over the
// step's scrapes, and its value at the last scrape after the step's drain.
type Gauge struct {
	Mean float64 `json:"mean"`
	Max  float64 `json:"max"`
	Last float64 `json:"last"`
}

// ServerHist is a server histogram's delta over a step, in milliseconds.
type ServerHist struct {
	Count  float64 `json:"count"`
	MeanMS float64 `json:"mean_ms"`
	P50MS  float64 `json:"p50_ms,omitempty"`
	P99MS  float64 `json:"p99_ms,omitempty"`
}

// StepServer is the server's view of one step.
type StepServer struct {
	Scrapes         int    `json:"scrapes"`
	RequestsRunning *Gauge `json:"requests_running,omitempty"`
	RequestsWaiting *Gauge `json:"requests_waiting,omitempty"`
	KVCacheUsage    *Gauge `json:"kv_cache_usage_ratio,omitempty"`
	ResidentMemory  *Gauge `json:"resident_memory_bytes,omitempty"`

	QueueTime *ServerHist `json:"queue_time,omitempty"`
	TTFT      *ServerHist `json:"ttft,omitempty"`
	ITL       *ServerHist `json:"itl,omitempty"`
	TPOT      *ServerHist `json:"tpot,omitempty"`
	Prefill   *ServerHist `json:"prefill_time,omitempty"`
	Decode    *ServerHist `json:"decode_time,omitempty"`
	E2E       *ServerHist `json:"e2e_latency,omitempty"`

	Preemptions      float64 `json:"preemptions"`
	PromptTokens     float64 `json:"prompt_tokens"`
	GenerationTokens float64 `json:"generation_tokens"`
	// Resets lists the counters that went backwards during the step: the
	// server restarted.
	Resets []string `json:"resets,omitempty"`

	Breakdown *Breakdown `json:"breakdown,omitempty"`
}

// Breakdown says where a step's time to first token went, from both sides:
// the client's mean TTFT, the server's own mean TTFT, and within the
// server's its queue time and prefill; Other is the client's TTFT the server
// does not account for (network, proxies, the client itself).
type Breakdown struct {
	ClientTTFTMS float64 `json:"client_ttft_ms"`
	ServerTTFTMS float64 `json:"server_ttft_ms"`
	QueueMS      float64 `json:"queue_ms"`
	PrefillMS    float64 `json:"prefill_ms"`
	OtherMS      float64 `json:"other_ms"`
	// QueueShare is QueueMS / ClientTTFTMS.
	QueueShare float64 `json:"queue_share"`
	// HasQueueTime: the page has a queue time histogram (vLLM, SGLang,
	// TGI), so a zero QueueMS means no queueing rather than no figure.
	HasQueueTime bool `json:"has_queue_time"`
}

// Verdict names of the server's health checks (Verdict.Name).
const (
	VerdictServerMemoryGrowth = "server_memory_growth"
	VerdictStuckRequests      = "stuck_requests"
	VerdictServerRestart      = "server_restart"
	VerdictPreemptions        = "preemptions"
)

// Thresholds of the server verdicts.
const (
	// MemoryGrowthPerHour and MemoryGrowthOverRun: server_memory_growth
	// fails when resident memory rises with 95 % confidence, by more than
	// 1 % of its starting size per hour and by more than 1 % over the run
	// (so a short run's allocator warm-up is not called a leak).
	MemoryGrowthPerHour = 0.01
	MemoryGrowthOverRun = 0.01
	// MinMemoryPoints is the fewest scrapes of resident memory a growth
	// verdict is drawn from.
	MinMemoryPoints = 10
	// StuckKVMargin is how far above its level before the run the KV cache
	// may stay after the drain before its blocks count as stuck.
	StuckKVMargin = 0.05
	// PreemptionShare: preemptions fail when they exceed this share of the
	// run's requests (the KV cache is too small for the load, and requests
	// are recomputed); fewer are reported, not failed.
	PreemptionShare = 0.10
	// DefaultSettle bounds the wait after a run's drain for the server's
	// running and waiting requests to return to their level before it.
	DefaultSettle = 5 * time.Second
)

// Mark keys of a ServerRun's snapshots.
const (
	MarkStart = servermetrics.MarkStart // the first scrape, as the run starts
	MarkAfter = "after"                 // after the last drain and the settle
)

// StepStartMark is the key of the snapshot taken when step i's warmup
// ended (steps without a warmup start at the previous step's end mark).
func StepStartMark(i int) string { return "measure:" + strconv.Itoa(i) }

// StepEndMark is the key of the snapshot taken when step i ended, after its
// drain: every one of its requests is in the server's histograms by then.
func StepEndMark(i int) string { return "end:" + strconv.Itoa(i) }

// ServerRun is what a metrics page said during a run, for AttachServer:
// the timeline, and whole snapshots at the marks (run start, each step's
// start after its warmup and end after its drain, after the settle).
type ServerRun struct {
	Timeline *servermetrics.Timeline
	Marks    map[string]servermetrics.Snapshot
	// Settled: after the drain, running and waiting requests (and the KV
	// cache) returned to their level before the run within SettleS.
	Settled bool
	SettleS float64
	Note    string
}

// ServerSampler scrapes a model server's metrics page during one run
// (archive.RunJob wires it): every interval into the timeline, and a whole
// snapshot at each step's start and end so a step's histograms are exact
// deltas. Create it before the runner (its Hooks mark step ends), Start it
// with the runner, Finish it when Run returns.
type ServerSampler struct {
	scraper *servermetrics.Scraper
	every   time.Duration
	// Settle bounds the wait after the run for the page to settle
	// (DefaultSettle when 0); Poll is the interval of that wait.
	Settle, Poll time.Duration

	p         *servermetrics.Sampler
	watchStop chan struct{}
	watchDone chan struct{}
}

// NewServerSampler returns a sampler of s every interval (0: one second).
func NewServerSampler(s *servermetrics.Scraper, every time.Duration) *ServerSampler {
	return &ServerSampler{scraper: s, every: every}
}

// Hooks returns h with a Step hook that marks each step's end first.
func (ss *ServerSampler) Hooks(h Hooks) Hooks {
	next := h.Step
	h.Step = func(s *Step) {
		if ss.p != nil {
			ss.p.Mark(StepEndMark(s.Index))
		}
		if next != nil {
			next(s)
		}
	}
	return h
}

// StartWait bounds how long Start waits for the first scrape, so that the
// baseline of the stuck_requests verdict is read before the run's own
// requests arrive, yet a hanging page delays a run by a second at most.
const StartWait = time.Second

// Start begins scraping (its first scrape is the run's start mark, waited
// for up to StartWait) and watches r's progress for the end of each step's
// warmup.
func (ss *ServerSampler) Start(ctx context.Context, r *Runner) {
	ss.p = servermetrics.StartSampler(ctx, ss.scraper, ss.every)
	t := time.NewTimer(StartWait)
	select {
	case <-ss.p.Ready():
	case <-t.C:
	case <-ctx.Done():
	}
	t.Stop()
	ss.watchStop, ss.watchDone = make(chan struct{}), make(chan struct{})
	go ss.watch(r)
}

// watch marks the end of a warmup: Progress turns from warmup to measure
// within the runner's 200 ms monitor tick, so the mark is that late at most
// (plus the poll).
func (ss *ServerSampler) watch(r *Runner) {
	defer close(ss.watchDone)
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	prev := r.Progress()
	for {
		select {
		case <-ss.watchStop:
			return
		case <-t.C:
		}
		p := r.Progress()
		if p.Step == prev.Step && prev.Phase == "warmup" && p.Phase == "measure" {
			ss.p.Mark(StepStartMark(p.Step))
		}
		prev = p
	}
}

// Finish stops the scrapes once the marks asked for are taken, waits (up
// to Settle, not when the run was interrupted or ctx is done) for running
// and waiting requests to return to their level before the run, and
// returns what was read.
func (ss *ServerSampler) Finish(ctx context.Context, interrupted bool) *ServerRun {
	if ss.p == nil {
		return nil
	}
	close(ss.watchStop)
	<-ss.watchDone
	base, ok := ss.p.Snapshot(MarkStart)
	if ok {
		ss.p.Stop() // after the marks asked for: the last step's end
	} else {
		ss.p.Close() // never read: do not wait out a hanging scrape
	}
	run := &ServerRun{}
	if ok {
		settle, poll := ss.Settle, ss.Poll
		if settle <= 0 {
			settle = DefaultSettle
		}
		if poll <= 0 {
			poll = min(250*time.Millisecond, settle)
		}
		if interrupted || ctx.Err() != nil {
			settle = 0 // one scrape: the server's state as the run was stopped
		}
		start := time.Now()
		_, run.Settled, _ = ss.p.Settle(ctx, MarkAfter, settle, poll, func(s servermetrics.Snapshot) bool {
			return drained(base, s)
		})
		run.SettleS = time.Since(start).Seconds()
	}
	run.Timeline, run.Marks, run.Note = ss.p.Timeline(), ss.p.Marks(), ss.p.Note()
	return run
}

// drained reports whether after's running and waiting requests are back to
// at most before's, and its KV cache within StuckKVMargin of before's
// (llama.cpp keeps its slots' caches after a request, so its KV usage is
// not expected back).
func drained(before, after servermetrics.Snapshot) bool {
	busy := func(s servermetrics.Snapshot) (float64, bool) {
		r, ok1 := s.Values["requests_running"]
		w, ok2 := s.Values["requests_waiting"]
		return r + w, ok1 || ok2
	}
	b, _ := busy(before)
	if a, ok := busy(after); ok && a > b {
		return false
	}
	if after.Server == servermetrics.LlamaCPP {
		return true
	}
	kb := before.Values["kv_cache_usage_ratio"]
	if ka, ok := after.Values["kv_cache_usage_ratio"]; ok && ka > kb+StuckKVMargin {
		return false
	}
	return true
}
