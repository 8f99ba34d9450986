package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/llmprobe/llmprobe/archive"
	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/gpu"
	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/probe"
	"github.com/llmprobe/llmprobe/report"
	"github.com/llmprobe/llmprobe/servermetrics"
	"github.com/llmprobe/llmprobe/stress"
)

func init() {
	register(command{
		name: "stress",
		help: "Run the field guide's stress procedure against one server: a sanity check, a coarse ladder of users to the knee, a sweep to the detected max (stopped by the over-saturation test), fine rates at fractions of it, a concurrency validation and a long soak, each step derived from the earlier ones, with verdicts (drift, error accumulation, queue and VRAM growth). Target, workload and SLO flags are bench's; every run is archived in --data-dir with procedure.json under procedures/ID/.",
		add:  addStressCmd,
	})
}

// stressOptions are `llmprobe stress`'s flags: bench's (target, workload,
// SLO, caps, outputs of the run's progress) plus the procedure's plan.
// String flags keep "not given" apart from a zero, for --resume.
type stressOptions struct {
	bench                                                                *benchOptions
	steps                                                                []string
	resume                                                               string
	scale, sanityRate, soakFraction, maxRPS                              float64
	ladder, fractions                                                    string
	ladderMax, sweepRates                                                int
	sanityDuration, sanityWarmup, coarseDuration, sweepDuration          string
	sweepWarmup, fineDuration, validationDuration, soakDuration, driftUp string
}

func addStressCmd(cmd *kingpin.CmdClause) func(*slog.Logger, *globals) int {
	o := &stressOptions{bench: addBenchFlags(cmd)}
	d := stress.DefaultPlan()
	ints := func(v []int) string {
		s := make([]string, len(v))
		for i, x := range v {
			s[i] = strconv.Itoa(x)
		}
		return strings.Join(s, ",")
	}
	cmd.Flag("steps", fmt.Sprintf("Steps to run, comma-separated or repeated, in this order whatever the order given: %s (default: all).", strings.Join(stress.Steps, ", "))).StringsVar(&o.steps)
	cmd.Flag("scale", "Multiply every duration by this (0.01 turns the two-hour procedure into about 74 s); scaled steps last at least 5 and warmups 2 sanity-check latencies (never more than unscaled). Default 1.").Float64Var(&o.scale)
	cmd.Flag("resume", "Continue procedure ID (in --data-dir's procedures/) after its last completed step, with its own plan; the target and workload flags must be given again.").StringVar(&o.resume)
	cmd.Flag("sanity-rate", fmt.Sprintf("Requests/s of the sanity check (default %g).", d.SanityRate)).Float64Var(&o.sanityRate)
	cmd.Flag("sanity-duration", fmt.Sprintf("Measured time of the sanity check (default %s).", d.SanityDuration)).StringVar(&o.sanityDuration)
	cmd.Flag("sanity-warmup", fmt.Sprintf("Warmup before the sanity check (default %s).", d.SanityWarmup)).StringVar(&o.sanityWarmup)
	cmd.Flag("ladder", fmt.Sprintf("User counts of the coarse ladder, comma-separated, rising (default %s); doubled past its end while no knee is found, up to --ladder-max.", ints(d.Ladder))).StringVar(&o.ladder)
	cmd.Flag("ladder-max", fmt.Sprintf("Most users the ladder may reach (default %d, at most --max-in-flight).", d.LadderMax)).IntVar(&o.ladderMax)
	cmd.Flag("coarse-duration", fmt.Sprintf("Measured time of each ladder rung (default %s).", d.CoarseDuration)).StringVar(&o.coarseDuration)
	cmd.Flag("sweep-rates", fmt.Sprintf("Rate steps of the sweep (default %d).", d.SweepRates)).IntVar(&o.sweepRates)
	cmd.Flag("sweep-duration", fmt.Sprintf("Measured time of the sweep's throughput phase and of each rate (default %s).", d.SweepDuration)).StringVar(&o.sweepDuration)
	cmd.Flag("sweep-warmup", fmt.Sprintf("Warmup before the sweep (default %s).", d.SweepWarmup)).StringVar(&o.sweepWarmup)
	cmd.Flag("fractions", "Fractions of the detected max the fine step offers, comma-separated (default 0.1,0.25,0.5,0.75,0.9).").StringVar(&o.fractions)
	cmd.Flag("fine-duration", fmt.Sprintf("Measured time of each fine rate (default %s).", d.FineDuration)).StringVar(&o.fineDuration)
	cmd.Flag("validation-duration", fmt.Sprintf("Measured time of the concurrency validation at the knee's users (default %s).", d.ValidationDuration)).StringVar(&o.validationDuration)
	cmd.Flag("soak-fraction", fmt.Sprintf("Fraction of the detected max the soak offers (default %g).", d.SoakFraction)).Float64Var(&o.soakFraction)
	cmd.Flag("soak-duration", fmt.Sprintf("Measured time of the long soak (default %s; 0 leaves the soak out).", d.SoakDuration)).StringVar(&o.soakDuration)
	cmd.Flag("drift-warmup", fmt.Sprintf("Warmup before the validation and the soak, so their drift verdicts start from a steady state (default %s).", d.DriftWarmup)).StringVar(&o.driftUp)
	cmd.Flag("max-rps", "The detected max (req/s) for the fine rates and the soak when the sweep does not run (--steps without sweep), e.g. from an earlier procedure.").Float64Var(&o.maxRPS)
	return func(logger *slog.Logger, g *globals) int { return runStress(logger, g, o) }
}

// benchOnly lists bench's flags that have no meaning in the procedure,
// which chooses every run's shape itself, and what to use instead. Each
// has no default, so its zero value means it was not given.
func benchOnly(b *benchOptions) []string {
	var errs []string
	refuse := func(given bool, flag, instead string) {
		if given {
			errs = append(errs, fmt.Sprintf("--%s cannot be used with stress: %s", flag, instead))
		}
	}
	shape := "the procedure chooses each step's mode"
	refuse(b.mode != "", "mode", shape)
	refuse(b.benchmarkKind != "", "benchmark-kind", shape)
	refuse(b.profile != "", "profile", shape+"; give the profile's workload flags (--dataset-file, --prompt-options, --decode-options) instead")
	rates := "rates are derived from the detected max: --sanity-rate, --fractions, --soak-fraction (or --max-rps)"
	refuse(len(b.rates) > 0, "rates", rates)
	refuse(b.requestRate != "", "request-rate", rates)
	users := "users come from the ladder: --ladder, --ladder-max"
	refuse(b.maxVUs != 0, "max-vus", users)
	refuse(b.concurrency != 0, "concurrency", users+" (--max-in-flight caps open-loop steps)")
	refuse(b.vus != 0, "vus", users)
	refuse(b.maxConcurrency != 0, "max-concurrency", users)
	refuse(b.numRates != 0, "num-rates", "use --sweep-rates")
	timed := "the steps are timed: --sanity-duration, --coarse-duration, --sweep-duration, --fine-duration, --validation-duration, --soak-duration, and --scale"
	refuse(b.numRequests != 0, "num-requests", timed)
	refuse(b.numPrompts != 0, "num-prompts", timed)
	refuse(b.duration != "", "duration", timed)
	refuse(b.warmup != "", "warmup", "use --sanity-warmup, --sweep-warmup, --drift-warmup")
	out := "stress archives every run (result and timeline) in --data-dir and writes procedures/ID/procedure.json there"
	refuse(b.jsonOut, "json", out)
	refuse(b.resultFile != "", "result-file", out)
	refuse(len(b.resultFormats) > 0, "result-format", out)
	refuse(b.timelineFile != "", "timeline-file", out)
	refuse(b.saveResult, "save-result", out)
	refuse(b.resultDir != "", "result-dir", out)
	refuse(b.resultFilename != "", "result-filename", out)
	refuse(b.percentileMetrics != "", "percentile-metrics", out)
	refuse(b.metricPercentiles != "", "metric-percentiles", out)
	return errs
}

// plan reads the procedure's flags; given lists those that were given.
func (o *stressOptions) plan() (stress.Plan, []string, error) {
	var p stress.Plan
	var given, errs []string
	mark := func(cond bool, flag string) bool {
		if cond {
			given = append(given, "--"+flag)
		}
		return cond
	}
	fail := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	for _, s := range o.steps {
		for name := range strings.SplitSeq(s, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			if !slices.Contains(stress.Steps, name) {
				fail("--steps: unknown step %q (want %s)", name, strings.Join(stress.Steps, ", "))
				continue
			}
			p.Steps = append(p.Steps, name)
		}
	}
	mark(len(o.steps) > 0, "steps")
	if mark(o.scale != 0, "scale") {
		p.Scale = o.scale
	}
	if mark(o.sanityRate != 0, "sanity-rate") {
		p.SanityRate = o.sanityRate
	}
	if mark(o.soakFraction != 0, "soak-fraction") {
		p.SoakFraction = o.soakFraction
	}
	if mark(o.maxRPS != 0, "max-rps") {
		p.MaxRPS = o.maxRPS
	}
	if mark(o.ladderMax != 0, "ladder-max") {
		p.LadderMax = o.ladderMax
	}
	if mark(o.sweepRates != 0, "sweep-rates") {
		p.SweepRates = o.sweepRates
	}
	if mark(o.ladder != "", "ladder") {
		for f := range strings.SplitSeq(o.ladder, ",") {
			v, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || v < 1 {
				fail("--ladder: %q is not a number of users", f)
				continue
			}
			p.Ladder = append(p.Ladder, v)
		}
	}
	if mark(o.fractions != "", "fractions") {
		for f := range strings.SplitSeq(o.fractions, ",") {
			v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil || math.IsNaN(v) {
				fail("--fractions: %q is not a number", f)
				continue
			}
			p.Fractions = append(p.Fractions, v)
		}
	}
	for _, d := range []struct {
		flag string
		s    string
		v    *time.Duration
	}{
		{"sanity-duration", o.sanityDuration, &p.SanityDuration}, {"sanity-warmup", o.sanityWarmup, &p.SanityWarmup},
		{"coarse-duration", o.coarseDuration, &p.CoarseDuration}, {"sweep-duration", o.sweepDuration, &p.SweepDuration},
		{"sweep-warmup", o.sweepWarmup, &p.SweepWarmup}, {"fine-duration", o.fineDuration, &p.FineDuration},
		{"validation-duration", o.validationDuration, &p.ValidationDuration}, {"soak-duration", o.soakDuration, &p.SoakDuration},
		{"drift-warmup", o.driftUp, &p.DriftWarmup},
	} {
		if !mark(d.s != "", d.flag) {
			continue
		}
		v, err := parseDurationFlag(d.flag, d.s, 0)
		if err != nil {
			fail("%v", err)
			continue
		}
		if v == 0 && d.flag != "soak-duration" {
			fail("--%s: must be above 0", d.flag)
		}
		*d.v = v
	}
	if o.soakDuration != "" && p.SoakDuration == 0 {
		// 0 leaves the soak out (Plan's zero is its default).
		if slices.Contains(p.Steps, stress.StepSoak) {
			fail("--steps soak with --soak-duration 0: give the soak a duration or leave it out of --steps")
		}
		if len(p.Steps) == 0 {
			p.Steps = slices.Clone(stress.Steps)
		}
		p.Steps = slices.DeleteFunc(p.Steps, func(s string) bool { return s == stress.StepSoak })
	}
	if len(errs) > 0 {
		return p, given, errors.New(strings.Join(errs, "\n"))
	}
	return p, given, nil
}

func runStress(logger *slog.Logger, g *globals, o *stressOptions) int {
	fail := func(err error) int {
		fmt.Fprintf(g.stderr, "llmprobe stress: %v\n", err)
		return exitError
	}
	b := o.bench
	if errs := benchOnly(b); len(errs) > 0 {
		return fail(errors.New(strings.Join(errs, "\nllmprobe stress: ")))
	}
	plan, given, err := o.plan()
	if err != nil {
		return fail(err)
	}
	if o.resume != "" && len(given) > 0 {
		return fail(fmt.Errorf("%s cannot be used with --resume: a resumed procedure keeps its plan", strings.Join(given, ", ")))
	}
	// bench resolves the target, workload and SLO; the run's shape it
	// resolves is replaced by each step's. Giving it a plain rate shape of
	// its own keeps the other tools' load defaults (a number of requests,
	// their warmup and caps) out of it.
	b.mode, b.rates, b.duration, b.warmup = load.ModeRate, []string{"1"}, "1s", "0s"
	if b.maxInFlight == 0 {
		b.maxInFlight = load.DefaultMaxInFlight
	}
	lo, ep, w, err := benchPlan(b)
	if err != nil {
		return fail(err)
	}
	gen, err := benchGenerator(g.stderr, &w, b)
	if err != nil {
		return fail(err)
	}
	lo.Name, lo.MaxInFlight = "stress", b.maxInFlight
	page, err := b.serverScraper(ep)
	if err != nil {
		return fail(err)
	}
	client := probe.NewClient(ep)
	defer client.CloseIdle()
	if err := checkModel(client, b.url, ep.Model); err != nil {
		return fail(err)
	}
	dataDir := b.dataDir
	if dataDir == "" {
		dataDir = config.DefaultDataDir
	}
	arch, err := archive.Open(dataDir, archive.Retention{})
	if err != nil {
		return fail(err)
	}
	store := &stress.Store{Dir: dataDir}
	var prev *stress.Procedure
	if o.resume != "" {
		if prev, err = store.Load(o.resume); err != nil {
			return fail(err)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := g.sigs
	if sigs == nil {
		sigs = make(chan os.Signal, 1)
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(sigs)
	}
	go func() {
		select {
		case <-sigs:
			fmt.Fprintln(g.stderr, "\nllmprobe stress: interrupted; saving the procedure (resume it with --resume)")
			cancel()
		case <-ctx.Done():
		}
	}()
	var gc *gpu.Collector
	if b.gpuEvery > 0 {
		// Quietly: most runs are on machines without a GPU.
		gc = gpu.New(slog.New(slog.DiscardHandler), gpu.Options{})
		defer gc.Close()
	}
	cfg := stress.Config{
		Plan: plan, Base: lo, Store: store, Log: g.stderr,
		Run: stressRunner(g, b, client, gen, arch, gc, page),
		// After every step, so Ctrl-C leaves a whole partial report.
		Report: report.Write,
	}
	logger.Debug("stress starting", "target", lo.Target, "model", lo.Model, "data_dir", dataDir)
	var p *stress.Procedure
	if prev != nil {
		fmt.Fprintf(g.stderr, "llmprobe stress: resuming %s against %s (model %s)\n", prev.ID, redactURL(b.url), lo.Model)
		p, err = stress.Resume(ctx, cfg, prev)
	} else {
		pl := plan.WithDefaults()
		fmt.Fprintf(g.stderr, "llmprobe stress: %s against %s (model %s): %s of load planned, more with drains and a scaled procedure's floors%s\n",
			strings.Join(pl.Steps, ", "), redactURL(b.url), lo.Model, pl.Duration().Round(time.Second), progressHint(g, b))
		p, err = stress.Run(ctx, cfg)
	}
	if p == nil {
		return fail(err)
	}
	code := exitOK
	if err != nil {
		fmt.Fprintf(g.stderr, "llmprobe stress: %v\n", err)
		code = exitError
	}
	printProcedure(g.stdout, p, store.ProcedureDir(p.ID))
	switch {
	case p.Status == stress.StatusInterrupted:
		fmt.Fprintf(g.stderr, "llmprobe stress: resume with: llmprobe stress --resume %s --data-dir %s and the same target and workload flags\n", p.ID, dataDir)
		return exitInterrupted
	case !p.Passed:
		code = exitError
	}
	return code
}

// stressRunner runs and archives one run of a step as bench does: through
// archive.RunJob, with the live progress line, the GPU timeline and the
// server's metrics page (page; nil: none), the procedure's sink composed
// with the archive's writer.
func stressRunner(g *globals, b *benchOptions, client load.Sender, gen load.Requests, arch *archive.Archive, gc *gpu.Collector, page *servermetrics.Scraper) stress.Runner {
	return func(ctx context.Context, step string, lo load.Options) (*load.Result, string, error) {
		own := lo.Sink
		lo.Name = "stress-" + step // the archive names the run after it
		res, err := archive.RunJob(ctx, arch, &archive.Job{
			Started: time.Now(), Send: client, Requests: gen, Options: lo,
			Server: page, ServerEvery: b.metricsEvery,
			Sink: func(aw *archive.Writer) load.Sink {
				var sinks multiSink
				if aw != nil {
					sinks = append(sinks, aw)
				}
				if own != nil {
					sinks = append(sinks, own)
				}
				if len(sinks) == 0 {
					return nil
				}
				return sinks
			},
			Start: func(r *load.Runner) (load.GPUSampler, time.Duration, func()) {
				stop := startProgress(g.stderr, b.progress, r)
				if gc == nil {
					return nil, 0, stop
				}
				return gc, b.gpuEvery, stop
			},
		})
		if res == nil {
			return nil, "", err
		}
		return res, res.ID, err
	}
}

// printProcedure prints the procedure's outcome: each step, each verdict
// and the key numbers, in plain words.
func printProcedure(w io.Writer, p *stress.Procedure, dir string) {
	fmt.Fprintln(w, center(" Stress procedure ", 78, '='))
	verdict := "PASSED"
	if !p.Passed {
		verdict = "FAILED"
	}
	if p.Status == stress.StatusInterrupted {
		verdict = "INTERRUPTED"
	}
	fmt.Fprintf(w, "%s: %s against %s (model %s), %s\n", p.ID, verdict, p.Target, p.Model, p.Status)
	if p.StopReason != "" {
		fmt.Fprintf(w, "Stopped: %s\n", p.StopReason)
	}
	fmt.Fprintln(w, center(" Steps ", 78, '-'))
	for _, s := range p.Steps {
		fmt.Fprintf(w, "%-11s %-11s %s\n", s.Step, s.Status, s.Why)
	}
	ran := map[string]bool{}
	for _, s := range p.Steps {
		ran[s.Step] = true
	}
	for _, s := range p.Plan.Steps {
		if !ran[s] {
			fmt.Fprintf(w, "%-11s %-11s\n", s, "not run")
		}
	}
	if len(p.Verdicts) > 0 {
		fmt.Fprintln(w, center(" Verdicts ", 78, '-'))
		for _, v := range p.Verdicts {
			word := "ok"
			switch {
			case v.Failed:
				word = "FAILED"
			case v.Undecided:
				word = "undecided"
			case v.Name == stress.VerdictKnee || v.Name == stress.VerdictSaturation:
				word = "found"
				if v.Value == 0 {
					word = "none"
				}
			}
			fmt.Fprintf(w, "%-11s %-20s %-9s %s\n", p.Steps[v.Step].Step, v.Name, word, v.Summary)
		}
	}
	n := p.Numbers
	fmt.Fprintln(w, center(" Numbers ", 78, '-'))
	row := func(label, value string) { fmt.Fprintf(w, "%-34s %s\n", label, value) }
	orNone := func(ok bool, format string, a ...any) string {
		if !ok {
			return "-"
		}
		return fmt.Sprintf(format, a...)
	}
	row("Detected max throughput:", orNone(n.DetectedMaxRPS > 0, "%.2f req/s, %.0f output tok/s", n.DetectedMaxRPS, n.DetectedMaxTokensPerS))
	row("Knee (coarse ladder):", orNone(n.KneeFound, "%d users", n.KneeVUs))
	row("Over-saturated from (sweep):", orNone(n.SaturationRPS > 0, "%.2f req/s", n.SaturationRPS))
	row("p99 latency at the soak:", orNone(n.P99AtSoakMS > 0, "%.0f ms", n.P99AtSoakMS))
	drift := p.Outcome(stress.StepSoak)
	if drift == nil {
		drift = p.Outcome(stress.StepValidation)
	}
	row("Latency drift p50 / p99:", orNone(drift != nil && len(drift.Series) > 0, "%+.1f / %+.1f ms/min (%s)", n.P50DriftMSPerMin, n.P99DriftMSPerMin, stepName(drift)))
	row("VRAM growth:", orNone(n.VRAMGrowthPerMin != 0, "%+.1f MiB/min", n.VRAMGrowthPerMin/(1<<20)))
	row("Server memory growth:", orNone(n.ServerMemPerMin != 0, "%+.1f MiB/min", n.ServerMemPerMin/(1<<20)))
	fmt.Fprintln(w, strings.Repeat("=", 78))
	fmt.Fprintf(w, "Procedure: %s\n", filepath.Join(dir, stress.FileName))
	fmt.Fprintf(w, "Report:    %s\n", filepath.Join(dir, report.HTMLFile))
}

func stepName(o *stress.StepOutcome) string {
	if o == nil {
		return ""
	}
	return o.Step
}
