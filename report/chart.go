package report

import (
	"math"
	"slices"
	"strconv"
)

// MaxLinePoints bounds the points of one drawn line: a four-hour soak's GPU
// samples (one a second) would otherwise make megabyte SVGs and a slow
// report. Longer lines are downsampled keeping each bucket's minimum and
// maximum, so spikes stay visible.
const MaxLinePoints = 2000

// Chart is one chart's data: what is drawn, and what the report embeds as
// JSON beside the SVG, so a reader (or a test) can check the picture
// against the procedure it came from.
type Chart struct {
	ID     string `json:"id"`
	Title  string `json:"title"`
	XLabel string `json:"x_label"`
	// Panels are stacked top to bottom and share the x axis (a second y
	// axis, without two scales on one frame).
	Panels []Panel `json:"panels"`
	// Note says what the reader should know: a fallback taken, lines
	// downsampled.
	Note string `json:"note,omitempty"`
	// Empty says why the chart is not drawn (no data); the report shows
	// it in the chart's place.
	Empty string `json:"empty,omitempty"`
	// ZeroX starts the x axis at zero (rates).
	ZeroX bool `json:"-"`
}

// Panel is one frame of a chart with its own y axis.
type Panel struct {
	YLabel string   `json:"y_label"`
	Series []Series `json:"series"`
	Marks  []Mark   `json:"marks,omitempty"`
	// ZeroY starts the y axis at zero (rates, latencies, ratios).
	ZeroY bool `json:"-"`
}

// Series is one line or set of points.
type Series struct {
	Name string `json:"name"`
	// Group picks the colour: series of one group (a GPU's segments, one
	// procedure of a comparison) share it. Empty: Name.
	Group  string       `json:"group,omitempty"`
	Line   bool         `json:"line"`
	Glyphs bool         `json:"glyphs"`
	Dashed bool         `json:"dashed,omitempty"`
	Points [][2]float64 `json:"points"`
	// SourcePoints is the number of points before downsampling, when
	// the series was downsampled.
	SourcePoints int `json:"source_points,omitempty"`
}

// Mark is a labelled vertical line at X, or a highlighted point at (X, Y).
type Mark struct {
	Name string   `json:"name"`
	X    float64  `json:"x"`
	Y    *float64 `json:"y,omitempty"`
}

func (c *Chart) points() int {
	n := 0
	for _, p := range c.Panels {
		for _, s := range p.Series {
			n += len(s.Points)
		}
	}
	return n
}

func (s Series) group() string {
	if s.Group != "" {
		return s.Group
	}
	return s.Name
}

// finite reports whether a point can be drawn and encoded as JSON.
func finite(x, y float64) bool {
	return !math.IsNaN(x) && !math.IsNaN(y) && !math.IsInf(x, 0) && !math.IsInf(y, 0)
}

// downsample returns at most limit points of pts (sorted by x): in each of
// limit/2 buckets the minimum and the maximum, in x order. The first and last
// points are always kept. It reports whether it dropped any.
func downsample(pts [][2]float64, limit int) ([][2]float64, bool) {
	limit = max(limit, 4)
	if len(pts) <= limit {
		return pts, false
	}
	buckets := limit / 2
	out := make([][2]float64, 0, limit)
	n := len(pts)
	for b := range buckets {
		lo, hi := b*n/buckets, (b+1)*n/buckets
		if lo >= hi {
			continue
		}
		iMin, iMax := lo, lo
		for i := lo; i < hi; i++ {
			if pts[i][1] < pts[iMin][1] {
				iMin = i
			}
			if pts[i][1] > pts[iMax][1] {
				iMax = i
			}
		}
		// The ends of the line stay where they are, whatever the values.
		if b == 0 {
			iMin = lo
		}
		if b == buckets-1 {
			iMax = hi - 1
		}
		first, second := min(iMin, iMax), max(iMin, iMax)
		out = append(out, pts[first])
		if second != first {
			out = append(out, pts[second])
		}
	}
	return out, true
}

// line builds a series from pts, sorted by x, non-finite points dropped and
// downsampled to MaxLinePoints.
func line(name string, pts [][2]float64) Series {
	pts = slices.DeleteFunc(slices.Clone(pts), func(p [2]float64) bool { return !finite(p[0], p[1]) })
	slices.SortStableFunc(pts, func(a, b [2]float64) int {
		switch {
		case a[0] < b[0]:
			return -1
		case a[0] > b[0]:
			return 1
		}
		return 0
	})
	s := Series{Name: name, Line: true, Points: pts}
	if d, ok := downsample(pts, MaxLinePoints); ok {
		s.SourcePoints = len(pts)
		s.Points = d
	}
	if s.Points == nil {
		s.Points = [][2]float64{}
	}
	return s
}

// splitGaps cuts sorted points into segments where consecutive x differ by
// more than gap, so a line does not bridge the time between two runs.
func splitGaps(pts [][2]float64, gap float64) [][][2]float64 {
	var segs [][][2]float64
	start := 0
	for i := 1; i <= len(pts); i++ {
		if i == len(pts) || (gap > 0 && pts[i][0]-pts[i-1][0] > gap) {
			if i > start {
				segs = append(segs, pts[start:i])
			}
			start = i
		}
	}
	return segs
}

func ptr(v float64) *float64 { return &v }

// Precision is the significant digits kept of every plotted value: more
// than a chart can show, and it halves the JSON a long soak embeds.
const Precision = 6

func round(v float64) float64 {
	if v == 0 || !finite(v, 0) {
		return v
	}
	r, err := strconv.ParseFloat(strconv.FormatFloat(v, 'g', Precision, 64), 64)
	if err != nil {
		return v
	}
	return r
}

// round rounds every value of c to Precision digits, before it is both
// drawn and embedded, so the two agree.
func (c *Chart) round() {
	for i := range c.Panels {
		pn := &c.Panels[i]
		for j := range pn.Series {
			for k, pt := range pn.Series[j].Points {
				pn.Series[j].Points[k] = [2]float64{round(pt[0]), round(pt[1])}
			}
		}
		for j := range pn.Marks {
			m := &pn.Marks[j]
			m.X = round(m.X)
			if m.Y != nil {
				m.Y = ptr(round(*m.Y))
			}
		}
	}
}
