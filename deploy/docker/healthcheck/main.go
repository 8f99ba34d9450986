// Command llmprobe-healthcheck is the container image's HEALTHCHECK: the
// runtime image has no shell or curl, so this small static binary asks
// llmprobe's /-/healthy and exits 0 when it answers 200, else 1.
//
//	llmprobe-healthcheck [-url http://127.0.0.1:9750/-/healthy] [-timeout 3s] [-insecure]
//
// LLMPROBE_HEALTHCHECK_URL overrides the default URL (for a changed
// --web.listen-address, or https when --web.config.file enables TLS).
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

const defaultURL = "http://127.0.0.1:9750/-/healthy"

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("llmprobe-healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := defaultURL
	if u := os.Getenv("LLMPROBE_HEALTHCHECK_URL"); u != "" {
		def = u
	}
	url := fs.String("url", def, "health endpoint to ask")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	insecure := fs.Bool("insecure", false, "do not verify the TLS certificate (a self-signed --web.config.file certificate)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	client := &http.Client{
		Timeout: *timeout,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: *insecure}, //nolint:gosec // opt-in, loopback health check
		},
	}
	resp, err := client.Get(*url)
	if err != nil {
		fmt.Fprintln(stderr, "unhealthy:", err)
		return 1
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(stderr, "unhealthy:", *url, "answered", resp.Status)
		return 1
	}
	return 0
}
