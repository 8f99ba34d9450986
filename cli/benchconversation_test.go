package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/sim"
)

const benchConversations = `{"messages": [{"role": "system", "content": "You keep a lighthouse far out at sea and answer every question in one short sentence, as a keeper writes in the log."}, {"role": "user", "content": "What does a keeper do all night?"}, {"role": "assistant", "content": "Tends the lamp and logs the weather."}, {"role": "user", "content": "Was it lonely?"}, {"role": "assistant", "content": "Very, for weeks at a time."}, {"role": "user", "content": "Are there keepers today?"}]}
`

func benchJSON(t *testing.T, args ...string) *load.Result {
	t.Helper()
	code, out, errOut := bench(t, nil, append(args, "--json", "--progress", "never", "--metrics-url", "none")...)
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	var res load.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("result: %v\n%s", err, out)
	}
	return &res
}

func TestBenchMultiTurn(t *testing.T) {
	url := benchSim(t, sim.Config{TTFT: 40 * time.Millisecond, ITL: time.Millisecond, OutputTokens: 4, PrefixCache: sim.PrefixCache{Enabled: true}})
	path := filepath.Join(t.TempDir(), "conversations.jsonl")
	if err := os.WriteFile(path, []byte(benchConversations), 0o644); err != nil {
		t.Fatal(err)
	}
	res := benchJSON(t, "--url", url, "--model", sim.DefaultModel, "--dataset", path, "--multi-turn", "--think-time", "100ms",
		"--hold-slot", "--concurrency", "2", "--num-requests", "4", "--decode-options", "num_tokens=4")
	s := &res.Summary
	if s.Successful != 12 || len(s.Turns) != 3 {
		t.Fatalf("successful %d, turns %+v; want 4 conversations of 3 turns", s.Successful, s.Turns)
	}
	for i := 1; i < 3; i++ {
		if s.Turns[i].InputLen.Mean <= s.Turns[i-1].InputLen.Mean || s.Turns[i].CachedTokens.Mean <= s.Turns[0].CachedTokens.Mean {
			t.Errorf("turn %d: %+v after %+v", i+1, s.Turns[i], s.Turns[i-1])
		}
	}
	c := s.Conversations
	if c == nil || c.Started != 4 || c.Ended[load.EndCompleted] != 4 || c.Plan == nil || !c.Plan.HoldSlot || c.Plan.ThinkTimeMS != 100 {
		t.Fatalf("conversations %+v", c)
	}
	// Their precision is workload's test; here, that the flag is the wait.
	if c.ThinkTime.Count != 8 || c.ThinkTime.Min < 100 {
		t.Errorf("think times %+v, want 8 of at least 100 ms", c.ThinkTime)
	}
	if g := s.PrefixCache; g == nil || g.TTFTGainRatio == nil || *g.TTFTGainRatio <= 0 {
		t.Errorf("prefix cache %+v", g)
	}
	var b bytes.Buffer
	printSessions(&b, res)
	for _, want := range []string{"turn  requests       ok", "\n1            4        4 ", "\n3            4        4 ",
		"Conversations: 4 started (4 completed), 3.0 turns each on average; think time", "Prefix cache: cold (turn 1) TTFT p50"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}

func TestBenchSharedPrefix(t *testing.T) {
	url := benchSim(t, sim.Config{TTFT: 40 * time.Millisecond, ITL: time.Millisecond, OutputTokens: 4, PrefixCache: sim.PrefixCache{Enabled: true}})
	res := benchJSON(t, "--url", url, "--model", sim.DefaultModel, "--shared-prefix", "2:384:64", "--concurrency", "1", "--num-requests", "8",
		"--decode-options", "num_tokens=4")
	g := res.Summary.PrefixCache
	if g == nil || g.Basis != load.BasisGroup || g.Cold.Requests != 2 || g.Warm.Requests != 6 || g.Warm.Hits != 6 || g.TTFTGainRatio == nil || *g.TTFTGainRatio < 0.5 {
		t.Fatalf("prefix cache %+v", g)
	}
	if res.Context.Workload.InputTokens != 448 || res.Summary.InputLen.Mean < 440 {
		t.Errorf("input tokens: context %d, mean %v; want 384+64", res.Context.Workload.InputTokens, res.Summary.InputLen.Mean)
	}
	var b bytes.Buffer
	printSessions(&b, res)
	if out := b.String(); !strings.Contains(out, "Prefix cache: cold (each group's first request) TTFT p50") || !strings.Contains(out, "6 of 6 cached") ||
		!strings.Contains(out, "TTFT gain") || strings.Contains(out, "Turns") {
		t.Errorf("report:\n%s", out)
	}
}

func TestBenchSessionFlagErrors(t *testing.T) {
	url := benchSim(t, sim.Config{})
	path := filepath.Join(t.TempDir(), "c.jsonl")
	if err := os.WriteFile(path, []byte(benchConversations), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"--url", url, "--model", sim.DefaultModel, "--num-requests", "1", "--progress", "never"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--think-time", "1s"}, "--think-time is only used with --multi-turn"},
		{[]string{"--hold-slot", "--max-turns", "2"}, "--hold-slot is only used with --multi-turn\n--max-turns is only used with --multi-turn"},
		{[]string{"--multi-turn"}, "--multi-turn replays a dataset's conversations: give --dataset"},
		{[]string{"--multi-turn", "--dataset", path, "--kind", "completions"}, "--multi-turn sends chat messages: only with --kind chat, not completions"},
		{[]string{"--multi-turn", "--dataset", path, "--history", "mine"}, `--history: want dataset or server, got "mine"`},
		{[]string{"--multi-turn", "--dataset", path, "--think-time", "soon"}, `--think-time: "soon" is not a duration`},
		{[]string{"--multi-turn", "--dataset", path, "--think-time-distribution", "exponential"}, "--think-time-distribution: exponential needs a --think-time (its mean)"},
		{[]string{"--multi-turn", "--dataset", path, "--max-context-tokens=-1"}, "--max-context-tokens: must be between 1 and 1048576"},
		{[]string{"--multi-turn", "--dataset", path, "--prompt-options", "num_tokens=20"}, "--prompt-options cuts single prompts to a length: --multi-turn sends whole conversations"},
		{[]string{"--shared-prefix", "2"}, `--shared-prefix: want GROUPS:PREFIX_TOKENS[:SUFFIX_TOKENS] (positive integers), got "2"`},
		{[]string{"--shared-prefix", "2:0:5"}, "--shared-prefix: want GROUPS"},
		{[]string{"--shared-prefix", "2:64"}, "--shared-prefix 2:64: give SUFFIX_TOKENS (GROUPS:PREFIX_TOKENS:SUFFIX_TOKENS) or --input-tokens"},
		{[]string{"--shared-prefix", "2:64:8", "--input-tokens", "100"}, "--shared-prefix's SUFFIX_TOKENS and --input-tokens both set the prompt length: give one"},
		{[]string{"--shared-prefix", "2:64", "--input-tokens", "64"}, "--shared-prefix PREFIX_TOKENS: 64 leaves no suffix in prompts of --input-tokens 64"},
		{[]string{"--shared-prefix", "5000:64:8"}, "--shared-prefix GROUPS: must be between 1 and 4096"},
		{[]string{"--shared-prefix", "2:64:8", "--dataset", path}, "--shared-prefix makes synthetic prompts: drop --dataset and --prompt"},
		{[]string{"--shared-prefix", "2:64:8", "--kind", "embeddings"}, "--shared-prefix: embeddings requests take no prompt of that shape"},
		{[]string{"--shared-prefix", "2:64:8", "--multi-turn", "--dataset", path}, "--shared-prefix and --multi-turn: give one"},
	} {
		code, out, errOut := bench(t, nil, append(base, c.args...)...)
		if code != exitError || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d\n%s%s\nwant %q", c.args, code, out, errOut, c.want)
		}
	}
}
