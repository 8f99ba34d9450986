package dataset

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Conversations: the same files as prompts, read whole, for a workload that
// replays each conversation turn by turn (issue 14) instead of sending its
// first prompt (or its whole message list) as one request.
//
//   - JSON Lines: a line with a message list is a conversation (system
//     messages first, then user and assistant messages; consecutive
//     messages of one role are joined into one, separated by a blank
//     line); a line with a plain prompt is a conversation of one turn.
//   - ShareGPT JSON: each entry's "conversations" list, whose turns are
//     {"from", "value"} (from human or user, gpt, assistant, chatgpt, bing,
//     bard or model, and system) or {"role", "content"} (the shape of
//     inference-benchmarker's dataset). As for prompts, an entry without a
//     human turn is skipped; so are leading answers (a conversation starts
//     with the user) and blank turns, which real ShareGPT dumps hold.

// Conversation is one conversation of a dataset: an optional system
// message, then its turns in order.
type Conversation struct {
	System string
	Turns  []Turn
}

// Turn is one exchange: the user's message and the answer the dataset
// recorded for it ("" where it recorded none, as after the last message).
type Turn struct {
	User      string
	Assistant string
}

// LoadConversations reads every conversation of the file at path.
func LoadConversations(path string) ([]Conversation, error) {
	var convs []Conversation
	err := ReadConversations(path, func(c Conversation) error {
		convs = append(convs, c)
		return nil
	})
	return convs, err
}

// ReadConversations calls fn with each conversation of the file at path, in
// order. It stops at the first problem, or the first error fn returns, and
// returns it; problems name the file and line, as Read's do.
func ReadConversations(path string, fn func(Conversation) error) error {
	f, br, shareGPT, bom, err := open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	n := 0
	count := func(c Conversation) error { n++; return fn(c) }
	if shareGPT {
		err = readShareGPTConversations(path, br, bom, count)
	} else {
		err = readJSONLConversations(path, br, count)
	}
	if err != nil {
		return err
	}
	if n == 0 {
		return &Error{File: path, Msg: ErrEmpty.Error() + " (empty file, or no conversation with a user turn)"}
	}
	return nil
}

func readJSONLConversations(path string, br *bufio.Reader, fn func(Conversation) error) error {
	return eachLine(path, br, func(b []byte) (string, error) {
		c, msg := parseConversationLine(b)
		if msg != "" {
			return msg, nil
		}
		return "", fn(c)
	})
}

// parseConversationLine parses one JSON Lines line as a conversation; msg
// says what is wrong with it.
func parseConversationLine(b []byte) (Conversation, string) {
	e, msg := parseLine(b)
	if msg != "" {
		return Conversation{}, msg
	}
	if e.Messages == nil {
		return Conversation{Turns: []Turn{{User: e.Prompt}}}, ""
	}
	var c Conversation
	for i, m := range e.Messages {
		switch m.Role {
		case "system":
			if len(c.Turns) > 0 {
				return Conversation{}, fmt.Sprintf("message %d: a system message after the conversation began", i+1)
			}
			c.System = join(c.System, m.Content)
		case "user":
			if strings.TrimSpace(m.Content) == "" {
				return Conversation{}, fmt.Sprintf("message %d: empty user message", i+1)
			}
			c.addUser(m.Content)
		case "assistant":
			if len(c.Turns) == 0 {
				return Conversation{}, fmt.Sprintf("message %d: an assistant message before the first user message", i+1)
			}
			c.addAnswer(m.Content)
		}
	}
	return c, ""
}

// addUser starts a turn, or joins a user message that follows another.
func (c *Conversation) addUser(s string) {
	if n := len(c.Turns); n > 0 && c.Turns[n-1].Assistant == "" {
		c.Turns[n-1].User = join(c.Turns[n-1].User, s)
		return
	}
	c.Turns = append(c.Turns, Turn{User: s})
}

// addAnswer sets the last turn's answer, or joins one that follows another.
func (c *Conversation) addAnswer(s string) {
	t := &c.Turns[len(c.Turns)-1]
	t.Assistant = join(t.Assistant, s)
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "\n\n" + b
}

// ShareGPT speakers, by the names real dumps use.
var (
	userNames      = []string{"human", "user"}
	assistantNames = []string{"gpt", "assistant", "chatgpt", "bing", "bard", "model"}
)

const shareGPTConversationShape = `want a ShareGPT entry: an object with a "conversations" list of {"from", "value"} (or {"role", "content"}) turns (name a JSON Lines file *.jsonl)`

// shareGPTConversation parses one ShareGPT entry. ok is false for an entry
// to skip (no user turn); msg says what is wrong with it.
func shareGPTConversation(raw json.RawMessage) (c Conversation, ok bool, msg string) {
	var item struct {
		Conversations *[]map[string]json.RawMessage `json:"conversations"`
	}
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &item) != nil || item.Conversations == nil {
		return c, false, shareGPTConversationShape
	}
	for i, turn := range *item.Conversations {
		from, fok := stringField(turn, "from", "role")
		value, vok := stringField(turn, "value", "content")
		if !fok || !vok {
			return Conversation{}, false, fmt.Sprintf("turn %d: %s", i+1, shareGPTConversationShape)
		}
		if strings.TrimSpace(value) == "" {
			continue
		}
		switch speaker := strings.ToLower(from); {
		case speaker == "system":
			if len(c.Turns) > 0 {
				return Conversation{}, false, fmt.Sprintf("turn %d: a system turn after the conversation began", i+1)
			}
			c.System = join(c.System, value)
		case slices.Contains(userNames, speaker):
			c.addUser(value)
		case slices.Contains(assistantNames, speaker):
			if len(c.Turns) > 0 { // leading answers are skipped
				c.addAnswer(value)
			}
		default:
			return Conversation{}, false, fmt.Sprintf("turn %d: from %q is not human, gpt or system", i+1, from)
		}
	}
	return c, len(c.Turns) > 0, ""
}

// stringField returns the first of keys that turn holds, which must be a
// JSON string.
func stringField(turn map[string]json.RawMessage, keys ...string) (string, bool) {
	for _, k := range keys {
		if raw, ok := turn[k]; ok {
			var s string
			if json.Unmarshal(raw, &s) != nil {
				return "", false
			}
			return s, true
		}
	}
	return "", false
}

func readShareGPTConversations(path string, br *bufio.Reader, bom int64, fn func(Conversation) error) error {
	dec := json.NewDecoder(br)
	fail := func(off int64, msg string) error {
		return &Error{File: path, Line: lineAt(path, bom+off), Msg: msg}
	}
	syntax := func(start int64, err error) error {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return &Error{File: path, Line: syntaxErrorLine(path, bom+start), Msg: "invalid JSON: " + se.Error()}
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return fail(dec.InputOffset(), "invalid JSON: unexpected end of file")
		}
		return &Error{File: path, Msg: "cannot read: " + err.Error()}
	}
	if _, err := dec.Token(); err != nil { // '['
		return syntax(0, err)
	}
	for dec.More() {
		start := dec.InputOffset()
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return syntax(start, err)
		}
		c, ok, msg := shareGPTConversation(raw)
		if msg != "" {
			return fail(start, msg)
		}
		if !ok {
			continue
		}
		if err := fn(c); err != nil {
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
