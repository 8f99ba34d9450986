package cli

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/sim"
)

//go:embed demo.yaml
var demoConfig []byte

type demoOptions struct {
	simListen string
	dataDir   string
	sim       sim.Config
}

func addDemoFlags(cmd *kingpin.CmdClause) *demoOptions {
	o := &demoOptions{}
	cmd.Flag("sim.listen", "Address of the built-in simulated model server.").Default("127.0.0.1:0").StringVar(&o.simListen)
	cmd.Flag("sim.ttft", "Simulated time to first token.").Default("100ms").DurationVar(&o.sim.TTFT)
	cmd.Flag("sim.itl", "Simulated inter-token latency.").Default("10ms").DurationVar(&o.sim.ITL)
	cmd.Flag("sim.jitter", "Relative standard deviation of simulated latencies.").Default("0.1").Float64Var(&o.sim.Jitter)
	cmd.Flag("sim.max-concurrency", "Sequences the simulator decodes at once; more wait in its queue.").Default("16").IntVar(&o.sim.MaxConcurrency)
	cmd.Flag("data-dir", "Where the demo archives soak runs (default: a new temporary directory).").StringVar(&o.dataDir)
	cmd.Flag("sim.fault.http-500", "Share of simulated requests that fail with 500.").Default("0.02").Float64Var(&o.sim.Faults.HTTP500)
	return o
}

// demoConfigFor returns the embedded demo config pointing at simURL (the
// simulator with faults) and capURL (the one without, for the stress
// procedure) and archiving runs under dataDir.
func demoConfigFor(simURL, capURL, dataDir string) (*config.Config, error) {
	b := bytes.ReplaceAll(demoConfig, []byte("SIM_URL"), []byte(simURL))
	b = bytes.ReplaceAll(b, []byte("CAP_URL"), []byte(capURL))
	b = bytes.ReplaceAll(b, []byte("DATA_DIR"), []byte(strconv.Quote(dataDir)))
	return config.Load(b, "demo.yaml")
}

func runDemo(logger *slog.Logger, g *globals, o *demoOptions) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o.sim.Seed = time.Now().UnixNano()
	_, addr, err := sim.Listen(ctx, o.simListen, o.sim)
	if err != nil {
		logger.Error("cannot start the simulated model server", "err", err)
		return exitError
	}
	simURL := "http://" + addr.String()
	// The stress procedure gets a simulator of its own without the faults:
	// its sanity check expects no errors, and a server failing 2 % of its
	// requests at random would fail it, or blur its knee, one run in ten.
	clean := o.sim
	clean.Faults = sim.Faults{}
	clean.Seed++
	_, capAddr, err := sim.Listen(ctx, "127.0.0.1:0", clean)
	if err != nil {
		logger.Error("cannot start the simulated model server", "err", err)
		return exitError
	}
	capURL := "http://" + capAddr.String()
	if o.dataDir == "" {
		dir, err := os.MkdirTemp("", "llmprobe-demo-")
		if err != nil {
			logger.Error("cannot create the demo's data directory", "err", err)
			return exitError
		}
		defer os.RemoveAll(dir)
		o.dataDir = dir
	}
	cfg, err := demoConfigFor(simURL, capURL, o.dataDir)
	if err != nil {
		printConfigError(g.stderr, err)
		return exitError
	}
	listen := (*g.web.WebListenAddresses)[0]
	host := listen
	if strings.HasPrefix(host, ":") {
		host = "localhost" + host
	}
	fmt.Fprintf(g.stdout, "llmprobe demo: simulated model server at %s\n", simURL)
	fmt.Fprintf(g.stdout, "llmprobe demo: metrics at http://%s%s (probes every 5s; Ctrl-C stops)\n", host, g.metrics)
	fmt.Fprintf(g.stdout, "llmprobe demo: status page at http://%s/ (a capacity sweep runs every 5 minutes; runs archived in %s)\n", host, o.dataDir)
	return serve(logger, g, cfg, func() (*config.Config, error) { return demoConfigFor(simURL, capURL, o.dataDir) })
}
