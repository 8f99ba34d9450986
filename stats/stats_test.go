package stats

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestFitExactLine(t *testing.T) {
	xs := []float64{0, 1, 2, 3, 4}
	ys := []float64{1, 3, 5, 7, 9}
	l := Fit(xs, ys)
	if l.N != 5 || l.Slope != 2 || l.Intercept != 1 || l.SlopeLo != 2 || l.SlopeHi != 2 {
		t.Fatalf("Fit = %+v, want slope 2, intercept 1, zero-width interval", l)
	}
	if !l.Rising() || l.Falling() {
		t.Fatalf("an exact rising line: Rising %v Falling %v", l.Rising(), l.Falling())
	}
}

// A hand-computed case: xs 1..5, ys 2,4,5,4,5 gives slope 0.6, intercept
// 2.2, SSE 2.4, se = sqrt(2.4/3/10) = 0.28284, t(3) = 3.182.
func TestFitInterval(t *testing.T) {
	l := Fit([]float64{1, 2, 3, 4, 5}, []float64{2, 4, 5, 4, 5})
	near := func(got, want float64) bool { return math.Abs(got-want) < 1e-4 }
	h := 3.182 * math.Sqrt(2.4/3/10)
	if !near(l.Slope, 0.6) || !near(l.Intercept, 2.2) || !near(l.SlopeLo, 0.6-h) || !near(l.SlopeHi, 0.6+h) {
		t.Fatalf("Fit = %+v, want slope 0.6 ± %.4f, intercept 2.2", l, h)
	}
	if l.Rising() {
		t.Fatalf("slope 0.6 ± %.2f includes 0: not rising", h)
	}
}

func TestFitNoiseIsNotATrend(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	rising := 0
	for trial := range 200 {
		_ = trial
		var xs, ys []float64
		for i := range 100 {
			xs = append(xs, float64(i))
			ys = append(ys, 100+rng.NormFloat64()*10)
		}
		if Fit(xs, ys).Rising() {
			rising++
		}
	}
	// A one-sided 2.5 % false positive rate: about 5 in 200, never 20.
	if rising > 15 {
		t.Fatalf("flat noise read as rising in %d of 200 trials", rising)
	}
	var xs, ys []float64
	for i := range 100 {
		xs = append(xs, float64(i))
		ys = append(ys, 100+0.5*float64(i)+rng.NormFloat64()*10)
	}
	if l := Fit(xs, ys); !l.Rising() || l.Slope < 0.3 || l.Slope > 0.7 {
		t.Fatalf("a 0.5/step trend under noise: %+v", l)
	}
}

func TestFitDegenerate(t *testing.T) {
	for name, c := range map[string][2][]float64{
		"empty":      {nil, nil},
		"two points": {{0, 1}, {0, 5}},
		"same x":     {{2, 2, 2}, {1, 2, 3}},
		"nan":        {{0, 1, math.NaN(), 3}, {0, 1, 2, math.Inf(1)}},
	} {
		l := Fit(c[0], c[1])
		if l.Rising() || l.Falling() {
			t.Errorf("%s: %+v claims a trend", name, l)
		}
	}
	if l := Fit([]float64{0, 1}, []float64{0, 5}); l.Slope != 5 {
		t.Errorf("two points: slope %v, want 5", l.Slope)
	}
}

func TestT975(t *testing.T) {
	for _, c := range []struct {
		df   int
		want float64
	}{{1, 12.706}, {10, 2.228}, {30, 2.042}, {31, 2.039513}, {35, 2.030108}, {40, 2.021075}, {60, 2.000298}, {120, 1.979930}, {1000, 1.962339}, {100000, 1.959988}} {
		// Exact quantiles to 6 digits past 30: the expansion's every term
		// counts at that precision.
		tol := 0.0005
		if c.df > 30 {
			tol = 2e-6
		}
		if got := T975(c.df); math.Abs(got-c.want) > tol {
			t.Errorf("T975(%d) = %.4f, want %.3f", c.df, got, c.want)
		}
	}
	if !math.IsInf(T975(0), 1) {
		t.Error("T975(0) must be +Inf")
	}
}

func TestQuantile(t *testing.T) {
	v := []float64{10, 20, 30, 40}
	for _, c := range []struct{ q, want float64 }{{0, 10}, {1, 40}, {0.5, 25}, {1.0 / 3, 20}, {0.9, 37}} {
		if got := Quantile(v, c.q); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("Quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if got := Quantile(v, -1); got != 10 {
		t.Errorf("Quantile(-1) = %v, want the minimum", got)
	}
	if got := Quantile(v, 2); got != 40 {
		t.Errorf("Quantile(2) = %v, want the maximum", got)
	}
	if got := Quantile([]float64{7}, 0.5); got != 7 {
		t.Errorf("Quantile of one value = %v", got)
	}
	if !math.IsNaN(Quantile(nil, 0.5)) {
		t.Error("Quantile of nothing must be NaN")
	}
}

// Three points are the fewest with an interval; two have none, and a trend
// needs the whole interval on one side of 0.
func TestTrendBoundaries(t *testing.T) {
	three := Fit([]float64{0, 1, 2}, []float64{0, 1, 2.5})
	if math.IsInf(three.SlopeLo, 0) || math.IsInf(three.SlopeHi, 0) || three.SlopeLo >= three.Slope {
		t.Fatalf("three points: %+v, want a finite interval around the slope", three)
	}
	exact := Fit([]float64{0, 1, 2}, []float64{0, 1, 2})
	if !exact.Rising() {
		t.Errorf("an exact rising line of three points: %+v not rising", exact)
	}
	if down := Fit([]float64{0, 1, 2}, []float64{2, 1, 0}); !down.Falling() || down.Rising() {
		t.Errorf("an exact falling line of three points: %+v", down)
	}
	two := Fit([]float64{0, 1}, []float64{0, 5})
	if !math.IsInf(two.SlopeLo, -1) || !math.IsInf(two.SlopeHi, 1) {
		t.Errorf("two points: interval [%v, %v], want (-Inf, +Inf)", two.SlopeLo, two.SlopeHi)
	}
	for _, c := range []struct {
		l               Line
		rising, falling bool
	}{
		{Line{N: 5, SlopeLo: 0, SlopeHi: 1}, false, false},
		{Line{N: 5, SlopeLo: -1, SlopeHi: 0}, false, false},
		{Line{N: 5, SlopeLo: 1e-12, SlopeHi: 1}, true, false},
		{Line{N: 5, SlopeLo: -1, SlopeHi: -1e-12}, false, true},
		{Line{N: 2, SlopeLo: 1, SlopeHi: 2}, false, false},
		{Line{N: 2, SlopeLo: -2, SlopeHi: -1}, false, false},
		{Line{N: 3, SlopeLo: 1, SlopeHi: 2}, true, false},
		{Line{N: 3, SlopeLo: -2, SlopeHi: -1}, false, true},
	} {
		if c.l.Rising() != c.rising || c.l.Falling() != c.falling {
			t.Errorf("%+v: Rising %v Falling %v, want %v %v", c.l, c.l.Rising(), c.l.Falling(), c.rising, c.falling)
		}
	}
	if at := (Line{Slope: 2, Intercept: 1}).At(3); at != 7 {
		t.Errorf("At(3) = %v, want 7", at)
	}
}
