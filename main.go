// Command llmprobe is a Prometheus-native prober and load tester for
// OpenAI-compatible model servers. See README.md.
package main

import (
	"os"

	"github.com/prometheus/common/version"

	"github.com/llmprobe/llmprobe/cli"
)

func init() {
	// Release builds set these with -ldflags; a plain `go build` still
	// says which version of the source it is.
	if version.Version == "" {
		version.Version = "0.1.0-dev"
	}
}

func main() { os.Exit(cli.Run(os.Args[1:])) }
