package dataset

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Request traces: what a deployment was asked, and when, for a load run to
// replay (llmprobe's trace mode).
//
//   - Mooncake JSON Lines (kvcache-ai/Mooncake's FAST'25 traces, which
//     vLLM's, aiperf's and Dynamo's benchmarks replay): one object per
//     line with "timestamp" (milliseconds since the trace began),
//     "input_length" and "output_length" (tokens) and "hash_ids", the
//     prompt's blocks of BlockTokens tokens by a hash of their prefix: two
//     requests whose lists begin alike share that prefix. The last block
//     may be partial, so n ids cover (n−1)·BlockTokens+1 to n·BlockTokens
//     input tokens. Other fields are ignored.
//   - CSV with a header naming timestamp_ms (or timestamp_s, seconds),
//     input_tokens and output_tokens (Mooncake's input_length and
//     output_length are taken too), in any order; other columns are
//     ignored. It has no prefix blocks.
//
// A request's times need not be in order in the file: they are sorted
// (stably) when read. Every problem is refused with the file and line.

// Trace formats.
const (
	TraceMooncake = "mooncake"
	TraceCSV      = "csv"
)

// MooncakeBlockTokens is the block of Mooncake's hash_ids.
const MooncakeBlockTokens = 512

// TraceRequest is one request of a trace.
type TraceRequest struct {
	At           time.Duration // its timestamp, from the trace's zero
	InputTokens  int
	OutputTokens int
	// HashIDs name the prompt's prefix blocks (Mooncake).
	HashIDs []int64
}

// TraceFormatOf is the format a trace file's name implies: csv for *.csv,
// else mooncake.
func TraceFormatOf(path string) string {
	if strings.EqualFold(filepath.Ext(path), ".csv") {
		return TraceCSV
	}
	return TraceMooncake
}

// LoadTrace reads the trace at path in format ("" from its name); a
// Mooncake trace's hash_ids are checked against its input lengths with
// blockTokens (0: MooncakeBlockTokens).
func LoadTrace(path, format string, blockTokens int) ([]TraceRequest, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &Error{File: path, Msg: "not a regular file"}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadTrace(f, path, format, blockTokens)
}

// ReadTrace reads a trace from r; name is the file its errors name.
func ReadTrace(r io.Reader, name, format string, blockTokens int) ([]TraceRequest, error) {
	if format == "" {
		format = TraceFormatOf(name)
	}
	if blockTokens == 0 {
		blockTokens = MooncakeBlockTokens
	}
	if blockTokens < 0 {
		return nil, &Error{File: name, Msg: fmt.Sprintf("block of %d tokens: must be positive", blockTokens)}
	}
	var reqs []TraceRequest
	var err error
	switch format {
	case TraceMooncake:
		reqs, err = readMooncake(r, name, blockTokens)
	case TraceCSV:
		reqs, err = readTraceCSV(r, name)
	default:
		return nil, &Error{File: name, Msg: fmt.Sprintf("unknown trace format %q (want mooncake or csv)", format)}
	}
	if err != nil {
		return nil, err
	}
	if len(reqs) == 0 {
		return nil, &Error{File: name, Msg: "no requests"}
	}
	slices.SortStableFunc(reqs, func(a, b TraceRequest) int { return cmp.Compare(a.At, b.At) })
	return reqs, nil
}

// maxTraceTokens bounds a request's lengths: far above any model's window,
// low enough that a typo cannot ask for gigabytes of prompt.
const maxTraceTokens = 10 << 20

// maxTraceMS bounds timestamps (about 31 years), so they fit a Duration.
const maxTraceMS = 1e12

func checkLength(field string, v int) string {
	if v < 1 || v > maxTraceTokens {
		return fmt.Sprintf("%s %d: must be between 1 and %d", field, v, maxTraceTokens)
	}
	return ""
}

func checkTimestamp(ms float64) string {
	if math.IsNaN(ms) || ms < 0 || ms > maxTraceMS {
		return fmt.Sprintf("timestamp %v: must be milliseconds from 0 to %.0f", ms, maxTraceMS)
	}
	return ""
}

func readMooncake(r io.Reader, name string, block int) ([]TraceRequest, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte("\xef\xbb\xbf")) {
		_, _ = br.Discard(3)
	}
	var reqs []TraceRequest
	err := eachLine(name, br, func(b []byte) (string, error) {
		req, msg := parseMooncake(b, block)
		reqs = append(reqs, req)
		return msg, nil
	})
	if err != nil {
		return nil, err
	}
	return reqs, nil
}

const mooncakeShape = `want a Mooncake request: {"timestamp": ms, "input_length": tokens, "output_length": tokens, "hash_ids": [...]}`

// parseMooncake parses one line; msg says what is wrong with it.
func parseMooncake(b []byte, block int) (TraceRequest, string) {
	if b[0] != '{' {
		return TraceRequest{}, mooncakeShape
	}
	decode := func(data []byte, v any) error {
		d := json.NewDecoder(bytes.NewReader(data))
		d.UseNumber()
		if err := d.Decode(v); err != nil {
			return err
		}
		if d.More() {
			return errors.New("more than one JSON value")
		}
		return nil
	}
	var raw map[string]json.RawMessage
	if err := decode(b, &raw); err != nil {
		return TraceRequest{}, "invalid JSON: " + strings.TrimPrefix(err.Error(), "json: ")
	}
	num := func(key string) (json.Number, string) {
		v, ok := raw[key]
		if !ok || string(v) == "null" {
			return "", fmt.Sprintf("no %q: %s", key, mooncakeShape)
		}
		var n json.Number
		if decode(v, &n) != nil {
			return "", fmt.Sprintf("%q must be a number", key)
		}
		return n, ""
	}
	n, msg := num("timestamp")
	if msg != "" {
		return TraceRequest{}, msg
	}
	ts, err := n.Float64()
	if err != nil {
		return TraceRequest{}, `"timestamp" must be a number`
	}
	if msg := checkTimestamp(ts); msg != "" {
		return TraceRequest{}, msg
	}
	req := TraceRequest{At: time.Duration(ts * float64(time.Millisecond))}
	for _, f := range []struct {
		key string
		dst *int
	}{{"input_length", &req.InputTokens}, {"output_length", &req.OutputTokens}} {
		n, msg := num(f.key)
		if msg != "" {
			return TraceRequest{}, msg
		}
		v, err := strconv.Atoi(n.String())
		if err != nil {
			return TraceRequest{}, fmt.Sprintf("%s %s: must be a whole number of tokens", f.key, n)
		}
		if msg := checkLength(f.key, v); msg != "" {
			return TraceRequest{}, msg
		}
		*f.dst = v
	}
	if v, ok := raw["hash_ids"]; ok && string(v) != "null" {
		var ids []json.Number
		if decode(v, &ids) != nil {
			return TraceRequest{}, `"hash_ids" must be a list of integers`
		}
		req.HashIDs = make([]int64, len(ids))
		for i, id := range ids {
			n, err := strconv.ParseInt(id.String(), 10, 64)
			if err != nil {
				return TraceRequest{}, fmt.Sprintf("hash_ids[%d] %s: must be an integer", i, id)
			}
			req.HashIDs[i] = n
		}
		if n := len(ids); n > 0 {
			lo, hi := (n-1)*block+1, n*block
			if req.InputTokens < lo || req.InputTokens > hi {
				return TraceRequest{}, fmt.Sprintf("input_length %d does not fit %d hash_ids of %d-token blocks (want %d to %d; another block size?)",
					req.InputTokens, n, block, lo, hi)
			}
		}
	}
	return req, ""
}

func readTraceCSV(r io.Reader, name string) ([]TraceRequest, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // checked below, with the line
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err == io.EOF {
		return nil, nil
	}
	if err != nil {
		return nil, csvError(name, err)
	}
	head = slices.Clone(head) // the reader reuses its records
	for i := range head {
		head[i] = strings.TrimSpace(strings.TrimPrefix(head[i], "\ufeff"))
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.ToLower(h)] = i
	}
	pick := func(names ...string) int {
		for _, n := range names {
			if i, ok := col[n]; ok {
				return i
			}
		}
		return -1
	}
	tsCol, scale := pick("timestamp_ms"), float64(time.Millisecond)
	if tsCol < 0 {
		tsCol, scale = pick("timestamp_s"), float64(time.Second)
	}
	inCol, outCol := pick("input_tokens", "input_length"), pick("output_tokens", "output_length")
	if tsCol < 0 || inCol < 0 || outCol < 0 {
		return nil, &Error{File: name, Line: 1, Msg: "want a header naming timestamp_ms (or timestamp_s), input_tokens and output_tokens"}
	}
	need := max(tsCol, inCol, outCol) + 1
	var reqs []TraceRequest
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return reqs, nil
		}
		if err != nil {
			return nil, csvError(name, err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if len(rec) < need {
			return nil, &Error{File: name, Line: line, Msg: fmt.Sprintf("%d fields, want at least %d", len(rec), need)}
		}
		ts, err := strconv.ParseFloat(strings.TrimSpace(rec[tsCol]), 64)
		if err != nil {
			return nil, &Error{File: name, Line: line, Msg: fmt.Sprintf("%s %q: not a number", head[tsCol], rec[tsCol])}
		}
		ms := ts * scale / float64(time.Millisecond)
		if msg := checkTimestamp(ms); msg != "" {
			return nil, &Error{File: name, Line: line, Msg: msg}
		}
		req := TraceRequest{At: time.Duration(ts * scale)}
		for _, f := range []struct {
			i   int
			dst *int
		}{{inCol, &req.InputTokens}, {outCol, &req.OutputTokens}} {
			v, err := strconv.Atoi(strings.TrimSpace(rec[f.i]))
			if err != nil {
				return nil, &Error{File: name, Line: line, Msg: fmt.Sprintf("%s %q: must be a whole number of tokens", head[f.i], rec[f.i])}
			}
			if msg := checkLength(head[f.i], v); msg != "" {
				return nil, &Error{File: name, Line: line, Msg: msg}
			}
			*f.dst = v
		}
		reqs = append(reqs, req)
	}
}

func csvError(name string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &Error{File: name, Line: pe.Line, Msg: "invalid CSV: " + pe.Err.Error()}
	}
	return &Error{File: name, Msg: "cannot read: " + err.Error()}
}
