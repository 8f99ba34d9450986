package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLeakCheckShort runs scripts/leak-check.sh for 20 seconds: the built
// daemon with probes every second and soaks in a loop against two
// simulator processes, goroutines and RSS sampled every second. At this
// length it catches goroutine leaks (a leak of one per probe run passes the
// bound in about seven seconds), not slow memory leaks: the 10-minute
// default and the hour-long run are for those (README).
func TestLeakCheckShort(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the daemon for 20 s")
	}
	for _, tool := range []string{"bash", "curl", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s not found", tool)
			}
			t.Skipf("%s not found", tool)
		}
	}
	bin := filepath.Join(t.TempDir(), "llmprobe")
	build := exec.Command("go", "build", "-o", bin, "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "../scripts/leak-check.sh")
	// On timeout the script gets SIGTERM, so that its trap stops the
	// daemon and the simulators it started.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second
	cmd.Env = append(os.Environ(), "LLMPROBE_BIN="+bin, "DURATION=20s", "WARMUP=6s", "SAMPLE=1s", "SOAK_DURATION=5s", "TMPDIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	t.Logf("scripts/leak-check.sh:\n%s", out)
	if err != nil {
		t.Fatalf("leak check failed: %v", err)
	}
	if !strings.Contains(string(out), "\nPASS") {
		t.Fatal("the leak check did not say PASS")
	}
}
