// Command llmprobe is a Prometheus-native prober and load tester for
// OpenAI-compatible model servers. See README.md.
package main

import (
	"os"
)

func main() { os.Exit(run(os.Args[1:])) }
