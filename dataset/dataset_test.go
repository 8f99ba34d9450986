package dataset

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestLoadJSONL(t *testing.T) {
	got, err := Load("testdata/prompts.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{
		{Prompt: "Write a haiku about the sea."},
		{Prompt: "Explain tides."},
		{Prompt: "Why is the sea salty?", Messages: []Message{{"system", "Be brief."}, {"user", "Why is the sea salty?"}}},
		{Prompt: "Tell me a joke.", Messages: []Message{{"user", "Hi"}, {"assistant", "Hello!"}, {"user", "Tell me a joke."}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestLoadShareGPT(t *testing.T) {
	got, err := Load("testdata/sharegpt.json")
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{{Prompt: "What is a lighthouse?"}, {Prompt: "Name three seas."}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestBadFiles(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content, want string
	}{
		{"empty.jsonl", "", "empty.jsonl: no prompts (empty file, or no entry with a prompt)"},
		{"blank.jsonl", "\n  \n", "blank.jsonl: no prompts (empty file, or no entry with a prompt)"},
		{"notjson.jsonl", "\"ok\"\nhello there\n", "notjson.jsonl:2: invalid JSON: invalid character 'h' looking for beginning of value"},
		{"number.jsonl", "\"ok\"\n\n42\n", "number.jsonl:3: " + lineShape},
		{"noprompt.jsonl", `{"text": "hi"}`, "noprompt.jsonl:1: " + lineShape},
		{"promptnum.jsonl", `{"prompt": 3}`, `promptnum.jsonl:1: "prompt" must be a string`},
		{"emptyprompt.jsonl", `{"prompt": " "}`, "emptyprompt.jsonl:1: empty prompt"},
		{"both.jsonl", `{"prompt": "a", "messages": []}`, `both.jsonl:1: has both "prompt" and "messages": give one`},
		{"badrole.jsonl", `[{"role": "robot", "content": "x"}]`, `badrole.jsonl:1: message 1: role "robot" is not system, user or assistant`},
		{"nouser.jsonl", `[{"role": "system", "content": "x"}]`, "nouser.jsonl:1: no user message with content"},
		{"badmsg.jsonl", `{"messages": [{"role": "user"}]}`, `badmsg.jsonl:1: message 1: want an object with "role" and "content" strings`},
		{"emptymsgs.jsonl", `[]`, "emptymsgs.jsonl:1: empty message list"},
		{"sharegpt-shape.json", "[\n {\"conversations\": []},\n {\"id\": 2}\n]", "sharegpt-shape.json:3: " + shareGPTShape},
		{"sharegpt-turn.json", "[\n {\"conversations\": [\n {\"from\": \"human\"}]}\n]", "sharegpt-turn.json:2: " + shareGPTShape},
		{"sharegpt-syntax.json", "[\n {\"conversations\": []},\n {\"conversations\": [}\n]", "sharegpt-syntax.json:3: invalid JSON: invalid character '}' looking for beginning of value"},
		{"sharegpt-eof.json", "[\n {\"conversations\": []},\n", "sharegpt-eof.json:2: invalid JSON: unexpected end of file"},
		{"sharegpt-none.json", `[{"conversations": [{"from": "gpt", "value": "x"}]}]`, "sharegpt-none.json: no prompts (empty file, or no entry with a prompt)"},
		{"sharegpt-trailing.json", "[]\n[]\n", "sharegpt-trailing.json:2: data after the JSON list (name a JSON Lines file *.jsonl)"},
		{"messages.json", `[{"role": "user", "content": "x"}]`, "messages.json:1: " + shareGPTShape},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			if err := os.WriteFile(p, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			err := Check(p)
			if err == nil {
				t.Fatal("no error")
			}
			if got, want := err.Error(), filepath.Join(dir, tc.want); got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
			var de *Error
			if !errors.As(err, &de) {
				t.Errorf("%T is not an *Error", err)
			}
		})
	}
	if err := Check(filepath.Join(dir, "missing.jsonl")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if err := Check(dir); err == nil || err.Error() != dir+": not a regular file" {
		t.Errorf("directory: %v", err)
	}
}

func TestBOMAndLineNumbers(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bom.json")
	if err := os.WriteFile(p, []byte("\xef\xbb\xbf[\n{\"conversations\": []},\n7\n]"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Check(p); err == nil || err.Error() != p+":3: "+shareGPTShape {
		t.Errorf("got %v", err)
	}
}

func FuzzParseLine(f *testing.F) {
	for _, s := range []string{`"x"`, `{"prompt":"x"}`, `[{"role":"user","content":"x"}]`, `{"messages":[]}`, `nul`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, msg := parseLine(b)
		if msg == "" && e.Prompt == "" {
			t.Errorf("%q: accepted without a prompt", b)
		}
	})
}
