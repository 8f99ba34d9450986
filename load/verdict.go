package load

// Verdict is one yes/no judgement on a run or a procedure with the numbers
// behind it, so a reader can check it: "latency drift: p99 rises 3.1 ms/min
// (95 % CI 2.2..4.0) over 600 s" rather than a bare "failed".
//
// Verdicts are shared by the stress procedure (sanity, knee, saturation,
// drift, error accumulation, memory growth) and by the server-side health
// checks of long soaks (server memory growth, stuck requests, restarts,
// preemptions); Name is one of a fixed set, so it is safe as a metric label.
type Verdict struct {
	// Name is the verdict's fixed identifier: sanity, knee, saturation,
	// latency_drift, error_accumulation, memory_growth, vram_growth,
	// server_memory_growth, stuck_requests, server_restart, preemptions.
	Name string `json:"name"`
	// Failed: the check found the problem it looks for (drift, growth, a
	// failed sanity check). A verdict that could not be decided (no data)
	// has Failed false and Undecided true.
	Failed    bool `json:"failed"`
	Undecided bool `json:"undecided,omitempty"`
	// Summary says it in plain words with the numbers.
	Summary string `json:"summary"`
	// Value is the verdict's key number in Unit (a slope, a ratio, a
	// count), with its 95 % interval [Lo, Hi] when it has one.
	Value float64 `json:"value"`
	Lo    float64 `json:"lo,omitempty"`
	Hi    float64 `json:"hi,omitempty"`
	Unit  string  `json:"unit,omitempty"`
	// Step is the index of the step it judges, when it judges one.
	Step int `json:"step,omitempty"`
}
