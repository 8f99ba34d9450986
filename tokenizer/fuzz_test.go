package tokenizer

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad feeds Load malformed tokenizer files: whatever the file, Load
// returns a tokenizer or an error naming the file, and the process lives
// on (a library crash would end the fuzz worker, which the fuzzer reports).
// An input shaped like a tokenizer.json starts a child, so iterations are
// slower than usual.
func FuzzLoad(f *testing.F) {
	good, err := os.ReadFile(fixture)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	// The rest are small, so that mutations stay valid JSON more often.
	small := func(fields map[string]any) []byte { return jsonWith(f, []byte(tiny), fields) }
	f.Add([]byte(tiny))
	f.Add(small(truncation("OnlySecond", 1)))
	f.Add(small(truncation("OnlyFirst", -1)))
	if childMemoryLimited {
		f.Add(small(map[string]any{"padding": map[string]any{"strategy": map[string]any{"Fixed": 300_000_000}, "direction": "Right"}}))
	}
	f.Add(small(map[string]any{"pre_tokenizer": map[string]any{"type": "Split", "pattern": map[string]any{"Regex": "("}, "behavior": "Isolated", "invert": false}}))
	f.Add(small(map[string]any{"normalizer": map[string]any{"type": "Prepend", "prepend": "▁"}}))
	f.Add(small(map[string]any{"added_tokens": []any{map[string]any{"id": 9, "content": "", "single_word": true, "special": true}}}))
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":0},"merges":[["a"]]}}`))
	f.Add([]byte(`{"model":{"type":"WordPiece","vocab":{}},"pre_tokenizer":{"type":42}}`))
	f.Add([]byte(`{"model":{"type":"Unigram","vocab":[["a",1,2]]}}`))
	dir := f.TempDir()
	n := 0
	f.Fuzz(func(t *testing.T, data []byte) {
		n++
		path := filepath.Join(dir, fmt.Sprintf("%d.json", n))
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		defer func() {
			os.Remove(path)
			cacheMu.Lock()
			forget(path) // each input has its own path: keep the cache small
			cacheMu.Unlock()
		}()
		tk, err := Load(path)
		switch {
		case err != nil:
			if tk != nil {
				t.Errorf("Load returned a tokenizer and %v", err)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
		case tk == nil:
			t.Fatal("Load returned neither a tokenizer nor an error")
		default:
			for _, s := range samples {
				if tk.Count(s) < 0 {
					t.Errorf("Count(%q) < 0", s)
				}
			}
		}
	})
}
