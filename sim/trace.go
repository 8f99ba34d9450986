package sim

import "time"

// SendTrace is what the server did for one streamed generation request:
// when it arrived and, for every output chunk, when the chunk was due and
// when it was written. Times are wall-clock Unix nanoseconds, so that a
// client in another process on the same machine can set its own arrival
// times against them (cmd/measurer does: the client's timing error is its
// arrival stamp minus the send time, not minus what was configured).
type SendTrace struct {
	Remote  string // the client's address (http.Request.RemoteAddr)
	Arrival int64
	Due     []int64 // per output chunk: its deadline
	Sent    []int64 // per output chunk: just before its write
}

// TraceSends makes the server call f with the trace of every streamed
// generation request it answered in full, on the request's goroutine, after
// the last byte was written. f must be quick and safe for concurrent use;
// the trace is valid only during the call. Call it before the server gets
// requests; nil turns tracing off.
func (s *Server) TraceSends(f func(*SendTrace)) { s.traceSends = f }

// tracing reports whether sends are traced, resetting tr for a request
// when they are.
func (s *Server) tracing(tr *SendTrace, remote string, arrival time.Time) bool {
	if s.traceSends == nil {
		return false
	}
	tr.Remote, tr.Arrival = remote, arrival.UnixNano()
	tr.Due, tr.Sent = tr.Due[:0], tr.Sent[:0]
	return true
}
