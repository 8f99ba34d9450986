package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fixtureWith returns the fixture with some top-level fields replaced.
func fixtureWith(t testing.TB, fields map[string]any) []byte {
	t.Helper()
	b, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	return jsonWith(t, b, fields)
}

// tiny is a small tokenizer.json that loads and counts, a base for fuzz
// seeds that mutations can still keep valid.
const tiny = `{"model":{"type":"WordLevel","vocab":{"[UNK]":0,"hello":1,"world":2,",":3},"unk_token":"[UNK]"},` +
	`"normalizer":{"type":"Lowercase"},"pre_tokenizer":{"type":"Whitespace"}}`

// jsonWith returns the JSON object b with some top-level fields replaced.
func jsonWith(t testing.TB, b []byte, fields map[string]any) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range fields {
		m[k] = v
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func truncation(strategy string, maxLength int) map[string]any {
	return map[string]any{"truncation": map[string]any{"direction": "Right", "max_length": maxLength, "strategy": strategy, "stride": 0}}
}

// fatalCases are files on which github.com/sugarme/tokenizer v0.3.0 calls
// log.Fatal while encoding plain text; TestLibraryDiesInProcess shows that
// it does. Both are in TruncateEncodings (util.go), whose error branches
// end in log.Fatal: OnlySecond truncation of a single text at or over
// max_length, and OnlyFirst truncation to a negative max_length.
func fatalCases(t testing.TB) []struct {
	name, msg string
	data      []byte
} {
	return []struct {
		name, msg string
		data      []byte
	}{
		{"only-second.json", "Truncation error: Second sequence not provided", fixtureWith(t, truncation("OnlySecond", 1))},
		{"negative-max-length.json", "Truncation error: Sequence to truncate too short to respect the provided max_length", fixtureWith(t, truncation("OnlyFirst", -1))},
	}
}

// hugePadding makes the library allocate hundreds of millions of pad
// tokens per text: in the daemon's process that exhausts the machine
// (the OOM killer ends the daemon); in the child, whose address space is
// limited, it ends with "fatal error: out of memory".
func hugePadding(t testing.TB) []byte {
	return fixtureWith(t, map[string]any{"padding": map[string]any{
		"strategy": map[string]any{"Fixed": 300_000_000}, "direction": "Right", "pad_to_multiple_of": nil,
		"pad_id": 0, "pad_type_id": 0, "pad_token": "<|endoftext|>",
	}})
}

func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const inProcessEnv = "LLMPROBE_TOKENIZER_TEST_IN_PROCESS"

// TestInProcessLoadHelper is run by TestLibraryDiesInProcess in a child:
// it reads a file the way Load did before it had a child check, in this
// process with panics recovered, and says whether it survived.
func TestInProcessLoadHelper(t *testing.T) {
	path := os.Getenv(inProcessEnv)
	if path == "" {
		t.Skip("run by TestLibraryDiesInProcess")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := libLoad(data)
	if err == nil {
		tok := &Tokenizer{path: path, tk: tk}
		_, err = tok.count(samples[0])
	}
	fmt.Println("survived:", err)
}

// TestLibraryDiesInProcess shows that the fatal cases do end a process that
// reads them itself, recover notwithstanding.
func TestLibraryDiesInProcess(t *testing.T) {
	dir := t.TempDir()
	for _, c := range fatalCases(t) {
		path := writeFile(t, dir, c.name, c.data)
		cmd := exec.Command(os.Args[0], "-test.run=^TestInProcessLoadHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), inProcessEnv+"="+path)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) || exitErr.ExitCode() != 1 {
			t.Errorf("%s: in-process load: %v, want exit status 1 (log.Fatal); stdout %q", c.name, err, stdout.String())
		}
		if strings.Contains(stdout.String(), "survived") {
			t.Errorf("%s: the in-process load survived: %s", c.name, stdout.String())
		}
		if !strings.Contains(stderr.String(), c.msg) {
			t.Errorf("%s: stderr %q does not have %q", c.name, stderr.String(), c.msg)
		}
	}
}

func TestLoadRefusesFilesTheLibraryDiesOn(t *testing.T) {
	dir := t.TempDir()
	type tc struct {
		name, msg string
		data      []byte
	}
	var cases []tc
	for _, c := range fatalCases(t) {
		cases = append(cases, tc(c))
	}
	if childMemoryLimited {
		cases = append(cases, tc{"huge-padding.json", "fatal error: out of memory", hugePadding(t)})
	}
	for _, c := range cases {
		path := writeFile(t, dir, c.name, c.data)
		starts := childStarts.Load()
		tk, err := Load(path)
		if err == nil || tk != nil {
			t.Fatalf("%s: loaded, want an error", c.name)
		}
		want := path + ": not a usable tokenizer.json: the tokenizer library crashed on it: " + c.msg
		if err.Error() != want {
			t.Errorf("%s: error\n%q\nwant\n%q", c.name, err, want)
		}
		if n := childStarts.Load() - starts; n != 1 {
			t.Errorf("%s: %d children started, want 1", c.name, n)
		}
		// A daemon reloading the same bad config does not check it again.
		if _, err2 := Load(path); err2 == nil || err2.Error() != err.Error() {
			t.Errorf("%s: second load: %v, want the same error", c.name, err2)
		}
		if n := childStarts.Load() - starts; n != 1 {
			t.Errorf("%s: the unchanged file was checked again", c.name)
		}
	}
	if os.Getenv(checkEnv) != "" {
		t.Errorf("%s is set in the parent's environment", checkEnv)
	}
}

// A file fixed in place is checked again and loads.
func TestLoadRechecksAChangedFile(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "tokenizer.json", fatalCases(t)[0].data)
	if _, err := Load(path); err == nil {
		t.Fatal("bad file loaded")
	}
	good, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "tokenizer.json", good)
	if _, err := Load(path); err != nil {
		t.Fatalf("fixed file: %v", err)
	}
}

// Truncation and padding are for model inputs; counting ignores them, so
// that counts are the text's own and a truncation that would call
// log.Fatal on long texts cannot be reached from Count.
func TestCountIgnoresTruncationAndPadding(t *testing.T) {
	ref, err := Load(fixture)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string][]byte{
		"longest-first.json": fixtureWith(t, truncation("LongestFirst", 5)),
		// Fatal in-process for texts of 2000 tokens or more, which the
		// child's samples are not.
		"only-second-2000.json": fixtureWith(t, truncation("OnlySecond", 2000)),
		"padding.json": fixtureWith(t, map[string]any{"padding": map[string]any{
			"strategy": map[string]any{"Fixed": 100}, "direction": "Right", "pad_to_multiple_of": nil,
			"pad_id": 0, "pad_type_id": 0, "pad_token": "<|endoftext|>",
		}}),
	}
	long := strings.Repeat("the reader returns an error and the writer retries, ", 300)
	for name, data := range files {
		tk, err := Load(writeFile(t, dir, name, data))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, s := range []string{samples[0], "hi", long} {
			if got, want := tk.Count(s), ref.Count(s); got != want {
				t.Errorf("%s: Count(%.20q…) = %d, want %d", name, s, got, want)
			}
		}
	}
	if n := ref.Count(long); n < 2000 {
		t.Fatalf("the long text has %d tokens, fewer than the truncation's 2000", n)
	}
}

func TestCheckTimeout(t *testing.T) {
	defer func(d time.Duration) { checkTimeout = d }(checkTimeout)
	checkTimeout = time.Millisecond
	good, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, t.TempDir(), "slow.json", good)
	_, err = Load(path)
	if want := path + ": not a usable tokenizer.json: the tokenizer library did not finish with it within 1ms"; err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
}

func TestChildEnv(t *testing.T) {
	env := childEnv([]string{"HOME=/root", checkEnv + "=/stale", "GOTRACEBACK=all", "PATH=/bin"}, "/x/tokenizer.json")
	want := []string{"HOME=/root", "PATH=/bin", checkEnv + "=/x/tokenizer.json", "GOTRACEBACK=none"}
	if fmt.Sprint(env) != fmt.Sprint(want) {
		t.Errorf("childEnv = %q, want %q", env, want)
	}
}

func TestCaptureKeepsHeadAndTail(t *testing.T) {
	var c capture
	fmt.Fprintf(&c, "fatal error: out of memory\n")
	for i := range 1000 {
		fmt.Fprintf(&c, "goroutine %d [running]:\n", i)
	}
	fmt.Fprintf(&c, "last line\n")
	if len(c.head)+len(c.tail) > 3*captureHalf {
		t.Errorf("kept %d bytes", len(c.head)+len(c.tail))
	}
	lines := c.lines()
	if lines[0] != "fatal error: out of memory" || lines[len(lines)-1] != "last line" {
		t.Errorf("lines %q…%q", lines[0], lines[len(lines)-1])
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "goroutine ") && !strings.HasPrefix(l, "fatal") && l != "last line" {
			t.Errorf("partial line %q", l)
		}
	}
	if got := crashMessage(lines); got != "fatal error: out of memory" {
		t.Errorf("crashMessage = %q", got)
	}
	if got := crashMessage([]string{"cannot find ' ' in the vocab.", "Truncation error: x"}); got != "Truncation error: x" {
		t.Errorf("crashMessage = %q, want log.Fatal's last line", got)
	}
}

// Concurrent loads of a new file start one child between them.
func TestConcurrentLoadsShareOneCheck(t *testing.T) {
	good, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, t.TempDir(), "shared.json", good)
	starts := childStarts.Load()
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := Load(path)
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := childStarts.Load() - starts; n != 1 {
		t.Errorf("%d children started, want 1", n)
	}
}
