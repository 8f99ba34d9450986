package config

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/llmprobe/llmprobe/servermetrics"
)

func TestMetricsSettingsErrors(t *testing.T) {
	const head = "targets:\n  - name: a\n    url: http://h:8000/v1\n    model: m\n"
	for _, tc := range []struct {
		name, extra, want string
	}{
		{"unknown server", "    server: triton\n",
			`llmprobe.yaml:5: targets[0].server: invalid server "triton" (want auto, vllm, sglang, tgi, llamacpp or generic)`},
		{"bad scheme", "    metrics_url: ftp://h/metrics\n",
			`llmprobe.yaml:5: targets[0].metrics_url: invalid URL: must start with http:// or https://`},
		{"credentials, never echoed", "    metrics_url: http://u:hunter2@h/metrics\n",
			`llmprobe.yaml:5: targets[0].metrics_url: URL must not hold credentials: the target's key is sent with metrics_auth`},
		{"query", "    metrics_url: http://h/metrics?token=abc\n",
			`llmprobe.yaml:5: targets[0].metrics_url: URL must not have a query`},
		{"fragment", "    metrics_url: http://h/metrics#x\n",
			`llmprobe.yaml:5: targets[0].metrics_url: URL must not have a fragment`},
		{"no host", "    metrics_url: http:///metrics\n",
			`llmprobe.yaml:5: targets[0].metrics_url: invalid URL: missing host`},
		{"auth without a key", "    metrics_auth: true\n",
			`llmprobe.yaml:5: targets[0].metrics_auth: the target has no key to send: give api_key_file or api_key_env`},
		{"interval too short", "    metrics_interval: 10ms\n",
			`llmprobe.yaml:5: targets[0].metrics_interval: 10ms is below the minimum of 100ms`},
		{"explicit zero interval", "    metrics_interval: 0s\n",
			`llmprobe.yaml:5: targets[0].metrics_interval: must be positive`},
		{"explicit zero timeout", "    metrics_timeout: 0s\n",
			`llmprobe.yaml:5: targets[0].metrics_timeout: must be positive`},
		{"negative cap", "    metrics_max_bytes: -1\n",
			`llmprobe.yaml:5: targets[0].metrics_max_bytes: must be positive`},
		{"settings of a page turned off", "    metrics_url: none\n    server: vllm\n",
			`llmprobe.yaml:6: targets[0].server: has no effect with metrics_url: none`},
		{"bad type", "    metrics_auth: sometimes\n",
			`llmprobe.yaml:5: targets[0].metrics_auth:`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load([]byte(head+tc.extra), "llmprobe.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
	for _, ok := range []string{"", "    metrics_url: none\n", "    metrics_url: http://h:9090/metrics\n",
		"    server: llamacpp\n    metrics_interval: 100ms\n    metrics_timeout: 2s\n    metrics_max_bytes: 1048576\n    metrics_auth: false\n"} {
		if _, err := Load([]byte(head+ok), "llmprobe.yaml"); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
}

func TestServerScraper(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	if err := os.WriteFile(key, []byte(inlineSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, extra string
		url         string // "" for no scraper
		derived     bool
		key         string
		keyHeader   string
	}{
		{"derived from a /v1 URL, key sent on the same origin", "    url: https://h:8443/v1/\n", "https://h:8443/metrics", true, inlineSecret, ""},
		{"derived, the key in its own header", "    url: http://h/proxy/v1\n    api_key_header: api-key\n", "http://h/proxy/metrics", true, inlineSecret, "api-key"},
		{"another port: no key unless asked", "    url: http://h:8000\n    metrics_url: http://h:9090/metrics\n", "http://h:9090/metrics", false, "", ""},
		{"another host, asked", "    url: http://h:8000\n    metrics_url: http://m:9090/metrics\n    metrics_auth: true\n", "http://m:9090/metrics", false, inlineSecret, ""},
		{"the same host, refused", "    url: http://h:8000\n    metrics_auth: false\n", "http://h:8000/metrics", true, "", ""},
		{"default port spelled out", "    url: https://h\n    metrics_url: https://H:443/metrics\n", "https://H:443/metrics", false, inlineSecret, ""},
		{"off", "    url: http://h:8000\n    metrics_url: none\n", "", false, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := "targets:\n  - name: a\n    model: m\n    api_key_file: " + key + "\n" + tc.extra
			cfg, err := Load([]byte(in), filepath.Join(dir, "llmprobe.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			s := cfg.Targets[0].ServerScraper()
			if tc.url == "" {
				if s != nil {
					t.Fatalf("scraper %+v with metrics_url: none", s)
				}
				return
			}
			if s == nil || s.URL != tc.url || s.Derived != tc.derived || s.Key != tc.key || s.KeyHeader != tc.keyHeader {
				t.Fatalf("scraper %+v", s)
			}
			if s.Timeout != 5*time.Second || s.MaxBytes != 16<<20 || s.Server != servermetrics.Auto || s.Client != nil {
				t.Errorf("defaults: %+v", s)
			}
			if cfg.Targets[0].MetricsEvery() != time.Second {
				t.Errorf("every %v", cfg.Targets[0].MetricsEvery())
			}
		})
	}
	cfg, err := Load([]byte("targets:\n  - {name: a, model: m, url: 'https://h', insecure_skip_verify: true, server: sglang, metrics_interval: 250ms, metrics_timeout: 1s, metrics_max_bytes: 4096}\n"), "llmprobe.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Targets[0].ServerScraper()
	tr, ok := s.Client.Transport.(*http.Transport)
	if !ok || !tr.TLSClientConfig.InsecureSkipVerify || s.Client.CheckRedirect == nil {
		t.Errorf("insecure_skip_verify is not the scraper's: %+v", s.Client)
	}
	if s.Server != servermetrics.SGLang || s.Timeout != time.Second || s.MaxBytes != 4096 || cfg.Targets[0].MetricsEvery() != 250*time.Millisecond {
		t.Errorf("settings: %+v every %v", s, cfg.Targets[0].MetricsEvery())
	}
}

func TestCheckMetrics(t *testing.T) {
	tg := &Target{URL: "http://h", MetricsURL: "http://u:pw@h/metrics", Server: "x"}
	err := tg.CheckMetrics()
	if err == nil || err.Error() != "server: invalid server \"x\" (want auto, vllm, sglang, tgi, llamacpp or generic)\n"+
		"metrics_url: URL must not hold credentials: the target's key is sent with metrics_auth" {
		t.Errorf("CheckMetrics: %v", err)
	}
	if err := (&Target{URL: "http://h", MetricsURL: MetricsNone}).CheckMetrics(); err != nil {
		t.Errorf("none: %v", err)
	}
}

func TestTargetFormatHidesMetricsPassword(t *testing.T) {
	tg := Target{Name: "a", URL: "http://h", MetricsURL: "http://u:hunter2@h/metrics"}
	if s := fmt.Sprintf("%v %+v", tg, tg); strings.Contains(s, "hunter2") || !strings.Contains(s, "u:xxxxx@h/metrics") {
		t.Errorf("printed %s", s)
	}
}
