package probe

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// readEvents reads every event from s until an error and returns the events'
// data and the error (nil for a clean io.EOF).
func readEvents(s *SSEReader) ([]string, error) {
	var got []string
	for {
		ev, err := s.Next()
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		got = append(got, string(ev.Data))
	}
}

// byteReader returns one byte per Read, and io.EOF only on the Read after
// the last byte, as a slow network would.
type byteReader struct{ b []byte }

func (r *byteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = r.b[0]
	r.b = r.b[1:]
	return 1, nil
}

// splitReader returns its data in pieces of random length, seeded.
type splitReader struct {
	b   []byte
	rng *rand.Rand
}

func (r *splitReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := min(1+r.rng.IntN(16), len(p), len(r.b))
	copy(p, r.b[:n])
	r.b = r.b[n:]
	return n, nil
}

// partsReader returns exactly one of its parts per Read.
type partsReader struct{ parts []string }

func (r *partsReader) Read(p []byte) (int, error) {
	if len(r.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.parts[0])
	r.parts[0] = r.parts[0][n:]
	if r.parts[0] == "" {
		r.parts = r.parts[1:]
	}
	return n, nil
}

// readers are the ways the same bytes can reach the SSE reader: in one read,
// one byte at a time (two ways), half reads, data returned together with
// io.EOF, and random split points.
func readers(input string) map[string]func() io.Reader {
	m := map[string]func() io.Reader{
		"whole":          func() io.Reader { return strings.NewReader(input) },
		"byte":           func() io.Reader { return &byteReader{[]byte(input)} },
		"OneByteReader":  func() io.Reader { return iotest.OneByteReader(strings.NewReader(input)) },
		"HalfReader":     func() io.Reader { return iotest.HalfReader(strings.NewReader(input)) },
		"DataErrReader":  func() io.Reader { return iotest.DataErrReader(strings.NewReader(input)) },
		"OneByteDataErr": func() io.Reader { return iotest.DataErrReader(iotest.OneByteReader(strings.NewReader(input))) },
	}
	for seed := range uint64(8) {
		m[fmt.Sprintf("split%d", seed)] = func() io.Reader {
			return &splitReader{[]byte(input), rand.New(rand.NewPCG(seed, 42))}
		}
	}
	return m
}

func TestSSEReader(t *testing.T) {
	big := strings.Repeat("x", 100)
	tests := []struct {
		name    string
		input   string
		max     int // 0: 1 MiB
		want    []string
		wantErr error
	}{
		{name: "empty body", input: "", want: nil},
		{name: "LF", input: "data: a\n\ndata: b\n\n", want: []string{"a", "b"}},
		{name: "CRLF", input: "data: a\r\n\r\ndata: b\r\n\r\n", want: []string{"a", "b"}},
		{name: "lone CR", input: "data: a\r\rdata: b\r\r", want: []string{"a", "b"}},
		{name: "mixed line ends", input: "data: a\r\n\ndata: b\r\rdata: c\n\r\n", want: []string{"a", "b", "c"}},
		{name: "CR then CR is a blank line", input: "data: a\r\r\ndata: b\n\n", want: []string{"a", "b"}},
		{name: "extra blank lines", input: "\n\n\r\ndata: a\n\n\n\n\ndata: b\n\n\n", want: []string{"a", "b"}},
		{name: "comment keep-alive", input: ": ping\n\ndata: a\n\n: keep-alive\n\n:\n\n", want: []string{"a"}},
		{name: "comment between data lines", input: "data: a\n: ping\ndata: b\n\n", want: []string{"a\nb"}},
		{name: "multi-line data joined with LF", input: "data: a\ndata: b\r\ndata: c\n\n", want: []string{"a\nb\nc"}},
		{name: "empty data lines kept", input: "data:\ndata:\n\n", want: []string{"\n"}},
		{name: "data without space", input: "data:a\n\n", want: []string{"a"}},
		{name: "only one space removed", input: "data:  a \n\n", want: []string{" a "}},
		{name: "data with no value", input: "data:\n\n", want: []string{""}},
		{name: "data without colon", input: "data\n\n", want: []string{""}},
		{name: "colons in value", input: "data: {\"a\":\"b: c\"}\n\n", want: []string{`{"a":"b: c"}`}},
		{name: "other fields ignored", input: "event: message\nid: 7\nretry: 1000\ndata: a\nfoo: bar\n\n", want: []string{"a"}},
		{name: "event without data not dispatched", input: "event: ping\nid: 1\n\ndata: a\n\n", want: []string{"a"}},
		{name: "field names are case-sensitive", input: "Data: no\nDATA: no\n\ndata: a\n\n", want: []string{"a"}},
		{name: "field name datax is not data", input: "datax: no\n\n", want: nil},
		{name: "DONE", input: "data: {}\n\ndata: [DONE]\n\n", want: []string{"{}", "[DONE]"}},
		{
			name:  "role-only first chunk",
			input: `data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}` + "\n\n",
			want:  []string{`{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}`},
		},
		{
			name:  "reasoning_content delta",
			input: `data: {"choices":[{"delta":{"reasoning_content":"hmm"}}]}` + "\n\n",
			want:  []string{`{"choices":[{"delta":{"reasoning_content":"hmm"}}]}`},
		},
		{
			name:  "usage-only final chunk",
			input: `data: {"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":6}}` + "\n\ndata: [DONE]\n\n",
			want:  []string{`{"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":6}}`, "[DONE]"},
		},
		{
			name:  "error object mid-stream",
			input: "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"error\":{\"message\":\"boom\"}}\n\n",
			want:  []string{`{"choices":[{"delta":{"content":"a"}}]}`, `{"error":{"message":"boom"}}`},
		},
		{name: "body ends without DONE", input: "data: a\n\ndata: b\n\n", want: []string{"a", "b"}},
		{name: "body ends after data line without blank line", input: "data: a\n\ndata: b\n", want: []string{"a", "b"}},
		{name: "body ends after data line with CR", input: "data: a\r", want: []string{"a"}},
		{name: "body ends mid-line", input: "data: a\n\ndata: {\"choi", want: []string{"a"}, wantErr: ErrTruncated},
		{name: "body ends mid-comment", input: "data: a\n\n: pi", want: []string{"a"}, wantErr: ErrTruncated},
		{name: "event at limit", max: 100, input: "data: " + big + "\n\n", want: []string{big}},
		{name: "event over limit", max: 99, input: "data: a\n\ndata: " + big + "\n\n", want: []string{"a"}, wantErr: ErrEventTooLarge},
		{name: "multi-line event at limit", max: 100, input: "data: " + big[:49] + "\ndata: " + big[:50] + "\n\n", want: []string{big[:49] + "\n" + big[:50]}},
		{name: "multi-line event over limit", max: 100, input: "data: " + big[:50] + "\ndata: " + big[:50] + "\n\n", wantErr: ErrEventTooLarge},
		{name: "many empty data lines over limit", max: 10, input: strings.Repeat("data:\n", 12) + "\n", wantErr: ErrEventTooLarge},
		{name: "line longer than buffer", max: 10, input: "data: a\n\n: " + strings.Repeat("x", 5000) + "\n\n", want: []string{"a"}, wantErr: ErrEventTooLarge},
		{name: "event over limit larger than first buffer", max: 5000, input: "data: " + strings.Repeat("y", 6000) + "\n\n", wantErr: ErrEventTooLarge},
		{name: "event under limit larger than first buffer", max: 9000, input: "data: " + strings.Repeat("y", 9000) + "\n\n", want: []string{strings.Repeat("y", 9000)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			max := tt.max
			if max == 0 {
				max = maxEventBytes
			}
			for rname, mk := range readers(tt.input) {
				got, err := readEvents(NewSSEReader(mk(), max))
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("%s: error %v, want %v", rname, err, tt.wantErr)
				}
				if !equalStrings(got, tt.want) {
					t.Errorf("%s: events %q, want %q", rname, got, tt.want)
				}
			}
		})
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestSSEReaderCaptures reads the captured streams of real servers in every
// way the bytes can be split, and checks each event against a naive split of
// the file.
func TestSSEReaderCaptures(t *testing.T) {
	files, err := filepath.Glob("testdata/captures/*.sse")
	if err != nil || len(files) == 0 {
		t.Fatalf("no captures: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, blk := range strings.Split(string(raw), "\n\n") {
				if blk != "" {
					want = append(want, strings.TrimPrefix(blk, "data: "))
				}
			}
			if want[len(want)-1] != "[DONE]" {
				t.Fatalf("capture does not end with [DONE]: %q", want[len(want)-1])
			}
			inputs := map[string]string{
				"LF":   string(raw),
				"CRLF": strings.ReplaceAll(string(raw), "\n", "\r\n"),
				"CR":   strings.ReplaceAll(string(raw), "\n", "\r"),
			}
			for ending, input := range inputs {
				for rname, mk := range readers(input) {
					got, err := readEvents(NewSSEReader(mk(), maxEventBytes))
					if err != nil || !equalStrings(got, want) {
						t.Errorf("%s/%s: got %d events, err %v; want %d events", ending, rname, len(got), err, len(want))
					}
				}
			}
		})
	}
}

// TestSSEReaderCRLFSplit puts the CR and the LF of one line end in separate
// reads, in every position that matters.
func TestSSEReaderCRLFSplit(t *testing.T) {
	tests := []struct {
		name  string
		parts []string
		want  []string
	}{
		{"after data line", []string{"data: a\r", "\n\r\ndata: b\r\n\r\n"}, []string{"a", "b"}},
		{"after blank line", []string{"data: a\r\n\r", "\ndata: b\r\n\r\n"}, []string{"a", "b"}},
		{"each CR and LF alone", []string{"data: a", "\r", "\n", "\r", "\n", "data: b", "\r", "\n", "\r", "\n"}, []string{"a", "b"}},
		{"CR at end of body", []string{"data: a\r\n\r"}, []string{"a"}},
		{"CR then lone CR line end", []string{"data: a\r", "\rdata: b\r", "\r"}, []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readEvents(NewSSEReader(&partsReader{parts: append([]string(nil), tt.parts...)}, 1024))
			if err != nil || !equalStrings(got, tt.want) {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// zeroReader returns (0, nil) forever; a few of those before data are legal.
type zeroReader struct {
	zeros int // (0, nil) results before data; <0: forever
	r     io.Reader
	calls int
}

func (z *zeroReader) Read(p []byte) (int, error) {
	z.calls++
	if z.zeros < 0 || z.calls <= z.zeros {
		return 0, nil
	}
	return z.r.Read(p)
}

func TestSSEReaderNoProgress(t *testing.T) {
	z := &zeroReader{zeros: -1}
	done := make(chan error, 1)
	go func() {
		_, err := NewSSEReader(z, 1024).Next()
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, io.ErrNoProgress) {
			t.Fatalf("error %v, want io.ErrNoProgress", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next spins on a reader that returns (0, nil) forever")
	}

	// A few empty reads before data are not an error.
	z = &zeroReader{zeros: 5, r: strings.NewReader("data: a\n\n")}
	got, err := readEvents(NewSSEReader(z, 1024))
	if err != nil || !equalStrings(got, []string{"a"}) {
		t.Fatalf("got %q, %v", got, err)
	}
}

// TestSSEReaderErrorsAreSticky checks that after the underlying reader fails
// the SSE reader keeps returning that error, without reading again.
func TestSSEReaderErrorsAreSticky(t *testing.T) {
	boom := errors.New("boom")
	rd := io.MultiReader(strings.NewReader("data: a\n\ndata: b"), iotest.ErrReader(boom))
	s := NewSSEReader(rd, 1024)
	if ev, err := s.Next(); err != nil || string(ev.Data) != "a" {
		t.Fatalf("first event %q, %v", ev.Data, err)
	}
	for range 3 {
		if _, err := s.Next(); !errors.Is(err, boom) {
			t.Fatalf("error %v, want %v", err, boom)
		}
	}
}

// fakeClock returns base, base+1ms, base+2ms, ... and counts its calls.
type fakeClock struct {
	base  time.Time
	calls int
}

func (c *fakeClock) now() time.Time {
	c.calls++
	return c.base.Add(time.Duration(c.calls) * time.Millisecond)
}

func TestSSEReaderTimestamps(t *testing.T) {
	clk := &fakeClock{base: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	parts := []string{
		"data: a\n\ndata: b\n\n", // read 1: a and b share its stamp
		"data: c\n",              // read 2: c not complete yet
		"\n",                     // read 3: completes c
		": ping\n\n",             // read 4: a comment
		"data: d\n\n",            // read 5
		"data: e",                // read 6 and 7: a line split over reads
		"\n\n",
	}
	s := NewSSEReader(&partsReader{parts: parts}, 1024)
	s.now = clk.now
	want := []struct {
		data string
		read int
	}{{"a", 1}, {"b", 1}, {"c", 3}, {"d", 5}, {"e", 7}}
	var last time.Time
	for _, w := range want {
		ev, err := s.Next()
		if err != nil {
			t.Fatal(err)
		}
		wantAt := clk.base.Add(time.Duration(w.read) * time.Millisecond)
		if string(ev.Data) != w.data || !ev.At.Equal(wantAt) {
			t.Errorf("event %q at %v, want %q at read %d (%v)", ev.Data, ev.At.Sub(clk.base), w.data, w.read, wantAt.Sub(clk.base))
		}
		if ev.At.Before(last) {
			t.Errorf("event %q stamped before the previous event", ev.Data)
		}
		last = ev.At
	}
	if _, err := s.Next(); err != io.EOF {
		t.Fatalf("error %v, want io.EOF", err)
	}
	if clk.calls != len(parts) {
		t.Errorf("clock read %d times, want once per read that returned data (%d)", clk.calls, len(parts))
	}
}

// TestSSEReaderLargeEventSlowly reads a large event one byte at a time: the
// reader must not rescan the partial line on every read (quadratic time).
func TestSSEReaderLargeEventSlowly(t *testing.T) {
	payload := strings.Repeat("z", 512<<10)
	input := "data: " + payload + "\n\ndata: [DONE]\n\n"
	start := time.Now()
	got, err := readEvents(NewSSEReader(iotest.OneByteReader(strings.NewReader(input)), maxEventBytes))
	if err != nil || len(got) != 2 || got[0] != payload {
		t.Fatalf("got %d events, %v", len(got), err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("512 KiB event read one byte at a time took %v", d)
	}
}

// repeatReader returns its block over and over, never ending.
type repeatReader struct {
	b   []byte
	off int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := copy(p, r.b[r.off:])
	r.off = (r.off + n) % len(r.b)
	return n, nil
}

func TestSSEReaderDoesNotAllocate(t *testing.T) {
	raw, err := os.ReadFile("testdata/captures/vllm-sim-chat-stream.sse")
	if err != nil {
		t.Fatal(err)
	}
	s := NewSSEReader(&repeatReader{b: bytes.ReplaceAll(raw, []byte("\n"), []byte("\r\n"))}, maxEventBytes)
	for range 100 { // warm up: the data buffer grows to the largest event
		if _, err := s.Next(); err != nil {
			t.Fatal(err)
		}
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := s.Next(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per event, want 0", allocs)
	}
}

func FuzzSSEReader(f *testing.F) {
	files, _ := filepath.Glob("testdata/captures/*.sse")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint16(0), uint64(1))
		f.Add(bytes.ReplaceAll(b, []byte("\n"), []byte("\r")), uint16(300), uint64(2))
	}
	f.Add([]byte("data: a\r\n\r\ndata:b\ndata\n\n: c\n"), uint16(3), uint64(0))
	f.Add([]byte("data: "+strings.Repeat("q", 5000)+"\n\n"), uint16(4900), uint64(3))
	f.Fuzz(func(t *testing.T, input []byte, max uint16, seed uint64) {
		limit := int(max)
		if limit == 0 {
			limit = maxEventBytes
		}
		whole, wholeErr := checkedEvents(t, NewSSEReader(bytes.NewReader(input), limit), limit, len(input))
		split, splitErr := checkedEvents(t, NewSSEReader(&splitReader{input, rand.New(rand.NewPCG(seed, 0))}, limit), limit, len(input))
		// However the bytes are split, the events and the error are the same.
		if !equalStrings(whole, split) || !errors.Is(splitErr, wholeErr) {
			t.Fatalf("whole: %q, %v; split: %q, %v", whole, wholeErr, split, splitErr)
		}
		// And they are the events the spec's own wording makes of the
		// bytes (a reference written from the HTML standard's steps, not
		// from the reader).
		if want, ok := specEvents(input); ok && wholeErr == nil && !equalStrings(whole, want) {
			t.Fatalf("reader: %q, spec: %q", whole, want)
		}
	})
}

// specEvents parses a whole stream as the event-stream interpretation steps
// say: lines end at CRLF, LF or CR; a blank line dispatches; a field's
// value loses one leading space; data lines join with LF. It reports false
// for a stream that ends inside a line (the reader's ErrTruncated).
func specEvents(in []byte) ([]string, bool) {
	var out []string
	var data []byte
	has := false
	for len(in) > 0 {
		i := bytes.IndexAny(in, "\r\n")
		if i < 0 {
			return nil, false
		}
		line := in[:i]
		if in[i] == '\r' && i+1 < len(in) && in[i+1] == '\n' {
			i++
		}
		in = in[i+1:]
		switch {
		case len(line) == 0:
			if has {
				out = append(out, string(data))
				has = false
			}
			continue
		case line[0] == ':':
			continue
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		if string(name) != "data" {
			continue
		}
		if has {
			data = append(data, '\n')
			data = append(data, value...)
		} else {
			data, has = append(data[:0], value...), true
		}
	}
	if has {
		out = append(out, string(data))
	}
	return out, true
}

// checkedEvents reads every event, checking the invariants that hold for
// any input: no event beyond the limit, no more data out than bytes in, and
// an end after a bounded number of calls.
func checkedEvents(t *testing.T, s *SSEReader, limit, inputLen int) ([]string, error) {
	t.Helper()
	var got []string
	total := 0
	for calls := 0; ; calls++ {
		if calls > inputLen+1 {
			t.Fatalf("%d events from %d bytes", calls, inputLen)
		}
		ev, err := s.Next()
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		if len(ev.Data) > limit {
			t.Fatalf("event of %d bytes over limit %d", len(ev.Data), limit)
		}
		total += len(ev.Data)
		if total > inputLen {
			t.Fatalf("%d data bytes from %d input bytes", total, inputLen)
		}
		got = append(got, string(ev.Data))
	}
}

// BenchmarkSSEReader reads vLLM-style events from memory; ns/op is per event.
func BenchmarkSSEReader(b *testing.B) {
	raw, err := os.ReadFile("testdata/captures/vllm-sim-chat-stream.sse")
	if err != nil {
		b.Fatal(err)
	}
	s := NewSSEReader(&repeatReader{b: raw}, maxEventBytes)
	events := bytes.Count(raw, []byte("\n\n"))
	b.SetBytes(int64(len(raw) / events))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Next(); err != nil {
			b.Fatal(err)
		}
	}
}
