package report

import (
	"bytes"
	"cmp"
	"fmt"
	"image/color"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Chart sizes: wide enough for a laptop screen and a chat window, one
// panel's height per stacked panel.
const (
	chartWidth  = 9 * vg.Inch
	panelHeight = 3.2 * vg.Inch
	pngDPI      = 110
)

// palette is colour-blind safe (Okabe and Ito) and prints in grey.
var palette = []color.Color{
	color.RGBA{0, 114, 178, 255},   // blue
	color.RGBA{213, 94, 0, 255},    // vermillion
	color.RGBA{0, 158, 115, 255},   // green
	color.RGBA{204, 121, 167, 255}, // purple
	color.RGBA{230, 159, 0, 255},   // orange
	color.RGBA{86, 180, 233, 255},  // sky blue
	color.RGBA{0, 0, 0, 255},       // black
}

var markColor = color.RGBA{200, 30, 30, 255}

// sans: gonum's default is Liberation Serif; the report's page is sans.
var sans = font.Font{Typeface: "Liberation", Variant: "Sans"}

// rendered is a chart drawn: an SVG to inline and a PNG to paste.
type rendered struct {
	SVG []byte
	PNG []byte
}

// render draws c as SVG and PNG. A panic inside the plotting library (it
// panics on some inputs rather than returning errors) becomes an error:
// no procedure file may crash the report.
func render(c *Chart) (out rendered, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("chart %s: %v", c.ID, r)
		}
	}()
	plots, err := plots(c)
	if err != nil {
		return rendered{}, err
	}
	h := panelHeight * vg.Length(len(plots))
	svg := vgsvg.New(chartWidth, h)
	drawAll(plots, draw.New(svg))
	var sb bytes.Buffer
	if _, err := svg.WriteTo(&sb); err != nil {
		return rendered{}, fmt.Errorf("chart %s: svg: %w", c.ID, err)
	}
	img := vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(chartWidth, h), vgimg.UseDPI(pngDPI), vgimg.UseBackgroundColor(color.White))}
	drawAll(plots, draw.New(img))
	var pb bytes.Buffer
	if _, err := img.WriteTo(&pb); err != nil {
		return rendered{}, fmt.Errorf("chart %s: png: %w", c.ID, err)
	}
	return rendered{SVG: inlineSVG(sb.Bytes(), c), PNG: pb.Bytes()}, nil
}

func drawAll(plots []*plot.Plot, dc draw.Canvas) {
	if len(plots) == 1 {
		plots[0].Draw(dc)
		return
	}
	col := make([][]*plot.Plot, len(plots))
	for i, p := range plots {
		col[i] = []*plot.Plot{p}
	}
	cs := plot.Align(col, draw.Tiles{Rows: len(plots), Cols: 1, PadY: vg.Points(6), PadTop: vg.Points(2), PadBottom: vg.Points(2)}, dc)
	for i, p := range plots {
		p.Draw(cs[i][0])
	}
}

// inlineSVG makes vgsvg's document an element for the page: no XML
// prologue, an id, scalable with the page.
func inlineSVG(b []byte, c *Chart) []byte {
	s := string(b)
	if i := strings.Index(s, "<svg"); i >= 0 {
		s = s[i:]
	}
	s = strings.Replace(s, "<svg ", fmt.Sprintf(`<svg id="svg-%s" class="chart-svg" role="img" aria-label="%s" `, c.ID, htmlAttr(c.Title)), 1)
	return []byte(s)
}

func htmlAttr(s string) string {
	return strings.NewReplacer("&", "&amp;", `"`, "&quot;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func style(p *plot.Plot) {
	for _, s := range []*text.Style{&p.Title.TextStyle, &p.X.Label.TextStyle, &p.Y.Label.TextStyle, &p.X.Tick.Label, &p.Y.Tick.Label, &p.Legend.TextStyle} {
		s.Font.Typeface, s.Font.Variant = sans.Typeface, sans.Variant
	}
	p.Title.TextStyle.Font.Size = vg.Points(13)
	p.X.Label.TextStyle.Font.Size = vg.Points(11)
	p.Y.Label.TextStyle.Font.Size = vg.Points(11)
	p.Legend.TextStyle.Font.Size = vg.Points(9)
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(6), vg.Points(-4)
	p.Legend.ThumbnailWidth = vg.Points(16)
}

// plots builds one gonum plot per panel, sharing the x range.
func plots(c *Chart) ([]*plot.Plot, error) {
	if len(c.Panels) == 0 {
		return nil, fmt.Errorf("chart %s: nothing to draw", c.ID)
	}
	colors := map[string]color.Color{}
	colorOf := func(group string) color.Color {
		if col, ok := colors[group]; ok {
			return col
		}
		col := palette[len(colors)%len(palette)]
		colors[group] = col
		return col
	}
	xmin, xmax := math.Inf(1), math.Inf(-1)
	var out []*plot.Plot
	for i, pn := range c.Panels {
		p := plot.New()
		style(p)
		if i == 0 {
			p.Title.Text = c.Title
		}
		p.X.Label.Text = c.XLabel
		p.Y.Label.Text = pn.YLabel
		p.X.Tick.Marker, p.Y.Tick.Marker = ticks{}, ticks{}
		p.Add(plotter.NewGrid())
		legend := map[string]bool{}
		for _, s := range pn.Series {
			if len(s.Points) == 0 {
				continue
			}
			xys := make(plotter.XYs, len(s.Points))
			for j, pt := range s.Points {
				xys[j] = plotter.XY{X: pt[0], Y: pt[1]}
			}
			col := colorOf(s.group())
			var thumbs []plot.Thumbnailer
			if s.Line {
				l, err := plotter.NewLine(xys)
				if err != nil {
					return nil, fmt.Errorf("chart %s: series %s: %w", c.ID, s.Name, err)
				}
				l.Color, l.Width = col, vg.Points(1.5)
				if s.Dashed {
					l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
				}
				p.Add(l)
				thumbs = append(thumbs, l)
			}
			if s.Glyphs {
				sc, err := plotter.NewScatter(xys)
				if err != nil {
					return nil, fmt.Errorf("chart %s: series %s: %w", c.ID, s.Name, err)
				}
				sc.Color, sc.Radius, sc.Shape = col, vg.Points(3), glyphFor(s.Name)
				p.Add(sc)
				thumbs = append(thumbs, sc)
			}
			if s.Name != "" && !legend[s.Name] {
				legend[s.Name] = true
				p.Legend.Add(s.Name, thumbs...)
			}
		}
		if ms := slices.DeleteFunc(slices.Clone(pn.Marks), func(m Mark) bool { return !finite(m.X, 0) || (m.Y != nil && !finite(0, *m.Y)) }); len(ms) > 0 {
			p.Add(marks(ms))
		}
		if pn.ZeroY {
			p.Y.Min = math.Min(p.Y.Min, 0)
			if p.Y.Max <= p.Y.Min {
				p.Y.Max = p.Y.Min + 1 // all zero (no errors): a flat line at the bottom
			}
		}
		if len(legend) > 0 || len(pn.Marks) > 0 {
			// Room above the data for the legend and the marks' labels.
			p.Y.Max += 0.25 * (p.Y.Max - p.Y.Min)
		}
		xmin, xmax = math.Min(xmin, p.X.Min), math.Max(xmax, p.X.Max)
		out = append(out, p)
	}
	if c.ZeroX {
		xmin = math.Min(xmin, 0)
	}
	if xmin == xmax {
		xmin, xmax = xmin-1, xmax+1 // one point: give it room
	}
	for _, p := range out {
		p.X.Min, p.X.Max = xmin, xmax
	}
	return out, nil
}

// ticks are gonum's, labelled as the report writes numbers ("2500", not
// "2500.00").
type ticks struct{}

func (ticks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = num(ts[i].Value)
		}
	}
	return ts
}

// glyphFor gives each kind of step its shape, so a comparison's two
// procedures (told apart by colour) show which step a point is from.
func glyphFor(name string) draw.GlyphDrawer {
	switch {
	case strings.Contains(name, "fine"):
		return draw.TriangleGlyph{}
	case strings.Contains(name, "coarse"):
		return draw.SquareGlyph{}
	case strings.Contains(name, "sanity"):
		return draw.CrossGlyph{}
	case strings.Contains(name, "validation"), strings.Contains(name, "soak"):
		return draw.PyramidGlyph{}
	}
	return draw.CircleGlyph{}
}

// marks draws a panel's Marks: a dashed vertical line across the panel, or
// a ring around a point, each with its label.
type marks []Mark

func (ms marks) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, xmax, ymin, ymax = math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, m := range ms {
		xmin, xmax = math.Min(xmin, m.X), math.Max(xmax, m.X)
		if m.Y != nil {
			ymin, ymax = math.Min(ymin, *m.Y), math.Max(ymax, *m.Y)
		}
	}
	return xmin, xmax, ymin, ymax
}

func (ms marks) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	ts := text.Style{Color: markColor, Font: font.From(sans, 9), Handler: p.Title.TextStyle.Handler}
	line := draw.LineStyle{Color: markColor, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(2), vg.Points(3)}}
	vertical := slices.DeleteFunc(slices.Clone(ms), func(m Mark) bool { return m.Y != nil })
	slices.SortStableFunc(vertical, func(a, b Mark) int { return cmp.Compare(a.X, b.X) })
	// Labels run down their line from the top; one too close to the last
	// starts where the last one's ended, so they do not overlap.
	lastX, lastEnd := vg.Length(math.Inf(-1)), c.Max.Y
	for _, m := range vertical {
		x := trX(m.X)
		if !c.ContainsX(x) {
			continue
		}
		c.StrokeLine2(line, x, c.Min.Y, x, c.Max.Y)
		top := c.Max.Y - vg.Points(2)
		if x-lastX < vg.Points(12) {
			top = lastEnd - vg.Points(6)
		}
		vs := ts
		vs.Rotation, vs.XAlign, vs.YAlign = math.Pi/2, draw.XRight, draw.YTop
		at := vg.Point{X: x + vg.Points(2), Y: top}
		if x > c.Min.X+(c.Max.X-c.Min.X)*0.85 {
			vs.YAlign, at.X = draw.YBottom, x-vg.Points(2) // near the right edge: left of the line
		}
		c.FillText(vs, at, m.Name)
		lastX, lastEnd = x, top-vs.Width(m.Name)
	}
	row := 0
	for _, m := range ms {
		if m.Y == nil {
			continue
		}
		x, y := trX(m.X), trY(*m.Y)
		c.DrawGlyph(draw.GlyphStyle{Color: markColor, Radius: vg.Points(7), Shape: draw.RingGlyph{}}, vg.Point{X: x, Y: y})
		// Above the point, towards the middle of the frame, a line higher
		// for each earlier point mark.
		ps := ts
		ps.YAlign = draw.YBottom
		at := vg.Point{X: x + vg.Points(4), Y: y + vg.Points(9) + vg.Length(row)*vg.Points(11)}
		ps.XAlign = draw.XLeft
		if x > c.Center().X {
			ps.XAlign, at.X = draw.XRight, x-vg.Points(4)
		}
		c.FillText(ps, at, m.Name)
		row++
	}
}
