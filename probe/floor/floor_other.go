//go:build !linux

package floor

import "errors"

// Reader is the floor reader; only Linux has it (epoll).
type Reader struct{}

// New says the floor needs Linux.
func New(string, int, []byte, func(int) error) (*Reader, error) {
	return nil, errors.New("floor: needs Linux's epoll")
}

func (*Reader) Send(int) error { return errors.New("floor: needs Linux's epoll") }
func (*Reader) Run() error     { return errors.New("floor: needs Linux's epoll") }
func (*Reader) Stop()          {}
func (*Reader) Close()         {}
