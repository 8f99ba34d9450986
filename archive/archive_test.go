package archive

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/load"
)

func files(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func save(t *testing.T, a *Archive, name string, started time.Time, entries int) string {
	t.Helper()
	w, err := a.Begin(name, "t:1", started)
	if err != nil {
		t.Fatal(err)
	}
	for i := range entries {
		if err := w.WriteEntry(&load.Entry{Step: 1, Phase: "soak", Start: started.Add(time.Duration(i) * time.Millisecond), Result: "success"}); err != nil {
			t.Fatal(err)
		}
	}
	res := &load.Result{Name: name, Target: "t:1", Mode: load.ModeRate, Status: load.StatusCompleted, Passed: true, Started: started, Ended: started.Add(time.Minute)}
	res.Summary.Requests = int64(entries)
	if err := w.Commit(res); err != nil {
		t.Fatal(err)
	}
	if res.ID != w.ID() {
		t.Fatalf("result ID %q, writer %q", res.ID, w.ID())
	}
	return w.ID()
}

func TestWriteAndList(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	a, err := Open(dir, Retention{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open created the directory before any run: %v", err)
	}
	if runs, err := a.List(); err != nil || len(runs) != 0 {
		t.Fatalf("empty archive: %v %v", runs, err)
	}
	t0 := time.Date(2025, 3, 1, 3, 0, 0, 0, time.UTC)
	id1 := save(t, a, "nightly", t0, 3)
	id2 := save(t, a, "nightly", t0, 2) // same start: a distinct ID
	id3 := save(t, a, "bench", t0.Add(time.Hour), 1)
	if id1 == id2 || strings.ContainsAny(id1, ":/") {
		t.Fatalf("IDs %q %q", id1, id2)
	}
	runs, err := a.List()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range runs {
		ids = append(ids, r.ID)
	}
	if !slices.Equal(ids, []string{id3, id2, id1}) {
		t.Fatalf("listing %v, want newest first", ids)
	}
	if r := runs[2]; r.Name != "nightly" || r.Target != "t:1" || r.Requests != 3 || !r.Passed || r.Bytes == 0 {
		t.Errorf("run %+v", r)
	}

	b, err := a.Result(id1)
	if err != nil {
		t.Fatal(err)
	}
	var res load.Result
	if err := json.Unmarshal(b, &res); err != nil || res.ID != id1 {
		t.Fatalf("result %s: %v", b, err)
	}
	tl, err := a.Timeline(id1)
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	sc := bufio.NewScanner(tl)
	n := 0
	for sc.Scan() {
		var e load.Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		n++
	}
	if n != 3 {
		t.Errorf("%d timeline lines, want 3", n)
	}
	for _, bad := range []string{"../x", "", ".tmp-x", "a/b", "nope"} {
		if _, err := a.Result(bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("Result(%q): %v", bad, err)
		}
		if _, err := a.Timeline(bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("Timeline(%q): %v", bad, err)
		}
	}
}

// A crash leaves temporary files, a timeline without its result, or a
// foreign half-written file: the listing survives all three and Open
// removes what is ours.
func TestCrashLeftovers(t *testing.T) {
	dir := t.TempDir()
	a, err := Open(dir, Retention{})
	if err != nil {
		t.Fatal(err)
	}
	id := save(t, a, "nightly", time.Date(2025, 3, 1, 3, 0, 0, 0, time.UTC), 2)

	// a run killed mid-soak: its timeline is still a temporary file
	w, err := a.Begin("nightly", "t:1", time.Date(2025, 3, 2, 3, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	_ = w.WriteEntry(&load.Entry{Result: "success"})
	// killed between the two renames of a commit
	must(t, os.WriteFile(filepath.Join(dir, "20250303T030000.000Z_nightly_t-1"+timelineSuffix), []byte("{}\n"), 0o644))
	// killed while writing a result's temporary file
	must(t, os.WriteFile(filepath.Join(dir, tmpPrefix+"20250304T030000.000Z_nightly_t-1.json-123"), []byte(`{"id": "20250304`), 0o644))
	// a half file someone copied in by hand
	must(t, os.WriteFile(filepath.Join(dir, "broken.json"), []byte(`{"id": "bro`), 0o644))

	runs, err := a.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].ID != id {
		t.Fatalf("listing %+v, want only %s", runs, id)
	}

	if _, err := Open(dir, Retention{}); err != nil {
		t.Fatal(err)
	}
	got := files(t, dir)
	want := []string{id + resultSuffix, id + timelineSuffix, "broken.json"}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("after Open: %v, want %v", got, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestAbort(t *testing.T) {
	dir := t.TempDir()
	a, _ := Open(dir, Retention{})
	w, err := a.Begin("s", "t", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_ = w.WriteEntry(&load.Entry{})
	w.Abort()
	if f := files(t, dir); len(f) != 0 {
		t.Errorf("left %v", f)
	}
	if err := w.Commit(&load.Result{}); err == nil {
		t.Error("commit after abort")
	}
}

func TestRetention(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	t.Run("count", func(t *testing.T) {
		dir := t.TempDir()
		a, _ := Open(dir, Retention{MaxRuns: 3})
		var ids []string
		for i := range 5 {
			ids = append(ids, save(t, a, "s", t0.Add(time.Duration(i)*time.Hour), 1))
		}
		runs, _ := a.List()
		if len(runs) != 3 || runs[0].ID != ids[4] || runs[2].ID != ids[2] {
			t.Fatalf("kept %+v", runs)
		}
		if n := len(files(t, dir)); n != 6 {
			t.Errorf("%d files, want 6", n)
		}
	})
	t.Run("bytes", func(t *testing.T) {
		dir := t.TempDir()
		a, _ := Open(dir, Retention{MaxBytes: 1})
		for i := range 3 {
			save(t, a, "s", t0.Add(time.Duration(i)*time.Hour), 100)
		}
		// every run is larger than the limit; the newest stays anyway
		if runs, _ := a.List(); len(runs) != 1 {
			t.Fatalf("kept %d runs", len(runs))
		}
		a, _ = Open(dir, Retention{MaxBytes: 1 << 20})
		for i := range 3 {
			save(t, a, "s", t0.Add(time.Duration(10+i)*time.Hour), 100)
		}
		if runs, _ := a.List(); len(runs) != 4 {
			t.Fatalf("kept %d runs under a large limit", len(runs))
		}
	})
}

// TestListCachesAndForgetsPruned: List keeps up with new and pruned runs
// while serving committed ones from memory.
func TestListCachesAndForgetsPruned(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	a, _ := Open(t.TempDir(), Retention{MaxRuns: 2})
	first := save(t, a, "s", t0, 1)
	if runs, _ := a.List(); len(runs) != 1 || runs[0].ID != first {
		t.Fatalf("runs %+v", runs)
	}
	second := save(t, a, "s", t0.Add(time.Hour), 1)
	third := save(t, a, "s", t0.Add(2*time.Hour), 1) // prunes the first
	runs, _ := a.List()
	if len(runs) != 2 || runs[0].ID != third || runs[1].ID != second {
		t.Fatalf("runs %+v", runs)
	}
	if _, cached := a.runs[first]; cached {
		t.Error("a pruned run stays cached")
	}
}
