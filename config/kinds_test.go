package config

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// writeFiles writes name -> content under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestKindFieldsLoad(t *testing.T) {
	dir := t.TempDir()
	png, err := os.ReadFile("../testdata/probe-4x4.png")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := os.ReadFile("../tokenizer/testdata/bpe-tokenizer.json")
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{
		"a.png":          string(png),
		"b.png":          string(png),
		"tokenizer.json": string(tok),
		"prompts.jsonl":  "\"one\"\n{\"prompt\": \"two\"}\n",
	})
	in := `
targets:
  - {name: v, url: "http://h", model: m, kind: vision}
  - {name: e, url: "http://h", model: m, kind: embeddings}
  - {name: r, url: "http://h", model: m, kind: rerank}
  - {name: c, url: "http://h", model: m, kind: rerank, rerank_path: /rerank}
workloads:
  - {name: img, prompt: hi, images: [a.png, b.png]}
  - {name: emb, input_tokens: 512, input_tokens_stddev: 32, input_tokens_min: 400, input_tokens_max: 600, tokenizer: tokenizer.json, batch_size: 8, dimensions: 1024}
  - {name: rr, dataset: prompts.jsonl, query: "why?", documents: 4}
probes:
  - {name: p1, targets: [v], workload: img, schedule: "@hourly"}
  - {name: p2, targets: [e], workload: emb, schedule: "@hourly"}
  - {name: p3, targets: [r, c], workload: rr, schedule: "@hourly"}
`
	path := filepath.Join(dir, "llmprobe.yaml")
	writeFiles(t, dir, map[string]string{"llmprobe.yaml": in})
	c, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Target("r").RerankPath; got != "/v1/rerank" {
		t.Errorf("default rerank_path = %q", got)
	}
	if got := c.Target("c").RerankPath; got != "/rerank" {
		t.Errorf("rerank_path = %q", got)
	}
	if got := c.Target("e").RerankPath; got != "" {
		t.Errorf("embeddings target got rerank_path %q", got)
	}
	img := c.Workload("img")
	if want := []string{filepath.Join(dir, "a.png"), filepath.Join(dir, "b.png")}; !reflect.DeepEqual(img.Images, want) || img.ImagesPerRequest != 2 {
		t.Errorf("images %v, per request %d", img.Images, img.ImagesPerRequest)
	}
	emb := c.Workload("emb")
	if emb.Tokenizer != filepath.Join(dir, "tokenizer.json") || emb.InputTokensStddev != 32 || emb.InputTokensMin != 400 ||
		emb.InputTokensMax != 600 || emb.BatchSize != 8 || emb.Dimensions != 1024 {
		t.Errorf("emb = %+v", emb)
	}
	if rr := c.Workload("rr"); rr.Query != "why?" || rr.Documents != 4 {
		t.Errorf("rr = %+v", rr)
	}
	// What String prints loads back to the same config.
	again, err := Load([]byte(c.String()), "again.yaml")
	if err != nil || !reflect.DeepEqual(c, again) {
		t.Errorf("round trip: %v\n%s", err, c)
	}
}

func TestKindFieldsErrors(t *testing.T) {
	dir := t.TempDir()
	png, err := os.ReadFile("../testdata/probe-4x4.png")
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{
		"ok.png":       string(png),
		"text.png":     "not an image",
		"bad.json":     `{"model": {"type": "Nonsense"}}`,
		"empty.jsonl":  "",
		"bad.jsonl":    "\"fine\"\n{\"text\": \"no prompt field\"}\n",
		"notjson.json": "[\n  {\"conversations\": []},\n  oops\n]\n",
	})
	const targets = `targets:
  - {name: v, url: "http://h", model: m, kind: vision}
  - {name: c, url: "http://h", model: m}
`
	for _, tc := range []struct{ name, in, want string }{
		{"rerank_path on chat", "targets:\n  - {name: a, url: 'http://h', model: m, rerank_path: /rerank}\n",
			`llmprobe.yaml:2: targets[0].rerank_path: only used by rerank targets`},
		{"rerank_path relative", "targets:\n  - {name: a, url: 'http://h', model: m, kind: rerank, rerank_path: rerank}\n",
			`llmprobe.yaml:2: targets[0].rerank_path: invalid path "rerank": must start with a single /`},
		{"rerank_path query", "targets:\n  - {name: a, url: 'http://h', model: m, kind: rerank, rerank_path: '/rerank?x=1'}\n",
			`llmprobe.yaml:2: targets[0].rerank_path: invalid path "/rerank?x=1": want a plain path, without query or escapes`},
		{"rerank_path dotdot", "targets:\n  - {name: a, url: 'http://h', model: m, kind: rerank, rerank_path: /v1/../admin}\n",
			`llmprobe.yaml:2: targets[0].rerank_path: invalid path "/v1/../admin": must not hold ".."`},
		{"spread without mean", "workloads:\n  - {name: w, input_tokens_stddev: 10}\n",
			`llmprobe.yaml:2: workloads[0].input_tokens_stddev: only used with input_tokens`},
		{"min above mean", "workloads:\n  - {name: w, input_tokens: 100, input_tokens_min: 200, input_tokens_max: 50}\n",
			"llmprobe.yaml:2: workloads[0].input_tokens_min: 200 exceeds input_tokens (100)\n" +
				"llmprobe.yaml:2: workloads[0].input_tokens_max: 50 is below input_tokens (100)"},
		{"negative stddev", "workloads:\n  - {name: w, input_tokens: 100, input_tokens_stddev: -1}\n",
			`llmprobe.yaml:2: workloads[0].input_tokens_stddev: must be between 0 and 1048576`},
		{"tokenizer without input_tokens", "workloads:\n  - {name: w, tokenizer: bad.json}\n",
			`llmprobe.yaml:2: workloads[0].tokenizer: only used with input_tokens`},
		{"tokenizer missing", "workloads:\n  - {name: w, input_tokens: 10, tokenizer: nope.json}\n",
			`llmprobe.yaml:2: workloads[0].tokenizer: cannot read "` + filepath.Join(dir, "nope.json") + `": no such file or directory`},
		{"tokenizer unusable", "workloads:\n  - {name: w, input_tokens: 10, tokenizer: bad.json}\n",
			`llmprobe.yaml:2: workloads[0].tokenizer: ` + filepath.Join(dir, "bad.json") + `: not a usable tokenizer.json: model type "Nonsense" is not supported (want BPE, WordPiece, WordLevel, Unigram)`},
		{"dataset empty", "workloads:\n  - {name: w, dataset: empty.jsonl}\n",
			`llmprobe.yaml:2: workloads[0].dataset: ` + filepath.Join(dir, "empty.jsonl") + `: no prompts (empty file, or no entry with a prompt)`},
		{"dataset line", "workloads:\n  - {name: w, dataset: bad.jsonl}\n",
			`llmprobe.yaml:2: workloads[0].dataset: ` + filepath.Join(dir, "bad.jsonl") + `:2: want a JSON string, an object with a "prompt" string or a "messages" list, or a list of messages`},
		{"dataset not json", "workloads:\n  - {name: w, dataset: notjson.json}\n",
			`llmprobe.yaml:2: workloads[0].dataset: ` + filepath.Join(dir, "notjson.json") + `:3: invalid JSON: invalid character 'o' looking for beginning of value`},
		{"batch and docs", "workloads:\n  - {name: w, batch_size: 0, documents: 5000, dimensions: -3}\n",
			"llmprobe.yaml:2: workloads[0].batch_size: must be between 1 and 4096\n" +
				"llmprobe.yaml:2: workloads[0].dimensions: must be between 1 and 65536\n" +
				"llmprobe.yaml:2: workloads[0].documents: must be between 1 and 4096"},
		{"blank query", "workloads:\n  - {name: w, query: ' '}\n",
			`llmprobe.yaml:2: workloads[0].query: must not be blank`},
		{"image missing", "workloads:\n  - {name: w, images: [ok.png, nope.png]}\n",
			`llmprobe.yaml:2: workloads[0].images[1]: cannot read "` + filepath.Join(dir, "nope.png") + `": no such file or directory`},
		{"image not an image", "workloads:\n  - {name: w, images: [text.png]}\n",
			`llmprobe.yaml:2: workloads[0].images[0]: ` + filepath.Join(dir, "text.png") + `: not a PNG or JPEG image`},
		{"images_per_request", "workloads:\n  - {name: w, images: [ok.png], images_per_request: 2}\n  - {name: x, images_per_request: 1}\n",
			"llmprobe.yaml:2: workloads[0].images_per_request: must be between 1 and 1\n" +
				"llmprobe.yaml:3: workloads[1].images_per_request: only used with images"},
		{"vision without images", targets + "workloads:\n  - {name: w}\nprobes:\n  - {name: p, targets: [v], workload: w, schedule: '@hourly'}\n",
			`llmprobe.yaml:7: probes[0].workload: workload "w" has no images, which vision target "v" needs`},
		{"images to chat", targets + "workloads:\n  - {name: w, images: [ok.png]}\nsoaks:\n  - {name: s, targets: [v, c], workload: w, mode: throughput, vus: 1, duration: 1m}\n",
			`llmprobe.yaml:7: soaks[0].targets[1]: target "c" is of kind chat: only vision targets take the images of workload "w"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load([]byte(tc.in), filepath.Join(dir, file))
			if err == nil {
				t.Fatal("no error")
			}
			if got, want := err.Error(), prefixed(filepath.Join(dir, file), tc.want); got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// prefixed replaces the "llmprobe.yaml" that starts each line of want with
// the config's full path.
func prefixed(path, want string) string {
	var out []byte
	for len(want) > 0 {
		line := want
		if i := indexByte(want, '\n'); i >= 0 {
			line, want = want[:i+1], want[i+1:]
		} else {
			want = ""
		}
		if len(line) >= len(file) && line[:len(file)] == file {
			line = path + line[len(file):]
		}
		out = append(out, line...)
	}
	return string(out)
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}
