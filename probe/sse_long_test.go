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
