package cli

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/version"
	"gopkg.in/yaml.v3"

	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/daemon"
	"github.com/llmprobe/llmprobe/probe"
)

// writesProtected reports whether a Prometheus web-config file puts every
// request behind authentication (basic auth users, or required client
// certificates), which is what write endpoints need.
func writesProtected(webConfigFile string) (bool, error) {
	if webConfigFile == "" {
		return false, nil
	}
	b, err := os.ReadFile(webConfigFile)
	if err != nil {
		return false, err
	}
	var wc struct {
		BasicAuthUsers map[string]string `yaml:"basic_auth_users"`
		TLS            struct {
			ClientAuthType string `yaml:"client_auth_type"`
		} `yaml:"tls_server_config"`
	}
	if err := yaml.Unmarshal(b, &wc); err != nil {
		return false, fmt.Errorf("%s: %w", webConfigFile, err)
	}
	return len(wc.BasicAuthUsers) > 0 || wc.TLS.ClientAuthType == "RequireAndVerifyClientCert", nil
}

// writeGuard refuses write requests that are not POST, or that would be
// unauthenticated without an explicit opt-in.
type writeGuard struct {
	allowed bool
	reason  string
}

func (g writeGuard) wrap(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "use POST", http.StatusMethodNotAllowed)
			return
		}
		if !g.allowed {
			http.Error(w, g.reason, http.StatusForbidden)
			return
		}
		h(w, r)
	}
}

// reloader applies a freshly loaded config; SIGHUP and POST /-/reload share
// it, one reload at a time.
type reloader struct {
	mu      sync.Mutex
	load    func() (*config.Config, error)
	apply   []func(*config.Config) error
	metrics *reloadMetrics
	logger  *slog.Logger
}

func (r *reloader) reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	next, err := r.load()
	for _, apply := range r.apply {
		if err != nil {
			break
		}
		err = apply(next)
	}
	if err != nil {
		// the running config stays: a bad edit must not stop monitoring
		r.metrics.set(false)
		r.logger.Error("config reload failed; keeping the running config", "err", err)
		return err
	}
	r.metrics.set(true)
	r.logger.Info("config reloaded", "probes", len(next.Probes), "soaks", len(next.Soaks), "targets", len(next.Targets))
	return nil
}

func (r *reloader) handler(w http.ResponseWriter, _ *http.Request) {
	if err := r.reload(); err != nil {
		http.Error(w, "reload failed; the running config stays:\n"+err.Error(), http.StatusBadRequest)
		return
	}
	fmt.Fprintln(w, "reloaded")
}

// probeHandler runs one configured probe against one configured target now
// and answers with that run's metrics only, as blackbox_exporter's /probe
// does. Only configured targets can be probed: the prober must not become a
// way to make requests to arbitrary addresses.
func probeHandler(d *daemon.Daemon, logger *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		target, module := q.Get("target"), q.Get("module")
		if target == "" {
			http.Error(w, "target parameter is missing", http.StatusBadRequest)
			return
		}
		ctx := r.Context()
		// As blackbox_exporter does: finish before Prometheus gives up on
		// the scrape, so a slow target yields a failed probe, not a
		// scrape error.
		if v, err := strconv.ParseFloat(r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds"), 64); err == nil && v > 1 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, time.Duration((v-0.5)*float64(time.Second)))
			defer cancel()
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
			}
			fmt.Fprintf(w, "\nprobe success: %v %s\n", res.Success, res.Reason)
			return
		}
		reg := prometheus.NewRegistry()
		gauge := func(name, help string, v float64) {
			g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
			g.Set(v)
			reg.MustRegister(g)
		}
		var ttft, itl, tpot, e2e, outTok, inTok, ok float64
		status := 0.0
		for _, rec := range res.Records {
			status = float64(rec.HTTPStatus)
			if !rec.Success() {
				continue
			}
			ok++
			if d, has := rec.TTFT(); has {
				ttft += d.Seconds()
			}
			if d, has := rec.MedianITL(); has {
				itl += d.Seconds()
			}
			if d, has := rec.TPOT(); has {
				tpot += d.Seconds()
			}
			e2e += rec.E2E().Seconds()
			outTok += float64(rec.OutputTokens)
			inTok += float64(rec.InputTokens)
		}
		if ok > 0 {
			ttft, itl, tpot, e2e, outTok, inTok = ttft/ok, itl/ok, tpot/ok, e2e/ok, outTok/ok, inTok/ok
		}
		success := 0.0
		if res.Success {
			success = 1
		}
		gauge("llmprobe_probe_success", "Whether every request of the probe succeeded and met its SLOs.", success)
		gauge("llmprobe_probe_duration_seconds", "How long the probe took.", res.Duration.Seconds())
		gauge("llmprobe_probe_requests", "Requests the probe sent.", float64(len(res.Records)))
		gauge("llmprobe_probe_failed_requests", "Requests of the probe that failed.", float64(len(res.Records))-ok)
		gauge("llmprobe_probe_http_status_code", "HTTP status of the last request (0: none received).", status)
		gauge("llmprobe_probe_time_to_first_token_seconds", "Mean TTFT of the probe's successful requests.", ttft)
		gauge("llmprobe_probe_inter_token_latency_seconds", "Mean of the successful requests' median inter-token latency.", itl)
		gauge("llmprobe_probe_time_per_output_token_seconds", "Mean TPOT of the probe's successful requests.", tpot)
		gauge("llmprobe_probe_request_duration_seconds", "Mean end-to-end latency of the probe's successful requests.", e2e)
		gauge("llmprobe_probe_output_tokens", "Mean output tokens of the probe's successful requests.", outTok)
		gauge("llmprobe_probe_input_tokens", "Mean input tokens of the probe's successful requests.", inTok)
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
		fmt.Fprintln(w, "Authorization: Bearer <secret>")
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
	if rec.Error != "" {
		fmt.Fprintf(w, " error=%q", rec.Error)
	}
	fmt.Fprintln(w)
}

var statusPage = template.Must(template.New("status").Funcs(template.FuncMap{
	"ms": func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) },
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return time.Since(t).Round(time.Second).String() + " ago"
	},
	"until": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return "in " + time.Until(t).Round(time.Second).String()
	},
	"ttft": func(r *daemon.ProbeResult) string {
		var sum time.Duration
		n := 0
		for _, rec := range r.Records {
			if d, ok := rec.TTFT(); ok && rec.Success() {
				sum += d
				n++
			}
		}
		if n == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f ms", float64(sum)/float64(n)/1e6)
	},
	"e2e": func(r *daemon.ProbeResult) string {
		var sum time.Duration
		n := 0
		for _, rec := range r.Records {
			if rec.Success() {
				sum += rec.E2E()
				n++
			}
		}
		if n == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f ms", float64(sum)/float64(n)/1e6)
	},
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>llmprobe</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;margin:0;color:#1d2330}
header{background:#3b4a6b;color:#fff;padding:.8em 1.5em}
header h1{margin:0;font-size:1.4em} header p{margin:.2em 0 0;opacity:.85;font-size:.9em}
main{padding:1em 1.5em}
table{border-collapse:collapse;width:100%;margin:.5em 0 1.5em}
th,td{text-align:left;padding:.35em .6em;border-bottom:1px solid #dde}
th{background:#f3f4f8;font-weight:600}
.ok{color:#177a2b;font-weight:600}.fail{color:#b3261e;font-weight:600}.none{color:#777}
.reason{font-size:.85em;color:#555;max-width:40em}
nav a{margin-right:1.2em}
</style></head><body>
<header><h1>llmprobe</h1><p>{{.Version}}</p></header>
<main>
<nav><a href="{{.MetricsPath}}">Metrics</a><a href="/api/v1/status">Status (JSON)</a>{{range .Links}}<a href="{{.Address}}">{{.Text}}</a>{{end}}</nav>
<h2>Probes</h2>
<table id="probes"><thead><tr><th>Target</th><th>Model</th><th>Probe</th><th>Last run</th><th>Result</th><th>TTFT (mean)</th><th>E2E (mean)</th><th>Next run</th></tr></thead><tbody>
{{range .Probes}}<tr class="target" data-target="{{.Target}}">
<td>{{.Target}}</td><td>{{.Model}}</td><td>{{.Probe}}</td>
{{if .Last}}<td>{{ago .Last.Time}}</td><td>{{if .Last.Success}}<span class="ok">success</span>{{else}}<span class="fail">failed</span><div class="reason">{{.Last.Reason}}</div>{{end}}</td><td>{{ttft .Last}}</td><td>{{e2e .Last}}</td>
{{else}}<td class="none">not yet</td><td class="none">-</td><td>-</td><td>-</td>{{end}}
<td>{{until .Next}}</td></tr>
{{else}}<tr><td colspan="8" class="none">No probes configured.</td></tr>{{end}}
</tbody></table>
{{.Extra}}
</main></body></html>
`))

// statusPageData is what the status page shows; Extra is HTML that other
// parts of the daemon (soaks) add.
type statusPageData struct {
	Version     string
	MetricsPath string
	Probes      []daemon.Status
	Links       []struct{ Address, Text string }
	Extra       template.HTML
}

func statusPageHandler(d *daemon.Daemon, metricsPath string, extra func() template.HTML) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		data := statusPageData{Version: version.Info(), MetricsPath: metricsPath, Probes: d.Statuses()}
		if extra != nil {
			data.Extra = extra()
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := statusPage.Execute(w, data); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}
}
