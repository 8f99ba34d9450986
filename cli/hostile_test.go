package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// faultConn is a raw TCP fault server: handle owns each connection; done
// is closed, and every connection closed, when the server closes.
type faultConn struct {
	ln    net.Listener
	done  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	once  sync.Once
}

func startFaultConn(handle func(c net.Conn, done <-chan struct{})) (*faultConn, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &faultConn{ln: ln, done: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = struct{}{}
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer func() {
					c.Close()
					s.mu.Lock()
					delete(s.conns, c)
					s.mu.Unlock()
				}()
				handle(c, s.done)
			}()
		}
	}()
	return s, nil
}

func (s *faultConn) Close() {
	s.once.Do(func() {
		close(s.done)
		s.ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
	})
	s.wg.Wait()
}

// skipRequest reads a request's head and body (bounded in time).
func skipRequest(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	var got []byte
	buf := make([]byte, 16<<10)
	for {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			return
		}
		head, body, ok := strings.Cut(string(got), "\r\n\r\n")
		if !ok {
			continue
		}
		length := 0
		for _, l := range strings.Split(head, "\r\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, "Content-Length") {
				fmt.Sscan(strings.TrimSpace(v), &length)
			}
		}
		if len(body) >= length {
			return
		}
	}
}

// sseWrite writes events as a 200 event stream, flushing each.
func sseWrite(w http.ResponseWriter, events ...string) {
	w.Header().Set("Content-Type", "text/event-stream")
	rc := http.NewResponseController(w)
	for _, ev := range events {
		if _, err := io.WriteString(w, ev); err != nil {
			return
		}
		_ = rc.Flush()
	}
}

const (
	faultRole    = `data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}` + "\n\n"
	faultContent = `data: {"choices":[{"index":0,"delta":{"content":"a"}}]}` + "\n\n"
	faultFinish  = `data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\n"
	faultDone    = "data: [DONE]\n\n"
)

// faultTarget is one hostile endpoint: what the daemon's target says of it
// and the class every request to it must end in.
type faultTarget struct {
	name   string
	url    string
	extra  string // target fields
	result string
}

// faultLab starts the hostile servers and closes them all.
type faultLab struct {
	t       *testing.T
	targets []faultTarget
	closers []func()
}

func (l *faultLab) add(name, url, extra, result string) {
	l.targets = append(l.targets, faultTarget{name: name, url: url, extra: extra, result: result})
}

func (l *faultLab) http(tlsOn bool, h http.HandlerFunc) string {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // then a stalled handler's context ends with the client
		h(w, r)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if tlsOn {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	l.closers = append(l.closers, func() { srv.CloseClientConnections(); srv.Close() })
	return srv.URL
}

func (l *faultLab) raw(scheme string, h func(c net.Conn, done <-chan struct{})) string {
	s, err := startFaultConn(h)
	if err != nil {
		l.t.Fatal(err)
	}
	l.closers = append(l.closers, s.Close)
	return scheme + "://" + s.ln.Addr().String()
}

func (l *faultLab) close() {
	for _, c := range l.closers {
		c()
	}
	l.closers = nil
}

// stopDaemon sends SIGTERM and returns the exit code; the test's cleanup
// finds the code again and is satisfied.
func stopDaemon(t *testing.T, d *daemonUnderTest, within time.Duration) int {
	t.Helper()
	d.sigs <- syscall.SIGTERM
	select {
	case code := <-d.done:
		d.done <- code
		return code
	case <-time.After(within):
		t.Fatalf("daemon did not stop within %v of SIGTERM", within)
		return -1
	}
}

// settle waits for the goroutine count to come back to at most base+slack
// and reports the heap in use against heapBase, both after garbage
// collection.
func settle(t *testing.T, what string, base, slack int, heapBase uint64, heapSlack uint64) {
	t.Helper()
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	// Exiting goroutines take a moment; give them up to 2 s to come back
	// to the baseline exactly, then up to 8 s more to come within slack.
	exact := time.Now().Add(2 * time.Second)
	deadline := time.Now().Add(10 * time.Second)
	n := runtime.NumGoroutine()
	for n > base && (time.Now().Before(exact) || n > base+slack) {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%s: %d goroutines, %d before:\n%s", what, n, base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(50 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("%s: goroutines %d (baseline %d), heap in use %d KiB (baseline %d KiB)", what, n, base, ms.HeapAlloc>>10, heapBase>>10)
	if ms.HeapAlloc > heapBase+heapSlack {
		t.Errorf("%s: heap in use %d KiB, baseline %d KiB: more than %d KiB above", what, ms.HeapAlloc>>10, heapBase>>10, heapSlack>>10)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestHostileEndpoints points one daemon at every kind of broken or
// hostile endpoint at once, probing each every second for a few seconds.
// Every target must end in its failure class (never success), the daemon
// must keep answering, and once it and the servers are gone the
// goroutines and the heap must be back near where they started.
// probe/hostile_test.go checks the same faults request by request.
func TestHostileEndpoints(t *testing.T) {
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	baseG := runtime.NumGoroutine()
	baseHeap := heapInUse()

	lab := &faultLab{t: t}
	defer lab.close()
	var otherHits, shedHits atomic.Int32
	other := lab.http(false, func(w http.ResponseWriter, r *http.Request) {
		otherHits.Add(1)
		sseWrite(w, faultContent, faultFinish, faultDone)
	})
	refuse429 := func(hits *atomic.Int32) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/metrics" { // soaks read the server's page once per run too
				hits.Add(1)
			}
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}
	var probe429Hits atomic.Int32

	lab.add("refused", "http://"+freeAddr(t), "", "connection")
	lab.add("tls-plain-http", lab.raw("https", func(c net.Conn, _ <-chan struct{}) {
		_, _ = io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	}), "", "connection")
	lab.add("tls-garbage", lab.raw("https", func(c net.Conn, _ <-chan struct{}) {
		_, _ = c.Write(append([]byte{0x16, 3, 3, 0xff, 0xff}, []byte(strings.Repeat("\x8e\x01garbage", 256))...))
	}), "", "connection")
	lab.add("tls-untrusted", lab.http(true, func(w http.ResponseWriter, r *http.Request) {
		sseWrite(w, faultRole, faultContent, faultFinish, faultDone)
	}), "", "connection")
	lab.add("slowloris", lab.raw("http", func(c net.Conn, done <-chan struct{}) {
		skipRequest(c)
		head := "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			b := byte('x')
			if i < len(head) {
				b = head[i]
			}
			if _, err := c.Write([]byte{b}); err != nil {
				return
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}), "timeout: 2s, idle_timeout: 500ms", "timeout")
	lab.add("stall-idle", lab.http(false, func(w http.ResponseWriter, r *http.Request) {
		sseWrite(w, faultRole, faultContent)
		<-r.Context().Done()
	}), "timeout: 10s, idle_timeout: 300ms", "timeout")
	lab.add("stall-keepalive", lab.http(false, func(w http.ResponseWriter, r *http.Request) {
		sseWrite(w, faultRole, faultContent)
		for {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(50 * time.Millisecond):
				sseWrite(w, ": ping\n\n")
			}
		}
	}), "timeout: 1s, idle_timeout: 300ms", "timeout")
	lab.add("cut-mid-chunk", lab.raw("http", func(c net.Conn, _ <-chan struct{}) {
		skipRequest(c)
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"+
			fmt.Sprintf("%x\r\n%s\r\n", len(faultContent), faultContent)+"1a0\r\n"+faultContent[:20])
	}), "", "connection")
	lab.add("html-200", lab.http(false, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, "<html><body>Please sign in</body></html>")
	}), "", "protocol")
	lab.add("endless-body", lab.http(false, func(w http.ResponseWriter, r *http.Request) {
		sseWrite(w, faultRole)
		b := []byte(strings.Repeat(faultContent, 256))
		for {
			if _, err := w.Write(b); err != nil {
				return
			}
		}
	}), "max_response_bytes: 1048576", "protocol")
	lab.add("invalid-utf8", lab.http(false, func(w http.ResponseWriter, r *http.Request) {
		sseWrite(w, faultRole, faultContent, "data: {\"choices\":[{\"delta\":{\"content\":\"\xff\xfe\"}}]}\n\n", faultFinish, faultDone)
	}), "", "protocol")
	lab.add("invalid-json", lab.http(false, func(w http.ResponseWriter, r *http.Request) {
		sseWrite(w, faultRole, faultContent, "data: {\"choices\":[{\"delta\":{\"content\":NaN\n\n", faultFinish, faultDone)
	}), "", "protocol")
	lab.add("reset", lab.raw("http", func(c net.Conn, _ <-chan struct{}) {
		skipRequest(c)
		_ = c.(*net.TCPConn).SetLinger(0)
	}), "", "connection")
	lab.add("rate-limited", lab.http(false, refuse429(&probe429Hits)), "", "http_429")
	lab.add("redirect", lab.http(false, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other+r.URL.Path, http.StatusFound)
	}), "", "protocol")
	shed := lab.http(false, refuse429(&shedHits))

	var cfg strings.Builder
	fmt.Fprintf(&cfg, "global: {probe_jitter: 0s, data_dir: %q}\ntargets:\n", t.TempDir())
	var names []string
	for _, ft := range lab.targets {
		fmt.Fprintf(&cfg, "  - {name: %s, url: %q, model: m, api_key_env: LLMPROBE_HOSTILE_KEY", ft.name, ft.url)
		if ft.extra != "" {
			fmt.Fprintf(&cfg, ", %s", ft.extra)
		}
		cfg.WriteString("}\n")
		names = append(names, ft.name)
	}
	fmt.Fprintf(&cfg, "  - {name: shed, url: %q, model: m}\n", shed)
	fmt.Fprintf(&cfg, `workloads: [{name: w, prompt: hello, output_tokens: {num_tokens: 4}}]
probes:
  - {name: p, targets: [%s], workload: w, schedule: "@every 1s"}
soaks:
  - {name: s, targets: [shed], workload: w, mode: rate, rates: [20], duration: 2s}
`, strings.Join(names, ", "))
	const key = "sk-hostile-canary-31f5"
	t.Setenv("LLMPROBE_HOSTILE_KEY", key)

	started := time.Now()
	d := startDaemon(t, cfg.String(), "--web.enable-unauthenticated-writes", "--shutdown.grace=2s")
	if code, body := post(t, "http://"+d.addr+"/api/v1/soaks/s/run"); code != http.StatusAccepted {
		t.Fatalf("starting the soak: %d %s", code, body)
	}

	series := func(target, result string) string {
		return fmt.Sprintf(`llmprobe_requests_total{model="m",name="p",phase="probe",result=%q,target=%q}`, result, target)
	}
	waitFor(t, 30*time.Second, "every target's failure class", func() bool {
		page := d.get(t, "/metrics")
		for _, ft := range lab.targets {
			if metric(page, series(ft.name, ft.result)) < 1 {
				return false
			}
		}
		return true
	})
	waitFor(t, 30*time.Second, "the soak's run", func() bool {
		var runs struct {
			Runs []json.RawMessage `json:"runs"`
		}
		return json.Unmarshal([]byte(d.get(t, "/api/v1/runs?name=s")), &runs) == nil && len(runs.Runs) == 1
	})
	if wait := 4*time.Second - time.Since(started); wait > 0 {
		time.Sleep(wait) // a few rounds of probes on every target
	}

	page := d.get(t, "/metrics")
	for _, ft := range lab.targets {
		got := map[string]float64{}
		for _, r := range []string{"success", "http_4xx", "http_429", "http_5xx", "timeout", "connection", "protocol", "canceled"} {
			if v := metric(page, series(ft.name, r)); v > 0 {
				got[r] = v
			}
		}
		t.Logf("%-16s %v", ft.name, got)
		if len(got) != 1 || got[ft.result] < 1 {
			t.Errorf("%s: requests by result %v, want only %s", ft.name, got, ft.result)
		}
		if v := metric(page, fmt.Sprintf(`llmprobe_probe_success{name="p",target=%q}`, ft.name)); v != 0 {
			t.Errorf("%s: llmprobe_probe_success %v, want 0", ft.name, v)
		}
	}
	// 429 with Retry-After: a probe retries once and says so; a soak never.
	probeRetries := metric(page, `llmprobe_retries_total{model="m",name="p",phase="probe",target="rate-limited"}`)
	probe429 := metric(page, series("rate-limited", "http_429"))
	if probeRetries < 1 || probe429 < 2*probeRetries {
		t.Errorf("rate-limited: %v retries for %v refusals, want at least one retry, each refusal counted", probeRetries, probe429)
	}
	var soak429 float64
	for _, r := range []string{"success", "http_4xx", "http_429", "http_5xx", "timeout", "connection", "protocol", "canceled"} {
		if v := metric(page, fmt.Sprintf(`llmprobe_requests_total{model="m",name="s",phase="soak",result=%q,target="shed"}`, r)); v > 0 {
			soak429 += v
		}
	}
	if v := metric(page, `llmprobe_retries_total{model="m",name="s",phase="soak",target="shed"}`); v > 0 {
		t.Errorf("the soak retried %v times", v)
	}
	if n := shedHits.Load(); soak429 < 1 || float64(n) != soak429 {
		t.Errorf("soak: the server saw %d requests, the daemon counted %v: a soak must not retry", n, soak429)
	}
	if n := otherHits.Load(); n != 0 {
		t.Errorf("a redirect was followed: the other host saw %d requests", n)
	}
	// The daemon is alive and its pages answer.
	for _, path := range []string{"/-/healthy", "/-/ready", "/", "/api/v1/status"} {
		resp, err := http.Get("http://" + d.addr + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", path, resp.StatusCode)
		}
		if strings.Contains(string(b), key) {
			t.Errorf("GET %s shows the API key", path)
		}
	}
	if strings.Contains(d.logs.String(), key) || strings.Contains(page, key) {
		t.Error("the API key leaked into the logs or /metrics")
	}

	if code := stopDaemon(t, d, 15*time.Second); code != 0 {
		t.Errorf("daemon exited %d", code)
	}
	lab.close()
	settle(t, "after the daemon and the hostile servers", baseG, 2, baseHeap, 8<<20)
}
