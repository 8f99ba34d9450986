package dataset

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestReadMooncake(t *testing.T) {
	// Mooncake's own first lines (FAST'25 release), out of order here,
	// with an extra field, a blank line and a byte order mark.
	in := "\ufeff" + `{"timestamp": 3052, "input_length": 2287, "output_length": 316, "hash_ids": [0, 42, 43, 44, 45]}
{"timestamp": 0, "input_length": 6755, "output_length": 500, "hash_ids": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]}

{"timestamp": 0.5, "input_length": 12, "output_length": 3, "session_id": "s1"}
`
	got, err := ReadTrace(strings.NewReader(in), "t.jsonl", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []TraceRequest{
		{At: 0, InputTokens: 6755, OutputTokens: 500, HashIDs: []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}},
		{At: 500 * time.Microsecond, InputTokens: 12, OutputTokens: 3},
		{At: 3052 * time.Millisecond, InputTokens: 2287, OutputTokens: 316, HashIDs: []int64{0, 42, 43, 44, 45}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestReadTraceCSV(t *testing.T) {
	in := "timestamp_ms, input_tokens, output_tokens, model\n2000,100,20,a\n0,50,10,b\n\n1000.5,70,5,c\n"
	got, err := ReadTrace(strings.NewReader(in), "t.csv", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []TraceRequest{
		{At: 0, InputTokens: 50, OutputTokens: 10},
		{At: 1000500 * time.Microsecond, InputTokens: 70, OutputTokens: 5},
		{At: 2 * time.Second, InputTokens: 100, OutputTokens: 20},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	// Seconds, Mooncake's column names, columns in another order.
	got, err = ReadTrace(strings.NewReader("output_length,timestamp_s,input_length\n7,1.5,9\n"), "t.csv", TraceCSV, 0)
	if err != nil || !reflect.DeepEqual(got, []TraceRequest{{At: 1500 * time.Millisecond, InputTokens: 9, OutputTokens: 7}}) {
		t.Errorf("got %+v, %v", got, err)
	}
}

func TestTraceErrors(t *testing.T) {
	for _, tc := range []struct {
		name, file, format, in, want string
		block                        int
	}{
		{"not an object", "t.jsonl", "", "[1, 2]\n", `t.jsonl:1: want a Mooncake request: {"timestamp": ms, "input_length": tokens, "output_length": tokens, "hash_ids": [...]}`, 0},
		{"invalid JSON", "t.jsonl", "", `{"timestamp": 0, "input_length": 5, "output_length": 1}` + "\n{\"timestamp\": 1,\n", "t.jsonl:2: invalid JSON: unexpected EOF", 0},
		{"no timestamp", "t.jsonl", "", `{"input_length": 5, "output_length": 1}`, `t.jsonl:1: no "timestamp": want a Mooncake request`, 0},
		{"string input", "t.jsonl", "", `{"timestamp": 0, "input_length": "many", "output_length": 1}`, `t.jsonl:1: "input_length" must be a number`, 0},
		{"fractional tokens", "t.jsonl", "", `{"timestamp": 0, "input_length": 5.5, "output_length": 1}`, "t.jsonl:1: input_length 5.5: must be a whole number of tokens", 0},
		{"zero output", "t.jsonl", "", `{"timestamp": 0, "input_length": 5, "output_length": 0}`, "t.jsonl:1: output_length 0: must be between 1 and 10485760", 0},
		{"negative timestamp", "t.jsonl", "", `{"timestamp": -1, "input_length": 5, "output_length": 1}`, "t.jsonl:1: timestamp -1: must be milliseconds from 0 to 1000000000000", 0},
		{"bad hash id", "t.jsonl", "", `{"timestamp": 0, "input_length": 5, "output_length": 1, "hash_ids": [1, "x"]}`, `t.jsonl:1: "hash_ids" must be a list of integers`, 0},
		{"fractional hash id", "t.jsonl", "", `{"timestamp": 0, "input_length": 5, "output_length": 1, "hash_ids": [1.5]}`, "t.jsonl:1: hash_ids[0] 1.5: must be an integer", 0},
		{"too few blocks", "t.jsonl", "", `{"timestamp": 0, "input_length": 1025, "output_length": 1, "hash_ids": [1, 2]}`,
			"t.jsonl:1: input_length 1025 does not fit 2 hash_ids of 512-token blocks (want 513 to 1024; another block size?)", 0},
		{"too many blocks", "t.jsonl", "", `{"timestamp": 0, "input_length": 16, "output_length": 1, "hash_ids": [1, 2]}`,
			"t.jsonl:1: input_length 16 does not fit 2 hash_ids of 16-token blocks (want 17 to 32; another block size?)", 16},
		{"two values", "t.jsonl", "", `{"timestamp": 0, "input_length": 5, "output_length": 1} {}`, "t.jsonl:1: invalid JSON: more than one JSON value", 0},
		{"empty", "t.jsonl", "", "\n\n", "t.jsonl: no requests", 0},
		{"unknown format", "t.jsonl", "parquet", "", `t.jsonl: unknown trace format "parquet" (want mooncake or csv)`, 0},
		{"csv without header", "t.csv", "", "0,5,1\n", "t.csv:1: want a header naming timestamp_ms (or timestamp_s), input_tokens and output_tokens", 0},
		{"csv short line", "t.csv", "", "timestamp_ms,input_tokens,output_tokens\n0,5,1\n1,5\n", "t.csv:3: 2 fields, want at least 3", 0},
		{"csv bad number", "t.csv", "", "timestamp_ms,input_tokens,output_tokens\nsoon,5,1\n", `t.csv:2: timestamp_ms "soon": not a number`, 0},
		{"csv zero input", "t.csv", "", "timestamp_ms,input_tokens,output_tokens\n0,0,1\n", "t.csv:2: input_tokens 0: must be between 1 and 10485760", 0},
		{"csv quote", "t.csv", "", "timestamp_ms,input_tokens,output_tokens\n0,\"5,1\n", "t.csv:2: invalid CSV: extraneous or missing \" in quoted-field", 0},
		{"csv header only", "t.csv", "", "timestamp_ms,input_tokens,output_tokens\n", "t.csv: no requests", 0},
	} {
		_, err := ReadTrace(strings.NewReader(tc.in), tc.file, tc.format, tc.block)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: error %v\nwant %s", tc.name, err, tc.want)
		}
	}
}

func TestLoadTrace(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "trace.jsonl")
	if err := os.WriteFile(p, []byte(`{"timestamp": 0, "input_length": 600, "output_length": 2, "hash_ids": [7, 8]}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := LoadTrace(p, "", 0)
	if err != nil || len(got) != 1 || got[0].InputTokens != 600 {
		t.Fatalf("%+v, %v", got, err)
	}
	if _, err := LoadTrace(filepath.Join(dir, "missing.jsonl"), "", 0); !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := LoadTrace(dir, "", 0); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: %v", err)
	}
	if TraceFormatOf("a/B.CSV") != TraceCSV || TraceFormatOf("x.jsonl") != TraceMooncake || TraceFormatOf("x") != TraceMooncake {
		t.Error("formats from names")
	}
}

func FuzzReadTrace(f *testing.F) {
	f.Add([]byte(`{"timestamp": 0, "input_length": 600, "output_length": 2, "hash_ids": [7, 8]}`), false)
	f.Add([]byte("timestamp_ms,input_tokens,output_tokens\n0,1,1\n"), true)
	f.Fuzz(func(t *testing.T, b []byte, csv bool) {
		format := TraceMooncake
		if csv {
			format = TraceCSV
		}
		reqs, err := ReadTrace(strings.NewReader(string(b)), "f", format, 0)
		if err != nil {
			return
		}
		for i, r := range reqs {
			if r.At < 0 || r.InputTokens < 1 || r.OutputTokens < 1 || (i > 0 && r.At < reqs[i-1].At) {
				t.Fatalf("accepted a bad request %+v", r)
			}
		}
	})
}
