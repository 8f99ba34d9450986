package probe

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// chunkCorpus is every chunk of the captured streams (real servers' and
// the tool-call ones) and of generated vLLM-style streams.
func chunkCorpus(t testing.TB) [][]byte {
	var files []string
	for _, dir := range []string{"testdata/captures", "testdata/toolcalls", "../../shared/testdata/captures"} {
		m, _ := filepath.Glob(filepath.Join(dir, "*.sse"))
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatal("no captured streams")
	}
	var out [][]byte
	add := func(body []byte) {
		sc := bufio.NewScanner(bytes.NewReader(body))
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok && d != "[DONE]" {
				out = append(out, []byte(d))
			}
		}
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		add(b)
	}
	add(vllmBody(3, false))
	add(vllmBody(3, true))
	return out
}

// sameView reports how two views differ, if they do.
func sameView(a, b *chunkView) string {
	if len(a.choices) != len(b.choices) {
		return fmt.Sprintf("%d choices, %d", len(a.choices), len(b.choices))
	}
	for i := range a.choices {
		x, y := &a.choices[i], &b.choices[i]
		for _, f := range []struct {
			name string
			x, y []byte
		}{
			{"content", x.content, y.content}, {"reasoning_content", x.reasoningContent, y.reasoningContent},
			{"reasoning", x.reasoning, y.reasoning}, {"tool_calls", x.toolCalls, y.toolCalls},
			{"text", x.text, y.text}, {"finish_reason", x.finishReason, y.finishReason},
		} {
			if !bytes.Equal(f.x, f.y) {
				return fmt.Sprintf("choice %d %s: %q, %q", i, f.name, f.x, f.y)
			}
		}
	}
	switch {
	case (a.usage == nil) != (b.usage == nil):
		return fmt.Sprintf("usage %v, %v", a.usage, b.usage)
	case a.usage != nil && *a.usage != *b.usage:
		return fmt.Sprintf("usage %+v, %+v", *a.usage, *b.usage)
	case (a.timings == nil) != (b.timings == nil):
		return fmt.Sprintf("timings %v, %v", a.timings, b.timings)
	case a.timings != nil && *a.timings != *b.timings:
		return fmt.Sprintf("timings %+v, %+v", *a.timings, *b.timings)
	case !bytes.Equal(a.err, b.err):
		return fmt.Sprintf("error %q, %q", a.err, b.err)
	}
	return ""
}

// checkScan fails when the scan decides data differently from the full
// decode; it reports whether the scan decided.
func checkScan(t *testing.T, data []byte) bool {
	t.Helper()
	if !utf8.Valid(data) { // readStream refuses such chunks before decoding
		return false
	}
	var cheap, full chunkDecoder
	decided := cheap.scan(data)
	err := full.full(data)
	if !decided {
		return false
	}
	if err != nil {
		t.Fatalf("the scan accepted %q, the full decode refused it: %v", data, err)
	}
	full.viewChunk()
	if d := sameView(&cheap.view, &full.view); d != "" {
		t.Fatalf("%q: scan and full decode differ: %s", data, d)
	}
	return true
}

// TestChunkScanDecides: every chunk real servers send is read by the
// cheap path, with what the full decode reads.
func TestChunkScanDecides(t *testing.T) {
	for _, c := range chunkCorpus(t) {
		if !checkScan(t, c) {
			t.Errorf("the scan left %s to the full decode", c)
		}
	}
}

// TestChunkScanLeavesToFullDecode: what encoding/json reads by rules of
// its own (escaped or case-folded keys, a field twice, a type it refuses,
// a number that is no plain integer) is not decided by the scan; invalid
// JSON never is.
func TestChunkScanLeavesToFullDecode(t *testing.T) {
	for _, c := range []string{
		`{"choices":[{"delta":{"Content":"a"}}]}`,
		`{"choices":[{"delta":{"cont\u0065nt":"a"}}]}`,
		`{"choices":[{"delta":{"content":"a","content":""}}]}`,
		`{"choices":[{"delta":{"content":"a"}}],"choices":[]}`,
		`{"choices":[null]}`,
		`{"choices":{"delta":{}}}`,
		`{"choices":[{"delta":"x"}]}`,
		`{"usage":{"prompt_tokens":1.5}}`,
		`{"usage":{"prompt_tokens":1e2}}`,
		`{"usage":{"prompt_tokens":"3"}}`,
		`{"usage":{"completion_tokens":99999999999999999999}}`,
		`{"usage":[]}`,
		`{"timings":{"prompt_ms":1e999}}`,
		`{"uſage":{"prompt_tokens":1}}`,
		`null`,
		`[]`,
		`{"choices":[]} x`,
		`{"choices":[],}`,
		`{"a":[1,]}`,
		`{"a":01}`,
		`{"a":"\x"}`,
		`{"a":"` + "\x01" + `"}`,
		`{"a":tru}`,
		`{"a":-}`,
		`{"a":1.}`,
		`{"a":1e}`,
		`{"a" 1}`,
		`{"a":1`,
		``,
		strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 40),
	} {
		var d chunkDecoder
		if d.scan([]byte(c)) {
			t.Errorf("the scan decided %s", c)
		}
		checkScan(t, []byte(c))
	}
}

// TestChunkScanReads checks what the scan reads of chunks it decides, the
// corners included (null and absent fields, empty usage, details).
func TestChunkScanReads(t *testing.T) {
	for _, c := range []string{
		`{"choices":null}`,
		`{"choices":[]}`,
		` {"choices":[{"delta":null,"text":"x","finish_reason":null}]} ` + "\n",
		`{"choices":[{"delta":{"content":null,"reasoning":"r","reasoning_content":"","tool_calls":[{"index":0,"function":{"arguments":"{\"a\":1}"}}]},"finish_reason":"stop"},{"delta":{"content":"b"}}]}`,
		`{"usage":null}`,
		`{"usage":{}}`,
		`{"usage":{"total_tokens":3}}`,
		`{"usage":{"prompt_tokens":null,"completion_tokens":4}}`,
		`{"usage":{"prompt_tokens":-2,"completion_tokens":-0}}`,
		`{"usage":{"prompt_tokens":7,"prompt_tokens_details":null,"completion_tokens_details":{"reasoning_tokens":2,"x":[]}}}`,
		`{"usage":{"prompt_tokens":7,"prompt_tokens_details":{"cached_tokens":5}}}`,
		`{"timings":null}`,
		`{"timings":{}}`,
		`{"timings":{"prompt_ms":1.25,"predicted_ms":3e2,"n":1}}`,
		`{"error":{"message":"boom","code":500}}`,
		`{"error":null,"object":"x","created":1,"nested":{"a":[true,false,null,-1.5e+3,"\u00e9\n"]}}`,
		`{"日本":1}`,
	} {
		checkScan(t, []byte(c))
	}
}

// FuzzChunkScan: on any chunk, the scan either leaves it to the full
// decode or reads exactly what the full decode reads.
func FuzzChunkScan(f *testing.F) {
	for _, c := range chunkCorpus(f) {
		f.Add(c)
	}
	f.Add([]byte(`{"usage":{"prompt_tokens":7,"prompt_tokens_details":{"cached_tokens":5}},"timings":{"prompt_ms":1.5}}`))
	f.Add([]byte(`{"choices":[{"delta":{"Content":"a"}}],"error":{"message":"x"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkScan(t, data)
	})
}

// BenchmarkChunkDecode is the cost of one vLLM chunk on each path.
func BenchmarkChunkDecode(b *testing.B) {
	data := []byte(`{"id":"chatcmpl-044289f2-cb9c-57eb-861a-9eefba77f332","model":"sim-model","object":"chat.completion.chunk","created":1795767020,"usage":null,"choices":[{"index":0,"finish_reason":null,"delta":{"content":"rest "}}]}`)
	var d chunkDecoder
	b.Run("scan", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !d.scan(data) {
				b.Fatal("undecided")
			}
		}
	})
	b.Run("full", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := d.full(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
