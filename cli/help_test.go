package cli

import (
	"bytes"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// helpOf returns the help a command line prints.
func helpOf(t *testing.T, args ...string) string {
	t.Helper()
	var errOut bytes.Buffer
	if code := runWith(args, io.Discard, &errOut, nil); code != exitOK {
		t.Fatalf("%q: exit %d\n%s", args, code, errOut.String())
	}
	return errOut.String()
}

var helpFlag = regexp.MustCompile(`^\s+(?:-\w, )?--(?:\[no-\])?([a-z0-9.-]+)`)

// helpSections maps each flag of a help text to the section it is listed
// in ("Target flags", "Flags", ...), and returns the sections in order.
func helpSections(help string) (map[string]string, []string) {
	where := map[string]string{}
	var order []string
	section := ""
	for _, line := range strings.Split(help, "\n") {
		if strings.HasSuffix(line, ":") && !strings.HasPrefix(line, " ") && strings.Contains(strings.ToLower(line), "flags") {
			section = strings.TrimSuffix(line, ":")
			order = append(order, section)
			continue
		}
		if m := helpFlag.FindStringSubmatch(line); m != nil && section != "" {
			where[m[1]] = section
		}
	}
	return where, order
}

var daemonFlagNames = []string{"web.listen-address", "web.config.file", "web.telemetry-path", "collector.gpu",
	"web.enable-unauthenticated-writes", "soak.gpu-sample-interval", "shutdown.grace"}

func TestBenchHelpGroupsItsFlagsOnly(t *testing.T) {
	help := helpOf(t, "bench", "--help")
	where, order := helpSections(help)
	if want := []string{"Target flags", "Load flags", "Workload flags", "Output flags", "Other flags"}; !slices.Equal(order, want) {
		t.Errorf("sections %q, want %q", order, want)
	}
	for flag, section := range map[string]string{
		"url": "Target flags", "base-url": "Target flags", "server-url": "Target flags", "endpoint": "Target flags", "model-name": "Target flags",
		"embeddings": "Target flags", "request-timeout": "Target flags",
		"mode": "Load flags", "benchmark-kind": "Load flags", "profile": "Load flags", "max-vus": "Load flags", "request-rate": "Load flags",
		"burstiness": "Load flags", "num-prompts": "Load flags", "max-concurrency": "Load flags", "goodput": "Load flags",
		"dataset-file": "Workload flags", "tokenizer-name": "Workload flags", "prompt-options": "Workload flags", "decode-options": "Workload flags",
		"max-completion-tokens": "Workload flags", "dataset-name": "Workload flags", "random-input-len": "Workload flags",
		"result-format": "Output flags", "save-result": "Output flags", "json": "Output flags", "percentile-metrics": "Output flags",
		"help": "Other flags",
	} {
		if where[flag] != section {
			t.Errorf("--%s is in %q, want %q", flag, where[flag], section)
		}
	}
	// Only bench's flags: none of the daemon's or the log's.
	for _, f := range append(slices.Clone(daemonFlagNames), "log.level", "log.format", "config.file") {
		if _, ok := where[f]; ok || strings.Contains(help, "--"+f) {
			t.Errorf("bench's help lists --%s", f)
		}
	}
	// Every bench flag is in one of its groups.
	c := newApp(io.Discard)
	for _, f := range c.benchCmd.Model().Flags {
		if g := c.benchOpts.groups[f.Name]; g == "" {
			t.Errorf("--%s has no help group", f.Name)
		} else if where[f.Name] != g+" flags" {
			t.Errorf("--%s is listed in %q, its group is %s", f.Name, where[f.Name], g)
		}
	}
	// Each other tool's flag says which tool it comes from.
	for flag, tool := range map[string]string{"base-url": toolVLLM, "server-url": toolGPUStack, "tokenizer-name": toolIB,
		"profile": toolIB, "save-result": toolVLLM, "max-completion-tokens": toolGPUStack, "no-console": toolIB} {
		re := regexp.MustCompile(`--(\[no-\])?` + regexp.QuoteMeta(flag) + `\b[^\n]*\n?\s*\[` + regexp.QuoteMeta(tool) + `\]`)
		if !re.MatchString(help) {
			t.Errorf("--%s is not marked [%s]", flag, tool)
		}
	}
}

func TestDaemonFlagsBelongToRunAndDemo(t *testing.T) {
	for _, tc := range []struct {
		cmd        string
		daemon     bool
		log        bool
		configFile bool
	}{
		{"run", true, true, true},
		{"demo", true, true, false},
		{"sim", false, true, false},
		{"check-config", false, false, false},
	} {
		where, _ := helpSections(helpOf(t, tc.cmd, "--help"))
		for _, f := range daemonFlagNames {
			if _, ok := where[f]; ok != tc.daemon {
				t.Errorf("%s --help lists --%s: %v", tc.cmd, f, ok)
			}
		}
		for _, f := range []string{"log.level", "log.format"} {
			if _, ok := where[f]; ok != tc.log {
				t.Errorf("%s --help lists --%s: %v", tc.cmd, f, ok)
			}
		}
		if _, ok := where["config.file"]; ok != tc.configFile {
			t.Errorf("%s --help lists --config.file: %v", tc.cmd, ok)
		}
	}

	// The flags keep working where they were written before, in front of
	// the command or with the default command.
	for _, args := range [][]string{
		{"--log.level=debug", "run", "--config.file=x.yaml", "--web.listen-address=:1", "--no-collector.gpu", "--shutdown.grace=3s"},
		{"--config.file=x.yaml", "--web.listen-address=:1", "--log.level=debug", "--no-collector.gpu", "--shutdown.grace=3s"},
		{"run", "--config.file=x.yaml", "--web.listen-address", ":1", "--log.level", "debug", "--no-collector.gpu", "--shutdown.grace", "3s"},
	} {
		c := newApp(io.Discard)
		cmd, err := c.app.Parse(prepareArgs(c.app, args))
		f := c.runFlags
		if err != nil || cmd != "run" || *c.configFile != "x.yaml" || (*f.web.WebListenAddresses)[0] != ":1" || f.log.Level.String() != "debug" ||
			f.gpu || f.grace != 3*time.Second {
			t.Errorf("%q: %s %v: config %s listen %v level %s gpu %v grace %s", args, cmd, err, *c.configFile, *f.web.WebListenAddresses, f.log.Level, f.gpu, f.grace)
		}
	}
	c := newApp(io.Discard)
	if cmd, err := c.app.Parse(prepareArgs(c.app, []string{"--web.listen-address=:2", "demo", "--web.enable-unauthenticated-writes"})); err != nil || cmd != "demo" ||
		(*c.demoFlags.web.WebListenAddresses)[0] != ":2" || !c.demoFlags.unauthWrites {
		t.Errorf("demo: %s %v", cmd, err)
	}
}
