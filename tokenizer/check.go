package tokenizer

// The library calls log.Fatal in dozens of places and allocates whatever a
// file asks for (padding to a billion tokens, say); neither can be
// recovered from, so a tokenizer.json read in the daemon's own process
// could end it at load or reload. Load therefore first has a child process
// read the file's bytes (on its standard input) and encode the samples: the
// child is this same binary, started with checkEnv naming the file, and the
// init below makes any binary that links this package (llmprobe, and every
// test binary that reaches Load) act as that child, without help from main
// or TestMain.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"time"
)

// checkEnv names the file a child checks. Only the child's exec.Cmd.Env
// carries it: the parent never sets it in its own environment, and the
// child unsets it first thing, so nothing they start inherits it.
const checkEnv = "LLMPROBE_TOKENIZER_CHECK"

// resultPrefix starts the child's one line of result on its standard
// output, where nothing else is written (the library's prints are sent to
// standard error).
const resultPrefix = "llmprobe-tokenizer-check: "

// checkTimeout bounds a child: the largest real tokenizer.json files load
// in a second or two.
var checkTimeout = 30 * time.Second

// captureHalf bounds what is kept of each of the child's output streams:
// this much of its beginning (where a runtime crash says what happened)
// and of its end (where log.Fatal's line and the result are).
const captureHalf = 2 << 10

// childStarts counts the children started, which tests read to see that
// the cache spares them.
var childStarts atomic.Int64

func init() {
	path, ok := os.LookupEnv(checkEnv)
	if !ok {
		return
	}
	os.Unsetenv(checkEnv)
	os.Exit(childMain(path))
}

// childMain checks the file on standard input (path only names it) and
// writes the result line. It returns 0 whether or not the file is usable;
// a child that does not return (log.Fatal, a runtime fatal error, a signal)
// is the failure that the parent guards against.
func childMain(path string) int {
	out := os.Stdout
	os.Stdout = os.Stderr
	log.SetFlags(0) // log.Fatal's message without a timestamp, for the parent to quote
	log.SetPrefix("")
	data, err := io.ReadAll(io.LimitReader(os.Stdin, maxFileBytes+1))
	if err != nil {
		fmt.Fprintf(os.Stderr, "reading %s from the parent: %v\n", path, err)
		return 1
	}
	limitChild(len(data))
	result := "ok"
	if err := selfCheck(data); err != nil {
		result = "error: " + oneLine(err.Error())
	}
	if _, err := fmt.Fprintln(out, resultPrefix+result); err != nil {
		return 1
	}
	return 0
}

// selfCheck runs in the child: it reads the file and encodes the samples,
// first with the file's own settings (a file the library dies on as
// written is broken, whether or not counting would avoid the place where it
// dies), then as Load will use it.
func selfCheck(data []byte) error {
	if err := precheck(data); err != nil {
		return err
	}
	tk, err := libLoad(data)
	if err != nil {
		return err
	}
	t := &Tokenizer{tk: tk}
	for _, pass := range []func(){func() {}, func() { forCounting(tk) }} {
		pass()
		for _, s := range samples {
			if _, err := t.count(s); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkInChild runs selfCheck on data, read from path, in a child process.
// A nil error means the data may be read in this process. keep says
// whether a refusal is about the file (the child reported an error, died or
// ran out of time) rather than about starting the child.
func checkInChild(path string, data []byte) (keep bool, err error) {
	exe, err := executable()
	if err != nil {
		return false, fmt.Errorf("%s: cannot check it in a child process: %w", path, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = childEnv(os.Environ(), path)
	cmd.Stdin = bytes.NewReader(data)
	var stdout, stderr capture
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	childStarts.Add(1)
	runErr := cmd.Run()
	crashed := func(how string) error {
		return fmt.Errorf("%s: not a usable tokenizer.json: the tokenizer library %s", path, how)
	}
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return true, crashed(fmt.Sprintf("did not finish with it within %s", checkTimeout))
	case errors.As(runErr, &exitErr):
		msg := crashMessage(stderr.lines())
		if msg == "" {
			msg = exitErr.ProcessState.String()
		}
		return true, crashed("crashed on it: " + msg)
	case runErr != nil:
		return false, fmt.Errorf("%s: cannot check it in a child process: %w", path, runErr)
	}
	lines := stdout.lines()
	var result string
	for i := len(lines) - 1; i >= 0; i-- {
		if r, ok := strings.CutPrefix(lines[i], resultPrefix); ok {
			result = r
			break
		}
	}
	switch {
	case result == "ok":
		return false, nil
	case strings.HasPrefix(result, "error: "):
		return true, fmt.Errorf("%s: not a usable tokenizer.json: %s", path, strings.TrimPrefix(result, "error: "))
	}
	// The library ended the process with status 0 (it has no os.Exit
	// today, but a later version might).
	msg := crashMessage(stderr.lines())
	if msg == "" {
		msg = "no result"
	}
	return true, crashed("ended the check early: " + msg)
}

// executable is the binary to start as the child. On Linux /proc/self/exe
// is the image that is running even once an upgrade replaced or deleted
// the file it came from.
func executable() (string, error) {
	if runtime.GOOS == "linux" {
		if _, err := os.Stat("/proc/self/exe"); err == nil {
			return "/proc/self/exe", nil
		}
	}
	return os.Executable()
}

// childEnv is the parent's environment with checkEnv naming path (and no
// other value of it; the name is for ps and the child's messages, the bytes
// come on standard input), and with no goroutine dumps on a crash: the
// parent quotes one line.
func childEnv(env []string, path string) []string {
	out := make([]string, 0, len(env)+2)
	for _, kv := range env {
		if strings.HasPrefix(kv, checkEnv+"=") || strings.HasPrefix(kv, "GOTRACEBACK=") {
			continue
		}
		out = append(out, kv)
	}
	return append(out, checkEnv+"="+path, "GOTRACEBACK=none")
}

// crashMessage picks what a dead child said: a Go runtime's "fatal error"
// or "panic" line if there is one, else the last line (log.Fatal's).
func crashMessage(lines []string) string {
	var msg string
	for _, l := range lines {
		if strings.HasPrefix(l, "fatal error: ") || strings.HasPrefix(l, "panic: ") {
			msg = l
			break
		}
	}
	if msg == "" && len(lines) > 0 {
		msg = lines[len(lines)-1]
	}
	return oneLine(msg)
}

// oneLine makes a message fit an error: one line of at most 200 bytes.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}

// capture keeps the first and last captureHalf bytes written to it.
type capture struct {
	head, tail []byte
	cut        bool // bytes were dropped between head and tail
}

func (c *capture) Write(p []byte) (int, error) {
	n := len(p)
	if room := captureHalf - len(c.head); room > 0 {
		k := min(room, len(p))
		c.head = append(c.head, p[:k]...)
		p = p[k:]
	}
	if len(p) >= captureHalf {
		c.cut = c.cut || len(c.tail) > 0 || len(p) > captureHalf
		c.tail = append(c.tail[:0], p[len(p)-captureHalf:]...)
		return n, nil
	}
	c.tail = append(c.tail, p...)
	if len(c.tail) > 2*captureHalf {
		c.cut = true
		c.tail = c.tail[:copy(c.tail, c.tail[len(c.tail)-captureHalf:])]
	}
	return n, nil
}

// lines returns the non-empty lines kept, without the partial ones at a
// cut.
func (c *capture) lines() []string {
	head, tail := c.head, c.tail
	if c.cut {
		if i := bytes.LastIndexByte(head, '\n'); i >= 0 {
			head = head[:i+1]
		} else {
			head = nil
		}
		if i := bytes.IndexByte(tail, '\n'); i >= 0 {
			tail = tail[i+1:]
		} else {
			tail = nil
		}
	}
	var out []string
	for _, l := range strings.Split(string(head)+string(tail), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}
