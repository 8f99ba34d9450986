package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/report"
	"github.com/llmprobe/llmprobe/sim"
	"github.com/llmprobe/llmprobe/sim/simtest"
	"github.com/llmprobe/llmprobe/stress"
)

// The simulator of the acceptance tests: 8 decode slots, 20 ms TTFT, 10 ms
// ITL, 64 tokens, so each request holds a slot 650 ms and the capacity is
// 8 / 0.65 s = 12.3 req/s.
const (
	stressSlots  = 8
	stressTokens = 64
	stressTTFT   = 20 * time.Millisecond
	stressITL    = 10 * time.Millisecond
)

func stressSim(t *testing.T, f sim.Faults) string {
	t.Helper()
	return stressSimTokens(t, stressTokens, f)
}

func stressSimTokens(t *testing.T, tokens int, f sim.Faults) string {
	t.Helper()
	return simtest.Start(t, sim.Config{TTFT: stressTTFT, ITL: stressITL, OutputTokens: tokens, MaxConcurrency: stressSlots, Faults: f, Seed: 1})
}

func stressCapacity() float64 {
	return stressSlots / (stressTTFT + (stressTokens-1)*stressITL).Seconds()
}

// runStressCmd runs `llmprobe stress args...` in this process; sigs, when
// set, delivers signals to it.
func runStressCmd(t *testing.T, sigs chan os.Signal, stderr io.Writer, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	code := runWith(append([]string{"stress"}, args...), &out, stderr, sigs)
	return code, out.String()
}

func readProcedure(t *testing.T, dataDir string) *stress.Procedure {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(dataDir, "procedures", "*", stress.FileName))
	if err != nil || len(dirs) != 1 {
		t.Fatalf("procedure files %v, %v", dirs, err)
	}
	b, err := os.ReadFile(dirs[0])
	if err != nil {
		t.Fatal(err)
	}
	var p stress.Procedure
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	return &p
}

func verdictOf(o *stress.StepOutcome, name string) *load.Verdict {
	for i := range o.Verdicts {
		if o.Verdicts[i].Name == name {
			return &o.Verdicts[i]
		}
	}
	return nil
}

// The acceptance run: the whole procedure as planned, scaled by
// 0.01 (its soak by 0.0017: 6 s), about a minute and a half against a
// simulator with a known capacity. Sanity
// passes, the knee is at the slot count (one ladder step either side), the
// detected max is within 15 % of slots / service time, the fine rates are
// its fractions, and nothing drifts or grows.
func TestStressProcedureFindsTheSimulatorsCapacity(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole procedure for about 100 s")
	}
	url := stressSim(t, sim.Faults{})
	dataDir := t.TempDir()
	var stderr syncBuffer
	start := time.Now()
	code, out := runStressCmd(t, nil, &stderr, "--url", url, "--model", sim.DefaultModel, "--data-dir", dataDir, "--progress", "never",
		"--scale", "0.01", "--soak-duration", "10m")
	t.Logf("%s\n%s\n(%.0f s)", stderr.String(), out, time.Since(start).Seconds())
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	p := readProcedure(t, dataDir)
	if p.Status != stress.StatusCompleted || !p.Passed || len(p.Steps) != len(stress.Steps) {
		t.Fatalf("status %s passed %v, %d steps", p.Status, p.Passed, len(p.Steps))
	}
	for _, s := range p.Steps {
		if s.Status != stress.OutcomePassed {
			t.Errorf("%s: %s: %s", s.Step, s.Status, s.Why)
		}
	}
	n := p.Numbers
	if !n.KneeFound || n.KneeVUs < stressSlots/2 || n.KneeVUs > 2*stressSlots {
		t.Errorf("knee at %d users (found %v), want %d ± one ladder step", n.KneeVUs, n.KneeFound, stressSlots)
	}
	capacity := stressCapacity()
	if math.Abs(n.DetectedMaxRPS/capacity-1) > 0.15 {
		t.Errorf("detected max %.2f req/s, capacity %.2f req/s", n.DetectedMaxRPS, capacity)
	}
	if n.SaturationRPS != 0 && n.SaturationRPS < capacity {
		t.Errorf("over-saturated at %.2f req/s, under the capacity %.2f", n.SaturationRPS, capacity)
	}
	fine := p.Outcome(stress.StepFine).Results[0]
	fractions := stress.DefaultPlan().Fractions
	if len(fine.Steps) != len(fractions) {
		t.Fatalf("%d fine steps", len(fine.Steps))
	}
	for i, s := range fine.Steps {
		if want := fractions[i] * n.DetectedMaxRPS; math.Abs(s.OfferedRate-want) > 1e-9 || s.Summary.ErrorRatio != 0 {
			t.Errorf("fine step %d: %.3f req/s offered (%.1f %% errors), want %.3f", i, s.OfferedRate, 100*s.Summary.ErrorRatio, want)
		}
		if s.Summary.E2E.P99 == 0 || s.Summary.E2E.P95 == 0 || s.Summary.OutputThroughput == 0 {
			t.Errorf("fine step %d lacks p95/p99/tokens: %+v", i, s.Summary)
		}
	}
	for _, step := range []string{stress.StepValidation, stress.StepSoak} {
		o := p.Outcome(step)
		if v := verdictOf(o, stress.VerdictLatencyDrift); v == nil || v.Failed || v.Undecided {
			t.Errorf("%s drift: %+v", step, v)
		}
		if len(o.Series) < stress.MinWindows {
			t.Errorf("%s: %d windows", step, len(o.Series))
		}
	}
	if v := verdictOf(p.Outcome(stress.StepSoak), stress.VerdictQueueGrowth); v == nil || v.Failed {
		t.Errorf("soak queue growth: %+v", v)
	}
	if v := p.Outcome(stress.StepValidation).Results[0]; v.Context.VUs != n.KneeVUs {
		t.Errorf("validation at %d users, knee %d", v.Context.VUs, n.KneeVUs)
	}
	// Every run is archived beside the procedure.
	for _, s := range p.Steps {
		if len(s.RunIDs) != len(s.Results) || len(s.RunIDs) == 0 {
			t.Errorf("%s: %d runs, %d archived", s.Step, len(s.Results), len(s.RunIDs))
		}
		for _, id := range s.RunIDs {
			for _, f := range []string{id + ".json", id + ".timeline.jsonl"} {
				if _, err := os.Stat(filepath.Join(dataDir, f)); err != nil {
					t.Errorf("%s: %v", s.Step, err)
				}
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(dataDir, "procedures", p.ID, report.HTMLFile)); err != nil || !bytes.Contains(b, []byte(p.ID)) {
		t.Errorf("report: %v", err)
	}
	for _, want := range []string{"PASSED", "Detected max throughput:", "knee at ", "latency_drift", "report.html"} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q", want)
		}
	}
	if !strings.Contains(stderr.String(), "stress: coarse passed: knee at") {
		t.Errorf("no step outcome printed as it finished")
	}
}

// A server whose latency grows with time fails the validation's drift
// verdict. Its latency doubles in half a minute; 32 tokens (330 ms of
// service) give the validation's 8 users about 30 rounds in its 12 s.
func TestStressDriftVerdictFires(t *testing.T) {
	url := stressSimTokens(t, 32, sim.Faults{SlowdownPerMinute: 2})
	dataDir := t.TempDir()
	var stderr syncBuffer
	code, out := runStressCmd(t, nil, &stderr, "--url", url, "--model", sim.DefaultModel, "--data-dir", dataDir, "--progress", "never",
		"--scale", "0.01", "--steps", "sanity,validation", "--ladder", "8", "--validation-duration", "20m")
	t.Logf("%s\n%s", stderr.String(), out)
	if code != exitError {
		t.Errorf("exit %d, want %d (a verdict failed)", code, exitError)
	}
	p := readProcedure(t, dataDir)
	o := p.Outcome(stress.StepValidation)
	v := verdictOf(o, stress.VerdictLatencyDrift)
	if v == nil || !v.Failed || v.Value <= 0 || v.Lo <= 0 {
		t.Fatalf("drift verdict %+v", v)
	}
	if p.Status != stress.StatusCompleted || p.Passed || o.Status != stress.OutcomeFailed {
		t.Errorf("procedure %s passed %v, validation %s", p.Status, p.Passed, o.Status)
	}
	// The simulator's latency grows by 2 × 330 ms per minute.
	if d := p.Numbers.P50DriftMSPerMin; math.Abs(d/660-1) > 0.15 || !strings.Contains(out, "FAILED") {
		t.Errorf("p50 drift %.0f ms/min, want about 660: %+v", d, p.Numbers)
	}
}

// A server that loses a decode slot every 15 requests serves less and less:
// at a fixed rate its queue grows, and the soak's growth verdict fires
// (--drain bounds the wait for the queue left at the end).
func TestStressQueueGrowthVerdictFires(t *testing.T) {
	url := stressSim(t, sim.Faults{LeakSlotEvery: 15})
	dataDir := t.TempDir()
	var stderr syncBuffer
	code, out := runStressCmd(t, nil, &stderr, "--url", url, "--model", sim.DefaultModel, "--data-dir", dataDir, "--progress", "never",
		"--scale", "0.01", "--steps", "sanity,soak", "--max-rps", "12", "--soak-duration", "15m", "--drain", "2s")
	t.Logf("%s\n%s", stderr.String(), out)
	if code != exitError {
		t.Errorf("exit %d, want %d", code, exitError)
	}
	p := readProcedure(t, dataDir)
	o := p.Outcome(stress.StepSoak)
	if v := verdictOf(o, stress.VerdictQueueGrowth); v == nil || !v.Failed || v.Lo <= 0 {
		t.Errorf("queue growth %+v", v)
	}
	if r := o.Results[0]; r.Context.Rates[0] != 0.75*12 {
		t.Errorf("soak at %v req/s", r.Context.Rates)
	}
}

// A server whose memory leaks (its own metrics page says so) fails the
// soak's server memory verdict, lifted from the run's server view.
func TestStressServerMemoryGrowthFires(t *testing.T) {
	url := stressSim(t, sim.Faults{LeakBytesPerRequest: 1 << 20})
	dataDir := t.TempDir()
	var stderr syncBuffer
	code, out := runStressCmd(t, nil, &stderr, "--url", url, "--model", sim.DefaultModel, "--data-dir", dataDir, "--progress", "never",
		"--scale", "0.01", "--steps", "sanity,soak", "--max-rps", "12", "--soak-duration", "10m", "--metrics-interval", "200ms")
	t.Logf("%s\n%s", stderr.String(), out)
	if code != exitError {
		t.Errorf("exit %d, want %d", code, exitError)
	}
	p := readProcedure(t, dataDir)
	o := p.Outcome(stress.StepSoak)
	v := verdictOf(o, load.VerdictServerMemoryGrowth)
	if v == nil || !v.Failed || v.Unit != "bytes/s" {
		t.Fatalf("server memory verdict %+v", v)
	}
	// 1 MiB for each of 9 requests a second.
	if got := p.Numbers.ServerMemPerMin; math.Abs(got/(9*60*(1<<20))-1) > 0.2 {
		t.Errorf("server memory growth %.0f MiB/min, want about %d", got/(1<<20), 9*60)
	}
	if v := verdictOf(o, stress.VerdictQueueGrowth); v == nil || v.Failed {
		t.Errorf("a memory leak is not a queue: %+v", v)
	}
}

// A server that fails every request fails the sanity check, which stops
// the procedure with the reason.
func TestStressSanityFailureStops(t *testing.T) {
	url := stressSim(t, sim.Faults{HTTP500: 1})
	dataDir := t.TempDir()
	var stderr syncBuffer
	code, out := runStressCmd(t, nil, &stderr, "--url", url, "--model", sim.DefaultModel, "--data-dir", dataDir, "--progress", "never", "--scale", "0.01")
	if code != exitError {
		t.Errorf("exit %d", code)
	}
	p := readProcedure(t, dataDir)
	if p.Status != stress.StatusFailed || len(p.Steps) != 1 || !regexp.MustCompile(`sanity failed: .*no request of \d+ succeeded: \d+ http_5xx, e\.g\. HTTP 500`).MatchString(p.StopReason) {
		t.Errorf("%s, %d steps: %s", p.Status, len(p.Steps), p.StopReason)
	}
	if !strings.Contains(out, "Stopped: sanity failed") || !strings.Contains(out, "coarse      not run") {
		t.Errorf("table:\n%s", out)
	}
}

// Ctrl-C leaves an interrupted procedure (exit 130) that --resume finishes,
// running the interrupted step again and reusing the sanity check.
func TestStressInterruptAndResume(t *testing.T) {
	url := stressSim(t, sim.Faults{})
	dataDir := t.TempDir()
	args := []string{"--url", url, "--model", sim.DefaultModel, "--data-dir", dataDir, "--progress", "never"}
	sigs := make(chan os.Signal, 1)
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		code, _ := runStressCmd(t, sigs, &stderr, append(args, "--scale", "0.01", "--steps", "sanity,coarse", "--ladder", "4,8,16")...)
		done <- code
	}()
	waitFor(t, 30*time.Second, "the coarse step", func() bool { return strings.Contains(stderr.String(), "stress: coarse: 4 users, ") })
	sigs <- syscall.SIGINT
	var code int
	select {
	case code = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("stress did not stop on SIGINT")
	}
	if code != exitInterrupted {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	p := readProcedure(t, dataDir)
	if p.Status != stress.StatusInterrupted || len(p.Steps) != 2 || p.Steps[1].Status != stress.OutcomeInterrupted {
		t.Fatalf("%s %+v", p.Status, p.Steps)
	}
	if !strings.Contains(stderr.String(), "resume with: llmprobe stress --resume "+p.ID) {
		t.Errorf("no resume hint:\n%s", stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dataDir, "procedures", p.ID, report.HTMLFile)); err != nil {
		t.Errorf("no partial report after Ctrl-C: %v", err)
	}

	if code, _ := runStressCmd(t, nil, io.Discard, append(args, "--resume", p.ID, "--ladder", "4")...); code != exitError {
		t.Errorf("--resume with a plan flag: exit %d", code)
	}
	var stderr2 syncBuffer
	code, out := runStressCmd(t, nil, &stderr2, append(args, "--resume", p.ID)...)
	if code != exitOK {
		t.Fatalf("resume: exit %d\n%s\n%s", code, stderr2.String(), out)
	}
	q := readProcedure(t, dataDir)
	if q.ID != p.ID || q.Status != stress.StatusCompleted || len(q.Steps) != 2 || q.Steps[1].Status != stress.OutcomePassed {
		t.Fatalf("resumed %s %+v", q.Status, q.Steps)
	}
	if strings.Contains(stderr2.String(), "stress: sanity:") {
		t.Errorf("the resume ran the sanity check again")
	}
	if !q.Steps[0].Started.Equal(p.Steps[0].Started) {
		t.Errorf("the sanity check's outcome was not kept")
	}
}

// bench's flags that have no meaning in the procedure are refused by name,
// and so are bad plan flags.
func TestStressRefusesFlags(t *testing.T) {
	url := stressSim(t, sim.Faults{})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--mode", "sweep"}, "--mode cannot be used with stress"},
		{[]string{"--benchmark-kind", "sweep"}, "--benchmark-kind cannot be used with stress"},
		{[]string{"--rates", "5,10"}, "--rates cannot be used with stress: rates are derived from the detected max"},
		{[]string{"--max-vus", "64"}, "--max-vus cannot be used with stress: users come from the ladder"},
		{[]string{"--num-rates", "5"}, "--num-rates cannot be used with stress: use --sweep-rates"},
		{[]string{"--duration", "120s"}, "--duration cannot be used with stress: the steps are timed"},
		{[]string{"--warmup", "30s"}, "--warmup cannot be used with stress"},
		{[]string{"--num-requests", "100"}, "--num-requests cannot be used with stress"},
		{[]string{"--json"}, "--json cannot be used with stress"},
		{[]string{"--result-file", "x.json"}, "--result-file cannot be used with stress"},
		{[]string{"--concurrency", "8"}, "--concurrency cannot be used with stress"},
		{[]string{"--profile", "chat"}, "--profile cannot be used with stress"},
		{[]string{"--steps", "sanity,warmup"}, `--steps: unknown step "warmup"`},
		{[]string{"--ladder", "8,4"}, "ladder rung 4: must be larger than the rung before it (8)"},
		{[]string{"--ladder", "4,x"}, `--ladder: "x" is not a number of users`},
		{[]string{"--fractions", "0.5,2"}, "fraction 2: must be above 0 and at most 1"},
		{[]string{"--coarse-duration", "soon"}, `--coarse-duration: "soon" is not a duration`},
		{[]string{"--steps", "soak", "--soak-duration", "0"}, "--steps soak with --soak-duration 0"},
		{[]string{"--max-in-flight", "16"}, "ladder rung 32: above max_in_flight 16"},
		{[]string{"--resume", "20260101T000000Z_nowhere"}, "no such procedure"},
		{[]string{"--model", "other"}, `model "other" is not served`},
	} {
		args := []string{"--url", url, "--data-dir", t.TempDir()}
		if !slices.Contains(tc.args, "--model") {
			args = append(args, "--model", sim.DefaultModel)
		}
		var stderr bytes.Buffer
		code, _ := runStressCmd(t, nil, &stderr, append(args, tc.args...)...)
		if code != exitError || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}

// --soak-duration 0 leaves the soak out of the plan stored.
func TestStressPlanFlags(t *testing.T) {
	o := &stressOptions{soakDuration: "0", ladder: "2,4", fractions: "0.5", scale: 0.1, sweepDuration: "30s"}
	p, given, err := o.plan()
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(p.Steps, stress.StepSoak) || len(p.Steps) != len(stress.Steps)-1 {
		t.Errorf("steps %v", p.Steps)
	}
	if !slices.Equal(p.Ladder, []int{2, 4}) || !slices.Equal(p.Fractions, []float64{0.5}) || p.Scale != 0.1 || p.SweepDuration != 30*time.Second {
		t.Errorf("plan %+v", p)
	}
	if !slices.Equal(given, []string{"--scale", "--ladder", "--fractions", "--sweep-duration", "--soak-duration"}) {
		t.Errorf("given %v", given)
	}
}

// Gamma arrivals reach the procedure's open-loop steps: --burstiness is
// bench's, and stress keeps the arrival process it gives.
func TestStressTakesGammaArrivals(t *testing.T) {
	url := stressSim(t, sim.Faults{})
	dir := t.TempDir()
	var stderr bytes.Buffer
	code, _ := runStressCmd(t, nil, &stderr, "--url", url, "--model", sim.DefaultModel, "--data-dir", dir,
		"--steps", "sanity", "--scale", "0.05", "--sanity-rate", "10", "--burstiness", "0.5")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	p := readProcedure(t, dir)
	o := p.Outcome(stress.StepSanity)
	if o == nil || len(o.Results) != 1 {
		t.Fatalf("sanity outcome %+v", o)
	}
	if c := o.Results[0].Context; c.Arrival != "gamma" || c.Burstiness != 0.5 {
		t.Errorf("sanity ran with arrival %q burstiness %v, want gamma 0.5", c.Arrival, c.Burstiness)
	}
}
