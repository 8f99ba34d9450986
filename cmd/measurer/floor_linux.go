//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/llmprobe/llmprobe/sim"
)

// floorClient reads n closed-loop streams from the simulator the cheapest
// way a client can that still stamps each chunk when it arrives: one
// thread, its own level-triggered epoll set over every socket (no Go
// netpoller, no goroutine woken per chunk), one read per ready socket, a
// clock read per read, and the next request written when a response's
// chunked body ends. Its CPU per token is the floor the client is held to:
// what the kernel's read of a chunk costs on this machine.
type floorClient struct {
	ep       int
	fds      []int
	request  []byte
	stop     atomic.Bool
	done     chan struct{}
	requests atomic.Int64 // responses read to their end
}

// floorStream is one socket's state, touched by the reactor thread only.
type floorStream struct {
	buf  [4096]byte
	tail [len(chunkedEnd)]byte
	last time.Time
}

const chunkedEnd = "\r\n0\r\n\r\n"

func newFloorClient(rawURL string, n int) (*floorClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return nil, err
	}
	p, _ := strconv.Atoi(port)
	ip := net.ParseIP(host).To4()
	if ip == nil {
		return nil, fmt.Errorf("floor: the simulator's address %s is not IPv4", u.Host)
	}
	body, _ := json.Marshal(map[string]any{
		"model": sim.DefaultModel, "stream": true, "max_tokens": outputTokens,
		"messages": []map[string]string{{"role": "user", "content": "Tell me about lighthouses."}},
	})
	req := fmt.Appendf(nil, "POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", u.Host, len(body), body)
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	f := &floorClient{ep: ep, request: req, done: make(chan struct{})}
	for i := range n {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			f.close()
			return nil, err
		}
		f.fds = append(f.fds, fd)
		sa := &unix.SockaddrInet4{Port: p}
		copy(sa.Addr[:], ip)
		if err := unix.Connect(fd, sa); err != nil {
			f.close()
			return nil, fmt.Errorf("floor: connection %d: %w", i, err)
		}
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		if err := unix.SetNonblock(fd, true); err != nil {
			f.close()
			return nil, err
		}
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(i)}); err != nil {
			f.close()
			return nil, err
		}
	}
	return f, nil
}

// send writes stream i's next request: a few hundred bytes into an empty
// socket buffer, which a non-blocking write takes whole.
func (f *floorClient) send(i int) error {
	n, err := unix.Write(f.fds[i], f.request)
	if err == nil && n != len(f.request) {
		err = fmt.Errorf("short write (%d of %d bytes)", n, len(f.request))
	}
	return err
}

// run is the reactor; it returns when stop is set (within 50 ms).
func (f *floorClient) run() error {
	defer close(f.done)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	streams := make([]floorStream, len(f.fds))
	events := make([]unix.EpollEvent, 256)
	for !f.stop.Load() {
		n, err := unix.EpollWait(f.ep, events, 50)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		for _, ev := range events[:n] {
			i := int(ev.Fd)
			s := &streams[i]
			k, err := unix.Read(f.fds[i], s.buf[:])
			if err == unix.EAGAIN {
				continue
			}
			if err != nil || k == 0 {
				return fmt.Errorf("floor: stream %d: read: %v (%d bytes)", i, err, k)
			}
			s.last = time.Now() // as the client stamps every read
			if k >= len(chunkedEnd) {
				copy(s.tail[:], s.buf[k-len(chunkedEnd):k])
			} else {
				copy(s.tail[:], s.tail[k:])
				copy(s.tail[len(chunkedEnd)-k:], s.buf[:k])
			}
			if string(s.tail[:]) == chunkedEnd {
				s.tail = [len(chunkedEnd)]byte{}
				f.requests.Add(1)
				if err := f.send(i); err != nil {
					return fmt.Errorf("floor: stream %d: %w", i, err)
				}
			}
		}
	}
	return nil
}

func (f *floorClient) close() {
	for _, fd := range f.fds {
		unix.Close(fd)
	}
	unix.Close(f.ep)
}

// measureFloor runs the floor client at n streams, their first requests
// spread over one request's length in the warmup, and measures both
// sides' CPU over the window after it.
func measureFloor(child *simChild, scenario string, n int, duration, warmup time.Duration) (row, error) {
	stagger := injectedTTFT + outputTokens*injectedITL
	if warmup < 2*stagger {
		return row{}, fmt.Errorf("scenario %q: the warmup must be at least %s, to spread the streams", scenario, 2*stagger)
	}
	f, err := newFloorClient(child.url, n)
	if err != nil {
		return row{}, fmt.Errorf("scenario %s: %w", scenario, err)
	}
	defer f.close()
	errc := make(chan error, 1)
	go func() { errc <- f.run() }()
	start := time.Now()
	for i := range n {
		time.Sleep(time.Until(start.Add(stagger * time.Duration(i) / time.Duration(n))))
		if err := f.send(i); err != nil {
			f.stop.Store(true)
			<-f.done
			return row{}, fmt.Errorf("scenario %s: stream %d: %w", scenario, i, err)
		}
	}
	time.Sleep(time.Until(start.Add(warmup)))
	// Every stream's trace is left out: the floor is measured for its CPU.
	if err := child.mark(1 << 30); err != nil {
		f.stop.Store(true)
		<-f.done
		return row{}, fmt.Errorf("scenario %s: %w", scenario, err)
	}
	markAt, cpu0, req0 := time.Now(), cpuSeconds(), f.requests.Load()
	var runErr error
	select {
	case runErr = <-errc:
	case <-time.After(duration):
	}
	cpu, reqs, window := cpuSeconds()-cpu0, f.requests.Load()-req0, time.Since(markAt).Seconds()
	f.stop.Store(true)
	<-f.done
	if runErr != nil {
		return row{}, fmt.Errorf("scenario %s: %w", scenario, runErr)
	}
	win, err := child.collect()
	if err != nil {
		return row{}, fmt.Errorf("scenario %s: %w", scenario, err)
	}
	// Timing and memory columns are not the floor's to fill: it keeps no
	// records, and its memory is its sockets'.
	out := row{Scenario: scenario, Floor: true, Requests: reqs, Tokens: win.Tokens, PeakInFlight: int64(n)}
	if win.Tokens > 0 {
		out.ClientCPUPerToken = cpu / float64(win.Tokens) * 1e6
		out.SimCPUPerToken = win.CPUSeconds / float64(win.Tokens) * 1e6
	}
	if window > 0 {
		out.ClientCores, out.SimCores = cpu/window, win.CPUSeconds/window
	}
	return out, nil
}
