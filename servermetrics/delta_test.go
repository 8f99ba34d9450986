package servermetrics

import (
	"bytes"
	"math"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
)

func page(t *testing.T, p string) Snapshot { t.Helper(); return parseText(t, p) }

const vllmBefore = `vllm:num_requests_waiting 4
vllm:prompt_tokens_total 100
vllm:generation_tokens_total 50
vllm:num_preemptions_total 1
# TYPE vllm:request_queue_time_seconds histogram
vllm:request_queue_time_seconds_bucket{le="0.1"} 10
vllm:request_queue_time_seconds_bucket{le="1"} 10
vllm:request_queue_time_seconds_bucket{le="+Inf"} 10
vllm:request_queue_time_seconds_sum 0.5
vllm:request_queue_time_seconds_count 10
`

func TestDelta(t *testing.T) {
	before := page(t, vllmBefore)
	for _, tc := range []struct {
		name, after string
		increase    map[string]float64
		resets      []string
		queue       [2]float64 // count, sum of the window's queue time
		median      float64
	}{
		{"growth", `vllm:num_requests_waiting 9
vllm:prompt_tokens_total 160
vllm:generation_tokens_total 80
vllm:num_preemptions_total 1
# TYPE vllm:request_queue_time_seconds histogram
vllm:request_queue_time_seconds_bucket{le="0.1"} 10
vllm:request_queue_time_seconds_bucket{le="1"} 20
vllm:request_queue_time_seconds_bucket{le="+Inf"} 20
vllm:request_queue_time_seconds_sum 6.5
vllm:request_queue_time_seconds_count 20
`, map[string]float64{"prompt_tokens_total": 60, "generation_tokens_total": 30, "preemptions_total": 0}, nil, [2]float64{10, 6}, 0.55},
		{"restart", `vllm:num_requests_waiting 0
vllm:prompt_tokens_total 7
vllm:generation_tokens_total 3
vllm:num_preemptions_total 0
# TYPE vllm:request_queue_time_seconds histogram
vllm:request_queue_time_seconds_bucket{le="0.1"} 2
vllm:request_queue_time_seconds_bucket{le="1"} 2
vllm:request_queue_time_seconds_bucket{le="+Inf"} 2
vllm:request_queue_time_seconds_sum 0.1
vllm:request_queue_time_seconds_count 2
`, map[string]float64{"prompt_tokens_total": 7, "generation_tokens_total": 3, "preemptions_total": 0},
			[]string{"generation_tokens_total", "preemptions_total", "prompt_tokens_total", "queue_time_seconds"}, [2]float64{2, 0.1}, 0.05},
	} {
		t.Run(tc.name, func(t *testing.T) {
			after := page(t, tc.after)
			after.Time = before.Time.Add(time.Minute)
			w := Delta(before, after)
			if !reflect.DeepEqual(w.Increase, tc.increase) {
				t.Errorf("increase %v, want %v", w.Increase, tc.increase)
			}
			for name, v := range w.Increase {
				if v < 0 {
					t.Errorf("%s negative %v", name, v)
				}
			}
			if !reflect.DeepEqual(w.Resets, tc.resets) {
				t.Errorf("resets %v, want %v", w.Resets, tc.resets)
			}
			q := w.Hists["queue_time_seconds"]
			if q == nil || q.Count != tc.queue[0] || math.Abs(q.Sum-tc.queue[1]) > 1e-9 {
				t.Fatalf("queue %+v", q)
			}
			if m, ok := q.Quantile(0.5); !ok || math.Abs(m-tc.median) > 1e-9 {
				t.Errorf("median %v, want %v", m, tc.median)
			}
			if w.Gauges["requests_waiting"] != after.Values["requests_waiting"] || w.To.Sub(w.From) != time.Minute {
				t.Errorf("window %+v", w)
			}
		})
	}
}

func TestQuantile(t *testing.T) {
	h := &Hist{Count: 10, Sum: 3, Classic: classic(map[float64]float64{0.1: 2, 0.5: 8, 1: 10, math.Inf(1): 10})}
	for _, tc := range []struct{ q, want float64 }{{0, 0}, {0.1, 0.05}, {0.5, 0.3}, {0.8, 0.5}, {0.9, 0.75}, {1, 1}} {
		if got, ok := h.Quantile(tc.q); !ok || math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("q%v = %v, want %v", tc.q, got, tc.want)
		}
	}
	over := &Hist{Count: 4, Classic: classic(map[float64]float64{1: 1, math.Inf(1): 4})}
	if got, _ := over.Quantile(0.9); got != 1 {
		t.Errorf("a quantile in the +Inf bucket is its lower bound, got %v", got)
	}
	if _, ok := (&Hist{Classic: classic(map[float64]float64{math.Inf(1): 0})}).Quantile(0.5); ok {
		t.Error("an empty histogram has no quantile")
	}
	n := &Hist{Count: 4, Native: &Native{Schema: 0, ZeroThreshold: 0.001, ZeroCount: 1, Positive: map[int]float64{1: 1, 2: 2}}}
	// Schema 0: bucket 1 is (1,2], bucket 2 is (2,4].
	if got, _ := n.Quantile(0.5); math.Abs(got-2) > 1e-9 {
		t.Errorf("native median %v, want 2", got)
	}
	if got, _ := n.Quantile(1); math.Abs(got-4) > 1e-9 {
		t.Errorf("native max %v, want 4", got)
	}
	down := downscale(&Native{Schema: 1, Positive: map[int]float64{1: 1, 2: 1, 3: 1, 4: 1}}, 0)
	if !reflect.DeepEqual(down.Positive, map[int]float64{1: 2, 2: 2}) {
		t.Errorf("downscale %v", down.Positive)
	}
}

func FuzzParse(f *testing.F) {
	for _, p := range []string{"testdata/llama-server-metrics.txt", "testdata/vllm-sim-metrics.txt"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
	}
	f.Add([]byte(sglangPage), false)
	f.Add([]byte(tgiPage), false)
	f.Add([]byte("\x10\n\x01a\x18\x04:\x0b\x1a\x09\x09\x00\x00\x00\x00\x00\x00\xf0\x3f"), true)
	f.Fuzz(func(t *testing.T, body []byte, proto bool) {
		format := expfmt.FmtText
		if proto {
			format = expfmt.FmtProtoDelim
		}
		fams, err := Parse(bytes.Clone(body), format)
		if err != nil {
			return
		}
		s := FromFamilies(fams, Auto, time.Time{})
		w := Delta(s, s)
		for name, v := range w.Increase {
			if !math.IsNaN(v) && !math.IsInf(s.Values[name], 0) && v != 0 {
				t.Errorf("%s increased by %v against itself", name, v)
			}
		}
		for _, h := range s.Hists {
			h.Quantile(0.5)
			h.Mean()
		}
	})
}
