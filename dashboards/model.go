// Package dashboards holds llmprobe's Grafana dashboards as Go values and
// renders them to the JSON files next to this one (and to ConfigMaps for the
// Grafana sidecar under deploy/kubernetes). `go generate ./dashboards/...`
// writes the files; a test checks that the committed files equal what the
// code renders, and that every query parses.
//
// The types below are a small, typed subset of Grafana's classic dashboard
// JSON model: only the fields these dashboards use.
package dashboards

// SchemaVersion is the classic dashboard model's schema version (Grafana
// 12.2 and later). The later migration (43, formatTime transformations)
// touches nothing these dashboards use.
const SchemaVersion = 42

// pluginVersion is written on panels whose options changed shape between
// releases (xychart), so that Grafana does not run its old-format migration
// over options already in the current shape.
const pluginVersion = "12.2.0"

// Dashboard is one Grafana dashboard.
type Dashboard struct {
	// File is the JSON file's name under dashboards/.
	File string `json:"-"`

	Annotations          Annotations `json:"annotations"`
	Description          string      `json:"description"`
	Editable             bool        `json:"editable"`
	FiscalYearStartMonth int         `json:"fiscalYearStartMonth"`
	GraphTooltip         int         `json:"graphTooltip"`
	ID                   *int        `json:"id"`
	Links                []Link      `json:"links"`
	Panels               []*Panel    `json:"panels"`
	Refresh              string      `json:"refresh"`
	SchemaVersion        int         `json:"schemaVersion"`
	Tags                 []string    `json:"tags"`
	Templating           Templating  `json:"templating"`
	Time                 TimeRange   `json:"time"`
	Timepicker           struct{}    `json:"timepicker"`
	Timezone             string      `json:"timezone"`
	Title                string      `json:"title"`
	UID                  string      `json:"uid"`
	Version              int         `json:"version"`
}

// Annotations holds the dashboard's annotation queries.
type Annotations struct {
	List []Annotation `json:"list"`
}

// Annotation is Grafana's built-in "Annotations & Alerts" entry.
type Annotation struct {
	BuiltIn    int           `json:"builtIn"`
	Datasource DatasourceRef `json:"datasource"`
	Enable     bool          `json:"enable"`
	Hide       bool          `json:"hide"`
	IconColor  string        `json:"iconColor"`
	Name       string        `json:"name"`
	Type       string        `json:"type"`
}

// Link is a dashboard link; tag links list the other llmprobe dashboards.
type Link struct {
	AsDropdown  bool     `json:"asDropdown"`
	IncludeVars bool     `json:"includeVars"`
	KeepTime    bool     `json:"keepTime"`
	Tags        []string `json:"tags"`
	Title       string   `json:"title"`
	Type        string   `json:"type"`
}

// TimeRange is the default time range.
type TimeRange struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// DatasourceRef points at a data source. Every panel and query uses the
// dashboard's datasource variable, never a fixed UID.
type DatasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// promDS is the reference every panel and query uses.
var promDS = DatasourceRef{Type: "prometheus", UID: "${datasource}"}

// GridPos places a panel on the 24-column grid.
type GridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

// Need says what a query's data comes from: the probes alone, a soak
// (sweep) having run, the NVML collector on a GPU host, a stress procedure
// having run, or the model server's own metrics page. The end-to-end
// test reports it with a query that returns nothing. It is not part of the
// JSON.
type Need int

const (
	// NeedProbes: the daemon's probes alone give the query data.
	NeedProbes Need = iota
	// NeedSoak: a soak (sweep) must have run.
	NeedSoak
	// NeedGPU: the NVML collector must see a GPU.
	NeedGPU
	// NeedProcedure: a soak with mode procedure must have run the stress
	// procedure (its figures and verdicts).
	NeedProcedure
	// NeedServerMetrics: a target's own metrics page must have been read
	// during a run or probe.
	NeedServerMetrics
)

func (n Need) String() string {
	switch n {
	case NeedSoak:
		return "sweep"
	case NeedGPU:
		return "GPU collector"
	case NeedProcedure:
		return "stress procedure"
	case NeedServerMetrics:
		return "model server's metrics page"
	}
	return "probes"
}

// Target is one query of a panel.
type Target struct {
	Datasource   DatasourceRef `json:"datasource"`
	EditorMode   string        `json:"editorMode"`
	Expr         string        `json:"expr"`
	Format       string        `json:"format,omitempty"`
	Instant      bool          `json:"instant"`
	LegendFormat string        `json:"legendFormat"`
	Range        bool          `json:"range"`
	RefID        string        `json:"refId"`

	// Needs is what the query needs to have data (not in the JSON).
	Needs Need `json:"-"`
}

// Panel is a panel or a row.
type Panel struct {
	Collapsed       *bool            `json:"collapsed,omitempty"`
	Datasource      *DatasourceRef   `json:"datasource,omitempty"`
	Description     string           `json:"description,omitempty"`
	FieldConfig     *FieldConfig     `json:"fieldConfig,omitempty"`
	GridPos         GridPos          `json:"gridPos"`
	ID              int              `json:"id"`
	Options         map[string]any   `json:"options,omitempty"`
	Panels          []*Panel         `json:"panels,omitempty"`
	PluginVersion   string           `json:"pluginVersion,omitempty"`
	Targets         []*Target        `json:"targets,omitempty"`
	TimeFrom        string           `json:"timeFrom,omitempty"`
	Title           string           `json:"title"`
	Transformations []Transformation `json:"transformations,omitempty"`
	Type            string           `json:"type"`
}

// FieldConfig holds field defaults and overrides.
type FieldConfig struct {
	Defaults  FieldDefaults `json:"defaults"`
	Overrides []Override    `json:"overrides"`
}

// FieldDefaults are the defaults of every field of a panel.
type FieldDefaults struct {
	Color      map[string]any `json:"color,omitempty"`
	Custom     map[string]any `json:"custom,omitempty"`
	Decimals   *int           `json:"decimals,omitempty"`
	Mappings   []ValueMapping `json:"mappings"`
	Max        *float64       `json:"max,omitempty"`
	Min        *float64       `json:"min,omitempty"`
	Thresholds Thresholds     `json:"thresholds"`
	Unit       string         `json:"unit,omitempty"`
}

// Thresholds colour values by level.
type Thresholds struct {
	Mode  string          `json:"mode"`
	Steps []ThresholdStep `json:"steps"`
}

// ThresholdStep is one threshold; the first has no value (the base).
type ThresholdStep struct {
	Color string   `json:"color"`
	Value *float64 `json:"value"`
}

// ValueMapping maps values to text (and colours).
type ValueMapping struct {
	Options map[string]any `json:"options"`
	Type    string         `json:"type"`
}

// Override changes properties of the fields a matcher selects.
type Override struct {
	Matcher    Matcher    `json:"matcher"`
	Properties []Property `json:"properties"`
}

// Matcher selects fields.
type Matcher struct {
	ID      string `json:"id"`
	Options any    `json:"options"`
}

// Property is one overridden property.
type Property struct {
	ID    string `json:"id"`
	Value any    `json:"value"`
}

// Transformation is a Grafana data transformation.
type Transformation struct {
	ID      string         `json:"id"`
	Options map[string]any `json:"options"`
}

// Templating holds the dashboard variables.
type Templating struct {
	List []*Variable `json:"list"`
}

// Variable is a dashboard variable.
type Variable struct {
	AllValue    string         `json:"allValue,omitempty"`
	Current     map[string]any `json:"current"`
	Datasource  *DatasourceRef `json:"datasource,omitempty"`
	Definition  string         `json:"definition,omitempty"`
	Description string         `json:"description,omitempty"`
	Hide        int            `json:"hide"`
	IncludeAll  bool           `json:"includeAll"`
	Label       string         `json:"label"`
	Multi       bool           `json:"multi"`
	Name        string         `json:"name"`
	Options     []VarOption    `json:"options"`
	Query       any            `json:"query"`
	Refresh     int            `json:"refresh"`
	Regex       string         `json:"regex"`
	Sort        int            `json:"sort"`
	Type        string         `json:"type"`

	// Default is the value the end-to-end test substitutes when it does not
	// substitute the real label values (not in the JSON).
	Default string `json:"-"`
}

// VarOption is one option of a custom variable.
type VarOption struct {
	Selected bool   `json:"selected"`
	Text     string `json:"text"`
	Value    string `json:"value"`
}
