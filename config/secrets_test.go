package config

import (
	"strings"
	"testing"
)

// inlineSecret stands for an API key someone pasted into the config.
const inlineSecret = "sk-inline-0123456789abcdef"

// TestInlineSecretsRefused protects "API keys come from api_key_file or
// api_key_env, never inline" (README, config): every place in a config
// where a key could be written in clear is refused by check-config and by a
// reload, with the field and line named and the key never repeated in the
// message. The places: a key field in a target (or anywhere else: it is an
// unknown field), an Authorization or Proxy-Authorization header in any
// casing, credentials in the URL (user:password@ or a bare token@), and a
// key in the URL's query or fragment.
func TestInlineSecretsRefused(t *testing.T) {
	target := func(extra string) string {
		return "targets:\n  - name: a\n    url: http://h\n    model: m\n" + extra
	}
	withURL := func(u string) string {
		return "targets:\n  - name: a\n    url: '" + u + "'\n    model: m\n"
	}
	for _, tc := range []struct {
		name, in, want string
	}{
		{"api_key in a target", target("    api_key: " + inlineSecret + "\n"),
			"llmprobe.yaml:5: targets[0].api_key: unknown field"},
		{"apiKey in a target", target("    apiKey: " + inlineSecret + "\n"),
			"llmprobe.yaml:5: targets[0].apiKey: unknown field"},
		{"token in a target", target("    token: " + inlineSecret + "\n"),
			"llmprobe.yaml:5: targets[0].token: unknown field"},
		{"password in a target", target("    password: " + inlineSecret + "\n"),
			"llmprobe.yaml:5: targets[0].password: unknown field"},
		{"api_key in a flow mapping", "targets:\n  - {name: a, url: http://h, model: m, api_key: " + inlineSecret + "}\n",
			"llmprobe.yaml:2: targets[0].api_key: unknown field"},
		{"api_key in global", "global:\n  api_key: " + inlineSecret + "\n",
			"llmprobe.yaml:2: global.api_key: unknown field"},
		{"api_key at the top", "api_key: " + inlineSecret + "\n",
			"llmprobe.yaml:1: api_key: unknown field"},

		{"Authorization header", target("    headers:\n      Authorization: Bearer " + inlineSecret + "\n"),
			"llmprobe.yaml:6: targets[0].headers.Authorization: not allowed in headers"},
		{"authorization header, lower case", target("    headers:\n      authorization: Bearer " + inlineSecret + "\n"),
			"llmprobe.yaml:6: targets[0].headers.authorization: not allowed in headers"},
		{"AUTHORIZATION header, upper case", target("    headers:\n      AUTHORIZATION: Bearer " + inlineSecret + "\n"),
			"llmprobe.yaml:6: targets[0].headers.AUTHORIZATION: not allowed in headers"},
		{"Proxy-Authorization header", target("    headers:\n      Proxy-Authorization: Basic " + inlineSecret + "\n"),
			"llmprobe.yaml:6: targets[0].headers.Proxy-Authorization: not allowed in headers"},
		{"proxy-authorization header, lower case", target("    headers:\n      proxy-authorization: Basic " + inlineSecret + "\n"),
			"llmprobe.yaml:6: targets[0].headers.proxy-authorization: not allowed in headers"},

		{"URL with user:password", withURL("https://user:" + inlineSecret + "@h/v1"),
			"llmprobe.yaml:3: targets[0].url: URL must not hold credentials"},
		{"URL with a token as user", withURL("https://" + inlineSecret + "@h"),
			"llmprobe.yaml:3: targets[0].url: URL must not hold credentials"},
		{"URL with an empty password", withURL("http://" + inlineSecret + ":@h:8000"),
			"llmprobe.yaml:3: targets[0].url: URL must not hold credentials"},
		{"URL with the key in its query", withURL("https://h/v1?api_key=" + inlineSecret),
			"llmprobe.yaml:3: targets[0].url: URL must not have a query"},
		{"URL with an empty query", withURL("https://h/v1?"),
			"llmprobe.yaml:3: targets[0].url: URL must not have a query"},
		{"URL with the key in its fragment", withURL("https://h/v1#" + inlineSecret),
			"llmprobe.yaml:3: targets[0].url: URL must not have a fragment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load([]byte(tc.in), file)
			if err == nil {
				t.Fatal("loaded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error:\n%s\nwant it to hold %q", err, tc.want)
			}
			if strings.Contains(err.Error(), inlineSecret) {
				t.Errorf("the error repeats the key:\n%s", err)
			}
		})
	}
}

// TestInlineSecretsRefusedInCode protects the same rule for a Config built
// in code and checked with Validate (bench, tests): URL credentials, a query
// or fragment, and Authorization headers are refused there too, naming the
// field without the key.
func TestInlineSecretsRefusedInCode(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Target)
		want string
	}{
		{"URL with user:password", func(tg *Target) { tg.URL = "https://u:" + inlineSecret + "@h" }, "targets[0].url: URL must not hold credentials"},
		{"URL with a token as user", func(tg *Target) { tg.URL = "https://" + inlineSecret + "@h" }, "targets[0].url: URL must not hold credentials"},
		{"URL with a query", func(tg *Target) { tg.URL = "https://h/v1?key=" + inlineSecret }, "targets[0].url: URL must not have a query"},
		{"URL with a fragment", func(tg *Target) { tg.URL = "https://h/v1#" + inlineSecret }, "targets[0].url: URL must not have a fragment"},
		{"Authorization header", func(tg *Target) { tg.Headers = map[string]string{"authorization": "Bearer " + inlineSecret} }, "targets[0].headers.authorization: not allowed in headers"},
		{"Proxy-Authorization header", func(tg *Target) { tg.Headers = map[string]string{"Proxy-Authorization": inlineSecret} }, "targets[0].headers.Proxy-Authorization: not allowed in headers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Config{Targets: []Target{{Name: "a", URL: "http://h", Model: "m"}}}
			tc.edit(&c.Targets[0])
			err := c.Validate()
			if err == nil {
				t.Fatal("validated")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error:\n%s\nwant it to hold %q", err, tc.want)
			}
			if strings.Contains(err.Error(), inlineSecret) {
				t.Errorf("the error repeats the key:\n%s", err)
			}
		})
	}
	// and the same target without the secret is fine
	c := &Config{Targets: []Target{{Name: "a", URL: "https://h/v1", Model: "m", Headers: map[string]string{"X-Request-Source": "llmprobe"}}}}
	if err := c.Validate(); err != nil {
		t.Errorf("a clean target: %v", err)
	}
}
