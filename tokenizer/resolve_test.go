package tokenizer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// hubCache builds a Hugging Face cache under root/hub holding repo's
// snapshots (revision -> whether it has tokenizer.json), with refs/main
// naming main when main is not empty. Later revisions are written later.
func hubCache(t *testing.T, root, repo, main string, revs ...string) string {
	t.Helper()
	dir := filepath.Join(root, "hub", "models--"+strings.ReplaceAll(repo, "/", "--"))
	fixture, err := os.ReadFile("testdata/bpe-tokenizer.json")
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-time.Hour)
	for i, rev := range revs {
		snap := filepath.Join(dir, "snapshots", rev)
		if err := os.MkdirAll(snap, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(snap, TokenizerFile), fixture, 0o644); err != nil {
			t.Fatal(err)
		}
		mt := base.Add(time.Duration(i) * time.Minute)
		if err := os.Chtimes(snap, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	if main != "" {
		if err := os.MkdirAll(filepath.Join(dir, "refs"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "refs", "main"), []byte(main+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// clearHubEnv points every cache variable away from the machine's own
// cache.
func clearHubEnv(t *testing.T) {
	for _, k := range []string{"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"} {
		t.Setenv(k, "")
	}
	t.Setenv("HOME", t.TempDir())
}

func TestResolvePathsAndFolders(t *testing.T) {
	clearHubEnv(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "my-tokenizer.json")
	fixture, _ := os.ReadFile("testdata/bpe-tokenizer.json")
	if err := os.WriteFile(file, fixture, 0o644); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "model")
	if err := os.MkdirAll(model, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(model, TokenizerFile), fixture, 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.MkdirAll(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, want, wantErr string
	}{
		{file, file, ""},
		{model, filepath.Join(model, TokenizerFile), ""},
		{empty, "", "the folder has no tokenizer.json (looked for " + filepath.Join(empty, TokenizerFile) + ")"},
		{filepath.Join(dir, "missing.json"), "", "no such file or folder (and it is not a Hugging Face model name"},
		{"", "", "empty tokenizer name"},
	} {
		got, err := Resolve(tc.name)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Resolve(%q) = %q, %v; want error with %q", tc.name, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", tc.name, got, err, tc.want)
		}
		if _, err := Load(got); err != nil {
			t.Errorf("Load(%q): %v", got, err)
		}
	}
}

func TestResolveHubCache(t *testing.T) {
	const repo = "Qwen/Qwen3-VL-8B-Instruct"
	snap := func(dir, rev string) string { return filepath.Join(dir, "snapshots", rev, TokenizerFile) }

	t.Run("refs/main wins over a newer snapshot", func(t *testing.T) {
		clearHubEnv(t)
		home := t.TempDir()
		t.Setenv("HF_HOME", home)
		dir := hubCache(t, home, repo, "aaa111", "aaa111", "bbb222")
		got, err := Resolve(repo)
		if err != nil || got != snap(dir, "aaa111") {
			t.Fatalf("Resolve = %q, %v; want the refs/main snapshot", got, err)
		}
		if _, err := Load(got); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("without refs/main the newest snapshot", func(t *testing.T) {
		clearHubEnv(t)
		home := t.TempDir()
		t.Setenv("HF_HOME", home)
		dir := hubCache(t, home, repo, "", "aaa111", "bbb222")
		if got, err := Resolve(repo); err != nil || got != snap(dir, "bbb222") {
			t.Fatalf("Resolve = %q, %v; want the newest snapshot", got, err)
		}
	})
	t.Run("refs/main naming a snapshot without the file falls back", func(t *testing.T) {
		clearHubEnv(t)
		home := t.TempDir()
		t.Setenv("HF_HOME", home)
		dir := hubCache(t, home, repo, "ccc333", "aaa111")
		if got, err := Resolve(repo); err != nil || got != snap(dir, "aaa111") {
			t.Fatalf("Resolve = %q, %v", got, err)
		}
	})
	t.Run("HF_HUB_CACHE before HF_HOME", func(t *testing.T) {
		clearHubEnv(t)
		home, cache := t.TempDir(), t.TempDir()
		t.Setenv("HF_HOME", home)
		t.Setenv("HF_HUB_CACHE", filepath.Join(cache, "hub"))
		hubCache(t, home, repo, "aaa111", "aaa111")
		dir := hubCache(t, cache, repo, "ddd444", "ddd444")
		if got, err := Resolve(repo); err != nil || got != snap(dir, "ddd444") {
			t.Fatalf("Resolve = %q, %v; want HF_HUB_CACHE's", got, err)
		}
	})
	t.Run("default cache under the home directory", func(t *testing.T) {
		clearHubEnv(t)
		home := t.TempDir()
		t.Setenv("HOME", home)
		dir := hubCache(t, filepath.Join(home, ".cache", "huggingface"), repo, "aaa111", "aaa111")
		if got, err := Resolve(repo); err != nil || got != snap(dir, "aaa111") {
			t.Fatalf("Resolve = %q, %v", got, err)
		}
	})
	t.Run("absent: every place looked at is named", func(t *testing.T) {
		clearHubEnv(t)
		home := t.TempDir()
		t.Setenv("HF_HOME", home)
		_, err := Resolve(repo)
		if err == nil {
			t.Fatal("no error")
		}
		dir := filepath.Join(home, "hub", "models--Qwen--Qwen3-VL-8B-Instruct")
		for _, want := range []string{
			"no such file or folder here (",
			filepath.Join(home, "hub") + " (from HF_HOME)",
			filepath.Join(dir, "refs", "main"),
			filepath.Join(dir, "snapshots", "*", TokenizerFile),
			"nothing is downloaded",
			"huggingface-cli download " + repo + " tokenizer.json",
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error lacks %q:\n%v", want, err)
			}
		}
	})
}

func TestHubFileDataset(t *testing.T) {
	clearHubEnv(t)
	home := t.TempDir()
	t.Setenv("HF_HOME", home)
	dir := filepath.Join(home, "hub", "datasets--hlarcher--inference-benchmarker", "snapshots", "r1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "share_gpt_turns.json")
	if err := os.WriteFile(want, []byte("[]"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := HubFile(RepoDataset, "hlarcher/inference-benchmarker", "share_gpt_turns.json"); err != nil || got != want {
		t.Errorf("HubFile = %q, %v", got, err)
	}
	_, err := HubFile(RepoDataset, "hlarcher/inference-benchmarker", "github_code.json")
	if err == nil || !strings.Contains(err.Error(), "--repo-type dataset") || !strings.Contains(err.Error(), "datasets--hlarcher--inference-benchmarker") {
		t.Errorf("missing dataset file: %v", err)
	}
	if _, err := HubFile(RepoModel, "../etc", "x"); err == nil {
		t.Error("a path accepted as a repository name")
	}
}
