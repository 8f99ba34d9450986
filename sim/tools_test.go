package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// compile compiles a JSON Schema for the tests' checks.
func compile(t *testing.T, schema string) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("https://sim.invalid/s.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("https://sim.invalid/s.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validate(t *testing.T, s *jsonschema.Schema, doc []byte) error {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatalf("%s: not JSON: %v", doc, err)
	}
	return s.Validate(v)
}

// TestGenerateJSON: the generated document is valid for its schema, and
// the violating one is not.
func TestGenerateJSON(t *testing.T) {
	for _, tt := range []struct {
		schema, want string
	}{
		{`{"type":"object","properties":{"location":{"type":"string"},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["location","unit"]}`,
			`{"location": "sim", "unit": "celsius"}`},
		{`{"type":"object","properties":{"n":{"type":"integer","minimum":3,"maximum":9},"x":{"type":"number","exclusiveMinimum":0.5},"ok":{"type":"boolean"},"none":{"type":"null"}}}`,
			`{"n": 3, "none": null, "ok": true, "x": 1}`},
		{`{"type":"object","properties":{"tags":{"type":"array","items":{"type":"string","minLength":5},"minItems":2},"pair":{"type":"array","prefixItems":[{"type":"integer"},{"type":"string"}]}},"required":["tags","id"]}`,
			`{"id": "sim", "pair": [1, "sim"], "tags": ["simxx", "simxx"]}`},
		{`{"$defs":{"zone":{"type":"string","maxLength":2}},"type":"object","properties":{"z":{"$ref":"#/$defs/zone"},"c":{"const":"fixed"},"a":{"anyOf":[{"type":"integer"},{"type":"string"}]}},"additionalProperties":false}`,
			`{"a": 1, "c": "fixed", "z": "si"}`},
		{`{"type":["null","string"]}`, `"sim"`},
		{``, `{}`},
	} {
		got, err := generateJSON(json.RawMessage(tt.schema), false)
		if err != nil || string(got) != tt.want {
			t.Errorf("%s: %s, %v; want %s", tt.schema, got, err, tt.want)
			continue
		}
		if tt.schema == "" {
			continue
		}
		s := compile(t, tt.schema)
		if err := validate(t, s, got); err != nil {
			t.Errorf("%s: generated %s is invalid: %v", tt.schema, got, err)
		}
		bad, err := generateJSON(json.RawMessage(tt.schema), true)
		if err != nil {
			t.Fatal(err)
		}
		if validate(t, s, bad) == nil && !strings.Contains(tt.schema, `"anyOf"`) {
			t.Errorf("%s: violating %s is valid", tt.schema, bad)
		}
	}
	if _, err := generateJSON(json.RawMessage(`{"type":`), false); err == nil {
		t.Error("a broken schema generated a document")
	}
}

// toolChatBody is a chat request with the given extra fields.
func toolChatBody(stream bool, extra string) string {
	s := `{"model":"sim-model","messages":[{"role":"user","content":"weather in Paris?"}],"stream":false` + extra + `}`
	if stream {
		s = strings.Replace(s, `"stream":false`, `"stream":true,"stream_options":{"include_usage":true}`, 1)
	}
	return s
}

const weatherTools = `,"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"location":{"type":"string"},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["location","unit"]}}},{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{"zone":{"type":"string"}},"required":["zone"]}}}]`

// streamedCall reads a streamed tool-call answer as vLLM shapes it.
type streamedCall struct {
	firstID, firstType, name string
	args                     strings.Builder
	fragments                int // deltas carrying arguments
	finish                   string
	completion               int
}

func readToolStream(t *testing.T, url, body string) *streamedCall {
	t.Helper()
	resp, err := post(context.Background(), newClient(t), url+"/v1/chat/completions", body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("HTTP %d: %s", resp.StatusCode, b)
	}
	evs, err := readSSE(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	sc := &streamedCall{}
	for i, ev := range evs {
		if ev.data == "[DONE]" {
			break
		}
		var ch struct {
			Choices []struct {
				Delta struct {
					Content   *string `json:"content"`
					ToolCalls []struct {
						Index    int     `json:"index"`
						ID       *string `json:"id"`
						Type     *string `json:"type"`
						Function struct {
							Name      *string `json:"name"`
							Arguments *string `json:"arguments"`
						} `json:"function"`
					} `json:"tool_calls"`
				} `json:"delta"`
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
			Usage *struct {
				CompletionTokens int `json:"completion_tokens"`
			} `json:"usage"`
		}
		if err := json.Unmarshal([]byte(ev.data), &ch); err != nil {
			t.Fatalf("chunk %d: %v: %s", i, err, ev.data)
		}
		if ch.Usage != nil {
			sc.completion = ch.Usage.CompletionTokens
		}
		for _, c := range ch.Choices {
			if c.FinishReason != nil {
				sc.finish = *c.FinishReason
			}
			for _, tc := range c.Delta.ToolCalls {
				if tc.Index != 0 {
					t.Errorf("chunk %d: index %d", i, tc.Index)
				}
				if tc.Function.Name != nil {
					if sc.name != "" || tc.ID == nil || tc.Type == nil {
						t.Errorf("chunk %d: a name delta without id and type, or twice: %s", i, ev.data)
					}
					sc.name, sc.firstID, sc.firstType = *tc.Function.Name, *tc.ID, *tc.Type
				} else if tc.ID != nil {
					t.Errorf("chunk %d: an id after the first delta", i)
				}
				if tc.Function.Arguments != nil {
					sc.args.WriteString(*tc.Function.Arguments)
					sc.fragments++
				}
			}
		}
	}
	return sc
}

func TestToolCallStream(t *testing.T) {
	_, ts := newTestServer(t, fast(Config{}))
	sc := readToolStream(t, ts.URL, toolChatBody(true, weatherTools))
	if sc.name != "get_weather" || sc.firstType != "function" || !strings.HasPrefix(sc.firstID, "chatcmpl-tool-") || sc.finish != "tool_calls" {
		t.Fatalf("call %+v", sc)
	}
	const args = `{"location": "sim", "unit": "celsius"}`
	if sc.args.String() != args || sc.fragments != (len(args)+CharsPerToken-1)/CharsPerToken {
		t.Errorf("arguments %q in %d fragments", sc.args.String(), sc.fragments)
	}
	if sc.completion != sc.fragments+1 {
		t.Errorf("completion_tokens %d, want a token per fragment and one for the name (%d)", sc.completion, sc.fragments+1)
	}
	// A named choice calls that function, and vLLM says stop.
	sc = readToolStream(t, ts.URL, toolChatBody(true, weatherTools+`,"tool_choice":{"type":"function","function":{"name":"get_time"}}`))
	if sc.name != "get_time" || sc.args.String() != `{"zone": "sim"}` || sc.finish != "stop" {
		t.Errorf("named call %+v, arguments %s", sc, sc.args.String())
	}
	// max_tokens cuts the arguments.
	sc = readToolStream(t, ts.URL, toolChatBody(true, weatherTools+`,"max_tokens":4`))
	if sc.finish != "length" || sc.args.String() != `{"location":` || sc.completion != 4 {
		t.Errorf("cut call %+v, arguments %q", sc, sc.args.String())
	}
}

func TestToolCallPlainAndFormats(t *testing.T) {
	_, ts := newTestServer(t, fast(Config{Reasoning: 2}))
	for _, tt := range []struct {
		name, extra, want string
	}{
		{"call", weatherTools + `,"tool_choice":"required"`,
			`"finish_reason":"tool_calls","message":{"role":"assistant","reasoning_content":"` + reasoningToken(0) + reasoningToken(1) + `","content":null,"tool_calls":[{"id":"chatcmpl-tool-`},
		{"none", weatherTools + `,"tool_choice":"none"`, `"content":"` + contentToken(0)},
		{"json_schema", `,"response_format":{"type":"json_schema","json_schema":{"name":"p","schema":{"type":"object","properties":{"age":{"type":"integer","minimum":18}},"required":["age"]}}}`,
			`"finish_reason":"stop","message":{"role":"assistant","reasoning_content":"` + reasoningToken(0) + reasoningToken(1) + `","content":"{\"age\": 18}"}`},
		{"json_object", `,"response_format":{"type":"json_object"}`, `"content":"{\"answer\": \"sim\"}"`},
		{"text", `,"response_format":{"type":"text"}`, `"content":"` + contentToken(0)},
	} {
		resp, err := post(context.Background(), newClient(t), ts.URL+"/v1/chat/completions", toolChatBody(false, tt.extra))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Contains(b, []byte(tt.want)) {
			t.Errorf("%s: HTTP %d %s, want %s", tt.name, resp.StatusCode, b, tt.want)
		}
	}
	for _, tt := range []struct{ extra, want string }{
		{`,"tool_choice":"auto"`, "When using `tool_choice`, `tools` must be set."},
		{weatherTools + `,"tool_choice":{"type":"function","function":{"name":"nope"}}`, "Tool 'nope' has not been passed in `tools`."},
		{weatherTools + `,"tool_choice":"sometimes"`, `tool_choice "sometimes" must be auto, required, none or a function.`},
		{`,"tools":[{"type":"web_search"}]`, "tools[0] must be a function with a name."},
		{`,"response_format":{"type":"json_schema"}`, "response_format json_schema needs a json_schema with a schema."},
		{`,"response_format":{"type":"yaml"}`, `response_format type "yaml" is not supported.`},
	} {
		resp, err := post(context.Background(), newClient(t), ts.URL+"/v1/chat/completions", toolChatBody(true, tt.extra))
		if err != nil {
			t.Fatal(err)
		}
		var e struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != 400 || e.Error.Message != tt.want {
			t.Errorf("%s: HTTP %d %q, want 400 %q", tt.extra, resp.StatusCode, e.Error.Message, tt.want)
		}
	}
}

// TestToolCallFaults: each fault breaks the answer its way, and only the
// share asked for.
func TestToolCallFaults(t *testing.T) {
	for _, tt := range []struct {
		name   string
		faults Faults
		check  func(sc *streamedCall) bool
	}{
		{"malformed", Faults{ToolCallMalformed: 1}, func(sc *streamedCall) bool {
			return sc.name == "get_weather" && !json.Valid([]byte(sc.args.String()))
		}},
		{"unknown", Faults{ToolCallUnknown: 1}, func(sc *streamedCall) bool {
			return sc.name == unknownFunction && json.Valid([]byte(sc.args.String()))
		}},
		{"schema", Faults{ToolCallSchema: 1}, func(sc *streamedCall) bool {
			return sc.name == "get_weather" && sc.args.String() == `{"unit": "celsius"}`
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, ts := newTestServer(t, fast(Config{Faults: tt.faults}))
			if sc := readToolStream(t, ts.URL, toolChatBody(true, weatherTools)); !tt.check(sc) {
				t.Errorf("call %s(%s)", sc.name, sc.args.String())
			}
		})
	}
	// A share: about half of 200 answers, seeded.
	_, ts := newTestServer(t, fast(Config{Seed: 3, Faults: Faults{ToolCallUnknown: 0.5}}))
	unknown := 0
	for range 200 {
		if readToolStream(t, ts.URL, toolChatBody(true, weatherTools)).name == unknownFunction {
			unknown++
		}
	}
	if unknown < 70 || unknown > 130 {
		t.Errorf("%d of 200 answers unknown, want about 100", unknown)
	}
	if err := (Config{Faults: Faults{ToolCallSchema: 1.5}}).Validate(); err == nil || err.Error() != "sim: Faults.ToolCallSchema must be between 0 and 1, got 1.5" {
		t.Errorf("validate: %v", err)
	}
}
