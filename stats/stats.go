// Package stats holds the few statistics the verdicts need: a least-squares
// line with a confidence interval on its slope, so that "latency drifts" or
// "memory grows" is said only when the data support it, not when noise
// happens to tilt a line.
package stats

import "math"

// Line is a least-squares fit y = Intercept + Slope*x over N points, with the
// two-sided 95 % confidence interval of the slope [SlopeLo, SlopeHi] (from the
// residuals' standard error and Student's t with N-2 degrees of freedom).
type Line struct {
	N         int     `json:"n"`
	Slope     float64 `json:"slope"`
	Intercept float64 `json:"intercept"`
	SlopeLo   float64 `json:"slope_lo"`
	SlopeHi   float64 `json:"slope_hi"`
}

// Rising reports whether the slope is positive with 95 % confidence.
func (l Line) Rising() bool { return l.N >= 3 && l.SlopeLo > 0 }

// Falling reports whether the slope is negative with 95 % confidence.
func (l Line) Falling() bool { return l.N >= 3 && l.SlopeHi < 0 }

// At is the fitted value at x.
func (l Line) At(x float64) float64 { return l.Intercept + l.Slope*x }

// Fit fits a line through (xs[i], ys[i]); NaN and infinite points are
// skipped. With fewer than 3 usable points, or all xs equal, the slope's
// interval is (-Inf, +Inf): Rising and Falling are false.
func Fit(xs, ys []float64) Line {
	n := min(len(xs), len(ys))
	var sx, sy float64
	k := 0
	for i := range n {
		if bad(xs[i]) || bad(ys[i]) {
			continue
		}
		sx += xs[i]
		sy += ys[i]
		k++
	}
	l := Line{N: k}
	if k == 0 {
		return l
	}
	mx, my := sx/float64(k), sy/float64(k)
	var sxx, sxy float64
	for i := range n {
		if bad(xs[i]) || bad(ys[i]) {
			continue
		}
		dx := xs[i] - mx
		sxx += dx * dx
		sxy += dx * (ys[i] - my)
	}
	if sxx == 0 {
		l.Intercept = my
		l.SlopeLo, l.SlopeHi = math.Inf(-1), math.Inf(1)
		return l
	}
	l.Slope = sxy / sxx
	l.Intercept = my - l.Slope*mx
	if k < 3 {
		l.SlopeLo, l.SlopeHi = math.Inf(-1), math.Inf(1)
		return l
	}
	var sse float64
	for i := range n {
		if bad(xs[i]) || bad(ys[i]) {
			continue
		}
		r := ys[i] - l.At(xs[i])
		sse += r * r
	}
	se := math.Sqrt(sse / float64(k-2) / sxx)
	h := T975(k-2) * se
	l.SlopeLo, l.SlopeHi = l.Slope-h, l.Slope+h
	return l
}

func bad(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }

// t975 holds Student's t 0.975 quantiles for 1..30 degrees of freedom.
var t975 = [...]float64{
	12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
	2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
	2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
}

// T975 is the 0.975 quantile of Student's t with df degrees of freedom (the
// half-width factor of a two-sided 95 % interval). Beyond 30 it uses the
// Cornish-Fisher expansion around the normal quantile, within 0.001 of the
// exact value.
func T975(df int) float64 {
	switch {
	case df < 1:
		return math.Inf(1)
	case df <= len(t975):
		return t975[df-1]
	}
	const z = 1.959963984540054
	d := float64(df)
	g1 := (z*z*z + z) / 4
	g2 := (5*math.Pow(z, 5) + 16*z*z*z + 3*z) / 96
	g3 := (3*math.Pow(z, 7) + 19*math.Pow(z, 5) + 17*z*z*z - 15*z) / 384
	return z + g1/d + g2/(d*d) + g3/(d*d*d)
}

// Quantile is the q-quantile (0..1) of sorted values by linear
// interpolation between closest ranks; NaN for none.
func Quantile(sorted []float64, q float64) float64 {
	n := len(sorted)
	if n == 0 {
		return math.NaN()
	}
	pos := min(max(q, 0), 1) * float64(n-1)
	lo := int(pos)
	if lo >= n-1 {
		return sorted[n-1]
	}
	f := pos - float64(lo)
	return sorted[lo]*(1-f) + sorted[lo+1]*f
}
