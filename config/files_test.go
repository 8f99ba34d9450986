package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/llmprobe/llmprobe/dataset"
)

// countReads makes readDataset and readImage count their calls per path.
func countReads(t *testing.T) map[string]int {
	t.Helper()
	reads := map[string]int{}
	origDataset, origImage := readDataset, readImage
	readDataset = func(path string) ([]dataset.Entry, error) { reads[path]++; return origDataset(path) }
	readImage = func(path string) (string, error) { reads[path]++; return origImage(path) }
	t.Cleanup(func() { readDataset, readImage = origDataset, origImage })
	return reads
}

// filesConfig writes a dataset and an image to a temporary directory and
// returns a config whose one workload, with both, is used by three probes
// and two soaks.
func filesConfig(t *testing.T) (cfg, dir string) {
	t.Helper()
	dir = t.TempDir()
	img, err := os.ReadFile("../testdata/probe-4x4.png")
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string]string{
		"prompts.jsonl": "\"first prompt\"\n{\"prompt\": \"second prompt\"}\n",
		"image.png":     string(img),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return `
targets:
  - {name: v, url: "http://127.0.0.1:8000", model: m, kind: vision}
  - {name: v2, url: "http://127.0.0.1:8001", model: m, kind: vision}
workloads:
  - {name: w, dataset: prompts.jsonl, images: [image.png]}
probes:
  - {name: p1, targets: [v, v2], workload: w, schedule: "@every 1m"}
  - {name: p2, targets: [v], workload: w, schedule: "@every 1m"}
  - {name: p3, targets: [v2], workload: w, schedule: "@every 1m"}
soaks:
  - {name: s1, targets: [v, v2], workload: w, mode: throughput, vus: 1, duration: 1m}
  - {name: s2, targets: [v], workload: w, mode: throughput, vus: 1, duration: 1m}
`, dir
}

// A config load parses a workload's dataset and images once, however many
// probes and soaks use it, and what it parsed is handed on: the files can
// be gone afterwards.
func TestLoadParsesFilesOnce(t *testing.T) {
	reads := countReads(t)
	in, dir := filesConfig(t)
	ds, img := filepath.Join(dir, "prompts.jsonl"), filepath.Join(dir, "image.png")
	c, err := Load([]byte(in), filepath.Join(dir, "llmprobe.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if reads[ds] != 1 || reads[img] != 1 || len(reads) != 2 {
		t.Fatalf("reads during Load: %v, want each file once", reads)
	}
	for _, name := range []string{ds, img} {
		if err := os.Remove(name); err != nil {
			t.Fatal(err)
		}
	}
	for _, pr := range c.Probes {
		w := c.Workload(pr.Workload)
		for range pr.Targets {
			w := *w // as the daemon copies it into each job
			entries, err := w.DatasetEntries()
			if err != nil || len(entries) != 2 || entries[1].Prompt != "second prompt" {
				t.Fatalf("probe %s: entries %v, %v", pr.Name, entries, err)
			}
			uris, err := w.ImageURIs()
			if err != nil || len(uris) != 1 || !strings.HasPrefix(uris[0], "data:image/png;base64,") {
				t.Fatalf("probe %s: images %.40q, %v", pr.Name, uris, err)
			}
		}
	}
	if reads[ds] != 1 || reads[img] != 1 {
		t.Fatalf("reads after Load: %v, want none", reads)
	}

	// A reload parses the new config's files once again.
	in2, dir2 := filesConfig(t)
	if _, err := Load([]byte(in2), filepath.Join(dir2, "llmprobe.yaml")); err != nil {
		t.Fatal(err)
	}
	if n := reads[filepath.Join(dir2, "prompts.jsonl")]; n != 1 {
		t.Fatalf("dataset read %d times by the second Load, want 1", n)
	}
}

// A Workload built in code, or a copy given another path, has its files
// read when asked, not the ones parsed for another path.
func TestWorkloadFilesFallBackToReading(t *testing.T) {
	reads := countReads(t)
	in, dir := filesConfig(t)
	c, err := Load([]byte(in), filepath.Join(dir, "llmprobe.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "other.jsonl")
	if err := os.WriteFile(other, []byte("\"other prompt\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w := *c.Workload("w")
	w.Dataset = other
	w.Images = []string{"../testdata/probe-4x4.jpg"}
	entries, err := w.DatasetEntries()
	if err != nil || !reflect.DeepEqual(entries, []dataset.Entry{{Prompt: "other prompt"}}) {
		t.Fatalf("entries of a changed path: %v, %v", entries, err)
	}
	uris, err := w.ImageURIs()
	if err != nil || len(uris) != 1 || !strings.HasPrefix(uris[0], "data:image/jpeg;base64,") {
		t.Fatalf("images of a changed path: %.40q, %v", uris, err)
	}
	if reads[other] != 1 || reads["../testdata/probe-4x4.jpg"] != 1 {
		t.Fatalf("reads: %v", reads)
	}

	built := Workload{Name: "b", Dataset: other}
	if entries, err := built.DatasetEntries(); err != nil || len(entries) != 1 {
		t.Fatalf("workload built in code: %v, %v", entries, err)
	}
	if _, err := (&Workload{Dataset: filepath.Join(dir, "missing.jsonl")}).DatasetEntries(); err == nil {
		t.Fatal("a missing dataset read without error")
	}
}

// TestUseDatasetEntries: entries handed in (bench's prepared prompts) are
// what the workload's dataset yields, with no file read.
func TestUseDatasetEntries(t *testing.T) {
	w := Workload{Dataset: "/nonexistent/prepared.jsonl"}
	want := []dataset.Entry{{Prompt: "a"}, {Prompt: "b"}}
	w.UseDatasetEntries(want)
	got, err := w.DatasetEntries()
	if err != nil || len(got) != 2 || got[1].Prompt != "b" {
		t.Errorf("entries %v, err %v", got, err)
	}
}
