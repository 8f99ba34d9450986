package dataset

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestLoadConversationsJSONL(t *testing.T) {
	got, err := LoadConversations("testdata/conversations.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	want := []Conversation{
		{System: "Answer in one sentence.", Turns: []Turn{
			{"What does a lighthouse keeper do?", "A keeper tends the lamp and logs the weather."},
			{"Was it a lonely job?", "Often, on rock stations far from the coast."},
			{"Are there keepers today?", ""},
		}},
		{Turns: []Turn{{User: "Name a famous lighthouse."}}},
		// Consecutive messages of one role are one message.
		{Turns: []Turn{{"Hi\n\nTell me about tides.", "The moon pulls the sea.\n\nTwice a day."}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestLoadConversationsShareGPT(t *testing.T) {
	got, err := LoadConversations("testdata/conversations.json")
	if err != nil {
		t.Fatal(err)
	}
	want := []Conversation{
		// The leading answer and the blank turn are skipped.
		{Turns: []Turn{{"What is a lighthouse?", "A tower with a light."}, {"Who keeps it?", "A keeper."}}},
		// inference-benchmarker's {"role", "content"} turns.
		{System: "Be brief.", Turns: []Turn{{"Name three seas.", "Red, Black, North."}, {"And oceans?", ""}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	// The prompt files of package dataset read as conversations too.
	if c, err := LoadConversations("testdata/sharegpt.json"); err != nil || len(c) != 2 || len(c[1].Turns) != 2 || c[1].System != "Be brief." {
		t.Errorf("sharegpt.json: %+v, %v", c, err)
	}
	if c, err := LoadConversations("testdata/prompts.jsonl"); err != nil || len(c) != 4 || len(c[3].Turns) != 2 {
		t.Errorf("prompts.jsonl: %+v, %v", c, err)
	}
}

func TestBadConversationFiles(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, content, want string }{
		{"empty.jsonl", "", "empty.jsonl: no prompts (empty file, or no conversation with a user turn)"},
		{"notjson.jsonl", "\"ok\"\nhello\n", "notjson.jsonl:2: invalid JSON: invalid character 'h' looking for beginning of value"},
		{"late-system.jsonl", "\"ok\"\n" + `[{"role": "user", "content": "a"}, {"role": "system", "content": "b"}]`,
			"late-system.jsonl:2: message 2: a system message after the conversation began"},
		{"answer-first.jsonl", `[{"role": "assistant", "content": "a"}, {"role": "user", "content": "b"}]`,
			"answer-first.jsonl:1: message 1: an assistant message before the first user message"},
		{"blank-user.jsonl", `[{"role": "user", "content": " "}, {"role": "user", "content": "b"}]`,
			"blank-user.jsonl:1: message 1: empty user message"},
		{"badrole.jsonl", `[{"role": "robot", "content": "x"}]`, `badrole.jsonl:1: message 1: role "robot" is not system, user or assistant`},
		{"sharegpt-from.json", "[\n {\"conversations\": []},\n {\"conversations\": [{\"from\": \"tool\", \"value\": \"x\"}]}\n]",
			`sharegpt-from.json:3: turn 1: from "tool" is not human, gpt or system`},
		{"sharegpt-turn.json", "[\n {\"conversations\": [\n {\"from\": \"human\"}]}\n]",
			"sharegpt-turn.json:2: turn 1: " + shareGPTConversationShape},
		{"sharegpt-value.json", `[{"conversations": [{"from": "human", "value": 3}]}]`,
			"sharegpt-value.json:1: turn 1: " + shareGPTConversationShape},
		{"sharegpt-shape.json", "[\n {\"conversations\": []},\n {\"id\": 2}\n]", "sharegpt-shape.json:3: " + shareGPTConversationShape},
		{"sharegpt-system.json", `[{"conversations": [{"from": "human", "value": "a"}, {"from": "system", "value": "b"}]}]`,
			"sharegpt-system.json:1: turn 2: a system turn after the conversation began"},
		{"sharegpt-syntax.json", "[\n {\"conversations\": []},\n {\"conversations\": [}\n]", "sharegpt-syntax.json:3: invalid JSON: invalid character '}' looking for beginning of value"},
		{"sharegpt-eof.json", "[\n {\"conversations\": []},\n", "sharegpt-eof.json:2: invalid JSON: unexpected end of file"},
		{"sharegpt-none.json", `[{"conversations": [{"from": "gpt", "value": "x"}]}]`, "sharegpt-none.json: no prompts (empty file, or no conversation with a user turn)"},
		{"sharegpt-trailing.json", "[]\n[]\n", "sharegpt-trailing.json:2: data after the JSON list (name a JSON Lines file *.jsonl)"},
	} {
		path := filepath.Join(dir, tc.name)
		if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := LoadConversations(path)
		if err == nil || strings.TrimPrefix(err.Error(), dir+"/") != tc.want {
			t.Errorf("%s: got %v\nwant %s", tc.name, err, tc.want)
		}
	}
	if err := ReadConversations(dir, func(Conversation) error { return nil }); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a directory: %v", err)
	}
}

// FuzzConversationLine checks that no line makes the parser panic, and that
// every conversation it accepts has turns, each with a user message.
func FuzzConversationLine(f *testing.F) {
	for _, s := range []string{`"hi"`, `{"prompt": "x"}`, `[{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]`,
		`{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "a"}]}`, `[{"role": "assistant", "content": "b"}]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(c Conversation, msg string) {
			if msg != "" {
				return
			}
			if len(c.Turns) == 0 {
				t.Fatalf("%q: accepted without turns", b)
			}
			for i, turn := range c.Turns {
				if turn.User == "" {
					t.Fatalf("%q: turn %d has no user message", b, i+1)
				}
			}
		}
		check(parseConversationLine(b))
		c, ok, msg := shareGPTConversation(b)
		if ok {
			check(c, msg)
		}
	})
}
