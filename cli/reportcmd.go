package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/alecthomas/kingpin/v2"

	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/report"
	"github.com/llmprobe/llmprobe/stress"
)

func init() {
	register(command{
		name: "report",
		help: "Rebuild the HTML report of a stress procedure or of an archived run from the data directory; given two, write them side by side (before/after a deployment change).",
		add:  addReportCmd,
	})
}

// procedureFile is the procedure's file in <data-dir>/procedures/<id>/, the
// stress engine's layout.
const procedureFile = "procedure.json"

// maxInputBytes bounds what report reads from one file: a day-long soak's
// samples fit many times over, /dev/zero does not.
const maxInputBytes = 1 << 30

type reportOptions struct {
	dataDir string
	out     string
	ids     []string
}

func addReportCmd(cmd *kingpin.CmdClause) func(*slog.Logger, *globals) int {
	o := &reportOptions{}
	cmd.Flag("data-dir", "The llmprobe data directory: runs as ID.json, procedures as procedures/ID/procedure.json.").Default("data").StringVar(&o.dataDir)
	cmd.Flag("out", "Write the report into this directory (default: the procedure's own directory; a run's or a comparison's under reports/ in the data directory).").StringVar(&o.out)
	cmd.Arg("id", "One procedure or run ID (or a path to a procedure.json or a run's JSON) for its report; two for a comparison, the first as before.").Required().StringsVar(&o.ids)
	return func(_ *slog.Logger, g *globals) int { return runReport(g, o) }
}

// input is one thing to report on, read from the archive.
type input struct {
	id   string
	file string // what it was read from
	dir  string // the procedure's own directory; "" for a run
	proc *stress.Procedure
	// dataDir holds the runs the report lists ("": found from dir).
	dataDir string
}

func runReport(g *globals, o *reportOptions) int {
	fail := func(err error) int {
		fmt.Fprintf(g.stderr, "llmprobe report: %v\n", err)
		return exitError
	}
	if len(o.ids) > 2 {
		return fail(fmt.Errorf("%d IDs given: one gives its report, two a comparison", len(o.ids)))
	}
	var ins []input
	for _, id := range o.ids {
		in, err := loadInput(o.dataDir, id)
		if err != nil {
			return fail(err)
		}
		in.dataDir = o.dataDir
		if strings.ContainsAny(id, `/\`) || strings.HasSuffix(id, ".json") {
			in.dataDir = "" // a path: the report finds the data directory from the procedure's
		}
		ins = append(ins, in)
	}
	out := o.out
	var file string
	var err error
	switch len(ins) {
	case 1:
		if out == "" {
			out = ins[0].dir
		}
		if out == "" {
			out = filepath.Join(o.dataDir, "reports", safeID(ins[0].id))
		}
		file = filepath.Join(out, report.HTMLFile)
		err = report.Options{DataDir: ins[0].dataDir}.Write(ins[0].proc, out)
	case 2:
		if out == "" {
			out = filepath.Join(o.dataDir, "reports", safeID(ins[0].id)+"_vs_"+safeID(ins[1].id))
		}
		file = filepath.Join(out, report.CompareFile)
		err = report.Options{DataDir: ins[1].dataDir}.WriteComparison(ins[0].proc, ins[1].proc, out)
	}
	if err != nil {
		return fail(fmt.Errorf("%s: %w", strings.Join(o.ids, " vs "), err))
	}
	fmt.Fprintln(g.stdout, file)
	return exitOK
}

// safeID keeps an ID (or the base name of a path given instead) usable as
// a directory name.
func safeID(id string) string {
	id = strings.TrimSuffix(filepath.Base(id), ".json")
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '-'
	}, id)
}

// loadInput finds id in the data directory: a procedure
// (procedures/ID/procedure.json) or an archived run (ID.json). A path to
// either file (or to a procedure's directory) is taken as it is.
func loadInput(dataDir, id string) (input, error) {
	if id == "" {
		return input{}, errors.New("empty ID")
	}
	if strings.ContainsAny(id, `/\`) || strings.HasSuffix(id, ".json") {
		fi, err := os.Stat(id)
		switch {
		case err != nil:
			return input{}, fmt.Errorf("%s: %w", id, err)
		case fi.IsDir():
			return loadProcedure(filepath.Base(id), filepath.Join(id, procedureFile), id)
		case filepath.Base(id) == procedureFile:
			return loadProcedure(filepath.Base(filepath.Dir(id)), id, filepath.Dir(id))
		}
		return loadRun(strings.TrimSuffix(filepath.Base(id), ".json"), id)
	}
	if strings.Contains(id, "..") || strings.HasPrefix(id, ".") {
		return input{}, fmt.Errorf("%q: not an ID", id)
	}
	procDir := filepath.Join(dataDir, "procedures", id)
	procPath := filepath.Join(procDir, procedureFile)
	runPath := filepath.Join(dataDir, id+".json")
	if _, err := os.Stat(procDir); err == nil {
		return loadProcedure(id, procPath, procDir)
	}
	if _, err := os.Stat(runPath); err == nil {
		return loadRun(id, runPath)
	}
	return input{}, fmt.Errorf("%s: neither a procedure (%s is missing) nor a run (%s is missing)", id, procPath, runPath)
}

// readJSON decodes file into v, its errors naming the file.
func readJSON(file string, v any) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return fmt.Errorf("%s: is a directory", file)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxInputBytes+1))
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if len(b) > maxInputBytes {
		return fmt.Errorf("%s: larger than %d MiB", file, maxInputBytes>>20)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: not valid JSON: %w", file, err)
	}
	return nil
}

func loadProcedure(id, file, dir string) (input, error) {
	var p stress.Procedure
	if err := readJSON(file, &p); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return input{}, fmt.Errorf("procedure %s: %s is missing", id, file)
		}
		return input{}, fmt.Errorf("procedure %s: %w", id, err)
	}
	if p.ID == "" {
		p.ID = id
	}
	return input{id: id, file: file, dir: dir, proc: &p}, nil
}

func loadRun(id, file string) (input, error) {
	var res load.Result
	if err := readJSON(file, &res); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return input{}, fmt.Errorf("run %s: %s is missing", id, file)
		}
		return input{}, fmt.Errorf("run %s: %w", id, err)
	}
	if res.Mode == "" && len(res.Steps) == 0 {
		return input{}, fmt.Errorf("run %s: %s is not a run's result (no mode, no steps)", id, file)
	}
	if res.ID == "" {
		res.ID = id
	}
	return input{id: id, file: file, proc: report.FromRun(&res)}, nil
}
