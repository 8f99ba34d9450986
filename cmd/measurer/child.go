package main

import (
	"bufio"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/llmprobe/llmprobe/sim"
)

// The simulator runs in a child process (this binary, re-executed with
// -serve-sim), so that each side's CPU time is its own and each can be
// pinned to a core of its own. Besides the simulator's API, the child
// answers two requests of the parent's on the same port:
//
//	POST /measurer/mark?every=K   start of a measured window: CPU and token
//	                              counts from now, traces of the
//	                              connections sampled by K (sampled) kept
//	GET  /measurer/collect        the window's figures and traces (gob)

// window is what the child measured between a mark and a collect.
type window struct {
	CPUSeconds float64
	Tokens     int64 // output tokens the simulator sent
	Requests   int64 // generation requests it completed
	Traces     []sendTrace
}

// sendTrace is a sim.SendTrace the child kept: the client's port and the
// times, wall-clock Unix nanoseconds.
type sendTrace struct {
	Port      int
	Arrival   int64
	Due, Sent []int64
}

// sampled says whether the connection from a client port is one whose
// requests are compared: both processes apply it, so each keeps only the
// same few hundred connections' times. The port is hashed because the
// kernel hands out ephemeral ports with a parity.
func sampled(port, every int) bool {
	return every <= 1 || (uint32(port)*2654435761>>16)%uint32(every) == 0
}

type childState struct {
	s       *sim.Server
	profile string // CPU profile of each window, when set

	mu      sync.Mutex
	every   int
	open    bool
	cpu0    float64
	stats0  sim.Stats
	traces  []sendTrace
	profOut *os.File
}

func (c *childState) trace(tr *sim.SendTrace) {
	i := strings.LastIndexByte(tr.Remote, ':')
	port, err := strconv.Atoi(tr.Remote[i+1:])
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.open || !sampled(port, c.every) {
		return
	}
	c.traces = append(c.traces, sendTrace{Port: port, Arrival: tr.Arrival,
		Due: append([]int64(nil), tr.Due...), Sent: append([]int64(nil), tr.Sent...)})
}

func (c *childState) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/measurer/mark":
		every, _ := strconv.Atoi(r.URL.Query().Get("every"))
		c.mu.Lock()
		c.every, c.open, c.traces = max(every, 1), true, nil
		c.cpu0, c.stats0 = cpuSeconds(), c.s.Stats()
		if c.profile != "" && c.profOut == nil {
			if f, err := os.Create(c.profile); err == nil && pprof.StartCPUProfile(f) == nil {
				c.profOut = f
			}
		}
		c.mu.Unlock()
	case "/measurer/collect":
		c.mu.Lock()
		st := c.s.Stats()
		win := window{CPUSeconds: cpuSeconds() - c.cpu0, Tokens: st.OutputTokens - c.stats0.OutputTokens,
			Requests: st.Completed - c.stats0.Completed, Traces: c.traces}
		c.open, c.traces = false, nil
		if c.profOut != nil {
			pprof.StopCPUProfile()
			c.profOut.Close()
			c.profOut = nil
		}
		c.mu.Unlock()
		_ = gob.NewEncoder(w).Encode(&win)
	default:
		c.s.ServeHTTP(w, r)
	}
}

// runSim serves the simulator on addr until stdin closes or a signal
// comes, pinned to cpu when it is not negative.
func runSim(addr string, cpu int, realtime bool, profile string) error {
	if cpu >= 0 {
		if err := pinProcess(cpu, realtime); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c := &childState{s: sim.New(simConfig()), profile: profile}
	c.s.TraceSends(c.trace)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: c, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() { _ = hs.Serve(ln) }()
	fmt.Printf("ADDR %s\n", ln.Addr())
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); stop() }()
	<-ctx.Done()
	c.s.Close()
	_ = hs.Close()
	return nil
}

func simConfig() sim.Config {
	return sim.Config{TTFT: injectedTTFT, ITL: injectedITL, OutputTokens: outputTokens, Seed: 1}
}

// simChild is the running child process.
type simChild struct {
	url  string
	cmd  *exec.Cmd
	in   io.Closer
	http *http.Client
}

func startSimChild(cpu int, realtime bool, profile string) (*simChild, error) {
	cmd := exec.Command(os.Args[0], "-serve-sim", "127.0.0.1:0", "-sim-cpu", strconv.Itoa(cpu),
		"-realtime="+strconv.FormatBool(realtime), "-sim-cpuprofile", profile)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "ADDR ")
	if err != nil || !ok {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("simulator did not start: %q %v", line, err)
	}
	return &simChild{url: "http://" + addr, cmd: cmd, in: stdin, http: &http.Client{Timeout: time.Minute}}, nil
}

func (c *simChild) stop() {
	c.in.Close()
	_ = c.cmd.Wait()
}

func (c *simChild) mark(every int) error {
	resp, err := c.http.Post(c.url+"/measurer/mark?every="+strconv.Itoa(every), "text/plain", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("mark: HTTP %d", resp.StatusCode)
	}
	return nil
}

func (c *simChild) collect() (*window, error) {
	resp, err := c.http.Get(c.url + "/measurer/collect")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("collect: HTTP %d", resp.StatusCode)
	}
	var w window
	if err := gob.NewDecoder(resp.Body).Decode(&w); err != nil {
		return nil, errors.Join(errors.New("collect"), err)
	}
	return &w, nil
}
