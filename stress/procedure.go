// Package stress runs the field guide's stress procedure as one thing: a
// sanity check, a coarse virtual-user ladder, a sweep, fine rates at
// fractions of the detected max, a concurrency validation and a long soak,
// each step's parameters derived from the earlier steps' results, with a
// verdict per step and key numbers for the procedure (issue 12).
package stress

import (
	"context"
	"time"

	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/probe"
)

// The procedure's steps, in the order they run.
const (
	StepSanity     = "sanity"
	StepCoarse     = "coarse"
	StepSweep      = "sweep"
	StepFine       = "fine"
	StepValidation = "validation"
	StepSoak       = "soak"
)

// Steps is every step in order.
var Steps = []string{StepSanity, StepCoarse, StepSweep, StepFine, StepValidation, StepSoak}

// Procedure statuses.
const (
	StatusRunning     = "running"
	StatusCompleted   = "completed"   // every selected step ran
	StatusFailed      = "failed"      // a step's failure stopped it (StopReason)
	StatusInterrupted = "interrupted" // stopped from outside; resumable
)

// Step outcome statuses.
const (
	OutcomePassed      = "passed"
	OutcomeFailed      = "failed"
	OutcomeSkipped     = "skipped"
	OutcomeInterrupted = "interrupted"
)

// Plan is what a procedure runs: the steps and their parameters before
// Scale. Zero fields take the defaults of DefaultPlan.
type Plan struct {
	// Steps selects steps by name (in Steps order whatever the order
	// given); empty: all of them.
	Steps []string `json:"steps,omitempty" yaml:"steps,omitempty"`
	// Scale multiplies every duration (0.01 turns a two-hour procedure
	// into about a minute); default 1.
	Scale float64 `json:"scale" yaml:"scale,omitempty"`

	SanityRate     float64       `json:"sanity_rate" yaml:"sanity_rate,omitempty"`
	SanityDuration time.Duration `json:"sanity_duration_ns" yaml:"sanity_duration,omitempty"`
	SanityWarmup   time.Duration `json:"sanity_warmup_ns" yaml:"sanity_warmup,omitempty"`

	// Ladder is the coarse step's VU counts; it is extended by doubling
	// while no knee is found, up to LadderMax.
	Ladder         []int         `json:"ladder" yaml:"ladder,omitempty"`
	LadderMax      int           `json:"ladder_max" yaml:"ladder_max,omitempty"`
	CoarseDuration time.Duration `json:"coarse_duration_ns" yaml:"coarse_duration,omitempty"`

	SweepRates    int           `json:"sweep_rates" yaml:"sweep_rates,omitempty"`
	SweepDuration time.Duration `json:"sweep_duration_ns" yaml:"sweep_duration,omitempty"`
	SweepWarmup   time.Duration `json:"sweep_warmup_ns" yaml:"sweep_warmup,omitempty"`

	// Fractions of the detected max offered by the fine step.
	Fractions    []float64     `json:"fractions" yaml:"fractions,omitempty"`
	FineDuration time.Duration `json:"fine_duration_ns" yaml:"fine_duration,omitempty"`

	ValidationDuration time.Duration `json:"validation_duration_ns" yaml:"validation_duration,omitempty"`

	SoakFraction float64       `json:"soak_fraction" yaml:"soak_fraction,omitempty"`
	SoakDuration time.Duration `json:"soak_duration_ns" yaml:"soak_duration,omitempty"`

	// DriftWarmup is load sent before the validation and the soak in their
	// shape and left out of them, so their drift verdicts start from a
	// steady state; default 10 s.
	DriftWarmup time.Duration `json:"drift_warmup_ns" yaml:"drift_warmup,omitempty"`
	// MaxRPS, when set, is the detected max for the fine rates and the
	// soak when the sweep does not run (a max known from an earlier
	// procedure); a sweep that runs takes precedence.
	MaxRPS float64 `json:"max_rps,omitempty" yaml:"max_rps,omitempty"`
}

// Procedure is one run of the procedure, stored as procedure.json in its
// directory beside the report; it holds every step's results, so the report
// can be rebuilt from it alone.
type Procedure struct {
	ID     string     `json:"id"`
	Name   string     `json:"name,omitempty"`
	Target string     `json:"target"`
	Model  string     `json:"model"`
	Kind   probe.Kind `json:"kind,omitempty"`

	Status string `json:"status"`
	// Passed: every selected step ran and no verdict failed.
	Passed     bool   `json:"passed"`
	StopReason string `json:"stop_reason,omitempty"`

	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended,omitzero"`

	Plan     Plan              `json:"plan"`
	Workload load.WorkloadInfo `json:"workload"`
	SLO      *load.SLOSpec     `json:"slo,omitempty"`

	Steps    []StepOutcome  `json:"steps"`
	Verdicts []load.Verdict `json:"verdicts"`
	Numbers  Numbers        `json:"numbers"`
}

// StepOutcome is one step of a procedure: its load runs (the coarse ladder
// has one per VU count, other steps one), archived under RunIDs, and its
// latency series over time.
type StepOutcome struct {
	Step   string `json:"step"`
	Status string `json:"status"`
	// Why says what the step found or why it failed, in plain words.
	Why     string         `json:"why,omitempty"`
	RunIDs  []string       `json:"run_ids,omitempty"`
	Results []*load.Result `json:"results,omitempty"`
	// Series is latency and errors over time (validation and soak), in
	// windows, for the drift verdicts and the report's charts.
	Series   []Window       `json:"series,omitempty"`
	Verdicts []load.Verdict `json:"verdicts,omitempty"`
	Started  time.Time      `json:"started,omitzero"`
	Ended    time.Time      `json:"ended,omitzero"`
}

// Window is one slice of time of a step: requests that ended in it.
type Window struct {
	// OffsetS is the window's start in seconds from the step's start.
	OffsetS   float64 `json:"offset_s"`
	WidthS    float64 `json:"width_s"`
	Requests  int     `json:"requests"`
	Failed    int     `json:"failed"`
	E2EP50MS  float64 `json:"e2e_p50_ms"`
	E2EP99MS  float64 `json:"e2e_p99_ms"`
	TTFTP50MS float64 `json:"ttft_p50_ms"`
	TTFTP99MS float64 `json:"ttft_p99_ms"`
	// InFlight is the mean number of requests in flight over the window
	// (request-seconds / width): the client's view of the server's queue.
	InFlight float64 `json:"in_flight"`
}

// Numbers are the procedure's key figures, zero when the step that finds
// one did not run or found none.
type Numbers struct {
	// DetectedMaxRPS is the sweep's detected max throughput (requests/s)
	// and DetectedMaxTokensPerS its output tokens/s.
	DetectedMaxRPS        float64 `json:"detected_max_rps"`
	DetectedMaxTokensPerS float64 `json:"detected_max_output_tokens_per_s"`
	// KneeVUs is the coarse ladder's first VU count with errors or a
	// latency jump; KneeFound false if none was within LadderMax.
	KneeVUs   int  `json:"knee_vus"`
	KneeFound bool `json:"knee_found"`
	// SaturationRPS is the lowest sweep rate the over-saturation test
	// flagged (the p99 knee seen as a rate); 0 when none was.
	SaturationRPS float64 `json:"saturation_rps"`
	// P99AtSoakMS is the soak's end-to-end p99 at SoakFraction of the max.
	P99AtSoakMS float64 `json:"p99_at_soak_ms"`
	// Slopes of the validation and soak steps (ms per minute, bytes per
	// minute) behind the drift and growth verdicts.
	P50DriftMSPerMin float64 `json:"p50_drift_ms_per_min"`
	P99DriftMSPerMin float64 `json:"p99_drift_ms_per_min"`
	VRAMGrowthPerMin float64 `json:"vram_growth_bytes_per_min"`
	ServerMemPerMin  float64 `json:"server_memory_growth_bytes_per_min"`
}

// Runner runs one load run for a step and archives it (archive.RunJob in
// the CLI and the daemon). It returns the result and the ID it was archived
// under ("" when not archived); a nil result means nothing ran and err says
// why. o.Sink, when set, is the procedure's own (the validation's and the
// soak's windows): the Runner must pass every entry to it too, composed
// with its archive's writer.
type Runner func(ctx context.Context, step string, o load.Options) (*load.Result, string, error)
