package servermetrics

import "time"

// Timeline is what a server's own /metrics page said during a run: one Point
// per successful scrape, every Every, bounded by MaxPoints. It is stored in a
// run's result beside the request timeline.
type Timeline struct {
	// URL is the page scraped, its password redacted.
	URL    string  `json:"url"`
	Server Server  `json:"server"`
	EveryS float64 `json:"every_s"`
	Points []Point `json:"points"`
	// Scrapes and Failures count attempts; LastError is the last failure's
	// reason (a redacted *Error text), so a result says why points are
	// missing.
	Scrapes   int    `json:"scrapes"`
	Failures  int    `json:"failures"`
	LastError string `json:"last_error,omitempty"`
}

// MaxPoints bounds a timeline (a day at one scrape per second).
const MaxPoints = 86400

// Point is one scrape: the gauges and counters of the vocabulary by our name
// (requests_running, requests_waiting, kv_cache_usage_ratio,
// resident_memory_bytes, and the counters' cumulative values), and the
// histograms' cumulative counts and sums as NAME_count and NAME_sum
// (ttft_seconds_count, queue_time_seconds_sum, ...), so any window's mean
// can be had from two points. Values the page did not have are absent.
type Point struct {
	Time   time.Time          `json:"t"`
	Values map[string]float64 `json:"v"`
}
