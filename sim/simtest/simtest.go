// Package simtest starts the simulator for other packages' tests.
package simtest

import (
	"context"
	"testing"

	"github.com/llmprobe/llmprobe/sim"
)

// Start serves cfg on a loopback port until the test ends and returns its
// base URL (http://host:port).
func Start(t testing.TB, cfg sim.Config) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	_, addr, err := sim.Listen(ctx, "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	return "http://" + addr.String()
}
