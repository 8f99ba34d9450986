package probe

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryPolicy bounds retries of requests the server refused with 429 (or
// 503) and a Retry-After. Zero Max means no retries: soaks use that unless
// configured otherwise, because a load test that retries measures its own
// patience, not the server.
type RetryPolicy struct {
	Max     int           // retries after the first attempt
	MaxWait time.Duration // a longer Retry-After is not waited for
}

// DefaultProbeRetry is what scheduled probes use: one retry when the server
// asks for a short pause, so a single shed request does not page anyone.
var DefaultProbeRetry = RetryPolicy{Max: 1, MaxWait: 5 * time.Second}

// DoWithRetry is Do with bounded retries. The returned record is the last
// attempt's, with Retries set to the number of retries made; the earlier
// attempts are passed to each (nil to ignore) so their failures still count;
// the returned record never is, so a caller counting both counts it once.
func (c *Client) DoWithRetry(ctx context.Context, req Request, p RetryPolicy, each func(*Record)) *Record {
	for attempt := 0; ; attempt++ {
		rec := c.Do(ctx, req)
		rec.Retries = attempt
		retryable := rec.Result == ResultHTTP429 || (rec.Result == ResultHTTP5xx && rec.HTTPStatus == http.StatusServiceUnavailable)
		if !retryable || attempt >= p.Max || rec.RetryAfter <= 0 || rec.RetryAfter > p.MaxWait {
			return rec
		}
		t := time.NewTimer(rec.RetryAfter)
		select {
		case <-ctx.Done():
			t.Stop()
			return rec // returned, so not also passed to each
		case <-t.C:
		}
		if each != nil {
			each(rec)
		}
	}
}

// retryAfter parses a Retry-After header: delay seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(min(s, 86400)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
