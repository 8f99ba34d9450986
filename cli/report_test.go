package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/llmprobe/llmprobe/archive"
	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/probe"
	"github.com/llmprobe/llmprobe/report"
	"github.com/llmprobe/llmprobe/servermetrics"
	"github.com/llmprobe/llmprobe/sim"
	"github.com/llmprobe/llmprobe/sim/simtest"
	"github.com/llmprobe/llmprobe/stress"
)

// llmprobe runs a command line in this process.
func llmprobe(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = runWith(args, &out, &errOut, nil)
	return code, out.String(), errOut.String()
}

// benchRuns archives a short sweep and a short rate run against the
// simulator (4 slots) in dataDir, and returns their results.
func benchRuns(t *testing.T, dataDir string) (sweep, rate *load.Result) {
	t.Helper()
	url := benchSim(t, sim.Config{TTFT: 5 * time.Millisecond, ITL: 2 * time.Millisecond, OutputTokens: 8, MaxConcurrency: 4})
	common := []string{"bench", "--url", url, "--model", sim.DefaultModel, "--data-dir", dataDir, "--progress", "never", "--duration", "400ms"}
	for _, args := range [][]string{
		{"--mode", "sweep", "--max-vus", "4", "--num-rates", "3"},
		{"--mode", "rate", "--rates", "20,60"},
	} {
		if code, _, errOut := llmprobe(t, append(common, args...)...); code != exitOK {
			t.Fatalf("bench %v: exit %d\n%s", args, code, errOut)
		}
	}
	a, err := archive.Open(dataDir, archive.Retention{})
	if err != nil {
		t.Fatal(err)
	}
	runs, err := a.List()
	if err != nil || len(runs) != 2 {
		t.Fatalf("archive: %v %+v", err, runs)
	}
	for _, r := range runs {
		b, err := a.Result(r.ID)
		if err != nil {
			t.Fatal(err)
		}
		var res load.Result
		if err := json.Unmarshal(b, &res); err != nil {
			t.Fatal(err)
		}
		if res.Mode == load.ModeSweep {
			sweep = &res
		} else {
			rate = &res
		}
	}
	if sweep == nil || rate == nil {
		t.Fatalf("archived runs: %+v", runs)
	}
	return sweep, rate
}

// storeProcedure writes a procedure of real runs (the sweep and the rate
// run as its fine step) where the stress engine keeps it.
func storeProcedure(t *testing.T, dataDir, id string, sweep, fine *load.Result) *stress.Procedure {
	t.Helper()
	p := &stress.Procedure{
		ID: id, Target: sweep.Target, Model: sweep.Model, Kind: sweep.Kind, Status: stress.StatusInterrupted,
		Started: sweep.Started, Ended: fine.Ended, Plan: stress.Plan{Scale: 0.01},
		Steps: []stress.StepOutcome{
			{Step: stress.StepSweep, Status: stress.OutcomePassed, RunIDs: []string{sweep.ID}, Results: []*load.Result{sweep}, Started: sweep.Started, Ended: sweep.Ended},
			{Step: stress.StepFine, Status: stress.OutcomePassed, RunIDs: []string{fine.ID}, Results: []*load.Result{fine}, Started: fine.Started, Ended: fine.Ended},
		},
		Verdicts: []load.Verdict{{Name: "saturation", Summary: "no over-saturation up to the sweep's last rate"}},
	}
	if sweep.DetectedMax != nil {
		p.Numbers.DetectedMaxRPS = sweep.DetectedMax.RequestsPerSecond
	}
	dir := filepath.Join(dataDir, "procedures", id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(p)
	if err := os.WriteFile(filepath.Join(dir, procedureFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readPage(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestReportCommandOfRunsProceduresAndComparisons(t *testing.T) {
	data := t.TempDir()
	sweep, rate := benchRuns(t, data)

	// A plain bench run: its report goes under reports/ in the data dir
	// and links its archived JSON.
	code, out, errOut := llmprobe(t, "report", "--data-dir", data, sweep.ID)
	if code != exitOK {
		t.Fatalf("report %s: exit %d\n%s", sweep.ID, code, errOut)
	}
	want := filepath.Join(data, "reports", sweep.ID, report.HTMLFile)
	if strings.TrimSpace(out) != want {
		t.Errorf("report printed %q, want %q", out, want)
	}
	page := readPage(t, want)
	for _, s := range []string{"<h1>Load run " + sweep.ID, `data-chart="` + report.ChartThroughputP99 + `"`, `<svg id="svg-` + report.ChartRateErrors + `"`,
		`<a href="../../` + sweep.ID + `.json">`, "no GPU samples (run on the GPU host to get them)"} {
		if !strings.Contains(page, s) {
			t.Errorf("run report lacks %q", s)
		}
	}
	if _, err := os.Stat(filepath.Join(data, "reports", sweep.ID, report.ChartThroughputP99+".png")); err != nil {
		t.Error(err)
	}

	// A procedure: rebuilt in its own directory, the partial steps named.
	storeProcedure(t, data, "20250301T100000Z_before", sweep, rate)
	code, out, errOut = llmprobe(t, "report", "--data-dir", data, "20250301T100000Z_before")
	if code != exitOK {
		t.Fatalf("report of a procedure: exit %d\n%s", code, errOut)
	}
	want = filepath.Join(data, "procedures", "20250301T100000Z_before", report.HTMLFile)
	if strings.TrimSpace(out) != want {
		t.Errorf("report printed %q, want %q", out, want)
	}
	page = readPage(t, want)
	for _, s := range []string{"This report is partial: sanity, coarse, validation, soak (not run: the procedure was interrupted",
		`data-step="sweep"`, `data-step="fine"`, `<a href="../../` + rate.ID + `.json">`} {
		if !strings.Contains(page, s) {
			t.Errorf("procedure report lacks %q", s)
		}
	}
	// --out elsewhere, the procedure given by its file's path.
	out2 := t.TempDir()
	if code, _, errOut := llmprobe(t, "report", "--out", out2, filepath.Join(data, "procedures", "20250301T100000Z_before", procedureFile)); code != exitOK {
		t.Fatalf("report of a path: exit %d\n%s", code, errOut)
	}
	if !strings.Contains(readPage(t, filepath.Join(out2, report.HTMLFile)), `data-step="fine"`) {
		t.Error("--out report incomplete")
	}

	// Two procedures: side by side.
	storeProcedure(t, data, "20250308T100000Z_after", sweep, rate)
	code, out, errOut = llmprobe(t, "report", "--data-dir", data, "20250301T100000Z_before", "20250308T100000Z_after")
	if code != exitOK {
		t.Fatalf("comparison: exit %d\n%s", code, errOut)
	}
	want = filepath.Join(data, "reports", "20250301T100000Z_before_vs_20250308T100000Z_after", report.CompareFile)
	if strings.TrimSpace(out) != want {
		t.Errorf("comparison printed %q, want %q", out, want)
	}
	page = readPage(t, want)
	for _, s := range []string{"<h2>Before: 20250301T100000Z_before</h2>", "<h2>After: 20250308T100000Z_after</h2>", `<svg id="svg-` + report.ChartThroughputP99 + `"`} {
		if !strings.Contains(page, s) {
			t.Errorf("comparison lacks %q", s)
		}
	}
	if !strings.Contains(page, `"name":"before: sweep"`) || !strings.Contains(page, `"name":"after: sweep"`) {
		t.Error("the comparison's chart does not overlay both sweeps")
	}
}

// TestReportCommandHostileInputs: every bad input is an error naming the ID
// and the file, never a crash.
func TestReportCommandHostileInputs(t *testing.T) {
	data := t.TempDir()
	write := func(rel, content string) {
		t.Helper()
		p := filepath.Join(data, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("procedures/corrupt/procedure.json", `{"id": "corrupt", "steps": [{"step": "sweep", "results": [`)
	write("procedures/array/procedure.json", `[1, 2, 3]`)
	write("procedures/wrongtype/procedure.json", `{"steps": "sweep"}`)
	write("procedures/odd/procedure.json", `{"steps":[{"step":"sweep","results":[null,{"mode":"sweep","steps":[{"kind":"rate","offered_rate":1e308,"achieved_rate":-1e308,"summary":{"successful_requests":1,"e2e_latency_ms":{"p99":1.7e308}}}],"detected_max_throughput":{"step":-4}}]}],"numbers":{"saturation_rps":-3,"knee_found":true}}`)
	if err := os.MkdirAll(filepath.Join(data, "procedures", "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(data, "procedures", "isdir", procedureFile), 0o755); err != nil {
		t.Fatal(err)
	}
	write("notarun.json", `{"hello": "world"}`)
	write("badrun.json", `{"mode": "rate", "steps": [{"summary": {"requests": "many"}}]}`)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"nosuch"}, "llmprobe report: nosuch: neither a procedure (" + filepath.Join(data, "procedures", "nosuch", procedureFile) + " is missing) nor a run (" + filepath.Join(data, "nosuch.json") + " is missing)"},
		{[]string{"empty"}, "llmprobe report: procedure empty: " + filepath.Join(data, "procedures", "empty", procedureFile) + " is missing"},
		{[]string{"corrupt"}, "llmprobe report: procedure corrupt: " + filepath.Join(data, "procedures", "corrupt", procedureFile) + ": not valid JSON: unexpected end of JSON input"},
		{[]string{"array"}, "procedure array: " + filepath.Join(data, "procedures", "array", procedureFile) + ": not valid JSON: json: cannot unmarshal array"},
		{[]string{"wrongtype"}, "procedure wrongtype: " + filepath.Join(data, "procedures", "wrongtype", procedureFile) + ": not valid JSON: json: cannot unmarshal string"},
		{[]string{"isdir"}, "procedure isdir: " + filepath.Join(data, "procedures", "isdir", procedureFile) + ": is a directory"},
		{[]string{"notarun"}, "run notarun: " + filepath.Join(data, "notarun.json") + " is not a run's result (no mode, no steps)"},
		{[]string{"badrun"}, "run badrun: " + filepath.Join(data, "badrun.json") + ": not valid JSON"},
		{[]string{"../etc"}, `../etc: stat ../etc: no such file or directory`},
		{[]string{".hidden"}, `".hidden": not an ID`},
		{[]string{"a", "b", "c"}, "3 IDs given: one gives its report, two a comparison"},
		{[]string{"odd", "nosuch"}, "llmprobe report: nosuch: neither a procedure"},
	} {
		code, _, errOut := llmprobe(t, append([]string{"report", "--data-dir", data}, c.args...)...)
		if code != exitError || !strings.Contains(errOut, c.want) {
			t.Errorf("report %v: exit %d, stderr %q, want %q", c.args, code, errOut, c.want)
		}
	}
	// A procedure with absurd values renders all the same.
	if code, _, errOut := llmprobe(t, "report", "--data-dir", data, "odd"); code != exitOK {
		t.Errorf("odd procedure: exit %d\n%s", code, errOut)
	}
	if code := runWith([]string{"report"}, io.Discard, io.Discard, nil); code != exitError {
		t.Errorf("report without an ID: exit %d", code)
	}
}

// TestReportOfARealStressRun runs a whole procedure, scaled down, against
// the simulator (its /metrics page scraped) with report.Write as the
// engine's after-step hook, then rebuilds the report with `llmprobe
// report`: both show every chart, and the rebuild is the same page.
func TestReportOfARealStressRun(t *testing.T) {
	base := simtest.Start(t, sim.Config{TTFT: 5 * time.Millisecond, ITL: 2 * time.Millisecond, OutputTokens: 8, MaxConcurrency: 4})
	app := kingpin.New("llmprobe", "")
	o := addBenchFlags(app.Command("bench", ""))
	if _, err := app.Parse([]string{"bench", "--url", base + "/v1", "--model", sim.DefaultModel, "--mode", "rate", "--rates", "1", "--duration", "1s"}); err != nil {
		t.Fatal(err)
	}
	lo, ep, w, err := benchPlan(o)
	if err != nil {
		t.Fatal(err)
	}
	gen, err := benchGenerator(io.Discard, &w, o)
	if err != nil {
		t.Fatal(err)
	}
	client := probe.NewClient(ep)
	defer client.CloseIdle()
	data := t.TempDir()
	arch, err := archive.Open(data, archive.Retention{})
	if err != nil {
		t.Fatal(err)
	}
	run := func(ctx context.Context, step string, o load.Options) (*load.Result, string, error) {
		res, err := archive.RunJob(ctx, arch, &archive.Job{
			Started: time.Now(), Send: client, Requests: gen, Options: o,
			Sink: func(w *archive.Writer) load.Sink {
				var s multiSink
				if w != nil {
					s = append(s, w)
				}
				if o.Sink != nil {
					s = append(s, o.Sink)
				}
				if len(s) == 0 {
					return nil
				}
				return s
			},
			Server: &servermetrics.Scraper{URL: base + "/metrics"}, ServerEvery: 50 * time.Millisecond,
		})
		if res == nil {
			return nil, "", err
		}
		return res, res.ID, err
	}
	store := &stress.Store{Dir: data}
	p, err := stress.Run(t.Context(), stress.Config{
		Plan: stress.Plan{Scale: 0.002, SanityRate: 20, Ladder: []int{2, 4, 8}, LadderMax: 16, SweepRates: 4,
			Fractions: []float64{0.5, 0.9}, SoakDuration: 1000 * time.Second},
		Base: lo, Run: run, Store: store, Report: report.Write,
	})
	if err != nil {
		t.Fatalf("stress.Run: %v", err)
	}
	dir := store.ProcedureDir(p.ID)
	engine := readPage(t, filepath.Join(dir, report.HTMLFile))
	for _, id := range []string{report.ChartThroughputP99, report.ChartRateErrors, report.ChartValidation, report.ChartSoak, report.ChartOfferedServed, report.ChartServerOverTime} {
		if !strings.Contains(engine, `<svg id="svg-`+id+`"`) {
			t.Errorf("the engine's report has no chart %s", id)
		}
	}
	if !strings.Contains(engine, `data-empty="`+report.ChartGPU+`"`) {
		t.Error("no GPU note on a machine without NVML")
	}
	// Every sweep rate step is on the throughput chart at its achieved
	// rate and p99, as procedure.json has them.
	sweep := p.Outcome(stress.StepSweep)
	if sweep == nil || len(sweep.Results) == 0 {
		t.Fatalf("no sweep ran: %+v", p.Steps)
	}
	for _, s := range sweep.Results[0].Steps {
		if s.Kind != load.StepRate || s.Summary.Successful == 0 {
			continue
		}
		b, _ := json.Marshal([2]float64{sig6(s.AchievedRate), sig6(s.Summary.E2E.P99)})
		if !strings.Contains(engine, string(b)) {
			t.Errorf("throughput chart lacks sweep step %d at %s", s.Index, b)
		}
	}
	// The rebuild from procedure.json is the page the engine wrote.
	if code, _, errOut := llmprobe(t, "report", "--data-dir", data, p.ID); code != exitOK {
		t.Fatalf("report: exit %d\n%s", code, errOut)
	}
	rebuilt := readPage(t, filepath.Join(dir, report.HTMLFile))
	generated := regexp.MustCompile(` at [0-9-]+ [0-9:]+ UTC\.</p>`)
	if generated.ReplaceAllString(rebuilt, "") != generated.ReplaceAllString(engine, "") {
		t.Error("the rebuilt report differs from the engine's")
	}
}

func sig6(v float64) float64 {
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', report.Precision, 64), 64)
	return r
}
