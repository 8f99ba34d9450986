package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/alecthomas/kingpin/v2"

	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/probe"
)

// Bench's tool-call and structured-output flags: the workload's
// tools_file, tool_choice and json_schema_file, checked as the config
// checks them. An answer that fails its checks is the invalid_output
// result, counted in the summary's errors.
func init() { registerBenchFlags(benchToolFlags) }

func benchToolFlags(flag func(group, name, help string) *kingpin.FlagClause) benchApply {
	var tools, choice, schema string
	flag(groupWorkload, "tools", "Chat and vision: a JSON file of OpenAI function tools (an array, or a request body with \"tools\") sent with every request; an answer's tool calls must name one of them, with arguments valid for its parameters' JSON Schema, else the request is invalid_output.").StringVar(&tools)
	flag(groupWorkload, "tool-choice", "With --tools: auto (the server's default: a text answer is a success too), required (an answer must call), none, or a function name (forces it).").StringVar(&choice)
	flag(groupWorkload, "json-schema", "Chat and vision: a JSON Schema file sent as response_format json_schema (strict); a text answer must parse and validate, else the request is invalid_output.").StringVar(&schema)
	return func(_ *benchOptions, _ *load.Options, ep *probe.Endpoint, w *config.Workload) error {
		if tools == "" && choice == "" && schema == "" {
			return nil
		}
		w.ToolsFile, w.ToolChoice, w.JSONSchemaFile = tools, choice, schema
		if w.AnswerKindProblem(ep.Kind) != "" {
			name := "--tools"
			switch {
			case tools == "" && choice != "":
				name = "--tool-choice"
			case tools == "":
				name = "--json-schema"
			}
			return fmt.Errorf("%s is only sent with --kind chat or vision", name)
		}
		if _, err := w.AnswerSpec(); err != nil {
			return errors.New(benchToolFlagNames(err.Error()))
		}
		return nil
	}
}

// benchToolFlagNames names the flags where the config's messages name its
// fields.
func benchToolFlagNames(msg string) string {
	return strings.NewReplacer("tools_file", "--tools", "tool_choice", "--tool-choice", "json_schema_file", "--json-schema", "only used with tools", "only used with --tools").Replace(msg)
}
