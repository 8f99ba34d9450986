// Package tokenizer counts tokens the way a model's own tokenizer does, from
// a local Hugging Face tokenizer.json, or estimates them where no such file
// is named. Workloads use it to size synthetic prompts in real tokens.
//
// Reading tokenizer.json is done by github.com/sugarme/tokenizer, a pure-Go
// port of Hugging Face's tokenizers (BPE, WordPiece, WordLevel and Unigram
// models; the usual normalizers and pre-tokenizers). It panics on some
// malformed files instead of returning an error; Load and Count turn those
// panics into errors.
package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
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
)

// Load reads the tokenizer.json at path. A file already loaded, unchanged
// since (same size and modification time), is not read again: config checks
// and workloads load the same file on every reload.
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
	t := cache[key]
	cacheMu.Unlock()
	if t != nil {
		return t, nil
	}
	tk, err := fromFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: not a usable tokenizer.json: %w", path, err)
	}
	t = &Tokenizer{path: path, tk: tk}
	// A file that loads but cannot encode plain text is refused here, not
	// at the first request.
	if _, err := t.count("Hello, world: the 42 tokenizers check."); err != nil {
		return nil, fmt.Errorf("%s: not a usable tokenizer.json: %w", path, err)
	}
	cacheMu.Lock()
	for k := range cache {
		if k.path == path {
			delete(cache, k) // an older version of the file
		}
	}
	cache[key] = t
	cacheMu.Unlock()
	return t, nil
}

// Model types the library reads.
var modelTypes = []string{"BPE", "WordPiece", "WordLevel", "Unigram"}

func fromFile(path string) (tk *hf.Tokenizer, err error) {
	// Check the shape first: the library's own errors print the whole
	// parsed file.
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	var head struct {
		Model *struct {
			Type string `json:"type"`
		} `json:"model"`
	}
	err = json.NewDecoder(f).Decode(&head)
	f.Close()
	switch {
	case err != nil:
		return nil, fmt.Errorf("invalid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	case head.Model == nil:
		return nil, errors.New(`no "model"`)
	case !slices.Contains(modelTypes, head.Model.Type):
		return nil, fmt.Errorf("model type %q is not supported (want %s)", head.Model.Type, strings.Join(modelTypes, ", "))
	}
	defer func() {
		if r := recover(); r != nil {
			tk, err = nil, shorten(fmt.Errorf("%v", r))
		}
	}()
	tk, err = pretrained.FromFile(path)
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
