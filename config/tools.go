package config

// The tool-call and structured-output fields of a workload (issue 14):
//
//   - ToolsFile: a JSON file holding an OpenAI "tools" array of function
//     definitions, sent with every request; a success then needs a call of
//     one of them whose arguments validate against its JSON Schema.
//   - ToolChoice: auto (default with tools), required, none, or a function
//     name (forces that function).
//   - JSONSchemaFile: a JSON Schema file sent as response_format
//     {type: json_schema}; a success needs output that parses and
//     validates against it.
//
// A 200 answer that fails these checks is the invalid_output result.

// validateTools checks a workload's tools and structured-output fields.
func (l *loader) validateTools(w *Workload, p string) {
	if w.ToolsFile == "" && w.ToolChoice == "" && w.JSONSchemaFile == "" {
		return
	}
	// Filled in by the tool-call work (issue 14).
}
