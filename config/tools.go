package config

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/llmprobe/llmprobe/probe"
)

// The tool-call and structured-output fields of a workload (issue 14):
//
//   - ToolsFile: a JSON file holding an OpenAI "tools" array of function
//     definitions (or a request body with one), sent with every request;
//     an answer that calls a tool must call one of them, with arguments
//     that validate against its parameters' JSON Schema.
//   - ToolChoice: auto (the server's default with tools), required, none,
//     or a function name (forces that function). With required or a name
//     an answer must call; with auto a text answer is a success, counted
//     apart (probe.Record.NoToolCall).
//   - JSONSchemaFile: a JSON Schema file sent as response_format
//     {type: json_schema, strict: true}; a text answer must parse and
//     validate against it.
//
// Both files are parsed, and their schemas compiled, when the config is
// loaded (files.go keeps them). A 200 answer that fails these checks is
// the invalid_output result. They are sent by chat and vision targets
// only (AnswerKindProblem).

// maxAnswerFileBytes bounds a tools or JSON Schema file: definitions are
// kilobytes, and each one is sent with every request.
const maxAnswerFileBytes = 1 << 20

// validateTools checks a workload's tools and structured-output fields,
// and parses their files.
func (l *loader) validateTools(w *Workload, p string) {
	if w.ToolsFile == "" && w.ToolChoice == "" && w.JSONSchemaFile == "" {
		return
	}
	var tools *probe.Tools
	toolsOK := true
	if w.ToolsFile != "" {
		w.ToolsFile = resolvePath(l.dir, w.ToolsFile)
		toolsOK = false
		l.checkFile(p+".tools_file", w.ToolsFile, func(string) error {
			t, err := w.parseTools()
			tools, toolsOK = t, err == nil
			return err
		})
	}
	// A choice naming a function is only checked against tools that
	// parsed: their file's error is reported already.
	if w.ToolChoice != "" && toolsOK {
		if err := probe.CheckToolChoice(probe.ToolChoice(w.ToolChoice), tools); err != nil {
			l.errorf(p+".tool_choice", "%s", err)
		}
	}
	if w.JSONSchemaFile != "" {
		w.JSONSchemaFile = resolvePath(l.dir, w.JSONSchemaFile)
		l.checkFile(p+".json_schema_file", w.JSONSchemaFile, func(string) error { return w.parseJSONSchema() })
	}
}

// AnswerKindProblem says why w's tools, tool_choice or json_schema_file
// cannot be sent to a target of kind ("" if they can, or w has none): only
// chat and vision requests carry them.
func (w *Workload) AnswerKindProblem(kind probe.Kind) string {
	var field string
	switch {
	case kind == KindChat || kind == KindVision:
		return ""
	case w.ToolsFile != "":
		field = "tools_file"
	case w.ToolChoice != "":
		field = "tool_choice"
	case w.JSONSchemaFile != "":
		field = "json_schema_file"
	default:
		return ""
	}
	return fmt.Sprintf("%s of workload %s is only sent to chat and vision targets, not %s", field, quote(w.Name), kind)
}

// schemaName is the json_schema's name when the schema has no usable
// title: the file's base name without its extensions.
func schemaName(path string) string {
	base := filepath.Base(path)
	if i := strings.IndexByte(base, '.'); i > 0 {
		base = base[:i]
	}
	return base
}
