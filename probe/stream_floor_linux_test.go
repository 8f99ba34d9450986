//go:build linux

package probe

import (
	"net"
	"runtime"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The epoll floor: the same streams read with no Go netpoller and no
// goroutine wake-up per chunk: one thread waits in its own epoll set
// (level-triggered) for all the sockets and reads each ready one once,
// stamping the read, which is the least any client can do that reads every
// chunk when it arrives. What is left is the read system call itself.
func init() { epollFloor = newReactor }

type rstream struct {
	fd   int
	buf  []byte
	tail [7]byte
	last time.Time
	done chan struct{}
}

type reactor struct {
	ep      int
	streams []*rstream
	byfd    map[int]*rstream
}

func newReactor(b *testing.B, addr string, m int) func(i int) error {
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	ip := net.ParseIP(host).To4()
	ep, err := unix.EpollCreate1(0)
	if err != nil {
		b.Fatal(err)
	}
	r := &reactor{ep: ep, byfd: map[int]*rstream{}}
	for range m {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
		if err != nil {
			b.Fatal(err)
		}
		sa := &unix.SockaddrInet4{Port: p}
		copy(sa.Addr[:], ip)
		if err := unix.Connect(fd, sa); err != nil {
			b.Fatal(err)
		}
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		unix.SetNonblock(fd, true)
		s := &rstream{fd: fd, buf: make([]byte, 4096), done: make(chan struct{}, 1)}
		r.streams = append(r.streams, s)
		r.byfd[fd] = s
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
			b.Fatal(err)
		}
	}
	go r.loop()
	b.Cleanup(func() {
		for _, s := range r.streams {
			unix.Close(s.fd)
		}
		unix.Close(r.ep)
	})
	return r.do
}

func (r *reactor) do(i int) error {
	s := r.streams[i]
	if _, err := unix.Write(s.fd, []byte(rawRequest)); err != nil {
		return err
	}
	<-s.done
	return nil
}

func (r *reactor) loop() {
	runtime.LockOSThread()
	events := make([]unix.EpollEvent, 256)
	const end = "\r\n0\r\n\r\n"
	for {
		n, err := unix.EpollWait(r.ep, events, -1)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return
		}
		for _, ev := range events[:n] {
			s := r.byfd[int(ev.Fd)]
			k, err := unix.Read(s.fd, s.buf)
			if err != nil || k <= 0 {
				continue
			}
			s.last = time.Now()
			if k >= len(end) {
				copy(s.tail[:], s.buf[k-len(end):k])
			} else {
				copy(s.tail[:], s.tail[k:])
				copy(s.tail[len(end)-k:], s.buf[:k])
			}
			if string(s.tail[:]) == end {
				s.tail = [7]byte{}
				s.done <- struct{}{}
			}
		}
	}
}
