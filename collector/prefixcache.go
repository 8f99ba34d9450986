package collector

import (
	"github.com/prometheus/client_golang/prometheus"
)

// PrefixCacheMetrics holds what the last run of a probe (or soak) whose
// workload has conversations or shared prefixes measured of the server's
// prefix cache: the TTFT of requests it should serve from its cache (warm:
// a conversation's later turns, a shared-prefix group's later requests)
// against those it cannot (cold: first turns, each group's first request
// of the run). Set when the run ends, not at scrape time.
type PrefixCacheMetrics struct {
	gain *prometheus.GaugeVec
	ttft *prometheus.GaugeVec
	hits *prometheus.GaugeVec
}

// PrefixCacheGain is one run's comparison, in seconds and ratios.
type PrefixCacheGain struct {
	// Ratio is (cold median TTFT - warm median TTFT) / cold median TTFT.
	Ratio                      float64
	ColdTTFT, WarmTTFT         float64 // median seconds
	ColdHitRatio, WarmHitRatio float64 // share of each side the server reported as cached
}

var cacheLabels = []string{"target", "model", "phase", "name"}

// NewPrefixCacheMetrics creates the prefix-cache series and registers them
// with reg.
func NewPrefixCacheMetrics(reg prometheus.Registerer) *PrefixCacheMetrics {
	m := &PrefixCacheMetrics{
		gain: gauge("prefix_cache_ttft_gain_ratio",
			"Share of a cold request's median time to first token that the server's prefix cache saved in the last run of a probe or soak with conversations or shared prefixes: (cold - warm) / cold, warm being requests whose prefix the cache should hold (later turns, a shared-prefix group's later requests) and cold those it cannot yet (first turns, each group's first request of the run). 0: no gain; negative: warm requests were slower. Set when the run ends.",
			cacheLabels),
		ttft: gauge("prefix_cache_time_to_first_token_seconds",
			"Median time to first token of the last run's cold and warm requests (cache label), as llmprobe_prefix_cache_ttft_gain_ratio compares them.",
			append(cacheLabels[:len(cacheLabels):len(cacheLabels)], "cache")),
		hits: gauge("prefix_cache_hit_ratio",
			"Share of the last run's cold and warm requests (cache label) for which the server reported more cached prompt tokens than a chat template's share (usage.prompt_tokens_details.cached_tokens): near 0 for cold, near 1 for warm where the cache works and the server reports it.",
			append(cacheLabels[:len(cacheLabels):len(cacheLabels)], "cache")),
	}
	reg.MustRegister(m.gain, m.ttft, m.hits)
	return m
}

// Set records one run's comparison; a nil m records nothing.
func (m *PrefixCacheMetrics) Set(target, model, phase, name string, g PrefixCacheGain) {
	if m == nil {
		return
	}
	m.gain.WithLabelValues(target, model, phase, name).Set(g.Ratio)
	m.ttft.WithLabelValues(target, model, phase, name, "cold").Set(g.ColdTTFT)
	m.ttft.WithLabelValues(target, model, phase, name, "warm").Set(g.WarmTTFT)
	m.hits.WithLabelValues(target, model, phase, name, "cold").Set(g.ColdHitRatio)
	m.hits.WithLabelValues(target, model, phase, name, "warm").Set(g.WarmHitRatio)
}

// Delete removes every series whose labels match (a target or a probe a
// reload removed).
func (m *PrefixCacheMetrics) Delete(match prometheus.Labels) {
	if m == nil {
		return
	}
	for _, v := range []*prometheus.GaugeVec{m.gain, m.ttft, m.hits} {
		v.DeletePartialMatch(match)
	}
}
