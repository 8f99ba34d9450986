package load

import "github.com/llmprobe/llmprobe/servermetrics"

// ServerView is the model server's own account of a run (issue 13): its
// metrics page scraped during the run, and the health verdicts drawn from it.
// Nil when no metrics page was configured or found; Note says which.
type ServerView struct {
	Timeline *servermetrics.Timeline `json:"timeline,omitempty"`
	Verdicts []Verdict               `json:"verdicts,omitempty"`
	// Note says why there is no timeline, or what it lacks, in plain words.
	Note string `json:"note,omitempty"`
}

// Gauge sums up a server gauge over a step: its mean and max over the
// step's scrapes, and its value at the last scrape after the step's drain.
type Gauge struct {
	Mean float64 `json:"mean"`
	Max  float64 `json:"max"`
	Last float64 `json:"last"`
}

// ServerHist is a server histogram's delta over a step, in milliseconds.
type ServerHist struct {
	Count  float64 `json:"count"`
	MeanMS float64 `json:"mean_ms"`
	P50MS  float64 `json:"p50_ms,omitempty"`
	P99MS  float64 `json:"p99_ms,omitempty"`
}

// StepServer is the server's view of one step.
type StepServer struct {
	Scrapes         int    `json:"scrapes"`
	RequestsRunning *Gauge `json:"requests_running,omitempty"`
	RequestsWaiting *Gauge `json:"requests_waiting,omitempty"`
	KVCacheUsage    *Gauge `json:"kv_cache_usage_ratio,omitempty"`
	ResidentMemory  *Gauge `json:"resident_memory_bytes,omitempty"`

	QueueTime *ServerHist `json:"queue_time,omitempty"`
	TTFT      *ServerHist `json:"ttft,omitempty"`
	ITL       *ServerHist `json:"itl,omitempty"`
	TPOT      *ServerHist `json:"tpot,omitempty"`
	Prefill   *ServerHist `json:"prefill_time,omitempty"`
	Decode    *ServerHist `json:"decode_time,omitempty"`
	E2E       *ServerHist `json:"e2e_latency,omitempty"`

	Preemptions      float64 `json:"preemptions"`
	PromptTokens     float64 `json:"prompt_tokens"`
	GenerationTokens float64 `json:"generation_tokens"`
	// Resets lists the counters that went backwards during the step: the
	// server restarted.
	Resets []string `json:"resets,omitempty"`

	Breakdown *Breakdown `json:"breakdown,omitempty"`
}

// Breakdown says where a step's time to first token went, from both sides:
// the client's mean TTFT, the server's own mean TTFT, and within the
// server's its queue time and prefill; Other is the client's TTFT the server
// does not account for (network, proxies, the client itself).
type Breakdown struct {
	ClientTTFTMS float64 `json:"client_ttft_ms"`
	ServerTTFTMS float64 `json:"server_ttft_ms"`
	QueueMS      float64 `json:"queue_ms"`
	PrefillMS    float64 `json:"prefill_ms"`
	OtherMS      float64 `json:"other_ms"`
	// QueueShare is QueueMS / ClientTTFTMS.
	QueueShare float64 `json:"queue_share"`
}
