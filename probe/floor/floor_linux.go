//go:build linux

// Package floor is the reference llmprobe's client cost is measured
// against: the least a client can do that reads every chunk of N streamed
// HTTP/1.1 responses when it arrives. One thread waits on its own
// level-triggered epoll set over every socket (no Go netpoller, no goroutine
// woken per chunk), reads each ready socket once, reads the clock once per
// read (as a client stamps a chunk), and looks at nothing but whether a
// chunked body has ended. Its CPU per token is what the kernel's read of a
// chunk costs on the machine (BenchmarkStreams' floor-epoll rows, the
// measurer's floor=N).
package floor

import (
	"fmt"
	"net"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Reader holds n connections to one server.
type Reader struct {
	ep      int
	fds     []int
	request []byte
	onEnd   func(i int) error
	streams []stream
	stop    atomic.Bool
	done    chan struct{}
}

// stream is one socket's state, touched by the reactor thread only.
type stream struct {
	buf  [4096]byte
	tail [len(chunkedEnd)]byte
	last time.Time
}

const chunkedEnd = "\r\n0\r\n\r\n"

// New opens n connections to addr (IPv4 host:port). request is the bytes of
// one whole request, sent by Send; onEnd is called on the reactor thread
// when stream i's response has ended (it may Send again).
func New(addr string, n int, request []byte, onEnd func(i int) error) (*Reader, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, fmt.Errorf("floor: port %q: %w", port, err)
	}
	ip := net.ParseIP(host).To4()
	if ip == nil {
		return nil, fmt.Errorf("floor: %s is not an IPv4 address", host)
	}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	r := &Reader{ep: ep, request: request, onEnd: onEnd, streams: make([]stream, n), done: make(chan struct{})}
	for i := range n {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			r.Close()
			return nil, err
		}
		r.fds = append(r.fds, fd)
		sa := &unix.SockaddrInet4{Port: p}
		copy(sa.Addr[:], ip)
		if err := unix.Connect(fd, sa); err != nil {
			r.Close()
			return nil, fmt.Errorf("floor: connection %d: %w", i, err)
		}
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		if err := unix.SetNonblock(fd, true); err != nil {
			r.Close()
			return nil, err
		}
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(i)}); err != nil {
			r.Close()
			return nil, err
		}
	}
	return r, nil
}

// Send writes stream i's request: a few hundred bytes into an empty socket
// buffer, which a non-blocking write takes whole.
func (r *Reader) Send(i int) error {
	n, err := unix.Write(r.fds[i], r.request)
	if err == nil && n != len(r.request) {
		err = fmt.Errorf("floor: stream %d: short write (%d of %d bytes)", i, n, len(r.request))
	}
	return err
}

// Run is the reactor, on a thread of its own; it returns onEnd's or a
// read's error, or nil within 50 ms of Stop.
func (r *Reader) Run() error {
	defer close(r.done)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	events := make([]unix.EpollEvent, 256)
	for !r.stop.Load() {
		n, err := unix.EpollWait(r.ep, events, 50)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		for _, ev := range events[:n] {
			i := int(ev.Fd)
			s := &r.streams[i]
			k, err := unix.Read(r.fds[i], s.buf[:])
			if err == unix.EAGAIN {
				continue
			}
			if err != nil || k == 0 {
				return fmt.Errorf("floor: stream %d: read: %v (%d bytes)", i, err, k)
			}
			s.last = time.Now()
			if k >= len(chunkedEnd) {
				copy(s.tail[:], s.buf[k-len(chunkedEnd):k])
			} else {
				copy(s.tail[:], s.tail[k:])
				copy(s.tail[len(chunkedEnd)-k:], s.buf[:k])
			}
			if string(s.tail[:]) == chunkedEnd {
				s.tail = [len(chunkedEnd)]byte{}
				if err := r.onEnd(i); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Stop ends Run and waits for it; Run must have been started.
func (r *Reader) Stop() {
	r.stop.Store(true)
	<-r.done
}

// Close closes the connections; after Stop, or when Run was never started.
func (r *Reader) Close() {
	for _, fd := range r.fds {
		unix.Close(fd)
	}
	unix.Close(r.ep)
}
