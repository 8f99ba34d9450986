package main

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/llmprobe/llmprobe/archive"
	"github.com/llmprobe/llmprobe/collector"
	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/daemon"
)

// Exit codes: 2 for a config that does not validate, as check-config's
// callers (CI jobs, pre-reload hooks) expect.
const (
	exitOK     = 0
	exitError  = 1
	exitConfig = 2
)

const defaultListen = ":9750"

// globals are the flags every command shares.
type globals struct {
	log     *promslog.Config
	web     *web.FlagConfig
	metrics string
	gpu     bool
	grace   time.Duration
	// gpuEvery is the soaks' GPU sampling interval.
	gpuEvery time.Duration
	// unauthWrites allows write endpoints without authentication.
	unauthWrites bool
	stdout       io.Writer
	stderr       io.Writer
	sigs         chan os.Signal // nil: the real signals
}

func run(args []string) int {
	return runWith(args, os.Stdout, os.Stderr, nil)
}

// runWith is run with its outputs and signals injectable for tests.
func runWith(args []string, stdout, stderr io.Writer, sigs chan os.Signal) int {
	app := kingpin.New("llmprobe", "Prometheus-native prober and load tester for OpenAI-compatible model servers.")
	app.Version(version.Print("llmprobe"))
	app.HelpFlag.Short('h')
	app.UsageWriter(stderr)
	app.ErrorWriter(stderr)
	// kingpin calls terminate after --help or --version; parsing goes on
	// afterwards, so remember it and stop there.
	terminated := false
	app.Terminate(func(int) { terminated = true })

	g := &globals{log: &promslog.Config{}, stdout: stdout, stderr: stderr, sigs: sigs}
	promslogflag.AddFlags(app, g.log)
	g.web = kingpinflag.AddFlags(app, defaultListen)
	app.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").StringVar(&g.metrics)
	app.Flag("collector.gpu", "Export NVML GPU metrics (--no-collector.gpu to disable).").Default("true").BoolVar(&g.gpu)
	app.Flag("web.enable-unauthenticated-writes", "Allow write endpoints (/-/reload, starting soaks) without authentication in --web.config.file.").Default("false").BoolVar(&g.unauthWrites)
	app.Flag("soak.gpu-sample-interval", "How often soaks sample GPU utilization and VRAM into their results (0 disables).").Default("1s").DurationVar(&g.gpuEvery)
	app.Flag("shutdown.grace", "How long running probes may finish after SIGTERM before they are canceled.").Default("10s").DurationVar(&g.grace)

	daemonCmd := app.Command("run", "Run the daemon: scheduled probes, /metrics (the default command).").Default()
	configFile := daemonCmd.Flag("config.file", "llmprobe configuration file.").Default("llmprobe.yaml").String()

	demoCmd := app.Command("demo", "Run the daemon against a built-in simulated model server (no GPU, no model needed).")
	demoOpts := addDemoFlags(demoCmd)

	simCmd := app.Command("sim", "Run only the simulated OpenAI-compatible model server.")
	simOpts := addSimFlags(simCmd)

	benchCmd := app.Command("bench", "Run one load test from the shell (rate, throughput or sweep) and print a Serving Benchmark Result.")
	benchOpts := addBenchFlags(benchCmd)

	checkCmd := app.Command("check-config", "Validate config files; print every problem with file, line and field.")
	checkFiles := checkCmd.Arg("file", "Config files to check.").Required().ExistingFiles()

	cmd, err := app.Parse(args)
	if terminated {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "llmprobe: %v (try --help)\n", err)
		return exitError
	}
	g.log.Writer = stderr
	logger := promslog.New(g.log)

	switch cmd {
	case checkCmd.FullCommand():
		return checkConfig(*checkFiles, stdout, stderr)
	case simCmd.FullCommand():
		return runSim(logger, g, simOpts)
	case benchCmd.FullCommand():
		return runBench(logger, g, benchOpts)
	case demoCmd.FullCommand():
		return runDemo(logger, g, demoOpts)
	default:
		cfg, err := config.LoadFile(*configFile)
		if err != nil {
			printConfigError(stderr, err)
			return exitConfig
		}
		return serve(logger, g, cfg, func() (*config.Config, error) { return config.LoadFile(*configFile) })
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

// reloadMetrics follows Prometheus's own convention for config reloads.
type reloadMetrics struct {
	ok, at prometheus.Gauge
}

func newReloadMetrics(reg prometheus.Registerer) *reloadMetrics {
	m := &reloadMetrics{
		ok: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "llmprobe_config_last_reload_successful",
			Help: "Whether the last configuration reload attempt was successful.",
		}),
		at: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "llmprobe_config_last_reload_success_timestamp_seconds",
			Help: "Timestamp of the last successful configuration reload.",
		}),
	}
	reg.MustRegister(m.ok, m.at)
	return m
}

func (m *reloadMetrics) set(ok bool) {
	if ok {
		m.ok.Set(1)
		m.at.SetToCurrentTime()
	} else {
		m.ok.Set(0)
	}
}

func newWriteGuard(g *globals) (writeGuard, error) {
	if g.unauthWrites {
		return writeGuard{allowed: true}, nil
	}
	protected, err := writesProtected(*g.web.WebConfigFile)
	if err != nil {
		return writeGuard{}, err
	}
	return writeGuard{allowed: protected, reason: "write endpoints are disabled: put them behind authentication " +
		"(basic_auth_users or required client certificates in --web.config.file) or pass --web.enable-unauthenticated-writes"}, nil
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
	metrics := collector.New(reg, sloThresholds(cfg))
	reloads := newReloadMetrics(reg)
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
	reloads.set(true)

	rl := &reloader{load: load, apply: []func(*config.Config) error{d.Apply, soaks.Apply}, metrics: reloads, logger: logger}
	guard, err := newWriteGuard(g)
	if err != nil {
		logger.Error("cannot read the web config", "err", err)
		return exitConfig
	}

	mux := http.NewServeMux()
	mux.Handle(g.metrics, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelError),
		EnableOpenMetrics: true,
		Registry:          reg,
	}))
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "Healthy") })
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "Ready") })
	mux.HandleFunc("/-/reload", guard.wrap(rl.handler))
	mux.Handle("/api/v1/status", statusHandler(d))
	mux.Handle("/probe", probeHandler(d, logger))
	soaks.Register(mux, guard.wrap)
	mux.Handle("/", statusPageHandler(d, g.metrics, func() template.HTML { return soakSectionHTML(soaks, arch) }))

	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
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
				_ = rl.reload()
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
