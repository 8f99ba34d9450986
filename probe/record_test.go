package probe

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

func TestRecordMetrics(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	d := func(ms int) time.Duration { return time.Duration(ms) * time.Millisecond }
	type itl struct {
		v time.Duration
		w int
	}
	tests := []struct {
		name     string
		rec      Record
		ttft     time.Duration
		ttftOK   bool
		ttfa     time.Duration
		ttfaOK   bool
		e2e      time.Duration
		tpot     time.Duration
		tpotOK   bool
		wantITLs []itl
	}{
		{
			name:   "no output",
			rec:    Record{Start: at(0), End: at(500)},
			e2e:    d(500),
			ttftOK: false, tpotOK: false,
		},
		{
			name: "one token: no TPOT, no ITL",
			rec: Record{Start: at(0), FirstToken: at(100), FirstAnswer: at(100), End: at(120),
				Chunks: []time.Duration{d(100)}, OutputTokens: 1},
			ttft: d(100), ttftOK: true, ttfa: d(100), ttfaOK: true, e2e: d(120),
		},
		{
			name: "four chunks 20ms apart",
			rec: Record{Start: at(0), FirstToken: at(100), FirstAnswer: at(100), End: at(160),
				Chunks: []time.Duration{d(100), d(120), d(140), d(160)}, OutputTokens: 4},
			ttft: d(100), ttftOK: true, ttfa: d(100), ttfaOK: true, e2e: d(160),
			tpot: d(20), tpotOK: true,
			wantITLs: []itl{{d(20), 1}, {d(20), 1}, {d(20), 1}},
		},
		{
			// Usage says 7 tokens in 3 chunks: TPOT uses the tokens, ITL
			// spreads each gap over the chunk's tokens.
			name: "multi-token chunks",
			rec: Record{Start: at(0), FirstToken: at(100), FirstAnswer: at(130), End: at(190),
				Chunks: []time.Duration{d(100), d(130), d(190)}, ChunkTokens: []int32{1, 3, 3}, OutputTokens: 7},
			ttft: d(100), ttftOK: true, ttfa: d(130), ttfaOK: true, e2e: d(190),
			tpot: d(15), tpotOK: true,
			wantITLs: []itl{{d(10), 3}, {d(20), 3}},
		},
		{
			name: "reasoning only: no first answer",
			rec: Record{Start: at(0), FirstToken: at(50), End: at(80),
				Chunks: []time.Duration{d(50), d(80)}, OutputTokens: 2},
			ttft: d(50), ttftOK: true, e2e: d(80), tpot: d(30), tpotOK: true,
			wantITLs: []itl{{d(30), 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if v, ok := tt.rec.TTFT(); v != tt.ttft || ok != tt.ttftOK {
				t.Errorf("TTFT %v, %v; want %v, %v", v, ok, tt.ttft, tt.ttftOK)
			}
			if v, ok := tt.rec.TTFA(); v != tt.ttfa || ok != tt.ttfaOK {
				t.Errorf("TTFA %v, %v; want %v, %v", v, ok, tt.ttfa, tt.ttfaOK)
			}
			if v := tt.rec.E2E(); v != tt.e2e {
				t.Errorf("E2E %v, want %v", v, tt.e2e)
			}
			if v, ok := tt.rec.TPOT(); v != tt.tpot || ok != tt.tpotOK {
				t.Errorf("TPOT %v, %v; want %v, %v", v, ok, tt.tpot, tt.tpotOK)
			}
			var got []itl
			tt.rec.EachITL(func(v time.Duration, w int) { got = append(got, itl{v, w}) })
			if fmt.Sprint(got) != fmt.Sprint(tt.wantITLs) {
				t.Errorf("ITLs %v, want %v", got, tt.wantITLs)
			}
		})
	}
}

func TestResults(t *testing.T) {
	seen := map[Result]bool{}
	for _, r := range Results {
		if seen[r] {
			t.Errorf("%s listed twice", r)
		}
		seen[r] = true
	}
	if len(seen) != 9 || !seen[ResultSuccess] || !seen[ResultCanceled] || !seen[ResultInvalidOutput] {
		t.Errorf("Results %v", Results)
	}
	if !(&Record{Result: ResultSuccess}).Success() || (&Record{Result: ResultTimeout}).Success() || (&Record{Result: ResultInvalidOutput}).Success() {
		t.Error("Success()")
	}
}

// TestRecordJSON: the archive form leaves the chunk arrays and empty
// optional fields out.
func TestRecordJSON(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rec := Record{
		Target: "t", Model: "m", Kind: "chat", Phase: "probe", Name: "hb",
		Start: t0, End: t0.Add(time.Second), Chunks: []time.Duration{1}, ChunkTokens: []int32{1},
		InputTokens: 3, OutputTokens: 1, UsageReported: true, Result: ResultSuccess,
	}
	b, err := json.Marshal(&rec)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"target":"t","model":"m","kind":"chat","phase":"probe","name":"hb","start":"2026-01-01T00:00:00Z","end":"2026-01-01T00:00:01Z","input_tokens":3,"output_tokens":1,"usage_reported":true,"result":"success"}`
	if string(b) != want {
		t.Errorf("JSON\n%s\nwant\n%s", b, want)
	}
}
