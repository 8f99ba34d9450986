package servermetrics

import (
	"math"
	"sort"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// Bucket is one bucket of a histogram in cumulative form: Cumulative
// observations were at most Upper; this bucket's own ones lie in (Lower, Upper].
type Bucket struct {
	Lower, Upper float64
	Cumulative   float64
}

// Native is a native (sparse, exponential) histogram's buckets: the absolute
// count of each bucket index at Schema, and the zero bucket.
type Native struct {
	Schema        int32
	ZeroThreshold float64
	ZeroCount     float64
	Positive      map[int]float64
	Negative      map[int]float64
}

// Hist is a histogram's state: its count and sum, and either classic
// cumulative buckets (sorted by upper bound, ending at +Inf) or Native ones.
type Hist struct {
	Count, Sum float64
	Classic    []Bucket // classic histograms (Native nil)
	Native     *Native  // native histograms
}

// Mean is Sum/Count; false when there are no observations.
func (h *Hist) Mean() (float64, bool) {
	if h == nil || h.Count <= 0 {
		return 0, false
	}
	return h.Sum / h.Count, true
}

// Buckets returns the cumulative buckets of either form, sorted.
func (h *Hist) Buckets() []Bucket {
	if h == nil {
		return nil
	}
	if h.Native == nil {
		return h.Classic
	}
	n := h.Native
	var out []Bucket
	cum := 0.0
	neg := sortedKeys(n.Negative)
	for i := len(neg) - 1; i >= 0; i-- { // most negative first
		lo, up := nativeBounds(n.Schema, neg[i])
		cum += n.Negative[neg[i]]
		out = append(out, Bucket{Lower: -up, Upper: -lo, Cumulative: cum})
	}
	if n.ZeroCount != 0 || n.ZeroThreshold != 0 {
		cum += n.ZeroCount
		out = append(out, Bucket{Lower: -n.ZeroThreshold, Upper: n.ZeroThreshold, Cumulative: cum})
	}
	for _, k := range sortedKeys(n.Positive) {
		lo, up := nativeBounds(n.Schema, k)
		cum += n.Positive[k]
		out = append(out, Bucket{Lower: lo, Upper: up, Cumulative: cum})
	}
	return out
}

// Quantile estimates the q-quantile (0 ≤ q ≤ 1) by linear interpolation within
// the bucket that holds it, as Prometheus' histogram_quantile does for classic
// buckets; false when there are no observations.
func (h *Hist) Quantile(q float64) (float64, bool) {
	bs := h.Buckets()
	if len(bs) == 0 || math.IsNaN(q) {
		return 0, false
	}
	total := bs[len(bs)-1].Cumulative
	if h.Native == nil && h.Count > total {
		total = h.Count
	}
	if !(total > 0) {
		return 0, false
	}
	q = math.Max(0, math.Min(1, q))
	rank := q * total
	prev := 0.0
	for _, b := range bs {
		if b.Cumulative >= rank && b.Cumulative > prev {
			if math.IsInf(b.Upper, 1) {
				return b.Lower, true
			}
			if math.IsInf(b.Lower, -1) {
				return b.Upper, true
			}
			return b.Lower + (b.Upper-b.Lower)*(rank-prev)/(b.Cumulative-prev), true
		}
		prev = b.Cumulative
	}
	last := bs[len(bs)-1]
	if math.IsInf(last.Upper, 1) {
		return last.Lower, true
	}
	return last.Upper, true
}

// nativeBounds is the (lower, upper] range of positive bucket index i at a schema.
func nativeBounds(schema int32, i int) (float64, float64) {
	f := math.Exp2(-float64(schema))
	return math.Exp2(float64(i-1) * f), math.Exp2(float64(i) * f)
}

func sortedKeys(m map[int]float64) []int {
	ks := make([]int, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	return ks
}

// Snapshot is the vocabulary's values on one page at one time.
type Snapshot struct {
	Time   time.Time
	Server Server
	Values map[string]float64  // gauges and counters, by our name
	Hists  map[string]*Hist    // histograms, by our name
	Source map[string][]string // our name: the server's families it was read from
}

// FromFamilies reads a parsed page into the vocabulary of Table. Auto (or "")
// detects the server from the names present.
func FromFamilies(fams map[string]*dto.MetricFamily, server Server, at time.Time) Snapshot {
	return fromFamilies(Table, fams, server, at)
}

func fromFamilies(table []Row, fams map[string]*dto.MetricFamily, server Server, at time.Time) Snapshot {
	if server == "" || server == Auto {
		server = Detect(fams)
	}
	s := Snapshot{Time: at, Server: server, Values: map[string]float64{}, Hists: map[string]*Hist{}, Source: map[string][]string{}}
	names, rows := rowsFor(table, server)
	for _, name := range names {
		for _, r := range rows[name] {
			if !allPresent(fams, r.Metrics) {
				continue
			}
			if r.Kind == Histogram {
				h := readHist(fams[r.Metrics[0]])
				if h == nil {
					continue
				}
				scaleHist(h, r.scale())
				s.Hists[name] = h
			} else {
				v, ok := 0.0, true
				for _, m := range r.Metrics {
					x, good := readValue(fams[m], r)
					ok = ok && good
					v += x
				}
				if !ok {
					continue
				}
				s.Values[name] = v * r.scale()
			}
			s.Source[name] = r.Metrics
			break
		}
	}
	return s
}

func allPresent(fams map[string]*dto.MetricFamily, names []string) bool {
	for _, n := range names {
		if f, ok := fams[n]; !ok || len(f.GetMetric()) == 0 {
			return false
		}
	}
	return len(names) > 0
}

// readValue combines a family's series into one number, as the row says.
func readValue(f *dto.MetricFamily, r Row) (float64, bool) {
	sum, n := 0.0, 0
	for _, m := range f.GetMetric() {
		var v float64
		switch {
		case r.Use == HistSum && m.GetHistogram() != nil:
			v = m.GetHistogram().GetSampleSum()
		case r.Use == HistSum && m.GetSummary() != nil:
			v = m.GetSummary().GetSampleSum()
		case r.Use == HistSum:
			continue
		case m.GetGauge() != nil:
			v = m.GetGauge().GetValue()
		case m.GetCounter() != nil:
			v = m.GetCounter().GetValue()
		case m.GetUntyped() != nil:
			v = m.GetUntyped().GetValue()
		default:
			continue
		}
		sum += v
		n++
	}
	if n == 0 {
		return 0, false
	}
	if r.Agg == Mean {
		return sum / float64(n), true
	}
	return sum, true
}

// readHist adds up a family's histogram series (native when the series carry
// native buckets, classic otherwise).
func readHist(f *dto.MetricFamily) *Hist {
	var out *Hist
	for _, m := range f.GetMetric() {
		dh := m.GetHistogram()
		if dh == nil {
			continue
		}
		h := fromDTO(dh)
		if out == nil {
			out = h
			continue
		}
		out = addHist(out, h, 1)
	}
	return out
}

func isNative(h *dto.Histogram) bool {
	return h.Schema != nil || h.ZeroThreshold != nil || len(h.GetPositiveSpan()) > 0 || len(h.GetNegativeSpan()) > 0
}

func fromDTO(h *dto.Histogram) *Hist {
	out := &Hist{Sum: h.GetSampleSum(), Count: float64(h.GetSampleCount())}
	if h.SampleCountFloat != nil {
		out.Count = h.GetSampleCountFloat()
	}
	if isNative(h) {
		n := &Native{Schema: h.GetSchema(), ZeroThreshold: h.GetZeroThreshold(), ZeroCount: float64(h.GetZeroCount())}
		if h.ZeroCountFloat != nil {
			n.ZeroCount = h.GetZeroCountFloat()
		}
		n.Positive = spans(h.GetPositiveSpan(), h.GetPositiveDelta(), h.GetPositiveCount())
		n.Negative = spans(h.GetNegativeSpan(), h.GetNegativeDelta(), h.GetNegativeCount())
		out.Native = n
		return out
	}
	byBound := map[float64]float64{}
	for _, b := range h.GetBucket() {
		c := float64(b.GetCumulativeCount())
		if b.CumulativeCountFloat != nil {
			c = b.GetCumulativeCountFloat()
		}
		byBound[b.GetUpperBound()] = c
	}
	if _, ok := byBound[math.Inf(1)]; !ok {
		byBound[math.Inf(1)] = out.Count
	}
	out.Classic = classic(byBound)
	return out
}

// classic builds sorted cumulative buckets from upper bound → cumulative count;
// the first bucket's lower bound is 0 when its upper bound is positive.
func classic(byBound map[float64]float64) []Bucket {
	bounds := make([]float64, 0, len(byBound))
	for b := range byBound {
		if !math.IsNaN(b) {
			bounds = append(bounds, b)
		}
	}
	sort.Float64s(bounds)
	out := make([]Bucket, 0, len(bounds))
	lower := math.Inf(-1)
	if len(bounds) > 0 && bounds[0] > 0 {
		lower = 0
	}
	for _, b := range bounds {
		out = append(out, Bucket{Lower: lower, Upper: b, Cumulative: byBound[b]})
		lower = b
	}
	return out
}

// spans turns native spans with deltas (integer histograms) or absolute
// counts (float histograms) into bucket index → count.
func spans(ss []*dto.BucketSpan, deltas []int64, counts []float64) map[int]float64 {
	out := map[int]float64{}
	idx, k, abs := 0, 0, int64(0)
	for si, s := range ss {
		if si == 0 {
			idx = int(s.GetOffset())
		} else {
			idx += int(s.GetOffset())
		}
		for j := uint32(0); j < s.GetLength(); j++ {
			switch {
			case len(counts) > 0 && k < len(counts):
				out[idx] += counts[k]
			case len(counts) == 0 && k < len(deltas):
				abs += deltas[k]
				out[idx] += float64(abs)
			default:
				return out
			}
			k++
			idx++
		}
	}
	return out
}

func scaleHist(h *Hist, f float64) {
	if f == 1 {
		return
	}
	h.Sum *= f
	for i := range h.Classic {
		h.Classic[i].Lower *= f
		h.Classic[i].Upper *= f
	}
	if h.Native != nil {
		// A native histogram's bounds are fixed by its schema; a scaled one is
		// kept as classic buckets.
		h.Classic = h.Buckets()
		for i := range h.Classic {
			h.Classic[i].Lower *= f
			h.Classic[i].Upper *= f
		}
		h.Native = nil
	}
}

// addHist returns a + sign·b (sign -1 for a delta); nil when their layouts
// cannot be combined (classic against native, or different classic bounds when
// subtracting).
func addHist(a, b *Hist, sign float64) *Hist {
	out := &Hist{Count: a.Count + sign*b.Count, Sum: a.Sum + sign*b.Sum}
	switch {
	case a.Native == nil && b.Native == nil:
		m := map[float64]float64{}
		for _, x := range a.Classic {
			m[x.Upper] = x.Cumulative
		}
		if sign < 0 && len(a.Classic) != len(b.Classic) {
			return nil
		}
		for _, x := range b.Classic {
			if _, ok := m[x.Upper]; !ok && sign < 0 {
				return nil
			}
			m[x.Upper] += sign * x.Cumulative
		}
		out.Classic = classic(m)
	case a.Native != nil && b.Native != nil:
		schema := min(a.Native.Schema, b.Native.Schema)
		an, bn := downscale(a.Native, schema), downscale(b.Native, schema)
		n := &Native{Schema: schema, ZeroThreshold: max(an.ZeroThreshold, bn.ZeroThreshold),
			ZeroCount: an.ZeroCount + sign*bn.ZeroCount, Positive: map[int]float64{}, Negative: map[int]float64{}}
		for _, p := range []struct{ dst, x, y map[int]float64 }{{n.Positive, an.Positive, bn.Positive}, {n.Negative, an.Negative, bn.Negative}} {
			for k, v := range p.x {
				p.dst[k] += v
			}
			for k, v := range p.y {
				p.dst[k] += sign * v
			}
			for k, v := range p.dst {
				if v == 0 {
					delete(p.dst, k)
				}
			}
		}
		out.Native = n
	default:
		return nil
	}
	return out
}

// downscale merges a native histogram's buckets to a lower schema.
func downscale(n *Native, schema int32) *Native {
	if n.Schema <= schema {
		return n
	}
	d := uint(n.Schema - schema)
	out := &Native{Schema: schema, ZeroThreshold: n.ZeroThreshold, ZeroCount: n.ZeroCount, Positive: map[int]float64{}, Negative: map[int]float64{}}
	for k, v := range n.Positive {
		out.Positive[((k-1)>>d)+1] += v
	}
	for k, v := range n.Negative {
		out.Negative[((k-1)>>d)+1] += v
	}
	return out
}

// negative reports whether any count of a delta histogram went below zero.
func (h *Hist) negative() bool {
	if h.Count < 0 {
		return true
	}
	if h.Native != nil {
		if h.Native.ZeroCount < 0 {
			return true
		}
		for _, m := range []map[int]float64{h.Native.Positive, h.Native.Negative} {
			for _, v := range m {
				if v < 0 {
					return true
				}
			}
		}
		return false
	}
	for _, b := range h.Classic {
		if b.Cumulative < 0 {
			return true
		}
	}
	return false
}

// Window is what happened on the server between two snapshots.
type Window struct {
	From, To time.Time
	Server   Server
	Gauges   map[string]float64 // the later snapshot's gauges
	Increase map[string]float64 // counters' increases; after a reset, the later value (counted from the restart)
	Hists    map[string]*Hist   // histograms of the observations made within the window
	Resets   []string           // our names whose counter or histogram went backwards: the server restarted
}

// Delta is the window between two snapshots of the same server. A counter or
// histogram that went backwards is a reset (a restart): it is named in Resets and
// its later value stands for the window, never a negative increase. Names
// missing from either snapshot are left out.
func Delta(before, after Snapshot) Window {
	w := Window{From: before.Time, To: after.Time, Server: after.Server,
		Gauges: map[string]float64{}, Increase: map[string]float64{}, Hists: map[string]*Hist{}}
	kinds := Names()
	for name, v := range after.Values {
		if kinds[name] != Counter {
			w.Gauges[name] = v
			continue
		}
		b, ok := before.Values[name]
		if !ok {
			continue
		}
		if v < b {
			w.Resets = append(w.Resets, name)
			w.Increase[name] = v
			continue
		}
		w.Increase[name] = v - b
	}
	for name, h := range after.Hists {
		b, ok := before.Hists[name]
		if !ok {
			continue
		}
		d := addHist(h, b, -1)
		if d == nil || d.negative() { // went backwards, or its buckets changed: a restart
			w.Resets = append(w.Resets, name)
			d = h
		}
		w.Hists[name] = d
	}
	sort.Strings(w.Resets)
	return w
}
