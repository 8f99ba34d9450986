package cli

// The command lines of the field guide (shared/FIELD-GUIDE.md, "Their
// command lines, as they paste them", and the stress procedure's), with
// only the program name changed to `llmprobe bench` and the server URL
// pointed at an in-process simulator, run through llmprobe's own command
// line parsing.
//
// Time is scaled, not rewritten: the lines keep their --duration and
// --warmup, and benchOptions.timeScale (which no flag sets) runs every
// second of them as a millisecond, so a 10-rate sweep of 120 s steps takes
// about a second. Rates stay as written (requests per real second), so a
// rate step sends rate × duration × scale requests, and at least one when
// it does not follow the warmup (arrivals start with the step). The
// stress procedure's sanity check, 1 req/s for 30 s after 10 s warmup,
// runs at 1/30 (1 s after 0.33 s): one measured request.

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/compat"
	"github.com/llmprobe/llmprobe/load"
	"github.com/llmprobe/llmprobe/sim"
)

// The lines as the guide has them (its "..." filled with the line above,
// as its readers do).
const (
	guideGPUStack = `llmprobe bench --model openai/gpt-oss-20b --embeddings --num-requests 100 --concurrency 10 \
  --server-url http://127.0.0.1:8080 --api-key gpustack-key-123 --json --result-file emb.json`

	guideIBCommon = `llmprobe bench --tokenizer-name Qwen/Qwen3-VL-8B-Instruct --model-name qwen3-vl-8b-instruct \
  --url http://localhost:8001 --api-key <KEY> `
	guideIBTail = ` --duration 120s --warmup 30s \
  --dataset-file data.json --decode-options "num_tokens=80,max_tokens=100,min_tokens=60,variance=10"`

	guideIBSweep      = guideIBCommon + `--benchmark-kind sweep --num-rates 10` + guideIBTail
	guideIBRate       = guideIBCommon + `--benchmark-kind rate --rates "5,10,25,50"` + guideIBTail
	guideIBThroughput = guideIBCommon + `--benchmark-kind throughput --max-vus 64` + guideIBTail
	guideIBProfile    = guideIBCommon + `--profile chat --duration 120s --warmup 30s`
	// The stress procedure's sanity check and coarse limit (step 3: 60 s
	// each).
	guideIBSanity = guideIBCommon + `--benchmark-kind rate --rates "1" --duration 30s --warmup 10s \
  --dataset-file data.json --decode-options "num_tokens=80,max_tokens=100,min_tokens=60,variance=10"`
	guideIBCoarse = guideIBCommon + `--benchmark-kind throughput --max-vus VUS --duration 60s --warmup 30s \
  --dataset-file data.json --decode-options "num_tokens=80,max_tokens=100,min_tokens=60,variance=10"`
)

const (
	guideIBModel       = "qwen3-vl-8b-instruct"
	guideGPUStackModel = "openai/gpt-oss-20b"
	guideTimeScale     = 1e-3
	sanityTimeScale    = 1.0 / 30
)

// shellWords splits a command line as a shell does for these lines:
// blanks separate words, double quotes group, backslash-newline continues.
func shellWords(line string) []string {
	line = strings.ReplaceAll(line, "\\\n", " ")
	var words []string
	var cur strings.Builder
	in, quoted := false, false
	for _, r := range line {
		switch {
		case r == '"':
			quoted, in = !quoted, true
		case (r == ' ' || r == '\t' || r == '\n') && !quoted:
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

func TestShellWords(t *testing.T) {
	got := shellWords("llmprobe bench --rates \"5,10\" \\\n  --api-key <KEY>  --x")
	want := []string{"llmprobe", "bench", "--rates", "5,10", "--api-key", "<KEY>", "--x"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("%q", got)
	}
}

// guideEnv is a working directory with the guide's data.json, a Hugging
// Face cache holding Qwen/Qwen3-VL-8B-Instruct's tokenizer (the fixture)
// and the inference-benchmarker dataset file of --profile chat, and the
// simulators the lines point at.
type guideEnv struct {
	dir            string
	ibURL, gsURL   string
	ibSim, gsSim   sim.Config
	tokenizerCache string
}

func newGuideEnv(t *testing.T) *guideEnv {
	t.Helper()
	e := &guideEnv{dir: t.TempDir()}
	t.Chdir(e.dir)

	// A small ShareGPT file, prompts of a few to a few hundred tokens.
	var convs []map[string]any
	for i := range 12 {
		prompt := strings.Repeat("Tell me about the lighthouse keeper and the storm at sea. ", 1+i*3)
		convs = append(convs, map[string]any{"id": strconv.Itoa(i), "conversations": []map[string]string{
			{"from": "human", "value": prompt}, {"from": "gpt", "value": "A story."}}})
	}
	writeJSON(t, filepath.Join(e.dir, "data.json"), convs)

	home := filepath.Join(e.dir, "hf")
	for _, k := range []string{"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME"} {
		t.Setenv(k, "")
	}
	t.Setenv("HF_HOME", home)
	const rev = "5f3c0ffee0d1e2a3b4c5d6e7f8091a2b3c4d5e6f"
	model := filepath.Join(home, "hub", "models--Qwen--Qwen3-VL-8B-Instruct")
	fixture, err := os.ReadFile(filepath.Join(repoDir, "tokenizer", "testdata", "bpe-tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	e.tokenizerCache = filepath.Join(model, "snapshots", rev, "tokenizer.json")
	writeFile(t, e.tokenizerCache, fixture)
	writeFile(t, filepath.Join(model, "refs", "main"), []byte(rev))
	// inference-benchmarker's own dataset format: role/content turns.
	var turns []map[string]any
	for i := range 10 {
		turns = append(turns, map[string]any{"id": strconv.Itoa(i), "conversations": []map[string]string{
			{"role": "system", "content": "You answer briefly."},
			{"role": "user", "content": "Question " + strconv.Itoa(i) + ": what does a lighthouse keeper do at night?"},
			{"role": "user", "content": "And in the morning?"}}})
	}
	ds := filepath.Join(home, "hub", "datasets--hlarcher--inference-benchmarker")
	writeJSON(t, filepath.Join(ds, "snapshots", rev, "share_gpt_turns.json"), turns)
	writeFile(t, filepath.Join(ds, "refs", "main"), []byte(rev))

	// 16 decode slots: past them requests queue, so a sweep's top steps
	// find a real limit; 8 output tokens whatever is asked, to keep the
	// CPU cost of the 128-user sweeps low.
	e.ibSim = sim.Config{Model: guideIBModel, TTFT: 20 * time.Millisecond, ITL: 2 * time.Millisecond, OutputTokens: 8, MaxConcurrency: 16}
	e.gsSim = sim.Config{Model: guideGPUStackModel, TTFT: 5 * time.Millisecond, EmbeddingDimensions: 64}
	e.ibURL = strings.TrimSuffix(benchSim(t, e.ibSim), "/v1")
	e.gsURL = strings.TrimSuffix(benchSim(t, e.gsSim), "/v1")
	return e
}

// repoDir is the repository's root (tests start in cli/), for fixtures
// after t.Chdir.
var repoDir = func() string { d, _ := os.Getwd(); return filepath.Dir(d) }()

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, b)
}

// run runs a guide line, its URLs replaced by the simulators'.
func (e *guideEnv) run(t *testing.T, line string, extra ...string) (code int, stdout, stderr string) {
	t.Helper()
	return e.runScaled(t, guideTimeScale, line, extra...)
}

func (e *guideEnv) runScaled(t *testing.T, scale float64, line string, extra ...string) (code int, stdout, stderr string) {
	t.Helper()
	line = strings.ReplaceAll(line, "http://localhost:8001", e.ibURL)
	line = strings.ReplaceAll(line, "http://127.0.0.1:8080", e.gsURL)
	words := append(shellWords(line), extra...)
	if len(words) < 2 || words[0] != "llmprobe" || words[1] != "bench" {
		t.Fatalf("not a bench line: %q", words)
	}
	var out, errOut bytes.Buffer
	c := newApp(&errOut)
	c.app.Terminate(nil)
	cmd, err := c.app.Parse(prepareArgs(c.app, words[1:]))
	if err != nil || cmd != "bench" {
		t.Fatalf("%s\nparses as %q: %v\n%s", line, cmd, err, errOut.String())
	}
	c.benchOpts.timeScale = scale
	g := &globals{stdout: &out, stderr: &errOut}
	code = runBench(slog.New(slog.NewTextHandler(io.Discard, nil)), g, c.benchOpts)
	return code, out.String(), errOut.String()
}

var tableRow = func(label string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(label) + `\s+(\d+)`)
}

// tableInt reads an integer row of the Serving Benchmark Result table.
func tableInt(t *testing.T, out, label string) int {
	t.Helper()
	m := tableRow(label).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %q row in:\n%s", label, out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func TestFieldGuideCommandLines(t *testing.T) {
	e := newGuideEnv(t)

	t.Run("GPUStack embeddings", func(t *testing.T) {
		code, out, errOut := e.run(t, guideGPUStack)
		if code != exitOK {
			t.Fatalf("exit %d\n%s", code, errOut)
		}
		// --json prints what GPUStack's script prints: its result.
		var res compat.GPUStackResult
		if err := json.Unmarshal([]byte(out), &res); err != nil || res.SuccessfulRequests == 0 {
			t.Fatalf("--json: stdout is not GPUStack's JSON result: %v\n%s", err, out)
		}
		// Pasted as it is, the line's --result-file holds GPUStack's
		// result, so its scripts read it unchanged; ours is beside it.
		var gs compat.GPUStackResult
		b, err := os.ReadFile("emb.json")
		if err != nil || json.Unmarshal(b, &gs) != nil {
			t.Fatalf("emb.json is not GPUStack's result: %v\n%s", err, b)
		}
		if gs.Model != guideGPUStackModel || gs.TotalRequests != 100 || gs.SuccessfulRequests != 100 || gs.Concurrency != 10 {
			t.Errorf("emb.json: %+v", gs)
		}
		if !strings.Contains(errOut, "llmprobe's full result in emb.llmprobe-result.json") {
			t.Errorf("stderr does not say where our result is:\n%s", errOut)
		}
		saved := *readResult(t, "emb.llmprobe-result.json")
		s := saved.Summary
		if saved.Kind != "embeddings" || saved.Model != guideGPUStackModel || saved.Mode != load.ModeThroughput ||
			s.Successful != 100 || s.Failed != 0 || saved.Context.VUs != 10 || saved.Context.NumRequests != 100 ||
			s.PeakConcurrent > 10 || s.PeakConcurrent < 2 || s.InputTokens == 0 {
			t.Errorf("--result-file emb.json: kind %s model %s mode %s vus %d: %+v", saved.Kind, saved.Model, saved.Mode, saved.Context.VUs, s)
		}
		if res.SuccessfulRequests != s.Successful || out != string(b) {
			t.Errorf("stdout and emb.json disagree")
		}
	})

	t.Run("inference-benchmarker sweep", func(t *testing.T) {
		code, out, errOut := e.run(t, guideIBSweep)
		if code != exitOK {
			t.Fatalf("exit %d\n%s\n%s", code, errOut, out)
		}
		if n := tableInt(t, out, "Successful requests:"); n == 0 {
			t.Errorf("no successful requests:\n%s", out)
		}
		if tableInt(t, out, "Failed requests:") != 0 {
			t.Errorf("failures against a healthy simulator:\n%s", out)
		}
		// The sweep ran: its throughput phase of 128 users (the tool's
		// default --max-vus), then rate steps.
		if !strings.Contains(errOut, "sweep, 128 users then 10 constant-rate steps, 120ms per step, 30ms warmup") {
			t.Errorf("plan line:\n%s", errOut)
		}
		if !strings.Contains(out, "Max throughput (128 users)") || !strings.Contains(out, "Detected max throughput") {
			t.Errorf("no sweep result:\n%s", out)
		}
		// The tokenizer came from the cache and counted the dataset.
		for _, want := range []string{"tokenizer Qwen/Qwen3-VL-8B-Instruct: " + e.tokenizerCache, "dataset data.json: 12 prompts of"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("stderr lacks %q:\n%s", want, errOut)
			}
		}
	})

	t.Run("inference-benchmarker rate", func(t *testing.T) {
		code, out, errOut := e.run(t, guideIBRate, "--result-file", "rate.json")
		if code != exitOK {
			t.Fatalf("exit %d\n%s", code, errOut)
		}
		res := readResult(t, "rate.llmprobe-result.json") // rate.json is inference-benchmarker's
		var ib compat.IBReport
		if b, err := os.ReadFile("rate.json"); err != nil || json.Unmarshal(b, &ib) != nil || len(ib.Results) != 4 || ib.Config.BenchmarkKind != "Rate" {
			t.Errorf("rate.json is not inference-benchmarker's report of 4 rates: %v %+v", err, ib.Config)
		}
		if res.Mode != load.ModeRate || len(res.Steps) != 4 || res.Steps[3].OfferedRate != 50 || res.Summary.Successful == 0 ||
			res.Context.Arrival != load.ArrivalConstant || res.Context.MaxInFlight != 128 || res.Context.WarmupS != 0.03 {
			t.Errorf("rate run: %+v steps %d", res.Context, len(res.Steps))
		}
		if tableInt(t, out, "Successful requests:") != int(res.Summary.Successful) {
			t.Errorf("table and result disagree")
		}
		// 50 req/s for 120 "seconds" of 1 ms: six arrivals.
		if n := res.Steps[3].Summary.Requests; n < 5 || n > 7 {
			t.Errorf("50 req/s for 120ms sent %d", n)
		}
	})

	t.Run("inference-benchmarker throughput, 64 users", func(t *testing.T) {
		// 64 users on 16 slots queue 4 deep (~150 ms to serve each one's
		// warmup request): at 1 ms a second some users would not start a
		// measured request within the 120 ms window, so this line runs at
		// 1/100 (a 1.2 s window).
		code, out, errOut := e.runScaled(t, 0.01, guideIBThroughput)
		if code != exitOK {
			t.Fatalf("exit %d\n%s", code, errOut)
		}
		if tableInt(t, out, "Successful requests:") == 0 || tableInt(t, out, "Peak concurrent requests:") != 64 {
			t.Errorf("--max-vus 64 in throughput mode:\n%s", out)
		}
	})

	t.Run("inference-benchmarker profile chat", func(t *testing.T) {
		code, out, errOut := e.run(t, guideIBProfile)
		if code != exitOK {
			t.Fatalf("exit %d\n%s", code, errOut)
		}
		if tableInt(t, out, "Successful requests:") == 0 {
			t.Errorf("no successful requests:\n%s", out)
		}
		for _, want := range []string{
			"--profile chat: dataset hlarcher/inference-benchmarker's share_gpt_turns.json",
			"inference-benchmarker's conversations format, 10 conversations",
			"sends every conversation's first user turn",
			"sweep, 128 users then 10 constant-rate steps, 120ms per step, 30ms warmup",
		} {
			if !strings.Contains(errOut, want) {
				t.Errorf("stderr lacks %q:\n%s", want, errOut)
			}
		}
	})

	t.Run("stress sanity check", func(t *testing.T) {
		code, out, errOut := e.runScaled(t, sanityTimeScale, guideIBSanity)
		if code != exitOK {
			t.Fatalf("exit %d\n%s", code, errOut)
		}
		if tableInt(t, out, "Successful requests:") != 1 || tableInt(t, out, "Failed requests:") != 0 {
			t.Errorf("1 req/s for 30 s scaled to 1 s: one request, no error:\n%s", out)
		}
	})

	t.Run("stress coarse limit", func(t *testing.T) {
		for _, vus := range []int{4, 8, 16, 32} {
			code, out, errOut := e.run(t, strings.Replace(guideIBCoarse, "VUS", strconv.Itoa(vus), 1))
			if code != exitOK {
				t.Fatalf("--max-vus %d: exit %d\n%s", vus, code, errOut)
			}
			if got := tableInt(t, out, "Peak concurrent requests:"); got != vus {
				t.Errorf("--max-vus %d: peak concurrent requests %d", vus, got)
			}
			if !strings.Contains(errOut, "throughput mode, "+strconv.Itoa(vus)+" users, 60ms per step") {
				t.Errorf("--max-vus %d: plan:\n%s", vus, errOut)
			}
		}
	})
}

func readResult(t *testing.T, path string) *load.Result {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var res load.Result
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	return &res
}

// The guide's lines with --result-format: the other tools' files next to
// ours, from the same requests.
func TestFieldGuideResultFormats(t *testing.T) {
	e := newGuideEnv(t)

	code, _, errOut := e.run(t, guideGPUStack, "--result-format", "gpustack,vllm")
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	ours := readResult(t, "emb.json")
	var gs compat.GPUStackResult
	b, err := os.ReadFile("emb.gpustack.json")
	if err != nil || json.Unmarshal(b, &gs) != nil {
		t.Fatalf("emb.gpustack.json: %v", err)
	}
	if gs.Model != guideGPUStackModel || gs.TotalRequests != 100 || gs.SuccessfulRequests != ours.Summary.Successful || gs.Concurrency != 10 ||
		gs.SuccessRate != 1 || gs.TotalPromptTokens != ours.Summary.InputTokens || gs.RequestTimeout != 300 || gs.Latency.P50 == nil ||
		gs.TimeToFirstToken.P50 != nil {
		t.Errorf("GPUStack result %+v", gs)
	}
	var v map[string]any
	b, _ = os.ReadFile("emb.vllm.json")
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("emb.vllm.json: %v\n%s", err, b)
	}
	if v["backend"] != "openai-embeddings" || v["completed"] != float64(ours.Summary.Successful) || v["request_rate"] != "inf" ||
		v["max_concurrency"] != 10.0 || v["p99_e2el_ms"] == nil {
		t.Errorf("vLLM result %v", v)
	}

	code, _, errOut = e.run(t, guideIBThroughput, "--result-file", "tp.json", "--result-format", "inference-benchmarker")
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	ours = readResult(t, "tp.json")
	var ib compat.IBReport
	b, err = os.ReadFile("tp.inference-benchmarker.json")
	if err != nil || json.Unmarshal(b, &ib) != nil {
		t.Fatalf("tp.inference-benchmarker.json: %v", err)
	}
	r := ib.Results
	if ib.Config.BenchmarkKind != "Throughput" || ib.Config.MaxVUs != 64 || ib.Config.Tokenizer != "Qwen/Qwen3-VL-8B-Instruct" ||
		ib.Config.ModelName != guideIBModel || ib.Config.DecodeOptions == nil || *ib.Config.DecodeOptions.NumTokens != 80 ||
		len(r) != 1 || r[0].ID != "throughput" || r[0].SuccessfulRequests != ours.Summary.Successful || r[0].Config.MaxVUs != 64 ||
		r[0].TimeToFirstTokenMS.P60 < r[0].TimeToFirstTokenMS.P50 || r[0].TimeToFirstTokenMS.P80 > r[0].TimeToFirstTokenMS.P90 {
		t.Errorf("inference-benchmarker report %+v", ib)
	}
}
