package workload

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llmprobe/llmprobe/config"
)

// The generators of every probe and soak job build from what config.Load
// parsed: with the dataset and image removed after the load, each still
// builds and sends their contents, so none read the files again.
func TestGeneratorsUseWhatLoadParsed(t *testing.T) {
	dir := t.TempDir()
	img, err := os.ReadFile("../testdata/probe-4x4.png")
	if err != nil {
		t.Fatal(err)
	}
	ds, im := filepath.Join(dir, "prompts.jsonl"), filepath.Join(dir, "image.png")
	if err := os.WriteFile(ds, []byte("\"only prompt\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(im, img, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load([]byte(`
targets:
  - {name: v, url: "http://127.0.0.1:8000", model: m, kind: vision}
  - {name: v2, url: "http://127.0.0.1:8001", model: m, kind: vision}
workloads:
  - {name: w, dataset: prompts.jsonl, images: [image.png], prefix_cache: warm}
probes:
  - {name: p1, targets: [v, v2], workload: w, schedule: "@every 1m"}
  - {name: p2, targets: [v], workload: w, schedule: "@every 1m"}
soaks:
  - {name: s1, targets: [v, v2], workload: w, mode: throughput, vus: 1, duration: 1m}
`), filepath.Join(dir, "llmprobe.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{ds, im} {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	type job struct{ run, workload string }
	var jobs []job
	for _, p := range c.Probes {
		for _, tn := range p.Targets {
			jobs = append(jobs, job{p.Name + "/" + tn, p.Workload})
		}
	}
	for _, s := range c.Soaks {
		for _, tn := range s.Targets {
			jobs = append(jobs, job{s.Name + "/" + tn, s.Workload})
		}
	}
	for _, j := range jobs {
		w := *c.Workload(j.workload) // as the daemon copies it into each job
		g, err := NewForKind(&w, config.KindVision)
		if err != nil {
			t.Fatalf("%s: %v", j.run, err)
		}
		req := g.Next()
		if req.Prompt != "only prompt" || len(req.Images) != 1 || !strings.HasPrefix(req.Images[0], "data:image/png;base64,") {
			t.Fatalf("%s: prompt %q, images %.40q", j.run, req.Prompt, req.Images)
		}
	}
	if len(jobs) != 5 {
		t.Fatalf("%d jobs, want 5", len(jobs))
	}
}
