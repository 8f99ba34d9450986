// Package tokenizer counts tokens the way a model's own tokenizer does, from
// a local Hugging Face tokenizer.json, or estimates them where no such file
// is named. Workloads use it to size synthetic prompts in real tokens.
//
// Reading tokenizer.json is done by github.com/sugarme/tokenizer, a pure-Go
// port of Hugging Face's tokenizers (BPE, WordPiece, WordLevel and Unigram
// models; the usual normalizers and pre-tokenizers). It panics on some
// malformed files instead of returning an error, which Load and Count turn
// into errors, and on others it calls log.Fatal or runs out of memory, which
// no recover catches: Load therefore has a child process try a file first
// (see check.go) and reads it only once that child survived.
package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	hf "github.com/sugarme/tokenizer"
	"github.com/sugarme/tokenizer/pretrained"
)

// CharsPerToken is the estimate used without a tokenizer.json: a token per
// 4 characters, at least 1 (OpenAI's rule of thumb for English text, about
// 0.75 words per token). The simulator counts prompt tokens the same way.
const CharsPerToken = 4

// Counter counts the tokens of a text, without special tokens (BOS, chat
// template): the prompt's own tokens.
type Counter interface {
	Count(text string) int
}

// Estimate is the Counter used without a tokenizer: ceil(characters /
// CharsPerToken), 0 for the empty string.
type Estimate struct{}

// Count implements Counter.
func (Estimate) Count(text string) int {
	return (utf8.RuneCountInString(text) + CharsPerToken - 1) / CharsPerToken
}

// Tokenizer counts tokens with a tokenizer.json. It is safe for concurrent
// use.
type Tokenizer struct {
	path string
	mu   sync.Mutex // the library's encoder keeps state between calls
	tk   *hf.Tokenizer
}

// maxFileBytes bounds a tokenizer.json: the largest real ones (multilingual
// models with 250k-token vocabularies) are around 20 MB.
const maxFileBytes = 256 << 20

type cacheKey struct {
	path  string
	size  int64
	mtime time.Time
}

var (
	cacheMu sync.Mutex
	cache   = map[cacheKey]*Tokenizer{}
	// refused keeps what the child check said about a file version, so a
	// daemon that reloads a bad config every few seconds does not start a
	// process (and parse the file twice) each time.
	refused = map[cacheKey]error{}
	loading = map[cacheKey]*loadCall{}
)

// loadCall is a load in progress; concurrent Loads of the same file version
// wait for it instead of starting their own child.
type loadCall struct {
	done chan struct{}
	t    *Tokenizer
	err  error
}

// Load reads the tokenizer.json at path. A file already loaded, unchanged
// since (same size and modification time), is not read again: config checks
// and workloads load the same file on every reload. Neither is a file
// refused before, while unchanged.
func Load(path string) (*Tokenizer, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if fi.Size() > maxFileBytes {
		return nil, fmt.Errorf("%s is larger than %d MiB", path, maxFileBytes>>20)
	}
	key := cacheKey{path, fi.Size(), fi.ModTime()}
	cacheMu.Lock()
	if t := cache[key]; t != nil {
		cacheMu.Unlock()
		return t, nil
	}
	if err := refused[key]; err != nil {
		cacheMu.Unlock()
		return nil, err
	}
	if c := loading[key]; c != nil {
		cacheMu.Unlock()
		<-c.done
		return c.t, c.err
	}
	c := &loadCall{done: make(chan struct{})}
	loading[key] = c
	cacheMu.Unlock()

	var keep bool
	c.t, keep, c.err = load(path)
	cacheMu.Lock()
	delete(loading, key)
	if c.t != nil || keep {
		forget(path) // older versions of the file
		if c.t != nil {
			cache[key] = c.t
		} else {
			refused[key] = c.err
		}
	}
	cacheMu.Unlock()
	close(c.done)
	return c.t, c.err
}

// forget drops what is cached about path. Call it with cacheMu held.
func forget(path string) {
	for k := range cache {
		if k.path == path {
			delete(cache, k)
		}
	}
	for k := range refused {
		if k.path == path {
			delete(refused, k)
		}
	}
}

// load reads the file, has a child process check its bytes, then reads
// the tokenizer from the same bytes: what is loaded here is what the child
// survived, even if the file changes meanwhile. keep says whether a
// refusal belongs to this version of the file (and is worth remembering)
// rather than to the moment (a child that could not start).
func load(path string) (t *Tokenizer, keep bool, err error) {
	unusable := func(err error) error { return fmt.Errorf("%s: not a usable tokenizer.json: %w", path, err) }
	f, err := os.Open(path)
	if err != nil {
		return nil, false, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	f.Close()
	switch {
	case err != nil:
		return nil, false, err
	case len(data) > maxFileBytes:
		return nil, false, fmt.Errorf("%s is larger than %d MiB", path, maxFileBytes>>20)
	}
	// Files that are not even shaped like a tokenizer.json need no child.
	if err := precheck(data); err != nil {
		return nil, false, unusable(err)
	}
	if keep, err := checkInChild(path, data); err != nil {
		return nil, keep, err
	}
	tk, err := libLoad(data)
	if err != nil {
		return nil, true, unusable(err)
	}
	forCounting(tk)
	t = &Tokenizer{path: path, tk: tk}
	// A file that loads but cannot encode plain text is refused here, not
	// at the first request.
	if _, err := t.count(samples[0]); err != nil {
		return nil, true, unusable(err)
	}
	return t, false, nil
}

// samples are the texts a file must encode to be accepted; the child
// encodes them all, so that the library's fatal paths in encoding are met
// there rather than in the daemon. They cover ASCII, digits, spaces,
// non-Latin scripts, emoji, control characters and a few hundred tokens of
// prose.
var samples = []string{
	"Hello, world: the 42 tokenizers check.",
	"  leading, trailing\tand\ninner   whitespace  ",
	"3.14159 2026-12-01T08:00:00Z 0x7fff 1,000,000",
	"Unicode: é ü ß 日本語 한국어 العربية — emoji 🚀👍🏽",
	"control\x00characters\x01, a replacement \ufffd and a lone combining \u0301accent",
	strings.Repeat("The storm keeper watched the light, and the reader returned an error. ", 30),
}

// forCounting turns off what the file sets up for model inputs rather
// than for splitting text: truncation would cap counts at its max_length
// (and its OnlySecond strategy calls log.Fatal on any longer single text),
// padding would raise them to the pad length.
func forCounting(tk *hf.Tokenizer) {
	tk.WithTruncation(nil)
	tk.WithPadding(nil)
}

// Model types the library reads.
var modelTypes = []string{"BPE", "WordPiece", "WordLevel", "Unigram"}

// precheck checks the shape of a file: the library's own errors print the
// whole parsed file.
func precheck(data []byte) error {
	var head struct {
		Model *struct {
			Type string `json:"type"`
		} `json:"model"`
	}
	err := json.NewDecoder(bytes.NewReader(data)).Decode(&head)
	switch {
	case err != nil:
		return fmt.Errorf("invalid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	case head.Model == nil:
		return errors.New(`no "model"`)
	case !slices.Contains(modelTypes, head.Model.Type):
		return fmt.Errorf("model type %q is not supported (want %s)", head.Model.Type, strings.Join(modelTypes, ", "))
	}
	return nil
}

// libLoad reads a file with the library, its panics turned into errors.
func libLoad(data []byte) (tk *hf.Tokenizer, err error) {
	defer func() {
		if r := recover(); r != nil {
			tk, err = nil, shorten(fmt.Errorf("%v", r))
		}
	}()
	tk, err = pretrained.FromReader(bytes.NewReader(data))
	return tk, shorten(err)
}

// shorten cuts a library error before the dump of its input that some
// messages carry, and to at most 200 bytes.
func shorten(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, cut := range []string{": &", ": map[", ": []"} {
		if i := strings.Index(msg, cut); i >= 0 {
			msg = msg[:i]
		}
	}
	if len(msg) > 200 {
		msg = strings.ToValidUTF8(msg[:200], "") + "…"
	}
	return errors.New(msg)
}

// Path returns the file the tokenizer was read from.
func (t *Tokenizer) Path() string { return t.path }

// Count implements Counter. A text the tokenizer cannot encode (which Load's
// check makes unlikely) is estimated instead.
func (t *Tokenizer) Count(text string) int {
	n, err := t.count(text)
	if err != nil {
		return Estimate{}.Count(text)
	}
	return n
}

var errEncode = errors.New("encoding failed")

func (t *Tokenizer) count(text string) (n int, err error) {
	if text == "" {
		return 0, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			n, err = 0, fmt.Errorf("%w: %v", errEncode, r)
		}
	}()
	en, err := t.tk.EncodeSingle(text, false)
	if err != nil {
		return 0, err
	}
	return len(en.Ids), nil
}
