package load

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/llmprobe/llmprobe/probe"
)

// A run's samples are its measured requests as the summaries saw them, one
// JSON line each, so that the runs of several shards can be pooled into
// one exact result (merge.go): a summary's percentiles cannot be merged, its
// raw values can. The file is llmprobe's own format:
//
//	{"llmprobe_samples":1,"shard":{"index":0,"count":4}}      header
//	{"step":1,"rec":{...},"mono":{...},"chunks":[...]}         a request
//	{"step":1,"dropped":"2026-01-02T15:04:05.123456789Z"}      a dropped arrival
//	{"end":{"started":...,"requests":N,...}}                   trailer
//
// A request is its probe.Record as JSON (every field that has a JSON name),
// its chunk arrival offsets (which Record keeps out of JSON) as gaps, and
// its durations as the run measured them on the monotonic clock (mono),
// which replace the wall-clock differences of its times when it is read
// back, so that a replayed request has exactly the TTFT, ITL and latency
// its run counted. Times themselves are wall-clock: the only clock that
// shards on different machines share.

// SamplesVersion is the format's version, in each file's header.
const SamplesVersion = 1

// Shard is one of Count processes that share a run: shard Index takes
// every Count-th arrival of the run's open-loop schedule and its share of
// the virtual users and requests (shard.go).
type Shard struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// String returns "I/N".
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// SampleRecorder receives every measured request of a run as it ends, and
// every dropped arrival (Options.Samples); the engine calls it from many
// goroutines. Close is called once, after the last, with the run's result.
type SampleRecorder interface {
	Request(step int, rec *probe.Record, cut, interrupted bool)
	Dropped(step int, scheduled time.Time)
	Close(res *Result) error
}

type samplesHeader struct {
	Version int   `json:"llmprobe_samples"`
	Shard   Shard `json:"shard"`
}

// monoTimes are a request's durations on the monotonic clock, from Start.
type monoTimes struct {
	Lag         *int64 `json:"lag,omitempty"` // Start - Scheduled (open-loop arrivals)
	FirstToken  *int64 `json:"first_token,omitempty"`
	FirstAnswer *int64 `json:"first_answer,omitempty"`
	End         *int64 `json:"end,omitempty"`
}

type sampleLine struct {
	Step        int           `json:"step"`
	Dropped     *time.Time    `json:"dropped,omitempty"` // a dropped arrival's scheduled time
	Rec         *probe.Record `json:"rec,omitempty"`
	Mono        *monoTimes    `json:"mono,omitempty"`
	Chunks      []int64       `json:"chunks,omitempty"` // first chunk's offset from Start, then the gaps (ns)
	ChunkTokens []int32       `json:"chunk_tokens,omitempty"`
	Cut         bool          `json:"cut,omitempty"`
	Interrupted bool          `json:"interrupted,omitempty"`
}

// SamplesEnd is a samples file's trailer: which run it belongs to and what
// it holds, so that a file is checked against its result before it is
// merged, and a file without one (its run did not end) is refused.
type SamplesEnd struct {
	Started time.Time `json:"started"`
	Status  string    `json:"status"`
	Phase   string    `json:"phase,omitempty"` // of the measured requests (the timeline's)
	// Requests, Dropped and Interrupted count the file's lines of each
	// kind: the run summary's Requests, Dropped and Interrupted.
	Requests    int64 `json:"requests"`
	Dropped     int64 `json:"dropped"`
	Interrupted int64 `json:"interrupted"`
}

type samplesTrailer struct {
	End *SamplesEnd `json:"end"`
}

func nsPtr(d time.Duration) *int64 { v := int64(d); return &v }

// sampleOf encodes a finished request.
func sampleOf(step int, rec *probe.Record, cut, interrupted bool) sampleLine {
	l := sampleLine{Step: step, Rec: rec, Cut: cut, Interrupted: interrupted, Mono: &monoTimes{}}
	if !rec.Scheduled.IsZero() {
		l.Mono.Lag = nsPtr(rec.Start.Sub(rec.Scheduled))
	}
	if !rec.FirstToken.IsZero() {
		l.Mono.FirstToken = nsPtr(rec.FirstToken.Sub(rec.Start))
	}
	if !rec.FirstAnswer.IsZero() {
		l.Mono.FirstAnswer = nsPtr(rec.FirstAnswer.Sub(rec.Start))
	}
	if !rec.End.IsZero() {
		l.Mono.End = nsPtr(rec.End.Sub(rec.Start))
	}
	if len(rec.Chunks) > 0 {
		l.Chunks = make([]int64, len(rec.Chunks))
		prev := time.Duration(0)
		for i, c := range rec.Chunks {
			l.Chunks[i] = int64(c - prev)
			prev = c
		}
	}
	l.ChunkTokens = rec.ChunkTokens
	return l
}

// record decodes a request line: its Record with the monotonic durations
// put back from its Start.
func (l *sampleLine) record() *probe.Record {
	rec := l.Rec
	if m := l.Mono; m != nil && !rec.Start.IsZero() {
		at := func(d *int64, t *time.Time) {
			if d != nil {
				*t = rec.Start.Add(time.Duration(*d))
			}
		}
		if m.Lag != nil {
			rec.Scheduled = rec.Start.Add(-time.Duration(*m.Lag))
		}
		at(m.FirstToken, &rec.FirstToken)
		at(m.FirstAnswer, &rec.FirstAnswer)
		at(m.End, &rec.End)
	}
	if len(l.Chunks) > 0 {
		rec.Chunks = make([]time.Duration, len(l.Chunks))
		var off time.Duration
		for i, g := range l.Chunks {
			off += time.Duration(g)
			rec.Chunks[i] = off
		}
	}
	rec.ChunkTokens = l.ChunkTokens
	return rec
}

// SamplesFile writes a run's samples to a file (a SampleRecorder). The file
// is written beside its path under a temporary name and renamed into place
// by Close, so that a samples file is always a whole run's; nothing is
// created for a run that never starts.
type SamplesFile struct {
	path  string
	shard Shard

	mu   sync.Mutex
	f    *os.File
	bw   *bufio.Writer
	enc  *json.Encoder
	err  error
	end  SamplesEnd
	done bool
}

// NewSamplesFile returns a recorder writing to path for the given shard.
func NewSamplesFile(path string, shard Shard) *SamplesFile {
	return &SamplesFile{path: path, shard: shard}
}

// Path is where the file goes.
func (s *SamplesFile) Path() string { return s.path }

// SamplesPath is the samples file beside a result file: run.json ->
// run.samples.jsonl.
func SamplesPath(result string) string {
	return strings.TrimSuffix(result, filepath.Ext(result)) + ".samples.jsonl"
}

// write encodes v, opening the file first if need be. Called with s.mu held.
func (s *SamplesFile) write(v any) {
	if s.err != nil || s.done {
		return
	}
	if s.f == nil {
		f, err := os.CreateTemp(filepath.Dir(s.path), ".tmp-"+filepath.Base(s.path)+"-*")
		if err != nil {
			s.err = err
			return
		}
		s.f, s.bw = f, bufio.NewWriterSize(f, 256<<10)
		s.enc = json.NewEncoder(s.bw)
		if s.err = s.enc.Encode(samplesHeader{Version: SamplesVersion, Shard: s.shard}); s.err != nil {
			return
		}
	}
	s.err = s.enc.Encode(v)
}

// Request implements SampleRecorder.
func (s *SamplesFile) Request(step int, rec *probe.Record, cut, interrupted bool) {
	l := sampleOf(step, rec, cut, interrupted)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case interrupted:
		s.end.Interrupted++
	default:
		s.end.Requests++
	}
	if s.end.Phase == "" {
		s.end.Phase = rec.Phase
	}
	s.write(&l)
}

// Dropped implements SampleRecorder.
func (s *SamplesFile) Dropped(step int, scheduled time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.end.Dropped++
	sched := scheduled.Round(0) // the wall clock only
	s.write(&sampleLine{Step: step, Dropped: &sched})
}

// Close implements SampleRecorder: it writes the trailer and puts the file
// in place.
func (s *SamplesFile) Close(res *Result) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.end.Started, s.end.Status = res.Started, res.Status
	s.write(samplesTrailer{End: &s.end})
	s.done = true
	if s.f == nil {
		return s.err
	}
	if err := s.bw.Flush(); err != nil && s.err == nil {
		s.err = err
	}
	if err := s.f.Close(); err != nil && s.err == nil {
		s.err = err
	}
	if s.err == nil {
		s.err = os.Rename(s.f.Name(), s.path)
	}
	if s.err != nil {
		_ = os.Remove(s.f.Name())
		return fmt.Errorf("samples file %s: %w", s.path, s.err)
	}
	return nil
}

// Samples are a samples file read back.
type Samples struct {
	Shard Shard
	End   SamplesEnd
	lines []sampleLine
}

// ErrNoTrailer: the samples file ends before its trailer (its run was
// killed, or the file is cut), so it may not hold the whole run.
var ErrNoTrailer = errors.New("no trailer: the run did not end, or the file is cut")

// ReadSamples reads a samples file.
func ReadSamples(path string) (*Samples, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s, err := readSamples(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

func readSamples(r io.Reader) (*Samples, error) {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 256<<10))
	var h samplesHeader
	if err := dec.Decode(&h); err != nil {
		return nil, fmt.Errorf("not a samples file: %w", err)
	}
	if h.Version != SamplesVersion {
		return nil, fmt.Errorf("samples format %d, this llmprobe reads %d", h.Version, SamplesVersion)
	}
	if h.Shard.Count < 1 || h.Shard.Index < 0 || h.Shard.Index >= h.Shard.Count {
		return nil, fmt.Errorf("bad shard %v in the header", h.Shard)
	}
	s := &Samples{Shard: h.Shard}
	var n, dropped, interrupted int64
	for line := 2; ; line++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, ErrNoTrailer
			}
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		var t samplesTrailer
		if json.Unmarshal(raw, &t) == nil && t.End != nil {
			s.End = *t.End
			if dec.More() {
				return nil, fmt.Errorf("line %d: data after the trailer", line+1)
			}
			if n != s.End.Requests || dropped != s.End.Dropped || interrupted != s.End.Interrupted {
				return nil, fmt.Errorf("the trailer counts %d requests, %d dropped, %d interrupted; the file holds %d, %d, %d",
					s.End.Requests, s.End.Dropped, s.End.Interrupted, n, dropped, interrupted)
			}
			return s, nil
		}
		var l sampleLine
		if err := json.Unmarshal(raw, &l); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		switch {
		case l.Dropped != nil:
			dropped++
		case l.Rec == nil:
			return nil, fmt.Errorf("line %d: neither a request nor a dropped arrival", line)
		case l.Interrupted:
			interrupted++
		default:
			n++
		}
		s.lines = append(s.lines, l)
	}
}
