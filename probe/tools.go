package probe

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	xmessage "golang.org/x/text/message"
)

// Tool calls and structured output (chat and vision requests): what a
// request asks of its answer's form, and the checks a 200 answer must pass
// to be a success. An answer that fails them is ResultInvalidOutput: the
// server answered, but not what was asked for (a broken tool-call parser
// after a redeploy, a grammar backend that lets invalid JSON through).
//
// The definitions are parsed and their JSON Schemas compiled once (package
// config does it when the config is loaded); an AnswerSpec is read-only
// after, and shared by every request of a workload.

// AnswerSpec is what a chat request asks of its answer: tools it may (or
// must) call and a JSON Schema its text must follow. A nil *AnswerSpec asks
// nothing and checks nothing.
type AnswerSpec struct {
	// Tools are sent as the request's "tools"; nil sends none.
	Tools *Tools
	// Choice is sent as "tool_choice"; empty sends none (the server's
	// default with tools, auto).
	Choice ToolChoice
	// Schema is sent as response_format {type: json_schema}; nil sends
	// none.
	Schema *JSONSchema
	// KeepText keeps the answer's text in Record.Answer (a conversation
	// replaying the server's own answers sends it back); it sends nothing
	// and checks nothing.
	KeepText bool
}

// checks reports whether spec asks anything of the answer (nil: no).
func (spec *AnswerSpec) checks() bool {
	return spec != nil && (spec.Tools != nil || spec.Schema != nil)
}

// apply sets the body's tools, tool_choice and response_format.
func (spec *AnswerSpec) apply(b *requestBody) {
	if spec == nil {
		return
	}
	if spec.Tools != nil {
		b.Tools = spec.Tools.raw
	}
	b.ToolChoice = spec.Choice.encode()
	if spec.Schema != nil {
		b.ResponseFormat = spec.Schema.format
	}
}

// checkKind refuses spec on a kind other than chat and vision, naming the
// field that would be sent.
func (spec *AnswerSpec) checkKind(kind Kind) error {
	if spec == nil || kind == Chat || kind == Vision {
		return nil
	}
	var field string
	switch {
	case spec.Tools != nil:
		field = "tools"
	case spec.Choice != "":
		field = "tool_choice"
	case spec.Schema != nil:
		field = "response_format"
	default:
		return nil
	}
	return fmt.Errorf("%s: only chat and vision requests carry it, not %s", field, kind)
}

// ToolChoice is a request's tool_choice: auto, required, none, or the name
// of the function the answer must call. A function named auto, required or
// none cannot be forced by name.
type ToolChoice string

// The tool_choice keywords.
const (
	ToolChoiceAuto     ToolChoice = "auto"
	ToolChoiceRequired ToolChoice = "required"
	ToolChoiceNone     ToolChoice = "none"
)

// Named returns the function c forces, "" for a keyword or none.
func (c ToolChoice) Named() string {
	switch c {
	case "", ToolChoiceAuto, ToolChoiceRequired, ToolChoiceNone:
		return ""
	}
	return string(c)
}

// mustCall reports whether an answer to c has to call a tool.
func (c ToolChoice) mustCall() bool { return c == ToolChoiceRequired || c.Named() != "" }

// encode returns c as sent: a keyword as a string, a name as the object
// that forces that function.
func (c ToolChoice) encode() json.RawMessage {
	if c == "" {
		return nil
	}
	var v any = string(c)
	if name := c.Named(); name != "" {
		v = map[string]any{"type": "function", "function": map[string]string{"name": name}}
	}
	b, _ := json.Marshal(v) // strings and maps of strings always encode
	return b
}

// CheckToolChoice reports what is wrong with choice for tools: a choice
// needs tools, and a name must be one of theirs.
func CheckToolChoice(choice ToolChoice, tools *Tools) error {
	if choice == "" {
		return nil
	}
	if tools == nil {
		return errors.New("only used with tools")
	}
	if name := choice.Named(); name != "" && tools.function(name) == nil {
		return fmt.Errorf("function %q is not one of the tools (%s)", name, strings.Join(tools.Names(), ", "))
	}
	return nil
}

// Tools is a parsed OpenAI "tools" array of function definitions, each
// function's parameters compiled as a JSON Schema.
type Tools struct {
	raw   json.RawMessage // the array as sent, compacted
	funcs []toolFunc
}

type toolFunc struct {
	name   string
	schema *jsonschema.Schema // nil: no parameters, any object
}

// Names returns the functions' names in definition order.
func (t *Tools) Names() []string {
	names := make([]string, len(t.funcs))
	for i, f := range t.funcs {
		names[i] = f.name
	}
	return names
}

func (t *Tools) function(name string) *toolFunc {
	for i := range t.funcs {
		if t.funcs[i].name == name {
			return &t.funcs[i]
		}
	}
	return nil
}

// functionNameRE is OpenAI's rule for function names (and for a
// json_schema's name).
var functionNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// toolDef is the part of a tool definition that is checked; the rest
// (descriptions, strict) is sent as written.
type toolDef struct {
	Type     *string `json:"type"`
	Function *struct {
		Name       *string         `json:"name"`
		Parameters json.RawMessage `json:"parameters"`
	} `json:"function"`
}

// ParseTools parses a tools file: a JSON array of OpenAI function tools
// ({"type": "function", "function": {name, description, parameters}}), or
// an object holding one as "tools" (a request body copied whole). Each
// function needs a unique name; its parameters, if any, must be a valid
// JSON Schema (draft 2020-12 unless it says otherwise) with no references
// outside itself.
func ParseTools(data []byte) (*Tools, error) {
	raw, err := parseJSONFile(data)
	if err != nil {
		return nil, err
	}
	if len(raw) > 0 && raw[0] == '{' {
		var wrap struct {
			Tools json.RawMessage `json:"tools"`
		}
		if err := json.Unmarshal(raw, &wrap); err != nil || len(wrap.Tools) == 0 {
			return nil, errors.New(`must hold a JSON array of tools, or an object with a "tools" array`)
		}
		raw = wrap.Tools
	}
	var defs []json.RawMessage
	if raw[0] != '[' || json.Unmarshal(raw, &defs) != nil {
		return nil, errors.New(`must hold a JSON array of tools, or an object with a "tools" array`)
	}
	if len(defs) == 0 {
		return nil, errors.New("holds no tools")
	}
	t := &Tools{}
	for i, d := range defs {
		var def toolDef
		if d[0] != '{' || json.Unmarshal(d, &def) != nil {
			return nil, fmt.Errorf("tools[%d]: must be an object", i)
		}
		switch {
		case def.Type == nil:
			return nil, fmt.Errorf(`tools[%d]: no "type" (want "function")`, i)
		case *def.Type != "function":
			return nil, fmt.Errorf(`tools[%d]: type %q: only "function" tools are supported`, i, *def.Type)
		case def.Function == nil:
			return nil, fmt.Errorf(`tools[%d]: no "function" object`, i)
		case def.Function.Name == nil || *def.Function.Name == "":
			return nil, fmt.Errorf("tools[%d]: the function has no name", i)
		case !functionNameRE.MatchString(*def.Function.Name):
			return nil, fmt.Errorf("tools[%d]: function name %q: use 1 to 64 letters, digits, _ and -", i, *def.Function.Name)
		case t.function(*def.Function.Name) != nil:
			return nil, fmt.Errorf("tools[%d]: function %q defined twice", i, *def.Function.Name)
		}
		f := toolFunc{name: *def.Function.Name}
		if p := def.Function.Parameters; len(p) > 0 && string(p) != "null" {
			s, err := compileSchema(p, "tool/"+f.name+".json")
			if err != nil {
				return nil, fmt.Errorf("tools[%d] (%s): parameters: %w", i, f.name, err)
			}
			f.schema = s
		}
		t.funcs = append(t.funcs, f)
	}
	t.raw = raw
	return t, nil
}

// JSONSchema is a parsed response_format json_schema: the schema sent, and
// compiled to check the answer's text.
type JSONSchema struct {
	format json.RawMessage // the response_format object as sent
	name   string
	schema *jsonschema.Schema
}

// Name is the json_schema's name as sent.
func (s *JSONSchema) Name() string { return s.name }

// ParseJSONSchema parses a JSON Schema file for structured output. It is
// sent as response_format {type: json_schema, json_schema: {name, schema,
// strict: true}}; its name is the schema's "title" where that is a valid
// name (letters, digits, _ and -, at most 64), else fallback, else
// "output".
func ParseJSONSchema(data []byte, fallback string) (*JSONSchema, error) {
	raw, err := parseJSONFile(data)
	if err != nil {
		return nil, err
	}
	if raw[0] != '{' {
		return nil, errors.New("must hold a JSON Schema object")
	}
	s, err := compileSchema(raw, "json_schema.json")
	if err != nil {
		return nil, err
	}
	var head struct {
		Title string `json:"title"`
	}
	_ = json.Unmarshal(raw, &head) // an object: a non-string title is left out
	name := "output"
	switch {
	case functionNameRE.MatchString(head.Title):
		name = head.Title
	case functionNameRE.MatchString(fallback):
		name = fallback
	}
	format, err := json.Marshal(map[string]any{
		"type":        "json_schema",
		"json_schema": map[string]any{"name": name, "schema": raw, "strict": true},
	})
	if err != nil {
		return nil, err
	}
	return &JSONSchema{format: format, name: name, schema: s}, nil
}

// parseJSONFile checks that data is one JSON value and returns it
// compacted; a syntax error says where, in lines and columns of the file.
func parseJSONFile(data []byte) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		if err == io.EOF {
			return nil, errors.New("is empty")
		}
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line, col := lineCol(data, se.Offset-1) // Offset is past the bad byte
			return nil, fmt.Errorf("invalid JSON at line %d, column %d: %s", line, col, se.Error())
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			line, col := lineCol(data, int64(len(data)))
			return nil, fmt.Errorf("invalid JSON at line %d, column %d: unexpected end of file", line, col)
		}
		return nil, fmt.Errorf("invalid JSON: %s", err)
	}
	off := dec.InputOffset() // the end of the value
	if _, err := dec.Token(); err != io.EOF {
		off += int64(len(data[off:]) - len(bytes.TrimLeft(data[off:], " \t\r\n")))
		line, col := lineCol(data, off)
		return nil, fmt.Errorf("invalid JSON at line %d, column %d: data after the JSON value", line, col)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// lineCol returns the 1-based line and column of the byte at offset off.
func lineCol(data []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line = 1 + bytes.Count(before, []byte{'\n'})
	return line, int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
}

// errExternalRef refuses a $ref outside the schema: a schema is read once,
// with the config, and a reference would make the check depend on other
// files (or the network) at every load.
var errExternalRef = errors.New("references outside the schema are not followed: put shared definitions in $defs")

type noLoader struct{}

func (noLoader) Load(string) (any, error) { return nil, errExternalRef }

// schemaBase is the made-up URL schemas are compiled at: hierarchical, so
// that a relative $ref resolves (and is refused by noLoader) rather than
// being taken for the schema itself; .invalid never resolves.
const schemaBase = "https://llmprobe.invalid/"

// compileSchema compiles a JSON Schema (draft 2020-12 unless its $schema
// says otherwise) found at schemaBase+name.
func compileSchema(raw json.RawMessage, name string) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(noLoader{})
	url := schemaBase + name
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("invalid JSON Schema: %s", schemaError(err))
	}
	s, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("invalid JSON Schema: %s", schemaError(err))
	}
	return s, nil
}

// schemaError shortens a compiler's error: the first violation of the
// meta-schema, on one line, without the made-up URL.
func schemaError(err error) string {
	var le *jsonschema.LoadURLError
	if errors.As(err, &le) && errors.Is(le.Err, errExternalRef) { // LoadURLError has no Unwrap
		return fmt.Sprintf("$ref %s: %s", strings.TrimPrefix(le.URL, schemaBase), errExternalRef)
	}
	var ve *jsonschema.SchemaValidationError
	if errors.As(err, &ve) && ve.Err != nil {
		var inner *jsonschema.ValidationError
		if errors.As(ve.Err, &inner) {
			return violation(inner)
		}
	}
	msg := strings.ReplaceAll(err.Error(), schemaBase, "")
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return msg
}

// violation describes the first leaf of a validation error's tree ("at
// /unit: value must be one of ...") and how many others there are.
func violation(e *jsonschema.ValidationError) string {
	var leaves []*jsonschema.ValidationError
	var walk func(*jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			leaves = append(leaves, e)
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(e)
	first := leaves[0]
	var at strings.Builder
	for _, tok := range first.InstanceLocation {
		at.WriteByte('/')
		at.WriteString(pointerEscaper.Replace(tok))
	}
	if at.Len() == 0 {
		at.WriteByte('/')
	}
	msg := fmt.Sprintf("at %s: %s", at.String(), first.ErrorKind.LocalizedString(schemaPrinter))
	if n := len(leaves) - 1; n > 0 {
		msg += fmt.Sprintf(" (and %d more)", n)
	}
	return msg
}

// pointerEscaper escapes a JSON Pointer token (RFC 6901).
var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// schemaPrinter renders the validator's messages (in English).
var schemaPrinter = xmessage.NewPrinter(language.English)
