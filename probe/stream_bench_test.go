package probe

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/probe/floor"
)

// The cost of the client per streamed token, measured as the issue's
// targets are (≤ 3 µs of client CPU per token, ≤ 48 KiB per in-flight
// stream): M streams at once, each a request of N tokens paced at a real
// ITL, so that every chunk arrives in a read of its own as it does from a
// model server. The server runs in a child process (this test binary,
// re-executed), so the process's CPU time is the client's alone.
//
//	go test -run '^$' -bench BenchmarkStreams -benchtime 3x ./probe/
//
// client/ is llmprobe's client, floor/ the least a Go client can do,
// floor-epoll/ the least any client can do (Linux).

const (
	benchTokens = 64
	benchTTFT   = 20 * time.Millisecond
	benchITL    = 10 * time.Millisecond
	benchEnv    = "LLMPROBE_STREAM_BENCH_SERVER"
)

func BenchmarkStreams(b *testing.B) {
	url := benchServer(b)
	// The target the client is held to is its cost against the floor that
	// reads the same streams in the same run (README, "Measuring the
	// measurer"): a fixed number of µs is the machine's as much as ours.
	var client, floorCost float64
	defer func() {
		if client > 0 && floorCost > 0 {
			// Printed, not logged: a parent benchmark's log shows only under -v.
			fmt.Printf("client / floor-epoll at 1000 streams: %.0f / %.0f ns a token = %.2f (target <= 2)\n", client, floorCost, client/floorCost)
		}
	}()
	for _, m := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("client/streams=%d", m), func(b *testing.B) {
			c := NewClient(Endpoint{Name: "bench", URL: url, Model: "m", Stream: true, Timeout: time.Minute})
			defer c.CloseIdle()
			perToken := benchRounds(b, m, func(int) error {
				rec := c.Do(context.Background(), Request{Prompt: "hi", MaxTokens: benchTokens})
				if !rec.Success() || rec.OutputTokens != benchTokens || len(rec.Chunks) != benchTokens {
					return fmt.Errorf("%s %s, %d tokens in %d chunks", rec.Result, rec.Error, rec.OutputTokens, len(rec.Chunks))
				}
				return nil
			})
			if m == 1000 {
				client = perToken
			}
		})
	}
	// The floor: the same streams read by the least a Go client can do (a
	// request written by hand on a kept-alive connection, then reads, each
	// stamped, until the body's end), with no HTTP client, SSE or JSON.
	// What the client costs beyond it is llmprobe's; the floor itself is
	// the kernel's and the Go runtime's (a read, a wake-up per chunk).
	for _, m := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("floor/streams=%d", m), func(b *testing.B) {
			streams := make([]rawStream, m)
			defer func() {
				for _, r := range streams {
					if r.conn != nil {
						r.conn.Close()
					}
				}
			}()
			benchRounds(b, m, func(i int) error { return streams[i].do(strings.TrimPrefix(url, "http://")) })
		})
	}
	// floor-epoll: the same streams read by package floor's reader, one
	// epoll thread and one read per chunk, no netpoller: the least any
	// client can do, and what the target is a multiple of.
	for _, m := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("floor-epoll/streams=%d", m), func(b *testing.B) {
			ends := make([]chan struct{}, m)
			for i := range ends {
				ends[i] = make(chan struct{}, 1)
			}
			f, err := floor.New(strings.TrimPrefix(url, "http://"), m, []byte(rawRequest), func(i int) error {
				ends[i] <- struct{}{}
				return nil
			})
			if err != nil {
				b.Skip(err) // not Linux
			}
			defer f.Close()
			go func() {
				if err := f.Run(); err != nil {
					panic(err) // a benchmark's stream cannot fail on its own
				}
			}()
			defer f.Stop()
			perToken := benchRounds(b, m, func(i int) error {
				if err := f.Send(i); err != nil {
					return err
				}
				<-ends[i]
				return nil
			})
			if m == 1000 {
				floorCost = perToken
			}
		})
	}
}

// benchRounds runs b.N rounds of m concurrent streams (stream(i) runs the
// i-th), after one round of warm-up, reports the metrics and returns the
// CPU time per token.
func benchRounds(b *testing.B, m int, stream func(i int) error) float64 {
	round := func(mid func()) {
		var wg sync.WaitGroup
		errs := make(chan error, m)
		for i := range m {
			wg.Go(func() {
				if err := stream(i); err != nil {
					errs <- err
				}
			})
		}
		if mid != nil {
			mid()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			b.Fatal(e)
		}
	}
	// The baseline is taken before any connection is open: a stream's
	// memory is its connection's (buffers, the transport's goroutines)
	// as much as its request's.
	runtime.GC()
	var idle, warm, busy, after runtime.MemStats
	runtime.ReadMemStats(&idle)
	round(nil) // connections opened, buffers and pools warm
	runtime.ReadMemStats(&warm)
	sampled := false
	b.ResetTimer()
	cpu0 := processCPU()
	for range b.N {
		var mid func()
		if !sampled {
			// Half way through the stream every request is in flight:
			// what m streams hold.
			mid = func() {
				time.Sleep(benchTTFT + benchTokens/2*benchITL)
				runtime.ReadMemStats(&busy)
			}
			sampled = true
		}
		round(mid)
	}
	cpu := processCPU() - cpu0
	b.StopTimer()
	runtime.ReadMemStats(&after)
	toks := float64(b.N * m * benchTokens)
	perToken := float64(cpu.Nanoseconds()) / toks
	b.ReportMetric(perToken, "ns/token")
	live := func(ms *runtime.MemStats) float64 { return float64(ms.HeapInuse + ms.StackInuse) }
	b.ReportMetric((live(&busy)-live(&idle))/float64(m), "B/stream")
	b.ReportMetric(float64(busy.StackInuse-idle.StackInuse)/float64(m), "stackB/stream")
	// Per-request allocations count, spread over its tokens.
	b.ReportMetric(float64(after.Mallocs-warm.Mallocs)/toks, "allocs/token")
	return perToken
}

// rawStream is one stream of the floor benchmark.
type rawStream struct {
	conn net.Conn
	buf  []byte
	last time.Time
}

const rawBody = `{"model":"m","max_tokens":64,"stream":true}`

var rawRequest = "POST /v1/chat/completions HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: " +
	strconv.Itoa(len(rawBody)) + "\r\n\r\n" + rawBody

// do sends one request and reads its response to the chunked body's end.
func (r *rawStream) do(addr string) error {
	if r.conn == nil {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		r.conn, r.buf = c, make([]byte, 4096)
	}
	if _, err := io.WriteString(r.conn, rawRequest); err != nil {
		return err
	}
	const end = "\r\n0\r\n\r\n"
	var tail [len(end)]byte
	for {
		n, err := r.conn.Read(r.buf)
		if err != nil {
			return err
		}
		r.last = time.Now() // as the client stamps every read
		if n >= len(end) {
			copy(tail[:], r.buf[n-len(end):n])
		} else {
			copy(tail[:], tail[n:])
			copy(tail[len(end)-n:], r.buf[:n])
		}
		if string(tail[:]) == end {
			return nil
		}
	}
}

// processCPU is the user and system CPU time of this process, all threads.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchServer starts the child process that streams and returns its URL.
func benchServer(b *testing.B) string {
	cmd := exec.Command(os.Args[0], "-test.run=^TestStreamBenchServer$")
	cmd.Env = append(os.Environ(), benchEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "ADDR ")
	if err != nil || !ok {
		_ = cmd.Process.Kill()
		b.Fatalf("bench server did not start: %q %v", line, err)
	}
	return "http://" + addr
}

// TestStreamBenchServer is BenchmarkStreams' child process: a server that
// streams vLLM-shaped chunks (TTFT, then one token per ITL on absolute
// deadlines) until its stdin closes. Run alone, it does nothing.
func TestStreamBenchServer(t *testing.T) {
	if os.Getenv(benchEnv) == "" {
		t.Skip("the child process of BenchmarkStreams")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const head = `data: {"id":"chatcmpl-044289f2-cb9c-57eb-861a-9eefba77f332","model":"m","object":"chat.completion.chunk","created":1795767020,"usage":null,"choices":[{"index":0,"finish_reason":`
	role := []byte(head + `null,"delta":{"role":"assistant"}}]}` + "\n\n")
	var tok [10][]byte
	for i := range tok {
		tok[i] = []byte(head + `null,"delta":{"content":"tok` + strconv.Itoa(i) + ` "}}]}` + "\n\n")
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			MaxTokens int `json:"max_tokens"`
		}
		if json.NewDecoder(r.Body).Decode(&req) != nil || req.MaxTokens <= 0 {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		fl := w.(http.Flusher)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write(role)
		fl.Flush()
		deadline := time.Now().Add(benchTTFT)
		for i := range req.MaxTokens {
			time.Sleep(time.Until(deadline))
			if _, err := w.Write(tok[i%len(tok)]); err != nil {
				return
			}
			fl.Flush()
			deadline = deadline.Add(benchITL)
		}
		_, _ = io.WriteString(w, head+`"length","delta":{}}]}`+"\n\n"+
			`data: {"id":"x","object":"chat.completion.chunk","usage":{"prompt_tokens":3,"completion_tokens":`+
			strconv.Itoa(req.MaxTokens)+`,"total_tokens":`+strconv.Itoa(req.MaxTokens+3)+`},"choices":[]}`+"\n\ndata: [DONE]\n\n")
	})
	go func() { _ = http.Serve(ln, h) }()
	fmt.Printf("ADDR %s\n", ln.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
}
