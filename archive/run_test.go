package archive

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/probe"
)

type okSender struct{}

func (okSender) Do(_ context.Context, _ probe.Request) *probe.Record {
	now := time.Now()
	return &probe.Record{Start: now, FirstToken: now, End: now, OutputTokens: 1, Result: probe.ResultSuccess}
}

type hiRequests struct{}

func (hiRequests) Next() probe.Request { return probe.Request{Prompt: "hi", MaxTokens: 1} }

func jobOf(o load.Options) *Job {
	return &Job{Started: time.Now(), Send: okSender{}, Requests: hiRequests{}, Options: o}
}

var tiny = load.Options{Mode: load.ModeThroughput, VUs: 1, NumRequests: 3, Name: "bench", Target: "t:1"}

func TestRunJobArchivesTheRun(t *testing.T) {
	a, err := Open(t.TempDir(), Retention{})
	must(t, err)
	j := jobOf(tiny)
	var started, done bool
	var entries int
	j.Sink = func(w *Writer) load.Sink {
		if w == nil {
			t.Fatal("no writer for an archived run")
		}
		return sinkFunc(func(e *load.Entry) error { entries++; return w.WriteEntry(e) })
	}
	j.Start = func(r *load.Runner) (load.GPUSampler, time.Duration, func()) {
		started = true
		return nil, 0, func() { done = true }
	}
	res, err := RunJob(context.Background(), a, j)
	if res == nil || err != nil {
		t.Fatalf("RunJob: %v %v", res, err)
	}
	if !started || !done || entries == 0 || res.ID == "" {
		t.Fatalf("started %v, done %v, entries %d, ID %q", started, done, entries, res.ID)
	}
	if _, err := a.Result(res.ID); err != nil {
		t.Fatalf("result not archived: %v", err)
	}
}

type sinkFunc func(*load.Entry) error

func (f sinkFunc) WriteEntry(e *load.Entry) error { return f(e) }

func TestRunJobFailures(t *testing.T) {
	// An archive that cannot begin: its directory became a file.
	file := filepath.Join(t.TempDir(), "f")
	broken, err := Open(file, Retention{})
	must(t, err)
	must(t, os.WriteFile(file, nil, 0o644))
	if res, err := RunJob(context.Background(), broken, jobOf(tiny)); res != nil || err == nil {
		t.Fatalf("unarchivable run without Unarchived: %v %v", res, err)
	}
	j := jobOf(tiny)
	var told error
	j.Unarchived = func(err error) bool { told = err; return true }
	if res, err := RunJob(context.Background(), broken, j); res == nil || err != nil || told == nil {
		t.Fatalf("run anyway: %v %v (told %v)", res, err, told)
	}

	// An invalid run leaves nothing in the archive.
	dir := filepath.Join(t.TempDir(), "data")
	a, err := Open(dir, Retention{})
	must(t, err)
	bad := tiny
	bad.Mode = "nonsense"
	if res, err := RunJob(context.Background(), a, jobOf(bad)); res != nil || err == nil {
		t.Fatalf("invalid run: %v %v", res, err)
	}
	if _, err := os.Stat(dir); err == nil && len(files(t, dir)) != 0 {
		t.Fatalf("an invalid run left %v", files(t, dir))
	}
	if res, err := RunJob(context.Background(), nil, jobOf(tiny)); res == nil || err != nil || res.ID != "" {
		t.Fatalf("unarchived run: %v %v", res, err)
	}
}
