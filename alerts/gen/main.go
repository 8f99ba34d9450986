// Command gen writes the PrometheusRule manifest rendered from
// alerts/llmprobe.rules.yml. Run it with `go generate ./alerts/...`.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/llmprobe/llmprobe/alerts"
)

func main() {
	root := flag.String("root", ".", "repository root")
	flag.Parse()
	dst := filepath.Join(*root, filepath.FromSlash(alerts.PrometheusRuleFile))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.WriteFile(dst, alerts.PrometheusRule(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("wrote", alerts.PrometheusRuleFile)
}
