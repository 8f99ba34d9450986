package tokenizer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// TokenizerFile is the file name of a Hugging Face tokenizer.
const TokenizerFile = "tokenizer.json"

// Repository types of the Hugging Face cache (HubFile's repoType).
const (
	RepoModel   = "model"
	RepoDataset = "dataset"
)

// Resolve finds the tokenizer.json that name stands for: a tokenizer.json
// file, a model folder holding one, or a Hugging Face Hub model name
// ("Qwen/Qwen3-8B") looked up in the local Hugging Face cache (see
// HubFile). Nothing is ever downloaded: a benchmark must not depend on the
// network, nor fetch files the user did not ask for. The error of a name
// that resolves to nothing lists every place that was looked at.
func Resolve(name string) (string, error) {
	if name == "" {
		return "", errors.New("empty tokenizer name")
	}
	fi, err := os.Stat(name)
	switch {
	case err == nil && fi.IsDir():
		p := filepath.Join(name, TokenizerFile)
		if regular(p) {
			return p, nil
		}
		return "", fmt.Errorf("tokenizer %q: the folder has no %s (looked for %s)", name, TokenizerFile, p)
	case err == nil && fi.Mode().IsRegular():
		return name, nil
	case err == nil:
		return "", fmt.Errorf("tokenizer %q is not a regular file", name)
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("tokenizer %q: %w", name, err)
	case !isRepoID(name):
		return "", fmt.Errorf("tokenizer %q: no such file or folder (and it is not a Hugging Face model name such as Qwen/Qwen3-8B)", name)
	}
	p, err := HubFile(RepoModel, name, TokenizerFile)
	if err != nil {
		return "", fmt.Errorf("tokenizer %q: no such file or folder here (%s), %w", name, absOr(name), err)
	}
	return p, nil
}

// HubFile finds file of the Hugging Face repository repo (of repoType
// RepoModel or RepoDataset) in the local Hugging Face cache, laid out as
// huggingface_hub leaves it: <cache>/<type>s--<org>--<name>/snapshots/
// <revision>/<file>. The snapshot refs/main names is preferred; without it
// (or without the file there), the most recently written snapshot that has
// the file is used. The cache is HubCacheDir's. The error names every path
// looked at and how the cache directory was chosen.
func HubFile(repoType, repo, file string) (string, error) {
	if repoType != RepoModel && repoType != RepoDataset {
		return "", fmt.Errorf("unknown Hugging Face repository type %q", repoType)
	}
	if !isRepoID(repo) {
		return "", fmt.Errorf("%q is not a Hugging Face repository name such as org/name", repo)
	}
	cache, from := HubCacheDir()
	dir := filepath.Join(cache, repoType+"s--"+strings.ReplaceAll(repo, "/", "--"))
	looked := []string{}

	ref := filepath.Join(dir, "refs", "main")
	looked = append(looked, ref)
	if b, err := os.ReadFile(ref); err == nil {
		if rev := strings.TrimSpace(string(b)); rev != "" && !strings.ContainsAny(rev, `/\`) && rev != "." && rev != ".." {
			p := filepath.Join(dir, "snapshots", rev, file)
			looked = append(looked, p)
			if regular(p) {
				return p, nil
			}
		}
	}
	pattern := filepath.Join(dir, "snapshots", "*", file)
	looked = append(looked, pattern)
	matches, _ := filepath.Glob(pattern)
	type cand struct {
		path  string
		mtime int64
	}
	var cands []cand
	for _, m := range matches {
		if fi, err := os.Stat(m); err == nil && fi.Mode().IsRegular() {
			var mt int64
			if si, err := os.Stat(filepath.Dir(m)); err == nil {
				mt = si.ModTime().UnixNano()
			}
			cands = append(cands, cand{m, mt})
		}
	}
	if len(cands) > 0 {
		// Newest snapshot first; equal times by name, so the choice is
		// the same on every run.
		slices.SortFunc(cands, func(a, b cand) int {
			if a.mtime != b.mtime {
				if a.mtime > b.mtime {
					return -1
				}
				return 1
			}
			return strings.Compare(a.path, b.path)
		})
		return cands[0].path, nil
	}
	kind := "model"
	dl := "huggingface-cli download " + repo + " " + file
	if repoType == RepoDataset {
		kind = "dataset"
		dl = "huggingface-cli download --repo-type dataset " + repo + " " + file
	}
	return "", fmt.Errorf("%s %s is not in the local Hugging Face cache %s (%s): looked for %s; nothing is downloaded (%s puts it there)",
		kind, repo+"'s "+file, cache, from, strings.Join(looked, ", "), dl)
}

// HubCacheDir returns the Hugging Face hub cache directory, chosen as
// huggingface_hub does: $HF_HUB_CACHE, else the deprecated
// $HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub, else
// $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub. from says
// which, for error messages.
func HubCacheDir() (dir, from string) {
	if d := os.Getenv("HF_HUB_CACHE"); d != "" {
		return d, "from HF_HUB_CACHE"
	}
	if d := os.Getenv("HUGGINGFACE_HUB_CACHE"); d != "" {
		return d, "from HUGGINGFACE_HUB_CACHE"
	}
	if d := os.Getenv("HF_HOME"); d != "" {
		return filepath.Join(d, "hub"), "from HF_HOME"
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "huggingface", "hub"), "from XDG_CACHE_HOME; set HF_HUB_CACHE or HF_HOME to use another"
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = "~"
	}
	return filepath.Join(home, ".cache", "huggingface", "hub"), "the default; set HF_HUB_CACHE or HF_HOME to use another"
}

// repoID matches Hub repository names: "name" or "org/name", of letters,
// digits, '-', '_' and '.'.
var repoID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$`)

// isRepoID reports whether s can be a Hub repository name rather than only
// a path: no leading '.', '/' or '~', at most one '/', no ".." and no
// file name extension of a tokenizer or dataset file.
func isRepoID(s string) bool {
	if !repoID.MatchString(s) || strings.Contains(s, "..") {
		return false
	}
	ext := strings.ToLower(filepath.Ext(s))
	return ext != ".json" && ext != ".jsonl"
}

func regular(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

func absOr(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
