// Package e2e holds the end-to-end test that runs the daemon, the simulator
// and a real Prometheus together, and the helpers the rule and dashboard
// tests share to find and run the pinned test tools.
package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// ToolPath finds a test tool (promtool, prometheus) that
// scripts/install-tools.sh installed into $LLMPROBE_TOOLS, else on $PATH.
// Without it the test is skipped, except under CI (CI set), where a missing
// tool fails the test.
func ToolPath(t testing.TB, name string) string {
	t.Helper()
	if dir := os.Getenv("LLMPROBE_TOOLS"); dir != "" {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p
		} else if os.Getenv("CI") != "" {
			t.Fatalf("%s: %v (scripts/install-tools.sh installs it)", name, err)
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s not found: run scripts/install-tools.sh (scripts/test.sh does)", name)
	}
	t.Skipf("%s not installed; scripts/test.sh installs it", name)
	return ""
}
