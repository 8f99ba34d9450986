package load

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/probe"
)

// TestSamplesRoundTrip protects what llmprobe merge pools: a request read
// back from a samples file has the times, chunks and fields its run saw,
// so every figure computed from it (TTFT, ITL per chunk and token, TPOT,
// E2E, schedule lag, token windows, SLO checks) is the one the run
// computed; dropped arrivals, cut and interrupted requests keep what they
// are.
func TestSamplesRoundTrip(t *testing.T) {
	origin := time.Now() // with a monotonic reading, as the engine's times have
	a := rec(origin, 10*time.Millisecond, 123456789*time.Nanosecond, 7*time.Millisecond+3, 5, []int32{1, 2, 1, 3, 1})
	a.Scheduled = a.Start.Add(-1234567 * time.Nanosecond)
	a.FirstAnswer = a.FirstToken.Add(3 * time.Millisecond)
	a.Phase, a.Target, a.Model, a.CachedTokens, a.ConnRetries, a.ColdCacheHit = "bench", "h:8000", "m", 5, 2, true
	b := &probe.Record{Start: origin.Add(time.Second), End: origin.Add(time.Second + time.Millisecond), Result: probe.ResultHTTP5xx,
		HTTPStatus: 503, Error: "overloaded"}
	c := &probe.Record{Start: origin.Add(2 * time.Second), End: origin.Add(3 * time.Second), Result: probe.ResultCanceled}
	path := filepath.Join(t.TempDir(), "run.samples.jsonl")
	f := NewSamplesFile(path, Shard{Index: 1, Count: 3})
	f.Request(1, a, false, false)
	f.Request(1, b, false, false)
	f.Dropped(2, origin.Add(1500*time.Millisecond))
	f.Request(2, c, true, false)
	f.Request(2, c, false, true)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the samples file is in place before the run ended: %v", err)
	}
	started := origin.Round(0)
	if err := f.Close(&Result{Started: started, Status: StatusCompleted}); err != nil {
		t.Fatal(err)
	}
	s, err := ReadSamples(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Shard != (Shard{1, 3}) || !s.End.Started.Equal(started) || s.End.Status != StatusCompleted || s.End.Phase != "bench" ||
		s.End.Requests != 3 || s.End.Dropped != 1 || s.End.Interrupted != 1 || len(s.lines) != 5 {
		t.Fatalf("read back %+v with %d lines", s, len(s.lines))
	}
	got := s.lines[0].record()
	for _, c := range []struct {
		name      string
		got, want time.Duration
	}{
		{"TTFT", dur(got.TTFT()), dur(a.TTFT())},
		{"time to first answer", dur(got.TTFA()), dur(a.TTFA())},
		{"E2E", got.E2E(), a.E2E()},
		{"TPOT", dur(got.TPOT()), dur(a.TPOT())},
		{"schedule lag", got.Start.Sub(got.Scheduled), a.Start.Sub(a.Scheduled)},
		{"start (wall clock)", got.Start.Sub(origin.Round(0)), a.Start.Sub(origin)},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
	if !slices.Equal(got.Chunks, a.Chunks) || !slices.Equal(got.ChunkTokens, a.ChunkTokens) {
		t.Errorf("chunks %v %v, want %v %v", got.Chunks, got.ChunkTokens, a.Chunks, a.ChunkTokens)
	}
	var gi, wi []time.Duration
	got.EachITL(func(d time.Duration, k int) { gi = append(gi, time.Duration(k)*d) })
	a.EachITL(func(d time.Duration, k int) { wi = append(wi, time.Duration(k)*d) })
	if !slices.Equal(gi, wi) {
		t.Errorf("ITL %v, want %v", gi, wi)
	}
	if got.Phase != "bench" || got.Target != "h:8000" || got.OutputTokens != a.OutputTokens || got.InputTokens != 7 ||
		!got.UsageReported || got.CachedTokens != 5 || got.ConnRetries != 2 || !got.ColdCacheHit || !got.Success() {
		t.Errorf("record fields lost: %+v", got)
	}
	if r := s.lines[1].record(); r.Result != probe.ResultHTTP5xx || r.HTTPStatus != 503 || r.Error != "overloaded" || !r.Scheduled.IsZero() || !r.FirstToken.IsZero() {
		t.Errorf("failed request read back as %+v", r)
	}
	if d := s.lines[2]; d.Dropped == nil || !d.Dropped.Equal(origin.Add(1500*time.Millisecond)) || d.Step != 2 {
		t.Errorf("dropped arrival read back as %+v", d)
	}
	if !s.lines[3].Cut || s.lines[3].Interrupted || !s.lines[4].Interrupted || s.lines[4].Cut {
		t.Error("cut and interrupted flags lost")
	}
}

func dur(d time.Duration, _ bool) time.Duration { return d }

// TestSamplesFileRefusals protects the merge from partial or foreign
// samples: a file cut before its trailer, one whose trailer does not count
// its lines, and a file that is not a samples file are refused; a run that
// never starts leaves no file.
func TestSamplesFileRefusals(t *testing.T) {
	dir := t.TempDir()
	origin := time.Unix(1000, 0)
	path := filepath.Join(dir, "a.samples.jsonl")
	f := NewSamplesFile(path, Shard{0, 2})
	f.Request(1, rec(origin, 0, time.Millisecond, time.Millisecond, 2, nil), false, false)
	f.Request(1, rec(origin, 0, time.Millisecond, time.Millisecond, 2, nil), false, false)
	if err := f.Close(&Result{Started: origin, Status: StatusCompleted}); err != nil {
		t.Fatal(err)
	}
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(whole), "\n")
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cut := write("cut.jsonl", strings.Join(lines[:3], ""))
	if _, err := ReadSamples(cut); !errors.Is(err, ErrNoTrailer) {
		t.Errorf("a file cut before its trailer: %v, want ErrNoTrailer", err)
	}
	short := write("short.jsonl", lines[0]+lines[1]+lines[3])
	if _, err := ReadSamples(short); err == nil || !strings.Contains(err.Error(), "the trailer counts 2 requests") {
		t.Errorf("a file missing a line: %v", err)
	}
	if _, err := ReadSamples(write("result.json", `{"target": "x"}`+"\n")); err == nil || !strings.Contains(err.Error(), "samples format 0") {
		t.Errorf("a result file read as samples: %v", err)
	}
	never := NewSamplesFile(filepath.Join(dir, "never.samples.jsonl"), Shard{0, 1})
	_ = never
	if ents, _ := os.ReadDir(dir); len(ents) != 4 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("files %v: a recorder that saw nothing created one", names)
	}
	if got := SamplesPath("out/run.json"); got != "out/run.samples.jsonl" {
		t.Errorf("SamplesPath = %q", got)
	}
}
