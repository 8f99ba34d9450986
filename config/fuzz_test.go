package config

import (
	"os"
	"testing"
)

// FuzzLoad checks that Load never panics and that it returns either a
// config or an error, never both or neither.
func FuzzLoad(f *testing.F) {
	example, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte(base + "probes:\n  - {name: p, targets: [a], workload: w, schedule: '@every 30s'}\n"))
	f.Add([]byte("targets:\n  - &t {name: a, url: 'http://h', model: m}\n  - <<: *t\n    name: b\n"))
	f.Add([]byte("workloads:\n  - {name: w, output_tokens: 'num_tokens=5,max_tokens=9'}\n"))
	f.Add([]byte("soaks:\n  - {name: s, schedule: 'TZ=UTC', mode: rate, rates: [.inf, -1]}\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Load(data, "fuzz.yaml")
		if (c == nil) == (err == nil) {
			t.Fatalf("Load returned config %v and error %v", c, err)
		}
		if err != nil {
			_ = err.Error()
		}
	})
}

// FuzzParseDecodeOptions checks that accepted options are consistent.
func FuzzParseDecodeOptions(f *testing.F) {
	f.Add("num_tokens=80,max_tokens=100,min_tokens=60,variance=10")
	f.Add("max_tokens=3")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDecodeOptions(s)
		if err != nil {
			return
		}
		if d.NumTokens < 1 || (d.MaxTokens > 0 && (d.NumTokens > d.MaxTokens || d.MinTokens > d.MaxTokens)) || d.NumTokens < d.MinTokens {
			t.Fatalf("ParseDecodeOptions(%q) = %+v: inconsistent", s, d)
		}
	})
}
