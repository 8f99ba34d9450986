package probe

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// What an answer holds, gathered from a stream's deltas or a whole
// message, and the checks that make it a success or invalid output.

// maxToolCalls bounds the calls of one answer: a hostile index must not
// make the client allocate.
const maxToolCalls = 128

// toolCall is one call of an answer, assembled from its fragments.
type toolCall struct {
	index int
	id    string
	name  string
	args  []byte
}

// answer collects what a checked answer holds: its text (when a check
// reads it) and its tool calls.
type answer struct {
	keepText bool
	text     []byte
	calls    []toolCall
}

// newAnswer returns the collector of an answer to a request asking spec
// (nil: nothing is checked; calls are still assembled and counted).
func newAnswer(spec *AnswerSpec) *answer {
	return &answer{keepText: spec.checks() || spec != nil && spec.KeepText}
}

// addText appends a content fragment, a JSON string.
func (a *answer) addText(raw json.RawMessage) {
	if !a.keepText {
		return
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		a.text = append(a.text, s...)
	}
}

// toolCallDelta is one element of a streamed delta.tool_calls (or of a
// message's tool_calls): the first fragment of a call carries its index,
// id, type and function name, the next ones pieces of its arguments.
type toolCallDelta struct {
	Index    *int   `json:"index"`
	ID       string `json:"id"`
	Function struct {
		Name string `json:"name"`
		// A JSON string as OpenAI sends it; some servers send the
		// arguments as an object, read as it is.
		Arguments json.RawMessage `json:"arguments"`
	} `json:"function"`
}

// addCalls merges a delta's tool_calls into the calls; output reports
// whether it carried any of the model's output (a name or a piece of
// arguments), which is what counts for TTFT and ITL. An error is a
// tool_calls value of the wrong shape.
func (a *answer) addCalls(raw json.RawMessage) (output bool, err error) {
	var deltas []toolCallDelta
	if err := json.Unmarshal(raw, &deltas); err != nil {
		return false, fmt.Errorf("malformed tool_calls: %s", jsonErr(err))
	}
	for pos, d := range deltas {
		idx := pos // a server that leaves the index out sends calls in order
		if d.Index != nil {
			idx = *d.Index
		}
		if idx < 0 || idx >= maxToolCalls {
			return output, fmt.Errorf("tool call index %d out of range [0, %d)", idx, maxToolCalls)
		}
		c := a.call(idx)
		if d.ID != "" && c.id == "" {
			c.id = d.ID
		}
		if n := d.Function.Name; n != "" && n != c.name {
			// The name comes whole in the first fragment; a server that
			// repeats it in every fragment sends the same name again.
			c.name += n
			output = true
		}
		if args := d.Function.Arguments; len(args) > 0 && string(args) != "null" {
			if args[0] == '"' {
				var s string
				if err := json.Unmarshal(args, &s); err != nil {
					return output, fmt.Errorf("malformed tool_calls: %s", jsonErr(err))
				}
				c.args = append(c.args, s...)
				output = output || s != ""
			} else {
				c.args = append(c.args, args...)
				output = true
			}
		}
	}
	return output, nil
}

// call returns the call at index idx, adding it if it is new.
func (a *answer) call(idx int) *toolCall {
	for i := range a.calls {
		if a.calls[i].index == idx {
			return &a.calls[i]
		}
	}
	a.calls = append(a.calls, toolCall{index: idx})
	return &a.calls[len(a.calls)-1]
}

// checkAnswer records what a successful answer held and judges it against
// spec: an answer that is not what was asked for is invalid output.
func (c *Client) checkAnswer(rec *Record, spec *AnswerSpec, a *answer) {
	rec.ToolCalls = len(a.calls)
	if spec == nil {
		return
	}
	if spec.KeepText {
		rec.Answer = string(a.text)
	}
	if !spec.checks() {
		return
	}
	if err := spec.check(a, rec.FinishReason); err != nil {
		c.fail(rec, ResultInvalidOutput, err)
		return
	}
	// Offered tools, the model chose to answer in text: legitimate, and
	// worth counting apart (a probe's prompt may be meant to call).
	rec.NoToolCall = spec.Tools != nil && len(a.calls) == 0 && spec.Choice != ToolChoiceNone
}

// errInvalidOutput wraps the reason an answer is not what was asked for.
type errInvalidOutput struct{ msg string }

func (e *errInvalidOutput) Error() string { return e.msg }

func invalidf(format string, args ...any) error {
	return &errInvalidOutput{msg: fmt.Sprintf(format, args...)}
}

// check judges an answer against spec: nil when it is what was asked for,
// else why not. finish is the answer's finish_reason.
//
// A tool call must name one of the tools (the forced one, with a named
// tool_choice) and its arguments must be a JSON object valid for that
// function's schema; a text answer must be valid for the json_schema where
// one was asked. With tool_choice required or named, an answer without a
// call is invalid; with auto (or none) a text answer is legitimate, unless
// the text is itself a tool call that the server's parser left unparsed.
func (spec *AnswerSpec) check(a *answer, finish string) error {
	err := spec.checkAnswer(a)
	if err != nil && finish == "length" {
		err = invalidf("%s (finish_reason length: max_tokens cut the answer)", err)
	}
	return err
}

func (spec *AnswerSpec) checkAnswer(a *answer) error {
	if len(a.calls) > 0 {
		switch {
		case spec.Tools == nil:
			return invalidf("the answer calls %s, but no tools were offered (a json_schema answer was asked for)", callNames(a.calls))
		case spec.Choice == ToolChoiceNone:
			return invalidf("the answer calls %s despite tool_choice none", callNames(a.calls))
		}
		for i := range a.calls {
			if err := spec.checkCall(i, &a.calls[i]); err != nil {
				return err
			}
		}
		return nil
	}
	if spec.Tools != nil && spec.Choice.mustCall() {
		return invalidf("no tool call in the answer (tool_choice %s)", spec.Choice)
	}
	if spec.Tools != nil && spec.Choice != ToolChoiceNone {
		if name := spec.unparsedCall(a.text); name != "" {
			return invalidf("the answer's text holds a tool call (%s) that the server did not parse into tool_calls: check its tool-call parser", name)
		}
	}
	if spec.Schema == nil {
		return nil
	}
	text := bytes.TrimSpace(a.text)
	if len(text) == 0 {
		return invalidf("no text to check against json_schema %s", spec.Schema.name)
	}
	v, err := decodeInstance(text)
	if err != nil {
		return invalidf("the output is not JSON: %s", err)
	}
	if err := spec.Schema.schema.Validate(v); err != nil {
		return invalidf("the output violates json_schema %s %s", spec.Schema.name, validationError(err))
	}
	return nil
}

// checkCall checks call i.
func (spec *AnswerSpec) checkCall(i int, c *toolCall) error {
	if c.name == "" {
		return invalidf("tool call %d has no function name", i)
	}
	f := spec.Tools.function(c.name)
	if f == nil {
		return invalidf("tool call %d: unknown function %q (tools: %s)", i, c.name, strings.Join(spec.Tools.Names(), ", "))
	}
	if forced := spec.Choice.Named(); forced != "" && c.name != forced {
		return invalidf("tool call %d calls %q, but tool_choice forces %q", i, c.name, forced)
	}
	args := bytes.TrimSpace(c.args)
	if len(args) == 0 {
		args = []byte("{}") // a function without parameters: some servers send nothing
	}
	v, err := decodeInstance(args)
	if err != nil {
		return invalidf("tool call %d (%s): the arguments are not JSON: %s", i, c.name, err)
	}
	if _, ok := v.(map[string]any); !ok {
		return invalidf("tool call %d (%s): the arguments are not a JSON object", i, c.name)
	}
	if f.schema != nil {
		if err := f.schema.Validate(v); err != nil {
			return invalidf("tool call %d (%s): the arguments violate its schema %s", i, c.name, validationError(err))
		}
	}
	return nil
}

// unparsedCall returns the name of the function, or the tag, of a tool call
// written as text: a hermes-style <tool_call> tag, or a JSON object naming
// one of the tools with its arguments (llama3_json, mistral). Broken
// tool-call parsers hand the model's raw text back as content.
func (spec *AnswerSpec) unparsedCall(text []byte) string {
	if bytes.Contains(text, []byte("<tool_call>")) {
		return "<tool_call>"
	}
	t := bytes.TrimSpace(text)
	if len(t) == 0 || (t[0] != '{' && t[0] != '[') {
		return ""
	}
	var one struct {
		Name       string          `json:"name"`
		Arguments  json.RawMessage `json:"arguments"`
		Parameters json.RawMessage `json:"parameters"`
	}
	if t[0] == '[' {
		var many []json.RawMessage
		if json.Unmarshal(t, &many) != nil || len(many) == 0 {
			return ""
		}
		t = many[0]
	}
	if json.Unmarshal(t, &one) != nil || spec.Tools.function(one.Name) == nil {
		return ""
	}
	if len(one.Arguments) == 0 && len(one.Parameters) == 0 {
		return ""
	}
	return one.Name
}

// decodeInstance parses one JSON value for validation (numbers kept exact);
// a syntax error says at which byte offset.
func decodeInstance(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, errors.New(jsonErr(err, int64(len(b))))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("data after the JSON value at offset %d", dec.InputOffset())
	}
	return v, nil
}

// jsonErr describes a decoding error with its offset where it has one;
// end is the offset of an unexpected end.
func jsonErr(err error, end ...int64) string {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("%s at offset %d", se.Error(), se.Offset-1) // Offset is past the bad byte
	case (errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)) && len(end) > 0:
		return fmt.Sprintf("unexpected end at offset %d", end[0])
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("%s is %s, not %s", orValue(te.Field), te.Value, te.Type)
	}
	return err.Error()
}

func orValue(field string) string {
	if field == "" {
		return "the value"
	}
	return field
}

// validationError describes a schema violation ("at /unit: ...").
func validationError(err error) string {
	var ve *jsonschema.ValidationError
	if errors.As(err, &ve) {
		return violation(ve)
	}
	return err.Error()
}

// callNames lists the functions an answer calls, for messages.
func callNames(calls []toolCall) string {
	names := make([]string, len(calls))
	for i, c := range calls {
		names[i] = fmt.Sprintf("%q", c.name)
	}
	return strings.Join(names, ", ")
}
