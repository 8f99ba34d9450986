package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/llmprobe/llmprobe/collector"
	"github.com/llmprobe/llmprobe/daemon"
	"github.com/llmprobe/llmprobe/probe"
)

// probeHandler runs one configured probe against one configured target now
// and answers with that run's metrics only, as blackbox_exporter's /probe
// does. Only configured targets can be probed: the prober must not become a
// way to make requests to arbitrary addresses.
func probeHandler(d *daemon.Daemon, logger *slog.Logger, offset time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		target, module := q.Get("target"), q.Get("module")
		if target == "" {
			http.Error(w, "target parameter is missing", http.StatusBadRequest)
			return
		}
		ctx := r.Context()
		// As blackbox_exporter does: finish offset before Prometheus gives
		// up on the scrape, so a slow target yields a failed probe, not a
		// scrape error.
		if v, err := strconv.ParseFloat(r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds"), 64); err == nil {
			if budget := time.Duration(v*float64(time.Second)) - offset; budget > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, budget)
				defer cancel()
			}
		}
		res, client, err := d.ProbeNow(ctx, module, target)
		if errors.Is(err, daemon.ErrUnknown) {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if q.Get("debug") == "true" {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			for i, rec := range res.Records {
				fmt.Fprintf(w, "request %d of probe %q against target %q\n", i+1, res.Probe, res.Target)
				writeDebug(w, client, rec)
				if rec.ColdCacheHit {
					fmt.Fprintf(w, "cold request served from the server's prefix cache: cached_tokens=%d of %d input tokens\n", rec.CachedTokens, rec.InputTokens)
				}
				if rec.Result == probe.ResultInvalidOutput {
					fmt.Fprintf(w, "invalid output: the server answered 200, but not what was asked for: %s\n", rec.Error)
				}
			}
			fmt.Fprintf(w, "\nprobe success: %v %s\n", res.Success, res.Reason)
			return
		}
		reg := prometheus.NewRegistry()
		collector.NewAdHocProbe(reg).Set(res.Records, res.Success, res.Duration.Seconds())
		if !res.Success {
			logger.Debug("ad-hoc probe failed", "probe", res.Probe, "target", res.Target, "reason", res.Reason)
		}
		promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	}
}

// writeDebug describes one request and its outcome; the API key is shown
// as <secret>, as blackbox_exporter does.
func writeDebug(w io.Writer, c *probe.Client, rec *probe.Record) {
	ep := c.Endpoint()
	fmt.Fprintf(w, "POST %s (kind %s, model %s, stream %v)\n", ep.URL, ep.Kind, ep.Model, ep.Stream)
	if ep.APIKey != "" {
		if h := ep.KeyHeader(); h == "Authorization" {
			fmt.Fprintln(w, "Authorization: Bearer <secret>")
		} else {
			fmt.Fprintf(w, "%s: <secret>\n", h)
		}
	}
	fmt.Fprintf(w, "result=%s http_status=%d", rec.Result, rec.HTTPStatus)
	if d, ok := rec.TTFT(); ok {
		fmt.Fprintf(w, " ttft=%s", d.Round(time.Microsecond))
	}
	if d, ok := rec.MedianITL(); ok {
		fmt.Fprintf(w, " median_itl=%s", d.Round(time.Microsecond))
	}
	fmt.Fprintf(w, " e2e=%s chunks=%d input_tokens=%d output_tokens=%d usage_reported=%v cached_tokens=%d finish_reason=%q",
		rec.E2E().Round(time.Microsecond), len(rec.Chunks), rec.InputTokens, rec.OutputTokens, rec.UsageReported, rec.CachedTokens, rec.FinishReason)
	if rec.ServerPrefill > 0 {
		fmt.Fprintf(w, " server_prefill=%s server_decode=%s", rec.ServerPrefill, rec.ServerDecode)
	}
	if rec.ToolCalls > 0 || rec.NoToolCall {
		fmt.Fprintf(w, " tool_calls=%d", rec.ToolCalls)
	}
	if rec.Error != "" {
		fmt.Fprintf(w, " error=%q", rec.Error)
	}
	fmt.Fprintln(w)
}
