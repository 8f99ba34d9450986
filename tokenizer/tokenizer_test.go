package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
)

const fixture = "testdata/bpe-tokenizer.json"

// referenceBPE encodes text as GPT-2's byte-level BPE does, from the
// fixture's vocabulary and merges, independently of the library: the
// pre-tokenizer's regex (without contractions, which the test texts avoid),
// GPT-2's byte-to-unicode table, then merges by rank within each word.
type referenceBPE struct {
	ranks map[[2]string]int
	enc   [256]string
}

func loadReference(t *testing.T) *referenceBPE {
	t.Helper()
	b, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Model struct {
			Merges []string `json:"merges"`
		} `json:"model"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	r := &referenceBPE{ranks: map[[2]string]int{}}
	for i, m := range f.Model.Merges {
		a, b, _ := strings.Cut(m, " ")
		r.ranks[[2]string{a, b}] = i
	}
	n := 0
	for b := range 256 {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			r.enc[b] = string(rune(b))
		} else {
			r.enc[b] = string(rune(256 + n))
			n++
		}
	}
	return r
}

func (r *referenceBPE) count(text string) int {
	n := 0
	for _, w := range pretokenize(text) {
		var syms []string
		for _, b := range []byte(w) {
			syms = append(syms, r.enc[b])
		}
		for {
			best, at := -1, -1
			for i := 0; i+1 < len(syms); i++ {
				if rk, ok := r.ranks[[2]string{syms[i], syms[i+1]}]; ok && (best < 0 || rk < best) {
					best, at = rk, i
				}
			}
			if at < 0 {
				break
			}
			syms[at] += syms[at+1]
			syms = append(syms[:at+1], syms[at+2:]...)
		}
		n += len(syms)
	}
	return n
}

// pretokenize splits like GPT-2's regex without contractions.
func pretokenize(s string) []string {
	class := func(r rune) int {
		switch {
		case unicode.IsLetter(r):
			return 1
		case unicode.IsNumber(r):
			return 2
		case unicode.IsSpace(r):
			return 3
		}
		return 4
	}
	var out []string
	rs := []rune(s)
	for i := 0; i < len(rs); {
		j := i
		if rs[j] == ' ' && j+1 < len(rs) && class(rs[j+1]) != 3 {
			j++
		}
		c := class(rs[j])
		k := j + 1
		for k < len(rs) && class(rs[k]) == c {
			k++
		}
		if c == 3 && k < len(rs) && k-1 > i {
			k-- // \s+(?!\S): the last space goes with the next word
		}
		out = append(out, string(rs[i:k]))
		i = k
	}
	return out
}

func TestCountMatchesReferenceBPE(t *testing.T) {
	tk, err := Load(fixture)
	if err != nil {
		t.Fatal(err)
	}
	ref := loadReference(t)
	texts := []string{
		"Hello world, the reader returns an error.",
		"[1a2b3c4d-17] the storm keeper watched the light",
		"  two  spaces\nand a newline, tabs\tand digits 12345 67",
		"Unicode: é ü 日本語 — and emoji 🚀!",
		"Package http provides HTTP client and server implementations.",
		"",
	}
	for _, s := range texts {
		if got, want := tk.Count(s), ref.count(s); got != want {
			t.Errorf("Count(%q) = %d, reference BPE says %d", s, got, want)
		}
	}
}

func TestLoadCachesAndRefusesBadFiles(t *testing.T) {
	a, err := Load(fixture)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Load(fixture)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Error("an unchanged file was loaded twice")
	}
	dir := t.TempDir()
	for name, content := range map[string]string{
		"notjson.json":   "hello",
		"nomodel.json":   `{"version":"1.0"}`,
		"badtype.json":   `{"model":{"type":"Nonsense"}}`,
		"badpretok.json": `{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"pre_tokenizer":{"type":42}}`,
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(p); err == nil {
			t.Errorf("%s: loaded, want an error", name)
		} else if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %q does not name the file", name, err)
		}
	}
	if _, err := Load(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("missing file: no error")
	}
}

func TestEstimate(t *testing.T) {
	for s, want := range map[string]int{"": 0, "a": 1, "abcd": 1, "abcde": 2, "日本語だよ": 2} {
		if got := (Estimate{}).Count(s); got != want {
			t.Errorf("Estimate(%q) = %d, want %d", s, got, want)
		}
	}
}
