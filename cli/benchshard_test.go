package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/sim"
)

// merge runs `llmprobe merge` with args.
func merge(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = runWith(append([]string{"merge"}, args...), &out, &errOut, nil)
	return code, out.String(), errOut.String()
}

// TestBenchShardsAndMerge protects the command line of load from many
// machines: shards run with --shard and a common --start-at each write
// their result (shard-I-of-N.json in a --result-file directory) and its
// samples beside it, and llmprobe merge, given a pattern, combines them into
// one result whose counts are the shards' sums, a timeline of every
// request, and the usual table; a missing shard is refused by name.
func TestBenchShardsAndMerge(t *testing.T) {
	url := benchSim(t, sim.Config{TTFT: 20 * time.Millisecond, ITL: 2 * time.Millisecond, OutputTokens: 8})
	dir := t.TempDir() + "/"
	start := time.Now().Add(1500 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	const n = 3
	var wg sync.WaitGroup
	codes, errs := make([]int, n), make([]string, n)
	for k := range n {
		args := []string{"--url", url, "--model", sim.DefaultModel, "--rates", "60", "--arrival", "poisson", "--duration", "1s",
			"--seed", "9", "--shard", []string{"0/3", "1/3", "auto/3"}[k], "--start-at", start, "--result-file", dir, "--progress", "never"}
		if k == 2 {
			t.Setenv(jobIndexEnv, "2") // an Indexed Job's pod 2
		}
		wg.Go(func() { codes[k], _, errs[k] = bench(t, nil, args...) })
	}
	wg.Wait()
	var sent int64
	for k := range n {
		if codes[k] != exitOK {
			t.Fatalf("shard %d: exit %d\n%s", k, codes[k], errs[k])
		}
		if !strings.Contains(errs[k], "every 3rd arrival of the run's schedule") {
			t.Errorf("shard %d does not say what it sends:\n%s", k, errs[k])
		}
		path := filepath.Join(dir, "shard-"+string(rune('0'+k))+"-of-3.json")
		var res load.Result
		b, err := os.ReadFile(path)
		if err != nil || json.Unmarshal(b, &res) != nil {
			t.Fatalf("shard %d: result %s: %v", k, path, err)
		}
		if _, err := os.Stat(load.SamplesPath(path)); err != nil {
			t.Errorf("shard %d: no samples beside its result: %v", k, err)
		}
		if got := res.Started.UTC().Format(time.RFC3339Nano); got != start {
			t.Errorf("shard %d started at %s, want %s", k, got, start)
		}
		sent += res.Summary.Requests
	}

	out := filepath.Join(dir, "merged.json")
	timeline := filepath.Join(dir, "merged.jsonl")
	code, stdout, stderr := merge(filepath.Join(dir, "*.json"), "--result-file", out, "--timeline-file", timeline)
	if code != exitOK {
		t.Fatalf("merge: exit %d\n%s%s", code, stdout, stderr)
	}
	var m load.Result
	b, err := os.ReadFile(out)
	if err != nil || json.Unmarshal(b, &m) != nil {
		t.Fatalf("merged result: %v", err)
	}
	if m.Summary.Requests != sent || sent < 40 || m.Summary.Successful != sent || len(m.Steps) != 1 || m.Steps[0].Summary.Requests != sent {
		t.Errorf("merged %d requests (%d ok) in %d steps, the shards sent %d", m.Summary.Requests, m.Summary.Successful, len(m.Steps), sent)
	}
	if m.Context.Rates[0] != 60 || m.Steps[0].OfferedRate != 60 {
		t.Errorf("merged offered rate %v / %v, want the run's 60", m.Context.Rates, m.Steps[0].OfferedRate)
	}
	f, err := os.Open(timeline)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines := 0
	for sc := bufio.NewScanner(f); sc.Scan(); lines++ {
	}
	if int64(lines) != sent {
		t.Errorf("merged timeline: %d lines, want %d", lines, sent)
	}
	if !strings.Contains(stdout, "Serving Benchmark Result") || !strings.Contains(stderr, "3 shards") {
		t.Errorf("merge output:\n%s%s", stdout, stderr)
	}
	// Run again with the same pattern: the merged file it matches is not a
	// shard.
	if code, _, stderr := merge(filepath.Join(dir, "*.json"), "--result-file", out); code != exitOK {
		t.Errorf("second merge over the same pattern: exit %d\n%s", code, stderr)
	}

	// A missing shard, named.
	code, _, stderr = merge(filepath.Join(dir, "shard-0-of-3.json"), filepath.Join(dir, "shard-2-of-3.json"))
	if code != exitError || !strings.Contains(stderr, "shard 1/3 of 3 missing") {
		t.Errorf("two of three shards: exit %d\n%s", code, stderr)
	}
	// A result without samples.
	plain := filepath.Join(dir, "plain", "run.json")
	_ = os.MkdirAll(filepath.Dir(plain), 0o755)
	_ = os.WriteFile(plain, b, 0o600)
	if code, _, stderr := merge(plain); code != exitError || !strings.Contains(stderr, "no samples file") {
		t.Errorf("a result without samples: exit %d\n%s", code, stderr)
	}
}

// TestBenchShardFlagsRefused protects --shard and --start-at: each
// combination that cannot be honoured is refused before the run, saying
// why.
func TestBenchShardFlagsRefused(t *testing.T) {
	url := benchSim(t, sim.Config{TTFT: time.Millisecond, ITL: time.Millisecond})
	dir := t.TempDir()
	later := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	base := []string{"--url", url, "--model", sim.DefaultModel, "--rates", "5", "--duration", "1s", "--progress", "never"}
	for _, tc := range []struct {
		name string
		args []string
		env  string
		want string
	}{
		{"no start", []string{"--shard", "0/2", "--result-file", dir}, "", "--shard needs --start-at"},
		{"no result file", []string{"--shard", "0/2", "--start-at", later}, "", "--shard needs --result-file"},
		{"bad index", []string{"--shard", "2/2", "--start-at", later, "--result-file", dir}, "", "--shard 2/2: I must be between 0 and N-1 (1)"},
		{"auto without a job", []string{"--shard", "auto/2", "--start-at", later, "--result-file", dir}, "", "$JOB_COMPLETION_INDEX is not set"},
		{"auto with a bad index", []string{"--shard", "auto/2", "--start-at", later, "--result-file", dir}, "x", `$JOB_COMPLETION_INDEX is "x"`},
		{"past start", []string{"--start-at", "2020-01-01T00:00:00Z"}, "", "--start-at 2020-01-01T00:00:00Z has passed"},
		{"bad start", []string{"--start-at", "noon"}, "", `--start-at: "noon" is neither`},
		{"sweep", []string{"--mode", "sweep", "--shard", "0/2", "--start-at", later, "--result-file", dir}, "", "a sweep is not run in shards"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv(jobIndexEnv, tc.env)
			}
			args := append(append([]string{}, base...), tc.args...)
			if tc.name == "sweep" {
				args = append([]string{"--url", url, "--model", sim.DefaultModel, "--duration", "1s"}, tc.args...)
			}
			code, _, stderr := bench(t, nil, args...)
			if code != exitError || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, want 1 with %q:\n%s", code, tc.want, stderr)
			}
		})
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("a refused shard wrote %d files", len(ents))
	}
}

// TestShardBesideAnotherToolsResult protects shards run with another
// tool's flags: the tool's result is shard-I-of-N.json in the --result-file
// directory, llmprobe's own (the one merge reads) beside it, and the samples
// beside that.
func TestShardBesideAnotherToolsResult(t *testing.T) {
	dir := t.TempDir()
	app := kingpin.New("llmprobe", "")
	o := addBenchFlags(app.Command("bench", ""))
	later := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if _, err := app.Parse([]string{"bench", "--base-url", "http://h:8000", "--endpoint", "/v1/chat/completions", "--model", "m",
		"--request-rate", "10", "--num-prompts", "20", "--shard", "1/2", "--start-at", later, "--result-file", dir + "/"}); err != nil {
		t.Fatal(err)
	}
	lo, _, _, err := benchPlan(o)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "shard-1-of-2.json"); o.resultFile != want {
		t.Errorf("the tool's result goes to %s, want %s", o.resultFile, want)
	}
	own := filepath.Join(dir, "shard-1-of-2.llmprobe-result.json")
	sf, ok := lo.Samples.(*load.SamplesFile)
	if o.ownResultFile() != own || !ok || sf.Path() != load.SamplesPath(own) || lo.Shard != (load.Shard{Index: 1, Count: 2}) {
		t.Errorf("llmprobe's result %s, samples %v, shard %v; want %s and its samples", o.ownResultFile(), lo.Samples, lo.Shard, own)
	}
}

// TestStartAtNextMinute protects --start-at next-minute: the next whole
// minute, after now.
func TestStartAtNextMinute(t *testing.T) {
	now := time.Date(2026, 5, 4, 12, 30, 59, 900_000_000, time.UTC)
	f := &shardFlags{startAt: "next-minute", now: func() time.Time { return now }}
	got, err := f.parseStartAt()
	if want := time.Date(2026, 5, 4, 12, 31, 0, 0, time.UTC); err != nil || !got.Equal(want) {
		t.Errorf("next-minute at %s: %s %v, want %s", now, got, err, want)
	}
	for n, want := range map[int]string{1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 11: "11th", 12: "12th", 13: "13th", 21: "21st", 22: "22nd", 101: "101st", 111: "111th"} {
		if got := ordinal(n); got != want {
			t.Errorf("ordinal(%d) = %s, want %s", n, got, want)
		}
	}
}
