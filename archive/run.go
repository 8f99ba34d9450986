package archive

import (
	"context"
	"time"

	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/servermetrics"
)

// Job is one load run to make and archive, for RunJob. It lives here, not
// in load, because archive imports load; soaks and bench both call it.
type Job struct {
	Started  time.Time // the run's time in the archive
	Send     load.Sender
	Requests load.Requests
	Options  load.Options // Sink is set by RunJob
	Hooks    load.Hooks

	// Sink, if set, makes the run's sink from the archive's writer (nil
	// when the run is not archived); unset, the writer alone is the sink.
	Sink func(w *Writer) load.Sink
	// Unarchived, if set, is told why the archive cannot take the run and
	// returns whether to run it anyway; unset, RunJob gives up.
	Unarchived func(err error) bool
	// Start, if set, is called with the runner just before it runs. It
	// returns the GPUs to sample during the run (nil: none) and, if not
	// nil, what to do once the run returns, before it is archived.
	Start func(r *load.Runner) (gpu load.GPUSampler, every time.Duration, done func())

	// Server, if set, is the model server's own metrics page, scraped
	// every ServerEvery (0: one second) during the run and around each
	// step into the result's server timeline, step summaries and health
	// verdicts (load.AttachServer). ServerSettle bounds the wait after the
	// run for its requests to leave the server (0: load.DefaultSettle).
	Server       *servermetrics.Scraper
	ServerEvery  time.Duration
	ServerSettle time.Duration
}

// RunJob begins the run's archive in a (nil: not archived), runs it with
// its GPU and server timelines, and commits it (or aborts it if the runner cannot be
// made). With a nil result nothing ran and err says why; with a result,
// err is the failure to archive it.
func RunJob(ctx context.Context, a *Archive, j *Job) (*load.Result, error) {
	o := j.Options
	var w *Writer
	if a != nil {
		var err error
		if w, err = a.Begin(o.Name, o.Target, j.Started); err != nil {
			if j.Unarchived == nil || !j.Unarchived(err) {
				return nil, err
			}
		}
	}
	switch {
	case j.Sink != nil:
		o.Sink = j.Sink(w)
	case w != nil: // never a nil *Writer in the interface
		o.Sink = w
	}
	hooks := j.Hooks
	var server *load.ServerSampler
	if j.Server != nil {
		server = load.NewServerSampler(j.Server, j.ServerEvery)
		server.Settle = j.ServerSettle
		hooks = server.Hooks(hooks)
	}
	runner, err := load.New(j.Send, j.Requests, o, hooks)
	if err != nil {
		if w != nil {
			w.Abort()
		}
		return nil, err
	}
	var (
		gpu   load.GPUSampler
		every time.Duration
		done  func()
	)
	if j.Start != nil {
		gpu, every, done = j.Start(runner)
	}
	stopGPU := load.SampleGPU(gpu, every)
	if server != nil {
		server.Start(ctx, runner)
	}
	res := runner.Run(ctx)
	res.GPU = stopGPU()
	if server != nil {
		load.AttachServer(res, server.Finish(ctx, res.Status == load.StatusInterrupted))
	}
	if done != nil {
		done()
	}
	if w != nil {
		err = w.Commit(res)
	}
	return res, err
}
