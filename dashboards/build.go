package dashboards

import (
	"fmt"
	"strconv"
	"strings"
)

// The helpers below build panels, queries and variables with the settings
// every llmprobe dashboard shares, so that the dashboard files read as a list
// of what is shown.

func ptr[T any](v T) *T { return &v }

// newDashboard returns a dashboard with the shared settings.
func newDashboard(file, uid, title, description string, vars []*Variable, rows ...row) *Dashboard {
	return &Dashboard{
		File: file,
		Annotations: Annotations{List: []Annotation{{
			BuiltIn:    1,
			Datasource: DatasourceRef{Type: "grafana", UID: "-- Grafana --"},
			Enable:     true,
			Hide:       true,
			IconColor:  "rgba(0, 211, 255, 1)",
			Name:       "Annotations & Alerts",
			Type:       "dashboard",
		}}},
		Description:   description,
		Editable:      true,
		GraphTooltip:  1, // shared crosshair
		Links:         []Link{{AsDropdown: true, IncludeVars: true, KeepTime: true, Tags: []string{"llmprobe"}, Title: "llmprobe", Type: "dashboards"}},
		Panels:        layout(rows),
		Refresh:       "1m",
		SchemaVersion: SchemaVersion,
		Tags:          []string{"llmprobe"},
		Templating:    Templating{List: vars},
		Time:          TimeRange{From: "now-24h", To: "now"},
		Timezone:      "browser",
		Title:         title,
		UID:           uid,
		Version:       1,
	}
}

// row is a titled group of panels. A collapsed row keeps its panels inside
// it, as Grafana stores them.
type row struct {
	title     string
	collapsed bool
	panels    []*Panel
}

// layout places the rows and their panels on the grid, left to right and
// wrapping at 24 columns, and numbers every panel.
func layout(rows []row) []*Panel {
	var out []*Panel
	id, y := 1, 0
	for _, r := range rows {
		rp := &Panel{
			Collapsed: ptr(r.collapsed),
			GridPos:   GridPos{H: 1, W: 24, X: 0, Y: y},
			ID:        id,
			Title:     r.title,
			Type:      "row",
			Panels:    []*Panel{},
		}
		id++
		y++
		out = append(out, rp)
		x, lineH := 0, 0
		for _, p := range r.panels {
			if x+p.GridPos.W > 24 {
				x, y, lineH = 0, y+lineH, 0
			}
			p.GridPos.X, p.GridPos.Y = x, y
			p.ID = id
			id++
			x += p.GridPos.W
			lineH = max(lineH, p.GridPos.H)
			if r.collapsed {
				rp.Panels = append(rp.Panels, p)
			} else {
				out = append(out, p)
			}
		}
		y += lineH
	}
	return out
}

// q is a range query (time series).
func q(expr, legend string) *Target {
	return &Target{Datasource: promDS, EditorMode: "code", Expr: expr, LegendFormat: legend, Range: true}
}

// qi is an instant query returning a table.
func qi(expr, legend string) *Target {
	return &Target{Datasource: promDS, EditorMode: "code", Expr: expr, Format: "table", Instant: true, LegendFormat: legend}
}

// needs marks queries as needing a soak or a GPU to have data.
func needs(n Need, ts ...*Target) []*Target {
	for _, t := range ts {
		t.Needs = n
	}
	return ts
}

// withRefIDs names a panel's queries A, B, C...
func withRefIDs(ts []*Target) []*Target {
	for i, t := range ts {
		t.RefID = string(rune('A' + i))
	}
	return ts
}

func thresholds(base string, steps ...any) Thresholds {
	t := Thresholds{Mode: "absolute", Steps: []ThresholdStep{{Color: base}}}
	for i := 0; i+1 < len(steps); i += 2 {
		t.Steps = append(t.Steps, ThresholdStep{Color: steps[i+1].(string), Value: ptr(steps[i].(float64))})
	}
	return t
}

func panel(typ, title, description string, w, h int, unit string, ts []*Target) *Panel {
	return &Panel{
		Datasource:  &promDS,
		Description: description,
		FieldConfig: &FieldConfig{
			Defaults:  FieldDefaults{Mappings: []ValueMapping{}, Thresholds: thresholds("green"), Unit: unit},
			Overrides: []Override{},
		},
		GridPos: GridPos{H: h, W: w},
		Targets: withRefIDs(ts),
		Title:   title,
		Type:    typ,
	}
}

func legend(mode string, calcs ...string) map[string]any {
	if calcs == nil {
		calcs = []string{}
	}
	return map[string]any{"calcs": calcs, "displayMode": mode, "placement": "bottom", "showLegend": true}
}

// timeseries is a line chart.
func timeseries(title, description, unit string, ts ...*Target) *Panel {
	p := panel("timeseries", title, description, 12, 8, unit, ts)
	p.FieldConfig.Defaults.Color = map[string]any{"mode": "palette-classic"}
	p.FieldConfig.Defaults.Custom = map[string]any{
		"axisPlacement":     "auto",
		"drawStyle":         "line",
		"fillOpacity":       10,
		"gradientMode":      "none",
		"lineInterpolation": "linear",
		"lineWidth":         1,
		"pointSize":         4,
		"showPoints":        "never",
		"spanNulls":         false,
		"stacking":          map[string]any{"group": "A", "mode": "none"},
		"thresholdsStyle":   map[string]any{"mode": "off"},
	}
	p.Options = map[string]any{
		"legend":  legend("table", "lastNotNull", "max"),
		"tooltip": map[string]any{"mode": "multi", "sort": "desc"},
	}
	return p
}

// stacked makes a time series chart stack its series.
func stacked(p *Panel) *Panel {
	p.FieldConfig.Defaults.Custom["stacking"] = map[string]any{"group": "A", "mode": "normal"}
	p.FieldConfig.Defaults.Custom["fillOpacity"] = 40
	return p
}

// thresholdLines draws the thresholds as dashed lines on a time series.
func thresholdLines(p *Panel, t Thresholds) *Panel {
	p.FieldConfig.Defaults.Thresholds = t
	p.FieldConfig.Defaults.Custom["thresholdsStyle"] = map[string]any{"mode": "dashed"}
	return p
}

func reduceLast() map[string]any {
	return map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false}
}

// stat shows the last value of each series.
func stat(title, description, unit string, w int, ts ...*Target) *Panel {
	p := panel("stat", title, description, w, 6, unit, ts)
	p.FieldConfig.Defaults.Color = map[string]any{"mode": "thresholds"}
	p.Options = map[string]any{
		"colorMode":     "background",
		"graphMode":     "none",
		"justifyMode":   "auto",
		"orientation":   "auto",
		"reduceOptions": reduceLast(),
		"textMode":      "value_and_name",
		"wideLayout":    true,
	}
	return p
}

// bargauge shows one bar per series.
func bargauge(title, description, unit string, w int, ts ...*Target) *Panel {
	p := panel("bargauge", title, description, w, 6, unit, ts)
	p.FieldConfig.Defaults.Color = map[string]any{"mode": "thresholds"}
	p.Options = map[string]any{
		"displayMode":   "gradient",
		"minVizHeight":  16,
		"minVizWidth":   8,
		"namePlacement": "auto",
		"orientation":   "horizontal",
		"reduceOptions": reduceLast(),
		"showUnfilled":  true,
		"sizing":        "auto",
		"valueMode":     "color",
	}
	return p
}

// table merges instant queries on their common labels: one row per series,
// one column per query.
func table(title, description string, w int, columns map[string]string, hide []string, ts ...*Target) *Panel {
	p := panel("table", title, description, w, 8, "", ts)
	p.Options = map[string]any{
		"cellHeight": "sm",
		"footer":     map[string]any{"countRows": false, "fields": "", "reducer": []string{"sum"}, "show": false},
		"showHeader": true,
	}
	exclude := map[string]any{"Time": true}
	for _, h := range hide {
		exclude[h] = true
	}
	rename := map[string]any{}
	for k, v := range columns {
		rename[k] = v
	}
	p.Transformations = []Transformation{
		{ID: "merge", Options: map[string]any{}},
		{ID: "organize", Options: map[string]any{"excludeByName": exclude, "indexByName": map[string]any{}, "renameByName": rename}},
	}
	return p
}

// xychart plots one query's value against another's, joined on their
// common labels (for a sweep: one point per step).
func xychart(title, description string, xName, yName, xUnit, yUnit string, hide []string, x, y *Target) *Panel {
	p := panel("xychart", title, description, 12, 9, yUnit, []*Target{x, y})
	p.PluginVersion = pluginVersion
	p.FieldConfig.Defaults.Color = map[string]any{"mode": "palette-classic"}
	p.FieldConfig.Defaults.Custom = map[string]any{
		"axisPlacement":     "auto",
		"fillOpacity":       50,
		"hideFrom":          map[string]any{"legend": false, "tooltip": false, "viz": false},
		"lineWidth":         1,
		"pointShape":        "circle",
		"pointSize":         map[string]any{"fixed": 6},
		"pointStrokeWidth":  1,
		"scaleDistribution": map[string]any{"type": "linear"},
		"show":              "points+lines",
	}
	p.FieldConfig.Overrides = []Override{{
		Matcher:    Matcher{ID: "byName", Options: xName},
		Properties: []Property{{ID: "unit", Value: xUnit}},
	}}
	p.Options = map[string]any{
		"legend":  legend("list"),
		"mapping": "manual",
		"series": []any{map[string]any{
			"frame": map[string]any{"matcher": map[string]any{"id": "byIndex", "options": 0}},
			"name":  map[string]any{"fixed": yName},
			"x":     map[string]any{"matcher": map[string]any{"id": "byName", "options": xName}},
			"y":     map[string]any{"matcher": map[string]any{"id": "byName", "options": yName}},
		}},
		"tooltip": map[string]any{"mode": "single", "sort": "none"},
	}
	exclude := map[string]any{"Time": true}
	for _, h := range hide {
		exclude[h] = true
	}
	p.Transformations = []Transformation{
		{ID: "merge", Options: map[string]any{}},
		{ID: "organize", Options: map[string]any{
			"excludeByName": exclude,
			"indexByName":   map[string]any{},
			"renameByName":  map[string]any{"Value #A": xName, "Value #B": yName},
		}},
		{ID: "sortBy", Options: map[string]any{"fields": map[string]any{}, "sort": []any{map[string]any{"field": xName}}}},
	}
	return p
}

// stateTimeline shows 0/1 states over time.
func stateTimeline(title, description string, off, on string, ts ...*Target) *Panel {
	p := panel("state-timeline", title, description, 12, 8, "", ts)
	p.FieldConfig.Defaults.Color = map[string]any{"mode": "thresholds"}
	p.FieldConfig.Defaults.Custom = map[string]any{"fillOpacity": 70, "lineWidth": 0}
	p.FieldConfig.Defaults.Mappings = []ValueMapping{{Type: "value", Options: map[string]any{
		"0": map[string]any{"color": "green", "index": 0, "text": off},
		"1": map[string]any{"color": "red", "index": 1, "text": on},
	}}}
	p.Options = map[string]any{
		"alignValue":  "left",
		"legend":      legend("list"),
		"mergeValues": true,
		"rowHeight":   0.9,
		"showValue":   "never",
		"tooltip":     map[string]any{"mode": "single", "sort": "none"},
	}
	return p
}

// rightAxis moves the fields a query returns to a right-hand axis with its
// own unit.
func rightAxis(p *Panel, refID, unit string) *Panel {
	p.FieldConfig.Overrides = append(p.FieldConfig.Overrides, Override{
		Matcher: Matcher{ID: "byFrameRefID", Options: refID},
		Properties: []Property{
			{ID: "unit", Value: unit},
			{ID: "custom.axisPlacement", Value: "right"},
		},
	})
	return p
}

// Variables.

func datasourceVar() *Variable {
	return &Variable{
		Current: map[string]any{},
		Label:   "Data source",
		Name:    "datasource",
		Options: []VarOption{},
		Query:   "prometheus",
		Refresh: 1,
		Type:    "datasource",
	}
}

// labelVar is a multi-value variable listing a label's values; "All" sends
// the regex .* so that every selector `label=~"$var"` matches everything.
func labelVar(name, label, metric, labelName, description string) *Variable {
	def := fmt.Sprintf("label_values(%s, %s)", metric, labelName)
	return &Variable{
		AllValue:    ".*",
		Current:     map[string]any{"selected": true, "text": []string{"All"}, "value": []string{"$__all"}},
		Datasource:  &promDS,
		Definition:  def,
		Description: description,
		IncludeAll:  true,
		Label:       label,
		Multi:       true,
		Name:        name,
		Options:     []VarOption{},
		Query:       map[string]any{"qryType": 1, "query": def, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
		Refresh:     2,
		Sort:        1,
		Type:        "query",
		Default:     ".*",
	}
}

// customVar is a single-value variable with fixed choices.
func customVar(name, label, description, def string, values ...string) *Variable {
	v := &Variable{
		Current:     map[string]any{"selected": true, "text": def, "value": def},
		Description: description,
		Label:       label,
		Name:        name,
		Query:       strings.Join(values, ","),
		Type:        "custom",
		Default:     def,
	}
	for _, o := range values {
		v.Options = append(v.Options, VarOption{Selected: o == def, Text: o, Value: o})
	}
	return v
}

// PromQL helpers.

// sel joins label matchers into a selector body.
func sel(matchers ...string) string { return strings.Join(matchers, ", ") }

// quantile is a latency quantile from the native histogram, falling back to
// the classic buckets where Prometheus does not scrape native histograms.
func quantile(phi float64, metric, selector, by string) string {
	return nativeQuantile(phi, metric, selector, by) + "\nor\n" + classicQuantile(phi, metric, selector, by)
}

func nativeQuantile(phi float64, metric, selector, by string) string {
	return fmt.Sprintf("histogram_quantile(%s, sum by (%s) (rate(%s{%s}[$__rate_interval])))",
		fmtFloat(phi), by, metric, selector)
}

func classicQuantile(phi float64, metric, selector, by string) string {
	return fmt.Sprintf("histogram_quantile(%s, sum by (%s, le) (rate(%s_bucket{%s}[$__rate_interval])))",
		fmtFloat(phi), by, metric, selector)
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// quantiles returns p50, p90 and p99 queries of a histogram.
func quantiles(metric, selector, by, legendPrefix string, f func(float64, string, string, string) string) []*Target {
	var ts []*Target
	for _, phi := range []float64{0.5, 0.9, 0.99} {
		ts = append(ts, q(f(phi, metric, selector, by), fmt.Sprintf("p%s %s", fmtFloat(phi*100), legendPrefix)))
	}
	return ts
}
