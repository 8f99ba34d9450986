package config

import (
	"time"

	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/probe"
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
