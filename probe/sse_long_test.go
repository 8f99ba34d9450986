package probe

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestSSEReaderLongStreamOfSmallEvents protects long answers (output tokens,
// ITL of every chunk): the event size limit bounds one event, not the
// stream: a stream many times the limit, read a few bytes at a time, is read
// to its end.
func TestSSEReaderLongStreamOfSmallEvents(t *testing.T) {
	var b strings.Builder
	const n = 500 // about 15 KiB, beyond the 4 KiB buffer and the 256-byte limit
	for i := range n {
		fmt.Fprintf(&b, "data: {\"i\":%d,\"pad\":\"xxxx\"}\n\n", i)
	}
	s := NewSSEReader(iotest.HalfReader(strings.NewReader(b.String())), 256)
	for i := range n {
		ev, err := s.Next()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if want := fmt.Sprintf("{\"i\":%d,\"pad\":\"xxxx\"}", i); string(ev.Data) != want {
			t.Fatalf("event %d: %q, want %q", i, ev.Data, want)
		}
	}
	if _, err := s.Next(); err != io.EOF {
		t.Errorf("after the last event: %v, want EOF", err)
	}
}

// TestSSEReaderEventAtTheLimit protects the per-event limit (1 MiB in the
// client; a "protocol" failure past it): an event whose data is exactly the
// limit is read, one byte more is refused, also when the line has to grow
// the read buffer.
func TestSSEReaderEventAtTheLimit(t *testing.T) {
	const limit = 4100 // just over the 4 KiB the reader starts with
	for _, tc := range []struct {
		size int
		ok   bool
	}{{limit - 1, true}, {limit, true}, {limit + 1, false}} {
		data := strings.Repeat("d", tc.size)
		s := NewSSEReader(iotest.OneByteReader(strings.NewReader("data: "+data+"\n\n")), limit)
		ev, err := s.Next()
		if tc.ok && (err != nil || string(ev.Data) != data) {
			t.Errorf("%d bytes under a %d-byte limit: %d bytes, %v", tc.size, limit, len(ev.Data), err)
		}
		if !tc.ok && err != ErrEventTooLarge {
			t.Errorf("%d bytes over a %d-byte limit: %v, want ErrEventTooLarge", tc.size, limit, err)
		}
	}
}
