package workload

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/probe"
)

// nonceRE matches a text that starts with a nonce.
var nonceRE = regexp.MustCompile(`^[0-9a-f]{12} `)

// cutNonce removes the nonce that starts *s and returns it.
func cutNonce(t *testing.T, s *string) string {
	t.Helper()
	if !nonceRE.MatchString(*s) {
		t.Fatalf("%.40q does not start with a nonce", *s)
	}
	n := (*s)[:nonceDigits]
	*s = (*s)[nonceDigits+1:]
	return n
}

// stripNonces removes the nonces of a cold request (of every kind, from
// New) and returns them: the prompt's or system message's, each input's,
// the query's.
func stripNonces(t *testing.T, req *probe.Request) []string {
	t.Helper()
	var ns []string
	if req.System != "" {
		ns = append(ns, cutNonce(t, &req.System))
	} else {
		ns = append(ns, cutNonce(t, &req.Prompt))
	}
	for i := range req.Inputs {
		ns = append(ns, cutNonce(t, &req.Inputs[i]))
	}
	if req.Query != "" {
		ns = append(ns, cutNonce(t, &req.Query))
	}
	return ns
}

// TestMix48: consecutive counter values give distinct nonces that share
// their first digit no more often than chance (1 in 16), so that a cache
// matching token by token finds no common start between them.
func TestMix48(t *testing.T) {
	const n = 1 << 18
	seen := make(map[uint64]bool, n)
	sameFirst := 0
	prev := ""
	for i := range uint64(n) {
		x := mix48(0xfffffffffff0 + i) // across the wrap at 2^48 too
		if seen[x] {
			t.Fatalf("mix48 repeats %x at %d", x, i)
		}
		seen[x] = true
		s := formatNonce(x)
		if len(s) != nonceDigits || x > nonceMask {
			t.Fatalf("nonce %q of %x", s, x)
		}
		if prev != "" && s[0] == prev[0] {
			sameFirst++
		}
		prev = s
	}
	if share := float64(sameFirst) / n; share > 0.07 || share < 0.055 {
		t.Errorf("%.4f of consecutive nonces share their first digit, want about 1/16", share)
	}
}

const nonceHelperEnv = "LLMPROBE_NONCE_HELPER"

// nonceWorkload is what TestNoncesUnique and its helper process send:
// synthetic prompts of drawn lengths behind a system prompt.
var nonceWorkload = config.Workload{Name: "w", InputTokens: 40, InputTokensStddev: 8, System: "Be brief.", Seed: 7,
	OutputTokens: config.DecodeOptions{NumTokens: 20, Variance: 5}}

// nonceRun is n requests of nonceWorkload: their nonces, and the requests
// without them as JSON.
func nonceRun(t *testing.T, n int) (nonces, reqs []string) {
	g := newGen(t, nonceWorkload, config.KindChat)
	for range n {
		r := g.Next()
		nonces = append(nonces, stripNonces(t, &r)...)
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, string(b))
	}
	return nonces, reqs
}

// TestNonceHelper prints a run of nonceWorkload for TestNoncesUnique, in a
// process of its own.
func TestNonceHelper(t *testing.T) {
	if os.Getenv(nonceHelperEnv) != "1" {
		t.Skip("run by TestNoncesUnique in a process of its own")
	}
	nonces, reqs := nonceRun(t, 50)
	for i := range nonces {
		fmt.Printf("nonce %s %s\n", nonces[i], reqs[i])
	}
}

// TestNoncesUnique: two generators of one workload (two probes), a new
// generator with the same seed (the daemon restarted or reloaded) and
// another process (a restart, another llmprobe) send disjoint nonces, while
// the requests without them are the same for the same seed.
func TestNoncesUnique(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestNonceHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), nonceHelperEnv+"=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper process: %v\n%s", err, out)
	}
	var child, childReqs []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "nonce "); ok {
			n, req, _ := strings.Cut(rest, " ")
			child, childReqs = append(child, n), append(childReqs, req)
		}
	}
	if len(child) != 50 {
		t.Fatalf("helper printed %d nonces:\n%s", len(child), out)
	}

	a, aReqs := nonceRun(t, 50)
	b, bReqs := nonceRun(t, 50)
	restart, restartReqs := nonceRun(t, 50)
	seen := map[string]string{}
	for _, run := range []struct {
		name   string
		nonces []string
	}{{"probe a", a}, {"probe b", b}, {"restarted", restart}, {"other process", child}} {
		for _, n := range run.nonces {
			if prev, dup := seen[n]; dup {
				t.Fatalf("nonce %s sent by %s and %s", n, prev, run.name)
			}
			seen[n] = run.name
		}
	}
	for i := range aReqs {
		if aReqs[i] != bReqs[i] || aReqs[i] != restartReqs[i] || aReqs[i] != childReqs[i] {
			t.Fatalf("request %d differs beyond its nonce:\n%s\n%s\n%s\n%s", i, aReqs[i], bReqs[i], restartReqs[i], childReqs[i])
		}
	}
}

// firstText returns the first text of a request body as a server reads it:
// the first message's content (or its first text part), or the prompt.
func firstText(t *testing.T, body []byte) string {
	t.Helper()
	var b struct {
		Prompt   string
		Messages []struct {
			Content json.RawMessage
		}
	}
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatal(err)
	}
	if len(b.Messages) == 0 {
		return b.Prompt
	}
	var s string
	if json.Unmarshal(b.Messages[0].Content, &s) == nil {
		return s
	}
	var parts []struct{ Type, Text string }
	if err := json.Unmarshal(b.Messages[0].Content, &parts); err != nil || len(parts) == 0 {
		t.Fatalf("first message content %s", b.Messages[0].Content)
	}
	return parts[0].Text
}

// TestNonceFirst: whatever the workload, the nonce is the first text a
// server tokenizes after its chat template's header: before a workload's
// system prompt, and at the start of a dataset conversation's system turn;
// and it is sent once.
func TestNonceFirst(t *testing.T) {
	dir := t.TempDir()
	conv := filepath.Join(dir, "conv.jsonl")
	if err := os.WriteFile(conv, []byte(`[{"role":"system","content":"You answer in French."},{"role":"user","content":"Why is the sky blue?"}]`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	image := "../testdata/probe-4x4.png"
	for _, tc := range []struct {
		name  string
		w     config.Workload
		after string // what follows the nonce
	}{
		{"prompt with system", config.Workload{Prompt: "Why is the sky blue?", System: "Be brief."}, "Be brief."},
		{"synthetic with system", config.Workload{InputTokens: 64, System: "Be brief."}, "Be brief."},
		{"conversation with a system turn", config.Workload{Dataset: conv}, "You answer in French."},
		{"prompt", config.Workload{Prompt: "Why is the sky blue?"}, "Why is the sky blue?"},
	} {
		for _, kind := range []probe.Kind{config.KindChat, config.KindCompletions, config.KindVision} {
			t.Run(tc.name+"/"+string(kind), func(t *testing.T) {
				w := tc.w
				if kind == config.KindVision {
					w.Images = []string{image}
				}
				req := newGen(t, w, kind).Next()
				body, err := probe.NewClient(probe.Endpoint{URL: "http://127.0.0.1:1", Kind: kind, Model: "m", Stream: true}).Body(req)
				if err != nil {
					t.Fatal(err)
				}
				first := firstText(t, body)
				nonce := cutNonce(t, &first)
				after := tc.after
				if kind == config.KindCompletions && w.Dataset != "" {
					// Completions send the conversation's last user
					// message only (no roles to render).
					after = "Why is the sky blue?"
				}
				if !strings.HasPrefix(first, after) {
					t.Errorf("after the nonce: %.60q, want %q", first, after)
				}
				if n := bytes.Count(body, []byte(nonce)); n != 1 {
					t.Errorf("nonce %s sent %d times in %s", nonce, n, body)
				}
			})
		}
	}
}
