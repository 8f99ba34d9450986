package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/llmprobe/llmprobe/load"
)

// `llmprobe merge` combines the results of a run's shards (bench --shard
// I/N, one process or pod each) into the one result a single process would
// have written: load.MergeShards pools their samples files and computes
// every figure again.

func init() {
	register(command{
		name: "merge",
		help: "Merge the results of a run's shards (bench --shard I/N) into one: counts, throughputs and percentiles computed again from every shard's samples (RESULT's .samples.jsonl beside it).",
		add:  addMergeCmd,
	})
}

type mergeOptions struct {
	results                  []string
	resultFile, timelineFile string
	jsonOut                  bool
}

func addMergeCmd(cmd *kingpin.CmdClause) func(*slog.Logger, *globals) int {
	o := &mergeOptions{}
	cmd.Arg("result", "The shards' result files, or glob patterns of them (expanded here, as a container without a shell needs): one per shard, each with its samples file beside it (run.json, run.samples.jsonl).").Required().StringsVar(&o.results)
	cmd.Flag("result-file", "Save the merged JSON result to this file.").StringVar(&o.resultFile)
	cmd.Flag("timeline-file", "Save the merged timeline (every request of every shard, as bench's --timeline-file) as JSON lines to this file.").StringVar(&o.timelineFile)
	cmd.Flag("json", "Print the merged result as JSON on stdout instead of the table.").BoolVar(&o.jsonOut)
	return func(_ *slog.Logger, g *globals) int { return runMerge(g, o) }
}

// resultPaths expands the patterns among args (a pattern that matches
// nothing is an error) and leaves out the merge's own output, which a
// pattern such as /results/*.json matches on a second run.
func resultPaths(args []string, out string) ([]string, error) {
	var paths []string
	for _, a := range args {
		if !strings.ContainsAny(a, "*?[") {
			paths = append(paths, a)
			continue
		}
		m, err := filepath.Glob(a)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a, err)
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("%s matches no file", a)
		}
		paths = append(paths, m...)
	}
	paths = slices.DeleteFunc(paths, func(p string) bool {
		return out != "" && filepath.Clean(p) == filepath.Clean(out)
	})
	slices.Sort(paths)
	return slices.Compact(paths), nil
}

// readShard reads a shard's result and its samples.
func readShard(path string) (load.ShardRun, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return load.ShardRun{}, err
	}
	res := &load.Result{}
	if err := json.Unmarshal(b, res); err != nil {
		return load.ShardRun{}, fmt.Errorf("%s: not a result file: %w", path, err)
	}
	sp := load.SamplesPath(path)
	s, err := load.ReadSamples(sp)
	if errors.Is(err, os.ErrNotExist) {
		return load.ShardRun{}, fmt.Errorf("%s: no samples file %s beside it: only results of bench --shard can be merged", path, sp)
	}
	if err != nil {
		return load.ShardRun{}, err
	}
	return load.ShardRun{Name: path, Result: res, Samples: s}, nil
}

func runMerge(g *globals, o *mergeOptions) int {
	fail := func(err error) int {
		fmt.Fprintf(g.stderr, "llmprobe merge: %v\n", err)
		return exitError
	}
	paths, err := resultPaths(o.results, o.resultFile)
	if err != nil {
		return fail(err)
	}
	var parts []load.ShardRun
	for _, p := range paths {
		sr, err := readShard(p)
		if err != nil {
			return fail(err)
		}
		parts = append(parts, sr)
	}
	m, err := load.MergeShards(parts)
	if err != nil {
		return fail(err)
	}
	res := m.Result
	b, _ := json.MarshalIndent(res, "", "  ")
	b = append(b, '\n')
	if o.resultFile != "" {
		if err := writeFileAtomic(o.resultFile, b); err != nil {
			return fail(err)
		}
	}
	if o.timelineFile != "" {
		if err := writeTimeline(o.timelineFile, m.Entries); err != nil {
			return fail(fmt.Errorf("timeline: %w", err))
		}
	}
	skew := time.Duration(0)
	for _, s := range m.StartSkew {
		skew = max(skew, s)
	}
	fmt.Fprintf(g.stderr, "llmprobe merge: %d shards, %d requests; the shards' steps started within %s of each other\n",
		m.Shards, res.Summary.Requests+res.Summary.Dropped, skew.Round(time.Microsecond))
	for _, n := range m.Notes {
		fmt.Fprintf(g.stderr, "llmprobe merge: %s\n", n)
	}
	if o.resultFile != "" {
		fmt.Fprintf(g.stderr, "llmprobe merge: merged result in %s\n", o.resultFile)
	}
	if o.jsonOut {
		_, _ = g.stdout.Write(b)
	} else {
		printResult(g.stdout, res)
	}
	if res.Summary.Successful == 0 {
		fmt.Fprintf(g.stderr, "llmprobe merge: no request succeeded%s\n", firstFailure(&res.Summary))
		return exitError // as bench: nothing served is a failed run
	}
	return exitOK
}

// writeTimeline writes entries as bench's timeline file, atomically.
func writeTimeline(path string, entries []*load.Entry) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	sink := load.NewJSONLSink(f)
	for _, e := range entries {
		if err = sink.WriteEntry(e); err != nil {
			break
		}
	}
	if err == nil {
		err = sink.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
	return err
}
