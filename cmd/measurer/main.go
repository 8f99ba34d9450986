// Command measurer measures the measurer: it runs llmprobe's load engine
// against the simulated model server, whose timing is exact (TTFT 100 ms,
// ITL 10 ms, no jitter), and prints how far the client's measurements are
// from the injected values, the client's schedule lag, its CPU per 1,000
// output tokens and its peak memory per in-flight stream.
//
//	go run ./cmd/measurer                 # the sim in a child process
//	go run ./cmd/measurer -duration 20s -scenarios streams=1000
//	go run ./cmd/measurer -sim-url http://127.0.0.1:8000   # an external `llmprobe sim`
//
// The simulator runs in its own process (this binary, re-executed), so the
// client's CPU and memory figures are its own; both still share the
// machine's cores, as they would on a 2-core box.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/debug"
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
)

func main() {
	serveSim := flag.String("serve-sim", "", "internal: serve the simulator on this address and print it")
	simURL := flag.String("sim-url", "", "use a simulator already running here (llmprobe sim --ttft 100ms --itl 10ms --jitter 0) instead of starting one")
	duration := flag.Duration("duration", 10*time.Second, "measured time per scenario")
	warmup := flag.Duration("warmup", 3*time.Second, "warmup per scenario (connections opened, loops in step)")
	scenarios := flag.String("scenarios", "streams=1,streams=100,streams=1000,rate=50,rate=200", "comma-separated streams=N (closed-loop concurrent streams) and rate=R (open-loop constant req/s)")
	jsonOut := flag.String("json", "", "also write the rows as JSON to this file")
	flag.StringVar(&heapProfile, "heapprofile", "", "write a heap profile of the last scenario, taken in the middle of its measured window, to this file")
	flag.Parse()

	if *serveSim != "" {
		runSim(*serveSim)
		return
	}
	url := *simURL
	if url == "" {
		u, stop, err := startSimChild()
		if err != nil {
			fmt.Fprintln(os.Stderr, "measurer:", err)
			os.Exit(1)
		}
		defer stop()
		url = u
	}
	fmt.Printf("measurer: simulator at %s (TTFT %s, ITL %s, %d tokens, jitter off); GOMAXPROCS %d, %d CPUs; %s measured + %s warmup per scenario\n\n",
		url, injectedTTFT, injectedITL, outputTokens, runtime.GOMAXPROCS(0), runtime.NumCPU(), *duration, *warmup)

	var rows []row
	for _, sc := range strings.Split(*scenarios, ",") {
		r, err := measure(url, strings.TrimSpace(sc), *duration, *warmup)
		if err != nil {
			fmt.Fprintln(os.Stderr, "measurer:", err)
			os.Exit(1)
		}
		rows = append(rows, r)
		fmt.Fprintf(os.Stderr, "measurer: %s done\n", sc)
	}
	printTable(os.Stdout, rows)
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(rows, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "measurer:", err)
			os.Exit(1)
		}
	}
}

// runSim serves the simulator until stdin closes or a signal comes.
func runSim(addr string) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	_, a, err := sim.Listen(ctx, addr, sim.Config{TTFT: injectedTTFT, ITL: injectedITL, OutputTokens: outputTokens, Seed: 1})
	if err != nil {
		fmt.Fprintln(os.Stderr, "sim:", err)
		os.Exit(1)
	}
	fmt.Printf("ADDR %s\n", a)
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); stop() }()
	<-ctx.Done()
}

func startSimChild() (string, func(), error) {
	cmd := exec.Command(os.Args[0], "-serve-sim", "127.0.0.1:0")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { stdin.Close(); _ = cmd.Wait() }
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "ADDR ")
	if err != nil || !ok {
		_ = cmd.Process.Kill()
		stop()
		return "", nil, fmt.Errorf("simulator did not start: %q %v", line, err)
	}
	return "http://" + addr, stop, nil
}

var heapProfile string

type fixed struct{}

func (fixed) Next() probe.Request {
	return probe.Request{Prompt: "Tell me about lighthouses.", MaxTokens: outputTokens}
}

// row is one scenario's figures; errors are measured minus injected, ms.
type row struct {
	Scenario        string  `json:"scenario"`
	Requests        int64   `json:"requests"`
	Failed          int64   `json:"failed"`
	TTFTErrP50      float64 `json:"ttft_error_p50_ms"`
	TTFTErrP99      float64 `json:"ttft_error_p99_ms"`
	ITLErrP50       float64 `json:"itl_error_p50_ms"`
	ITLErrP99       float64 `json:"itl_error_p99_ms"`
	LagP50          float64 `json:"schedule_lag_p50_ms"`
	LagP99          float64 `json:"schedule_lag_p99_ms"`
	OpenLoop        bool    `json:"open_loop"`
	CPUPer1kTokens  float64 `json:"cpu_seconds_per_1000_output_tokens"`
	PeakInFlight    int64   `json:"peak_in_flight"`
	RSSPerStreamKiB float64 `json:"peak_rss_per_stream_kib"`
	PeakRSSMiB      float64 `json:"peak_rss_mib"`
	// Go heap and goroutine stacks in use per in-flight stream, in the
	// middle of the measured window (what the RSS is made of).
	HeapPerStreamKiB  float64 `json:"heap_inuse_per_stream_kib"`
	StackPerStreamKiB float64 `json:"stack_inuse_per_stream_kib"`
}

func measure(url, scenario string, duration, warmup time.Duration) (row, error) {
	kind, val, _ := strings.Cut(scenario, "=")
	n, err := strconv.ParseFloat(val, 64)
	if err != nil || n <= 0 {
		return row{}, fmt.Errorf("scenario %q: want streams=N or rate=R", scenario)
	}
	o := load.Options{Duration: duration, Warmup: warmup, MaxInFlight: 4096, StopErrorRatio: 1, LagThreshold: 5 * time.Millisecond,
		Target: "sim", Model: sim.DefaultModel, Drain: 30 * time.Second}
	switch kind {
	case "streams":
		o.Mode, o.VUs = load.ModeThroughput, int(n)
	case "rate":
		o.Mode, o.Rates = load.ModeRate, []float64{n}
	default:
		return row{}, fmt.Errorf("scenario %q: want streams=N or rate=R", scenario)
	}
	client := probe.NewClient(probe.Endpoint{Name: "sim", URL: url, Model: sim.DefaultModel, Stream: true, Timeout: time.Minute})
	defer client.CloseIdle()
	r, err := load.New(client, fixed{}, o, load.Hooks{})
	if err != nil {
		return row{}, err
	}

	runtime.GC()
	debug.FreeOSMemory()
	baseRSS := rssBytes()
	cpu0 := cpuSeconds()
	var peakRSS, peakInFlight int64
	var mu sync.Mutex
	done := make(chan struct{})
	sampled := make(chan struct{})
	// In the middle of the measured window, once: where the memory is
	// (ReadMemStats stops the world, so it is not sampled often).
	var mid runtime.MemStats
	var midInFlight int64
	midTimer := time.AfterFunc(warmup+duration/2, func() {
		midInFlight = r.Progress().InFlight
		runtime.ReadMemStats(&mid)
		if heapProfile != "" {
			if f, err := os.Create(heapProfile); err == nil {
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
	close(done)
	<-sampled
	cpu := cpuSeconds() - cpu0
	toks := r.Progress().OutputToks

	s := res.Summary
	out := row{
		Scenario:     scenario,
		Requests:     s.Requests,
		Failed:       s.Failed,
		TTFTErrP50:   s.TTFT.P50 - ms(injectedTTFT),
		TTFTErrP99:   s.TTFT.P99 - ms(injectedTTFT),
		ITLErrP50:    s.ITL.P50 - ms(injectedITL),
		ITLErrP99:    s.ITL.P99 - ms(injectedITL),
		OpenLoop:     kind == "rate",
		LagP50:       s.ScheduleLag.P50,
		LagP99:       s.ScheduleLag.P99,
		PeakInFlight: peakInFlight,
		PeakRSSMiB:   float64(peakRSS) / (1 << 20),
	}
	if toks > 0 {
		out.CPUPer1kTokens = cpu / float64(toks) * 1000
	}
	if peakInFlight > 0 {
		out.RSSPerStreamKiB = float64(peakRSS-baseRSS) / float64(peakInFlight) / 1024
	}
	if midInFlight > 0 {
		out.HeapPerStreamKiB = float64(mid.HeapInuse) / float64(midInFlight) / 1024
		out.StackPerStreamKiB = float64(mid.StackInuse) / float64(midInFlight) / 1024
	}
	return out, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

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
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\trequests\tfailed\tTTFT err p50\tTTFT err p99\tITL err p50\tITL err p99\tlag p50\tlag p99\tCPU s/1k tok\tpeak in flight\tRSS/stream KiB\theap/stream KiB\tstack/stream KiB\tpeak RSS MiB\t")
	for _, r := range rows {
		lag50, lag99 := "-", "-"
		if r.OpenLoop {
			lag50, lag99 = fmt.Sprintf("%.3f", r.LagP50), fmt.Sprintf("%.3f", r.LagP99)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.3f\t%.3f\t%.3f\t%.3f\t%s\t%s\t%.4f\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t\n",
			r.Scenario, r.Requests, r.Failed, r.TTFTErrP50, r.TTFTErrP99, r.ITLErrP50, r.ITLErrP99, lag50, lag99,
			r.CPUPer1kTokens, r.PeakInFlight, r.RSSPerStreamKiB, r.HeapPerStreamKiB, r.StackPerStreamKiB, r.PeakRSSMiB)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nerrors, lag: milliseconds (measured - injected). Targets (2 cores, sim and client on one machine):")
	fmt.Fprintln(w, "  1000 streams: TTFT err p50 <= 2 ms, ITL err p50 <= 1 ms; rate=200: lag p99 <= 5 ms; RSS/stream <= 64 KiB.")
}
