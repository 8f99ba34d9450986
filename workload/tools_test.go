package workload

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/llmprobe/llmprobe/config"
	"github.com/llmprobe/llmprobe/probe"
)

// TestGeneratorAnswerSpec: chat and vision requests carry the workload's
// tools and json_schema as parsed at load (the files may be gone since),
// one shared spec for every request; other kinds refuse the workload.
func TestGeneratorAnswerSpec(t *testing.T) {
	dir := t.TempDir()
	tools := filepath.Join(dir, "tools.json")
	schema := filepath.Join(dir, "answer.schema.json")
	for path, b := range map[string]string{
		tools:  `[{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{"zone":{"type":"string"}},"required":["zone"]}}}]`,
		schema: `{"type":"object"}`,
	} {
		if err := os.WriteFile(path, []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, err := config.Load([]byte(`
workloads:
  - {name: w, prompt: "What time is it in Paris?", tools_file: tools.json, tool_choice: required, json_schema_file: answer.schema.json}
  - {name: plain, prompt: hi}
`), filepath.Join(dir, "llmprobe.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{tools, schema} {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	for _, kind := range []probe.Kind{config.KindChat, config.KindVision, ""} {
		w := *c.Workload("w")
		g, err := NewForKind(&w, kind)
		if err != nil {
			t.Fatalf("%q: %v", kind, err)
		}
		a, b := g.Next(), g.Next()
		if a.Answer == nil || a.Answer != b.Answer || a.Answer.Choice != "required" || a.Answer.Tools == nil || a.Answer.Schema == nil {
			t.Fatalf("%q: answer specs %+v, %+v", kind, a.Answer, b.Answer)
		}
	}
	for _, kind := range []probe.Kind{config.KindCompletions, config.KindEmbeddings, config.KindRerank} {
		w := *c.Workload("w")
		_, err := NewForKind(&w, kind)
		want := `workload "w": tools_file of workload "w" is only sent to chat and vision targets, not ` + string(kind)
		if err == nil || err.Error() != want {
			t.Errorf("%s: error %v, want %q", kind, err, want)
		}
	}
	g, err := NewForKind(c.Workload("plain"), config.KindChat)
	if err != nil {
		t.Fatal(err)
	}
	if req := g.Next(); req.Answer != nil {
		t.Errorf("a workload without tools sent %+v", req.Answer)
	}
}
