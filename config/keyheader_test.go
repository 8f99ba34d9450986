package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCredentialHeadersRefusedInline protects "secrets come from files or
// the environment" for servers that take their key in a header of their
// own (Azure OpenAI's api-key, x-api-key): such a header written inline is
// refused, and api_key_header sends the key from api_key_file or
// api_key_env in it instead.
func TestCredentialHeadersRefusedInline(t *testing.T) {
	for _, h := range []string{"api-key", "X-API-Key", "x-auth-token", "Cookie", "Ocp-Apim-Subscription-Key"} {
		in := "targets:\n  - name: a\n    url: http://h\n    model: m\n    headers: {" + h + ": " + inlineSecret + "}\n"
		_, err := Load([]byte(in), "llmprobe.yaml")
		if err == nil || !strings.Contains(err.Error(), "targets[0].headers."+h+": not allowed in headers") || strings.Contains(err.Error(), inlineSecret) {
			t.Errorf("%s inline: %v", h, err)
		}
	}
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	if err := os.WriteFile(key, []byte(inlineSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ extra, want string }{
		{"    api_key_header: api-key\n    api_key_file: " + key + "\n", ""},
		{"    api_key_header: api-key\n", "targets[0].api_key_header: names the header of the key: give api_key_file or api_key_env too"},
		{"    api_key_header: 'bad header'\n    api_key_file: " + key + "\n", "targets[0].api_key_header: invalid header name"},
		{"    api_key_header: X-Tenant\n    api_key_file: " + key + "\n    headers: {x-tenant: t1}\n", `targets[0].api_key_header: "X-Tenant" is also in headers`},
	} {
		cfg, err := Load([]byte("targets:\n  - name: a\n    url: http://h\n    model: m\n"+tc.extra), filepath.Join(dir, "llmprobe.yaml"))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.extra, err)
		case tc.want == "":
			ep := cfg.Targets[0].Endpoint()
			if ep.APIKey != inlineSecret || ep.KeyHeader() != "Api-Key" {
				t.Errorf("endpoint key header %q, key read %v", ep.KeyHeader(), ep.APIKey == inlineSecret)
			}
		case err == nil || !strings.Contains(err.Error(), tc.want):
			t.Errorf("%q: %v, want %q", tc.extra, err, tc.want)
		}
	}
}
