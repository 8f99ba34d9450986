package load

import (
	"math"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/probe"
)

// TestOptionsEdges protects what a soak or bench run accepts (check-config's
// and bench's refusals): each bound is tried on both sides, so that a valid
// run at a limit (one user, max_in_flight 1, 50 rates, vus equal to
// max_in_flight) is not refused and one past it is.
func TestOptionsEdges(t *testing.T) {
	sec := time.Second
	for _, tc := range []struct {
		name string
		o    Options
		ok   bool
	}{
		{"rate 0.001/s", Options{Mode: ModeRate, Rates: []float64{0.001}, Duration: sec}, true},
		{"rate 0", Options{Mode: ModeRate, Rates: []float64{0}, Duration: sec}, false},
		{"rate NaN", Options{Mode: ModeRate, Rates: []float64{math.NaN()}, Duration: sec}, false},
		{"rate +Inf", Options{Mode: ModeRate, Rates: []float64{math.Inf(1)}, Duration: sec}, false},
		{"vus equal to max_in_flight", Options{Mode: ModeThroughput, VUs: 5, MaxInFlight: 5, Duration: sec}, true},
		{"vus over max_in_flight", Options{Mode: ModeThroughput, VUs: 6, MaxInFlight: 5, Duration: sec}, false},
		{"one user", Options{Mode: ModeThroughput, VUs: 1, Duration: sec}, true},
		{"max_in_flight 1", Options{Mode: ModeRate, Rates: []float64{1}, MaxInFlight: 1, Duration: sec}, true},
		{"max_in_flight negative", Options{Mode: ModeRate, Rates: []float64{1}, MaxInFlight: -1, Duration: sec}, false},
		{"sweep with one user", Options{Mode: ModeSweep, MaxVUs: 1, Duration: sec}, true},
		{"sweep with max_vus equal to max_in_flight", Options{Mode: ModeSweep, MaxVUs: 8, MaxInFlight: 8, Duration: sec}, true},
		{"sweep with max_vus over max_in_flight", Options{Mode: ModeSweep, MaxVUs: 9, MaxInFlight: 8, Duration: sec}, false},
		{"sweep with negative max_vus", Options{Mode: ModeSweep, MaxVUs: -1, Duration: sec}, false},
		{"sweep of one rate", Options{Mode: ModeSweep, NumRates: 1, Duration: sec}, true},
		{"sweep of 50 rates", Options{Mode: ModeSweep, NumRates: MaxNumRates, Duration: sec}, true},
		{"sweep of 51 rates", Options{Mode: ModeSweep, NumRates: MaxNumRates + 1, Duration: sec}, false},
		{"sweep of -1 rates", Options{Mode: ModeSweep, NumRates: -1, Duration: sec}, false},
		{"sweep by request count only", Options{Mode: ModeSweep, NumRequests: 100}, false},
		{"sweep of 1 ns steps", Options{Mode: ModeSweep, Duration: 1}, true},
		{"stop_error_ratio 1", Options{Mode: ModeRate, Rates: []float64{1}, Duration: sec, StopErrorRatio: 1}, true},
		{"stop_error_ratio over 1", Options{Mode: ModeRate, Rates: []float64{1}, Duration: sec, StopErrorRatio: 1.01}, false},
		{"error_ratio 1", Options{Mode: ModeRate, Rates: []float64{1}, Duration: sec, ErrorRatio: 1}, true},
		{"error_ratio negative", Options{Mode: ModeRate, Rates: []float64{1}, Duration: sec, ErrorRatio: -0.1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(&fakeSender{}, fixedRequests{}, tc.o, Hooks{})
			if (err == nil) != tc.ok {
				t.Errorf("error %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// TestOptionsDefaults protects the defaults a result's context reports and
// runs by (stop_latency_factor 10, slo attainment 95 %, lag threshold 10 ms,
// max_vus 64 capped by max_in_flight, 10 rates): a zero field gets the
// default, a set one keeps its value.
func TestOptionsDefaults(t *testing.T) {
	r, err := New(&fakeSender{}, fixedRequests{}, Options{Mode: ModeSweep, Duration: time.Second}, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	o := r.Options()
	if o.StopLatencyFactor != DefaultStopLatencyFactor || o.SLOAttainment != DefaultSLOAttainment || o.LagThreshold != DefaultLagThreshold ||
		o.MaxVUs != DefaultMaxVUs || o.NumRates != DefaultNumRates || o.MaxInFlight != DefaultMaxInFlight ||
		o.StopErrorRatio != DefaultStopErrorRatio || o.Arrival != ArrivalConstant || o.Phase != DefaultPhase {
		t.Errorf("defaults: %+v", o)
	}
	r, err = New(&fakeSender{}, fixedRequests{}, Options{Mode: ModeSweep, Duration: time.Second, MaxInFlight: 16}, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	if o := r.Options(); o.MaxVUs != 16 {
		t.Errorf("max_vus default with max_in_flight 16: %d, want 16", o.MaxVUs)
	}
	set := Options{Mode: ModeSweep, Duration: time.Second, StopLatencyFactor: 3, SLOAttainment: 0.5, LagThreshold: time.Millisecond,
		MaxVUs: 2, NumRates: 4, MaxInFlight: 8, StopErrorRatio: 0.2, Arrival: ArrivalPoisson, Phase: "probe", SLO: probe.SLO{TTFT: time.Second}}
	r, err = New(&fakeSender{}, fixedRequests{}, set, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	if o := r.Options(); o.StopLatencyFactor != 3 || o.SLOAttainment != 0.5 || o.LagThreshold != time.Millisecond ||
		o.MaxVUs != 2 || o.NumRates != 4 || o.MaxInFlight != 8 || o.StopErrorRatio != 0.2 || o.Arrival != ArrivalPoisson || o.Phase != "probe" {
		t.Errorf("set values changed: %+v", o)
	}
}
