package config

import "github.com/prometheus/common/model"

// Arrival processes and replayed traces of soaks (issue 14).
const (
	// ArrivalGamma spaces open-loop arrivals by gamma-distributed gaps of
	// shape Burstiness (1 is Poisson, below 1 burstier, above 1 smoother),
	// as vLLM's --burstiness.
	ArrivalGamma = "gamma"
	// ModeTrace replays a trace file's requests open loop at its times.
	ModeTrace = "trace"
)

// Ramp (rate mode) offers a rate that moves from StartRate to EndRate over
// the step's duration, linearly or exponentially, as vLLM's
// --ramp-up-strategy; it replaces rates:.
type Ramp struct {
	Strategy  string  `yaml:"strategy,omitempty" json:"strategy,omitempty"` // linear (default) or exponential
	StartRate float64 `yaml:"start_rate" json:"start_rate"`
	EndRate   float64 `yaml:"end_rate" json:"end_rate"`
}

// Trace (trace mode) is a request trace replayed at its own times: a
// Mooncake JSONL file (timestamp in ms, input_length, output_length,
// hash_ids) or a CSV (timestamp_ms, input_tokens, output_tokens), sped up
// by Speed, optionally only the window [Start, End) of it.
type Trace struct {
	File   string         `yaml:"file" json:"file"`
	Format string         `yaml:"format,omitempty" json:"format,omitempty"` // mooncake or csv; default from the extension
	Speed  float64        `yaml:"speed,omitempty" json:"speed,omitempty"`   // default 1
	Start  model.Duration `yaml:"start,omitempty" json:"start,omitempty"`
	End    model.Duration `yaml:"end,omitempty" json:"end,omitempty"`
}

// validateArrivals checks a soak's burstiness, ramp and trace fields.
func (l *loader) validateArrivals(s *Soak, p string) {
	if s.Burstiness == 0 && s.Ramp == nil && s.Trace == nil {
		return
	}
	// Filled in by the ramps, bursts and trace work (issue 14).
}
