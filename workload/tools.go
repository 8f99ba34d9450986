package workload

import (
	"errors"

	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/probe"
)

// answerSpec returns what the requests of w ask of their answers (tools,
// tool_choice, json_schema), nil when nothing. It is parsed once, with the
// config, and shared by every request. Only chat and vision targets send
// it: a generator for another kind refuses a workload that has one, rather
// than quietly send requests that check nothing.
func answerSpec(w *config.Workload, kind probe.Kind) (*probe.AnswerSpec, error) {
	if kind != "" {
		if msg := w.AnswerKindProblem(kind); msg != "" {
			return nil, errors.New(msg)
		}
	}
	return w.AnswerSpec()
}
