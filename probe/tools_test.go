package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

// testTools is the tools of testdata/toolcalls/tools.json.
func testTools(t *testing.T) *Tools {
	t.Helper()
	b, err := os.ReadFile("testdata/toolcalls/tools.json")
	if err != nil {
		t.Fatal(err)
	}
	tools, err := ParseTools(b)
	if err != nil {
		t.Fatal(err)
	}
	return tools
}

const personSchema = `{
  "title": "person",
  "type": "object",
  "properties": {
    "name": {"type": "string"},
    "age": {"type": "integer", "minimum": 0}
  },
  "required": ["name", "age"]
}`

func testSchema(t *testing.T) *JSONSchema {
	t.Helper()
	s, err := ParseJSONSchema([]byte(personSchema), "person.schema")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestParseToolsErrors(t *testing.T) {
	fn := func(name, params string) string {
		return `{"type":"function","function":{"name":"` + name + `","parameters":` + params + `}}`
	}
	for _, tt := range []struct {
		name, file, want string
	}{
		{"empty", "  \n", "is empty"},
		{"bad JSON", "[\n  {\"type\": \"function\",,}\n]", "invalid JSON at line 2, column 23: invalid character ',' looking for beginning of object key string"},
		{"truncated", "[\n  {\"type\": \"function\"", "invalid JSON at line 2, column 22: unexpected end of file"},
		{"trailing", `[] []`, "invalid JSON at line 1, column 4: data after the JSON value"},
		{"not an array", `"get_weather"`, `must hold a JSON array of tools, or an object with a "tools" array`},
		{"object without tools", `{"model":"m"}`, `must hold a JSON array of tools, or an object with a "tools" array`},
		{"no tools", `[]`, "holds no tools"},
		{"not an object", `[1]`, "tools[0]: must be an object"},
		{"no type", `[{"function":{"name":"f"}}]`, `tools[0]: no "type" (want "function")`},
		{"other type", `[{"type":"code_interpreter"}]`, `tools[0]: type "code_interpreter": only "function" tools are supported`},
		{"no function", `[{"type":"function"}]`, `tools[0]: no "function" object`},
		{"no name", `[{"type":"function","function":{"description":"d"}}]`, "tools[0]: the function has no name"},
		{"bad name", `[` + fn("get weather", `{}`) + `]`, `tools[0]: function name "get weather": use 1 to 64 letters, digits, _ and -`},
		{"twice", `[` + fn("f", `{}`) + `,` + fn("f", `{}`) + `]`, `tools[1]: function "f" defined twice`},
		{"bad schema", `[` + fn("f", `{"type":"objekt"}`) + `]`, "tools[0] (f): parameters: invalid JSON Schema: at /type: "},
		{"external ref", `[` + fn("f", `{"$ref":"other.json"}`) + `]`, "tools[0] (f): parameters: invalid JSON Schema: $ref tool/other.json: references outside the schema are not followed: put shared definitions in $defs"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTools([]byte(tt.file))
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
	// A reference inside the schema is followed.
	if _, err := ParseTools([]byte(`[` + fn("f", `{"$defs":{"z":{"type":"string"}},"properties":{"zone":{"$ref":"#/$defs/z"}}}`) + `]`)); err != nil {
		t.Errorf("internal $ref: %v", err)
	}
}

func TestParseTools(t *testing.T) {
	tools := testTools(t)
	if got := strings.Join(tools.Names(), ","); got != "get_weather,get_time" {
		t.Errorf("names %s", got)
	}
	// A request body copied whole, and a function without parameters.
	wrapped, err := ParseTools([]byte(`{"model":"m","tools":[{"type":"function","function":{"name":"ping"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(wrapped.raw) != `[{"type":"function","function":{"name":"ping"}}]` {
		t.Errorf("raw %s", wrapped.raw)
	}
}

func TestParseJSONSchema(t *testing.T) {
	s := testSchema(t)
	if s.Name() != "person" {
		t.Errorf("name %q, want the title", s.Name())
	}
	var f struct {
		Type       string `json:"type"`
		JSONSchema struct {
			Name   string          `json:"name"`
			Schema json.RawMessage `json:"schema"`
			Strict bool            `json:"strict"`
		} `json:"json_schema"`
	}
	if err := json.Unmarshal(s.format, &f); err != nil {
		t.Fatal(err)
	}
	if f.Type != "json_schema" || f.JSONSchema.Name != "person" || !f.JSONSchema.Strict || !bytes.Contains(f.JSONSchema.Schema, []byte(`"required":["name","age"]`)) {
		t.Errorf("response_format %s", s.format)
	}
	for _, tt := range []struct{ title, fallback, want string }{
		{`"a title with spaces"`, "file-name", "file-name"},
		{`""`, "bad name!", "output"},
	} {
		s, err := ParseJSONSchema([]byte(`{"title":`+tt.title+`,"type":"object"}`), tt.fallback)
		if err != nil {
			t.Fatal(err)
		}
		if s.Name() != tt.want {
			t.Errorf("title %s, fallback %q: name %q, want %q", tt.title, tt.fallback, s.Name(), tt.want)
		}
	}
	for _, tt := range []struct{ file, want string }{
		{`[1]`, "must hold a JSON Schema object"},
		{`{"type": 3}`, "invalid JSON Schema: at /type: "},
		{`{"minimum": "zero"}`, "invalid JSON Schema: at /minimum: "},
		{`{"title": 1}`, "invalid JSON Schema: at /title: got number, want string"},
		{"{\n\"type\": \"object\"\n", "invalid JSON at line 3, column 1: unexpected end of file"},
	} {
		if _, err := ParseJSONSchema([]byte(tt.file), ""); err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.file, err, tt.want)
		}
	}
}

func TestCheckToolChoice(t *testing.T) {
	tools := testTools(t)
	for _, tt := range []struct {
		choice ToolChoice
		tools  *Tools
		want   string
	}{
		{"", nil, ""},
		{"auto", tools, ""},
		{"required", tools, ""},
		{"none", tools, ""},
		{"get_time", tools, ""},
		{"auto", nil, "only used with tools"},
		{"get_date", tools, `function "get_date" is not one of the tools (get_weather, get_time)`},
	} {
		err := CheckToolChoice(tt.choice, tt.tools)
		if got := errString(err); got != tt.want {
			t.Errorf("%q: error %q, want %q", tt.choice, got, tt.want)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestAnswerBody: tools, tool_choice and response_format are sent on chat
// and vision requests as OpenAI shapes them; min_tokens is not forced on a
// checked answer; other kinds refuse them, naming the field.
func TestAnswerBody(t *testing.T) {
	tools, schema := testTools(t), testSchema(t)
	for _, tt := range []struct {
		choice ToolChoice
		want   string
	}{
		{"", ``},
		{"auto", `"auto"`},
		{"required", `"required"`},
		{"none", `"none"`},
		{"get_time", `{"function":{"name":"get_time"},"type":"function"}`},
	} {
		c := NewClient(Endpoint{Model: "m", Kind: Chat, Stream: true, SupportsMinTokens: true})
		b, err := c.Body(Request{Prompt: "hi", MaxTokens: 50, MinTokens: 50, Answer: &AnswerSpec{Tools: tools, Choice: tt.choice, Schema: schema}})
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]json.RawMessage
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatal(err)
		}
		if string(body["tool_choice"]) != tt.want {
			t.Errorf("tool_choice %s, want %s", body["tool_choice"], tt.want)
		}
		if !bytes.HasPrefix(body["tools"], []byte(`[{"type":"function","function":{"name":"get_weather","description":`)) {
			t.Errorf("tools %s", body["tools"])
		}
		if !bytes.HasPrefix(body["response_format"], []byte(`{"json_schema":{"name":"person","schema":{"title":"person",`)) {
			t.Errorf("response_format %s", body["response_format"])
		}
		if _, ok := body["min_tokens"]; ok || string(body["max_tokens"]) != "50" {
			t.Errorf("body %s: max_tokens only, without min_tokens and ignore_eos", b)
		}
	}
	// Without an AnswerSpec nothing is added.
	b, _ := NewClient(Endpoint{Model: "m"}).Body(Request{Prompt: "hi"})
	if bytes.Contains(b, []byte("tool")) || bytes.Contains(b, []byte("response_format")) {
		t.Errorf("body %s", b)
	}
	for _, tt := range []struct {
		kind Kind
		spec AnswerSpec
		want string
	}{
		{Completions, AnswerSpec{Tools: tools}, "tools: only chat and vision requests carry it, not completions"},
		{Embeddings, AnswerSpec{Choice: "auto"}, "tool_choice: only chat and vision requests carry it, not embeddings"},
		{Rerank, AnswerSpec{Schema: schema}, "response_format: only chat and vision requests carry it, not rerank"},
	} {
		c := NewClient(Endpoint{Model: "m", Kind: tt.kind})
		req := Request{Prompt: "hi", Inputs: []string{"a"}, Query: "q", Documents: []string{"d"}, Answer: &tt.spec}
		if _, err := c.Body(req); errString(err) != tt.want {
			t.Errorf("%s: error %v, want %q", tt.kind, err, tt.want)
		}
		if rec := c.Do(context.Background(), req); rec.Result != ResultProtocol || rec.Error != "encoding request: "+tt.want {
			t.Errorf("%s: %s %q", tt.kind, rec.Result, rec.Error)
		}
	}
	vb, err := NewClient(Endpoint{Model: "m", Kind: Vision}).Body(Request{Prompt: "hi", Images: []string{"data:image/png;base64,AA=="}, Answer: &AnswerSpec{Schema: schema}})
	if err != nil || !bytes.Contains(vb, []byte(`"response_format":{"json_schema"`)) {
		t.Errorf("vision body %s, %v", vb, err)
	}
}

// TestToolCallStreamTiming replays the vLLM-shaped tool-call stream
// (testdata/toolcalls) with a gap before every chunk: TTFT is the first
// tool-call delta (the one with the function's name), not the role chunk;
// each argument fragment is an output chunk with its ITL gap; the call is
// assembled and checked; finish_reason tool_calls is a success.
func TestToolCallStreamTiming(t *testing.T) {
	body, err := os.ReadFile("testdata/toolcalls/vllm-hermes-stream.sse")
	if err != nil {
		t.Fatal(err)
	}
	events := strings.SplitAfter(string(body), "\n\n")
	events = events[:len(events)-1] // after the last separator
	const gap = 15 * time.Millisecond
	clk := newStepClock()
	s := stream{events: events, delay: func(int) time.Duration { return gap }, clock: clk}
	var cap captured
	srv := serve(t, s.handler(t, &cap))
	for _, choice := range []ToolChoice{"", "auto", "required", "get_weather"} {
		c := newTestClient(t, Endpoint{URL: srv.URL, Model: "m", Stream: true})
		c.now = clk.now
		rec := c.Do(context.Background(), Request{Prompt: "weather in Paris?", Answer: &AnswerSpec{Tools: testTools(t), Choice: choice}})
		if rec.Result != ResultSuccess {
			t.Fatalf("tool_choice %q: %s: %s", choice, rec.Result, rec.Error)
		}
		// Output chunks: the name, then six argument fragments.
		if len(rec.Chunks) != 7 || rec.ToolCalls != 1 || rec.NoToolCall || rec.FinishReason != "tool_calls" || rec.OutputTokens != 21 || !rec.UsageReported {
			t.Fatalf("chunks %v, tool calls %d (none %v), finish %q, output tokens %d", rec.Chunks, rec.ToolCalls, rec.NoToolCall, rec.FinishReason, rec.OutputTokens)
		}
		ttft, _ := rec.TTFT()
		ttfa, _ := rec.TTFA()
		if ttft != rec.Chunks[0] || ttfa != ttft {
			t.Errorf("TTFT %v, TTFA %v, chunks %v", ttft, ttfa, rec.Chunks)
		}
		// The role chunk came at once, the name chunk a gap later.
		if ttft < gap {
			t.Errorf("TTFT %v < %v: the role chunk counted", ttft, gap)
		}
		n := 0
		rec.EachITL(func(itl time.Duration, w int) {
			n++
			if w != 1 || itl < gap || itl > gap+2*time.Second {
				t.Errorf("ITL %v weight %d, want about %v", itl, w, gap)
			}
		})
		if n != 6 {
			t.Errorf("%d ITL samples, want 6", n)
		}
	}
	_, sent := cap.get()
	if !bytes.Contains(sent, []byte(`"tool_choice":{"function":{"name":"get_weather"},"type":"function"}`)) {
		t.Errorf("request %s", sent)
	}
}

// TestToolCallOnlyStreamWithoutSpec: a stream that only calls a tool is a
// success (not "no output tokens"), even for a request that asked nothing.
func TestToolCallOnlyStreamWithoutSpec(t *testing.T) {
	body, err := os.ReadFile("testdata/toolcalls/vllm-hermes-stream.sse")
	if err != nil {
		t.Fatal(err)
	}
	c := NewClient(Endpoint{Stream: true})
	rec := &Record{Start: time.Now()}
	c.readStream(context.Background(), rec, nil, bytes.NewReader(body))
	if rec.Result != ResultSuccess || len(rec.Chunks) != 7 || rec.ToolCalls != 1 {
		t.Fatalf("%s (%s), %d chunks, %d tool calls", rec.Result, rec.Error, len(rec.Chunks), rec.ToolCalls)
	}
}

// toolStream is a stream whose answer is the given deltas (JSON objects),
// then finish, usage and [DONE].
func toolStream(finish string, deltas ...string) string {
	var b strings.Builder
	b.WriteString(roleChunk)
	for _, d := range deltas {
		b.WriteString(chatChunk(d, ""))
	}
	b.WriteString(`data: {"choices":[{"index":0,"delta":{},"finish_reason":"` + finish + `"}]}` + "\n\n")
	b.WriteString(usageChunk(10, len(deltas)))
	b.WriteString(doneEvent)
	return b.String()
}

// callDeltas streams a call of name with args in two fragments.
func callDeltas(name, args string) []string {
	h := len(args) / 2
	frag := func(s string) string {
		q, _ := json.Marshal(s)
		return `"tool_calls":[{"index":0,"function":{"arguments":` + string(q) + `}}]`
	}
	return []string{`"tool_calls":[{"index":0,"id":"call-1","type":"function","function":{"name":"` + name + `","arguments":""}}]`, frag(args[:h]), frag(args[h:])}
}

// plainCall is a non-streamed answer calling name with args.
func plainCall(name, args, finish string) string {
	q, _ := json.Marshal(args)
	return `{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"finish_reason":"` + finish + `","message":{"role":"assistant","content":null,"tool_calls":[{"id":"call-1","type":"function","function":{"name":"` + name + `","arguments":` + string(q) + `}}]}}],"usage":{"prompt_tokens":10,"completion_tokens":9}}`
}

func plainText(text, finish string) string {
	q, _ := json.Marshal(text)
	return `{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"finish_reason":"` + finish + `","message":{"role":"assistant","content":` + string(q) + `}}],"usage":{"prompt_tokens":10,"completion_tokens":9}}`
}

func textDeltas(text string) []string {
	var out []string
	for len(text) > 0 {
		n := min(len(text), 7)
		q, _ := json.Marshal(text[:n])
		out = append(out, `"content":`+string(q))
		text = text[n:]
	}
	return out
}

// TestAnswerChecks: every way an answer can fail its checks, streamed and
// not, is invalid_output with its reason; the valid ones succeed.
func TestAnswerChecks(t *testing.T) {
	tools, schema := testTools(t), testSchema(t)
	const weather = `{"location": "Paris, France", "unit": "celsius"}`
	for _, tt := range []struct {
		name   string
		spec   AnswerSpec
		stream string // the streamed answer
		plain  string // the same answer in one body
		want   string // the error; "" for a success
		noCall bool   // a success that called no tool
	}{
		{
			name: "valid call", spec: AnswerSpec{Tools: tools},
			stream: toolStream("tool_calls", callDeltas("get_weather", weather)...),
			plain:  plainCall("get_weather", weather, "tool_calls"),
		},
		{
			name: "valid forced call, finish stop", spec: AnswerSpec{Tools: tools, Choice: "get_time"},
			stream: toolStream("stop", callDeltas("get_time", `{"zone":"Europe/Paris"}`)...),
			plain:  plainCall("get_time", `{"zone":"Europe/Paris"}`, "stop"),
		},
		{
			name: "text answer under auto", spec: AnswerSpec{Tools: tools, Choice: "auto"},
			stream: toolStream("stop", textDeltas("I cannot look that up.")...),
			plain:  plainText("I cannot look that up.", "stop"),
			noCall: true,
		},
		{
			name: "text answer under none", spec: AnswerSpec{Tools: tools, Choice: "none"},
			stream: toolStream("stop", textDeltas("It is sunny.")...),
			plain:  plainText("It is sunny.", "stop"),
		},
		{
			name: "unknown function", spec: AnswerSpec{Tools: tools},
			stream: toolStream("tool_calls", callDeltas("get_wether", weather)...),
			plain:  plainCall("get_wether", weather, "tool_calls"),
			want:   `tool call 0: unknown function "get_wether" (tools: get_weather, get_time)`,
		},
		{
			name: "bad JSON arguments", spec: AnswerSpec{Tools: tools},
			stream: toolStream("tool_calls", callDeltas("get_weather", `{"location": "Paris" "unit": "celsius"}`)...),
			plain:  plainCall("get_weather", `{"location": "Paris" "unit": "celsius"}`, "tool_calls"),
			want:   `tool call 0 (get_weather): the arguments are not JSON: invalid character '"' after object key:value pair at offset 21`,
		},
		{
			name: "cut arguments", spec: AnswerSpec{Tools: tools},
			stream: toolStream("length", callDeltas("get_weather", `{"location": "Paris, Fr`)...),
			plain:  plainCall("get_weather", `{"location": "Paris, Fr`, "length"),
			want:   `tool call 0 (get_weather): the arguments are not JSON: unexpected end at offset 23 (finish_reason length: max_tokens cut the answer)`,
		},
		{
			name: "arguments not an object", spec: AnswerSpec{Tools: tools},
			stream: toolStream("tool_calls", callDeltas("get_weather", `["Paris"]`)...),
			plain:  plainCall("get_weather", `["Paris"]`, "tool_calls"),
			want:   `tool call 0 (get_weather): the arguments are not a JSON object`,
		},
		{
			name: "schema violation", spec: AnswerSpec{Tools: tools},
			stream: toolStream("tool_calls", callDeltas("get_weather", `{"location": "Paris", "unit": "kelvin"}`)...),
			plain:  plainCall("get_weather", `{"location": "Paris", "unit": "kelvin"}`, "tool_calls"),
			want:   `tool call 0 (get_weather): the arguments violate its schema at /unit: value must be one of 'celsius', 'fahrenheit'`,
		},
		{
			name: "missing property", spec: AnswerSpec{Tools: tools},
			stream: toolStream("tool_calls", callDeltas("get_weather", `{"location": "Paris"}`)...),
			plain:  plainCall("get_weather", `{"location": "Paris"}`, "tool_calls"),
			want:   `tool call 0 (get_weather): the arguments violate its schema at /: missing property 'unit'`,
		},
		{
			name: "wrong forced function", spec: AnswerSpec{Tools: tools, Choice: "get_time"},
			stream: toolStream("stop", callDeltas("get_weather", weather)...),
			plain:  plainCall("get_weather", weather, "stop"),
			want:   `tool call 0 calls "get_weather", but tool_choice forces "get_time"`,
		},
		{
			name: "no call when required", spec: AnswerSpec{Tools: tools, Choice: "required"},
			stream: toolStream("stop", textDeltas("Sunny.")...),
			plain:  plainText("Sunny.", "stop"),
			want:   `no tool call in the answer (tool_choice required)`,
		},
		{
			name: "call despite none", spec: AnswerSpec{Tools: tools, Choice: "none"},
			stream: toolStream("tool_calls", callDeltas("get_weather", weather)...),
			plain:  plainCall("get_weather", weather, "tool_calls"),
			want:   `the answer calls "get_weather" despite tool_choice none`,
		},
		{
			name: "hermes call left in the text", spec: AnswerSpec{Tools: tools},
			stream: toolStream("stop", textDeltas(`<tool_call>`+"\n"+`{"name": "get_weather", "arguments": `+weather+`}`+"\n"+`</tool_call>`)...),
			plain:  plainText(`<tool_call>`+"\n"+`{"name": "get_weather", "arguments": `+weather+`}`+"\n"+`</tool_call>`, "stop"),
			want:   `the answer's text holds a tool call (<tool_call>) that the server did not parse into tool_calls: check its tool-call parser`,
		},
		{
			name: "JSON call left in the text", spec: AnswerSpec{Tools: tools},
			stream: toolStream("stop", textDeltas(`{"name": "get_time", "parameters": {"zone": "UTC"}}`)...),
			plain:  plainText(`{"name": "get_time", "parameters": {"zone": "UTC"}}`, "stop"),
			want:   `the answer's text holds a tool call (get_time) that the server did not parse into tool_calls: check its tool-call parser`,
		},
		{
			name: "valid structured output", spec: AnswerSpec{Schema: schema},
			stream: toolStream("stop", textDeltas(`{"name": "Ada", "age": 36}`)...),
			plain:  plainText(`{"name": "Ada", "age": 36}`, "stop"),
		},
		{
			name: "structured output not JSON", spec: AnswerSpec{Schema: schema},
			stream: toolStream("stop", textDeltas(`{"name": "Ada", age: 36}`)...),
			plain:  plainText(`{"name": "Ada", age: 36}`, "stop"),
			want:   `the output is not JSON: invalid character 'a' looking for beginning of object key string at offset 16`,
		},
		{
			name: "structured output violates", spec: AnswerSpec{Schema: schema},
			stream: toolStream("stop", textDeltas(`{"name": "Ada", "age": -1}`)...),
			plain:  plainText(`{"name": "Ada", "age": -1}`, "stop"),
			want:   `the output violates json_schema person at /age: minimum: got -1, want 0`,
		},
		{
			name: "structured output empty", spec: AnswerSpec{Schema: schema},
			stream: toolStream("stop", `"reasoning_content":"thinking"`),
			plain:  `{"choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","reasoning_content":"thinking","content":""}}]}`,
			want:   `no text to check against json_schema person`,
		},
		{
			name: "tool call where structured output was asked", spec: AnswerSpec{Schema: schema},
			stream: toolStream("tool_calls", callDeltas("get_weather", weather)...),
			plain:  plainCall("get_weather", weather, "tool_calls"),
			want:   `the answer calls "get_weather", but no tools were offered (a json_schema answer was asked for)`,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, streamed := range []bool{true, false} {
				var url string
				if streamed {
					url = streamServer(t, tt.stream)
				} else {
					url = jsonServer(t, tt.plain)
				}
				c := newTestClient(t, Endpoint{URL: url, Model: "m", Stream: streamed})
				rec := c.Do(context.Background(), Request{Prompt: "hi", Answer: &tt.spec})
				want := ResultSuccess
				if tt.want != "" {
					want = ResultInvalidOutput
				}
				if rec.Result != want || rec.Error != tt.want {
					t.Errorf("stream %v: %s %q, want %s %q", streamed, rec.Result, rec.Error, want, tt.want)
				}
				if rec.NoToolCall != tt.noCall {
					t.Errorf("stream %v: no tool call %v, want %v", streamed, rec.NoToolCall, tt.noCall)
				}
				if rec.HTTPStatus != 200 {
					t.Errorf("stream %v: HTTP %d", streamed, rec.HTTPStatus)
				}
			}
		})
	}
}

// TestToolCallDeltaShapes: servers that repeat the name in every fragment,
// leave the index out, send arguments as an object, or call two functions
// at once are read right; a tool_calls value of the wrong shape is a
// protocol failure.
func TestToolCallDeltaShapes(t *testing.T) {
	tools := testTools(t)
	for _, tt := range []struct {
		name   string
		deltas []string
		calls  int
		result Result
		err    string
	}{
		{"name repeated", []string{
			`"tool_calls":[{"index":0,"id":"a","type":"function","function":{"name":"get_time","arguments":"{\"zone\":"}}]`,
			`"tool_calls":[{"index":0,"id":"a","type":"function","function":{"name":"get_time","arguments":"\"UTC\"}"}}]`,
		}, 1, ResultSuccess, ""},
		{"no index", []string{
			`"tool_calls":[{"function":{"name":"get_time","arguments":"{\"zone\":\"UTC\"}"}}]`,
		}, 1, ResultSuccess, ""},
		{"arguments as an object", []string{
			`"tool_calls":[{"index":0,"function":{"name":"get_time","arguments":{"zone":"UTC"}}}]`,
		}, 1, ResultSuccess, ""},
		{"two calls", []string{
			`"tool_calls":[{"index":0,"function":{"name":"get_time","arguments":"{\"zone\":\"UTC\"}"}},{"index":1,"function":{"name":"get_time","arguments":""}}]`,
			`"tool_calls":[{"index":1,"function":{"arguments":"{\"zone\":\"CET\"}"}}]`,
		}, 2, ResultSuccess, ""},
		{"second call invalid", []string{
			`"tool_calls":[{"index":0,"function":{"name":"get_time","arguments":"{\"zone\":\"UTC\"}"}},{"index":1,"function":{"name":"get_time","arguments":"{}"}}]`,
		}, 2, ResultInvalidOutput, "tool call 1 (get_time): the arguments violate its schema at /: missing property 'zone'"},
		{"no name", []string{
			`"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]`,
		}, 1, ResultInvalidOutput, "tool call 0 has no function name"},
		{"not an array of objects", []string{`"tool_calls":[1]`}, 0, ResultProtocol, "stream chunk 1: malformed tool_calls: the value is number, not probe.toolCallDelta"},
		{"index out of range", []string{
			`"tool_calls":[{"index":1000000000,"function":{"name":"get_time"}}]`,
		}, 0, ResultProtocol, "stream chunk 1: tool call index 1000000000 out of range [0, 128)"},
		{"null and empty tool_calls", []string{`"content":"hi","tool_calls":null`, `"content":"!","tool_calls":[]`}, 0, ResultSuccess, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			url := streamServer(t, toolStream("tool_calls", tt.deltas...))
			rec := newTestClient(t, Endpoint{URL: url, Stream: true}).Do(context.Background(), Request{Prompt: "hi", Answer: &AnswerSpec{Tools: tools}})
			if rec.Result != tt.result || rec.Error != tt.err || (rec.Result != ResultProtocol && rec.ToolCalls != tt.calls) {
				t.Errorf("%s %q, %d calls; want %s %q, %d calls", rec.Result, rec.Error, rec.ToolCalls, tt.result, tt.err, tt.calls)
			}
		})
	}
}

// TestToolCallAllocs: a stream without tools allocates nothing more per
// chunk than before tool calls were read (the tool_calls field is skipped
// when absent), and a checked answer's per-chunk cost stays bounded.
func TestToolCallAllocs(t *testing.T) {
	c := NewClient(Endpoint{Stream: true})
	allocs := func(body []byte) float64 {
		rd := bytes.NewReader(body)
		return testing.AllocsPerRun(20, func() {
			rd.Reset(body)
			rec := &Record{Start: time.Now()}
			c.readStream(context.Background(), rec, nil, rd)
			if rec.Result != ResultSuccess {
				t.Fatal(rec.Error)
			}
		})
	}
	small, large := allocs(vllmBody(100, false)), allocs(vllmBody(1100, false))
	if perChunk := (large - small) / 1000; perChunk > 0.05 {
		t.Errorf("%.3f allocations per chunk without tools", perChunk)
	}
}

// FuzzToolCallStream feeds any body to the stream reader of a request
// with tools and a json_schema: it must not panic, and a checked answer is
// a success only with its calls counted and nothing else wrong.
func FuzzToolCallStream(f *testing.F) {
	body, err := os.ReadFile("testdata/toolcalls/vllm-hermes-stream.sse")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(body)
	f.Add([]byte(toolStream("tool_calls", callDeltas("get_time", `{"zone":"UTC"}`)...)))
	f.Add([]byte(toolStream("stop", textDeltas(`<tool_call>{"name":"get_time","arguments":{}}</tool_call>`)...)))
	f.Add([]byte(toolStream("tool_calls", `"tool_calls":[{"index":3,"function":{"name":"get_time","arguments":{"zone":1}}}]`)))
	raw, err := os.ReadFile("testdata/toolcalls/tools.json")
	if err != nil {
		f.Fatal(err)
	}
	tools, err := ParseTools(raw)
	if err != nil {
		f.Fatal(err)
	}
	schema, err := ParseJSONSchema([]byte(personSchema), "")
	if err != nil {
		f.Fatal(err)
	}
	spec := &AnswerSpec{Tools: tools, Schema: schema}
	c := NewClient(Endpoint{Stream: true})
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := &Record{Start: time.Now()}
		c.readStream(context.Background(), rec, spec, bytes.NewReader(body))
		if (rec.Result == ResultSuccess) != (rec.Error == "") {
			t.Fatalf("result %s with error %q", rec.Result, rec.Error)
		}
		if rec.Result == ResultSuccess && rec.NoToolCall != (rec.ToolCalls == 0) {
			t.Fatalf("success with %d tool calls, no_tool_call %v", rec.ToolCalls, rec.NoToolCall)
		}
		if rec.ToolCalls > maxToolCalls || rec.ToolCalls < 0 {
			t.Fatalf("%d tool calls", rec.ToolCalls)
		}
	})
}
