package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Tool calls and structured output. A chat request with tools (and
// tool_choice not none) is answered with a call of its first function, or
// of the one tool_choice names, whose arguments are generated to satisfy
// the function's parameters schema; a request with response_format
// json_schema (or json_object) is answered with a JSON document valid for
// the schema. Both are streamed as vLLM streams them: a tool call's first
// delta carries its index, id, type and function name, each later one a
// fragment of the arguments, about CharsPerToken characters per output
// token; a document's fragments are delta.content. The answer is as long
// as it needs (max_tokens cuts it, with finish_reason length); finish_reason
// is tool_calls for a call under auto or required, stop for a named one
// (as vLLM's) and for a document. Faults.ToolCallMalformed, ToolCallUnknown
// and ToolCallSchema break a share of the answers.
//
// The generator knows type (object, array, string, integer, number,
// boolean, null), properties (every one, and required ones it does not
// list, in sorted order so that answers repeat), items and
// prefixItems, minItems, enum, const, minimum, maximum (and their exclusive
// forms), minLength and maxLength, local $refs (#/...) and the first branch
// of anyOf, oneOf and allOf. It does not satisfy pattern, format or
// dependent keywords.

// chatTool is one element of a request's tools.
type chatTool struct {
	Type     string `json:"type"`
	Function *struct {
		Name       string          `json:"name"`
		Parameters json.RawMessage `json:"parameters"`
	} `json:"function"`
}

// responseFormat is a request's response_format.
type responseFormat struct {
	Type       string `json:"type"`
	JSONSchema *struct {
		Name   string          `json:"name"`
		Schema json.RawMessage `json:"schema"`
	} `json:"json_schema"`
}

// toolAnswer is a planned tool call or JSON document, in fragments: token
// reasoning+i of the answer carries part i (a call's part 0 is its name).
type toolAnswer struct {
	// finish is the API's finish_reason of a whole answer; the engine's
	// (genRequest.finish, on /metrics) stays stop, as vLLM's does.
	finish string
	call   bool   // a tool call; else a JSON document as content
	name   string // the function called
	id     string // the call's id
	parts  []string
}

// unknownFunction is the name Faults.ToolCallUnknown calls.
const unknownFunction = "sim_unknown_function"

// maxSchemaDepth bounds the generator's recursion ($refs that loop).
const maxSchemaDepth = 16

// planTools reads a chat request's tools, tool_choice and response_format
// and, if they ask for a tool call or a JSON document, plans it in g: its
// length (capped by maxTokens) and finish reason. An error is the 400's
// message.
func (s *Server) planTools(req *chatRequest, g *genRequest, maxTokens *int) error {
	if len(req.Tools) == 0 && len(req.ToolChoice) == 0 && req.ResponseFormat == nil {
		return nil
	}
	choice, named, err := parseToolChoice(req.ToolChoice)
	if err != nil {
		return err
	}
	if choice != "" && choice != "none" && len(req.Tools) == 0 {
		return errors.New("When using `tool_choice`, `tools` must be set.")
	}
	funcs := map[string]json.RawMessage{}
	first := ""
	for i, t := range req.Tools {
		if t.Type != "function" || t.Function == nil || t.Function.Name == "" {
			return fmt.Errorf("tools[%d] must be a function with a name.", i)
		}
		funcs[t.Function.Name] = t.Function.Parameters
		if i == 0 {
			first = t.Function.Name
		}
	}
	if named != "" {
		if _, ok := funcs[named]; !ok {
			return fmt.Errorf("Tool '%s' has not been passed in `tools`.", named)
		}
	}
	fm, fu, fs := s.drawToolFaults()
	a := &toolAnswer{}
	var doc []byte
	switch {
	case len(req.Tools) > 0 && choice != "none":
		a.call, a.name = true, first
		if named != "" {
			a.name = named
		}
		schema := funcs[a.name]
		if doc, err = generateJSON(schema, fs); err != nil {
			return fmt.Errorf("tools: %s", err)
		}
		if len(bytes.TrimSpace(schema)) == 0 && fs {
			doc = []byte("[]") // nothing to violate in no schema: not an object
		}
		if fu {
			a.name = unknownFunction
		}
		a.id = "chatcmpl-tool-" + strconv.FormatUint(s.drawID(), 16)
		a.parts = append(a.parts, "")
		a.finish = "tool_calls"
		if named != "" {
			a.finish = "stop"
		}
	case req.ResponseFormat != nil && req.ResponseFormat.Type == "json_schema":
		if req.ResponseFormat.JSONSchema == nil || len(req.ResponseFormat.JSONSchema.Schema) == 0 {
			return errors.New("response_format json_schema needs a json_schema with a schema.")
		}
		if doc, err = generateJSON(req.ResponseFormat.JSONSchema.Schema, fs); err != nil {
			return fmt.Errorf("response_format: %s", err)
		}
		a.finish = "stop"
	case req.ResponseFormat != nil && req.ResponseFormat.Type == "json_object":
		doc = []byte(`{"answer": "sim"}`)
		a.finish = "stop"
	case req.ResponseFormat != nil && req.ResponseFormat.Type != "text" && req.ResponseFormat.Type != "":
		return fmt.Errorf("response_format type %q is not supported.", req.ResponseFormat.Type)
	default:
		return nil // tool_choice none, or a text response_format: plain text
	}
	if fm {
		doc = doc[:len(doc)-1] // the closing bracket or brace lost: not JSON
	}
	a.parts = append(a.parts, fragments(string(doc))...)
	g.reasoning = s.cfg.Reasoning // the length outputLength cut it to is not this answer's
	n := g.reasoning + len(a.parts)
	g.finish = "stop"
	if maxTokens != nil && *maxTokens < n {
		n, g.finish, a.finish = *maxTokens, "length", "length"
	}
	g.n = n
	g.reasoning = min(g.reasoning, n)
	g.tool = a
	return nil
}

// apiFinish is the finish_reason the answer's last chunk or body says.
func (g *genRequest) apiFinish() string {
	if g.tool != nil {
		return g.tool.finish
	}
	return g.finish
}

// parseToolChoice reads tool_choice: "auto", "required", "none", or an
// object naming a function.
func parseToolChoice(raw json.RawMessage) (choice, named string, err error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", "", nil
	}
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &choice); err != nil {
			return "", "", err
		}
		switch choice {
		case "auto", "required", "none":
			return choice, "", nil
		}
		return "", "", fmt.Errorf("tool_choice %q must be auto, required, none or a function.", choice)
	}
	var obj struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.Type != "function" || obj.Function.Name == "" {
		return "", "", errors.New(`tool_choice must be a string or {"type": "function", "function": {"name": ...}}.`)
	}
	return "named", obj.Function.Name, nil
}

// drawToolFaults draws which tool-call faults apply to one answer, in
// field order, from the seeded RNG; no draws when none is set.
func (s *Server) drawToolFaults() (malformed, unknown, schema bool) {
	fs := &s.cfg.Faults
	if fs.ToolCallMalformed == 0 && fs.ToolCallUnknown == 0 && fs.ToolCallSchema == 0 {
		return false, false, false
	}
	s.rngMu.Lock()
	um, uu, us := s.rng.Float64(), s.rng.Float64(), s.rng.Float64()
	s.rngMu.Unlock()
	switch {
	case um < fs.ToolCallMalformed:
		return true, false, false
	case uu < fs.ToolCallUnknown:
		return false, true, false
	case us < fs.ToolCallSchema:
		return false, false, true
	}
	return false, false, false
}

// drawID draws a tool call's id.
func (s *Server) drawID() uint64 {
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return s.rng.Uint64() | 1<<63 // always 16 hex digits
}

// fragments cuts text into pieces of about CharsPerToken characters, one
// per output token, never inside a character.
func fragments(text string) []string {
	var out []string
	for len(text) > 0 {
		n, chars := 0, 0
		for n < len(text) && chars < CharsPerToken {
			_, size := utf8.DecodeRuneInString(text[n:])
			n += size
			chars++
		}
		out = append(out, text[:n])
		text = text[n:]
	}
	return out
}

// appendToolChunk appends the streamed chunk of the answer's tokens
// [from, to), all past the reasoning.
func (g *genRequest) appendToolChunk(b, head []byte, from, to int) []byte {
	a := g.tool
	b = append(b, head...)
	b = g.appendChunkUsage(b, to)
	from, to = from-g.reasoning, to-g.reasoning
	if !a.call {
		b = append(b, `,"choices":[{"index":0,"finish_reason":null,"delta":{"content":`...)
		b = appendJSONString(b, strings.Join(a.parts[from:to], ""))
		return append(b, `}}]}`+"\n\n"...)
	}
	b = append(b, `,"choices":[{"index":0,"finish_reason":null,"delta":{"tool_calls":[{"index":0,`...)
	if from == 0 {
		// vLLM's first delta of a call: its id, type and name.
		b = append(b, `"id":`...)
		b = appendJSONString(b, a.id)
		b = append(b, `,"type":"function","function":{"name":`...)
		b = appendJSONString(b, a.name)
		if to > 1 {
			b = append(b, `,"arguments":`...)
			b = appendJSONString(b, strings.Join(a.parts[1:to], ""))
		}
	} else {
		b = append(b, `"function":{"arguments":`...)
		b = appendJSONString(b, strings.Join(a.parts[from:to], ""))
	}
	return append(b, `}}]}}]}`+"\n\n"...)
}

// appendToolFull appends a non-streamed answer holding the tool call or
// the document (as far as max_tokens let it go).
func (g *genRequest) appendToolFull(b, head, reasoning []byte) []byte {
	a := g.tool
	b = append(b, head...)
	b = appendUsage(b, g.prompt, g.cached, g.n, g.reasoning)
	b = append(b, `,"choices":[{"index":0,"finish_reason":"`...)
	b = append(b, a.finish...)
	b = append(b, `","message":{"role":"assistant",`...)
	if g.reasoning > 0 {
		b = append(b, `"reasoning_content":"`...)
		b = append(b, reasoning...)
		b = append(b, `",`...)
	}
	text := strings.Join(a.parts[:g.n-g.reasoning], "")
	if !a.call {
		b = append(b, `"content":`...)
		b = appendJSONString(b, text)
		return append(b, `}}]}`...)
	}
	b = append(b, `"content":null,"tool_calls":[{"id":`...)
	b = appendJSONString(b, a.id)
	b = append(b, `,"type":"function","function":{"name":`...)
	b = appendJSONString(b, a.name)
	b = append(b, `,"arguments":`...)
	b = appendJSONString(b, text)
	return append(b, `}}]}}]}`...)
}

// generateJSON writes a JSON value valid for schema (nil: an empty
// object), or, with violate, one that breaks it where the generator can: a
// required property left out, else the first typed property of the wrong
// type, else a value of the wrong type. It is written as Python's
// json.dumps writes it (", " and ": "), as vLLM's parsers hand it on.
func generateJSON(schema json.RawMessage, violate bool) ([]byte, error) {
	if len(bytes.TrimSpace(schema)) == 0 || string(schema) == "null" {
		return []byte("{}"), nil
	}
	var root any
	dec := json.NewDecoder(bytes.NewReader(schema))
	dec.UseNumber()
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("the schema is not JSON: %s", err)
	}
	gen := &jsonGen{root: root}
	var b []byte
	if violate {
		return gen.violate(b, root), nil
	}
	return gen.value(b, root, 0), nil
}

// jsonGen generates values of a schema document.
type jsonGen struct {
	root any // the whole schema, for $refs
}

// resolve follows local $refs and the first branches of allOf, anyOf and
// oneOf, a bounded number of times ($refs may loop).
func (g *jsonGen) resolve(s map[string]any) map[string]any {
	for range maxSchemaDepth {
		if ref, ok := s["$ref"].(string); ok && strings.HasPrefix(ref, "#") {
			t, ok := pointer(g.root, ref[1:]).(map[string]any)
			if !ok {
				return s
			}
			s = t
			continue
		}
		branch := firstBranch(s)
		if branch == nil {
			return s
		}
		s = branch
	}
	return s
}

// firstBranch is s, less its allOf, anyOf or oneOf, merged with that
// combinator's first branch; nil when s has none.
func firstBranch(s map[string]any) map[string]any {
	for _, k := range []string{"allOf", "anyOf", "oneOf"} {
		branches, _ := s[k].([]any)
		if len(branches) == 0 {
			continue
		}
		t, ok := branches[0].(map[string]any)
		if !ok {
			continue
		}
		merged := make(map[string]any, len(s)+len(t))
		for kk, v := range s {
			if kk != k {
				merged[kk] = v
			}
		}
		maps.Copy(merged, t)
		return merged
	}
	return nil
}

// pointer resolves a JSON Pointer in doc.
func pointer(doc any, ptr string) any {
	if ptr == "" {
		return doc
	}
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch d := doc.(type) {
		case map[string]any:
			doc = d[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(d) {
				return nil
			}
			doc = d[i]
		default:
			return nil
		}
	}
	return doc
}

// schemaType is the type a schema asks for: the first non-null of type,
// else what its keywords imply.
func schemaType(s map[string]any) string {
	switch t := s["type"].(type) {
	case string:
		return t
	case []any:
		for _, v := range t {
			if v, ok := v.(string); ok && v != "null" {
				return v
			}
		}
		if len(t) > 0 {
			return "null"
		}
	}
	switch {
	case s["properties"] != nil || s["required"] != nil:
		return "object"
	case s["items"] != nil || s["prefixItems"] != nil:
		return "array"
	case s["minimum"] != nil || s["maximum"] != nil:
		return "number"
	}
	return "string"
}

// value appends a value valid for schema s.
func (g *jsonGen) value(b []byte, raw any, depth int) []byte {
	s, ok := raw.(map[string]any)
	if !ok || depth > maxSchemaDepth {
		return append(b, "null"...) // true (anything) or too deep
	}
	s = g.resolve(s)
	if c, ok := s["const"]; ok {
		return appendAny(b, c)
	}
	if e, ok := s["enum"].([]any); ok && len(e) > 0 {
		return appendAny(b, e[0])
	}
	switch schemaType(s) {
	case "object":
		props, _ := s["properties"].(map[string]any)
		b = append(b, '{')
		for i, k := range objectKeys(s) {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = appendJSONString(b, k)
			b = append(b, ": "...)
			if p, ok := props[k]; ok {
				b = g.value(b, p, depth+1)
			} else {
				b = appendJSONString(b, "sim") // required, not described
			}
		}
		return append(b, '}')
	case "array":
		b = append(b, '[')
		prefix, _ := s["prefixItems"].([]any)
		n := max(len(prefix), int(number(s["minItems"], 1)))
		if mx, ok := s["maxItems"]; ok {
			n = min(n, int(number(mx, 0)))
		}
		for i := range n {
			if i > 0 {
				b = append(b, ", "...)
			}
			if i < len(prefix) {
				b = g.value(b, prefix[i], depth+1)
			} else {
				b = g.value(b, s["items"], depth+1)
			}
		}
		return append(b, ']')
	case "integer", "number":
		v := 1.0
		if lo, ok := s["minimum"]; ok {
			v = number(lo, v)
		}
		if lo, ok := s["exclusiveMinimum"]; ok {
			v = math.Floor(number(lo, v)) + 1
		}
		if hi, ok := s["maximum"]; ok && v > number(hi, v) {
			v = number(hi, v)
		}
		if hi, ok := s["exclusiveMaximum"]; ok && v >= number(hi, v) {
			v = math.Ceil(number(hi, v)) - 1
		}
		return strconv.AppendFloat(b, math.Round(v), 'f', -1, 64)
	case "boolean":
		return append(b, "true"...)
	case "null":
		return append(b, "null"...)
	}
	text := "sim"
	if lo := int(number(s["minLength"], 0)); lo > len(text) {
		text += strings.Repeat("x", lo-len(text))
	}
	if hi, ok := s["maxLength"]; ok {
		text = text[:min(len(text), int(number(hi, 0)))]
	}
	return appendJSONString(b, text)
}

// violate appends a value that schema s refuses (see generateJSON).
func (g *jsonGen) violate(b []byte, raw any) []byte {
	s, ok := raw.(map[string]any)
	if !ok {
		return append(b, "[]"...)
	}
	s = g.resolve(s)
	if schemaType(s) != "object" {
		if schemaType(s) == "string" {
			return append(b, "42"...)
		}
		return append(b, `"sim"`...)
	}
	props, _ := s["properties"].(map[string]any)
	req, _ := s["required"].([]any)
	drop := ""
	if len(req) > 0 {
		drop, _ = req[0].(string)
	}
	wrong := ""
	if drop == "" {
		for _, k := range sortedKeys(props) {
			if p, ok := props[k].(map[string]any); ok && p["type"] != nil {
				wrong = k
				break
			}
		}
		if wrong == "" {
			return append(b, "[]"...) // nothing to break inside: not an object
		}
	}
	b = append(b, '{')
	first := true
	for _, k := range sortedKeys(props) {
		if k == drop {
			continue
		}
		if !first {
			b = append(b, ", "...)
		}
		first = false
		b = appendJSONString(b, k)
		b = append(b, ": "...)
		if k == wrong {
			b = g.violate(b, props[k])
		} else {
			b = g.value(b, props[k], 1)
		}
	}
	return append(b, '}')
}

// sortedKeys returns an object's keys, sorted: a map has lost the
// schema's order, and sorted keys keep answers the same from run to run.
func sortedKeys(m map[string]any) []string {
	return slices.Sorted(maps.Keys(m))
}

// objectKeys are the properties an object schema's value gets: every one
// it describes and every required one, sorted.
func objectKeys(s map[string]any) []string {
	props, _ := s["properties"].(map[string]any)
	keys := sortedKeys(props)
	req, _ := s["required"].([]any)
	for _, r := range req {
		if k, ok := r.(string); ok && props[k] == nil && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// number reads a JSON number, def when v is none.
func number(v any, def float64) float64 {
	if n, ok := v.(json.Number); ok {
		if f, err := n.Float64(); err == nil {
			return f
		}
	}
	return def
}

// appendAny appends a decoded JSON value (enum, const) as JSON.
func appendAny(b []byte, v any) []byte {
	out, err := json.Marshal(v)
	if err != nil {
		return append(b, "null"...)
	}
	return append(b, out...)
}
