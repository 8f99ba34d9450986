package daemon

import (
	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/workload"
)

// withTraceRequests gives a trace soak's run its trace's requests: built
// per run, so that each run of a cold workload has text of its own (the
// server may still cache the last run's prefixes). Other modes are left
// alone.
func withTraceRequests(j *soakJob, o *load.Options) error {
	if o.Mode != load.ModeTrace || o.Trace == nil {
		return nil // a trace that could not be read: load.New says so
	}
	g, err := workload.NewTrace(&j.work, j.target.Kind, j.soak.Trace)
	if err != nil {
		return err
	}
	o.Trace.Requests = g
	return nil
}
