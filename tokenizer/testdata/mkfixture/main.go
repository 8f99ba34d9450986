// Command mkfixture trains a tiny byte-level BPE tokenizer (GPT-2 style) on
// the comments of some Go standard library packages and writes it as a
// Hugging Face tokenizer.json. It made tokenizer/testdata/bpe-tokenizer.json:
//
//	go run ./tokenizer/testdata/mkfixture -merges 1500 -out tokenizer/testdata/bpe-tokenizer.json
//
// The file is committed; the corpus depends on the Go version, so a rerun
// may give a slightly different tokenizer, which the tests accept.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"unicode"
)

var packages = []string{"bufio", "bytes", "encoding/json", "fmt", "io", "net/http", "os", "sort", "strings", "time", "context", "sync"}

func main() {
	merges := flag.Int("merges", 1500, "number of merges")
	out := flag.String("out", "bpe-tokenizer.json", "output file")
	flag.Parse()

	words := map[string]int{}
	for _, p := range packages {
		files, _ := filepath.Glob(filepath.Join(runtime.GOROOT(), "src", p, "*.go"))
		sort.Strings(files)
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			readComments(f, words)
		}
	}
	enc := byteEncoder()
	type word struct {
		syms  []string
		count int
	}
	var ws []*word
	keys := make([]string, 0, len(words))
	for k := range words {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	vocab := map[string]int{"<|endoftext|>": 0}
	var alphabet []string
	for b := 0; b < 256; b++ {
		alphabet = append(alphabet, enc[byte(b)])
	}
	sort.Strings(alphabet)
	for _, s := range alphabet {
		vocab[s] = len(vocab)
	}
	for _, k := range keys {
		w := &word{count: words[k]}
		for _, b := range []byte(k) {
			w.syms = append(w.syms, enc[b])
		}
		ws = append(ws, w)
	}
	var mergeList []string
	for len(mergeList) < *merges {
		pairs := map[[2]string]int{}
		for _, w := range ws {
			for i := 0; i+1 < len(w.syms); i++ {
				pairs[[2]string{w.syms[i], w.syms[i+1]}] += w.count
			}
		}
		var best [2]string
		bestN := 0
		for p, n := range pairs {
			if n > bestN || (n == bestN && (p[0]+" "+p[1]) < (best[0]+" "+best[1])) {
				best, bestN = p, n
			}
		}
		if bestN < 2 {
			break
		}
		merged := best[0] + best[1]
		mergeList = append(mergeList, best[0]+" "+best[1])
		if _, ok := vocab[merged]; !ok {
			vocab[merged] = len(vocab)
		}
		for _, w := range ws {
			for i := 0; i+1 < len(w.syms); i++ {
				if w.syms[i] == best[0] && w.syms[i+1] == best[1] {
					w.syms = append(w.syms[:i+1], w.syms[i+2:]...)
					w.syms[i] = merged
				}
			}
		}
	}
	tok := map[string]any{
		"version":    "1.0",
		"truncation": nil,
		"padding":    nil,
		"added_tokens": []map[string]any{{
			"id": 0, "content": "<|endoftext|>", "single_word": false, "lstrip": false,
			"rstrip": false, "normalized": false, "special": true,
		}},
		"normalizer":     nil,
		"pre_tokenizer":  map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
		"post_processor": map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
		"decoder":        map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
		"model": map[string]any{
			"type": "BPE", "dropout": nil, "unk_token": nil, "continuing_subword_prefix": "",
			"end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false,
			"vocab": vocab, "merges": mergeList,
		},
	}
	var buf bytes.Buffer
	e := json.NewEncoder(&buf)
	e.SetEscapeHTML(false)
	if err := e.Encode(tok); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d words, %d merges, vocab %d, %d bytes\n", len(words), len(mergeList), len(vocab), buf.Len())
}

// readComments adds the pre-tokens of f's // comments to words.
func readComments(f string, words map[string]int) {
	fh, err := os.Open(f)
	if err != nil {
		log.Fatal(err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "// ") {
			continue
		}
		for _, p := range pretokenize(line[3:]) {
			words[p]++
		}
	}
}

// pretokenize splits like GPT-2's regex, without contractions: an optional
// space then letters, digits or other symbols; runs of spaces.
func pretokenize(s string) []string {
	var out []string
	rs := []rune(s)
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
			k-- // \s+(?!\S): leave the last space to the next word
		}
		out = append(out, string(rs[i:k]))
		i = k
	}
	return out
}

// byteEncoder is GPT-2's bytes_to_unicode.
func byteEncoder() map[byte]string {
	m := map[byte]string{}
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			m[byte(b)] = string(rune(b))
		} else {
			m[byte(b)] = string(rune(256 + n))
			n++
		}
	}
	return m
}
