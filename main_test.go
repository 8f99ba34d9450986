package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBinary builds llmprobe and checks what only main decides: the
// version a plain build reports, and that cli.Run's status is the
// process's exit status (2 for a config that does not validate, which
// check-config's callers rely on).
func TestBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "llmprobe")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "llmprobe, version 0.1.0-dev") {
		t.Errorf("--version: %v\n%s", err, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("targets: [{name: a}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(bin, "check-config", bad).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), "bad.yaml:1") {
		t.Errorf("check-config of a bad file: %v, want exit status 2 and the file's line\n%s", err, out)
	}
}
