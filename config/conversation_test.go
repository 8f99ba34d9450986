package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/llmprobe/llmprobe/dataset"
)

// conversationDir writes a JSON Lines file of two conversations and a
// malformed one to a temporary directory.
func conversationDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, b := range map[string]string{
		"convs.jsonl": `[{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]` + "\n\"d\"\n",
		// A valid prompt file, but an answer before the first question
		// is no conversation.
		"answer-first.jsonl": "\"ok\"\n" + `[{"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]` + "\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const sessionsBase = `
targets:
  - {name: t, url: "http://h", model: m}
workloads:
`

func TestConversationLoads(t *testing.T) {
	dir := conversationDir(t)
	in := sessionsBase + `
  - name: chat
    dataset: convs.jsonl
    conversation:
      history: dataset
      think_time: 1500ms
      think_time_distribution: exponential
      hold_slot: true
      max_turns: 4
      max_context_tokens: 8192
  - {name: groups, input_tokens: 600, shared_prefix: {groups: 4, prefix_tokens: 512}}
probes:
  - {name: p, targets: [t], workload: chat, schedule: "@every 1m", requests: 3}
`
	c, err := Load([]byte(in), filepath.Join(dir, "llmprobe.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	w := c.Workload("chat")
	want := Conversation{History: HistoryDataset, ThinkTime: model.Duration(1500 * time.Millisecond),
		ThinkTimeDistribution: ThinkExponential, HoldSlot: true, MaxTurns: 4, MaxContextTokens: 8192}
	got := *w.Conversation
	got.parsed = parsedConversations{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("conversation = %+v\nwant %+v", got, want)
	}
	convs, err := w.DatasetConversations()
	wantConvs := []dataset.Conversation{{Turns: []dataset.Turn{{User: "a", Assistant: "b"}, {User: "c"}}}, {Turns: []dataset.Turn{{User: "d"}}}}
	if err != nil || !reflect.DeepEqual(convs, wantConvs) {
		t.Errorf("DatasetConversations() = %+v, %v", convs, err)
	}
	// Parsed at load: the file is not read again.
	if err := os.Remove(filepath.Join(dir, "convs.jsonl")); err != nil {
		t.Fatal(err)
	}
	if again, err := w.DatasetConversations(); err != nil || !reflect.DeepEqual(again, wantConvs) {
		t.Errorf("after the file is gone: %+v, %v", again, err)
	}
	// A copy pointed at another file reads it.
	wc := *w
	wc.Dataset = filepath.Join(dir, "answer-first.jsonl")
	if _, err := wc.DatasetConversations(); err == nil || !strings.Contains(err.Error(), "an assistant message before the first user message") {
		t.Errorf("a changed dataset: %v", err)
	}
	if sp := c.Workload("groups").SharedPrefix; *sp != (SharedPrefix{Groups: 4, PrefixTokens: 512}) {
		t.Errorf("shared_prefix = %+v", sp)
	}
	// What String prints loads back the same.
	if err := os.WriteFile(filepath.Join(dir, "convs.jsonl"), []byte(`[{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]`+"\n\"d\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	again, err := Load([]byte(c.String()), filepath.Join(dir, "again.yaml"))
	if err != nil {
		t.Fatalf("reloading String(): %v", err)
	}
	if !reflect.DeepEqual(c.Workloads, again.Workloads) {
		t.Errorf("round trip differs:\n%+v\nvs\n%+v", c.Workloads, again.Workloads)
	}
}

func TestSessionErrors(t *testing.T) {
	dir := conversationDir(t)
	for _, c := range []struct{ workload, want string }{
		{`{name: w, prompt: hi, conversation: {}}`,
			"llmprobe.yaml:5: workloads[0].conversation: needs dataset: (the conversations to replay)"},
		{`{name: w, dataset: convs.jsonl, conversation: {history: mine}}`,
			`workloads[0].conversation.history: invalid history "mine" (want dataset or server)`},
		{"\n    name: w\n    dataset: convs.jsonl\n    conversation:\n      think_time: 2h",
			"llmprobe.yaml:9: workloads[0].conversation.think_time: must be between 0s and 1h"},
		{`{name: w, dataset: convs.jsonl, conversation: {think_time_distribution: exponential}}`,
			"workloads[0].conversation.think_time_distribution: exponential needs a think_time (its mean)"},
		{`{name: w, dataset: convs.jsonl, conversation: {think_time: 1s, think_time_distribution: gamma}}`,
			`workloads[0].conversation.think_time_distribution: invalid think_time_distribution "gamma" (want fixed or exponential)`},
		{`{name: w, dataset: convs.jsonl, conversation: {max_turns: 0}}`,
			"workloads[0].conversation.max_turns: must be between 1 and 1000"},
		{`{name: w, dataset: convs.jsonl, conversation: {max_context_tokens: -5}}`,
			"workloads[0].conversation.max_context_tokens: must be between 1 and 1048576"},
		{`{name: w, dataset: convs.jsonl, conversation: {think: 1s}}`,
			"workloads[0].conversation.think"},
		{`{name: w, dataset: answer-first.jsonl, conversation: {}}`,
			"llmprobe.yaml:5: workloads[0].dataset: " + filepath.Join(dir, "answer-first.jsonl") + ":2: message 1: an assistant message before the first user message"},
		{`{name: w, dataset: missing.jsonl, conversation: {}}`,
			"workloads[0].dataset: cannot read"},
		{`{name: w, dataset: convs.jsonl, input_tokens: 100, conversation: {}, shared_prefix: {groups: 1, prefix_tokens: 10}}`,
			"workloads[0].conversation: conflicts with shared_prefix: set only one"},
		{`{name: w, prompt: hi, shared_prefix: {groups: 2, prefix_tokens: 10}}`,
			"workloads[0].shared_prefix: needs input_tokens: each prompt's length, the shared prefix and its unique suffix"},
		{`{name: w, input_tokens: 100, shared_prefix: {prefix_tokens: 10}}`,
			"workloads[0].shared_prefix.groups: required"},
		{`{name: w, input_tokens: 100, shared_prefix: {groups: 0, prefix_tokens: 10}}`,
			"workloads[0].shared_prefix.groups: must be between 1 and 4096"},
		{`{name: w, input_tokens: 100, shared_prefix: {groups: 2}}`,
			"workloads[0].shared_prefix.prefix_tokens: required"},
		{`{name: w, input_tokens: 100, shared_prefix: {groups: 2, prefix_tokens: 100}}`,
			"workloads[0].shared_prefix.prefix_tokens: 100 leaves no suffix in prompts of input_tokens 100: make the prompts longer than the prefix"},
		{`{name: w, input_tokens: 300, input_tokens_stddev: 20, input_tokens_min: 200, shared_prefix: {groups: 2, prefix_tokens: 250}}`,
			"workloads[0].shared_prefix.prefix_tokens: 250 leaves no suffix in prompts of input_tokens_min 200"},
		{`{name: w, input_tokens: 1048576, shared_prefix: {groups: 4096, prefix_tokens: 4096}}`,
			"workloads[0].shared_prefix: groups × prefix_tokens (16777216) exceeds 2097152 tokens of prefix text"},
		{`{name: w, input_tokens: 100, shared_prefix: {groups: 2, prefix_tokens: 10, suffix_tokens: 5}}`,
			"workloads[0].shared_prefix.suffix_tokens"},
		{`{name: w, input_tokens: 100, shared_prefix: {groups: 2, prefix_tokens: 10}}`, ""},
		{`{name: w, dataset: convs.jsonl, conversation: {}}`, ""},
	} {
		_, err := Load([]byte(sessionsBase+"  - "+c.workload+"\n"), filepath.Join(dir, "llmprobe.yaml"))
		got := ""
		if err != nil {
			got = strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
		}
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: unexpected error %v", c.workload, err)
		case c.want != "" && !strings.Contains(got, strings.ReplaceAll(c.want, dir+string(filepath.Separator), "")):
			t.Errorf("%s:\n got %v\nwant %q", c.workload, got, c.want)
		}
	}
}

func TestCheckSessions(t *testing.T) {
	w := Workload{Dataset: "x.jsonl", Conversation: &Conversation{ThinkTimeDistribution: ThinkExponential, MaxTurns: -1}}
	err := w.CheckSessions()
	want := "conversation.think_time_distribution: exponential needs a think_time (its mean)\nconversation.max_turns: must be between 1 and 1000"
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	w = Workload{InputTokens: 64, SharedPrefix: &SharedPrefix{Groups: 2, PrefixTokens: 64}}
	if err := w.CheckSessions(); err == nil || err.Error() != "shared_prefix.prefix_tokens: 64 leaves no suffix in prompts of input_tokens 64: make the prompts longer than the prefix" {
		t.Errorf("got %v", err)
	}
	w.InputTokens = 65
	if err := w.CheckSessions(); err != nil {
		t.Error(err)
	}
	if _, err := (&Workload{}).DatasetConversations(); err == nil {
		t.Error("DatasetConversations of a workload without conversation: no error")
	}
}
