package probe

import (
	"bytes"
	"errors"
	"io"
	"time"
)

// Errors the SSE reader returns besides the underlying reader's.
var (
	// ErrEventTooLarge means one event's data grew past the reader's limit.
	ErrEventTooLarge = errors.New("sse: event larger than limit")
	// ErrTruncated means the body ended in the middle of a line.
	ErrTruncated = errors.New("sse: body ended mid-line")
)

// Event is one server-sent event. Data is only valid until the next call to
// Next. At is when the read that completed the event returned, so the stamp
// is the arrival of the bytes, not the time the caller got round to parsing
// them (several events that arrive in one read share a stamp, as they did
// share a packet).
type Event struct {
	Data []byte
	At   time.Time
}

// SSEReader reads server-sent events (the text/event-stream format) with a
// single reusable buffer: after warm-up it does not allocate per event. It
// accepts LF, CRLF and lone CR line ends, comment lines (": ping"), multi-line
// data (joined with "\n", as the spec says), and fields other than data,
// which it ignores.
type SSEReader struct {
	rd      io.Reader
	buf     []byte // raw bytes read; buf[r:w] is unconsumed
	r, w    int
	scanned int    // buf[r:r+scanned] holds no line end: not scanned again
	data    []byte // data of the event being assembled
	hasData bool   // a data field was seen (data may still be empty)
	skipLF  bool   // the last line ended with CR: a following LF belongs to it
	max     int
	lastAt  time.Time
	err     error
	now     func() time.Time
}

// sseBufSize is the reader's buffer to begin with: a streamed chunk is a
// few hundred bytes, and the buffer grows for a larger event.
const sseBufSize = 1024

// NewSSEReader returns a reader of events from rd whose data may not exceed
// maxEvent bytes (a hostile server cannot make us buffer without bound).
func NewSSEReader(rd io.Reader, maxEvent int) *SSEReader {
	return &SSEReader{rd: rd, buf: make([]byte, sseBufSize), max: maxEvent, now: time.Now}
}

// reset makes s read a new body, keeping its buffers unless an earlier
// event grew them large.
func (s *SSEReader) reset(rd io.Reader, maxEvent int, now func() time.Time) {
	buf, data := s.buf, s.data[:0]
	if len(buf) < sseBufSize || len(buf) > 16*sseBufSize {
		buf = make([]byte, sseBufSize)
	}
	if cap(data) > 16*sseBufSize {
		data = nil
	}
	*s = SSEReader{rd: rd, buf: buf, data: data, max: maxEvent, now: now}
}

// Next returns the next event that carries a data field. At the end of the
// body it returns io.EOF; an event whose data lines were complete but which
// lacked the closing blank line is still delivered first, since some servers
// end the body right after the last data line.
func (s *SSEReader) Next() (Event, error) {
	for {
		line, ok, err := s.line()
		if err != nil {
			if err == io.EOF && s.hasData {
				s.hasData = false
				return Event{Data: s.data, At: s.lastAt}, nil
			}
			return Event{}, err
		}
		if !ok {
			continue
		}
		if len(line) == 0 { // blank line: dispatch
			if !s.hasData {
				continue
			}
			s.hasData = false
			return Event{Data: s.data, At: s.lastAt}, nil
		}
		if line[0] == ':' { // comment / keep-alive
			continue
		}
		name, value := line, []byte(nil)
		for i, c := range line {
			if c == ':' {
				name, value = line[:i], line[i+1:]
				if len(value) > 0 && value[0] == ' ' {
					value = value[1:]
				}
				break
			}
		}
		if string(name) != "data" {
			continue // event, id, retry: not used by OpenAI-compatible servers
		}
		if !s.hasData {
			s.data = s.data[:0]
			s.hasData = true
		} else {
			s.data = append(s.data, '\n')
		}
		if len(s.data)+len(value) > s.max {
			return Event{}, ErrEventTooLarge
		}
		s.data = append(s.data, value...)
	}
}

// line returns the next complete line without its terminator. ok is false
// when the call only consumed a stray LF of a CRLF split across reads.
func (s *SSEReader) line() (line []byte, ok bool, err error) {
	for {
		if s.skipLF && s.r < s.w {
			s.skipLF = false
			if s.buf[s.r] == '\n' {
				s.r++
				return nil, false, nil
			}
		}
		// A line that arrives in many reads is scanned once, not once per
		// read: a server trickling a large event must not cost quadratic time.
		// IndexByte is vectorized: a chunk's line is hundreds of bytes,
		// and a CR (which servers rarely send) is looked for only before
		// the LF.
		from := s.r + s.scanned
		i := bytes.IndexByte(s.buf[from:s.w], '\n')
		if i < 0 {
			i = s.w - from
		}
		if j := bytes.IndexByte(s.buf[from:from+i], '\r'); j >= 0 {
			i = j
		}
		if i < s.w-from {
			i += from
			c := s.buf[i]
			line = s.buf[s.r:i]
			s.r = i + 1
			s.scanned = 0
			if c == '\r' {
				s.skipLF = true
			}
			return line, true, nil
		}
		s.scanned = s.w - s.r
		if err := s.fill(); err != nil {
			if err == io.EOF && s.r < s.w {
				return nil, false, ErrTruncated
			}
			return nil, false, err
		}
	}
}

// fill reads more bytes, compacting or growing the buffer as needed.
func (s *SSEReader) fill() error {
	if s.err != nil {
		return s.err
	}
	if s.r > 0 {
		s.w = copy(s.buf, s.buf[s.r:s.w])
		s.r = 0
	}
	if s.w == len(s.buf) {
		// One line fills the buffer: grow, but never past the event limit
		// plus room for the field name.
		if len(s.buf) >= s.max+64 {
			return ErrEventTooLarge
		}
		n := min(2*len(s.buf), s.max+64)
		nb := make([]byte, n)
		copy(nb, s.buf[:s.w])
		s.buf = nb
	}
	for range 100 { // io.Reader may return 0, nil; don't spin forever
		n, err := s.rd.Read(s.buf[s.w:])
		if n > 0 {
			s.lastAt = s.now()
			s.w += n
			if err != nil {
				s.err = err
			}
			return nil
		}
		if err != nil {
			s.err = err
			return err
		}
	}
	s.err = io.ErrNoProgress
	return s.err
}
