package probe

import (
	"fmt"
	"slices"
	"time"
)

// SLO holds per-request latency objectives; a zero field is not checked.
type SLO struct {
	TTFT, ITL, TPOT, E2E time.Duration
}

// Check returns nil when rec succeeded and met every objective, else an
// error naming the first objective missed. The ITL objective is judged on
// the request's median inter-token latency: one slow gap in a long answer
// is jitter, a slow median is a slow decode.
func (s SLO) Check(rec *Record) error {
	if !rec.Success() {
		return fmt.Errorf("request failed: %s", rec.Result)
	}
	if s.TTFT > 0 {
		if d, ok := rec.TTFT(); ok && d > s.TTFT {
			return fmt.Errorf("TTFT %s > SLO %s", d.Round(time.Millisecond), s.TTFT)
		}
	}
	if s.E2E > 0 && rec.E2E() > s.E2E {
		return fmt.Errorf("E2E %s > SLO %s", rec.E2E().Round(time.Millisecond), s.E2E)
	}
	if s.TPOT > 0 {
		if d, ok := rec.TPOT(); ok && d > s.TPOT {
			return fmt.Errorf("TPOT %s > SLO %s", d.Round(100*time.Microsecond), s.TPOT)
		}
	}
	if s.ITL > 0 {
		if d, ok := rec.MedianITL(); ok && d > s.ITL {
			return fmt.Errorf("median ITL %s > SLO %s", d.Round(100*time.Microsecond), s.ITL)
		}
	}
	return nil
}

// MedianITL is the median of the request's inter-token latency samples.
func (r *Record) MedianITL() (time.Duration, bool) {
	var samples []time.Duration
	r.EachITL(func(d time.Duration, k int) {
		for range k {
			samples = append(samples, d)
		}
	})
	if len(samples) == 0 {
		return 0, false
	}
	slices.Sort(samples)
	return samples[len(samples)/2], true
}
