package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/llmprobe/llmprobe/compat"
	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/probe"
)

// bench --shard I/N and --start-at: one run's load from N processes or
// pods (load/shard.go), each writing its result and its samples for
// llmprobe merge (mergecmd.go).

func init() { registerBenchFlags(addShardFlags) }

// jobIndexEnv is where a Kubernetes Indexed Job puts a pod's index.
const jobIndexEnv = "JOB_COMPLETION_INDEX"

type shardFlags struct {
	shard, startAt string
	now            func() time.Time // tests
}

func addShardFlags(flag func(group, name, help string) *kingpin.FlagClause) benchApply {
	f := &shardFlags{now: time.Now}
	flag(groupLoad, "shard", "I/N: run shard I of N of this load, one process (or pod) each, so that N machines send it together: the shard sends every N-th arrival of the run's schedule from the I-th (drawn from --seed alike by all) and its share of the users and of a closed loop's --num-requests; auto/N takes I from $"+jobIndexEnv+" (a Kubernetes Indexed Job). Needs --start-at and --result-file (a directory: shard-I-of-N.json in it); the samples go beside the result; llmprobe merge combines the shards' results.").PlaceHolder("I/N").StringVar(&f.shard)
	flag(groupLoad, "start-at", "Start the run at this wall-clock time, an RFC 3339 time (2026-05-04T12:00:00Z) or next-minute (the next whole minute), after the setup: give every shard of a run the same (they must start together; a shard up more than a second late starts on its own and llmprobe merge refuses it).").PlaceHolder("TIME").StringVar(&f.startAt)
	return f.apply
}

// parseStartAt reads --start-at.
func (f *shardFlags) parseStartAt() (time.Time, error) {
	now := f.now()
	if f.startAt == "next-minute" {
		return now.Truncate(time.Minute).Add(time.Minute), nil
	}
	t, err := time.Parse(time.RFC3339Nano, f.startAt)
	if err != nil {
		return time.Time{}, fmt.Errorf("--start-at: %q is neither an RFC 3339 time (2026-05-04T12:00:00Z) nor next-minute", f.startAt)
	}
	if !t.After(now) {
		return time.Time{}, fmt.Errorf("--start-at %s has passed (it is %s)", f.startAt, now.UTC().Format(time.RFC3339))
	}
	return t, nil
}

// parseShard reads --shard, I from $JOB_COMPLETION_INDEX for auto/N.
func parseShard(s string) (config.Shard, error) {
	if n, ok := strings.CutPrefix(s, "auto/"); ok {
		idx, set := os.LookupEnv(jobIndexEnv)
		if !set {
			return config.Shard{}, fmt.Errorf("--shard %s: $%s is not set (it is in the pods of a Kubernetes Indexed Job); give I/N", s, jobIndexEnv)
		}
		if _, err := strconv.Atoi(idx); err != nil {
			return config.Shard{}, fmt.Errorf("--shard %s: $%s is %q, not an index", s, jobIndexEnv, idx)
		}
		s = idx + "/" + n
	}
	sh, err := config.ParseShard(s)
	if err != nil {
		return sh, fmt.Errorf("--%w", err)
	}
	return sh, nil
}

func (f *shardFlags) apply(o *benchOptions, lo *load.Options, _ *probe.Endpoint, w *config.Workload) error {
	var start time.Time
	if f.startAt != "" {
		t, err := f.parseStartAt()
		if err != nil {
			return err
		}
		start, lo.StartAt = t, t
	}
	if f.shard == "" {
		return nil
	}
	sh, err := parseShard(f.shard)
	if err != nil {
		return err
	}
	var errs []error
	if start.IsZero() {
		errs = append(errs, errors.New("--shard needs --start-at: the shards of a run start together (an RFC 3339 time, or next-minute)"))
	}
	if o.resultFile == "" {
		errs = append(errs, errors.New("--shard needs --result-file: each shard saves its result and its samples for llmprobe merge (stress does not take --shard)"))
	}
	if w.Conversation != nil || w.SharedPrefix != nil {
		errs = append(errs, errors.New("--shard: conversation and shared-prefix workloads are not split across shards"))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// A directory (the shards' shared volume) gets one file per shard.
	if st, err := os.Stat(o.resultFile); strings.HasSuffix(o.resultFile, "/") || (err == nil && st.IsDir()) {
		o.resultFile = filepath.Join(o.resultFile, fmt.Sprintf("shard-%d-of-%d.json", sh.Index, sh.Count))
		if o.extras != nil && o.extras.ownPath != "" {
			// another tool's result there, llmprobe's beside it (as resolveOutputs names it)
			o.extras.ownPath = compat.Path(o.resultFile, compat.LLMProbe+"-result")
		}
	}
	own := o.ownResultFile() // llmprobe's own result, the one merge reads
	lo.Shard = load.Shard{Index: sh.Index, Count: sh.Count}
	lo.Samples = load.NewSamplesFile(load.SamplesPath(own), lo.Shard)
	if o.extras != nil {
		o.extras.notes = append(o.extras.notes, fmt.Sprintf("shard %s: from %s, every %s arrival of the run's schedule from the %s (or its share of the users); samples in %s, for llmprobe merge",
			sh, start.UTC().Format(time.RFC3339Nano), ordinal(sh.Count), ordinal(sh.Index+1), load.SamplesPath(own)))
	}
	return nil
}

// ordinal writes n as "1st", "2nd", "3rd", "4th"...
func ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return strconv.Itoa(n) + suffix
}
