package config

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// ParseSchedule parses a probe or soak schedule: a standard 5-field cron
// line ("0 3 * * *"), optionally prefixed by CRON_TZ=Zone, or a descriptor
// (@hourly, @daily, @every 30s). Load checks schedules with it; the
// scheduler should parse with it too so that both agree.
//
// It refuses @every intervals under one second, which cron would silently
// round up.
func ParseSchedule(s string) (sched cron.Schedule, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("empty schedule")
	}
	if strings.HasPrefix(s, "TZ=") || strings.HasPrefix(s, "CRON_TZ=") {
		// cron slices up to the first space and panics without one.
		if !strings.Contains(s, " ") {
			return nil, errors.New("time zone prefix without a schedule")
		}
	}
	body := s
	if strings.HasPrefix(body, "TZ=") || strings.HasPrefix(body, "CRON_TZ=") {
		_, body, _ = strings.Cut(body, " ")
		body = strings.TrimSpace(body)
	}
	if every, ok := strings.CutPrefix(body, "@every "); ok {
		d, err := time.ParseDuration(strings.TrimSpace(every))
		if err != nil {
			return nil, fmt.Errorf("@every: %w", err)
		}
		if d < time.Second {
			return nil, errors.New("@every interval must be at least 1s")
		}
	}
	defer func() {
		// cron parses untrusted text; a panic there must stay a config error.
		if r := recover(); r != nil {
			sched, err = nil, fmt.Errorf("cannot parse: %v", r)
		}
	}()
	return cron.ParseStandard(s)
}
