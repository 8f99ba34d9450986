package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	texttemplate "text/template"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/llmprobe/llmprobe/archive"
	"github.com/llmprobe/llmprobe/collector"
	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/daemon"
	webui "github.com/llmprobe/llmprobe/web"
)

// Exit codes: 2 for a config that does not validate, as check-config's
// callers (CI jobs, pre-reload hooks) expect.
const (
	exitOK     = 0
	exitError  = 1
	exitConfig = 2
)

const defaultListen = ":9750"

// globals are what the commands share: the daemon's flags (run and demo
// have them, see addDaemonFlags), the log flags (run, demo, sim) and the
// outputs.
type globals struct {
	daemonFlags
	stdout io.Writer
	stderr io.Writer
	sigs   chan os.Signal // nil: the real signals
}

// daemonFlags are the flags of the commands that run the daemon (run,
// demo). They used to be the application's, so every command's help
// listed them; each command now has the flags it uses.
type daemonFlags struct {
	log     *promslog.Config
	web     *web.FlagConfig
	metrics string
	gpu     bool
	grace   time.Duration
	// gpuEvery is the soaks' GPU sampling interval.
	gpuEvery time.Duration
	// unauthWrites allows write endpoints without authentication.
	unauthWrites bool
	// timeoutOffset is taken off Prometheus's scrape timeout for /probe.
	timeoutOffset time.Duration
	// shard (--shard I/N) keeps the targets whose name hashes to I.
	shard config.Shard
}

// addLogFlags adds promslog's --log.level and --log.format to a command
// (promslogflag.AddFlags only takes the application).
func addLogFlags(cmd *kingpin.CmdClause, c *promslog.Config) {
	c.Level = promslog.NewLevel()
	cmd.Flag(promslogflag.LevelFlagName, promslogflag.LevelFlagHelp).Default("info").HintOptions(promslog.LevelFlagOptions...).SetValue(c.Level)
	c.Format = promslog.NewFormat()
	cmd.Flag(promslogflag.FormatFlagName, promslogflag.FormatFlagHelp).Default("logfmt").HintOptions(promslog.FormatFlagOptions...).SetValue(c.Format)
}

func addDaemonFlags(cmd *kingpin.CmdClause) *daemonFlags {
	d := &daemonFlags{log: &promslog.Config{}}
	addLogFlags(cmd, d.log)
	d.web = kingpinflag.AddFlags(cmd, defaultListen)
	cmd.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").StringVar(&d.metrics)
	cmd.Flag("collector.gpu", "Export NVML GPU metrics (--no-collector.gpu to disable).").Default("true").BoolVar(&d.gpu)
	cmd.Flag("web.enable-unauthenticated-writes", "Allow write endpoints (/-/reload, starting soaks) without authentication in --web.config.file.").Default("false").BoolVar(&d.unauthWrites)
	cmd.Flag("soak.gpu-sample-interval", "How often soaks sample GPU utilization and VRAM into their results (0 disables).").Default("1s").DurationVar(&d.gpuEvery)
	cmd.Flag("timeout-offset", "Offset to subtract from Prometheus's scrape timeout for /probe (blackbox_exporter's flag).").Default(webui.DefaultTimeoutOffset.String()).DurationVar(&d.timeoutOffset)
	cmd.Flag("shutdown.grace", "How long running probes may finish after SIGTERM before they are canceled.").Default("10s").DurationVar(&d.grace)
	cmd.Flag("shard", "I/N: keep only the targets whose name hashes to I (Prometheus' hashmod of the name, modulo N), so that N daemons over one config split its targets; probes and soaks keep this shard's targets and are dropped when none is left. Applied again at every reload.").PlaceHolder("I/N").SetValue(&d.shard)
	return d
}

func (g *globals) useDaemonFlags(d *daemonFlags) { g.daemonFlags = *d }

// Run runs llmprobe with its command-line arguments and returns its exit
// status.
func Run(args []string) int {
	return runWith(args, os.Stdout, os.Stderr, nil)
}

// newApp builds the command line: the application and its commands.
type cliApp struct {
	app                        *kingpin.Application
	daemonCmd, demoCmd, simCmd *kingpin.CmdClause
	benchCmd, checkCmd         *kingpin.CmdClause
	runFlags, demoFlags        *daemonFlags
	simLog                     *promslog.Config
	configFile                 *string
	demoOpts                   *demoOptions
	simOpts                    *simOptions
	benchOpts                  *benchOptions
	checkFiles                 *[]string
	// more holds the commands registered in their own files (stress,
	// report), by full command name.
	more map[string]func(*slog.Logger, *globals) int
}

// command is a command that registers itself from its own file (as
// node_exporter's collectors do), so adding one touches no shared code: it
// adds its flags to cmd and returns what runs it.
type command struct {
	name, help string
	add        func(cmd *kingpin.CmdClause) func(*slog.Logger, *globals) int
}

var commands []command

// register adds a command; called from init functions.
func register(c command) { commands = append(commands, c) }

func newApp(stderr io.Writer) *cliApp {
	c := &cliApp{}
	app := kingpin.New("llmprobe", "Prometheus-native prober and load tester for OpenAI-compatible model servers.")
	c.app = app
	app.Version(version.Print("llmprobe"))
	app.HelpFlag.Short('h')
	app.UsageWriter(stderr)
	app.ErrorWriter(stderr)

	c.daemonCmd = app.Command("run", "Run the daemon: scheduled probes, /metrics (the default command).").Default()
	c.configFile = c.daemonCmd.Flag("config.file", "llmprobe configuration file.").Default("llmprobe.yaml").String()
	c.runFlags = addDaemonFlags(c.daemonCmd)

	c.demoCmd = app.Command("demo", "Run the daemon against a built-in simulated model server (no GPU, no model needed).")
	c.demoOpts = addDemoFlags(c.demoCmd)
	c.demoFlags = addDaemonFlags(c.demoCmd)

	c.simCmd = app.Command("sim", "Run only the simulated OpenAI-compatible model server.")
	c.simOpts = addSimFlags(c.simCmd)
	c.simLog = &promslog.Config{}
	addLogFlags(c.simCmd, c.simLog)

	c.benchCmd = app.Command("bench", "Run one load test from the shell (rate, throughput or sweep) and print a Serving Benchmark Result. Takes the flags of vLLM bench serve, GPUStack benchmark_serving.py and inference-benchmarker too: those marked [tool] have that tool's meaning, and using them applies its defaults.")
	c.benchOpts = addBenchFlags(c.benchCmd)

	c.checkCmd = app.Command("check-config", "Validate config files; print every problem with file, line and field.")
	c.checkFiles = c.checkCmd.Arg("file", "Config files to check.").Required().ExistingFiles()

	c.more = map[string]func(*slog.Logger, *globals) int{}
	for _, m := range commands {
		cmd := app.Command(m.name, m.help)
		c.more[cmd.FullCommand()] = m.add(cmd)
	}

	app.UsageTemplate(usageTemplate)
	app.UsageFuncs(texttemplate.FuncMap{"BenchFlagGroups": benchFlagGroups(c.benchOpts.groups)})
	return c
}

// runWith is run with its outputs and signals injectable for tests.
func runWith(args []string, stdout, stderr io.Writer, sigs chan os.Signal) int {
	c := newApp(stderr)
	app := c.app
	// kingpin calls terminate after --help or --version; parsing goes on
	// afterwards, so remember it and stop there.
	terminated := false
	app.Terminate(func(int) { terminated = true })

	g := &globals{daemonFlags: daemonFlags{log: &promslog.Config{}}, stdout: stdout, stderr: stderr, sigs: sigs}
	cmd, err := app.Parse(prepareArgs(app, args))
	if terminated {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "llmprobe: %v (try --help)\n", err)
		return exitError
	}
	switch cmd {
	case c.daemonCmd.FullCommand():
		g.useDaemonFlags(c.runFlags)
	case c.demoCmd.FullCommand():
		g.useDaemonFlags(c.demoFlags)
	case c.simCmd.FullCommand():
		g.log = c.simLog
	}
	g.log.Writer = stderr
	logger := promslog.New(g.log)

	switch cmd {
	case c.checkCmd.FullCommand():
		return checkConfig(*c.checkFiles, stdout, stderr)
	case c.simCmd.FullCommand():
		return runSim(logger, g, c.simOpts)
	case c.benchCmd.FullCommand():
		return runBench(logger, g, c.benchOpts)
	case c.demoCmd.FullCommand():
		return runDemo(logger, g, c.demoOpts)
	}
	if run, ok := c.more[cmd]; ok {
		return run(logger, g)
	}
	cfg, err := config.LoadFile(*c.configFile)
	if err != nil {
		printConfigError(stderr, err)
		return exitConfig
	}
	return serve(logger, g, cfg, func() (*config.Config, error) { return config.LoadFile(*c.configFile) })
}

// prepareArgs adapts a command line to kingpin: flags written before the
// command name go after it (they were application flags before each
// command had its own: "llmprobe --log.level=debug run"), and vLLM's
// "--goodput ttft:500 tpot:50" (argparse nargs) becomes one --goodput per
// objective.
func prepareArgs(app *kingpin.Application, args []string) []string {
	m := app.Model()
	cmds := map[string]bool{}
	takesValue := map[string]bool{}
	for _, f := range m.Flags {
		takesValue[f.Name] = !f.IsBoolFlag()
	}
	for _, c := range m.Commands {
		cmds[c.Name] = true
		for _, f := range c.Flags {
			takesValue[f.Name] = takesValue[f.Name] || !f.IsBoolFlag()
		}
	}
	out := args
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") {
			if i > 0 && cmds[a] {
				out = append(append([]string{a}, args[:i]...), args[i+1:]...)
			}
			break
		}
		if strings.HasPrefix(a, "--") && !strings.Contains(a, "=") && takesValue[a[2:]] {
			i++ // its value
		}
	}
	if len(out) == 0 || (out[0] != "bench" && out[0] != "stress") { // stress takes bench's flags
		return out
	}
	res := make([]string, 0, len(out))
	for i := 0; i < len(out); i++ {
		res = append(res, out[i])
		if out[i] == "--" {
			return append(res, out[i+1:]...)
		}
		if out[i] != "--goodput" && !strings.HasPrefix(out[i], "--goodput=") {
			continue
		}
		if out[i] == "--goodput" && i+1 < len(out) {
			i++
			res = append(res, out[i])
		}
		for i+1 < len(out) && goodputItem(out[i+1]) {
			i++
			res = append(res, "--goodput", out[i])
		}
	}
	return res
}

// goodputItem reports whether s is a "key:milliseconds" objective.
func goodputItem(s string) bool {
	k, v, ok := strings.Cut(s, ":")
	if !ok || k == "" || strings.HasPrefix(s, "-") {
		return false
	}
	_, err := strconv.ParseFloat(v, 64)
	return err == nil
}

// kingpin has no flag groups: bench's help lists its flags in groups
// through this template, kingpin's default with the flags section replaced
// for bench.
const (
	kingpinFlagsSection = "{{if .Context.Flags -}}\nFlags:\n{{.Context.Flags|FlagsToTwoColumns|FormatTwoColumns}}\n{{end -}}\n"
	groupedFlagsSection = `{{if and .Context.SelectedCommand (eq .Context.SelectedCommand.FullCommand "bench") -}}
{{range BenchFlagGroups .Context.Flags -}}
{{.Title}} flags:
{{.Flags|FlagsToTwoColumns|FormatTwoColumns}}
{{end -}}
{{else if .Context.Flags -}}
Flags:
{{.Context.Flags|FlagsToTwoColumns|FormatTwoColumns}}
{{end -}}
`
)

var usageTemplate = func() string {
	if !strings.Contains(kingpin.DefaultUsageTemplate, kingpinFlagsSection) {
		panic("kingpin's usage template changed: update kingpinFlagsSection")
	}
	return strings.Replace(kingpin.DefaultUsageTemplate, kingpinFlagsSection, groupedFlagsSection, 1)
}()

// flagGroup is one group of bench's help.
type flagGroup struct {
	Title string
	Flags []*kingpin.FlagModel
}

// benchFlagGroups returns the template function that sorts flags into
// bench's groups, in their order; flags of no group (--help, --version)
// come last.
func benchFlagGroups(groups map[string]string) func([]*kingpin.FlagModel) []flagGroup {
	return func(flags []*kingpin.FlagModel) []flagGroup {
		out := []flagGroup{{Title: groupTarget}, {Title: groupLoad}, {Title: groupWorkload}, {Title: groupOutput}, {Title: "Other"}}
		for _, f := range flags {
			i := slices.IndexFunc(out, func(g flagGroup) bool { return g.Title == groups[f.Name] })
			if i < 0 {
				i = len(out) - 1
			}
			out[i].Flags = append(out[i].Flags, f)
		}
		return slices.DeleteFunc(out, func(g flagGroup) bool { return len(g.Flags) == 0 })
	}
}

// printConfigError prints every problem of a config on its own line.
func printConfigError(w io.Writer, err error) {
	var errs config.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			fmt.Fprintln(w, e.Error())
		}
		return
	}
	fmt.Fprintln(w, err)
}

func checkConfig(files []string, stdout, stderr io.Writer) int {
	code := exitOK
	for _, f := range files {
		cfg, err := config.LoadFile(f)
		if err != nil {
			printConfigError(stderr, err)
			code = exitConfig
			continue
		}
		fmt.Fprintf(stdout, "%s: OK: %d targets, %d workloads, %d probes, %d soaks\n",
			f, len(cfg.Targets), len(cfg.Workloads), len(cfg.Probes), len(cfg.Soaks))
	}
	return code
}

// sloThresholds collects every latency objective of a config, so that they
// become classic bucket boundaries.
func sloThresholds(cfg *config.Config) collector.Options {
	var o collector.Options
	add := func(s config.SLO) {
		if s.TTFT > 0 {
			o.TTFTThresholds = append(o.TTFTThresholds, time.Duration(s.TTFT).Seconds())
		}
		if s.ITL > 0 {
			o.ITLThresholds = append(o.ITLThresholds, time.Duration(s.ITL).Seconds())
		}
		if s.TPOT > 0 {
			o.ITLThresholds = append(o.ITLThresholds, time.Duration(s.TPOT).Seconds())
		}
		if s.E2E > 0 {
			o.E2EThresholds = append(o.E2EThresholds, time.Duration(s.E2E).Seconds())
		}
	}
	for _, p := range cfg.Probes {
		add(p.SLO)
	}
	for _, s := range cfg.Soaks {
		add(s.SLO)
	}
	return o
}

// serve runs the daemon until SIGTERM/SIGINT; SIGHUP reloads via load.
func serve(logger *slog.Logger, g *globals, cfg *config.Config, load func() (*config.Config, error)) int {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		versioncollector.NewCollector("llmprobe"),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	// Bucket boundaries from the whole config, so that every shard's
	// histograms have the same ones.
	metrics := collector.New(reg, sloThresholds(cfg))
	reloads := collector.NewReloadMetrics(reg)
	cfg, load = forShard(logger, g.shard, cfg, load)
	gpuCollector := registerGPU(reg, logger, g.gpu)

	d := daemon.New(logger, metrics, time.Duration(cfg.Global.ProbeJitter))
	if err := d.Apply(cfg); err != nil {
		logger.Error("cannot start probes", "err", err)
		return exitConfig
	}
	arch, err := archive.Open(cfg.Global.DataDir, archive.Retention{})
	if err != nil {
		logger.Error("cannot open the data directory", "err", err)
		return exitConfig
	}
	soaks, err := daemon.NewSoaks(logger, metrics, collector.NewSoakMetrics(reg), arch, cfg)
	if err != nil {
		logger.Error("cannot start soaks", "err", err)
		return exitConfig
	}
	if gpuCollector != nil && g.gpuEvery > 0 {
		soaks.SetGPU(gpuCollector, g.gpuEvery)
	}
	verdicts := collector.NewVerdicts(reg)
	watch := daemon.NewServerWatch(logger, collector.NewServerMetrics(reg), verdicts)
	d.SetServerWatch(watch)
	prefixCache := collector.NewPrefixCacheMetrics(reg)
	d.SetPrefixCacheMetrics(prefixCache)
	soaks.SetPrefixCacheMetrics(prefixCache)
	soaks.SetServerWatch(watch)
	soaks.SetProcedureSink(&daemon.ProcedureSink{Figures: collector.NewProcedureMetrics(reg), Verdicts: verdicts})
	reloads.Set(true)

	rl := daemon.NewReloader(logger, reloads, load, d.Apply, soaks.Apply)
	guard, err := webui.NewGuard(*g.web.WebConfigFile, g.unauthWrites)
	if err != nil {
		logger.Error("cannot read the web config", "err", err)
		return exitConfig
	}

	handler := webui.New(webui.Options{
		Logger: logger, Gatherer: reg, MetricsPath: g.metrics,
		Daemon: d, Soaks: soaks, Archive: arch, Reloader: rl, Guard: guard,
		TimeoutOffset: g.timeoutOffset, Shard: g.shard.String(),
	})
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	srvErr := make(chan error, 1)
	go func() { srvErr <- web.ListenAndServe(srv, g.web, logger) }()

	sigs := g.sigs
	if sigs == nil {
		sigs = make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
		defer signal.Stop(sigs)
	}
	logger.Info("llmprobe started", "version", version.Info(), "probes", len(cfg.Probes), "targets", len(cfg.Targets))
	for {
		select {
		case err := <-srvErr:
			if !errors.Is(err, http.ErrServerClosed) {
				logger.Error("web server failed", "err", err)
				soaks.Stop(0)
				d.Stop(0)
				return exitError
			}
		case s := <-sigs:
			if s == syscall.SIGHUP {
				_ = rl.Reload()
				continue
			}
			logger.Info("shutting down", "signal", s.String(), "grace", g.grace)
			soaksDone := make(chan struct{})
			go func() { soaks.Stop(g.grace); close(soaksDone) }()
			d.Stop(g.grace)
			<-soaksDone
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = srv.Shutdown(ctx)
			cancel()
			return exitOK
		}
	}
}

// forShard applies --shard to the config and to each one a reload loads,
// logging once per config what this shard leaves to the others.
func forShard(logger *slog.Logger, sh config.Shard, cfg *config.Config, load func() (*config.Config, error)) (*config.Config, func() (*config.Config, error)) {
	if sh.Count == 0 {
		return cfg, load
	}
	apply := func(c *config.Config) (*config.Config, error) {
		out, rep, err := c.ForShard(sh)
		if err != nil {
			return nil, err
		}
		level := slog.LevelInfo
		if len(rep.Kept) == 0 {
			level = slog.LevelWarn // a daemon with nothing to probe is probably misconfigured
		}
		logger.Log(context.Background(), level, "shard: probing this shard's targets only", "shard", sh.String(),
			"targets", len(rep.Kept), "of", rep.Targets, "kept", strings.Join(rep.Kept, ","),
			"other_shards", strings.Join(rep.Others, ","), "dropped_probes", strings.Join(rep.Probes, ","),
			"dropped_soaks", strings.Join(rep.Soaks, ","))
		return out, nil
	}
	first, _ := apply(cfg) // a parsed --shard is valid: ForShard cannot fail
	return first, func() (*config.Config, error) {
		c, err := load()
		if err != nil {
			return nil, err
		}
		return apply(c)
	}
}
