package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/llmprobe/llmprobe/e2e"
)

const root = ".."

// TestGeneratedFilesUpToDate checks that the committed dashboards (and their
// ConfigMaps) are what the code renders.
func TestGeneratedFilesUpToDate(t *testing.T) {
	files, err := Files()
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range files {
		got, err := os.ReadFile(filepath.Join(root, path))
		if err != nil {
			t.Errorf("%s: %v (run `go generate ./dashboards/...`)", path, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the generated dashboards: run `go generate ./dashboards/...` and commit the result", path)
		}
	}
	// No stray dashboard files that the generator no longer writes.
	stray, _ := filepath.Glob(filepath.Join(root, "dashboards", "*.json"))
	for _, s := range stray {
		rel := "dashboards/" + filepath.Base(s)
		if _, ok := files[rel]; !ok {
			t.Errorf("%s is not generated: remove it or add it to All()", rel)
		}
	}
}

// walk calls f on every object of a decoded JSON document with its path.
func walk(path string, v any, f func(path string, obj map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		f(path, v)
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			walk(path+"."+k, v[k], f)
		}
	case []any:
		for i, e := range v {
			walk(fmt.Sprintf("%s[%d]", path, i), e, f)
		}
	}
}

// TestDashboardFiles checks the committed JSON as Grafana will read it.
func TestDashboardFiles(t *testing.T) {
	uids := map[string]bool{}
	for _, d := range All() {
		t.Run(d.File, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(root, "dashboards", d.File))
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatalf("not JSON: %v", err)
			}
			if v, _ := doc["schemaVersion"].(float64); int(v) != SchemaVersion {
				t.Errorf("schemaVersion = %v, want %d", doc["schemaVersion"], SchemaVersion)
			}
			if doc["id"] != nil {
				t.Errorf("id = %v, want null so that imports create the dashboard", doc["id"])
			}
			uid, _ := doc["uid"].(string)
			if uid == "" || len(uid) > 40 || uids[uid] {
				t.Errorf("uid %q empty, too long or not unique", uid)
			}
			uids[uid] = true

			// Variables: a datasource variable, and target and model.
			vars := map[string]map[string]any{}
			for _, v := range doc["templating"].(map[string]any)["list"].([]any) {
				v := v.(map[string]any)
				vars[v["name"].(string)] = v
			}
			if ds := vars["datasource"]; ds == nil || ds["type"] != "datasource" || ds["query"] != "prometheus" {
				t.Errorf("no datasource variable of type datasource for prometheus: %v", ds)
			}
			for _, name := range []string{"target", "model"} {
				if v := vars[name]; v == nil || v["type"] != "query" {
					t.Errorf("no %s query variable", name)
				}
			}

			// No hard-coded data source: every reference is the variable
			// (the built-in annotation's Grafana source aside).
			walk("$", doc, func(path string, obj map[string]any) {
				ds, ok := obj["datasource"]
				if !ok {
					return
				}
				ref, ok := ds.(map[string]any)
				if !ok {
					t.Errorf("%s.datasource = %v, want an object", path, ds)
					return
				}
				if ref["uid"] == "${datasource}" && ref["type"] == "prometheus" {
					return
				}
				if ref["uid"] == "-- Grafana --" && strings.HasPrefix(path, "$.annotations") {
					return
				}
				t.Errorf("%s.datasource = %v: use the ${datasource} variable", path, ref)
			})

			// Panels: unique ids, on the grid, with queries.
			ids := map[float64]bool{}
			panels := 0
			walk("$", doc["panels"], func(path string, obj map[string]any) {
				if _, ok := obj["gridPos"]; !ok {
					return
				}
				id := obj["id"].(float64)
				if ids[id] {
					t.Errorf("%s: duplicate panel id %v", path, id)
				}
				ids[id] = true
				g := obj["gridPos"].(map[string]any)
				if x, w := g["x"].(float64), g["w"].(float64); x < 0 || w < 1 || x+w > 24 {
					t.Errorf("%s %q: gridPos %v off the 24-column grid", path, obj["title"], g)
				}
				if obj["type"] == "row" {
					return
				}
				panels++
				targets, _ := obj["targets"].([]any)
				if len(targets) == 0 {
					t.Errorf("%s %q: no queries", path, obj["title"])
				}
				refs := map[string]bool{}
				for _, tg := range targets {
					tg := tg.(map[string]any)
					ref, _ := tg["refId"].(string)
					if ref == "" || refs[ref] {
						t.Errorf("%s %q: refId %q empty or repeated", path, obj["title"], ref)
					}
					refs[ref] = true
					if expr, _ := tg["expr"].(string); strings.TrimSpace(expr) == "" {
						t.Errorf("%s %q %s: empty expr", path, obj["title"], ref)
					}
				}
			})
			if panels == 0 {
				t.Error("no panels")
			}
		})
	}
}

// TestQueriesReferenceKnownVariables checks that every $var in a query or
// title is a variable of the dashboard or one of Grafana's globals.
func TestQueriesReferenceKnownVariables(t *testing.T) {
	for _, d := range All() {
		vars := map[string]string{}
		for _, v := range d.Templating.List {
			vars[v.Name] = v.Default
		}
		for _, p := range d.AllPanels() {
			if _, err := Substitute(p.Title, vars); err != nil {
				t.Errorf("%s / %q: title: %v", d.Title, p.Title, err)
			}
			for _, tg := range p.Targets {
				if _, err := Substitute(tg.Expr, vars); err != nil {
					t.Errorf("%s / %q / %s: %v", d.Title, p.Title, tg.RefID, err)
				}
			}
		}
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			if _, err := Substitute(v.Definition, vars); err != nil {
				t.Errorf("%s: variable %s: %v", d.Title, v.Name, err)
			}
		}
	}
}

// metricRE finds llmprobe metric names in a query.
var metricRE = regexp.MustCompile(`\bllmprobe_[a-z0-9_]+`)

// TestQueriesUseExportedMetricNames catches typos: every metric name must
// be one the collectors define (histogram series suffixes allowed).
func TestQueriesUseExportedMetricNames(t *testing.T) {
	known := knownMetrics(t)
	for _, q := range Queries() {
		for _, m := range metricRE.FindAllString(q.Expr, -1) {
			base := m
			for _, suf := range []string{"_bucket", "_count", "_sum"} {
				base = strings.TrimSuffix(base, suf)
			}
			if !known[m] && !known[base] {
				t.Errorf("%s: unknown metric %s", q, m)
			}
		}
	}
}

// knownMetrics lists the metric names defined in the collectors' sources
// (collector/, gpu/ and the daemon's wiring).
func knownMetrics(t *testing.T) map[string]bool {
	t.Helper()
	known := map[string]bool{}
	nameRE := regexp.MustCompile(`Name:\s*"([a-z0-9_]+)"|NewDesc\(\s*"(llmprobe_[a-z0-9_]+)"|(?:histogram|gauge)\("([a-z0-9_]+)"`)
	var srcs []string
	for _, g := range []string{"collector/*.go", "gpu/*.go", "*.go"} {
		m, _ := filepath.Glob(filepath.Join(root, g))
		srcs = append(srcs, m...)
	}
	for _, f := range srcs {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range nameRE.FindAllStringSubmatch(string(b), -1) {
			name := m[1] + m[2] + m[3]
			if !strings.HasPrefix(name, "llmprobe_") {
				name = "llmprobe_" + name
			}
			known[name] = true
		}
	}
	return known
}

// TestQueriesParse runs every query, with the variables substituted, through
// promtool's parser (as recording rules of a temporary rule file).
func TestQueriesParse(t *testing.T) {
	promtool := e2e.ToolPath(t, "promtool")
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	type group struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	}
	var groups []group
	defaults := Defaults()
	for i, q := range Queries() {
		expr, err := Substitute(q.Expr, defaults)
		if err != nil {
			t.Fatal(err)
		}
		groups = append(groups, group{Name: fmt.Sprintf("%d %s", i, q), Rules: []rule{{Record: "dashboard_query", Expr: expr}}})
	}
	b, err := yaml.Marshal(map[string]any{"groups": groups})
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "queries.yml")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "check", "rules", "--lint=none", f).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}
