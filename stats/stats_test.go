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
	}{{1, 12.706}, {10, 2.228}, {30, 2.042}, {40, 2.021}, {60, 2.000}, {120, 1.980}, {100000, 1.960}} {
		if got := T975(c.df); math.Abs(got-c.want) > 0.0015 {
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
	if !math.IsNaN(Quantile(nil, 0.5)) {
		t.Error("Quantile of nothing must be NaN")
	}
}
