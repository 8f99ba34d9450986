// Command measurer measures the measurer: it runs llmprobe's load engine
// against the simulated model server (TTFT 100 ms, ITL 10 ms, 64 tokens,
// no jitter) and prints how far the client's timing is from the
// simulator's own send times, and what each side costs.
//
//	go run ./cmd/measurer                 # streams=1,100,1000,2000 and rate=200
//	go run ./cmd/measurer -duration 20s -scenarios streams=1000
//
// The simulator runs in a child process (this binary, re-executed with
// -serve-sim), so each side's CPU time is its own. Where the machine lets
// this process run on two CPUs or more, the client is pinned to the first
// and the simulator to the second (sched_setaffinity on every thread of
// each process, GOMAXPROCS 1 in each), so neither steals the other's core.
//
// The simulator traces, for the connections sampled (a hash of the client's
// port, the same on both sides), each output chunk's due and send times;
// the client keeps the same requests' arrival stamps. The client's timing
// error is then measured against what the simulator actually did, not
// against what it was configured to do: TTFT error is the first output
// chunk's arrival stamp minus its send time, ITL error each gap's length at
// the client minus its length at the sender. The simulator's own lag (send
// minus due) is reported beside them.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/probe"
	"github.com/llmprobe/llmprobe/sim"
)

const (
	injectedTTFT = 100 * time.Millisecond
	injectedITL  = 10 * time.Millisecond
	outputTokens = 64
	// tracedConns is about how many connections' requests are compared:
	// enough for tight percentiles, few enough that keeping their times
	// does not weigh on either side's memory.
	tracedConns = 100
)

func main() { os.Exit(run()) }

func run() int {
	serveSim := flag.String("serve-sim", "", "internal: serve the simulator on this address and print it")
	simCPU := flag.Int("sim-cpu", -1, "internal: the CPU the simulator child pins itself to (-1: none)")
	simProfile := flag.String("sim-cpuprofile", "", "write a CPU profile of the simulator over each scenario's measured window to this file (the last scenario's stays)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the client over the last scenario's measured window to this file")
	heapProfile := flag.String("heapprofile", "", "write a heap profile of the client in the middle of the last scenario's measured window to this file")
	duration := flag.Duration("duration", 10*time.Second, "measured time per scenario")
	warmup := flag.Duration("warmup", 3*time.Second, "warmup per scenario (connections opened, loops in step)")
	scenarios := flag.String("scenarios", "streams=1,streams=100,streams=1000,streams=2000,rate=200,floor=1000", "comma-separated streams=N (closed-loop concurrent streams), rate=R (open-loop constant req/s) and floor=N (N closed-loop streams read by the floor client: one epoll thread, one read per chunk, nothing else)")
	pin := flag.Bool("pin", true, "pin the client and the simulator to a CPU each, where this process may use two or more")
	realtime := flag.Bool("realtime", false, "with -pin: run both in the SCHED_FIFO class, so that other work on a shared machine does not delay their wake-ups (needs root or CAP_SYS_NICE)")
	jsonOut := flag.String("json", "", "also write the rows as JSON to this file")
	flag.Parse()

	if *serveSim != "" {
		if err := runSim(*serveSim, *simCPU, *realtime, *simProfile); err != nil {
			fmt.Fprintln(os.Stderr, "measurer sim:", err)
			return 1
		}
		return 0
	}
	if *heapProfile != "" {
		runtime.MemProfileRate = 4096 // a profile of per-stream memory needs fine samples
	}
	cpus := allowedCPUs()
	clientCPU, childCPU := -1, -1
	if *pin && len(cpus) >= 2 {
		clientCPU, childCPU = cpus[0], cpus[1]
	}
	child, err := startSimChild(childCPU, *realtime, *simProfile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "measurer:", err)
		return 1
	}
	defer child.stop()
	placement := "not pinned (sharing the machine's CPUs)"
	if clientCPU >= 0 {
		if err := pinProcess(clientCPU, *realtime); err != nil {
			fmt.Fprintln(os.Stderr, "measurer:", err)
			return 1
		}
		placement = fmt.Sprintf("client pinned to CPU %d, simulator to CPU %d (sched_setaffinity, GOMAXPROCS 1 each)", clientCPU, childCPU)
		if *realtime {
			placement += ", both SCHED_FIFO"
		}
	}
	fmt.Printf("measurer: simulator at %s (TTFT %s, ITL %s, %d tokens, jitter off); %d CPUs, %s; %s measured + %s warmup per scenario\n\n",
		child.url, injectedTTFT, injectedITL, outputTokens, runtime.NumCPU(), placement, *duration, *warmup)

	var rows []row
	list := strings.Split(*scenarios, ",")
	for i, sc := range list {
		last := i == len(list)-1
		p := profiles{}
		if last {
			p = profiles{cpu: *cpuProfile, heap: *heapProfile}
		}
		r, err := measure(child, strings.TrimSpace(sc), *duration, *warmup, p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "measurer:", err)
			return 1
		}
		rows = append(rows, r)
		fmt.Fprintf(os.Stderr, "measurer: %s done\n", sc)
	}
	printTable(os.Stdout, rows)
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(rows, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "measurer:", err)
			return 1
		}
	}
	return 0
}

type profiles struct{ cpu, heap string }

type fixed struct{}

func (fixed) Next() probe.Request {
	return probe.Request{Prompt: "Tell me about lighthouses.", MaxTokens: outputTokens}
}

// row is one scenario's figures. Errors and lags are milliseconds; errors
// are measured minus the simulator's send times (the *Injected ones minus
// the configured values, as the engine's summary has them).
type row struct {
	Scenario string `json:"scenario"`
	// Floor: the floor client's row (floor=N), which has CPU figures only.
	Floor    bool  `json:"floor,omitempty"`
	Requests int64 `json:"requests"`
	Failed   int64 `json:"failed"`
	Compared int   `json:"requests_compared"`

	TTFTErrP50 float64 `json:"ttft_error_p50_ms"`
	TTFTErrP99 float64 `json:"ttft_error_p99_ms"`
	ITLErrP50  float64 `json:"itl_error_p50_ms"`
	ITLErrP99  float64 `json:"itl_error_p99_ms"`
	SimLagP50  float64 `json:"sim_lag_p50_ms"`
	SimLagP99  float64 `json:"sim_lag_p99_ms"`
	// The engine's own figures against the configured TTFT and ITL: the
	// client's error plus the simulator's lag.
	TTFTInjectedP50 float64 `json:"ttft_minus_injected_p50_ms"`
	ITLInjectedP50  float64 `json:"itl_minus_injected_p50_ms"`

	OpenLoop bool    `json:"open_loop"`
	LagP50   float64 `json:"schedule_lag_p50_ms"`
	LagP99   float64 `json:"schedule_lag_p99_ms"`

	Tokens              int64   `json:"tokens"` // sent by the simulator in the window
	ClientCPUPerToken   float64 `json:"client_cpu_us_per_token"`
	SimCPUPerToken      float64 `json:"sim_cpu_us_per_token"`
	ClientCores         float64 `json:"client_cores"`
	SimCores            float64 `json:"sim_cores"`
	PeakInFlight        int64   `json:"peak_in_flight"`
	RSSPerStreamKiB     float64 `json:"peak_rss_per_stream_kib"`
	PeakRSSMiB          float64 `json:"peak_rss_mib"`
	HeapPerStreamKiB    float64 `json:"heap_inuse_per_stream_kib"`
	LivePerStreamKiB    float64 `json:"heap_live_per_stream_kib"` // marked live by the last GC
	StackPerStreamKiB   float64 `json:"stack_inuse_per_stream_kib"`
	GoroutinesPerStream float64 `json:"goroutines_per_stream"`
}

func measure(child *simChild, scenario string, duration, warmup time.Duration, prof profiles) (row, error) {
	kind, val, _ := strings.Cut(scenario, "=")
	n, err := strconv.ParseFloat(val, 64)
	if err != nil || n <= 0 {
		return row{}, fmt.Errorf("scenario %q: want streams=N, rate=R or floor=N", scenario)
	}
	o := load.Options{Duration: duration, Warmup: warmup, MaxInFlight: 4096, StopErrorRatio: 1, LagThreshold: 5 * time.Millisecond,
		Target: "sim", Model: sim.DefaultModel, Drain: 30 * time.Second}
	concurrency := n
	switch kind {
	case "streams":
		o.Mode, o.VUs = load.ModeThroughput, int(n)
	case "rate":
		o.Mode, o.Rates = load.ModeRate, []float64{n}
		concurrency = n * (injectedTTFT + outputTokens*injectedITL).Seconds()
	case "floor":
		return measureFloor(child, scenario, int(n), duration, warmup)
	default:
		return row{}, fmt.Errorf("scenario %q: want streams=N, rate=R or floor=N", scenario)
	}
	every := max(1, int(concurrency)/tracedConns)
	client := probe.NewClient(probe.Endpoint{Name: "sim", URL: child.url, Model: sim.DefaultModel, Stream: true, Timeout: time.Minute})
	defer client.CloseIdle()
	ts := &tracedSender{c: client, every: every}
	if kind == "streams" {
		// Closed-loop users that all start at once stay in lock-step
		// against a simulator without jitter: every stream's tokens
		// due at the same instant, every round of requests starting and
		// ending together. Their first requests are spread over one
		// request's length, within the warmup, as a ramp-up would.
		ts.stagger, ts.streams = injectedTTFT+outputTokens*injectedITL, int(n)
		if warmup < 2*ts.stagger {
			return row{}, fmt.Errorf("scenario %q: the warmup must be at least %s, to spread the streams", scenario, 2*ts.stagger)
		}
	}
	r, err := load.New(ts, fixed{}, o, load.Hooks{})
	if err != nil {
		return row{}, err
	}

	runtime.GC()
	debug.FreeOSMemory()
	baseRSS := rssBytes()
	var peakRSS, peakInFlight int64
	var mu sync.Mutex
	done, sampled := make(chan struct{}), make(chan struct{})

	// The measured window opens when the warmup ends: both sides' CPU
	// and the simulator's tokens count from there.
	var cpu0 float64
	var markAt time.Time
	var markErr error
	var profOut *os.File
	marked := make(chan struct{})
	markTimer := time.AfterFunc(warmup, func() {
		defer close(marked)
		markErr = child.mark(every)
		markAt = time.Now()
		ts.open(markAt.UnixNano())
		cpu0 = cpuSeconds()
		if prof.cpu != "" {
			if f, err := os.Create(prof.cpu); err == nil && pprof.StartCPUProfile(f) == nil {
				profOut = f
			}
		}
	})
	defer markTimer.Stop()
	// In the middle of the measured window, once: where the memory is
	// (ReadMemStats stops the world, so it is not sampled often).
	var mid runtime.MemStats
	var midInFlight int64
	var midGoroutines int
	var midLive uint64
	midTimer := time.AfterFunc(warmup+duration/2, func() {
		midInFlight, midGoroutines = r.Progress().InFlight, runtime.NumGoroutine()
		runtime.ReadMemStats(&mid)
		live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		metrics.Read(live)
		if live[0].Value.Kind() == metrics.KindUint64 {
			midLive = live[0].Value.Uint64()
		}
		if prof.heap != "" {
			if f, err := os.Create(prof.heap); err == nil {
				_ = pprof.WriteHeapProfile(f)
				f.Close()
			}
		}
	})
	defer midTimer.Stop()
	go func() {
		defer close(sampled)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			rss, inflight := rssBytes(), r.Progress().InFlight
			mu.Lock()
			peakRSS, peakInFlight = max(peakRSS, rss), max(peakInFlight, inflight)
			mu.Unlock()
		}
	}()
	res := r.Run(context.Background())
	<-marked
	end := time.Now()
	cpu := cpuSeconds() - cpu0
	if profOut != nil {
		pprof.StopCPUProfile()
		profOut.Close()
	}
	close(done)
	<-sampled
	if markErr != nil {
		return row{}, fmt.Errorf("scenario %s: %w", scenario, markErr)
	}
	win, err := child.collect()
	if err != nil {
		return row{}, fmt.Errorf("scenario %s: %w", scenario, err)
	}
	cmp := compare(ts.take(), win.Traces)
	window := end.Sub(markAt).Seconds()

	s := res.Summary
	out := row{
		Scenario:        scenario,
		Requests:        s.Requests,
		Failed:          s.Failed,
		Compared:        cmp.Matched,
		TTFTErrP50:      quantile(cmp.TTFT, 0.5),
		TTFTErrP99:      quantile(cmp.TTFT, 0.99),
		ITLErrP50:       quantile(cmp.ITL, 0.5),
		ITLErrP99:       quantile(cmp.ITL, 0.99),
		SimLagP50:       quantile(cmp.Lag, 0.5),
		SimLagP99:       quantile(cmp.Lag, 0.99),
		TTFTInjectedP50: s.TTFT.P50 - msDur(injectedTTFT),
		ITLInjectedP50:  s.ITL.P50 - msDur(injectedITL),
		OpenLoop:        kind == "rate",
		LagP50:          s.ScheduleLag.P50,
		LagP99:          s.ScheduleLag.P99,
		Tokens:          win.Tokens,
		PeakInFlight:    peakInFlight,
		PeakRSSMiB:      float64(peakRSS) / (1 << 20),
	}
	if win.Tokens > 0 {
		out.ClientCPUPerToken = cpu / float64(win.Tokens) * 1e6
		out.SimCPUPerToken = win.CPUSeconds / float64(win.Tokens) * 1e6
	}
	if window > 0 {
		out.ClientCores, out.SimCores = cpu/window, win.CPUSeconds/window
	}
	if peakInFlight > 0 {
		out.RSSPerStreamKiB = float64(peakRSS-baseRSS) / float64(peakInFlight) / 1024
	}
	if midInFlight > 0 {
		out.HeapPerStreamKiB = float64(mid.HeapInuse) / float64(midInFlight) / 1024
		out.LivePerStreamKiB = float64(midLive) / float64(midInFlight) / 1024
		out.StackPerStreamKiB = float64(mid.StackInuse) / float64(midInFlight) / 1024
		out.GoroutinesPerStream = float64(midGoroutines) / float64(midInFlight)
	}
	if cmp.Unmatched > cmp.Matched/100 {
		fmt.Fprintf(os.Stderr, "measurer: %s: %d of %d sampled requests had no simulator trace to compare with\n", scenario, cmp.Unmatched, cmp.Matched+cmp.Unmatched)
	}
	return out, nil
}

func msDur(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// cpuSeconds is this process's user+system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

// rssBytes is this process's resident set size (Linux), else the Go
// runtime's memory from the OS.
func rssBytes() int64 {
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				f := strings.Fields(v)
				if len(f) > 0 {
					kb, _ := strconv.ParseInt(f[0], 10, 64)
					return kb << 10
				}
			}
		}
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.Sys)
}

func printTable(w io.Writer, rows []row) {
	f := func(v float64, prec int) string {
		if math.IsNaN(v) {
			return "-"
		}
		return strconv.FormatFloat(v, 'f', prec, 64)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\trequests\tfailed\tcompared\tTTFT err p50\tp99\tITL err p50\tp99\tsim lag p50\tp99\tTTFT-100ms p50\tsched lag p50\tp99\tclient µs/tok\tsim µs/tok\tclient cores\tsim cores\tpeak in flight\tRSS/stream KiB\theap KiB\tlive KiB\tstack KiB\tgoroutines\t")
	for _, r := range rows {
		lag50, lag99 := "-", "-"
		if r.OpenLoop {
			lag50, lag99 = f(r.LagP50, 3), f(r.LagP99, 3)
		}
		if r.Floor {
			// Only CPU: the floor keeps no records and no heap per stream.
			fmt.Fprintf(tw, "%s\t%d\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t%s\t%s\t%s\t%s\t%d\t-\t-\t-\t-\t-\t\n",
				r.Scenario, r.Requests, f(r.ClientCPUPerToken, 2), f(r.SimCPUPerToken, 2), f(r.ClientCores, 2), f(r.SimCores, 2), r.PeakInFlight)
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t\n",
			r.Scenario, r.Requests, r.Failed, r.Compared,
			f(r.TTFTErrP50, 3), f(r.TTFTErrP99, 3), f(r.ITLErrP50, 3), f(r.ITLErrP99, 3),
			f(r.SimLagP50, 3), f(r.SimLagP99, 3), f(r.TTFTInjectedP50, 2), lag50, lag99,
			f(r.ClientCPUPerToken, 2), f(r.SimCPUPerToken, 2), f(r.ClientCores, 2), f(r.SimCores, 2),
			r.PeakInFlight, f(r.RSSPerStreamKiB, 1), f(r.HeapPerStreamKiB, 1), f(r.LivePerStreamKiB, 1), f(r.StackPerStreamKiB, 1), f(r.GoroutinesPerStream, 2))
	}
	tw.Flush()
	fmt.Fprintln(w, "\nms: err = client's stamp - simulator's send time; sim lag = send - due; TTFT-100ms = the engine's TTFT minus the configured one.")
	fmt.Fprintln(w, "Targets at 1000 streams: TTFT err p50 <= 2 ms, ITL err p50 <= 0.5 ms, RSS/stream <= 48 KiB, client µs/tok <= 2 x floor=1000's.")
	var client, floor float64
	for _, r := range rows {
		switch r.Scenario {
		case "streams=1000":
			client = r.ClientCPUPerToken
		case "floor=1000":
			floor = r.ClientCPUPerToken
		}
	}
	if client > 0 && floor > 0 {
		fmt.Fprintf(w, "client / floor at 1000 streams: %.2f / %.2f µs a token = %.2f (target <= 2)\n", client, floor, client/floor)
	}
}
