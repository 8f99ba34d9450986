// Package dataset reads prompt files: JSON Lines (one prompt or message
// list per line) and ShareGPT-format JSON, the format of the datasets that
// vLLM's and Hugging Face inference-benchmarker's benchmarks use. It is a
// package of its own so that both config (which reads and checks a file
// when the config is loaded, and keeps its prompts) and workload (which
// sends them) can use it.
//
// Formats:
//
//   - A file whose name ends in .jsonl is JSON Lines. Each non-blank line
//     is a JSON string (the prompt), an object with a "prompt" string, an
//     object with a "messages" list, or a list of messages; a message is an
//     object with "role" (system, user or assistant) and "content" strings,
//     and a message list holds at least one user message. Other fields of
//     an object are ignored.
//   - Any other file whose first non-blank character is "[" is ShareGPT
//     JSON: a list of objects with a "conversations" list of turns, each an
//     object with "from" and "value" strings. The prompt is the first turn
//     from "human" (or "user"); entries without one are skipped, as vLLM
//     does.
//   - Anything else is read as JSON Lines.
//
// A file that cannot be read, holds no prompt, is not JSON or has an entry
// of the wrong shape is refused with an error naming the file and the line.
package dataset

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Message is one message of a conversation.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Entry is one prompt: a plain text, or a conversation to send as chat
// messages (then Prompt is the text of its last user message, for kinds
// that take plain text).
type Entry struct {
	Prompt   string
	Messages []Message
}

// Error is a problem with a dataset file. Line is 0 for the file as a whole.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// ErrEmpty is wrapped by the error for a file that holds no prompt.
var ErrEmpty = errors.New("no prompts")

// Load reads every prompt of the file at path.
func Load(path string) ([]Entry, error) {
	var entries []Entry
	err := Read(path, func(e Entry) error {
		entries = append(entries, e)
		return nil
	})
	return entries, err
}

// Check reads the file at path and reports its first problem, keeping
// nothing in memory.
func Check(path string) error {
	return Read(path, func(Entry) error { return nil })
}

// maxLineBytes bounds one JSON Lines line.
const maxLineBytes = 64 << 20

// Read calls fn with each prompt of the file at path, in order. It stops at
// the first problem, or the first error fn returns, and returns it.
func Read(path string, fn func(Entry) error) error {
	f, br, shareGPT, bom, err := open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	n := 0
	count := func(e Entry) error { n++; return fn(e) }
	if shareGPT {
		err = readShareGPT(path, br, bom, count)
	} else {
		err = readJSONL(path, br, count)
	}
	if err != nil {
		return err
	}
	if n == 0 {
		return &Error{File: path, Msg: ErrEmpty.Error() + " (empty file, or no entry with a prompt)"}
	}
	return nil
}

// open opens the dataset file at path for reading, buffered: a regular file
// only, and whether it is one JSON document (ShareGPT: its first byte past
// any BOM is '[' and it is not named .jsonl) or JSON Lines.
func open(path string) (f *os.File, br *bufio.Reader, shareGPT bool, bom int64, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, false, 0, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, false, 0, &Error{File: path, Msg: "not a regular file"}
	}
	if f, err = os.Open(path); err != nil {
		return nil, nil, false, 0, err
	}
	br = bufio.NewReaderSize(f, 64<<10)
	first, bom, err := firstByte(br)
	if err != nil {
		f.Close()
		return nil, nil, false, 0, &Error{File: path, Msg: "cannot read: " + err.Error()}
	}
	return f, br, first == '[' && !strings.HasSuffix(strings.ToLower(path), ".jsonl"), bom, nil
}

// firstByte returns the first byte that is not white space or a UTF-8 byte
// order mark, without consuming anything but the mark (bom: its length); 0
// at end of file.
func firstByte(br *bufio.Reader) (first byte, bom int64, err error) {
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte("\xef\xbb\xbf")) {
		_, _ = br.Discard(3)
		bom = 3
	}
	for i := 1; ; i++ {
		b, err := br.Peek(i)
		if err == io.EOF || err == bufio.ErrBufferFull {
			return 0, bom, nil
		}
		if err != nil {
			return 0, bom, err
		}
		if c := b[i-1]; c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return c, bom, nil
		}
	}
}

const lineShape = `want a JSON string, an object with a "prompt" string or a "messages" list, or a list of messages`

func readJSONL(path string, br *bufio.Reader, fn func(Entry) error) error {
	return eachLine(path, br, func(b []byte) (string, error) {
		e, msg := parseLine(b)
		if msg != "" {
			return msg, nil
		}
		return "", fn(e)
	})
}

// eachLine calls line with each non-blank line of a JSON Lines file (path
// names it in errors), trimmed. line returns what is wrong with the line
// ("" when nothing), which becomes an Error at that line, or an error of its
// own, returned as it is.
func eachLine(path string, br *bufio.Reader, line func(b []byte) (string, error)) error {
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 64<<10), maxLineBytes)
	for n := 1; sc.Scan(); n++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		msg, err := line(b)
		if msg != "" {
			return &Error{File: path, Line: n, Msg: msg}
		}
		if err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return &Error{File: path, Msg: fmt.Sprintf("a line is longer than %d MiB", maxLineBytes>>20)}
		}
		return &Error{File: path, Msg: "cannot read: " + err.Error()}
	}
	return nil
}

// parseLine parses one JSON Lines line; msg says what is wrong with it.
func parseLine(b []byte) (e Entry, msg string) {
	if !json.Valid(b) {
		var v any
		err := json.Unmarshal(b, &v)
		return e, "invalid JSON: " + strings.TrimPrefix(err.Error(), "json: ")
	}
	switch b[0] {
	case '"':
		var s string
		_ = json.Unmarshal(b, &s)
		if strings.TrimSpace(s) == "" {
			return e, "empty prompt"
		}
		return Entry{Prompt: s}, ""
	case '[':
		return parseMessages(b)
	case '{':
		var obj struct {
			Prompt   json.RawMessage `json:"prompt"`
			Messages json.RawMessage `json:"messages"`
		}
		if json.Unmarshal(b, &obj) != nil {
			return e, lineShape
		}
		switch {
		case len(obj.Prompt) > 0 && len(obj.Messages) > 0:
			return e, `has both "prompt" and "messages": give one`
		case len(obj.Prompt) > 0:
			var s string
			if json.Unmarshal(obj.Prompt, &s) != nil {
				return e, `"prompt" must be a string`
			}
			if strings.TrimSpace(s) == "" {
				return e, "empty prompt"
			}
			return Entry{Prompt: s}, ""
		case len(obj.Messages) > 0:
			if obj.Messages[0] != '[' {
				return e, `"messages" must be a list of messages`
			}
			return parseMessages(obj.Messages)
		}
	}
	return e, lineShape
}

var roles = []string{"system", "user", "assistant"}

func parseMessages(b []byte) (Entry, string) {
	var raw []json.RawMessage
	if json.Unmarshal(b, &raw) != nil {
		return Entry{}, lineShape
	}
	if len(raw) == 0 {
		return Entry{}, "empty message list"
	}
	e := Entry{Messages: make([]Message, 0, len(raw))}
	for i, r := range raw {
		var m struct {
			Role    *string `json:"role"`
			Content *string `json:"content"`
		}
		if len(r) == 0 || r[0] != '{' || json.Unmarshal(r, &m) != nil || m.Role == nil || m.Content == nil {
			return Entry{}, fmt.Sprintf(`message %d: want an object with "role" and "content" strings`, i+1)
		}
		ok := false
		for _, role := range roles {
			ok = ok || *m.Role == role
		}
		if !ok {
			return Entry{}, fmt.Sprintf("message %d: role %q is not system, user or assistant", i+1, *m.Role)
		}
		if *m.Role == "user" {
			e.Prompt = *m.Content
		}
		e.Messages = append(e.Messages, Message{Role: *m.Role, Content: *m.Content})
	}
	if e.Prompt == "" {
		return Entry{}, "no user message with content"
	}
	return e, ""
}

const shareGPTShape = `want a ShareGPT entry: an object with a "conversations" list of {"from", "value"} turns (name a JSON Lines file *.jsonl)`

func readShareGPT(path string, br *bufio.Reader, bom int64, fn func(Entry) error) error {
	dec := json.NewDecoder(br)
	fail := func(off int64, msg string) error {
		return &Error{File: path, Line: lineAt(path, bom+off), Msg: msg}
	}
	syntax := func(start int64, err error) error {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			// The Decoder's offsets are not those of the file: scan the
			// value again on its own to find the line.
			return &Error{File: path, Line: syntaxErrorLine(path, bom+start), Msg: "invalid JSON: " + se.Error()}
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return fail(dec.InputOffset(), "invalid JSON: unexpected end of file")
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fail(te.Offset, shareGPTShape)
		}
		return &Error{File: path, Msg: "cannot read: " + err.Error()}
	}
	if _, err := dec.Token(); err != nil { // '['
		return syntax(0, err)
	}
	for dec.More() {
		start := dec.InputOffset()
		var item struct {
			Conversations *[]struct {
				From  *string `json:"from"`
				Value *string `json:"value"`
			} `json:"conversations"`
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return syntax(start, err)
		}
		if raw[0] != '{' || json.Unmarshal(raw, &item) != nil || item.Conversations == nil {
			return fail(start, shareGPTShape)
		}
		prompt := ""
		for _, turn := range *item.Conversations {
			if turn.From == nil || turn.Value == nil {
				return fail(start, shareGPTShape)
			}
			if prompt == "" && (*turn.From == "human" || *turn.From == "user") && strings.TrimSpace(*turn.Value) != "" {
				prompt = *turn.Value
			}
		}
		if prompt == "" {
			continue // no human turn: skipped, as vLLM skips short conversations
		}
		if err := fn(Entry{Prompt: prompt}); err != nil {
			return err
		}
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); err != nil { // ']'
		return syntax(end, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fail(dec.InputOffset(), "data after the JSON list (name a JSON Lines file *.jsonl)")
	}
	return nil
}

// syntaxErrorLine returns the line of the first syntax error in the JSON
// value that starts at the first byte at or after off that is not white
// space or a comma.
func syntaxErrorLine(path string, off int64) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return 0
	}
	br := bufio.NewReader(f)
	for {
		c, err := br.ReadByte()
		if err != nil {
			return lineAt(path, off)
		}
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != ',' {
			_ = br.UnreadByte()
			break
		}
		off++
	}
	var raw json.RawMessage
	var se *json.SyntaxError
	if err := json.NewDecoder(br).Decode(&raw); errors.As(err, &se) && se.Offset > 0 {
		// A fresh Decoder counts from the value's first byte, and the
		// error came after reading Offset bytes.
		return byteLine(path, off+se.Offset-1)
	}
	return lineAt(path, off)
}

// byteLine returns the 1-based line of the byte at off.
func byteLine(path string, off int64) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n, line := int64(0), 1
	br := bufio.NewReader(f)
	for ; n < off; n++ {
		c, err := br.ReadByte()
		if err != nil {
			break
		}
		if c == '\n' {
			line++
		}
	}
	return line
}

// lineAt returns the 1-based line of the first byte at or after off that
// is not white space or a comma (where an entry starts), or of the file's
// last such byte, reading the file again: errors are rare, and this keeps
// the reading itself cheap.
func lineAt(path string, off int64) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	br := bufio.NewReader(f)
	line, last := 1, 1
	for i := int64(0); ; i++ {
		c, err := br.ReadByte()
		if err != nil {
			return last
		}
		blank := c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ','
		if !blank {
			if i >= off {
				return line
			}
			last = line
		}
		if c == '\n' {
			line++
		}
	}
}
