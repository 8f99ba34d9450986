package load

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/probe"
)

// gammaP is the regularized lower incomplete gamma function P(a, x), the
// CDF of the gamma distribution of shape a and scale 1 (series below
// a+1, Lentz's continued fraction above, as Numerical Recipes computes it).
func gammaP(a, x float64) float64 {
	if x <= 0 {
		return 0
	}
	lg, _ := math.Lgamma(a)
	front := math.Exp(-x + a*math.Log(x) - lg)
	if x < a+1 {
		sum, term := 1/a, 1/a
		for n := 1; n < 1000; n++ {
			term *= x / (a + float64(n))
			sum += term
			if math.Abs(term) < math.Abs(sum)*1e-15 {
				break
			}
		}
		return sum * front
	}
	const tiny = 1e-300
	b := x + 1 - a
	c, d := 1/tiny, 1/b
	h := d
	for i := 1; i < 1000; i++ {
		an := -float64(i) * (float64(i) - a)
		b += 2
		d = an*d + b
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = b + an/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < 1e-15 {
			break
		}
	}
	return 1 - front*h
}

// ks returns the Kolmogorov-Smirnov statistic of samples against cdf.
func ks(samples []float64, cdf func(float64) float64) float64 {
	x := slices.Clone(samples)
	slices.Sort(x)
	n := float64(len(x))
	d := 0.0
	for i, v := range x {
		f := cdf(v)
		d = max(d, math.Abs(float64(i+1)/n-f), math.Abs(f-float64(i)/n))
	}
	return d
}

func gammaCDF(k, rate float64) func(float64) float64 {
	return func(x float64) float64 { return gammaP(k, x*k*rate) }
}

func TestGammaCDF(t *testing.T) {
	// Shape 1 is the exponential; shape 2 has CDF 1 - (1+x)e^-x.
	for _, x := range []float64{0.01, 0.5, 1, 2.5, 7, 30} {
		if got, want := gammaP(1, x), 1-math.Exp(-x); math.Abs(got-want) > 1e-12 {
			t.Errorf("P(1, %v) = %v, want %v", x, got, want)
		}
		if got, want := gammaP(2, x), 1-(1+x)*math.Exp(-x); math.Abs(got-want) > 1e-12 {
			t.Errorf("P(2, %v) = %v, want %v", x, got, want)
		}
	}
	// Shape 1/2: P(1/2, x) = erf(sqrt(x)).
	for _, x := range []float64{0.001, 0.3, 1.2, 4} {
		if got, want := gammaP(0.5, x), math.Erf(math.Sqrt(x)); math.Abs(got-want) > 1e-12 {
			t.Errorf("P(0.5, %v) = %v, want %v", x, got, want)
		}
	}
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func cv(v []float64) float64 {
	m := mean(v)
	ss := 0.0
	for _, x := range v {
		ss += (x - m) * (x - m)
	}
	return math.Sqrt(ss/float64(len(v)-1)) / m
}

// scheduledGaps are the gaps between the measured requests' schedules.
func scheduledGaps(res *Result) []float64 {
	recs := measured(res.Records)
	slices.SortFunc(recs, func(a, b *probe.Record) int { return a.Scheduled.Compare(b.Scheduled) })
	var gaps []float64
	for i := 1; i < len(recs); i++ {
		gaps = append(gaps, recs[i].Scheduled.Sub(recs[i-1].Scheduled).Seconds())
	}
	return gaps
}

// Gamma gaps of shape k have mean 1/rate and a coefficient of variation of
// 1/sqrt(k): burstier than Poisson below 1, more regular above.
func TestGammaArrivals(t *testing.T) {
	const rate = 1000.0
	for _, k := range []float64{0.5, 4} {
		for _, seed := range []int64{1, 2} {
			res := run(Options{Mode: ModeRate, Arrival: ArrivalGamma, Burstiness: k, Rates: []float64{rate},
				Duration: time.Second, Seed: seed, KeepRecords: true, LagThreshold: time.Second}, &fakeSender{})
			gaps := scheduledGaps(res)
			n := float64(len(gaps))
			if n < 800 || n > 1200 {
				t.Fatalf("k %v seed %d: %v arrivals in 1s at %v/s", k, seed, n, rate)
			}
			crit := 1.63 / math.Sqrt(n) // alpha = 0.01
			if d := ks(gaps, gammaCDF(k, rate)); d > crit {
				t.Errorf("k %v seed %d: KS statistic %.4f > %.4f against gamma(%v, 1/(%v·rate))", k, seed, d, crit, k, k)
			}
			// The test has power: the same gaps are not exponential.
			if d := ks(gaps, gammaCDF(1, rate)); d < crit {
				t.Errorf("k %v seed %d: KS cannot tell these gaps from Poisson's (%.4f)", k, seed, d)
			}
			if m := mean(gaps); math.Abs(m*rate-1) > 0.1 {
				t.Errorf("k %v seed %d: mean gap %.5fs, want about %.5fs", k, seed, m, 1/rate)
			}
			// CV's standard error at n=1000 is about 4% (k=4) to 5% (k=0.5).
			if c, want := cv(gaps), 1/math.Sqrt(k); math.Abs(c-want) > 0.15*want {
				t.Errorf("k %v seed %d: coefficient of variation %.3f, want about %.3f", k, seed, c, want)
			}
			if res.Context.Arrival != ArrivalGamma || res.Context.Burstiness != k {
				t.Errorf("context says arrival %q burstiness %v", res.Context.Arrival, res.Context.Burstiness)
			}
		}
	}
}

// The sampler itself, on many draws: the moments of gamma(k, 1).
func TestGammaDraw(t *testing.T) {
	for _, k := range []float64{0.05, 0.5, 1, 4, 50} {
		rng := rand.New(rand.NewPCG(3, 4))
		g := gaps{arrival: ArrivalGamma, k: k, rng: rng}
		v := make([]float64, 200000)
		for i := range v {
			v[i] = g.next()
		}
		if m := mean(v); math.Abs(m-1) > 0.02*math.Max(1, 1/math.Sqrt(k)) {
			t.Errorf("k %v: mean %.4f, want 1", k, m)
		}
		if c, want := cv(v), 1/math.Sqrt(k); math.Abs(c-want) > 0.03*want {
			t.Errorf("k %v: CV %.4f, want %.4f", k, c, want)
		}
		if d, crit := ks(v[:5000], func(x float64) float64 { return gammaP(k, x*k) }), 1.63/math.Sqrt(5000); d > crit {
			t.Errorf("k %v: KS %.4f > %.4f", k, d, crit)
		}
	}
}

func TestGammaRepeatable(t *testing.T) {
	sched := func(seed int64) []float64 {
		return scheduledGaps(run(Options{Mode: ModeRate, Arrival: ArrivalGamma, Burstiness: 0.3, Rates: []float64{300},
			Duration: 200 * time.Millisecond, Seed: seed, KeepRecords: true}, &fakeSender{}))
	}
	a, b, c := sched(5), sched(5), sched(6)
	if !slices.Equal(a, b) {
		t.Fatal("same seed, different schedules")
	}
	if slices.Equal(a, c) {
		t.Fatal("different seeds, same schedule")
	}
}

// drawSchedule takes arrivals from a step's schedule without running it.
func drawSchedule(t *testing.T, o Options, max int) []arrival {
	t.Helper()
	r, err := New(&fakeSender{}, fixedRequests{}, o, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	st := &stepRun{spec: stepSpec{index: 1, kind: StepRate, rate: r.stepRates()[0]}}
	sch := r.newSchedule(st)
	var out []arrival
	for len(out) < max {
		a, ok := sch.next()
		if !ok || (o.Duration > 0 && a.off >= o.Duration) {
			break
		}
		out = append(out, a)
	}
	return out
}

// A ramp's arrivals follow its integrated rate Λ: with constant spacing
// the k-th arrival is where k arrivals are due, so every window holds its
// share within one; with Poisson or gamma gaps each window's count is a
// draw around it, and the rescaled gaps Λ(t_i) − Λ(t_i−1) are the mean-1
// gaps the process drew (exponential, gamma), which KS checks.
func TestRampFollowsIntegratedRate(t *testing.T) {
	const d = 10.0 // seconds, never waited for: schedules are drawn directly
	for _, tc := range []rampCase{
		{"linear constant", Ramp{RampLinear, 5, 200}, ArrivalConstant, 0},
		{"linear down constant", Ramp{RampLinear, 200, 20}, ArrivalConstant, 0},
		{"exponential constant", Ramp{RampExponential, 2, 300}, ArrivalConstant, 0},
		{"linear from zero poisson", Ramp{RampLinear, 0, 300}, ArrivalPoisson, 0},
		{"exponential poisson", Ramp{RampExponential, 10, 400}, ArrivalPoisson, 0},
		{"linear gamma 0.5", Ramp{RampLinear, 20, 300}, ArrivalGamma, 0.5},
		{"exponential gamma 4", Ramp{RampExponential, 20, 300}, ArrivalGamma, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rp := tc.ramp
			o := Options{Mode: ModeRate, Ramp: &rp, Arrival: tc.arrival, Burstiness: tc.burstiness,
				Duration: time.Duration(d * float64(time.Second)), Seed: 11}
			arr := drawSchedule(t, o, 1<<20)
			total := rp.integral(d, d)
			k := tc.shape()
			if n := float64(len(arr)); math.Abs(n-total) > 1+5*math.Sqrt(total/k) {
				t.Fatalf("%v arrivals, want about Λ(d) = %.1f", n, total)
			}
			// Per window of 0.5 s: the count against Λ's increment.
			const win = 0.5
			counts := make([]int, int(d/win))
			for _, a := range arr {
				counts[min(int(a.off.Seconds()/win), len(counts)-1)]++
			}
			chi2 := 0.0
			for w, c := range counts {
				want := rp.integral(float64(w+1)*win, d) - rp.integral(float64(w)*win, d)
				if tc.arrival == ArrivalConstant {
					if math.Abs(float64(c)-want) > 1 {
						t.Errorf("window %d: %d arrivals, want %.2f ± 1", w, c, want)
					}
					continue
				}
				// Poisson counts have variance Λ; gamma renewals about Λ/k.
				sd := math.Sqrt(want / k)
				if math.Abs(float64(c)-want) > 5*sd+1 {
					t.Errorf("window %d: %d arrivals, want %.1f (sd %.1f)", w, c, want, sd)
				}
				chi2 += (float64(c) - want) * (float64(c) - want) / (sd * sd)
			}
			if tc.arrival != ArrivalConstant {
				// 20 windows: chi-square with 20 degrees of freedom has
				// p = 0.001 at 45.3 (gamma's variance is asymptotic, so a
				// little slack).
				if chi2 > 50 {
					t.Errorf("chi-square %.1f over %d windows: counts do not follow Λ", chi2, len(counts))
				}
				var rescaled []float64
				for i := 1; i < len(arr); i++ {
					rescaled = append(rescaled, rp.integral(arr[i].off.Seconds(), d)-rp.integral(arr[i-1].off.Seconds(), d))
				}
				crit := 1.63 / math.Sqrt(float64(len(rescaled)))
				if dks := ks(rescaled, gammaCDF(k, 1)); dks > crit {
					t.Errorf("rescaled gaps: KS %.4f > %.4f against gamma(%v) of mean 1", dks, crit, k)
				}
			}
			// Each arrival says the rate offered then.
			for _, a := range arr[1:] {
				if want := rp.rateAt(a.off.Seconds(), d); math.Abs(a.rate-want) > 1e-6*want+1e-9 {
					t.Fatalf("arrival at %v says rate %v, want %v", a.off, a.rate, want)
				}
			}
		})
	}
}

type rampCase struct {
	name       string
	ramp       Ramp
	arrival    string
	burstiness float64
}

// shape is the gamma shape of the case's gaps (1: exponential; constant
// gaps take it as 1 too, where only their count bound uses it).
func (tc rampCase) shape() float64 {
	if tc.arrival == ArrivalGamma {
		return tc.burstiness
	}
	return 1
}

// The ramp through a run: one step, its offered rate the ramp's mean, the
// context naming the ramp, the timeline's offered rate and the progress
// following it.
func TestRampRun(t *testing.T) {
	var mu sync.Mutex
	var entries []*Entry
	sink := sinkFunc(func(e *Entry) error { mu.Lock(); entries = append(entries, e); mu.Unlock(); return nil })
	rp := Ramp{Strategy: RampLinear, StartRate: 100, EndRate: 900}
	r, err := New(&fakeSender{latency: time.Millisecond}, fixedRequests{}, Options{Mode: ModeRate, Ramp: &rp,
		Duration: time.Second, KeepRecords: true, Sink: sink, LagThreshold: time.Second}, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	res := r.Run(context.Background())
	if len(res.Steps) != 1 {
		t.Fatalf("%d steps, want 1", len(res.Steps))
	}
	st := res.Steps[0]
	if st.OfferedRate != 500 || res.Context.Ramp == nil || res.Context.Ramp.MeanRate != 500 || res.Context.Ramp.Over != "duration" {
		t.Errorf("offered %v, context ramp %+v: want the mean 500 over the duration", st.OfferedRate, res.Context.Ramp)
	}
	if n := res.Summary.Requests; n < 499 || n > 501 {
		t.Errorf("%d requests, want Λ(1s) = 500", n)
	}
	// Constant spacing: in each tenth of a second the ramp's share.
	counts := make([]int, 10)
	for _, rec := range res.Records {
		counts[min(int(rec.Scheduled.Sub(st.Start).Seconds()*10), 9)]++
	}
	for w, c := range counts {
		want := rp.integral(float64(w+1)/10, 1) - rp.integral(float64(w)/10, 1)
		if math.Abs(float64(c)-want) > 1 {
			t.Errorf("tenth %d: %d arrivals, want %.1f", w, c, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(entries) != len(res.Records) {
		t.Fatalf("%d entries for %d requests", len(entries), len(res.Records))
	}
	for _, e := range entries {
		want := 100 + 800*e.Scheduled.Sub(st.Start).Seconds()
		if math.Abs(e.OfferedRate-want) > 0.01 {
			t.Fatalf("entry at %v offers %v, want %v", e.Scheduled.Sub(st.Start), e.OfferedRate, want)
		}
	}
	if p := r.Progress(); p.OfferedRate < 890 {
		t.Errorf("progress shows %.1f req/s at the end of the ramp", p.OfferedRate)
	}
}

type sinkFunc func(*Entry) error

func (f sinkFunc) WriteEntry(e *Entry) error { return f(e) }

// With a number of requests and no duration the ramp runs over the
// requests, as vLLM's does: request i's gap is drawn at the rate of
// progress i/(n-1).
func TestRampOverRequests(t *testing.T) {
	rp := Ramp{Strategy: RampExponential, StartRate: 50, EndRate: 800}
	const n = 200
	o := Options{Mode: ModeRate, Ramp: &rp, NumRequests: n}
	arr := drawSchedule(t, o, n)
	if len(arr) != n || arr[0].off != 0 {
		t.Fatalf("%d arrivals, first at %v", len(arr), arr[0].off)
	}
	for i := 1; i < n; i++ {
		rate := 50 * math.Pow(16, float64(i)/(n-1))
		gap := arr[i].off - arr[i-1].off
		if want := seconds(1 / rate); (gap - want).Abs() > time.Microsecond {
			t.Fatalf("gap before request %d: %v, want 1/%.1f = %v", i, gap, rate, want)
		}
		if math.Abs(arr[i].rate-rate) > 1e-9*rate {
			t.Fatalf("request %d offered at %v, want %v", i, arr[i].rate, rate)
		}
	}
	res := run(Options{Mode: ModeRate, Ramp: &rp, NumRequests: n, KeepRecords: true, LagThreshold: time.Second}, &fakeSender{})
	if res.Summary.Requests != n || res.Context.Ramp.Over != "requests" {
		t.Fatalf("%d requests, ramp over %q", res.Summary.Requests, res.Context.Ramp.Over)
	}
	span := arr[n-1].off.Seconds()
	if got := res.Context.Ramp.MeanRate; math.Abs(got-(n-1)/span) > 1e-6*got {
		t.Errorf("mean rate %v, want %v", got, (n-1)/span)
	}
}

func TestArrivalOptionsRefused(t *testing.T) {
	sec := time.Second
	ramp := &Ramp{StartRate: 1, EndRate: 10}
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Mode: ModeRate, Rates: []float64{1}, Duration: sec, Arrival: ArrivalGamma}, "gamma arrivals need a burstiness"},
		{Options{Mode: ModeRate, Rates: []float64{1}, Duration: sec, Arrival: ArrivalGamma, Burstiness: math.Inf(1)}, "gamma arrivals need a burstiness"},
		{Options{Mode: ModeRate, Rates: []float64{1}, Duration: sec, Arrival: ArrivalGamma, Burstiness: -1}, "gamma arrivals need a burstiness"},
		{Options{Mode: ModeRate, Rates: []float64{1}, Duration: sec, Arrival: ArrivalPoisson, Burstiness: 2}, "burstiness is only used with gamma arrivals"},
		{Options{Mode: ModeRate, Rates: []float64{1}, Duration: sec, Ramp: ramp}, "a ramp replaces the rates"},
		{Options{Mode: ModeSweep, Duration: sec, Ramp: ramp}, "a ramp is only used in rate mode"},
		{Options{Mode: ModeRate, Duration: sec, Warmup: sec, Ramp: ramp}, "a ramp has no warmup"},
		{Options{Mode: ModeRate, Duration: sec, Ramp: &Ramp{Strategy: "cubic", StartRate: 1, EndRate: 2}}, `unknown ramp strategy "cubic"`},
		{Options{Mode: ModeRate, Duration: sec, Ramp: &Ramp{Strategy: RampExponential, EndRate: 2}}, "an exponential ramp cannot start at rate 0"},
		{Options{Mode: ModeRate, Duration: sec, Ramp: &Ramp{StartRate: -1, EndRate: 2}}, "ramp start rate -1"},
		{Options{Mode: ModeRate, Duration: sec, Ramp: &Ramp{StartRate: 1}}, "ramp end rate 0"},
		{Options{Mode: ModeRate, Ramp: ramp}, "set a duration or a number of requests"},
	} {
		_, err := New(&fakeSender{}, fixedRequests{}, tc.o, Hooks{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.o, err, tc.want)
		}
	}
	// and what is accepted
	for _, o := range []Options{
		{Mode: ModeRate, Duration: sec, Ramp: &Ramp{EndRate: 5}},
		{Mode: ModeRate, NumRequests: 10, Ramp: &Ramp{Strategy: RampExponential, StartRate: 10, EndRate: 1}},
		{Mode: ModeSweep, Duration: sec, Arrival: ArrivalGamma, Burstiness: 0.25},
	} {
		if _, err := New(&fakeSender{}, fixedRequests{}, o, Hooks{}); err != nil {
			t.Errorf("%+v: %v", o, err)
		}
	}
}
