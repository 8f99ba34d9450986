package probe

import (
	"math"
	"strconv"
)

// The cheap path of a streamed chunk: one pass over its bytes that checks
// the JSON syntax as encoding/json does and picks out only what a Record
// needs (each choice's content, reasoning, tool calls, text and finish
// reason as raw values, the usage, llama.cpp's timings, an error), without
// reflection and without copying. encoding/json costs about ten times as
// much per chunk, and a chunk is decoded per token. Whenever the scan meets
// something whose meaning it does not settle itself — a key with an escape
// or that matches a field only case-insensitively (encoding/json accepts
// both), a field twice, a value of an unexpected type, a number that is not
// a plain integer where one is wanted — it gives up and the chunk goes to
// the full decode, so both paths always agree (FuzzChunkScan checks it).

// chunkView is what readStream reads of a chunk, from either path. Byte
// slices are raw JSON values (empty when absent), valid until the next
// event.
type chunkView struct {
	choices []choiceView
	usage   *usage
	timings *timings
	err     []byte
}

type choiceView struct {
	content, reasoningContent, reasoning, toolCalls, text, finishReason []byte
}

// maxScanDepth bounds the nesting the scan follows; deeper chunks (none a
// server sends) go to the full decode, which has its own limit.
const maxScanDepth = 32

type chunkScan struct {
	b []byte
	i int
}

// scan fills d.view from data; false when the full decode must decide.
func (d *chunkDecoder) scan(data []byte) bool {
	v := &d.view
	v.choices, v.usage, v.timings, v.err = v.choices[:0], nil, nil, nil
	s := chunkScan{b: data}
	s.ws()
	if !s.at('{') {
		return false // null, or not an object: encoding/json's business
	}
	const (
		fChoices = 1 << iota
		fUsage
		fTimings
		fError
	)
	var seen int
	for first := true; ; first = false {
		key, more, ok := s.key(first)
		if !ok {
			return false
		}
		if !more {
			break
		}
		f := 0
		switch match(key, "choices", "usage", "timings", "error") {
		case -2:
			return false
		case 0:
			f = fChoices
			if !s.choices(v) {
				return false
			}
		case 1:
			f = fUsage
			switch {
			case s.literal("null"):
				v.usage = nil
			case s.peek('{'):
				d.u = usage{PromptTokens: -1, CompletionTokens: -1}
				if !s.usage(&d.u) {
					return false
				}
				v.usage = d.u.present()
			default:
				return false
			}
		case 2:
			f = fTimings
			switch {
			case s.literal("null"):
				v.timings = nil
			case s.peek('{'):
				d.t = timings{}
				if !s.timings(&d.t) {
					return false
				}
				v.timings = &d.t
			default:
				return false
			}
		case 3:
			f = fError
			start := s.i
			if !s.skip(0) {
				return false
			}
			v.err = data[start:s.i]
		default:
			if !s.skip(0) {
				return false
			}
		}
		if seen&f != 0 {
			return false // a field twice: the later one's merging rules are encoding/json's
		}
		seen |= f
	}
	s.ws()
	return s.i == len(s.b)
}

// present applies the full decode's reading of a usage object (see
// chunkDecoder.decode): none when neither count was given, a count left
// out read as zero.
func (u *usage) present() *usage {
	if u.PromptTokens < 0 && u.CompletionTokens < 0 {
		return nil
	}
	u.PromptTokens = max(u.PromptTokens, 0)
	u.CompletionTokens = max(u.CompletionTokens, 0)
	return u
}

// choices reads the choices array (or null) into v.
func (s *chunkScan) choices(v *chunkView) bool {
	if s.literal("null") {
		return true
	}
	if !s.at('[') {
		return false
	}
	s.ws()
	if s.at(']') {
		return true
	}
	for {
		if !s.peek('{') {
			return false // a null choice, or not an object
		}
		v.choices = append(v.choices, choiceView{})
		if !s.choice(&v.choices[len(v.choices)-1]) {
			return false
		}
		s.ws()
		if s.at(']') {
			return true
		}
		if !s.at(',') {
			return false
		}
		s.ws()
	}
}

func (s *chunkScan) choice(c *choiceView) bool {
	s.i++ // '{'
	var seen int
	for first := true; ; first = false {
		key, more, ok := s.key(first)
		if !ok {
			return false
		}
		if !more {
			return true
		}
		k := match(key, "delta", "text", "finish_reason")
		switch k {
		case -2:
			return false
		case 0:
			switch {
			case s.literal("null"):
			case s.peek('{'):
				if !s.delta(c) {
					return false
				}
			default:
				return false
			}
		case 1, 2:
			start := s.i
			if !s.skip(1) {
				return false
			}
			if k == 1 {
				c.text = s.b[start:s.i]
			} else {
				c.finishReason = s.b[start:s.i]
			}
		default:
			if !s.skip(1) {
				return false
			}
		}
		if k >= 0 {
			if seen&(1<<k) != 0 {
				return false
			}
			seen |= 1 << k
		}
	}
}

func (s *chunkScan) delta(c *choiceView) bool {
	s.i++ // '{'
	var seen int
	for first := true; ; first = false {
		key, more, ok := s.key(first)
		if !ok {
			return false
		}
		if !more {
			return true
		}
		k := match(key, "content", "reasoning_content", "reasoning", "tool_calls")
		if k == -2 {
			return false
		}
		start := s.i
		if !s.skip(2) {
			return false
		}
		raw := s.b[start:s.i]
		switch k {
		case 0:
			c.content = raw
		case 1:
			c.reasoningContent = raw
		case 2:
			c.reasoning = raw
		case 3:
			c.toolCalls = raw
		}
		if k >= 0 {
			if seen&(1<<k) != 0 {
				return false
			}
			seen |= 1 << k
		}
	}
}

func (s *chunkScan) usage(u *usage) bool {
	s.i++ // '{'
	var seen int
	for first := true; ; first = false {
		key, more, ok := s.key(first)
		if !ok {
			return false
		}
		if !more {
			return true
		}
		k := match(key, "prompt_tokens", "completion_tokens", "prompt_tokens_details", "completion_tokens_details")
		switch k {
		case -2:
			return false
		case 0:
			ok = s.intField(&u.PromptTokens)
		case 1:
			ok = s.intField(&u.CompletionTokens)
		case 2:
			ok = s.detail("cached_tokens", &u.PromptTokensDetails.CachedTokens)
		case 3:
			ok = s.detail("reasoning_tokens", &u.CompletionTokensDetails.ReasoningTokens)
		default:
			ok = s.skip(1)
		}
		if !ok {
			return false
		}
		if k >= 0 {
			if seen&(1<<k) != 0 {
				return false
			}
			seen |= 1 << k
		}
	}
}

// detail reads a details object (or null) with one integer field, name.
func (s *chunkScan) detail(name string, dst *int) bool {
	if s.literal("null") {
		return true
	}
	if !s.at('{') {
		return false
	}
	seen := false
	for first := true; ; first = false {
		key, more, ok := s.key(first)
		if !ok {
			return false
		}
		if !more {
			return true
		}
		switch match(key, name) {
		case -2:
			return false
		case 0:
			if seen || !s.intField(dst) {
				return false
			}
			seen = true
		default:
			if !s.skip(2) {
				return false
			}
		}
	}
}

func (s *chunkScan) timings(t *timings) bool {
	s.i++ // '{'
	var seen int
	for first := true; ; first = false {
		key, more, ok := s.key(first)
		if !ok {
			return false
		}
		if !more {
			return true
		}
		k := match(key, "prompt_ms", "predicted_ms")
		switch k {
		case -2:
			return false
		case 0:
			ok = s.floatField(&t.PromptMS)
		case 1:
			ok = s.floatField(&t.PredictedMS)
		default:
			ok = s.skip(1)
		}
		if !ok {
			return false
		}
		if k >= 0 {
			if seen&(1<<k) != 0 {
				return false
			}
			seen |= 1 << k
		}
	}
}

// intField reads an integer into dst, as encoding/json does into an int:
// null leaves dst as it is; a fraction, an exponent or an overflow is its
// error, so it is left to it.
func (s *chunkScan) intField(dst *int) bool {
	if s.literal("null") {
		return true
	}
	start := s.i
	isInt, ok := s.number()
	if !ok || !isInt {
		return false
	}
	n, neg := 0, false
	digits := s.b[start:s.i]
	if digits[0] == '-' {
		neg, digits = true, digits[1:]
	}
	if len(digits) > 18 { // might not fit: not worth deciding here
		return false
	}
	for _, c := range digits {
		n = n*10 + int(c-'0')
	}
	if neg {
		n = -n
	}
	*dst = n
	return true
}

// floatField reads a number into dst (null leaves it); an overflow is
// encoding/json's error, so it is left to it.
func (s *chunkScan) floatField(dst *float64) bool {
	if s.literal("null") {
		return true
	}
	start := s.i
	if _, ok := s.number(); !ok {
		return false
	}
	f, err := strconv.ParseFloat(string(s.b[start:s.i]), 64)
	if err != nil || math.IsInf(f, 0) {
		return false
	}
	*dst = f
	return true
}

// match returns the index of the name key is, -1 for none, and -2 for a
// key encoding/json might match with a name where this scan does not (a
// case-insensitive match, or bytes outside ASCII, which it folds too).
func match(key []byte, names ...string) int {
	for i, name := range names {
		if string(key) == name {
			return i
		}
	}
	for _, c := range key {
		if c >= 0x80 {
			return -2
		}
	}
	for _, name := range names {
		if len(name) == len(key) && equalFoldASCII(key, name) {
			return -2
		}
	}
	return -1
}

func equalFoldASCII(b []byte, s string) bool {
	for i := range b {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func (s *chunkScan) ws() {
	if s.i < len(s.b) && s.b[s.i] > ' ' {
		return // the usual case: servers send no white space
	}
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *chunkScan) peek(c byte) bool { return s.i < len(s.b) && s.b[s.i] == c }

// at consumes c if it is next.
func (s *chunkScan) at(c byte) bool {
	if s.peek(c) {
		s.i++
		return true
	}
	return false
}

// literal consumes word (true, false, null) if it is next.
func (s *chunkScan) literal(word string) bool {
	if len(s.b)-s.i >= len(word) && string(s.b[s.i:s.i+len(word)]) == word {
		s.i += len(word)
		return true
	}
	return false
}

// key reads the next member's key and its colon, after the comma that
// must precede every member but the first; more is false at the closing
// brace. A key with an escape is not decided here (ok false).
func (s *chunkScan) key(first bool) (key []byte, more, ok bool) {
	s.ws()
	if s.at('}') {
		return nil, false, true
	}
	if !first {
		if !s.at(',') {
			return nil, false, false
		}
		s.ws()
	}
	start := s.i
	plain, ok := s.str()
	if !ok || !plain {
		return nil, false, false
	}
	key = s.b[start+1 : s.i-1]
	s.ws()
	if !s.at(':') {
		return nil, false, false
	}
	s.ws()
	return key, true, true
}

// str consumes a string; plain is true when it has no escapes. The bytes
// are valid UTF-8 (readStream checks the chunk first), so only control
// characters and escapes need a look.
func (s *chunkScan) str() (plain, ok bool) {
	b, i := s.b, s.i
	if i >= len(b) || b[i] != '"' {
		return false, false
	}
	i++
	plain = true
	for {
		for i < len(b) && strPlain[b[i]] {
			i++
		}
		if i >= len(b) {
			return false, false
		}
		switch b[i] {
		case '"':
			s.i = i + 1
			return plain, true
		case '\\':
			plain = false
			if i+1 >= len(b) {
				return false, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) {
					return false, false
				}
				for _, h := range b[i+2 : i+6] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return false, false
					}
				}
				i += 6
			default:
				return false, false
			}
		default: // a control character
			return false, false
		}
	}
}

// strPlain tells the bytes a string holds as they are: not a quote, a
// backslash or a control character.
var strPlain = func() (t [256]bool) {
	for c := range t {
		t[c] = c >= 0x20 && c != '"' && c != '\\'
	}
	return t
}()

// number consumes a JSON number; isInt when it has neither a fraction nor
// an exponent.
func (s *chunkScan) number() (isInt, ok bool) {
	digits := func() int {
		n := 0
		for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	s.at('-')
	switch {
	case s.at('0'):
	case s.i < len(s.b) && '1' <= s.b[s.i] && s.b[s.i] <= '9':
		digits()
	default:
		return false, false
	}
	isInt = true
	if s.at('.') {
		isInt = false
		if digits() == 0 {
			return false, false
		}
	}
	if s.at('e') || s.at('E') {
		isInt = false
		if !s.at('+') {
			s.at('-')
		}
		if digits() == 0 {
			return false, false
		}
	}
	return isInt, true
}

// skip consumes any JSON value, checking its syntax.
func (s *chunkScan) skip(depth int) bool {
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		_, ok := s.str()
		return ok
	case c == '{':
		if depth >= maxScanDepth {
			return false
		}
		s.i++
		for first := true; ; first = false {
			s.ws()
			if s.at('}') {
				return true
			}
			if !first {
				if !s.at(',') {
					return false
				}
				s.ws()
			}
			if _, ok := s.str(); !ok {
				return false
			}
			s.ws()
			if !s.at(':') {
				return false
			}
			s.ws()
			if !s.skip(depth + 1) {
				return false
			}
		}
	case c == '[':
		if depth >= maxScanDepth {
			return false
		}
		s.i++
		for first := true; ; first = false {
			s.ws()
			if s.at(']') {
				return true
			}
			if !first {
				if !s.at(',') {
					return false
				}
				s.ws()
			}
			if !s.skip(depth + 1) {
				return false
			}
		}
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	default:
		_, ok := s.number()
		return ok
	}
}
