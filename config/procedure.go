package config

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/prometheus/common/model"

	"github.com/llmprobe/llmprobe/stress"
)

// ModeProcedure runs the whole stress procedure (sanity, coarse ladder,
// sweep, fine rates, concurrency validation, long soak), each step derived
// from the earlier ones' results; its parameters are under procedure:.
const ModeProcedure = "procedure"

// Procedure holds a procedure soak's parameters; every field is optional
// and takes the stress procedure's default (see stress.DefaultPlan and the
// README's stress section). Durations are before Scale.
type Procedure struct {
	Steps []string `yaml:"steps,omitempty" json:"steps,omitempty"`
	// Scale multiplies every duration, in (0, 100]; default 1.
	Scale float64 `yaml:"scale,omitempty" json:"scale,omitempty"`

	SanityRate     float64        `yaml:"sanity_rate,omitempty" json:"sanity_rate,omitempty"`
	SanityDuration model.Duration `yaml:"sanity_duration,omitempty" json:"sanity_duration,omitempty"`
	SanityWarmup   model.Duration `yaml:"sanity_warmup,omitempty" json:"sanity_warmup,omitempty"`

	Ladder         []int          `yaml:"ladder,omitempty" json:"ladder,omitempty"`
	LadderMax      int            `yaml:"ladder_max,omitempty" json:"ladder_max,omitempty"`
	CoarseDuration model.Duration `yaml:"coarse_duration,omitempty" json:"coarse_duration,omitempty"`

	SweepRates    int            `yaml:"sweep_rates,omitempty" json:"sweep_rates,omitempty"`
	SweepDuration model.Duration `yaml:"sweep_duration,omitempty" json:"sweep_duration,omitempty"`
	SweepWarmup   model.Duration `yaml:"sweep_warmup,omitempty" json:"sweep_warmup,omitempty"`

	Fractions    []float64      `yaml:"fractions,omitempty" json:"fractions,omitempty"`
	FineDuration model.Duration `yaml:"fine_duration,omitempty" json:"fine_duration,omitempty"`

	ValidationDuration model.Duration `yaml:"validation_duration,omitempty" json:"validation_duration,omitempty"`

	// DriftWarmup is load sent before the validation and the soak and left
	// out of them, so their drift verdicts start from a steady state.
	DriftWarmup model.Duration `yaml:"drift_warmup,omitempty" json:"drift_warmup,omitempty"`
	// MaxRPS is the detected max the fine rates and the soak use when the
	// sweep is not among the steps (one known from an earlier procedure).
	MaxRPS float64 `yaml:"max_rps,omitempty" json:"max_rps,omitempty"`

	SoakFraction float64 `yaml:"soak_fraction,omitempty" json:"soak_fraction,omitempty"`
	// SoakDuration 0 leaves the long soak out; unset, it takes the default.
	SoakDuration *model.Duration `yaml:"soak_duration,omitempty" json:"soak_duration,omitempty"`
}

// Plan returns the procedure's plan (zero fields left for the stress
// package's defaults).
func (p *Procedure) Plan() stress.Plan {
	pl := stress.Plan{
		Steps:              p.Steps,
		Scale:              p.Scale,
		SanityRate:         p.SanityRate,
		SanityDuration:     time.Duration(p.SanityDuration),
		SanityWarmup:       time.Duration(p.SanityWarmup),
		Ladder:             p.Ladder,
		LadderMax:          p.LadderMax,
		CoarseDuration:     time.Duration(p.CoarseDuration),
		SweepRates:         p.SweepRates,
		SweepDuration:      time.Duration(p.SweepDuration),
		SweepWarmup:        time.Duration(p.SweepWarmup),
		Fractions:          p.Fractions,
		FineDuration:       time.Duration(p.FineDuration),
		ValidationDuration: time.Duration(p.ValidationDuration),
		SoakFraction:       p.SoakFraction,
		DriftWarmup:        time.Duration(p.DriftWarmup),
		MaxRPS:             p.MaxRPS,
	}
	if p.SoakDuration != nil {
		pl.SoakDuration = time.Duration(*p.SoakDuration)
		if pl.SoakDuration == 0 {
			pl.Steps = withoutSoak(pl.Steps)
		}
	}
	return pl
}

// withoutSoak is steps (all of them when empty) less the long soak.
func withoutSoak(steps []string) []string {
	if len(steps) == 0 {
		steps = stress.Steps
	}
	return slices.DeleteFunc(slices.Clone(steps), func(s string) bool { return s == stress.StepSoak })
}

// validateProcedure checks a procedure soak's block; inFlight is the soak's
// max_in_flight (or its default), which no virtual-user count may exceed.
func (l *loader) validateProcedure(pr *Procedure, p string, inFlight int) {
	before := len(l.errs)
	for i, s := range pr.Steps {
		l.oneOf(fmt.Sprintf("%s.steps[%d]", p, i), "step", s, stress.Steps)
	}
	if pr.Scale != 0 && !(pr.Scale > 0 && pr.Scale <= 100) {
		l.errorf(p+".scale", "must be above 0 and at most 100")
	}
	if r := pr.SanityRate; r != 0 && !(r > 0 && !math.IsInf(r, 0)) {
		l.errorf(p+".sanity_rate", "must be a positive number")
	}
	for _, d := range []struct {
		field string
		v     model.Duration
	}{
		{"sanity_duration", pr.SanityDuration}, {"sanity_warmup", pr.SanityWarmup}, {"coarse_duration", pr.CoarseDuration},
		{"sweep_duration", pr.SweepDuration}, {"sweep_warmup", pr.SweepWarmup}, {"fine_duration", pr.FineDuration},
		{"validation_duration", pr.ValidationDuration}, {"drift_warmup", pr.DriftWarmup},
	} {
		// Zero is how the plan says "the default": an explicit 0s would be
		// silently replaced, so it is refused instead.
		if d.v < 0 || l.has(p+"."+d.field, false) && d.v == 0 {
			l.errorf(p+"."+d.field, "must be positive (leave it out for the default, or lower scale)")
		}
	}
	if r := pr.MaxRPS; r != 0 && !(r > 0 && !math.IsInf(r, 0)) {
		l.errorf(p+".max_rps", "must be a positive number")
	}
	if pr.MaxRPS != 0 && (len(pr.Steps) == 0 || slices.Contains(pr.Steps, stress.StepSweep)) {
		l.errorf(p+".max_rps", "only used when the sweep is not among the steps (a sweep that runs finds the max itself)")
	}
	if pr.SoakDuration != nil && *pr.SoakDuration < 0 {
		l.errorf(p+".soak_duration", "must not be negative (0 leaves the soak out)")
	}
	prev := 0
	for i, v := range pr.Ladder {
		f := fmt.Sprintf("%s.ladder[%d]", p, i)
		switch {
		case v < 1 || v > inFlight:
			l.errorf(f, "must be between 1 and max_in_flight (%d)", inFlight)
		case v <= prev:
			l.errorf(f, "must be larger than the rung before it (%d)", prev)
		}
		prev = max(prev, v)
	}
	if pr.LadderMax != 0 {
		l.intRange(p+".ladder_max", pr.LadderMax, max(1, prev), inFlight)
	}
	l.intRange(p+".sweep_rates", pr.SweepRates, 1, MaxNumRates)
	for i, f := range pr.Fractions {
		if !(f > 0 && f <= 1) {
			l.errorf(fmt.Sprintf("%s.fractions[%d]", p, i), "must be above 0 and at most 1 (a fraction of the detected max)")
		}
	}
	if f := pr.SoakFraction; f != 0 && !(f > 0 && f <= 1) {
		l.errorf(p+".soak_fraction", "must be above 0 and at most 1")
	}
	needsMax := slices.Contains(pr.Steps, stress.StepFine) || slices.Contains(pr.Steps, stress.StepSoak)
	if len(pr.Steps) > 0 && needsMax && !slices.Contains(pr.Steps, stress.StepSweep) && pr.MaxRPS == 0 {
		l.errorf(p+".steps", "fine and soak run at fractions of the detected max: add sweep to the steps, or give max_rps")
	}
	if len(l.errs) == before {
		// What the fields allow one by one, the plan may still not: fine
		// rates without a sweep or a max to take fractions of, say.
		if err := pr.Plan().WithDefaults().Validate(inFlight); err != nil {
			l.errorf(p, "%v", err)
		}
	}
}
