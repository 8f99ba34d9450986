package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/stress"
)

const procedureBase = `
targets:
  - {name: t, url: "http://h", model: m}
workloads:
  - {name: w, prompt: hi}
soaks:
`

func TestProcedureSoakLoads(t *testing.T) {
	in := procedureBase + `
  - name: weekly
    targets: [t]
    workload: w
    schedule: "0 3 * * 0"
    mode: procedure
    max_in_flight: 128
    procedure:
      scale: 0.5
      steps: [sanity, coarse, sweep]
      ladder: [2, 4, 8]
      ladder_max: 64
      sweep_rates: 6
      fractions: [0.5, 0.75]
      sanity_duration: 20s
      soak_fraction: 0.6
`
	c, err := Load([]byte(in), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := c.Soaks[0].Procedure.Plan()
	want := stress.Plan{Steps: []string{"sanity", "coarse", "sweep"}, Scale: 0.5, SanityDuration: 20 * time.Second,
		Ladder: []int{2, 4, 8}, LadderMax: 64, SweepRates: 6, Fractions: []float64{0.5, 0.75}, SoakFraction: 0.6}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Plan() = %+v\nwant     %+v", got, want)
	}
}

func TestProcedureSoakDurationZeroLeavesSoakOut(t *testing.T) {
	in := procedureBase + `
  - {name: p, targets: [t], workload: w, mode: procedure, procedure: {soak_duration: 0s}}
`
	c, err := Load([]byte(in), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pl := c.Soaks[0].Procedure.Plan()
	want := []string{"sanity", "coarse", "sweep", "fine", "validation"}
	if !reflect.DeepEqual(pl.Steps, want) {
		t.Fatalf("steps = %v, want %v", pl.Steps, want)
	}
	// Unset, the soak stays in with the default duration.
	c, err = Load([]byte(procedureBase+"  - {name: p, targets: [t], workload: w, mode: procedure}\n"), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if pl := c.Soaks[0].Procedure.Plan(); len(pl.Steps) != 0 || pl.SoakDuration != 0 {
		t.Fatalf("an empty procedure block gives %+v, want the defaults (zero)", pl)
	}
}

func TestProcedureSoakErrors(t *testing.T) {
	for _, c := range []struct{ soak, want string }{
		{`{name: p, targets: [t], workload: w, mode: procedure, duration: 60s}`,
			"x.yaml:7: soaks[0].duration: not used in procedure mode"},
		{`{name: p, targets: [t], workload: w, mode: procedure, rates: [1]}`,
			"soaks[0].rates: not used in procedure mode"},
		{`{name: p, targets: [t], workload: w, mode: procedure, vus: 4}`,
			"soaks[0].vus: not used in procedure mode"},
		{`{name: p, targets: [t], workload: w, mode: sweep, duration: 1s, procedure: {scale: 1}}`,
			"soaks[0].procedure: only used in procedure mode"},
		{`{name: p, targets: [t], workload: w, mode: procedure, procedure: {steps: [sanity, warmup]}}`,
			"soaks[0].procedure.steps[1]"},
		{`{name: p, targets: [t], workload: w, mode: procedure, procedure: {scale: 0.0001}}`, ""},
		{`{name: p, targets: [t], workload: w, mode: procedure, procedure: {scale: 101}}`,
			"soaks[0].procedure.scale: must be above 0 and at most 100"},
		{`{name: p, targets: [t], workload: w, mode: procedure, procedure: {scale: -1}}`,
			"soaks[0].procedure.scale: must be above 0 and at most 100"},
		{`{name: p, targets: [t], workload: w, mode: procedure, procedure: {ladder: [4, 4]}}`,
			"soaks[0].procedure.ladder[1]: must be larger than the rung before it (4)"},
		{`{name: p, targets: [t], workload: w, mode: procedure, max_in_flight: 16, procedure: {ladder: [8, 32]}}`,
			"soaks[0].procedure.ladder[1]: must be between 1 and max_in_flight (16)"},
		{`{name: p, targets: [t], workload: w, mode: procedure, procedure: {ladder: [8, 16], ladder_max: 8}}`,
			"soaks[0].procedure.ladder_max: must be between 16 and 1024"},
		{`{name: p, targets: [t], workload: w, mode: procedure, procedure: {fractions: [0.5, 1.2]}}`,
			"soaks[0].procedure.fractions[1]: must be above 0 and at most 1"},
		{`{name: p, targets: [t], workload: w, mode: procedure, procedure: {soak_fraction: 0}}`, ""},
		{`{name: p, targets: [t], workload: w, mode: procedure, procedure: {soak_fraction: 2}}`,
			"soaks[0].procedure.soak_fraction: must be above 0 and at most 1"},
		{`{name: p, targets: [t], workload: w, mode: procedure, procedure: {sweep_rates: 51}}`,
			"soaks[0].procedure.sweep_rates: must be between 1 and 50"},
		{`{name: p, targets: [t], workload: w, mode: procedure, procedure: {sanity_rate: -1}}`,
			"soaks[0].procedure.sanity_rate: must be a positive number"},
		{`{name: p, targets: [t], workload: w, mode: procedure, procedure: {sanity_warmup: 0s}}`,
			"soaks[0].procedure.sanity_warmup: must be positive (leave it out for the default, or lower scale)"},
		{`{name: p, targets: [t], workload: w, mode: procedure, procedure: {drift_warmup: 0s}}`,
			"soaks[0].procedure.drift_warmup: must be positive"},
		{`{name: p, targets: [t], workload: w, mode: procedure, procedure: {max_rps: 10}}`,
			"soaks[0].procedure.max_rps: only used when the sweep is not among the steps"},
		{`{name: p, targets: [t], workload: w, mode: procedure, procedure: {max_rps: 10, steps: [sanity, fine]}}`, ""},
		{`{name: p, targets: [t], workload: w, mode: procedure, procedure: {steps: [sanity, fine]}}`,
			"soaks[0].procedure.steps: fine and soak run at fractions of the detected max: add sweep to the steps, or give max_rps"},
		{`{name: p, targets: [t], workload: w, mode: procedure, procedure: {bogus: 1}}`,
			"soaks[0].procedure.bogus"},
	} {
		_, err := Load([]byte(procedureBase+"  - "+c.soak+"\n"), "x.yaml")
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: unexpected error %v", c.soak, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s:\n got %v\nwant %q", c.soak, err, c.want)
		}
	}
}

func TestSweepsRefuseConversations(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "c.jsonl"), []byte(`{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}, {"role": "user", "content": "more"}]}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"mode: sweep, duration: 1s", "mode: procedure"} {
		in := `targets:
  - {name: t, url: "http://h", model: m}
workloads:
  - {name: w, dataset: c.jsonl, conversation: {think_time: 1s}}
soaks:
  - {name: s, targets: [t], workload: w, ` + mode + `}
`
		path := filepath.Join(dir, "x.yaml")
		if err := os.WriteFile(path, []byte(in), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := LoadFile(path)
		if err == nil || !strings.Contains(err.Error(), `soaks[0].mode: a `) || !strings.Contains(err.Error(), `cannot replay the conversations of workload "w"`) {
			t.Errorf("%s: %v", mode, err)
		}
	}
}
