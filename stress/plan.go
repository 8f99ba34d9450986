package stress

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// DefaultPlan is the field guide's procedure: 1 req/s for 30 s after 10 s
// of warmup; 4, 8, 16 and 32 users for 60 s each; a sweep of 10 rates of
// 120 s after 30 s of warmup; 10/25/50/75/90 % of the max for 300 s each;
// 600 s at the knee's users; an hour at 75 % of the max.
func DefaultPlan() Plan {
	return Plan{
		Scale:              1,
		SanityRate:         1,
		SanityDuration:     30 * time.Second,
		SanityWarmup:       10 * time.Second,
		Ladder:             []int{4, 8, 16, 32},
		LadderMax:          256,
		CoarseDuration:     60 * time.Second,
		SweepRates:         10,
		SweepDuration:      120 * time.Second,
		SweepWarmup:        30 * time.Second,
		Fractions:          []float64{0.10, 0.25, 0.50, 0.75, 0.90},
		FineDuration:       300 * time.Second,
		ValidationDuration: 600 * time.Second,
		SoakFraction:       0.75,
		SoakDuration:       time.Hour,
		DriftWarmup:        10 * time.Second,
	}
}

// Floors of a scaled-down procedure (Scale < 1). Scale shrinks every
// duration, but a step shorter than a few request latencies measures
// nothing: each step lasts at least MinStepLatencies and each warmup at
// least MinWarmupLatencies times the sanity check's median end-to-end
// latency, and the sanity check lasts until MinSanityRequests requests
// were sent. A floor never makes a step longer than its unscaled duration.
const (
	MinStepLatencies   = 5
	MinWarmupLatencies = 2
	MinSanityRequests  = 5
)

// WithDefaults returns p with its zero fields set from DefaultPlan and its
// steps in Steps order.
func (p Plan) WithDefaults() Plan {
	d := DefaultPlan()
	if p.Scale == 0 {
		p.Scale = d.Scale
	}
	if p.SanityRate == 0 {
		p.SanityRate = d.SanityRate
	}
	def := func(v *time.Duration, dv time.Duration) {
		if *v == 0 {
			*v = dv
		}
	}
	def(&p.SanityDuration, d.SanityDuration)
	def(&p.SanityWarmup, d.SanityWarmup)
	def(&p.CoarseDuration, d.CoarseDuration)
	def(&p.SweepDuration, d.SweepDuration)
	def(&p.SweepWarmup, d.SweepWarmup)
	def(&p.FineDuration, d.FineDuration)
	def(&p.ValidationDuration, d.ValidationDuration)
	def(&p.SoakDuration, d.SoakDuration)
	def(&p.DriftWarmup, d.DriftWarmup)
	if len(p.Ladder) == 0 {
		p.Ladder = d.Ladder
	}
	if p.LadderMax == 0 {
		p.LadderMax = max(d.LadderMax, p.Ladder[len(p.Ladder)-1])
	}
	if p.SweepRates == 0 {
		p.SweepRates = d.SweepRates
	}
	if len(p.Fractions) == 0 {
		p.Fractions = d.Fractions
	}
	if p.SoakFraction == 0 {
		p.SoakFraction = d.SoakFraction
	}
	if len(p.Steps) == 0 {
		p.Steps = slices.Clone(Steps)
	} else {
		sel := make([]string, 0, len(p.Steps))
		for _, s := range Steps {
			if slices.Contains(p.Steps, s) {
				sel = append(sel, s)
			}
		}
		p.Steps = sel
	}
	return p
}

// Validate checks a plan with its defaults applied; maxInFlight is the
// runs' cap on requests in flight, which no rung may exceed (the ladder's
// extension stops at it, whatever LadderMax says).
func (p Plan) Validate(maxInFlight int) error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if len(p.Steps) == 0 {
		bad("no step selected (want some of %v)", Steps)
	}
	if !(p.Scale > 0 && p.Scale <= 100) {
		bad("scale %v: must be above 0 and at most 100", p.Scale)
	}
	if !(p.SanityRate > 0) || math.IsInf(p.SanityRate, 0) {
		bad("sanity rate %v: must be a positive number", p.SanityRate)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"sanity duration", p.SanityDuration}, {"sanity warmup", p.SanityWarmup}, {"coarse duration", p.CoarseDuration},
		{"sweep duration", p.SweepDuration}, {"sweep warmup", p.SweepWarmup}, {"fine duration", p.FineDuration},
		{"validation duration", p.ValidationDuration}, {"soak duration", p.SoakDuration}, {"drift warmup", p.DriftWarmup},
	} {
		if d.v < 0 {
			bad("%s %s: must not be negative", d.name, d.v)
		}
	}
	prev := 0
	for _, v := range p.Ladder {
		switch {
		case v < 1:
			bad("ladder rung %d: must be at least 1 user", v)
		case v <= prev:
			bad("ladder rung %d: must be larger than the rung before it (%d)", v, prev)
		case v > p.LadderMax:
			bad("ladder rung %d: above the ladder's max %d", v, p.LadderMax)
		case v > maxInFlight:
			bad("ladder rung %d: above max_in_flight %d", v, maxInFlight)
		}
		prev = v
	}
	if p.SweepRates < 1 || p.SweepRates > 50 {
		bad("sweep rates %d: must be between 1 and 50", p.SweepRates)
	}
	for _, f := range p.Fractions {
		if !(f > 0 && f <= 1) {
			bad("fraction %v: must be above 0 and at most 1", f)
		}
	}
	if !(p.SoakFraction > 0 && p.SoakFraction <= 1) {
		bad("soak fraction %v: must be above 0 and at most 1", p.SoakFraction)
	}
	if p.MaxRPS < 0 || math.IsInf(p.MaxRPS, 0) || math.IsNaN(p.MaxRPS) {
		bad("max rps %v: must be a positive number", p.MaxRPS)
	}
	return errors.Join(errs...)
}

// Selected reports whether step is in the plan.
func (p *Plan) Selected(step string) bool { return slices.Contains(p.Steps, step) }

// scaled is d times the plan's scale; with Scale < 1 at least floor, but
// never more than d itself.
func (p *Plan) scaled(d, floor time.Duration) time.Duration {
	s := time.Duration(float64(d) * p.Scale)
	if p.Scale < 1 && s < floor {
		s = min(floor, d)
	}
	return s
}

// Duration is how long the plan's measured time and warmups add up to, as
// planned: the coarse ladder as configured (not extended), every sweep
// rate, no floors and no drains. It is what the README's "how long" says.
func (p Plan) Duration() time.Duration {
	p = p.WithDefaults()
	var d time.Duration
	for _, s := range p.Steps {
		switch s {
		case StepSanity:
			d += p.SanityWarmup + p.SanityDuration
		case StepCoarse:
			d += time.Duration(len(p.Ladder)) * p.CoarseDuration
		case StepSweep:
			d += p.SweepWarmup + time.Duration(1+p.SweepRates)*p.SweepDuration
		case StepFine:
			d += time.Duration(len(p.Fractions)) * p.FineDuration
		case StepValidation:
			d += p.DriftWarmup + p.ValidationDuration
		case StepSoak:
			d += p.DriftWarmup + p.SoakDuration
		}
	}
	return time.Duration(float64(d) * p.Scale)
}
