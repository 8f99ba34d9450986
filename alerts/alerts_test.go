package alerts

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/llmprobe/llmprobe/e2e"
)

// TestRulesCheck runs `promtool check rules` (syntax, PromQL, templates and
// the linter) on the rule file.
func TestRulesCheck(t *testing.T) {
	promtool := e2e.ToolPath(t, "promtool")
	out, err := exec.Command(promtool, "check", "rules", "--lint=all", "--lint-fatal", "llmprobe.rules.yml").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}

// TestRulesUnit runs the promtool unit tests in tests/.
func TestRulesUnit(t *testing.T) {
	promtool := e2e.ToolPath(t, "promtool")
	files, err := filepath.Glob("tests/*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule tests in tests/: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			out, err := exec.Command(promtool, "test", "rules", f).CombinedOutput()
			if err != nil {
				t.Fatalf("promtool test rules %s: %v\n%s", f, err, out)
			}
		})
	}
}

type ruleTestFile struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		Name          string `yaml:"name"`
		AlertRuleTest []struct {
			EvalTime  string `yaml:"eval_time"`
			Alertname string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// TestEveryAlertTested checks that every alert has at least one firing and
// one non-firing case among the unit tests, and that the tests load the
// committed rule file.
func TestEveryAlertTested(t *testing.T) {
	rules, err := All()
	if err != nil {
		t.Fatal(err)
	}
	firing, quiet := map[string]int{}, map[string]int{}
	files, _ := filepath.Glob("tests/*.yml")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var tf ruleTestFile
		if err := yaml.Unmarshal(b, &tf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(tf.RuleFiles) != 1 || tf.RuleFiles[0] != "../llmprobe.rules.yml" {
			t.Errorf("%s: rule_files = %v, want [../llmprobe.rules.yml]", f, tf.RuleFiles)
		}
		for _, tg := range tf.Tests {
			for _, c := range tg.AlertRuleTest {
				if len(c.ExpAlerts) > 0 {
					firing[c.Alertname]++
				} else {
					quiet[c.Alertname]++
				}
			}
		}
	}
	for _, r := range rules {
		if r.Alert == "" {
			continue
		}
		if firing[r.Alert] == 0 {
			t.Errorf("%s: no unit test case where it fires", r.Alert)
		}
		if quiet[r.Alert] == 0 {
			t.Errorf("%s: no unit test case where it stays quiet", r.Alert)
		}
	}
}

var headingRE = regexp.MustCompile(`(?m)^## (LLMProbe[A-Za-z0-9]+)$`)

// TestAlertsDocumented checks each alert's labels and annotations and that
// its runbook link points at a section of README.md.
func TestAlertsDocumented(t *testing.T) {
	rules, err := All()
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]bool{}
	for _, m := range headingRE.FindAllStringSubmatch(string(readme), -1) {
		sections[strings.ToLower(m[1])] = true
	}
	seen := map[string]bool{}
	for _, r := range rules {
		if r.Alert == "" {
			if !strings.Contains(r.Record, ":") {
				t.Errorf("recording rule %q: want a level:metric:operations name", r.Record)
			}
			continue
		}
		if seen[r.Alert] {
			t.Errorf("%s: defined twice", r.Alert)
		}
		seen[r.Alert] = true
		if s := r.Labels["severity"]; s != "critical" && s != "warning" {
			t.Errorf("%s: severity %q, want critical or warning", r.Alert, s)
		}
		for _, a := range []string{"summary", "description", "runbook_url"} {
			if strings.TrimSpace(r.Annotations[a]) == "" {
				t.Errorf("%s: no %s annotation", r.Alert, a)
			}
		}
		if !strings.Contains(r.Annotations["description"], "{{ $") {
			t.Errorf("%s: description shows no value or label", r.Alert)
		}
		const base = "https://github.com/llmprobe/llmprobe/blob/main/alerts/README.md#"
		anchor, ok := strings.CutPrefix(r.Annotations["runbook_url"], base)
		if !ok || anchor != strings.ToLower(r.Alert) {
			t.Errorf("%s: runbook_url %q, want %s%s", r.Alert, r.Annotations["runbook_url"], base, strings.ToLower(r.Alert))
		}
		if !sections[strings.ToLower(r.Alert)] {
			t.Errorf("%s: no runbook section \"## %s\" in README.md", r.Alert, r.Alert)
		}
	}
	for s := range sections {
		found := false
		for a := range seen {
			found = found || strings.ToLower(a) == s
		}
		if !found {
			t.Errorf("README.md has a runbook for %s, which is not an alert", s)
		}
	}
}

// TestPrometheusRuleUpToDate checks the committed PrometheusRule against the
// rule file, byte for byte and as parsed YAML.
func TestPrometheusRuleUpToDate(t *testing.T) {
	got, err := os.ReadFile(filepath.Join("..", filepath.FromSlash(PrometheusRuleFile)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, PrometheusRule()) {
		t.Fatalf("%s is out of date: run `go generate ./alerts/...`", PrometheusRuleFile)
	}
	var pr struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   struct {
			Name   string            `yaml:"name"`
			Labels map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Spec RuleFile `yaml:"spec"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(got))
	dec.KnownFields(true)
	if err := dec.Decode(&pr); err != nil {
		t.Fatalf("PrometheusRule does not parse: %v", err)
	}
	if pr.APIVersion != "monitoring.coreos.com/v1" || pr.Kind != "PrometheusRule" {
		t.Errorf("apiVersion/kind = %s/%s", pr.APIVersion, pr.Kind)
	}
	want, err := Parse(Rules)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := yaml.Marshal(want)
	c, _ := yaml.Marshal(pr.Spec)
	if !bytes.Equal(a, c) {
		t.Error("PrometheusRule spec differs from llmprobe.rules.yml")
	}
}
