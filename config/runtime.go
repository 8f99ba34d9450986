package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/probe"
	"github.com/llmprobe/llmprobe/servermetrics"
)

// The one place config values become the runtime types the client and the
// load engine take. The daemon calls these for configured targets and
// soaks; bench builds config values from its flags and calls them too, so
// the two cannot drift apart field by field.

// Endpoint is the client's view of t.
func (t *Target) Endpoint() probe.Endpoint {
	return probe.Endpoint{
		Name:               t.Name,
		URL:                t.URL,
		Model:              t.Model,
		Kind:               t.Kind,
		APIKey:             string(t.APIKey),
		APIKeyHeader:       t.APIKeyHeader,
		Timeout:            time.Duration(t.Timeout),
		IdleTimeout:        time.Duration(t.IdleTimeout),
		MaxResponseBytes:   t.MaxResponseBytes,
		Stream:             t.Streaming(),
		SupportsMinTokens:  t.SupportsMinTokens,
		RerankPath:         t.RerankPath,
		InsecureSkipVerify: t.InsecureSkipVerify,
		Headers:            t.Headers,
	}
}

// MetricsPage returns the URL of t's metrics page, "" with metrics_url:
// none; derived is true when it was not configured but derived from t's
// URL (its trailing "/" and "/v1" removed, /metrics appended).
func (t *Target) MetricsPage() (page string, derived bool) {
	switch t.MetricsURL {
	case MetricsNone:
		return "", false
	case "":
		base := strings.TrimSuffix(strings.TrimRight(t.URL, "/"), "/v1")
		return base + "/metrics", true
	}
	return t.MetricsURL, false
}

// CheckMetrics returns what is wrong with t's metrics page settings, each
// problem prefixed by its field (for bench, whose flags build a Target).
func (t *Target) CheckMetrics() error {
	var errs []error
	for _, pr := range metricsProblems(t) {
		errs = append(errs, fmt.Errorf("%s: %s", pr.field, pr.msg))
	}
	return errors.Join(errs...)
}

// ServerScraper returns the scraper of t's metrics page (nil with
// metrics_url: none), defaults applied. It carries t's key, in t's key
// header, when metrics_auth says so: unset, only to a page on the target's
// own scheme, host and port, so a key never travels to another host
// unasked.
func (t *Target) ServerScraper() *servermetrics.Scraper {
	page, derived := t.MetricsPage()
	if page == "" {
		return nil
	}
	s := &servermetrics.Scraper{
		URL:      page,
		MaxBytes: orDefault(t.MetricsMaxBytes, DefaultMetricsMaxBytes),
		Timeout:  time.Duration(orDefault(t.MetricsTimeout, DefaultMetricsTimeout)),
		Server:   servermetrics.Server(orDefault(t.Server, "auto")),
		Derived:  derived,
	}
	send := sameOrigin(t.URL, page)
	if t.MetricsAuth != nil {
		send = *t.MetricsAuth
	}
	if send && t.APIKey != "" {
		s.Key, s.KeyHeader = string(t.APIKey), t.APIKeyHeader
	}
	if t.InsecureSkipVerify {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the target's own setting
		s.Client = &http.Client{Transport: tr, CheckRedirect: servermetrics.CheckRedirect}
	}
	return s
}

// MetricsEvery is how often t's metrics page is scraped during a run.
func (t *Target) MetricsEvery() time.Duration {
	return time.Duration(orDefault(t.MetricsInterval, DefaultMetricsInterval))
}

// sameOrigin reports whether two URLs share scheme, host and port.
func sameOrigin(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	if err1 != nil || err2 != nil {
		return false
	}
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		if u.Scheme == "https" {
			return "443"
		}
		return "80"
	}
	return strings.EqualFold(ua.Scheme, ub.Scheme) && strings.EqualFold(ua.Hostname(), ub.Hostname()) && port(ua) == port(ub)
}

// Probe returns s as the client checks it (the error ratio is a run's, not
// a request's, and stays out).
func (s SLO) Probe() probe.SLO {
	return probe.SLO{TTFT: time.Duration(s.TTFT), ITL: time.Duration(s.ITL), TPOT: time.Duration(s.TPOT), E2E: time.Duration(s.E2E)}
}

// Info describes w in a run's result.
func (w *Workload) Info() load.WorkloadInfo {
	prompt := "fixed"
	switch {
	case w.Dataset != "":
		prompt = "dataset"
	case w.InputTokens > 0:
		prompt = "synthetic"
	}
	d := w.OutputTokens
	return load.WorkloadInfo{
		Name: w.Name, Prompt: prompt, Dataset: w.Dataset, InputTokens: w.InputTokens, PrefixCache: w.PrefixCache,
		Output: load.DecodeOptions{NumTokens: d.NumTokens, MaxTokens: d.MaxTokens, MinTokens: d.MinTokens, Variance: d.Variance},
	}
}

// LoadOptions returns the load options of soak sk against t with w, for
// phase (the series' phase label).
func (sk *Soak) LoadOptions(t *Target, w *Workload, phase string) load.Options {
	return load.Options{
		Mode:           sk.Mode,
		Arrival:        sk.Arrival,
		Burstiness:     sk.Burstiness,
		Ramp:           sk.Ramp.loadRamp(),
		Trace:          sk.loadTrace(), // its Requests are the caller's (workload.NewTrace)
		Rates:          sk.Rates,
		VUs:            sk.VUs,
		MaxVUs:         sk.MaxVUs,
		NumRates:       sk.NumRates,
		Duration:       time.Duration(sk.Duration),
		Warmup:         time.Duration(sk.Warmup),
		MaxInFlight:    sk.MaxInFlight,
		StopErrorRatio: sk.StopErrorRatio,
		SLO:            sk.SLO.Probe(),
		ErrorRatio:     sk.SLO.ErrorRatio,
		Seed:           sk.Seed,
		Name:           sk.Name,
		Phase:          phase,
		Target:         t.Name,
		Model:          t.Model,
		Kind:           t.Kind,
		Workload:       w.Info(),
	}
}
