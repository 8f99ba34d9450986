// Package archive keeps finished load runs in a data directory: for each run
// one JSON result (ID.json) and a JSONL timeline of every request
// (ID.timeline.jsonl), with retention by count and bytes.
//
// Every file appears atomically: it is written under a temporary name
// (".tmp-…"), synced, and renamed into place, and the result is renamed
// last. A crash, or a kill in the middle of a soak, leaves at most a
// temporary file or a timeline without its result; the listing ignores both
// and Open removes them. A result file is never half written.
package archive

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/llmprobe/llmprobe/atomicfile"
	"github.com/llmprobe/llmprobe/load"
)

// Defaults for a zero Retention.
const (
	DefaultMaxRuns  = 500
	DefaultMaxBytes = 1 << 30 // 1 GiB
)

const (
	tmpPrefix      = atomicfile.TempPrefix
	resultSuffix   = ".json"
	timelineSuffix = ".timeline.jsonl"
	idTimeFormat   = "20060102T150405.000Z"
)

// ErrNotFound is returned for a run that is not in the archive.
var ErrNotFound = errors.New("no such run")

// Retention bounds the archive: the oldest runs are removed while there are
// more than MaxRuns or their files take more than MaxBytes. The newest run is
// always kept. Zero fields take the defaults; negative ones mean no limit.
type Retention struct {
	MaxRuns  int
	MaxBytes int64
}

// Archive is a data directory of runs. It is safe for concurrent use.
type Archive struct {
	dir    string
	ret    Retention
	mu     sync.Mutex
	active map[string]bool // IDs being written

	// runs caches List's summary of each committed run: a result never
	// changes once renamed into place, and parsing every result (megabytes
	// with a long GPU timeline) on each listing would not scale to
	// hundreds of runs.
	runsMu sync.Mutex
	runs   map[string]Run
}

// Open opens the archive in dir and removes what an earlier crash left:
// temporary files and timelines without a result. The directory is created
// with the first run, so a daemon without soaks leaves no trace.
func Open(dir string, ret Retention) (*Archive, error) {
	if ret.MaxRuns == 0 {
		ret.MaxRuns = DefaultMaxRuns
	}
	if ret.MaxBytes == 0 {
		ret.MaxBytes = DefaultMaxBytes
	}
	a := &Archive{dir: dir, ret: ret, active: map[string]bool{}, runs: map[string]Run{}}
	names, err := a.names()
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		switch {
		case strings.HasPrefix(n, tmpPrefix):
			_ = os.Remove(filepath.Join(dir, n))
		case strings.HasSuffix(n, timelineSuffix):
			id := strings.TrimSuffix(n, timelineSuffix)
			if _, err := os.Stat(filepath.Join(dir, id+resultSuffix)); errors.Is(err, os.ErrNotExist) {
				_ = os.Remove(filepath.Join(dir, n))
			}
		}
	}
	return a, nil
}

// Dir returns the archive's directory.
func (a *Archive) Dir() string { return a.dir }

func (a *Archive) names() ([]string, error) {
	ents, err := os.ReadDir(a.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// safe keeps the characters of a label that are safe in a file name on
// every system (config names may hold ':').
func safe(s string) string {
	if s == "" {
		return "run"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '-'
	}, s)
}

// validID reports whether id can name a run (no path tricks).
func validID(id string) bool {
	return id != "" && !strings.HasPrefix(id, ".") && safe(id) == id && !strings.Contains(id, "..")
}

// Writer writes one run: its timeline as the run goes (it is a load.Sink),
// then its result with Commit.
type Writer struct {
	a    *Archive
	id   string
	f    *os.File
	sink *load.JSONLSink
	mu   sync.Mutex
	done bool
}

// Begin starts writing a run named name (a soak, or "bench") against
// target, started at started. Its timeline grows in a temporary file until
// Commit; call Abort to give up.
func (a *Archive) Begin(name, target string, started time.Time) (*Writer, error) {
	a.mu.Lock()
	base := started.UTC().Format(idTimeFormat) + "_" + safe(name) + "_" + safe(target)
	id := base
	for i := 2; a.active[id] || exists(filepath.Join(a.dir, id+resultSuffix)); i++ {
		id = fmt.Sprintf("%s_%d", base, i)
	}
	a.active[id] = true
	a.mu.Unlock()
	if err := os.MkdirAll(a.dir, 0o755); err != nil {
		a.release(id)
		return nil, fmt.Errorf("archive: %w", err)
	}
	f, err := os.CreateTemp(a.dir, tmpPrefix+id+"-*"+timelineSuffix)
	if err != nil {
		a.release(id)
		return nil, fmt.Errorf("archive: %w", err)
	}
	return &Writer{a: a, id: id, f: f, sink: load.NewJSONLSink(f)}, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func (a *Archive) release(id string) {
	a.mu.Lock()
	delete(a.active, id)
	a.mu.Unlock()
}

// ID returns the run's ID.
func (w *Writer) ID() string { return w.id }

// WriteEntry appends one request to the timeline (load.Sink).
func (w *Writer) WriteEntry(e *load.Entry) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return errors.New("archive: run already committed")
	}
	return w.sink.WriteEntry(e)
}

// Commit sets res.ID, moves the timeline into place, writes the result
// atomically and applies the retention. After Commit (successful or not)
// the Writer is done.
func (w *Writer) Commit(res *load.Result) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return errors.New("archive: run already committed")
	}
	w.done = true
	defer w.a.release(w.id)
	res.ID = w.id
	err := w.sink.Flush()
	if err == nil {
		err = w.f.Sync()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	tmp := w.f.Name()
	if err == nil {
		err = os.Rename(tmp, filepath.Join(w.a.dir, w.id+timelineSuffix))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("archive: timeline of %s: %w", w.id, err)
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("archive: result of %s: %w", w.id, err)
	}
	if err := writeAtomic(w.a.dir, w.id+resultSuffix, append(b, '\n')); err != nil {
		return fmt.Errorf("archive: result of %s: %w", w.id, err)
	}
	w.a.prune(w.id)
	return nil
}

// Abort gives the run up and removes its temporary timeline.
func (w *Writer) Abort() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return
	}
	w.done = true
	w.f.Close()
	_ = os.Remove(w.f.Name())
	w.a.release(w.id)
}

// writeAtomic writes name in dir whole or not at all (atomicfile).
func writeAtomic(dir, name string, data []byte) error {
	return atomicfile.Write(filepath.Join(dir, name), data, 0o600)
}

// Run is a finished run as the listing shows it.
type Run struct {
	ID                string    `json:"id"`
	Name              string    `json:"name"`
	Target            string    `json:"target"`
	Model             string    `json:"model"`
	Mode              string    `json:"mode"`
	Status            string    `json:"status"`
	Passed            bool      `json:"passed"`
	StopReason        string    `json:"stop_reason,omitempty"`
	Started           time.Time `json:"started"`
	Ended             time.Time `json:"ended"`
	Requests          int64     `json:"requests"`
	Successful        int64     `json:"successful_requests"`
	ErrorRatio        float64   `json:"error_ratio"`
	RequestThroughput float64   `json:"request_throughput"`
	OutputThroughput  float64   `json:"output_throughput"`
	// DetectedMax is the sweep's detected max throughput, requests/s.
	DetectedMax *float64 `json:"detected_max_requests_per_second,omitempty"`
	Bytes       int64    `json:"bytes"`
}

// List returns the finished runs, newest first. Files that cannot be read
// or parsed are skipped, so one bad file never hides the others.
func (a *Archive) List() ([]Run, error) {
	ids, err := a.ids()
	if err != nil {
		return nil, err
	}
	a.runsMu.Lock()
	defer a.runsMu.Unlock()
	present := make(map[string]bool, len(ids))
	runs := make([]Run, 0, len(ids))
	for i := len(ids) - 1; i >= 0; i-- {
		id := ids[i]
		present[id] = true
		r, ok := a.runs[id]
		if !ok {
			if r, ok = a.readRun(id); !ok {
				continue
			}
			a.runs[id] = r
		}
		runs = append(runs, r)
	}
	for id := range a.runs {
		if !present[id] { // pruned
			delete(a.runs, id)
		}
	}
	return runs, nil
}

// readRun summarises one committed run from its result file.
func (a *Archive) readRun(id string) (Run, bool) {
	b, err := os.ReadFile(filepath.Join(a.dir, id+resultSuffix))
	if err != nil {
		return Run{}, false
	}
	var res load.Result
	if json.Unmarshal(b, &res) != nil {
		return Run{}, false
	}
	r := Run{
		ID: id, Name: res.Name, Target: res.Target, Model: res.Model, Mode: res.Mode,
		Status: res.Status, Passed: res.Passed, StopReason: res.StopReason,
		Started: res.Started, Ended: res.Ended,
		Requests: res.Summary.Requests, Successful: res.Summary.Successful,
		ErrorRatio: res.Summary.ErrorRatio, RequestThroughput: res.Summary.RequestThroughput,
		OutputThroughput: res.Summary.OutputThroughput, Bytes: a.size(id),
	}
	if res.DetectedMax != nil {
		v := res.DetectedMax.RequestsPerSecond
		r.DetectedMax = &v
	}
	return r, true
}

// ids returns the IDs of the result files, oldest first (IDs start with
// their start time, so name order is time order).
func (a *Archive) ids() ([]string, error) {
	names, err := a.names()
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, n := range names {
		if strings.HasPrefix(n, tmpPrefix) || strings.HasPrefix(n, ".") || strings.HasSuffix(n, timelineSuffix) {
			continue
		}
		if id, ok := strings.CutSuffix(n, resultSuffix); ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

func (a *Archive) size(id string) int64 {
	var n int64
	for _, s := range []string{resultSuffix, timelineSuffix} {
		if fi, err := os.Stat(filepath.Join(a.dir, id+s)); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// Result returns the JSON result of a run.
func (a *Archive) Result(id string) ([]byte, error) {
	if !validID(id) {
		return nil, ErrNotFound
	}
	b, err := os.ReadFile(filepath.Join(a.dir, id+resultSuffix))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotFound
	}
	return b, err
}

// Timeline opens the JSONL timeline of a run.
func (a *Archive) Timeline(id string) (io.ReadCloser, error) {
	if !validID(id) || !exists(filepath.Join(a.dir, id+resultSuffix)) {
		return nil, ErrNotFound
	}
	f, err := os.Open(filepath.Join(a.dir, id+timelineSuffix))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotFound
	}
	return f, err
}

// prune removes the oldest runs beyond the retention, never keep.
func (a *Archive) prune(keep string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ids, err := a.ids()
	if err != nil {
		return
	}
	// Walk from the newest; once a run does not fit, it and every older
	// run go.
	var count int
	var bytes int64
	over := false
	for i := len(ids) - 1; i >= 0; i-- {
		id := ids[i]
		size := a.size(id)
		if id != keep && !a.active[id] {
			over = over || (a.ret.MaxRuns > 0 && count+1 > a.ret.MaxRuns) || (a.ret.MaxBytes > 0 && bytes+size > a.ret.MaxBytes)
			if over {
				// the result first: a crash in between leaves an orphan
				// timeline, which Open removes, never a listed result
				// without its timeline
				_ = os.Remove(filepath.Join(a.dir, id+resultSuffix))
				_ = os.Remove(filepath.Join(a.dir, id+timelineSuffix))
				continue
			}
		}
		count++
		bytes += size
	}
}
